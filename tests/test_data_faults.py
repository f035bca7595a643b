"""Bad data and bad arguments as users met them: each is an error (or a warning) that names the file,
line, person or argument, never a bare key, a traceback or silent acceptance.

Data roots are built in ``tmp_path`` from the real LFW: copies of the protocol files (which a test
may change) and the person folders linked to the real ones (read-only; a test that changes an
image works on a copied folder)."""
from __future__ import annotations

import errno
import json
import os
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from facelab import methods
from facelab.cli import main
from facelab.data import LFW, DataError, DataNotFoundError, PreprocessConfig, ProtocolFormatError, find_lfw
from facelab.data import protocol
from facelab.data.errors import CacheWriteWarning, TruncatedImageWarning
from facelab.data.preprocess import load_or_build, preprocess_files, read_image

PROTOCOL_FILES = ("pairs.txt", "pairsDevTrain.txt", "pairsDevTest.txt", "people.txt", "peopleDevTrain.txt",
                  "peopleDevTest.txt", "lfw-names.txt")


def linked_root(lfw, tmp_path: Path, *, skip=(), copy=()) -> Path:
    """A data root with copies of the protocol files and every person folder of the real LFW linked,
    except the people in ``skip`` (left out) and in ``copy`` (copied, so the test may change them)."""
    root = tmp_path / "lfw"
    images = root / "images"
    images.mkdir(parents=True)
    for name in PROTOCOL_FILES:
        shutil.copy(lfw.layout.protocol_file(name), root / name)
    for person in lfw.people:
        if person in skip:
            continue
        if person in copy:
            shutil.copytree(lfw.layout.image_dir / person, images / person)
        else:
            os.symlink(lfw.layout.image_dir / person, images / person, target_is_directory=True)
    return root


def edit_line(path: Path, line_no: int, new: str) -> str:
    """Replace line ``line_no`` (1-based) of a protocol file; returns the old line."""
    lines = path.read_text().splitlines()
    old, lines[line_no - 1] = lines[line_no - 1], new
    path.write_text("\n".join(lines) + "\n")
    return old


def line_of(path: Path, text: str) -> int:
    return path.read_text().splitlines().index(text) + 1


def run_cli(capsys, *argv) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


# -- A: a KeyError printed as just the key ----------------------------------------------------
def test_missing_person_folder_names_file_line_and_person(lfw, tmp_path, capsys):
    root = linked_root(lfw, tmp_path, skip={"AJ_Cook"})
    line = line_of(root / "people.txt", "AJ_Cook\t1")
    with pytest.raises(DataError, match=rf"people.txt line {line}: AJ_Cook is listed with 1 image.*no folder "
                                        rf".*images/AJ_Cook"):
        LFW(root, progress=False).people_folds("view2")
    # the command a user ran: it printed "error: AJ_Cook"
    code, err = run_cli(capsys, "compare", "--methods", "pixels", "--data-dir", root, "--out", tmp_path / "out",
                        "--no-identification", "--no-progress")
    assert code == 2 and f"people.txt line {line}: AJ_Cook" in err, err
    assert not err.strip().endswith("error: AJ_Cook")


def test_unknown_person_in_people_file_is_named(lfw, tmp_path, capsys):
    root = linked_root(lfw, tmp_path)
    line = line_of(root / "people.txt", "AJ_Cook\t1")
    edit_line(root / "people.txt", line, "Nobody_Atall\t1")
    small = LFW(root, progress=False)
    with pytest.raises(DataError, match=rf"{root / 'people.txt'} line {line}: Nobody_Atall is listed with 1 image"):
        small.people_folds("view2")
    with pytest.raises(DataError, match=r"no images of Nobody_Atall"):
        small.people_indices(["Abel_Pacheco", "Nobody_Atall"])
    code, err = run_cli(capsys, "compare", "--methods", "pixels", "--data-dir", root, "--out", tmp_path / "out",
                        "--no-identification", "--no-progress")
    assert code == 2 and f"line {line}: Nobody_Atall" in err and not err.strip().endswith("error: Nobody_Atall"), err


def test_cli_never_prints_a_bare_key(tmp_path, capsys, monkeypatch):
    import facelab.cli

    # `facelab report x.json` on a JSON that is not a results file printed "error: protocol"
    other = tmp_path / "x.json"
    other.write_text(json.dumps({"methods": {}}))
    code, err = run_cli(capsys, "report", other)
    assert code == 2 and "'protocol'" in err and str(other) in err and not err.strip().endswith("error: protocol"), err

    # any other lookup that fails says which key, where, and for which command line
    def lookup(args):
        return {"methods": {}}["protocol"]

    monkeypatch.setattr(facelab.cli, "cmd_methods", lookup)
    code, err = run_cli(capsys, "methods")
    assert code == 2 and "missing key 'protocol', looked up by lookup" in err and "`facelab methods`" in err, err
    # a KeyError raised with a sentence is that sentence
    code, err = run_cli(capsys, "train", "no-such-method", "--out", tmp_path / "run")
    assert code == 2 and err.startswith("facelab train: error: unknown method 'no-such-method'; registered:"), err


