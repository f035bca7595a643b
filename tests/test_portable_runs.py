"""Running facelab away from this machine: a packed LFW copy, NumPy input pipelines (Keras on
JAX without TensorFlow), one training shared by deepid and deepid+jb, merging per-fold runs, the
cosine schedule, and offline mining whose first epoch is read before on_epoch_begin."""
from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from facelab.base import FaceMethod
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


def test_missing_haar_cascades_name_the_pack_that_carries_the_targets(monkeypatch):
    import cv2

    from facelab.generative import pose

    monkeypatch.setattr(pose, "_CASCADES", {})
    monkeypatch.delattr(cv2, "CascadeClassifier")
    with pytest.raises(RuntimeError, match=r"no Haar cascades.*facelab data pack --methods gan-disentangler"):
        pose.head_pose(np.zeros((1, 64, 64, 1), np.uint8))


def test_deep_methods_train_and_evaluate_under_keras_jax_from_a_pack(packed, tmp_path):
    """The GPU machine's path (no JPEGs, Keras on JAX), end to end on this CPU in quick mode."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
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


# -- NumPy pipelines (any Keras backend but TensorFlow) -------------------------------------
def _batches(dataset, n):
    out = []
    for i, item in enumerate(dataset):
        if i == n:
            break
        x, y = item
        out.append((np.asarray(x), np.asarray(y)))
    return out


def test_numpy_pipeline_gives_the_tf_data_batches_and_seeded_flips(lfw, monkeypatch):
    from facelab.data import pipeline
    from facelab.data.samplers import PKSampler

    images = lfw.load_images(PreprocessConfig())[:600]
    labels = lfw.labels[:600]
    sampler = PKSampler(labels, 4, 2, short="replace", seed=3)
    tf_plain = _batches(pipeline.pk_dataset(images, labels, sampler, epochs=2), 5)
    monkeypatch.setattr(pipeline, "use_tf_data", lambda: False)
    np_plain = _batches(pipeline.pk_dataset(images, labels, sampler, epochs=2), 5)
    for (xt, yt), (xn, yn) in zip(tf_plain, np_plain, strict=True):
        assert xn.dtype == np.float32
        np.testing.assert_array_equal(yt, yn)
        np.testing.assert_array_equal(xt, xn)
    flipped = _batches(pipeline.pk_dataset(images, labels, sampler, epochs=2, augment=True), 5)
    again = _batches(pipeline.pk_dataset(images, labels, sampler, epochs=2, augment=True), 5)
    n_flipped = 0
    for (x0, _), (x1, _), (x2, _) in zip(np_plain, flipped, again, strict=True):
        np.testing.assert_array_equal(x1, x2)  # same seed, same flips
        mirrored = np.all(x1 == x0[:, :, ::-1], axis=(1, 2, 3))
        assert np.all(mirrored | np.all(x1 == x0, axis=(1, 2, 3)))
        n_flipped += int(mirrored.sum())
    assert 0 < n_flipped < 40


def _shift_offsets(shifted, original, shift):
    """For each image, the (dy, dx) in -shift..shift at which the reflect-padded original, cropped,
    gives the shifted image exactly (None where no offset does)."""
    padded = np.pad(original, [(0, 0), (shift, shift), (shift, shift), (0, 0)], mode="reflect")
    h, w = original.shape[1:3]
    found = []
    for i in range(len(original)):
        hits = [(dy - shift, dx - shift) for dy in range(2 * shift + 1) for dx in range(2 * shift + 1)
                if np.array_equal(padded[i, dy:dy + h, dx:dx + w], shifted[i])]
        found.append(hits[0] if hits else None)
    return found


@pytest.mark.parametrize("backend", ["tf.data", "numpy"])
def test_shift_translates_each_face_by_its_own_seeded_offset(lfw, monkeypatch, backend):
    """``shift=s``: every face of a batch is its reflect-padded self cropped at an offset in -s..s
    (so no pixel is invented), offsets differ between faces, and the same seed draws the same ones."""
    from facelab.data import pipeline
    from facelab.data.samplers import PKSampler

    if backend == "numpy":
        monkeypatch.setattr(pipeline, "use_tf_data", lambda: False)
    images = lfw.load_images(PreprocessConfig())[:600]
    labels = lfw.labels[:600]
    sampler = PKSampler(labels, 8, 2, short="replace", seed=3)
    plain = _batches(pipeline.pk_dataset(images, labels, sampler, epochs=1), 3)
    shifted = _batches(pipeline.pk_dataset(images, labels, sampler, epochs=1, shift=4), 3)
    again = _batches(pipeline.pk_dataset(images, labels, sampler, epochs=1, shift=4), 3)
    offsets = []
    for (x0, y0), (x1, y1), (x2, _) in zip(plain, shifted, again, strict=True):
        np.testing.assert_array_equal(y0, y1)
        np.testing.assert_array_equal(x1, x2)
        offsets += _shift_offsets(x1, x0, 4)
    assert None not in offsets
    assert len(set(offsets)) > 10 and max(max(abs(dy), abs(dx)) for dy, dx in offsets) <= 4
    # flips and shifts together: each face is a shifted copy of the plain face or of its mirror image
    both = _batches(pipeline.pk_dataset(images, labels, sampler, epochs=1, shift=4, augment=True), 1)[0][0]
    direct, mirrored = _shift_offsets(both, plain[0][0], 4), _shift_offsets(both[:, :, ::-1], plain[0][0], 4)
    assert all(d is not None or m is not None for d, m in zip(direct, mirrored))
    with pytest.raises(ValueError, match="shift must be in 0..63 pixels for 64×64"):
        pipeline.pk_dataset(images, labels, sampler, shift=64)


@pytest.mark.parametrize("backend", ["tf.data", "numpy"])
def test_pair_batches_shift_each_side_of_a_pair_by_its_own_offset(lfw, monkeypatch, backend):
    """Siamese training (``pair_dataset``) takes the same shifts: both faces of every pair moved, each by
    its own offset, with the pair and its label unchanged. (``batch_dataset`` shares ``pk_dataset``'s code.)"""
    from facelab.data import pipeline
    from facelab.data.samplers import PairSampler

    if backend == "numpy":
        monkeypatch.setattr(pipeline, "use_tf_data", lambda: False)
    images = lfw.load_images(PreprocessConfig())[:600]
    labels = lfw.labels[:600]

    def first_batch(**kw):
        (xa, xb), same = next(iter(pipeline.pair_dataset(images, labels, PairSampler(labels, 64, seed=2), 32, **kw)))
        return np.asarray(xa), np.asarray(xb), np.asarray(same)

    xa0, xb0, same0 = first_batch()
    xa1, xb1, same1 = first_batch(shift=3)
    np.testing.assert_array_equal(same0, same1)
    a_off, b_off = _shift_offsets(xa1, xa0, 3), _shift_offsets(xb1, xb0, 3)
    assert None not in a_off + b_off
    assert len(set(a_off + b_off)) > 10 and a_off != b_off
    np.testing.assert_array_equal(first_batch(shift=3)[0], xa1)  # seeded


def test_shift_keys_the_checkpoint_only_when_on():
    """Runs trained before ``shift`` existed keep their fingerprint; a shifted run gets its own."""
    from facelab.nets.triplet_method import TripletSemiHard

    assert "shift" not in TripletSemiHard()._training_params()
    assert TripletSemiHard(shift=4)._training_params()["shift"] == 4
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="shift must be a whole number"):
            TripletSemiHard(shift=bad)


