"""Any folder of faces as a data set (``facelab data split``), on real LFW photos arranged as a user
would keep their own: one folder per person, names with spaces and accents, photos named by a phone,
PNG beside JPEG, and the files that get into such folders (a note, a cut-short copy, an empty folder).

The AT&T/ORL faces are recognised by their files' checksums; that rule is tested here on LFW faces
written in AT&T's layout (``s1/1.pgm`` …) with a manifest of those files, since a newcomer's machine
has LFW only."""
from __future__ import annotations

import hashlib
import json
import shlex
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

import facelab.cli as cli
from facelab.data import LFW, PreprocessConfig
from facelab.data import folder as face_folder
from facelab.data.errors import DataError, DataNotFoundError
from facelab.evaluation.commands import reproducing_command
from facelab.evaluation.protocols import few_shot_split, identification_split, verification_splits

PEOPLE = 12  # View 1 test people with ≥ 6 photos each


def _facelab(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def photos(lfw, tmp_path_factory):
    """``PHOTOS/<name>/`` with 6–8 real LFW photos each: ``IMG_2.JPG`` … ``IMG_10.JPG`` (natural order is
    not byte order), one re-encoded as PNG, plus a text file, a truncated JPEG and an empty folder."""
    (test,) = lfw.people_folds("view1-test")
    chosen = [p for p in sorted(test) if len(lfw.people_indices([p])) >= 6][:PEOPLE]
    root = tmp_path_factory.mktemp("faces") / "PHOTOS"
    sources = {}
    for k, person in enumerate(chosen):
        name = person.replace("_", " ") + (" Ré" if k == 0 else "")
        folder = root / name
        folder.mkdir(parents=True)
        files = [lfw.layout.images[i].path for i in lfw.people_indices([person])[:8]]
        for j, src in enumerate(files):
            number = j + 2 if j < 7 else 10  # IMG_2 … IMG_8, IMG_10
            if j == 1:
                cv2.imwrite(str(folder / f"IMG_{number}.png"), cv2.imread(str(src)))
            else:
                shutil.copy(src, folder / f"IMG_{number}.JPG")
        sources[name] = files
    first = root / chosen[0].replace("_", " ")
    first = first.with_name(first.name + " Ré")
    (first / "notes.txt").write_text("not a photo")
    data = (root / chosen[1].replace("_", " ") / "IMG_4.JPG").read_bytes()
    (root / chosen[1].replace("_", " ") / "IMG_99.JPG").write_bytes(data[: len(data) // 2])
    (root / "Nobody Yet").mkdir()
    return {"root": root, "sources": sources, "first": first.name}


@pytest.fixture(scope="module")
def split(photos, tmp_path_factory):
    out = tmp_path_factory.mktemp("protocol")
    return face_folder.split_folder(photos["root"], out, folds=3, pairs=25, seed=0)


def test_split_writes_lfw_protocol_files_that_keep_test_people_out_of_training(split, photos, cache_dir):
    data = LFW(split.root, cache_dir=cache_dir, progress=False)
    assert data.variant == "folder" and len(data.people) == PEOPLE
    folds = data.people_folds("view2")
    assert len(folds) == 3 and sum(len(f) for f in folds) == PEOPLE
    assert not set(folds[0]) & set(folds[1]) and not set(folds[1]) & set(folds[2])
    pairs = data.pairs("view2")
    assert len(pairs) == 3 * 2 * split.pairs_per_fold and split.pairs_per_fold == 25
    labels = data.labels
    assert np.array_equal(labels[pairs.index_a] == labels[pairs.index_b], pairs.same)
    for k, people in enumerate(folds):  # a fold's pairs use only that fold's people
        fold_people = {data.people.index(p) for p in people}
        in_fold = pairs.fold == k
        assert set(labels[pairs.index_a[in_fold]]) | set(labels[pairs.index_b[in_fold]]) <= fold_people
    unique = {(a, b) for a, b in zip(pairs.index_a.tolist(), pairs.index_b.tolist())}
    assert len(unique) == len(pairs)  # drawn without replacement
    for k, s in enumerate(verification_splits(data)):  # the training people of a fold are never its test people
        assert not set(labels[s.train_images]) & set(labels[np.concatenate([s.test_pairs.index_a, s.test_pairs.index_b])])
    (dev_train,), (dev_test,) = data.people_folds("view1-train"), data.people_folds("view1-test")
    assert not set(dev_train) & set(dev_test) and len(dev_train) + len(dev_test) == PEOPLE


def test_photos_are_numbered_in_natural_order_and_bad_files_are_named(split, photos):
    index = json.loads((split.root / face_folder.INDEX_FILE).read_text())
    first = [(number, file) for name, number, file, _, _ in index["images"] if name == photos["first"]]
    files = [Path(f).name for _, f in sorted(first)]
    assert files == ["IMG_2.JPG", "IMG_3.png", "IMG_4.JPG", "IMG_5.JPG", "IMG_6.JPG", "IMG_7.JPG", "IMG_8.JPG",
                     "IMG_10.JPG"]
    lines = "\n".join(split.summary.lines)
    assert "notes.txt: not an image" in lines
    assert "IMG_99.JPG: truncated JPEG" in lines
    assert "Nobody Yet: empty person folder" in lines
    assert split.images == sum(len(files) for files in photos["sources"].values())


def test_a_photo_enters_the_methods_framed_as_lfw_frames_it(split, photos, lfw, cache_dir):
    """The folder copy of an LFW photo, framed around its detected face, gives nearly the method input
    LFW's own image gives (the same face, moved by the detector's box at most a few pixels)."""
    data = LFW(split.root, cache_dir=cache_dir, progress=False)
    config = PreprocessConfig(size=32, crop=(112, 112))
    ours = data.load_images(config).astype(float)
    theirs = lfw.load_images(config).astype(float)
    name = photos["first"]
    positions = np.flatnonzero(data.labels == data.people.index(name))
    originals = [lfw.layout.image_index[(p.parent.name, int(p.stem[-4:]))] for p in photos["sources"][name]]
    found = {e.number for e in data.layout.entries if e.name == name and e.found}
    same = [np.corrcoef(ours[i].ravel(), theirs[j].ravel())[0, 1] for i, j in zip(positions, originals)
            if data.layout.images[i].number in found]
    others = [np.corrcoef(ours[i].ravel(), theirs[j].ravel())[0, 1] for i, j in zip(positions, originals[1:])]
    assert len(same) >= 5 and np.median(same) > 0.9 > np.median(others), (same, others)


def test_the_same_seed_draws_the_same_protocol_and_another_seed_another(photos, split, tmp_path):
    again = face_folder.split_folder(photos["root"], tmp_path / "again", folds=3, pairs=25, seed=0)
    other = face_folder.split_folder(photos["root"], tmp_path / "other", folds=3, pairs=25, seed=1)
    for name in face_folder.PAIR_FILES:
        assert (again.root / name).read_bytes() == (split.root / name).read_bytes(), name
    assert (other.root / "pairs.txt").read_bytes() != (split.root / "pairs.txt").read_bytes()


def test_identification_on_a_folder_holds_out_strangers_and_probes_the_shots_it_can(split, cache_dir):
    """Every person has ≥ 4 photos, so no one is a stranger by count: a third of the test people are;
    8 photos a person allow N-shot enrolment up to N = 5 of the usual 1, 2, 5, 10."""
    data = LFW(split.root, cache_dir=cache_dir, progress=False)
    ident = identification_split(data, seed=0)
    (test,) = data.people_folds("view1-test")
    strangers = set(data.labels[ident.unknown_probes])
    assert len(strangers) == max(1, len(test) // 3)
    assert not strangers & set(data.labels[ident.gallery])
    assert few_shot_split(data, seed=0).shots == (1, 2, 5)


def test_compare_runs_on_a_folder_and_fits_on_lfw_when_asked(split, capsys, tmp_path):
    code, out, err = _facelab(capsys, "compare", "--data-dir", split.root, "--methods", "pixels,eigenfaces",
                              "--out", tmp_path / "within", "--no-progress")
    assert code == 0, err
    results = json.loads((tmp_path / "within" / "results.json").read_text())
    assert results["data_variant"] == "folder"
    assert len(results["methods"]["eigenfaces"]["fold_accuracy"]) == 3
    assert (tmp_path / "within" / "results.md").read_text().startswith("# facelab compare — face folder view2")
    code, out, err = _facelab(capsys, "compare", "--data-dir", split.root, "--fit-data", LFW().layout.root,
                              "--methods", "eigenfaces", "--out", tmp_path / "cross", "--no-progress",
                              "--no-identification")
    assert code == 0, err
    cross = json.loads((tmp_path / "cross" / "results.json").read_text())
    assert cross["fit_data_variant"].startswith("lfw")
    within_fit = results["methods"]["eigenfaces"]["config"]
    # fitted on LFW's thousands of faces, eigenfaces keep all their axes; on 8 people's photos they cannot
    assert cross["methods"]["eigenfaces"]["accuracy_mean"] != results["methods"]["eigenfaces"]["accuracy_mean"]
    assert within_fit["name"] == "eigenfaces"
    assert "fitted on LFW" in (tmp_path / "cross" / "results.md").read_text()
    assert reproducing_command("eigenfaces", cross) == shlex.join(
        ["facelab", "compare", "--methods", "eigenfaces", "--data-dir", str(split.root),
         "--fit-data", "data"])  # LFW's data root as the quick start makes it


def test_a_folder_never_split_says_how_to_split_it(photos, capsys):
    code, out, err = _facelab(capsys, "compare", "--data-dir", photos["root"], "--methods", "pixels", "--no-progress")
    assert code != 0 and "facelab data split" in err
    with pytest.raises(DataNotFoundError, match="facelab data split"):
        LFW(photos["root"])


def test_too_few_people_for_the_folds_is_an_error_that_says_so(photos, tmp_path):
    with pytest.raises(DataError, match=r"12 people, 12 with 2\+ usable photos; 7 folds need"):
        face_folder.split_folder(photos["root"], tmp_path, folds=7)
    assert not (tmp_path / face_folder.INDEX_FILE).exists()


def test_a_photo_gone_since_the_split_is_named(photos, tmp_path, cache_dir):
    copy = tmp_path / "PHOTOS"
    shutil.copytree(photos["root"], copy)
    face_folder.split_folder(copy, folds=3, pairs=10)
    gone = next((copy / photos["first"]).glob("IMG_5.JPG"))
    gone.unlink()
    with pytest.raises(DataNotFoundError, match=r"IMG_5\.JPG is listed in .*FACES\.json but is not there"):
        LFW(copy, cache_dir=cache_dir, progress=False).load_images()


def test_att_layout_is_recognised_by_its_checksums(lfw, tmp_path, monkeypatch):
    """``s1 … sK/1.pgm … 10.pgm`` numbered naturally; the variant is ``att`` only when every file's
    sha256 is the manifest's (here a manifest of these LFW faces written as PGM)."""
    root = tmp_path / "att_faces"
    (test,) = lfw.people_folds("view1-test")
    people = [p for p in sorted(test) if len(lfw.people_indices([p])) >= 10][:6]
    for s, person in enumerate(people, start=1):
        (root / f"s{s}").mkdir(parents=True)
        for n, i in enumerate(lfw.people_indices([person])[:10], start=1):
            grey = cv2.cvtColor(cv2.imread(str(lfw.layout.images[i].path)), cv2.COLOR_BGR2GRAY)
            cv2.imwrite(str(root / f"s{s}" / f"{n}.pgm"), grey[69:181, 79:171])  # 92×112, as AT&T's
    manifest = tmp_path / "att.sha256"
    manifest.write_text("".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(root).as_posix()}\n"
                                for p in sorted(root.rglob("*.pgm"))))
    monkeypatch.setattr(face_folder, "ATT_MANIFEST", manifest)
    done = face_folder.split_folder(root, tmp_path / "att", folds=2, pairs=20)
    assert done.variant == "att"
    index = json.loads((tmp_path / "att" / face_folder.INDEX_FILE).read_text())
    assert [f for n, k, f, _, _ in index["images"] if n == "s1"] == [f"s1/{n}.pgm" for n in range(1, 11)]
    assert "AT&T/ORL faces" in LFW(tmp_path / "att").layout.describe()
    (root / "s2" / "3.pgm").write_bytes((root / "s2" / "3.pgm").read_bytes()[:-1] + b"\0")
    assert face_folder.split_folder(root, tmp_path / "changed", folds=2, pairs=20).variant == "folder"


# -- fetching AT&T ----------------------------------------------------------------------------------
@pytest.fixture
def att_archive(lfw, tmp_path, monkeypatch):
    """An AT&T-layout zip (``att_faces/s1/1.pgm`` …) of real LFW faces, with the manifest of its images
    standing in for the 400 published checksums."""
    images = tmp_path / "faces"
    (test,) = lfw.people_folds("view1-test")
    people = [p for p in sorted(test) if len(lfw.people_indices([p])) >= 10][:20]  # 10 folds need 20 people
    assert len(people) == 20
    for s, person in enumerate(people, start=1):
        (images / f"s{s}").mkdir(parents=True)
        for n, i in enumerate(lfw.people_indices([person])[:10], start=1):
            grey = cv2.cvtColor(cv2.imread(str(lfw.layout.images[i].path)), cv2.COLOR_BGR2GRAY)
            cv2.imwrite(str(images / f"s{s}" / f"{n}.pgm"), grey[69:181, 79:171])
    manifest = tmp_path / "att.sha256"
    manifest.write_text("".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(images).as_posix()}\n"
                                for p in sorted(images.rglob("*.pgm"))))
    monkeypatch.setattr(face_folder, "ATT_MANIFEST", manifest)
    members = {f"att_faces/{p.relative_to(images).as_posix()}": p.read_bytes() for p in sorted(images.rglob("*.pgm"))}
    return members


