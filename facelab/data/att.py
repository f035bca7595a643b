"""The AT&T/ORL faces fetched into a data root, checked file by file, and split like any face folder.

The database (Samaria & Harter 1994; 40 people × 10 greyscale 92×112 PGMs, ``s1 … s40/1.pgm …
10.pgm``) has no published archive checksum, and its copies are packed in several ways, so what is
checked is what matters: each of the 400 images against its sha256 (``att_faces.sha256``, shipped
with facelab). The archive is fetched resumably (:func:`~facelab.data.fetching.fetch`) and
extracted safely (:func:`~facelab.data.archive.safe_extract`, tar or zip); the images move into
``<root>/att_faces`` in one ``os.replace`` only once all 400 matched, and
:func:`~facelab.data.folder.split_folder` then writes LFW's protocol files into ``<root>``.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from . import folder
from .archive import safe_extract
from .download import DOWNLOAD_DIRNAME
from .errors import DownloadError
from .fetching import fetch
from .layout import resolve_data_root

#: the address the database was published at (any copy works: its images are checked one by one)
DEFAULT_ATT_URL = "https://www.cl.cam.ac.uk/Research/DTG/attarchive/pub/data/att_faces.zip"
URL_ENV_VAR = "FACELAB_ATT_URL"
FOLDER = "att_faces"


def _check_images(base: Path, expected: dict[str, str]) -> None:
    """Every expected image under ``base`` with its sha256; else a ``DownloadError`` naming the first few."""
    wrong = []
    for rel, digest in sorted(expected.items(), key=lambda kv: folder.natural_key(kv[0])):
        path = base / rel
        if not path.is_file():
            wrong.append(f"{rel} is missing")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            wrong.append(f"{rel} differs from the published image")
    if wrong:
        more = f" (and {len(wrong) - 3} more)" if len(wrong) > 3 else ""
        raise DownloadError(f"not the AT&T/ORL faces: {'; '.join(wrong[:3])}{more}")


def _images_folder(unpacked: Path, expected: dict[str, str]) -> Path:
    """The folder of the extracted archive that holds ``s1/1.pgm`` (at its top, or one level down)."""
    first = next(iter(expected))
    for candidate in (unpacked, *sorted(p for p in unpacked.iterdir() if p.is_dir())):
        if (candidate / first).is_file():
            return candidate
    raise DownloadError(f"the archive holds no {first} (found {sorted(p.name for p in unpacked.iterdir())[:8]})")


def download_att(data_dir=None, *, url: str | None = None, progress: bool = True, timeout: float = 60.0,
                 seed: int = 0) -> Path:
    """Make ``data_dir`` a data root of the AT&T/ORL faces (``<root>/att_faces`` + LFW-format protocol
    files); the URL is the argument, else ``$FACELAB_ATT_URL``, else the published address. Images
    already there are checked, not fetched again."""
    root = resolve_data_root(data_dir)
    expected = folder.att_checksums()
    images = root / FOLDER
    if not images.exists():
        url = url or os.environ.get(URL_ENV_VAR) or DEFAULT_ATT_URL
        work = root / DOWNLOAD_DIRNAME
        archive = fetch(url, work / (url.rstrip("/").rsplit("/", 1)[-1] or "att_faces.zip"),
                        progress=progress, timeout=timeout)
        unpacked = work / f"{FOLDER}.unpacked"
        shutil.rmtree(unpacked, ignore_errors=True)  # left by a killed run
        try:
            safe_extract(archive, unpacked)
            found = _images_folder(unpacked, expected)
            _check_images(found, expected)
            os.replace(found, images)
        finally:
            shutil.rmtree(unpacked, ignore_errors=True)
        archive.unlink(missing_ok=True)
        if not any(work.iterdir()):
            work.rmdir()
    _check_images(images, expected)
    if not (root / folder.INDEX_FILE).is_file():
        folder.split_folder(images, root, seed=seed)
    return root
