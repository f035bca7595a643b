"""Extracting a downloaded tar or zip archive without trusting it.

Split from ``download.py`` because the safety rules are their own concern: the standard library's
``filter="data"`` (PEP 706) does most of the work, and facelab adds the refusals it lacks
(absolute names, repeated names, symlinks re-aimed by a later member) and turns every refusal
into a ``DownloadError`` naming the member. Nothing half-extracted is ever left at the target.
"""
from __future__ import annotations

import os
import re
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path

from .errors import DownloadError


class _DuplicateMemberError(tarfile.FilterError):
    """A second member of one name would silently replace the first, after it was checked."""

    def __init__(self, tarinfo: tarfile.TarInfo):
        self.tarinfo = tarinfo
        super().__init__(f"{tarinfo.name!r} appears twice")


#: why a member was refused, in facelab's words, by the class of the filter's error
_REFUSALS = {
    tarfile.AbsolutePathError: "has an absolute path",
    tarfile.OutsideDestinationError: "would be written outside the target",
    tarfile.AbsoluteLinkError: "is a link to an absolute path",
    tarfile.LinkOutsideDestinationError: "is a link that resolves outside the target",
    tarfile.SpecialFileError: "is a device or FIFO",
    _DuplicateMemberError: "appears twice",
}


def _member_filter():
    """``tarfile.data_filter`` plus two refusals it lacks: a name starting with '/' (the filter
    would strip the '/' and extract it inside) and a repeated name."""
    seen: set[str] = set()

    def check(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
        if member.name.startswith("/"):
            raise tarfile.AbsolutePathError(member)
        name = os.path.normpath(member.name)
        if name in seen and not member.isdir():
            raise _DuplicateMemberError(member)
        seen.add(name)
        return tarfile.data_filter(member, dest)

    return check


def safe_extract(archive: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Extract a tar archive (gz/bz2/xz or plain), or a zip archive (:func:`_extract_zip`), into
    ``target``, which must not exist yet.

    The standard library's "data" filter (PEP 706) checks each member before it is written:
    paths or links that lead outside, absolute links and special files (devices, FIFOs) are
    refused; ownership, setuid and group/other-write bits are dropped. ``_member_filter`` adds
    absolute names and duplicates; once all links exist each symlink is checked again, since a
    later link can re-aim an earlier one. A refusal is a ``DownloadError`` naming the member.
    Files go to a staging folder beside ``target`` that becomes ``target`` only when the whole
    archive was extracted; on any error (or Ctrl-C) the staging folder is removed.
    """
    archive, target = Path(archive), Path(target)
    if target.exists():
        raise DownloadError(f"cannot extract {archive.name}: {target} already exists")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.extract-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    try:
        if zipfile.is_zipfile(archive):
            _extract_zip(archive, staging)
            os.replace(staging, target)
            return target
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(staging, filter=_member_filter())
            root = os.path.realpath(staging)
            for link in (m for m in tar.getmembers() if m.issym()):
                real = os.path.realpath(staging / link.name)
                if os.path.commonpath([root, real]) != root:
                    raise tarfile.LinkOutsideDestinationError(link, real)
        os.replace(staging, target)
    except tarfile.FilterError as err:
        member = err.tarinfo
        why = next((text for kind, text in _REFUSALS.items() if isinstance(err, kind)), str(err))
        link = f" (-> {member.linkname!r})" if member.issym() or member.islnk() else ""
        raise DownloadError(f"{archive.name}: member {member.name!r}{link} {why}; refusing to extract") from err
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, KeyError) as err:  # KeyError: a hard link to no member
        raise DownloadError(f"{archive}: extraction failed ({err!r}); nothing was moved into place") from err
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _extract_zip(archive: Path, staging: Path) -> None:
    """A zip archive into ``staging``, every member checked first: the zip module would silently
    rename an absolute or ``..`` name and write a symlink's target as a file, so those (and names
    that appear twice) are refused, naming the member, before anything is written."""
    with zipfile.ZipFile(archive) as zf:
        seen = set()
        for info in zf.infolist():
            name = info.filename
            parts = name.replace("\\", "/").split("/")
            why = ("is an absolute path" if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) else
                   "leads outside the target folder (..)" if ".." in parts else
                   "is a symbolic link" if stat.S_ISLNK(info.external_attr >> 16) else
                   "appears twice in the archive" if name in seen else None)
            if why:
                raise DownloadError(f"{archive.name}: member {name!r} {why}; refusing to extract")
            seen.add(name)
        zf.extractall(staging)
