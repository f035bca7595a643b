"""Losses, heads, miners, layers and the gallery helper against NumPy references."""
from __future__ import annotations

import numpy as np
import pytest


def _np_contrastive(fa, fb, same, m):
    d = np.sqrt(((fa - fb) ** 2).sum(1))
    return np.where(same == 1, 0.5 * d ** 2, 0.5 * np.maximum(0.0, m - d) ** 2)


def test_contrastive_matches_numpy_reference():
    from facelab.losses.contrastive import ContrastiveLoss, contrastive_per_pair

    rng = np.random.default_rng(0)
    fa, fb = rng.normal(size=(64, 8)).astype(np.float32), rng.normal(size=(64, 8)).astype(np.float32) * 0.3
    same = rng.integers(0, 2, 64)
    for m in (0.5, 2.0, 4.0):
        got = np.asarray(contrastive_per_pair(fa, fb, same, m))
        assert np.allclose(got, _np_contrastive(fa.astype(np.float64), fb, same, m), rtol=1e-5, atol=1e-6)
        mean = float(ContrastiveLoss(m)(same, np.stack([fa, fb], 1)))
        assert mean == pytest.approx(_np_contrastive(fa.astype(np.float64), fb, same, m).mean(), rel=1e-5)


def test_contrastive_hand_worked_and_label_convention():
    """fa=(0,0), fb=(3,4): d=5. SAME (y=1): ½·25 = 12.5. DIFFERENT (y=0), m=6: ½(6−5)² = 0.5; m=4: 0."""
    from facelab.losses.contrastive import contrastive_per_pair

    fa = np.array([[0.0, 0.0]] * 3, np.float32)
    fb = np.array([[3.0, 4.0]] * 3, np.float32)
    assert np.allclose(contrastive_per_pair(fa[:1], fb[:1], [1], 6.0), [12.5])
    assert np.allclose(contrastive_per_pair(fa[:1], fb[:1], [0], 6.0), [0.5])
    assert np.allclose(contrastive_per_pair(fa[:1], fb[:1], [0], 4.0), [0.0])
    # y = 1 means SAME: identical embeddings cost nothing as a same pair and ½m² as a different pair
    x = np.ones((1, 2), np.float32)
    assert float(contrastive_per_pair(x, x, [1], 1.0)[0]) == 0.0
    # (tolerance 1e-5: the distance is floored at sqrt(1e-12) = 1e-6 to keep its gradient finite)
    assert float(contrastive_per_pair(x, x, [0], 1.0)[0]) == pytest.approx(0.5, abs=1e-5)


def test_contrastive_gradient_finite_at_zero_distance():
    import tensorflow as tf

    from facelab.losses.contrastive import contrastive_per_pair

    x = tf.Variable(np.ones((2, 4), np.float32))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(contrastive_per_pair(x, tf.ones((2, 4)), [1, 0], 1.0))
    assert np.isfinite(tape.gradient(loss, x).numpy()).all()


def test_pair_difference_forms():
    from facelab.nets.heads import PairDifference

    rng = np.random.default_rng(1)
    a, b = rng.random((5, 6)).astype(np.float32), rng.random((5, 6)).astype(np.float32)
    assert np.allclose(PairDifference("abs")(a, b), np.abs(a - b), atol=1e-7)
    assert np.allclose(PairDifference("chi2")(a, b), (a - b) ** 2 / (a + b), rtol=1e-4)
    assert np.asarray(PairDifference("chi2")(np.zeros((1, 3)), np.zeros((1, 3)))).max() == 0.0
    with pytest.raises(ValueError, match="form"):
        PairDifference("l1")


def test_l2_normalize_and_fused_batchnorm_match_keras():
    import keras

    from facelab.nets.layers import FusedBatchNormalization, L2Normalize

    rng = np.random.default_rng(2)
    v = rng.normal(size=(4, 7)).astype(np.float32)
    assert np.allclose(L2Normalize()(v), v / np.linalg.norm(v, axis=1, keepdims=True), atol=1e-6)
    x = rng.normal(2.0, 3.0, size=(8, 5, 5, 3)).astype(np.float32)
    ref, fused = keras.layers.BatchNormalization(momentum=0.9), FusedBatchNormalization(momentum=0.9)
    ref.build(x.shape), fused.build(x.shape)
    fused.set_weights([w + 0.1 * i for i, w in enumerate(ref.get_weights())])
    ref.set_weights(fused.get_weights())
    assert np.allclose(ref(x, training=True), fused(x, training=True), atol=1e-5)
    for a, b in zip(ref.get_weights(), fused.get_weights()):  # moving mean/variance updated identically
        assert np.allclose(a, b, atol=1e-6)
    assert np.allclose(ref(x, training=False), fused(x, training=False), atol=1e-5)


def test_mine_hard_pairs_brute_force():
    from facelab.miners.hard_pairs import mine_hard_pairs

    rng = np.random.default_rng(3)
    emb, labels = rng.normal(size=(30, 4)), rng.integers(0, 5, 30)
    a, b, same = mine_hard_pairs(emb, labels, 6, 6)
    assert same.sum() == 6 and len(same) == 12
    assert np.array_equal(same == 1, labels[a] == labels[b])
    pos = [(np.linalg.norm(emb[i] - emb[j]), i, j) for i in range(30) for j in range(i + 1, 30) if labels[i] == labels[j]]
    neg = [(np.linalg.norm(emb[i] - emb[j]), i, j) for i in range(30) for j in range(i + 1, 30) if labels[i] != labels[j]]
    far = sorted(pos, reverse=True)[:6]
    near = sorted(neg)[:6]
    d = np.linalg.norm(emb[a] - emb[b], axis=1)
    assert np.allclose(np.sort(d[same == 1]), np.sort([t[0] for t in far]))
    assert np.allclose(np.sort(d[same == 0]), np.sort([t[0] for t in near]))