def test_cli_names_the_file_of_an_os_error(tmp_path, capsys, monkeypatch):
    code, err = run_cli(capsys, "report", tmp_path / "missing.json")
    assert code == 2 and "No such file or directory" in err and "missing.json" in err, err
    import facelab.cli

    def full_disk(args):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "results.json"))

    monkeypatch.setattr(facelab.cli, "cmd_methods", full_disk)
    code, err = run_cli(capsys, "methods")
    assert code == 2 and "No space left on device" in err and "results.json" in err, err


# -- B: encodings -----------------------------------------------------------------------------
@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["plain", "with-bom"])
def test_latin1_byte_names_file_and_line(lfw, tmp_path, bom):
    path = tmp_path / "pairsDevTest.txt"
    lines = lfw.layout.protocol_file("pairsDevTest.txt").read_bytes().split(b"\n")
    lines[4] = lines[4].replace(b"_", b"\xe9", 1)  # José in Latin-1
    path.write_bytes(bom + b"\n".join(lines))
    column = lines[4].index(b"\xe9") + 1
    with pytest.raises(ProtocolFormatError, match=rf"pairsDevTest.txt line 5: byte 0xe9 at column {column} is not "
                                                  r"UTF-8") as err:
        protocol.parse_pairs(path)
    assert err.value.line_no == 5


def test_utf8_bom_is_accepted(lfw, tmp_path):
    for name, parse in (("people.txt", protocol.parse_people), ("pairs.txt", protocol.parse_pairs),
                        ("lfw-names.txt", protocol.parse_names)):
        original = lfw.layout.protocol_file(name)
        (tmp_path / name).write_bytes(b"\xef\xbb\xbf" + original.read_bytes())
        assert parse(tmp_path / name) == parse(original)


# -- C: an unusable cache, a full disk, a --param of the wrong type ---------------------------
@pytest.fixture(scope="module")
def five_paths(lfw):
    return [r.path for r in lfw.layout.images[:5]]


def test_cache_path_that_is_a_file_warns_and_goes_on(five_paths, tmp_path, monkeypatch):
    config = PreprocessConfig(size=24)
    expected, _ = preprocess_files(five_paths, config, progress=False, workers=1)
    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("a file where FACELAB_CACHE should be a folder")
    monkeypatch.setenv("FACELAB_CACHE", str(not_a_folder))
    with pytest.warns(CacheWriteWarning, match=rf"could not write the preprocessing cache {not_a_folder}/.*npz "
                                               r"\(.*\); going on without it"):
        got = load_or_build(five_paths, config, progress=False, workers=1)
    assert got.rebuilt and np.array_equal(got.images, expected)
    assert not_a_folder.read_text().startswith("a file")


def test_full_disk_while_writing_the_cache_warns_and_goes_on(five_paths, tmp_path, monkeypatch):
    config = PreprocessConfig(size=24)

    def full_disk(fh, **arrays):
        fh.write(b"PK\x03\x04 half a file")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", full_disk)
    with pytest.warns(CacheWriteWarning, match=r"cache .*npz \(.*No space left on device\)"):
        got = load_or_build(five_paths, config, cache_dir=tmp_path, progress=False, workers=1)
    assert got.images.shape == (5, 24, 24, 1) and got.images.any()
    assert list(tmp_path.iterdir()) == []  # neither the cache nor a temporary file is left


def test_param_of_the_wrong_type_names_the_parameter(tmp_path, capsys):
    for value in ("abc", 1.5, True, "3"):
        with pytest.raises(ValueError, match=rf"deepid: parameter epochs should be an integer.*got (the text )?"
                                             rf"{re.escape(repr(value))}"):
            methods.create("deepid", epochs=value)
    with pytest.raises(ValueError, match=r"deepid\+jb: parameter epochs should be an integer"):
        methods.create("deepid+jb", epochs="abc")
    with pytest.raises(ValueError, match=r"lbp: parameter pca_dim should be an integer"):
        methods.create("lbp", pca_dim="many")
    ok = methods.create("deepid", epochs=3, backbone="resnet", learning_rate=1, backbone_kwargs={"width": 8})
    assert (ok.epochs, ok.backbone, ok.learning_rate) == (3, "resnet", 1)
    # the command line: a --param value that is not JSON reaches the method as text
    code, err = run_cli(capsys, "compare", "--methods", "deepid", "--param", "epochs=abc", "--out", tmp_path / "out",
                        "--data-dir", tmp_path / "no-data-here")
    assert code == 2 and "parameter epochs should be an integer" in err and "--param epochs=20" in err, err


# -- D: the image folder given as the data root -----------------------------------------------
def test_image_folder_as_data_dir_points_at_its_parent(lfw, tmp_path):
    with pytest.raises(DataNotFoundError, match=r"looks like the image folder.*point --data-dir at its parent, "
                                                r"the folder with pairs.txt") as err:
        find_lfw(lfw.layout.image_dir)
    assert str(lfw.layout.root) in str(err.value) and "download" not in str(err.value)
    # an unpacked archive folder, protocol files beside it
    images = tmp_path / "lfw-deepfunneled"
    shutil.copytree(lfw.layout.image_dir / "Abel_Pacheco", images / "Abel_Pacheco")
    shutil.copy(lfw.layout.protocol_file("pairs.txt"), tmp_path / "pairs.txt")
    with pytest.raises(DataNotFoundError, match="looks like the image folder"):
        find_lfw(images)
    assert find_lfw(tmp_path).image_dir == images


