"""facelab's tensorflow-addons replacements against tfa 0.23's own numbers (values and gradients,
1e-5) and against the NumPy brute force; the NaN case, Keras use, and bad input."""
from __future__ import annotations

import json
import lzma
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import triplet_numpy as bf
from facelab.losses.tfa import TripletHardLoss, TripletSemiHardLoss, triplet_hard_loss, triplet_semihard_loss

TOL = 1e-5
REFERENCE = Path(__file__).parent / "fixtures" / "tfa_triplet_reference.json.xz"


@pytest.fixture(scope="module")
def reference_cases():
    """tensorflow-addons 0.23's values and gradients for 79 seeded batches (tests/fixtures/README.md)."""
    cases = json.loads(lzma.decompress(REFERENCE.read_bytes()))["cases"]
    # both losses × the three distances, soft hard loss, margins 0.2 and 1.0, batches of 8 to 128
    covered = {(c["loss"], c["kwargs"].get("distance_metric", "L2"), c["kwargs"].get("soft", False)) for c in cases}
    assert len(cases) == 79 and len(covered) == 7, covered
    return cases


def value_and_grad(fn, labels, emb, **kwargs):
    emb = tf.constant(np.asarray(emb, dtype=np.float32))
    with tf.GradientTape() as tape:
        tape.watch(emb)
        value = fn(tf.constant(labels), emb, **kwargs)
    return float(value), tape.gradient(value, emb).numpy()


FUNCTIONS = {"semihard": triplet_semihard_loss, "hard": triplet_hard_loss}


def test_every_reference_case_matches_tfa(reference_cases):
    """Every case: same value and gradient as tfa 0.23 to 1e-5; tfa's NaN (null) → 0 and zero gradient."""
    failures, checked, nan_cases = [], 0, 0
    for case in reference_cases:
        value, grad = value_and_grad(FUNCTIONS[case["loss"]], case["labels"], case["embeddings"], **case["kwargs"])
        if case["value"] is None:
            nan_cases += 1
            if value != 0.0 or np.any(grad != 0.0):
                failures.append(f"{case['name']}: tfa NaN → expected 0 and zero grad, got {value}, |g|max {np.abs(grad).max()}")
        else:
            err_v = abs(value - case["value"])
            err_g = float(np.abs(grad - np.asarray(case["grad"], dtype=np.float64)).max())
            if not (err_v <= TOL and err_g <= TOL):
                failures.append(f"{case['name']}: |Δvalue| {err_v:.2e}, max |Δgrad| {err_g:.2e}")
        checked += 1
    assert checked == len(reference_cases)
    assert nan_cases >= 1, "the reference file should hold tfa's NaN case (no positive pair)"
    assert not failures, "\n".join(failures)


def test_no_positive_pair_semihard_is_zero_with_zero_gradient():
    emb = np.random.default_rng(1).normal(size=(6, 5)).astype(np.float32)
    for metric in ("L2", "squared-L2", "angular"):
        value, grad = value_and_grad(triplet_semihard_loss, np.arange(6), emb, distance_metric=metric)
        assert value == 0.0 and not np.any(grad) and np.all(np.isfinite(grad))


@pytest.mark.parametrize("metric", ["L2", "squared-L2", "angular"])
@pytest.mark.parametrize("margin", [0.2, 1.0])
def test_semihard_matches_brute_force_random(metric, margin):
    rng = np.random.default_rng(7)
    labels = bf.pk_labels(4, 3, rng)
    emb = rng.normal(size=(12, 5)).astype(np.float32)
    value, grad = value_and_grad(triplet_semihard_loss, labels, emb, margin=margin, distance_metric=metric)
    ref_value, ref_grad, _ = bf.semihard(emb, labels, margin, metric, tfa=True)
    assert value == pytest.approx(ref_value, abs=TOL)
    np.testing.assert_allclose(grad, ref_grad, atol=TOL)


@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("metric", ["L2", "squared-L2", "angular"])
def test_hard_matches_brute_force_random(metric, soft):
    rng = np.random.default_rng(8)
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 3, 4])  # 3 and 4: anchors without positive (tfa: d_ap = 0)
    emb = rng.normal(size=(10, 6)).astype(np.float32)
    value, grad = value_and_grad(triplet_hard_loss, labels, emb, margin=0.5, soft=soft, distance_metric=metric)
    ref_value, ref_grad = bf.per_anchor(emb, labels, 0.5, metric, soft, tfa=True)
    assert value == pytest.approx(ref_value, abs=TOL)
    np.testing.assert_allclose(grad, ref_grad, atol=TOL)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("metric", ["L2", "squared-L2"])
