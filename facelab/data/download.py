"""Fetching LFW from its official site into a data root.

``download_lfw`` fetches the image archive and the seven protocol files, checks each against
its published checksum, extracts the archive safely and moves the results into the data root.
What lands in the data root is always whole: an image folder appears in one ``os.replace``,
after everything was verified. Work in progress lives in ``<data root>/.facelab-download/``:

* ``<file>.part`` — an interrupted transfer; the next run resumes it with an HTTP Range request;
* ``extract-<pid>/`` — an extraction in progress (removed on error; stale ones on the next run).

This module is the LFW orchestration only (which files, where, in what order); the pieces it
drives live beside it: ``fetching.py`` (HTTP with resume and checksums), ``archive.py`` (safe tar
extraction) and ``manifest.py`` (the sha256 manifest written after a download, and
``verify_manifest``, re-exported here for the command line).
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .archive import safe_extract
from .errors import DataNotFoundError, DownloadError
from .fetching import fetch, file_mismatch
from .layout import LFWLayout, _holds_person_folders, find_lfw, resolve_data_root
from .manifest import MANIFEST_NAME, verify_manifest, write_manifest

__all__ = [
    "DEFAULT_BASE_URL", "URL_ENV_VAR", "DOWNLOAD_DIRNAME", "RemoteFile", "VARIANTS", "PROTOCOL_FILES",
    "default_sources", "download_lfw",
    "verify_manifest",  # re-exported: `facelab data verify` (cli.py) imports it from here
]

#: the official LFW site; torchvision and TFDS fetch from the same address.
DEFAULT_BASE_URL = "http://vis-www.cs.umass.edu/lfw/"
#: environment variable that overrides the base URL (a mirror, or a test server).
URL_ENV_VAR = "FACELAB_LFW_URL"
#: folder inside the data root for partial downloads and extraction in progress.
DOWNLOAD_DIRNAME = ".facelab-download"


@dataclass(frozen=True)
class RemoteFile:
    """One file to fetch: its name under the base URL and its published checksum(s).

    ``folder`` marks an archive: the top-level folder (``lfw-deepfunneled``) that extraction
    must produce and that is moved into the data root.
    """

    filename: str
    sha256: str | None = None
    md5: str | None = None
    folder: str | None = None

    def url(self, base_url: str) -> str:
        return base_url.rstrip("/") + "/" + self.filename


# Archives. md5: torchvision `torchvision/datasets/lfw.py` (`_LFW.file_dict`), the checksums of the
# official files at vis-www.cs.umass.edu/lfw/ (the deep-funneled one is also printed on that page).
# sha256 of lfw.tgz: TFDS `tensorflow_datasets/datasets/lfw/checksums.tsv` (official URL, 180566744
# bytes); scikit-learn `sklearn/datasets/_lfw.py` (`ARCHIVE`) lists the same value for its mirror.
# sha256 of lfw-funneled.tgz: scikit-learn `sklearn/datasets/_lfw.py` (`FUNNELED_ARCHIVE`), for its
# figshare mirror of the official file. No sha256 of lfw-deepfunneled.tgz is published: md5 only.
VARIANTS: dict[str, RemoteFile] = {
    "lfw-deepfunneled": RemoteFile(
        "lfw-deepfunneled.tgz", md5="68331da3eb755a505a502b5aacb3c201", folder="lfw-deepfunneled"
    ),
    "lfw_funneled": RemoteFile(
        "lfw-funneled.tgz",
        sha256="b47c8422c8cded889dc5a13418c4bc2abbda121092b3533a83306f90d900100a",
        md5="1b42dfed7d15c9b2dd63d5e5840c86ad",
        folder="lfw_funneled",
    ),
    "lfw": RemoteFile(
        "lfw.tgz",
        sha256="055f7d9c632d7370e6fb4afc7468d40f970c34a80d4c6f50ffec63f5a8d536c0",
        md5="a17d05bd522c52d84eca14327a23d494",
        folder="lfw",
    ),
}

# Protocol files. md5: torchvision `torchvision/datasets/lfw.py` (`_LFW.checksums`), official files.
# sha256: computed with sha256sum from the copies in the course data folder, which match those md5
# values byte for byte (see its SOURCE.md); for pairs*.txt they equal scikit-learn's `TARGETS`.
PROTOCOL_FILES: tuple[RemoteFile, ...] = (
    RemoteFile("pairs.txt", "ea42330c62c92989f9d7c03237ed5d591365e89b3e649747777b70e692dc1592",
               "9f1ba174e4e1c508ff7cdf10ac338a7d"),
    RemoteFile("pairsDevTrain.txt", "1d454dada7dfeca0e7eab6f65dc4e97a6312d44cf142207be28d688be92aabfa",
               "4f27cbf15b2da4a85c1907eb4181ad21"),
    RemoteFile("pairsDevTest.txt", "7cb06600ea8b2814ac26e946201cdb304296262aad67d046a16a7ec85d0ff87c",
               "5132f7440eb68cf58910c8a45a2ac10b"),
    RemoteFile("people.txt", "bc8fa2b7f25c895cf7efb6de4f4fc27ca8b8d1cfa63350ad8b96eae2b198d365",
               "450f0863dd89e85e73936a6d71a3474b"),
    RemoteFile("peopleDevTrain.txt", "2e58df13ba4cc143189336e001cc2c195f1dfa5b29a6475c02857be353c2a2fa",
               "54eaac34beb6d042ed3a7d883e247a21"),
    RemoteFile("peopleDevTest.txt", "c3ed1f90499473401542101a56c14c1d82396bb8218c67a356d7460601047555",
               "e4bf5be0a43b5dcd9dc5ccfcb8fb19c5"),
    RemoteFile("lfw-names.txt", "403cd39411ee297f99f69241959bd8f0496b44377711913a76ccdd8562874164",
               "a6d0a479bd074669f656265a6e693f6d"),
)


def default_sources(variant: str = "lfw-deepfunneled") -> tuple[RemoteFile, ...]:
    """The archive of ``variant`` plus the seven protocol files."""
    if variant not in VARIANTS:
        raise ValueError(f"variant={variant!r}: expected one of {', '.join(VARIANTS)}")
    return (VARIANTS[variant], *PROTOCOL_FILES)


def _existing_layout(root: Path) -> LFWLayout | None:
    try:
        return find_lfw(root)
    except DataNotFoundError:
        if _holds_person_folders(root):  # the image folder itself: downloading would nest a second LFW in it
            raise
        return None


def download_lfw(data_dir: str | os.PathLike | None = None, *, variant: str = "lfw-deepfunneled",
                 base_url: str | None = None, sources: Sequence[RemoteFile] | None = None,
                 progress: bool = True, timeout: float = 60.0, keep_archive: bool = False) -> Path:
    """Make ``data_dir`` hold LFW (``variant``) and its protocol files; return the folder.

    What is already there is not fetched again (present protocol files are checked against
    their checksums). The base URL is the argument, else ``$FACELAB_LFW_URL``, else the
    official site. ``sources`` replaces the table of files (archive + protocol files).
    """
    root = resolve_data_root(data_dir)
    base_url = base_url or os.environ.get(URL_ENV_VAR) or DEFAULT_BASE_URL
    sources = tuple(sources) if sources is not None else default_sources(variant)
    for src in sources:
        if not (src.sha256 or src.md5):
            raise ValueError(f"sources: {src.filename} has no checksum; every download must be verified")
    existing = _existing_layout(root)
    home = existing.root if existing is not None else root
    have_variant = existing is not None and existing.variant == variant

    missing = []
    for src in sources:
        if src.folder is not None:
            if not (have_variant or _holds_person_folders(home / src.folder)):
                missing.append(src)
        elif (home / src.filename).is_file():
            problem = file_mismatch(home / src.filename, src.sha256, src.md5)
            if problem is not None:
                raise DownloadError(f"{home / src.filename} exists but is not the official file ({problem}); "
                                    f"delete it to download again")
        else:
            missing.append(src)
    if not missing:
        return home

    work = home / DOWNLOAD_DIRNAME
    for pattern in (".*.extract-*", "*.unpacked"):  # left by a killed run; never resumable
        for stale in work.glob(pattern):
            shutil.rmtree(stale, ignore_errors=True)
    missing.sort(key=lambda src: src.folder is not None)  # small protocol files first, archive last
    fetched = {src: fetch(src.url(base_url), work / src.filename, src.sha256, src.md5,
                          progress=progress, timeout=timeout) for src in missing}

    extracted: list[tuple[Path, Path]] = []  # (folder in staging, final place)
    try:
        for src, path in fetched.items():
            if src.folder is None:
                continue
            unpacked = safe_extract(path, work / f"{src.folder}.unpacked")
            folder = unpacked / src.folder
            if not folder.is_dir():
                raise DownloadError(f"{src.filename}: expected a top-level folder {src.folder}/, "
                                    f"found {sorted(p.name for p in unpacked.iterdir())}")
            final = home / src.folder
            if final.exists() and any(final.iterdir()):
                raise DownloadError(f"{final} exists and is not empty but holds no LFW images; "
                                    f"move it away and run again")
            extracted.append((folder, final))
        # Everything is verified and unpacked: move into place, image folders last.
        for src, path in fetched.items():
            if src.folder is None:
                os.replace(path, home / src.filename)
        for folder, final in extracted:
            os.replace(folder, final)
    finally:
        for src in fetched:
            if src.folder is not None:
                shutil.rmtree(work / f"{src.folder}.unpacked", ignore_errors=True)
    if not keep_archive:
        for src, path in fetched.items():
            path.unlink(missing_ok=True)
    if extracted and not (home / MANIFEST_NAME).exists():  # a record for `verify_manifest` later
        files = [src.filename for src in sources if src.folder is None]
        for _, final in extracted:
            files += [p.relative_to(home) for p in final.rglob("*") if p.is_file()]
        write_manifest(home, files, progress=progress)
    if work.is_dir() and not any(work.iterdir()):
        work.rmdir()
    find_lfw(home)  # the result must be a layout the loader accepts
    return home
