"""Download path and manifest checks, against a local HTTP server on 127.0.0.1.

The archive served is built here from a few REAL LFW images (copied from $FACELAB_DATA at test
time); the protocol files served are the real ones, so the built-in checksum table is checked
too. No traffic leaves the machine.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from facelab.data import DownloadError, find_lfw
from facelab.data import download as dl
from facelab.data.archive import safe_extract
from facelab.data.download import DOWNLOAD_DIRNAME, PROTOCOL_FILES, RemoteFile, download_lfw
from facelab.data.fetching import fetch
from facelab.data.manifest import ManifestFormatError, read_manifest, verify_manifest, write_manifest

FOLDER = "lfw-deepfunneled"
ARCHIVE = "lfw-deepfunneled.tgz"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- real data, a few images --------------------------------------------------------------------
@pytest.fixture(scope="module")
def real(lfw):
    """A handful of real people (3 with >= 2 images, 1 with one) and the real protocol files."""
    layout = lfw.layout
    counts = [line.split("\t") for line in layout.protocol_file("lfw-names.txt").read_text().splitlines()]
    multi = [(n, int(c)) for n, c in counts if 2 <= int(c) <= 4][:3]
    single = [(n, int(c)) for n, c in counts if int(c) == 1][:1]
    images = {}
    for name, count in multi + single:
        for number in range(1, count + 1):
            images[f"{name}/{name}_{number:04d}.jpg"] = layout.image_path(name, number).read_bytes()
    protocol = {src.filename: layout.protocol_file(src.filename).read_bytes() for src in PROTOCOL_FILES}
    return {"images": images, "people": len(multi) + len(single), "protocol": protocol, "layout": layout}


def make_tar(members, gz: bool = True) -> bytes:
    """members: (TarInfo, bytes or None) in order."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def file_member(name: str, data: bytes):
    return tarfile.TarInfo(name), data


