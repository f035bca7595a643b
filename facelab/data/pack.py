"""A packed copy of LFW: the protocol files and preprocessed arrays, without the JPEGs.

A machine that should train but has no LFW (a rented GPU, a classroom server, a Colab session)
needs only what the methods read: the protocol files, the image index and the preprocessed
``uint8`` arrays. ``facelab data pack --out DIR`` writes exactly that (≈ 50 MB for the deep
methods' 64×64 greyscale faces, compressed) and every facelab command accepts ``DIR`` as its data
root, with the same splits, labels and pixels as the full copy it was packed from::

    DIR/PACK.json                      format, variant, [name, number, file size] of every image
    DIR/pairs.txt, people.txt, ...     the official protocol files, copied byte for byte
    DIR/lfw-<variant>-<key>.npz        one preprocessed array per packed PreprocessConfig
    DIR/memo-<name>-<key>.npz          rows of a per-image function of that array, computed here
                                       (the GAN's OpenCV head-pose targets: OpenCV 5 has no Haar
                                       cascades, and every machine then trains on the same targets)

Preprocessing that was not packed cannot be rebuilt there: asking for it is a clear
:class:`~facelab.data.errors.DataError` naming the config.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

import numpy as np

from .. import io
from .errors import DataError
from .layout import PACK_FILE, PACK_FORMAT, read_packed_layout  # reading a pack is the layout's job

#: protocol files a pack carries when the source has them (pairs.txt and people.txt are required)
PROTOCOL_FILES = ("pairs.txt", "people.txt", "pairsDevTrain.txt", "pairsDevTest.txt", "peopleDevTrain.txt",
                  "peopleDevTest.txt", "lfw-names.txt")
REQUIRED = ("pairs.txt", "people.txt")


def memo_table_path(root: str | os.PathLike, name: str, config) -> Path:
    return Path(root) / f"memo-{name}-{config.key()}.npz"


def pack_lfw(lfw, out_dir: str | os.PathLike, configs: Iterable, tables: Iterable = ()) -> Path:
    """Write a packed copy of ``lfw`` (an :class:`~facelab.data.LFW`) holding ``configs``' arrays.

    ``tables``: ``(name, config, fn)`` triples; ``fn(images) -> rows`` is computed on all of
    ``config``'s images (through :data:`facelab.memo.MEMO` under the key ``name``) and stored, and a
    facelab that reads the pack preloads those rows into the memo under ``name``."""
    from ..memo import MEMO

    configs, tables = list(configs), list(tables)
    if not configs:
        raise ValueError("pack_lfw needs at least one PreprocessConfig to pack")
    out = Path(out_dir)
    if out.resolve() == Path(lfw.layout.root).resolve():
        raise ValueError(f"--out {out} is the LFW folder itself; pack into a new folder")
    out.mkdir(parents=True, exist_ok=True)
    for name in PROTOCOL_FILES:
        src = Path(lfw.layout.root) / name
        if src.is_file():
            io.write_bytes(out / name, src.read_bytes())
        elif name in REQUIRED:
            lfw.layout.protocol_file(name)  # raises the usual "not found" error
    from .preprocess import cache_path

    for config in configs:
        cached = lfw.load_cached(config)
        io.save_npz(cache_path(out, lfw.cache_tag, config), compress=True, images=cached.images,
                    face_found=cached.face_found, meta=np.array(json.dumps(cached.meta, sort_keys=True)))
    for name, config, fn in tables:
        if config.key() not in {c.key() for c in configs}:
            raise ValueError(f"table {name!r} is for preprocessing {config.key()}, which is not packed")
        images = lfw.load_images(config)
        io.save_npz(memo_table_path(out, name, config), compress=True, rows=MEMO(name, images, fn))
    records = [[r.name, r.number, r.size if r.size is not None else r.path.stat().st_size]
               for r in lfw.layout.images]
    io.write_json(out / PACK_FILE, {"format": PACK_FORMAT, "variant": lfw.variant,
                                    "configs": [c.to_dict() for c in configs], "images": records})
    return out


def preload_memo_tables(root: str | os.PathLike, config, images: np.ndarray) -> list[str]:
    """Hand the memo every table a pack holds for ``config`` (see :func:`pack_lfw`); returns their names.
    A table whose row count is not the image count is an error naming the file."""
    from ..memo import MEMO

    names = []
    suffix = f"-{config.key()}.npz"
    for path in sorted(Path(root).glob(f"memo-*{suffix}")):
        name = path.name[len("memo-"):-len(suffix)]
        try:
            with np.load(path) as data:
                rows = data["rows"]
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(f"{path}: not a facelab memo table ({type(exc).__name__}: {exc})") from None
        if len(rows) != len(images):
            raise DataError(f"{path}: {len(rows)} rows for {len(images)} packed images")
        MEMO.preload(name, images, rows)
        names.append(name)
    return names


__all__ = ["PACK_FILE", "memo_table_path", "pack_lfw", "preload_memo_tables", "read_packed_layout"]