def test_gan_stage_batches_are_the_same_without_tensorflow(lfw, monkeypatch):
    """The GAN's stage pipeline rides on the same mapped_batches: identical batches under both paths."""
    from facelab.data import pipeline
    from facelab.data.samplers import PKSampler
    from facelab.generative.gan_disentangler import stage_dataset

    images, labels = lfw.load_images(PreprocessConfig())[:400], lfw.labels[:400]
    sampler = PKSampler(labels, 4, 2, short="replace", seed=5)
    pose = np.random.default_rng(0).normal(size=(len(images), 2)).astype(np.float32)
    targets = lambda idx: (pose[idx], np.arange(len(idx)) % 3 > 0)

    def batches():
        ds = stage_dataset(images, labels, targets, sampler, epochs=2, start_epoch=0, skip=1, max_steps=3,
                           augment=True, seed=7)
        return [tuple(np.asarray(a) for a in item) for item in ds]

    with_tf = batches()
    monkeypatch.setattr(pipeline, "use_tf_data", lambda: False)
    without_tf = batches()
    assert len(with_tf) == len(without_tf) == 2 + 3  # the first epoch resumes after one batch
    for a, b in zip(with_tf, without_tf, strict=True):
        assert b[0].dtype == np.float32 and b[3].dtype == bool
        for u, v in zip(a, b, strict=True):
            np.testing.assert_array_equal(u, v)


