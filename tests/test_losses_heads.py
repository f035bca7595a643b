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
    # one person with many images, as in LFW: ranked over all pairs, its 66 pairs would fill every positive slot
    emb, labels = rng.normal(size=(30, 4)), np.r_[np.zeros(12, int), rng.integers(1, 6, 18)]
    a, b, same = mine_hard_pairs(emb, labels, 6, 6)
    assert same.sum() == 6 and len(same) == 12
    assert np.array_equal(same == 1, labels[a] == labels[b])
    dist = lambda i, j: np.linalg.norm(emb[i] - emb[j])
    # each image's farthest same-person and closest other-person image, the hardest of those kept
    far = {tuple(sorted((i, max((j for j in range(30) if j != i and labels[j] == labels[i]), key=lambda j: dist(i, j)))))
           for i in range(30) if (labels == labels[i]).sum() > 1}
    near = {tuple(sorted((i, min((j for j in range(30) if labels[j] != labels[i]), key=lambda j: dist(i, j)))))
            for i in range(30)}
    far, near = sorted(far, key=lambda p: -dist(*p))[:6], sorted(near, key=lambda p: dist(*p))[:6]
    got = {(min(x, y), max(x, y)) for x, y in zip(a, b)}
    assert got == set(far) | set(near)
    # asked for every positive, a person brings at most one per image (12), not one per pair (66)
    a, b, same = mine_hard_pairs(emb, labels, 1000, 1000)
    assert 0 < (labels[a[same == 1]] == 0).sum() <= 12 and len(np.unique(a[same == 1] * 30 + b[same == 1])) == same.sum()


def test_hard_pair_sampler_swaps_mined_pairs_into_a_balanced_epoch():
    from facelab.data.samplers import epoch_rng
    from facelab.miners.hard_pairs import HardPairSampler, mine_hard_pairs

    rng = np.random.default_rng(5)
    labels = np.r_[np.zeros(40, int), rng.integers(1, 30, 160)]  # one person with many images, as in LFW
    emb = rng.normal(size=(len(labels), 8))
    sampler = HardPairSampler(labels, 200, lambda idx: emb[idx], hard_fraction=0.5, pool=120, seed=1)
    with pytest.raises(TimeoutError, match="never mined"):
        HardPairSampler(labels, 200, lambda idx: emb[idx], timeout=0.01).epoch(0)
    sampler.prepare(0)
    a, b, same = sampler.epoch(0)
    assert len(a) == 200 and same.sum() == 100  # still half same, half different
    assert np.array_equal(same == 1, labels[a] == labels[b]) and np.all(a != b)
    # the sampler's own draw of the pool (its seed + 7919, epoch 0), to recover the pairs it mined
    pool = epoch_rng(1 + 7919, 0).choice(len(labels), size=120, replace=False)
    ha, hb, hs = mine_hard_pairs(emb[pool], labels[pool], 50, 50)
    mined = {(min(x, y), max(x, y)) for x, y in zip(pool[ha], pool[hb])}
    got = {(min(x, y), max(x, y)) for x, y in zip(a, b)}
    assert mined <= got  # every mined pair is in the epoch
    assert sampler.epoch(0)[0] is a  # mined once per epoch, read as often as tf.data asks
