"""Fetching LFW from its official site, and checking a copy against a sha256 manifest.

``download_lfw`` fetches the image archive and the seven protocol files, checks each against
its published checksum, extracts the archive safely and moves the results into the data root.
What lands in the data root is always whole: an image folder appears in one ``os.replace``,
after everything was verified. Work in progress lives in ``<data root>/.facelab-download/``:

* ``<file>.part`` — an interrupted transfer; the next run resumes it with an HTTP Range request;
* ``extract-<pid>/`` — an extraction in progress (removed on error; stale ones on the next run).

``verify_manifest`` checks every file a ``sha256sum``-format manifest lists.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterable, Sequence

from tqdm.auto import tqdm

from .. import io as fio
from .errors import DataNotFoundError, DownloadError, ProtocolFormatError
from .layout import LFWLayout, _holds_person_folders, find_lfw, resolve_data_root

#: the official LFW site; torchvision and TFDS fetch from the same address.
DEFAULT_BASE_URL = "http://vis-www.cs.umass.edu/lfw/"
#: environment variable that overrides the base URL (a mirror, or a test server).
URL_ENV_VAR = "FACELAB_LFW_URL"
#: folder inside the data root for partial downloads and extraction in progress.
DOWNLOAD_DIRNAME = ".facelab-download"
MANIFEST_NAME = "MANIFEST.sha256"

_CHUNK = 1 << 16
_MAX_UNSIZED_BYTES = 4 << 30  # cap for a response without Content-Length (largest archive: 234 MB)


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


def _file_mismatch(path: Path, sha256: str | None, md5: str | None) -> str | None:
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
        problem = _file_mismatch(dest, sha256, md5)
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


# -- safe extraction ----------------------------------------------------------------------------
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
    """Extract a tar archive (gz/bz2/xz or plain) into ``target``, which must not exist yet.

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
    except (tarfile.TarError, EOFError, OSError, KeyError) as err:  # KeyError: a hard link to no member
        raise DownloadError(f"{archive}: extraction failed ({err!r}); nothing was moved into place") from err
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


# -- LFW ----------------------------------------------------------------------------------------
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
            problem = _file_mismatch(home / src.filename, src.sha256, src.md5)
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


# -- manifests ----------------------------------------------------------------------------------
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
