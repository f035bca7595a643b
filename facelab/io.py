"""Atomic file writes: a reader sees the old file or the new one, never half of either.

Every cache, checkpoint and result that facelab writes goes through here: the bytes land in
a temporary file next to the target (same filesystem), are flushed to disk, and then
``os.replace`` swaps it in — an atomic rename on POSIX and Windows.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``target``; move it into place only if the block succeeds.

    On any exception the temporary file is removed and ``target`` is untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix + ".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:  # make the bytes durable before the rename
            os.fsync(fh.fileno())
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the file normal permissions
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(target: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_text(target: str | os.PathLike, text: str) -> Path:
    return write_bytes(target, text.encode("utf-8"))


def write_json(target: str | os.PathLike, obj: Any, indent: int | None = 2) -> Path:
    """``obj`` as JSON, written atomically; ``indent=None`` for long number lists (one line, about two thirds of the bytes)."""
    return write_text(target, json.dumps(obj, indent=indent, sort_keys=False, default=json_default) + "\n")


def save_npz(target: str | os.PathLike, compress: bool = False, **arrays: np.ndarray) -> Path:
    """``np.savez`` written atomically; uncompressed by default (loading speed matters more than
    bytes), compressed for files that travel (a packed LFW copy)."""
    with atomic_path(target, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            (np.savez_compressed if compress else np.savez)(fh, **arrays)
    return Path(target)


def set_aside(path: str | os.PathLike, tag: str = "damaged") -> Path:
    """Rename ``path`` to ``<name>.<tag>`` beside it (``<name>.<tag>-2``, … if taken) and return the new
    path: a file that cannot be used is moved out of the way, never deleted, so it can still be looked at."""
    path = Path(path)
    aside, n = path.with_name(f"{path.name}.{tag}"), 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.{tag}-{n}")
    os.replace(path, aside)
    return aside


def save_figure(fig, target: str | os.PathLike, **kwargs) -> Path:
    """Save a matplotlib figure atomically (format taken from the target's extension)."""
    target = Path(target)
    fmt = target.suffix.lstrip(".") or "png"
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format=fmt, **kwargs)
    return target


def json_default(obj: Any):
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")
