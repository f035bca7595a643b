"""Input pipelines (:mod:`facelab.data.pipeline`): the NumPy path (any Keras backend but TensorFlow)
gives tf.data's batches, seeded flips and shifts, the GAN's stage batches, and a thread that hands
its errors on and ends when the consumer stops."""
from __future__ import annotations

import numpy as np
import pytest

from facelab.data import PreprocessConfig


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
