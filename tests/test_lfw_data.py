"""The LFW data layer on the real data: counts, folds, protocol parsing and its errors."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from facelab.data import DataNotFoundError, ProtocolFormatError, find_lfw
from facelab.data import protocol


def test_counts_match_the_official_release(lfw):
    counts = lfw.layout.counts()
    assert counts == {"images": 13233, "people": 5749, "people_with_2_or_more": 1680, "truncated_images": 0}
    assert lfw.variant == "lfw-deepfunneled"
    names = lfw.names()
    assert len(names) == 5749 and sum(names.values()) == 13233
    # lfw-names.txt agrees with what is on disk, person by person
    per_person = np.bincount(lfw.labels)
    assert all(names[p] == per_person[i] for i, p in enumerate(lfw.people))


def test_view2_pairs_are_ten_folds_of_300_plus_300(lfw):
    pairs = lfw.pairs("view2")
    assert len(pairs) == 6000
    for k in range(10):
        fold = pairs.subset(pairs.fold == k)
        assert fold.same.sum() == 300 and (~fold.same).sum() == 300
        # file order: 300 matched lines, then 300 mismatched
        assert fold.same[:300].all() and not fold.same[300:].any()
    labels = lfw.labels
    assert np.all((labels[pairs.index_a] == labels[pairs.index_b]) == pairs.same)
    assert np.all(pairs.index_a != pairs.index_b)


def test_view2_fold_people_are_disjoint_and_pairs_stay_in_their_fold(lfw):
    folds = lfw.people_folds("view2")
    assert len(folds) == 10
    assert sum(len(f) for f in folds) == len(set().union(*map(set, folds))) == 5749
    fold_of = {p: k for k, f in enumerate(folds) for p in f}
    pairs = lfw.pairs("view2")
    people = np.array(lfw.people)
    for side in (pairs.index_a, pairs.index_b):
        owners = np.array([fold_of[p] for p in people[lfw.labels[side]]])
        assert np.array_equal(owners, pairs.fold)


def test_view1_counts(lfw):
    train, test = lfw.pairs("view1-train"), lfw.pairs("view1-test")
    assert (len(train), int(train.same.sum())) == (2200, 1100)
    assert (len(test), int(test.same.sum())) == (1000, 500)
    (ptrain,), (ptest,) = lfw.people_folds("view1-train"), lfw.people_folds("view1-test")
    assert (len(ptrain), len(ptest)) == (4038, 1711)
    assert not set(ptrain) & set(ptest)
    assert len(lfw.people_indices(ptrain)) == 9525 and len(lfw.people_indices(ptest)) == 3708


def _copy_protocol(lfw, tmp_path: Path) -> Path:
    root = tmp_path / "lfw"
    root.mkdir()
    for name in ("pairs.txt", "pairsDevTrain.txt", "people.txt"):
        shutil.copy(lfw.layout.protocol_file(name), root / name)
    return root


@pytest.mark.parametrize("line_no, replacement, message", [
    (1203, "Abel_Pacheco\t1", "line 1203: expected 3 or 4 tab-separated fields, got 2"),
    (5, "Abel_Pacheco\tone\t4", "line 5: expected an integer image number, got 'one'"),
    (2, "A\t1\tB\t2", "line 2: expected a matched (name, i, j) pair"),
    (1, "10\tx", "line 1: expected an integer in header"),
])
def test_malformed_pairs_line_names_file_and_line(lfw, tmp_path, line_no, replacement, message):
    root = _copy_protocol(lfw, tmp_path)
    lines = (root / "pairs.txt").read_text().splitlines()
    lines[line_no - 1] = replacement
    (root / "pairs.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(ProtocolFormatError) as err:
        protocol.parse_pairs(root / "pairs.txt")
    assert "pairs.txt" in str(err.value) and message in str(err.value)
    assert err.value.line_no == line_no


def test_truncated_pairs_file_is_reported(lfw, tmp_path):
    root = _copy_protocol(lfw, tmp_path)
    lines = (root / "pairs.txt").read_text().splitlines()[:-10]
    (root / "pairs.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(ProtocolFormatError, match="promises 10 fold.*6000 pair lines, found 5990"):
        protocol.parse_pairs(root / "pairs.txt")


def test_malformed_people_file(lfw, tmp_path):
    root = _copy_protocol(lfw, tmp_path)
    lines = (root / "people.txt").read_text().splitlines()
    lines[2] = "Abdel_Madi_Shabneh 1"  # space instead of tab
    (root / "people.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(ProtocolFormatError, match=r"people.txt line 3: expected 'name<TAB>count'"):
        protocol.parse_people(root / "people.txt")


def test_pair_pointing_to_missing_image_names_it(lfw, tmp_path):
    root = tmp_path / "lfw"
    (root / "images" / "Abel_Pacheco").mkdir(parents=True)
    src = lfw.layout.image_path("Abel_Pacheco", 1)
    shutil.copy(src, root / "images" / "Abel_Pacheco" / src.name)
    (root / "pairsDevTest.txt").write_text("1\nAbel_Pacheco\t1\t4\nAbel_Pacheco\t1\tNobody_Here\t2\n")
    from facelab.data import LFW

    small = LFW(root, progress=False)
    with pytest.raises(DataNotFoundError, match=r"Abel_Pacheco_0004.jpg does not exist \(referenced by pairsDevTest.txt line 2\)"):
        small.pairs("view1-test")


def test_layout_variants_and_missing_root(lfw, tmp_path, monkeypatch):
    src = lfw.layout.image_path("Abel_Pacheco", 1)
    for folder, variant in [("lfw-deepfunneled", "lfw-deepfunneled"), ("lfw_funneled", "lfw_funneled"), ("lfw", "lfw")]:
        root = tmp_path / folder.replace("-", "_") / "root"
        (root / folder / "Abel_Pacheco").mkdir(parents=True)
        shutil.copy(src, root / folder / "Abel_Pacheco" / src.name)
        layout = find_lfw(root)
        assert layout.variant == variant and layout.image_dir == root / folder
        assert len(layout.images) == 1
    # the data root from the environment variable, and a clear error when it is wrong
    monkeypatch.setenv("FACELAB_DATA", str(tmp_path / "lfw_deepfunneled" / "root"))
    assert find_lfw().variant == "lfw-deepfunneled"
    with pytest.raises(DataNotFoundError, match="does not exist; pass --data-dir"):
        find_lfw(tmp_path / "nowhere")
    with pytest.raises(DataNotFoundError, match="no LFW image folder"):
        find_lfw(tmp_path)