# -- E: --methods "" ---------------------------------------------------------------------------
def test_empty_methods_is_an_error_not_the_default_set(tmp_path, capsys):
    for text in ("", "  ", " , ,"):
        with pytest.raises(ValueError, match="--methods is empty"):
            methods.resolve_names(text)
    assert methods.resolve_names(None) == [n for n in methods.available() if methods.spec(n).default]
    # --folds with View 1 is refused right after --methods is read: this run cannot start computing
    code, err = run_cli(capsys, "compare", "--methods", "", "--protocol", "view1", "--folds", "1",
                        "--out", tmp_path / "out")
    assert code == 2 and "--methods is empty" in err, err
    code, err = run_cli(capsys, "data", "pack", "--methods", "", "--out", tmp_path / "pack")
    assert code == 2 and "--methods is empty" in err and not (tmp_path / "pack").exists(), err


# -- F: a truncated JPEG -----------------------------------------------------------------------
def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])


def test_truncated_jpeg_is_named_when_decoded_and_when_cached(lfw, tmp_path):
    paths = []
    for record in lfw.layout.images[:3]:
        paths.append(tmp_path / "images" / record.path.name)
        paths[-1].parent.mkdir(exist_ok=True)
        shutil.copy(record.path, paths[-1])
    _truncate(paths[1])
    with pytest.warns(TruncatedImageWarning, match=rf"{paths[1]}: truncated JPEG"):
        read_image(paths[1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_image(paths[0])  # a whole file: no warning
    config = PreprocessConfig(size=24)
    cache = tmp_path / "cache"
    for rebuilt in (True, False):  # once decoded, then from the cache, where libjpeg says nothing
        with pytest.warns(TruncatedImageWarning, match=rf"{paths[1]}: truncated JPEG") as caught:
            got = load_or_build(paths, config, cache_dir=cache, progress=False, workers=1)
        assert got.rebuilt == rebuilt and got.meta["truncated_images"] == [f"images/{paths[1].name}"]
        assert [str(w.message).split(":")[0] for w in caught] == [str(paths[1])]


def test_data_counts_counts_truncated_images(lfw, tmp_path, capsys):
    root = linked_root(lfw, tmp_path, copy={"Abel_Pacheco"})
    bad = root / "images" / "Abel_Pacheco" / "Abel_Pacheco_0002.jpg"
    _truncate(bad)
    assert LFW(root, progress=False).layout.truncated_images == [bad]
    with pytest.warns(TruncatedImageWarning, match=rf"{bad}: truncated JPEG"):
        assert main(["data", "counts", "--data-dir", str(root)]) == 0
    counts = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert counts["truncated_images"] == 1 and counts["images"] == 13233


# -- G: people.txt that disagrees with the disk or with itself ---------------------------------
def test_wrong_image_count_names_file_line_person_and_both_counts(lfw, tmp_path):
    root = linked_root(lfw, tmp_path)
    line = line_of(root / "people.txt", "Abel_Pacheco\t4")
    edit_line(root / "people.txt", line, "Abel_Pacheco\t5")
    with pytest.raises(DataError, match=rf"{root / 'people.txt'} line {line}: Abel_Pacheco is listed with 5 images, "
                                        rf"4 on disk in {root / 'images' / 'Abel_Pacheco'}"):
        LFW(root, progress=False).people_folds("view2")


def test_person_in_two_folds_names_file_person_and_both_folds(lfw, tmp_path):
    path = tmp_path / "people.txt"
    shutil.copy(lfw.layout.protocol_file("people.txt"), path)
    first = line_of(path, "Abel_Pacheco\t4")  # fold 1
    lines = path.read_text().splitlines()
    fold1_size = int(lines[1])
    second = 2 + fold1_size + 2  # header, fold 1's count and people, fold 2's count: its first person
    edit_line(path, second, "Abel_Pacheco\t4")
    with pytest.raises(ProtocolFormatError, match=rf"people.txt line {second}: Abel_Pacheco is in fold 2 and "
                                                  rf"already in fold 1 \(line {first}\)"):
        protocol.parse_people(path)


def test_download_into_the_image_folder_is_refused_before_fetching(tmp_path, lfw):
    from facelab.data.download import download_lfw

    images = tmp_path / "images"
    for person in sorted({r.path.parent for r in lfw.layout.images})[:6]:
        shutil.copytree(person, images / person.name)
    with pytest.raises(DataNotFoundError, match="looks like the image folder; point --data-dir at its parent"):
        download_lfw(images, base_url="http://127.0.0.1:9/nothing-here", progress=False, timeout=1)
    assert sorted(p.name for p in images.iterdir()) == sorted({r.path.parent.name for r in lfw.layout.images})[:6]