def test_values_match_brute_force_on_ties(metric, seed):
    """Integer embeddings: many exactly equal distances; the values must still agree exactly."""
    labels = bf.pk_labels(4, 4, np.random.default_rng(seed))
    emb = bf.tie_heavy(16, seed=seed)
    sh, _ = value_and_grad(triplet_semihard_loss, labels, emb, margin=1.0, distance_metric=metric)
    hd, _ = value_and_grad(triplet_hard_loss, labels, emb, margin=1.0, distance_metric=metric)
    assert sh == pytest.approx(bf.semihard(emb, labels, 1.0, metric, tfa=True)[0], abs=TOL)
    assert hd == pytest.approx(bf.per_anchor(emb, labels, 1.0, metric, tfa=True)[0], abs=TOL)


def test_hard_loss_without_positive_pair_keeps_tfa_value():
    """Documented: tfa's hard loss is defined there (d_ap = 0 per anchor): max(margin - nearest negative, 0)."""
    emb = np.random.default_rng(3).normal(size=(5, 4)).astype(np.float32) * 0.3
    value, _ = value_and_grad(triplet_hard_loss, np.arange(5), emb, margin=1.0)
    d, _, _ = bf.dist_and_grads(emb, "L2")
    np.fill_diagonal(d, np.inf)
    assert value == pytest.approx(np.mean(np.maximum(1.0 - d.min(1), 0.0)), abs=TOL)


def test_keras_loss_classes_in_fit_and_labels_shapes():
    rng = np.random.default_rng(0)
    labels = bf.pk_labels(4, 4, rng)
    emb = rng.normal(size=(16, 8)).astype(np.float32)
    for cls, fn in ((TripletSemiHardLoss, triplet_semihard_loss), (TripletHardLoss, triplet_hard_loss)):
        loss = cls(margin=0.3)
        # Keras hands y_true as float (batch, 1); the value must not change
        expect = float(fn(labels, emb, margin=0.3))
        assert float(loss(labels.reshape(-1, 1).astype(np.float32), emb)) == pytest.approx(expect, abs=1e-6)
        assert cls.from_config(loss.get_config()).margin == 0.3
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)])
    model.compile(optimizer="sgd", loss=TripletSemiHardLoss(margin=0.5, distance_metric="angular"))
    history = model.fit(emb, labels, batch_size=16, epochs=2, shuffle=False, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


def test_callable_distance_metric_and_float16():
    rng = np.random.default_rng(4)
    labels = bf.pk_labels(3, 3, rng)
    emb = rng.normal(size=(9, 4)).astype(np.float32)

    def manhattan(e):
        return tf.reduce_sum(tf.abs(e[:, None, :] - e[None, :, :]), axis=-1)

    got = float(triplet_semihard_loss(labels, emb, margin=1.0, distance_metric=manhattan))
    d = np.abs(emb[:, None] - emb[None]).sum(-1)
    # brute force with the manhattan matrix: reuse the semihard selection rule directly
    total, count = 0.0, 0
    for a, p in [(a, p) for a in range(9) for p in range(9) if a != p and labels[a] == labels[p]]:
        neg = [q for q in range(9) if labels[q] != labels[a]]
        far = [q for q in neg if d[a, q] > d[a, p]]
        q = min(far, key=lambda q: d[a, q]) if far else max(neg, key=lambda q: d[a, q])
        total, count = total + max(1.0 + d[a, p] - d[a, q], 0.0), count + 1
    assert got == pytest.approx(total / count, abs=1e-5)
    half = triplet_hard_loss(labels, emb.astype(np.float16), margin=1.0)
    assert keras.backend.standardize_dtype(half.dtype) == "float16"
    assert float(half) == pytest.approx(float(triplet_hard_loss(labels, emb.astype(np.float16).astype(np.float32))), rel=1e-3)


def test_bad_input_errors():
    emb = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match="margin must be > 0"):
        triplet_semihard_loss([0, 0, 1, 1], emb, margin=0.0)
    with pytest.raises(ValueError, match="margin must be > 0"):
        TripletHardLoss(margin=-1.0)
    TripletHardLoss(margin=-1.0, soft=True)  # soft margin: the margin is not used (as in tfa)
    with pytest.raises(ValueError, match=r"y_true \(labels\) hold 3 entries but the batch has 4"):
        triplet_hard_loss([0, 0, 1], emb)
    with pytest.raises(ValueError, match=r"shape \(batch,\) or \(batch, 1\)"):
        triplet_hard_loss(np.zeros((4, 2), np.int32), emb)
    with pytest.raises(TypeError, match="integer identity labels"):
        triplet_hard_loss(np.array(["a", "a", "b", "b"]), emb)
    with pytest.raises(ValueError, match="distance_metric 'cosinus'"):
        triplet_hard_loss([0, 0, 1, 1], emb, distance_metric="cosinus")
    with pytest.raises(ValueError, match="2-D"):
        triplet_hard_loss([0, 0, 1, 1], np.zeros((4, 3, 1), np.float32))
