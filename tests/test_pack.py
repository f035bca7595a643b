"""A packed LFW copy (``facelab data pack``, :mod:`facelab.data.pack`): the same splits, labels and
pixels without the JPEGs, the rows it carries where OpenCV can compute them (the GAN's head-pose
targets), and the deep methods trained from it under Keras on JAX, as on the GPU machine."""
from __future__ import annotations

import json

import numpy as np
import pytest

from facelab.data import LFW, PreprocessConfig
from facelab.data.errors import DataError
from facelab.data.pack import PACK_FILE, pack_lfw


# -- packed copy ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def packed(lfw, tmp_path_factory):
    out = tmp_path_factory.mktemp("pack")
    pack_lfw(lfw, out, [PreprocessConfig()])
    return out


def test_pack_gives_the_same_splits_labels_and_pixels_without_the_jpegs(lfw, packed):
    assert not (packed / "images").exists()
    copy = LFW(packed, progress=False)
    assert copy.layout.packed and copy.variant == lfw.variant
    assert copy.people == lfw.people
    np.testing.assert_array_equal(copy.labels, lfw.labels)
    for which in ("view2", "view1-test"):
        a, b = copy.pairs(which), lfw.pairs(which)
        for field in ("index_a", "index_b", "same", "fold"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert copy.people_folds("view2") == lfw.people_folds("view2")
    np.testing.assert_array_equal(copy.load_images(PreprocessConfig()), lfw.load_images(PreprocessConfig()))


def test_pack_refuses_preprocessing_it_does_not_hold(packed):
    with pytest.raises(DataError, match=r"original images are not here.*facelab data pack"):
        LFW(packed, progress=False).load_images(PreprocessConfig(size=32))


def test_a_broken_pack_file_is_named(packed, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / PACK_FILE).write_text('{"format": 1, "variant": "lfw", "images": [["A", "x", 3]]}')
    with pytest.raises(DataError, match=rf"{PACK_FILE}: not a facelab LFW pack"):
        LFW(broken, progress=False)


def test_pack_command_writes_a_data_root_that_compare_accepts(lfw, tmp_path, cache_dir, monkeypatch, capsys):
    from facelab.cli import main

    monkeypatch.setenv("FACELAB_CACHE", str(cache_dir))
    assert main(["data", "pack", "--out", str(tmp_path / "p"), "--methods", "eigenfaces", "--no-progress"]) == 0
    assert "packed LFW (1 preprocessing config(s), 0 memo table(s))" in capsys.readouterr().out
    assert main(["data", "pack", "--no-progress"]) == 2  # --out is required
    assert "needs --out" in capsys.readouterr().err
    assert main(["compare", "--methods", "eigenfaces", "--data-dir", str(tmp_path / "p"), "--folds", "1",
                 "--no-identification", "--no-progress", "--out", str(tmp_path / "r")]) == 0
    acc = json.loads((tmp_path / "r" / "results.json").read_text())["methods"]["eigenfaces"]["fold_accuracy"]
    assert len(acc) == 1 and 0.6 < acc[0] < 0.85


def test_pack_contents_are_each_methods_preprocessing_once_and_its_memo_tables():
    """What ``facelab data pack --methods`` stores: distinct preprocessing configs, and the tables a
    method names in its ``memo_tables`` (the GAN disentangler's head poses) under its own config."""
    from facelab import methods
    from facelab.generative import gan_disentangler as gd

    names = ["deepid", "deepid+jb", "gan-disentangler", "eigenfaces"]
    configs, tables = methods.pack_contents(names, "quick")
    made = [methods.create(n, preset="quick").preprocess for n in names]
    assert sorted(c.key() for c in configs) == sorted({c.key() for c in made})
    gan = methods.create("gan-disentangler", preset="quick").preprocess
    assert [(t, c.key()) for t, c, _ in tables] == [(gd.POSE_MEMO_KEY, gan.key())]
    assert methods.pack_contents(["eigenfaces"], "quick")[1] == []


# -- rows a pack computes where OpenCV can (the GAN's head-pose targets) ---------------------------
TINY_PACKED = PreprocessConfig(size=16, crop=(112, 112))


def _stand_in_rows(images):
    """A cheap per-image function in place of the OpenCV head pose (≈ 8 ms per image, 13,233 images):
    these tests are about carrying rows, not about computing them."""
    flat = images.reshape(len(images), -1).astype(np.float64)
    return np.column_stack([flat.mean(axis=1), flat.std(axis=1), (flat[:, 0] > 100)])


def test_gan_pose_targets_come_from_the_pack_where_opencv_cannot_compute_them(lfw, tmp_path, monkeypatch):
    """The GPU machine's OpenCV may have no Haar cascades (5.x): a pack carries the rows, and the
    GAN's targets are read from it without calling OpenCV; images it does not carry still go to OpenCV."""
    from facelab.generative import gan_disentangler as gd
    from facelab.memo import MEMO

    pack_lfw(lfw, tmp_path / "p", [TINY_PACKED], [(gd.POSE_MEMO_KEY, TINY_PACKED, _stand_in_rows)])
    assert (tmp_path / "p" / f"memo-{gd.POSE_MEMO_KEY}-{TINY_PACKED.key()}.npz").is_file()
    MEMO.discard(gd.POSE_MEMO_KEY)  # a fresh process: nothing computed here

    def no_cascades(images, detector=None):
        raise RuntimeError("OpenCV has no Haar cascades here")

    monkeypatch.setattr(gd.data, "head_pose", no_cascades)  # the module that computes the targets
    try:
        images = LFW(tmp_path / "p", progress=False).load_images(TINY_PACKED)
        idx = np.array([0, 17, 4096, len(images) - 1])
        pose, found = gd.PoseTargets(images).get(idx)
        rows = _stand_in_rows(images[idx])
        np.testing.assert_array_equal(pose, rows[:, :2])
        np.testing.assert_array_equal(found, rows[:, 2] > 0.5)
        assert not np.array_equal(pose[0], pose[1])
        with pytest.raises(RuntimeError, match="no Haar cascades"):
            gd.pose_targets(images[:2, :, ::-1] // 2)  # not in the pack: computed, i.e. OpenCV is asked
    finally:
        MEMO.discard(gd.POSE_MEMO_KEY)


def test_a_memo_table_of_the_wrong_length_is_named(lfw, tmp_path):
    from facelab import io
    from facelab.data.pack import memo_table_path

    pack_lfw(lfw, tmp_path / "p", [TINY_PACKED], [("stand-in", TINY_PACKED, _stand_in_rows)])
    path = memo_table_path(tmp_path / "p", "stand-in", TINY_PACKED)
    io.save_npz(path, rows=np.zeros((5, 3)))
    with pytest.raises(DataError, match=rf"{path.name}: 5 rows for {len(lfw.labels)} packed images"):
        LFW(tmp_path / "p", progress=False).load_images(TINY_PACKED)
    with pytest.raises(ValueError, match="not packed"):
        pack_lfw(lfw, tmp_path / "q", [PreprocessConfig()], [("stand-in", TINY_PACKED, _stand_in_rows)])


def test_deep_methods_train_and_evaluate_under_keras_jax_from_a_pack(packed, tmp_path):
    """The GPU machine's path (no JPEGs, Keras on JAX), end to end on this CPU in quick mode."""
    import subprocess
    import sys

    from deep_helpers import jax_process_env

    env = jax_process_env()
    run = subprocess.run([sys.executable, "-m", "facelab", "compare", "--methods", "deepid,deepid+jb,triplet-offline-hard",
                          "--quick", "--folds", "1", "--data-dir", str(packed), "--no-identification", "--no-progress",
                          "--param", 'lr_schedule="cosine"', "--param", 'backbone_kwargs={"width": 8}',
                          "--out", str(tmp_path)],
                         capture_output=True, text=True, env=env, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["keras_backend"] == "jax" and res["data_root"] == str(packed)
    for name, r in res["methods"].items():
        assert len(r["fold_accuracy"]) == 1 and 0.5 <= r["fold_accuracy"][0] < 0.8, name
    assert res["methods"]["deepid+jb"]["config"]["fit_reused"] is True
    assert res["methods"]["deepid"]["config"]["lr_schedule"] == "cosine"