def link_member(name: str, target: str, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


def dir_member(name: str):
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, 0o755
    return info, None


@pytest.fixture(scope="module")
def good_archive(real) -> bytes:
    members = [dir_member(FOLDER)]
    members += [file_member(f"{FOLDER}/{rel}", data) for rel, data in real["images"].items()]
    return make_tar(members)


# -- the local server ---------------------------------------------------------------------------
class ServerState:
    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.cut: dict[str, int] = {}  # one-shot: send only this many body bytes, then hang up
        self.ignore_range = False
        self.requests: list[tuple[str, str | None]] = []
        self.base_url = ""


@pytest.fixture
def server(monkeypatch):
    state = ServerState()
    monkeypatch.setenv("no_proxy", "127.0.0.1")  # a proxy set in the environment must not see this
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")

    class Handler(BaseHTTPRequestHandler):  # HTTP/1.0: one request per connection
        def do_GET(self):
            name = self.path.removeprefix("/lfw/")
            state.requests.append((name, self.headers.get("Range")))
            data = state.files.get(name)
            if data is None:
                self.send_error(404)
                return
            start, asked = 0, self.headers.get("Range")
            if asked and not state.ignore_range:
                start = int(re.fullmatch(r"bytes=(\d+)-", asked).group(1))
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            cut = state.cut.pop(name, None)
            self.wfile.write(body if cut is None else body[:cut])

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.base_url = f"http://127.0.0.1:{httpd.server_port}/lfw/"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def lfw_server(server, real, good_archive):
    server.files.update(real["protocol"])
    server.files[ARCHIVE] = good_archive
    return server


def sources_for(archive: bytes, sha=None):
    return (RemoteFile(ARCHIVE, sha256=sha or sha256(archive), folder=FOLDER), *PROTOCOL_FILES)


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


# -- fetch --------------------------------------------------------------------------------------
def test_fetch_verifies_md5_and_sha256(server, real, tmp_path):
    data = real["protocol"]["pairs.txt"]
    server.files["pairs.txt"] = data
    src = next(s for s in PROTOCOL_FILES if s.filename == "pairs.txt")  # the built-in table
    out = fetch(server.base_url + "pairs.txt", tmp_path / "pairs.txt", src.sha256, src.md5, progress=True, timeout=5)
    assert out.read_bytes() == data
    assert listing(tmp_path) == ["pairs.txt"]


def test_fetch_resumes_a_cut_transfer(server, good_archive, tmp_path):
    server.files[ARCHIVE] = good_archive
    cut = len(good_archive) // 3
    server.cut[ARCHIVE] = cut
    dest = tmp_path / ARCHIVE
    with pytest.raises(DownloadError, match=rf"cut short at {cut} of {len(good_archive)} bytes.*resume"):
        fetch(server.base_url + ARCHIVE, dest, sha256(good_archive), progress=False, timeout=5)
    assert not dest.exists()
    assert (tmp_path / (ARCHIVE + ".part")).stat().st_size == cut
    fetch(server.base_url + ARCHIVE, dest, sha256(good_archive), progress=False, timeout=5)
    assert server.requests[-1] == (ARCHIVE, f"bytes={cut}-")
    assert dest.read_bytes() == good_archive
    assert listing(tmp_path) == [ARCHIVE]


def test_fetch_starts_over_when_the_server_ignores_range(server, good_archive, tmp_path):
    server.files[ARCHIVE] = good_archive
    server.cut[ARCHIVE] = 1000
    server.ignore_range = True
    dest = tmp_path / ARCHIVE
    with pytest.raises(DownloadError, match="cut short"):
        fetch(server.base_url + ARCHIVE, dest, sha256(good_archive), progress=False, timeout=5)
    fetch(server.base_url + ARCHIVE, dest, sha256(good_archive), progress=False, timeout=5)
    assert server.requests[-1][1] == "bytes=1000-"  # asked, got a 200, rewrote from byte 0
    assert dest.read_bytes() == good_archive


def test_fetch_finishes_a_part_that_is_already_whole(server, good_archive, tmp_path):
    server.files[ARCHIVE] = good_archive
    (tmp_path / (ARCHIVE + ".part")).write_bytes(good_archive)  # killed after the last byte, before the rename
    fetch(server.base_url + ARCHIVE, tmp_path / ARCHIVE, sha256(good_archive), progress=False, timeout=5)
    assert server.requests == [(ARCHIVE, f"bytes={len(good_archive)}-")]  # answered 416: nothing left to send
    assert listing(tmp_path) == [ARCHIVE] and (tmp_path / ARCHIVE).read_bytes() == good_archive


def test_fetch_wrong_checksum_names_file_and_digests(server, good_archive, tmp_path):
    server.files[ARCHIVE] = good_archive
    wrong = sha256(b"not the archive")
    with pytest.raises(DownloadError) as err:
        fetch(server.base_url + ARCHIVE, tmp_path / ARCHIVE, wrong, progress=False, timeout=5)
    message = str(err.value)
    assert ARCHIVE in message and wrong in message and sha256(good_archive) in message
    assert listing(tmp_path) == []  # neither the file nor a .part


def test_fetch_http_error_is_a_download_error(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(server.base_url + "absent.txt", tmp_path / "absent.txt", progress=False, timeout=5)


# -- download_lfw -------------------------------------------------------------------------------
def test_download_lfw_end_to_end_then_not_again(lfw_server, real, good_archive, tmp_path, monkeypatch):
    monkeypatch.setenv(dl.URL_ENV_VAR, lfw_server.base_url)  # base URL from the environment
    data_dir = tmp_path / "data"
    home = download_lfw(data_dir, sources=sources_for(good_archive), progress=False, timeout=5)
    assert home == data_dir
    layout = find_lfw(data_dir)
    assert layout.variant == "lfw-deepfunneled" and layout.image_dir == data_dir / FOLDER
    assert layout.counts()["images"] == len(real["images"])
    assert layout.counts()["people"] == real["people"]
    for rel, data in real["images"].items():
        assert (data_dir / FOLDER / rel).read_bytes() == data
    for name, data in real["protocol"].items():
        assert (data_dir / name).read_bytes() == data
    assert not (data_dir / DOWNLOAD_DIRNAME).exists()
    report = verify_manifest(data_dir, progress=False)  # the manifest written after the download
    assert report.ok and report.checked == len(real["images"]) + len(PROTOCOL_FILES)

    n_requests = len(lfw_server.requests)
    assert download_lfw(data_dir, sources=sources_for(good_archive), progress=False, timeout=5) == data_dir
    assert len(lfw_server.requests) == n_requests  # already present: no traffic at all


def test_download_lfw_on_the_real_data_is_a_no_op(server, real):
    """The course copy ($FACELAB_DATA, read-only) has everything: the built-in sha256+md5 table must
    accept its protocol files, and nothing may be requested."""
    root = real["layout"].root
    assert download_lfw(root, base_url=server.base_url, progress=False) == root
    assert server.requests == []


def test_download_lfw_fetches_only_what_is_missing(lfw_server, good_archive, tmp_path):
    data_dir = tmp_path / "data"
    download_lfw(data_dir, base_url=lfw_server.base_url, sources=sources_for(good_archive), progress=False)
    (data_dir / "people.txt").unlink()
    before = len(lfw_server.requests)
    download_lfw(data_dir, base_url=lfw_server.base_url, sources=sources_for(good_archive), progress=False)
    assert [name for name, _ in lfw_server.requests[before:]] == ["people.txt"]

    (data_dir / "pairs.txt").write_text("10\t300\n")  # a present file that is not the official one
    with pytest.raises(DownloadError, match=r"pairs\.txt exists but is not the official file \(sha256 expected"):
        download_lfw(data_dir, base_url=lfw_server.base_url, sources=sources_for(good_archive), progress=False)


def test_download_lfw_resumes_after_a_cut(lfw_server, good_archive, tmp_path):
    data_dir = tmp_path / "data"
    cut = len(good_archive) // 2
    lfw_server.cut[ARCHIVE] = cut
    with pytest.raises(DownloadError, match="cut short"):
        download_lfw(data_dir, base_url=lfw_server.base_url, sources=sources_for(good_archive), progress=False)
    # Nothing half-written in the data root: only the staging folder, holding the resumable .part.
    assert os.listdir(data_dir) == [DOWNLOAD_DIRNAME]
    assert (data_dir / DOWNLOAD_DIRNAME / (ARCHIVE + ".part")).stat().st_size == cut
    download_lfw(data_dir, base_url=lfw_server.base_url, sources=sources_for(good_archive), progress=False)
    assert (ARCHIVE, f"bytes={cut}-") in lfw_server.requests
    assert find_lfw(data_dir).counts()["images"] > 0


def test_download_lfw_wrong_checksum_leaves_nothing_in_target(lfw_server, good_archive, tmp_path):
    data_dir = tmp_path / "data"
    wrong = "0" * 64
    with pytest.raises(DownloadError) as err:
        download_lfw(data_dir, base_url=lfw_server.base_url, sources=sources_for(good_archive, sha=wrong),
                     progress=False)
    assert ARCHIVE in str(err.value) and wrong in str(err.value) and sha256(good_archive) in str(err.value)
    assert os.listdir(data_dir) == [DOWNLOAD_DIRNAME]
    staged = os.listdir(data_dir / DOWNLOAD_DIRNAME)  # verified protocol files only, no archive, no .part
    assert sorted(staged) == sorted(src.filename for src in PROTOCOL_FILES)


def test_download_lfw_refuses_sources_without_checksum(tmp_path):
    with pytest.raises(ValueError, match="x.tgz has no checksum"):
        download_lfw(tmp_path, sources=[RemoteFile("x.tgz", folder="x")], progress=False)


def test_download_lfw_interrupted_extraction_leaves_no_half_target(lfw_server, good_archive, tmp_path):
    broken = good_archive[: int(len(good_archive) * 0.6)]  # gzip stream ends mid-member
    lfw_server.files[ARCHIVE] = broken
    data_dir = tmp_path / "data"
    with pytest.raises(DownloadError, match="extraction failed"):
        download_lfw(data_dir, base_url=lfw_server.base_url, sources=sources_for(broken), progress=False)
    assert os.listdir(data_dir) == [DOWNLOAD_DIRNAME]
    assert not [p for p in os.listdir(data_dir / DOWNLOAD_DIRNAME) if "unpacked" in p or "extract" in p]


def test_safe_extract_ctrl_c_midway_removes_staging(good_archive, tmp_path, monkeypatch):
    (tmp_path / ARCHIVE).write_bytes(good_archive)
    written = []
    real_filter = tarfile.data_filter

    def filter_then_interrupt(member, dest):  # the folder and two images are on disk by the third call
        written.append(listing(tmp_path))
        if len(written) == 3:
            raise KeyboardInterrupt
        return real_filter(member, dest)

    monkeypatch.setattr(tarfile, "data_filter", filter_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        safe_extract(tmp_path / ARCHIVE, tmp_path / "out")
    assert any(".jpg" in path for path in written[-1])  # interrupted after files were written
    assert listing(tmp_path) == [ARCHIVE]  # no target, no staging folder


# -- safe_extract -------------------------------------------------------------------------------
def test_safe_extract_good_archive_with_inner_symlink(real, tmp_path):
    rel, data = next(iter(real["images"].items()))
    archive = tmp_path / "a.tar"
    archive.write_bytes(make_tar([file_member(f"{FOLDER}/{rel}", data),
                                  link_member(f"{FOLDER}/alias.jpg", rel)], gz=False))
    out = safe_extract(archive, tmp_path / "out")
    assert (out / FOLDER / rel).read_bytes() == data
    assert (out / FOLDER / "alias.jpg").read_bytes() == data


def test_safe_extract_real_layout_keeps_images_drops_risky_bits(real, tmp_path):
    """What the "data" filter changes for ordinary members: the LFW layout (<Name>/<Name>_NNNN.jpg
    under a top-level folder, with or without folder entries) extracts byte for byte, while setuid,
    group/other write and foreign ownership are dropped and an owner can always read its files."""
    images = list(real["images"].items())
    top = tarfile.TarInfo(FOLDER)
    top.type, top.mode = tarfile.DIRTYPE, 0o777
    members = [(top, None)]
    for i, (rel, data) in enumerate(images):
        info, _ = file_member(f"{FOLDER}/{rel}", data)  # no entry for the person folder itself
        info.mode, info.uid, info.gid, info.mtime = (0o4775, 0o000, 0o664)[i % 3], 12345, 12345, 1_100_000_000
        members.append((info, data))
    archive = tmp_path / "lfw.tgz"
    archive.write_bytes(make_tar(members))
    out = safe_extract(archive, tmp_path / "out")
    assert listing(out / FOLDER) == sorted({*real["images"], *(rel.split("/")[0] for rel in real["images"])})
    for i, (rel, data) in enumerate(images):
        path = out / FOLDER / rel
        assert path.read_bytes() == data
        assert path.stat().st_mode & 0o7777 == (0o755, 0o600, 0o644)[i % 3]
        assert path.stat().st_uid == os.getuid() and path.stat().st_mtime == 1_100_000_000
    assert not (out / FOLDER).stat().st_mode & 0o022  # the folder's 0o777 is not applied
    assert find_lfw(out).counts()["images"] == len(images)


def test_safe_extract_hard_link_to_no_member_is_an_error(tmp_path):
    archive = tmp_path / "a.tar"
    archive.write_bytes(make_tar([link_member(f"{FOLDER}/hard", f"{FOLDER}/absent.jpg", tarfile.LNKTYPE)]))
    with pytest.raises(DownloadError, match=r"a\.tar: extraction failed .*absent\.jpg"):
        safe_extract(archive, tmp_path / "out")
    assert listing(tmp_path) == ["a.tar"]


@pytest.fixture
def outside(tmp_path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_text("keep me")
    return folder


def _evil_archives(outside: Path):
    jpg = b"\xff\xd8 not needed to be a face for a refused member"
    return {
        "dotdot": [file_member(f"{FOLDER}/../../outside/evil.txt", jpg)],
        "absolute": [file_member(str(outside / "abs.txt"), jpg)],
        "symlink-out": [link_member(f"{FOLDER}/link", "../../outside"),
                        file_member(f"{FOLDER}/link/evil.txt", jpg)],
        "symlink-absolute": [link_member(f"{FOLDER}/link", str(outside))],
        "hardlink-out": [link_member(f"{FOLDER}/hard", "../outside/secret.txt", tarfile.LNKTYPE)],
        "hardlink-absolute": [link_member(f"{FOLDER}/hard", str(outside / "secret.txt"), tarfile.LNKTYPE)],
        # each link looks inside when made; together (a -> b/b/c/../../.., then b -> .) a points two levels up
        "re-aimed-symlink": [link_member("a", "b/b/c/../../.."), link_member("b", "."),
                             file_member("a/outside/evil.txt", jpg)],
        "re-aimed-symlink-only": [link_member("a", "b/b/c/../../.."), link_member("b", ".")],
        "duplicate": [file_member(f"{FOLDER}/x.jpg", jpg), file_member(f"{FOLDER}/./x.jpg", jpg)],
        "fifo": [special_member(f"{FOLDER}/pipe", tarfile.FIFOTYPE)],
        "device": [special_member(f"{FOLDER}/null", tarfile.CHRTYPE)],
    }


def special_member(name: str, kind):
    info = tarfile.TarInfo(name)
    info.type, info.devmajor, info.devminor = kind, 1, 3  # as a character device: /dev/null
    return info, None


#: case -> (the member the error must name, the reason it must give). All but the last three are
#: refused by the standard library's "data" filter (PEP 706); facelab's own checks refuse the
#: absolute name (the filter would strip its '/'), the duplicate and the link re-aimed afterwards.
REFUSALS = {
    "dotdot": (f"{FOLDER}/../../outside/evil.txt", "would be written outside the target"),
    "symlink-out": (f"{FOLDER}/link", "is a link that resolves outside the target"),
    "symlink-absolute": (f"{FOLDER}/link", "is a link to an absolute path"),
    "hardlink-out": (f"{FOLDER}/hard", "is a link that resolves outside the target"),
    "hardlink-absolute": (f"{FOLDER}/hard", "is a link to an absolute path"),
    "re-aimed-symlink": ("a/outside/evil.txt", "would be written outside the target"),
    "fifo": (f"{FOLDER}/pipe", "is a device or FIFO"),
    "device": (f"{FOLDER}/null", "is a device or FIFO"),
    "absolute": ("outside/abs.txt", "has an absolute path"),
    "duplicate": (f"{FOLDER}/./x.jpg", "appears twice"),
    "re-aimed-symlink-only": ("a", "is a link that resolves outside the target"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_safe_extract_refuses_escapes(case, tmp_path, outside):
    archive = tmp_path / "evil.tgz"
    archive.write_bytes(make_tar(_evil_archives(outside)[case]))
    before = listing(tmp_path)
    with pytest.raises(DownloadError) as err:
        safe_extract(archive, tmp_path / "target" / "out")
    member, reason = REFUSALS[case]
    message = str(err.value)
    assert re.fullmatch(rf"evil\.tgz: member '[^']*{re.escape(member)}'( \(-> '[^']*'\))? {re.escape(reason)}; "
                        rf"refusing to extract", message), message
    assert (outside / "secret.txt").read_text() == "keep me"
    assert listing(tmp_path) == before + ["target"]  # only the (empty) parent of the target is new
    assert listing(tmp_path / "target") == []


# -- manifests ----------------------------------------------------------------------------------
def test_verify_manifest_on_the_real_data(real):
    layout = real["layout"]
    manifest = layout.root / "MANIFEST.sha256"
    listed = [ln for ln in manifest.read_text().splitlines() if ln]
    start = time.perf_counter()
    report = verify_manifest(progress=False)  # root from $FACELAB_DATA
    seconds = time.perf_counter() - start
    assert report.ok, report.summary()
    assert report.checked == len(listed)
    jpgs = {ln.split("  ", 1)[1] for ln in listed if ln.endswith(".jpg")}
    assert jpgs == {str(r.path.relative_to(layout.root)) for r in layout.images}  # every image the loader sees
    assert {src.filename for src in PROTOCOL_FILES} <= {ln.split("  ", 1)[1] for ln in listed}
    print(f"verified {report.checked} files in {seconds:.2f} s")


@pytest.fixture
def small_copy(real, tmp_path):
    """A few real files, copied with their lines of the real manifest (made by sha256sum)."""
    layout = real["layout"]
    lines = (layout.root / "MANIFEST.sha256").read_text().splitlines()
    chosen = [ln for ln in lines if ln.endswith(".jpg")][100:105] + [ln for ln in lines if ln.endswith("pairs.txt")]
    for ln in chosen:
        rel = ln.split("  ", 1)[1]
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(layout.root / rel, tmp_path / rel)
    (tmp_path / "MANIFEST.sha256").write_text("\n".join(chosen) + "\n")
    return tmp_path, [ln.split("  ", 1) for ln in chosen]


def test_verify_manifest_reports_missing_and_tampered(small_copy):
    root, entries = small_copy
    assert verify_manifest(root, progress=False).ok
    (digest_a, flipped), (_, deleted), (digest_p, cut) = entries[0], entries[1], entries[-1]
    data = bytearray((root / flipped).read_bytes())
    data[len(data) // 2] ^= 0x01
    (root / flipped).write_bytes(bytes(data))
    (root / deleted).unlink()
    (root / cut).write_bytes((root / cut).read_bytes()[:-10])
    report = verify_manifest(root, progress=False)
    assert not report.ok and report.checked == len(entries)
    assert report.missing == [deleted]
    assert {(m.path, m.expected, m.actual) for m in report.mismatched} == {
        (flipped, digest_a, sha256(bytes(data))),
        (cut, digest_p, sha256((root / cut).read_bytes())),
    }
    assert deleted in report.summary() and flipped in report.summary()


@pytest.mark.parametrize("bad_line, problem", [
    ("e3b0c44298fc1c149afbf4c8996fb924  short-digest.txt", "expected '<64 hex digits>  <path>'"),
    ("not a manifest line", "expected '<64 hex digits>  <path>'"),
    ("0" * 64 + "  ../escape.txt", "leaves the folder"),
    ("0" * 64 + "  /etc/passwd", "leaves the folder"),
])
def test_malformed_manifest_line_names_file_and_line(small_copy, bad_line, problem):
    root, _ = small_copy
    lines = (root / "MANIFEST.sha256").read_text().splitlines()
    lines.insert(2, bad_line)
    (root / "custom.sha256").write_text("\n".join(lines) + "\n")
    with pytest.raises(ManifestFormatError, match=rf"custom\.sha256 line 3: .*{re.escape(problem)}"):
        verify_manifest(root, "custom.sha256", progress=False)


def test_write_manifest_matches_sha256sum_output(small_copy):
    root, entries = small_copy
    write_manifest(root, [rel for _, rel in entries], "mine.sha256", progress=False)
    ours = read_manifest(root / "mine.sha256")
    theirs = read_manifest(root / "MANIFEST.sha256")  # written by coreutils sha256sum
    assert sorted(ours) == sorted(theirs)
    assert [rel for rel, _ in ours] == sorted((rel for rel, _ in ours), key=str.encode)