def _zip(members: dict) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def http(monkeypatch):
    """Files served on 127.0.0.1 (no proxy)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    files: dict[str, bytes] = {}
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            data = files.get(self.path.lstrip("/"))
            if data is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield files, f"http://127.0.0.1:{httpd.server_port}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_download_att_checks_every_image_then_splits_it(att_archive, http, tmp_path, capsys):
    files, base = http
    files["att_faces.zip"] = _zip(att_archive)
    code, out, err = _facelab(capsys, "data", "download", "--dataset", "att", "--data-dir", tmp_path / "att",
                              "--url", base + "att_faces.zip", "--no-progress")
    assert code == 0, err
    data = LFW(tmp_path / "att", progress=False)
    assert data.variant == "att" and len(data.people) == 20 and len(data) == 200
    assert len(data.people_folds("view2")) == 10
    assert sorted(p.name for p in (tmp_path / "att").iterdir()) == sorted(
        ["att_faces", face_folder.INDEX_FILE, *face_folder.PAIR_FILES])  # no archive or staging left
    before = (tmp_path / "att" / "pairs.txt").read_bytes()
    code, out, err = _facelab(capsys, "data", "download", "--dataset", "att", "--data-dir", tmp_path / "att",
                              "--url", base + "gone.zip", "--no-progress")  # already there: checked, not fetched
    assert code == 0 and (tmp_path / "att" / "pairs.txt").read_bytes() == before


def test_download_att_refuses_a_changed_image_and_leaves_nothing(att_archive, http, tmp_path):
    from facelab.data.att import download_att
    from facelab.data.errors import DownloadError

    files, base = http
    changed = dict(att_archive)
    changed["att_faces/s3/7.pgm"] = changed["att_faces/s3/7.pgm"][:-1] + b"\x01"
    files["att_faces.zip"] = _zip(changed)
    with pytest.raises(DownloadError, match=r"s3/7\.pgm differs from the published image"):
        download_att(tmp_path / "att", url=base + "att_faces.zip", progress=False)
    assert not (tmp_path / "att" / "att_faces").exists() and not (tmp_path / "att" / face_folder.INDEX_FILE).exists()


@pytest.mark.parametrize("member, why", [("../evil.pgm", r"leads outside"), ("/etc/evil.pgm", "absolute path")])
def test_download_att_refuses_a_zip_member_that_escapes(att_archive, http, tmp_path, member, why):
    from facelab.data.att import download_att
    from facelab.data.errors import DownloadError

    files, base = http
    files["att_faces.zip"] = _zip({**att_archive, member: b"P5\n1 1\n255\n\0"})
    with pytest.raises(DownloadError, match=why):
        download_att(tmp_path / "att", url=base + "att_faces.zip", progress=False)
    assert not (tmp_path / "evil.pgm").exists() and not (tmp_path / "att" / "att_faces").exists()