def test_numpy_pipeline_hands_errors_of_its_thread_to_the_consumer(monkeypatch):
    from facelab.data import pipeline

    class Failing:
        seed = 0

        def __len__(self):
            return 3

        def epoch(self, e):
            raise RuntimeError("sampler broke in epoch 0")

    monkeypatch.setattr(pipeline, "use_tf_data", lambda: False)
    images = np.zeros((4, 8, 8, 1), np.uint8)
    with pytest.raises(RuntimeError, match="sampler broke"):
        next(iter(pipeline.batch_dataset(images, np.arange(4), Failing())))


def test_numpy_pipeline_thread_ends_when_the_consumer_stops_early(monkeypatch):
    from facelab.data import pipeline

    started = []
    real = pipeline._Prefetched

    def spy(*args, **kwargs):
        started.append(real(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(pipeline, "_Prefetched", spy)
    monkeypatch.setattr(pipeline, "use_tf_data", lambda: False)
    images = np.zeros((64, 8, 8, 1), np.uint8)
    from facelab.data.samplers import BatchSampler

    ds = pipeline.batch_dataset(images, np.arange(64) % 8, BatchSampler(64, 4, seed=0), epochs=50)
    next(ds)  # read one batch of 800, then stop, as Keras does after its last step
    assert started[0].thread.is_alive()
    ds.close()
    started[0].thread.join(timeout=5)
    assert not started[0].thread.is_alive()


# -- one training for deepid and deepid+jb ---------------------------------------------------
class Counting(FaceMethod):
    name, kind = "counting", "deep"
    fits = 0

    def fit(self, images, labels):
        type(self).fits += 1
        return self

    def embed(self, images):
        return images.reshape(len(images), -1)[:, :4].astype(np.float32)


def test_fit_shared_reuses_a_same_config_fit_only_inside_a_comparison():
    from facelab.shared_fits import fit_shared, share_fits

    x, y = np.arange(4 * 16, dtype=np.uint8).reshape(4, 4, 4, 1), np.array([0, 0, 1, 1])
    Counting.fits = 0
    fit_shared(Counting(), x, y), fit_shared(Counting(), x, y)
    assert Counting.fits == 2  # no comparison open: every call fits
    with share_fits():
        first = fit_shared(Counting(), x, y)
        assert fit_shared(Counting(), x, y) is first and first.fit_reused_
        fit_shared(Counting(seed=1), x, y)  # another config
        fit_shared(Counting(), x[::-1].copy(), y)  # other training images
    assert Counting.fits == 5


@pytest.mark.parametrize("module, cls_name, name, pca_dim", [
    ("facelab.nets.siamese", "DeepID", "deepid", 128),
    ("facelab.nets.triplet_method", "TripletSemiHard", "triplet-semi-hard", 64)])
def test_compare_trains_the_network_once_for_it_and_its_joint_bayesian_variant(
        module, cls_name, name, pca_dim, tmp_path, cache_dir, monkeypatch):
    import importlib

    from facelab.evaluation.compare import compare

    cls = getattr(importlib.import_module(module), cls_name)
    trainings = []
    fit = cls.fit
    monkeypatch.setattr(cls, "fit", lambda self, *a: trainings.append(self) or fit(self, *a))
    res = compare([name, f"{name}+jb"], protocol="view2", folds=[1], quick=True, identification=False,
                  progress=False, out_dir=tmp_path, cache_dir=cache_dir, log=lambda *_: None,
                  params={"backbone_kwargs": {"width": 8}})  # a narrow network: the test is about sharing
    plain, jb = res["methods"][name], res["methods"][f"{name}+jb"]
    assert jb["config"]["fit_reused"] is True and "fit_reused" not in plain["config"]
    assert jb["config"]["base"] == {k: v for k, v in plain["config"].items()}
    assert jb["config"]["pca_dim"] == pca_dim and jb["config"]["metric"] == "jb"
    assert len(trainings) == 1
    assert jb["auc"] != plain["auc"]  # the same embedding, scored another way


# -- merging runs over separate folds ----------------------------------------------------------
def test_merged_per_fold_runs_equal_one_run_over_those_folds(tmp_path, cache_dir, capsys):
    from facelab.evaluation.compare import compare
    from facelab.evaluation.report import merge_results

    kw = dict(protocol="view2", quick=False, identification=False, progress=False, cache_dir=cache_dir,
              log=lambda *_: None)
    whole = compare(["eigenfaces"], folds=[2, 5], out_dir=tmp_path / "whole", **kw)
    for k in (5, 2):
        compare(["eigenfaces"], folds=[k], out_dir=tmp_path / f"fold{k}", **kw)
    said = []
    merged = merge_results([tmp_path / "fold5", tmp_path / "fold2"], tmp_path / "merged", log=said.append)
    assert said == [f"wrote results.json, results.md, scores.json, roc.png in {tmp_path / 'merged'}"]
    a, b = merged["methods"]["eigenfaces"], whole["methods"]["eigenfaces"]
    assert merged["folds"] == [2, 5]
    for key in ("fold_accuracy", "thresholds", "accuracy_mean", "accuracy_se", "auc", "eer", "tar_at_far"):
        assert a[key] == b[key], key  # scores.json holds the float64 scores exactly
    assert (tmp_path / "merged" / "roc.png").is_file()
    assert (tmp_path / "merged" / "scores.json").read_text().count("\n") == 1  # numbers on one line
    again = merge_results([tmp_path / "merged"], tmp_path / "merged-again")  # a merged folder merges again
    assert again["methods"]["eigenfaces"]["auc"] == b["auc"]
    from facelab.cli import main  # the command line says what it wrote, then the table

    assert main(["report", "--merge", str(tmp_path / "fold2"), str(tmp_path / "fold5"),
                 "--out", str(tmp_path / "cli")]) == 0
    out = capsys.readouterr().out
    assert f"wrote results.json, results.md, scores.json, roc.png in {tmp_path / 'cli'}" in out
    assert "| eigenfaces |" in out
    with pytest.raises(ValueError, match=r"fold\(s\) \[2\] appear in more than one run"):
        merge_results([tmp_path / "fold2", tmp_path / "whole"], tmp_path / "bad")
    with pytest.raises(ValueError, match="not a facelab compare results folder"):
        merge_results([tmp_path / "fold2", tmp_path / "nothing"], tmp_path / "bad")


# -- cosine learning rate ----------------------------------------------------------------------
def test_cosine_schedule_decays_to_zero_over_the_run_and_is_validated():
    from facelab.nets.training import TrainConfig

    opt = TrainConfig(learning_rate=1e-3, lr_schedule="cosine").make_optimizer(total_steps=100)
    rates = []
    for step in (0, 50, 100):
        opt.iterations.assign(step)
        rates.append(float(np.asarray(opt.learning_rate)))
    assert rates == pytest.approx([1e-3, 5e-4, 0.0], abs=1e-9)
    constant = TrainConfig(learning_rate=1e-3).make_optimizer(total_steps=100)
    constant.iterations.assign(100)
    assert float(np.asarray(constant.learning_rate)) == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="lr_schedule must be"):
        TrainConfig(lr_schedule="step")
    with pytest.raises(ValueError, match="jit_compile must be"):
        TrainConfig(jit_compile="yes")


# -- offline mining: the first epoch may be read before on_epoch_begin -------------------------
def test_offline_sampler_mines_the_first_epoch_on_demand_and_waits_for_later_ones(lfw):
    from facelab.miners.offline import OfflineHardMiner, TripletEpochSampler

    labels = lfw.labels[:400]
    calls = []

    def embed_fn(idx):
        calls.append(len(idx))
        onehot = np.eye(labels.max() + 1, dtype=np.float32)[labels[idx]]
        return onehot + np.random.default_rng(len(calls)).normal(0, 0.1, onehot.shape).astype(np.float32)

    sampler = TripletEpochSampler(labels, OfflineHardMiner("L2", "hard"), 4, 3, embed_fn=embed_fn, pool=200,
                                  timeout=0.5)
    first = sampler.epoch(0)  # no prepare(0) yet: mined here, from the network as it is before any step
    assert first.shape == (3, 12) and len(calls) == 1
    sampler.prepare(0)  # on_epoch_begin(0) after the peek: already mined, nothing recomputed
    assert len(calls) == 1 and sampler.epoch(0) is first
    with pytest.raises(TimeoutError, match="never mined"):
        sampler.epoch(1)  # later epochs must wait for on_epoch_begin's embeddings
    waiter = threading.Timer(0.1, sampler.prepare, args=(1,))
    waiter.start()
    sampler.timeout = 5.0
    assert sampler.epoch(1).shape == (3, 12) and len(calls) == 2


# -- thresholds from a held-out training fold ---------------------------------------------------
def test_held_out_threshold_fold_is_left_out_of_fitting(lfw):
    from facelab.evaluation.protocols import verification_splits

    standard = verification_splits(lfw, "view2")
    held = verification_splits(lfw, "view2", "held-out")
    folds = lfw.people_folds("view2")
    for k, (s, h) in enumerate(zip(standard, held, strict=True)):
        np.testing.assert_array_equal(s.test_pairs.index_a, h.test_pairs.index_a)  # same test pairs
        nxt = (k + 1) % 10
        assert set(np.unique(h.threshold_pairs.fold)) == {nxt} and len(h.threshold_pairs) == 600
        trained = set(lfw.labels[h.train_images])
        held_people = set(lfw.labels[lfw.people_indices(folds[nxt])])
        assert not trained & held_people  # the threshold's people were never fitted on
        pair_people = set(lfw.labels[h.threshold_pairs.index_a]) | set(lfw.labels[h.threshold_pairs.index_b])
        assert pair_people <= held_people
        assert len(h.train_images) < len(s.train_images)
    with pytest.raises(ValueError, match="needs View 2's folds"):
        verification_splits(lfw, "view1", "held-out")
    with pytest.raises(ValueError, match="threshold must be one of"):
        verification_splits(lfw, "view2", "test")


def test_compare_trains_the_gan_once_for_its_table2_sub_vectors(lfw, monkeypatch, tmp_path):
    """gan-disentangler (f_id) and gan-disentangler-noid (f_-id) differ only in what they embed:
    inside share_fits the second adopts the first's fit, and each still embeds its own sub-vector.
    One run_dir keeps a folder per training set (another split trains beside it, as deep methods do)."""
    from deep_helpers import lfw_subset

    from facelab.shared_fits import fit_shared, share_fits
    from facelab.generative import gan_disentangler as gd

    x, y = lfw_subset(lfw, people=8, per_person=4, size=24, min_images=4)
    trainings = []
    train = gd.GanDisentangler.train_autoencoder
    monkeypatch.setattr(gd.GanDisentangler, "train_autoencoder", lambda self, *a: trainings.append(self) or train(self, *a))
    settings = dict(gd.QUICK_SETTINGS, epochs=(1, 1, 1), run_dir=str(tmp_path / "run"), tensorboard=False)
    with share_fits():
        f_id = fit_shared(gd.GanDisentangler(**settings), x, y)
        f_noid = fit_shared(gd.GanDisentanglerNoId(**settings), x, y)
    assert len(trainings) == 1
    other_seed = gd.GanDisentanglerNoId(**settings, seed=1)
    assert other_seed.fit_config != f_id.fit_config and f_noid.fit_config == f_id.fit_config  # seed: yes; part: no
    assert f_noid is not f_id and f_noid.fit_reused_ and not getattr(f_id, "fit_reused_", False)
    assert f_noid.name == "gan-disentangler-noid" and f_noid.nets_ is f_id.nets_
    np.testing.assert_array_equal(f_noid.embed(x[:5]), f_id.embed(x[:5], part="noid"))
    assert not np.allclose(f_noid.embed(x[:5]), f_id.embed(x[:5]))
    # another training set (one person fewer) trains beside it; stage 1 alone shows where (it is where a
    # shared folder failed: "written by another configuration; differences: data")
    monkeypatch.setattr(gd.GanDisentangler, "train_disentanglement", lambda self, *a: self)
    monkeypatch.setattr(gd.GanDisentangler, "train_joint", lambda self, *a: self)
    other_split = gd.GanDisentangler(**settings).fit(x[4:], y[4:])
    assert len(trainings) == 2 and other_split.fit_dir_ != f_id.fit_dir_ == f_noid.fit_dir_
    assert len(list((tmp_path / "run" / "gan-disentangler").glob("data-*/stage1/checkpoint*"))) == 2
