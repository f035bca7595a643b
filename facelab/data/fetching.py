"""Fetching one file over HTTP: resumable, verified against its checksums, and atomic.

Split from ``download.py`` so the transfer (Range requests, a ``.part`` file kept across runs,
a tqdm progress bar, sha256/md5 checked while the bytes arrive) can be read and tested apart from
what LFW needs: ``fetch`` knows nothing of archives, variants or data roots. (Not ``fetch.py``:
the package re-exports the function ``fetch``, which would hide a module of that name.)
"""
from __future__ import annotations

import hashlib
import http.client
import os
import re
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

from .errors import DownloadError

_CHUNK = 1 << 16
_MAX_UNSIZED_BYTES = 4 << 30  # cap for a response without Content-Length (largest archive: 234 MB)


# -- checksums ----------------------------------------------------------------------------------
class _Digests:
    """sha256 and/or md5 of a byte stream, fed chunk by chunk."""

    def __init__(self, sha256: str | None, md5: str | None):
        self.expected = {k: v.lower() for k, v in (("sha256", sha256), ("md5", md5)) if v}
        self.hashers = {k: hashlib.new(k) for k in self.expected}

    def update(self, chunk: bytes) -> None:
        for h in self.hashers.values():
            h.update(chunk)

    def update_from_file(self, path: Path) -> None:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                self.update(chunk)

    def mismatch(self) -> str | None:
        """``"sha256 expected X, got Y"`` for the first digest that differs, else None."""
        for name, want in self.expected.items():
            got = self.hashers[name].hexdigest()
            if got != want:
                return f"{name} expected {want}, got {got}"
        return None


def file_mismatch(path: Path, sha256: str | None, md5: str | None) -> str | None:
    """What differs between ``path`` and its expected checksums (``"sha256 expected X, got Y"``), or None."""
    digests = _Digests(sha256, md5)
    digests.update_from_file(path)
    return digests.mismatch()


# -- fetch --------------------------------------------------------------------------------------
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


def fetch(url: str, dest: str | os.PathLike, sha256: str | None = None, md5: str | None = None, *,
          progress: bool = True, resume: bool = True, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest``, verified, resumable, and atomic.

    Bytes go to ``dest.part``; an interrupted transfer leaves it there and the next call asks
    the server for the rest (``Range: bytes=N-``; a server that ignores it sends everything
    again and we start over). Only a complete file whose checksums match is renamed to
    ``dest``; a mismatching one is deleted. An existing ``dest`` that matches is kept as is.
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    if dest.exists():
        problem = file_mismatch(dest, sha256, md5)
        if problem is None:
            return dest
        raise DownloadError(f"{dest} already exists but does not match ({problem}); delete it to download again")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not resume:
        part.unlink(missing_ok=True)
    offset = part.stat().st_size if part.exists() else 0

    request = urllib.request.Request(url, headers={"User-Agent": "facelab"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # nothing left to send: the .part is already whole
            return _finish(part, dest, url, sha256, md5)
        raise DownloadError(f"{url}: HTTP {err.code} {err.reason}") from err
    except (urllib.error.URLError, OSError) as err:
        raise DownloadError(f"{url}: cannot connect ({getattr(err, 'reason', err)})") from err

    with response:
        total, offset = _transfer_plan(response, url, offset)
        digests = _Digests(sha256, md5)
        if offset:
            digests.update_from_file(part)
        received = offset
        limit = total if total is not None else _MAX_UNSIZED_BYTES
        with open(part, "ab" if offset else "wb") as out, tqdm(
            total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
            desc=dest.name, disable=not progress, leave=False,
        ) as bar:
            while received < limit:  # each pass reads >= 1 byte or leaves: bounded by `limit`
                try:
                    chunk = response.read(min(_CHUNK, limit - received))
                except (http.client.HTTPException, OSError) as err:
                    raise DownloadError(
                        f"{url}: transfer broke off after {received} bytes ({err!r}); "
                        f"partial download kept at {part}, run again to resume"
                    ) from err
                if not chunk:
                    break
                out.write(chunk)
                digests.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
            out.flush()
            os.fsync(out.fileno())
    if total is not None and received < total:
        raise DownloadError(
            f"{url}: transfer cut short at {received} of {total} bytes; "
            f"partial download kept at {part}, run again to resume"
        )
    if total is None and received >= _MAX_UNSIZED_BYTES:
        part.unlink(missing_ok=True)
        raise DownloadError(f"{url}: response exceeds {_MAX_UNSIZED_BYTES} bytes without a declared size")
    return _finish(part, dest, url, sha256, md5, digests)


def _transfer_plan(response, url: str, offset: int) -> tuple[int | None, int]:
    """(total size or None, offset to append at) from the response status and headers."""
    if offset and response.status == 206:
        m = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
        if not m or int(m.group(1)) != offset:
            raise DownloadError(
                f"{url}: asked for bytes {offset}- but the server answered "
                f"Content-Range {response.headers.get('Content-Range')!r}"
            )
        return (None if m.group(3) == "*" else int(m.group(3))), offset
    if response.status != 200:
        raise DownloadError(f"{url}: unexpected HTTP status {response.status}")
    length = response.headers.get("Content-Length")
    return (int(length) if length is not None else None), 0  # a 200 resends everything: start over


def _finish(part: Path, dest: Path, url: str, sha256, md5, digests: _Digests | None = None) -> Path:
    if digests is None:
        digests = _Digests(sha256, md5)
        digests.update_from_file(part)
    problem = digests.mismatch()
    if problem is not None:
        part.unlink(missing_ok=True)  # resuming a corrupt file would only repeat the failure
        raise DownloadError(f"{dest.name}: checksum mismatch, {problem} (downloaded from {url}); "
                            f"the bad download was deleted")
    os.replace(part, dest)
    return dest
