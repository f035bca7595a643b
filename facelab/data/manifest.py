"""The sha256 manifest of a data root: writing it, reading it, checking every file it lists.

Split from ``download.py`` because a manifest outlives the download: ``download_lfw`` writes one
after extracting, and ``verify_manifest`` (``facelab data verify``) checks a copy at any later
time, however it got there. The format is ``sha256sum``'s, so coreutils can check it too.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterable

from tqdm.auto import tqdm

from .. import io as fio
from .errors import DataNotFoundError, ProtocolFormatError
from .layout import resolve_data_root

MANIFEST_NAME = "MANIFEST.sha256"


@dataclass(frozen=True)
class Mismatch:
    path: str
    expected: str
    actual: str


@dataclass
class ManifestReport:
    """What ``verify_manifest`` found: ``ok`` is True when every listed file matched."""

    root: Path
    manifest: Path
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    mismatched: list[Mismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.mismatched

    def summary(self, limit: int = 20) -> str:
        lines = [f"{self.manifest}: {self.checked} files listed, {len(self.missing)} missing, "
                 f"{len(self.mismatched)} mismatched"]
        lines += [f"  missing: {p}" for p in self.missing[:limit]]
        lines += [f"  mismatch: {m.path} expected {m.expected}, got {m.actual}" for m in self.mismatched[:limit]]
        hidden = max(0, len(self.missing) - limit) + max(0, len(self.mismatched) - limit)
        if hidden:
            lines.append(f"  ... and {hidden} more")
        return "\n".join(lines)

    __str__ = summary


class ManifestFormatError(ProtocolFormatError):
    """A manifest line is not ``<64 hex digits>  <relative path>``."""


_MANIFEST_LINE = re.compile(r"^(?P<escaped>\\?)(?P<digest>[0-9a-fA-F]{64}) [ *](?P<path>.+)$")


def read_manifest(path: str | os.PathLike) -> list[tuple[str, str]]:
    """``(relative path, sha256)`` for each line of a ``sha256sum`` output file."""
    path = Path(path)
    entries = []
    with open(path, encoding="utf-8", newline="\n") as fh:
        for line_no, line in enumerate(fh, start=1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            m = _MANIFEST_LINE.match(line)
            if m is None:
                raise ManifestFormatError(path, line_no, f"expected '<64 hex digits>  <path>', got {line[:80]!r}")
            name = m.group("path")
            if m.group("escaped"):  # sha256sum escapes names holding '\' or a newline
                name = re.sub(r"\\(.)", lambda e: "\n" if e.group(1) == "n" else e.group(1), name)
            if name.startswith("/") or ".." in PurePosixPath(name).parts:
                raise ManifestFormatError(path, line_no, f"path {name!r} leaves the folder")
            entries.append((name, m.group("digest").lower()))
    return entries


def verify_manifest(root: str | os.PathLike | None = None, manifest: str | os.PathLike = MANIFEST_NAME, *,
                    progress: bool = True) -> ManifestReport:
    """Check every file that ``manifest`` (relative to ``root``, ``sha256sum`` format) lists.

    ``root`` defaults to the data root (``$FACELAB_DATA``). Malformed lines raise
    ``ManifestFormatError`` naming file and line; missing and mismatched files are collected
    in the report rather than raised, so one run shows every problem.
    """
    root = resolve_data_root(root)
    manifest_path = root / manifest
    if not manifest_path.is_file():
        raise DataNotFoundError(f"manifest {manifest_path} not found")
    entries = read_manifest(manifest_path)
    report = ManifestReport(root, manifest_path)
    for name, expected in tqdm(entries, desc="verify", unit="file", disable=not progress, leave=False):
        target = root / name
        report.checked += 1
        try:
            with open(target, "rb") as fh:
                actual = hashlib.file_digest(fh, "sha256").hexdigest()
        except FileNotFoundError:
            report.missing.append(name)
            continue
        if actual != expected:
            report.mismatched.append(Mismatch(name, expected, actual))
    return report


def write_manifest(root: str | os.PathLike, paths: Iterable[str | os.PathLike],
                   manifest: str | os.PathLike = MANIFEST_NAME, *, progress: bool = True) -> Path:
    """Write ``sha256sum``-format lines for ``paths`` (relative to ``root``), in byte order, atomically."""
    root = Path(root)
    names = sorted({PurePosixPath(Path(p)).as_posix() for p in paths}, key=str.encode)
    lines = []
    for name in tqdm(names, desc="manifest", unit="file", disable=not progress, leave=False):
        if "\n" in name or "\\" in name:
            raise ValueError(f"paths: {name!r} holds a newline or backslash; not supported in a manifest")
        with open(root / name, "rb") as fh:
            lines.append(f"{hashlib.file_digest(fh, 'sha256').hexdigest()}  {name}\n")
    return fio.write_text(root / manifest, "".join(lines))
