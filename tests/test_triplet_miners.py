"""Every online miner + loss + reducer against the NumPy brute force over all (a, p, n): values and
gradients on random inputs, values on tie-heavy integer inputs; offline miners; bad input."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import triplet_numpy as bf
from facelab.losses.distances import CosineDistance, EuclideanDistance, get_distance
from facelab.losses.reducers import AvgNonZeroReducer, MeanReducer, SumReducer
from facelab.losses.triplet import MinedTripletLoss, TripletMarginLoss
from facelab.miners.online import (BatchAllMiner, BatchHardMiner, DistanceWeightedMiner, EasyPositiveMiner,
                                   SemiHardMiner)
from facelab.miners.offline import OfflineHardMiner, RandomTripletMiner, triplets_to_batch

TOL = 1e-5
METRICS = ["L2", "squared-L2", "angular"]


def loss_and_grad(miner, loss_fn, emb, labels):
    emb = tf.constant(np.asarray(emb, np.float32))
    with tf.GradientTape() as tape:
        tape.watch(emb)
        out = loss_fn.compute(emb, labels, miner(emb, labels))
    return {k: float(v) for k, v in out.items()}, tape.gradient(out["loss"], emb).numpy()


def random_batch(seed, p=4, k=3, dim=6):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(p * k, dim)).astype(np.float32), bf.pk_labels(p, k, rng)


@pytest.mark.parametrize("metric", METRICS)
def test_distances_match_definition_and_gradient_safe_at_zero(metric):
    emb, _ = random_batch(0)
    emb[3] = emb[5]  # a duplicate: distance exactly 0 off the diagonal
    ref, _, _ = bf.dist_and_grads(emb, metric)
    x = tf.constant(emb)
    with tf.GradientTape() as tape:
        tape.watch(x)
        d = get_distance(metric)(x)
        total = tf.reduce_sum(d)
    np.testing.assert_allclose(d.numpy(), ref, atol=2e-6)
    grad = tape.gradient(total, x).numpy()
    assert np.all(np.isfinite(grad))
    cross = get_distance(metric)(emb[:4], emb[4:])
    np.testing.assert_allclose(np.asarray(cross), ref[:4, 4:], atol=2e-6)
    if metric == "L2":  # d(3,5)=0 contributes zero gradient (no NaN, no 1/0)
        lone = tf.constant(np.stack([emb[3], emb[3]]))
        with tf.GradientTape() as tape:
            tape.watch(lone)
            s = tf.reduce_sum(EuclideanDistance()(lone))
        assert not np.any(tape.gradient(s, lone).numpy())
    normalised = EuclideanDistance(normalize_embeddings=True)(emb)
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    np.testing.assert_allclose(np.asarray(normalised), bf.dist_and_grads(unit, "L2")[0], atol=2e-6)


@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("metric", METRICS)
def test_batch_all(metric, soft):
    emb, labels = random_batch(1)
    got, grad = loss_and_grad(BatchAllMiner(metric), TripletMarginLoss(0.5, metric, soft, AvgNonZeroReducer()), emb, labels)
    value, ref_grad, frac = bf.batch_all(emb, labels, 0.5, metric, soft)
    assert got["loss"] == pytest.approx(value, abs=TOL)
    assert got["active_fraction"] == pytest.approx(frac, abs=1e-6)  # float32 ratio
    assert got["num_triplets"] == len(bf.all_triplets(labels))
    np.testing.assert_allclose(grad, ref_grad, atol=TOL)
    mean, _ = loss_and_grad(BatchAllMiner(metric), TripletMarginLoss(0.5, metric, soft, MeanReducer()), emb, labels)
    assert mean["loss"] == pytest.approx(bf.batch_all(emb, labels, 0.5, metric, soft, reducer="mean")[0], abs=TOL)


@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("metric", METRICS)
def test_batch_hard_and_easy_positive(metric, soft):
    emb, labels = random_batch(2)
    for miner, positive in ((BatchHardMiner(metric), "hardest"), (EasyPositiveMiner(metric), "easiest")):
        got, grad = loss_and_grad(miner, TripletMarginLoss(0.3, metric, soft), emb, labels)
        value, ref_grad = bf.per_anchor(emb, labels, 0.3, metric, soft, positive=positive)
        assert got["loss"] == pytest.approx(value, abs=TOL), positive
        np.testing.assert_allclose(grad, ref_grad, atol=TOL)


@pytest.mark.parametrize("metric", METRICS)
def test_semi_hard(metric):
    emb, labels = random_batch(3, p=3, k=4)
    got, grad = loss_and_grad(SemiHardMiner(metric), TripletMarginLoss(1.0, metric), emb, labels)
    value, ref_grad, chosen = bf.semihard(emb, labels, 1.0, metric)
    assert got["loss"] == pytest.approx(value, abs=TOL)
    np.testing.assert_allclose(grad, ref_grad, atol=TOL)
    mined = SemiHardMiner(metric)(emb, labels).numpy()
    assert sorted(map(tuple, mined)) == sorted((a, p, q) for a, p, q, _ in chosen)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("metric", ["L2", "squared-L2"])
def test_all_miners_on_ties(metric, seed):
    """Integer embeddings: exact ties everywhere (incl. d_an == d_ap); values must agree exactly."""
    labels = bf.pk_labels(4, 4, np.random.default_rng(seed))
    emb = bf.tie_heavy(16, seed=seed)
    got, _ = loss_and_grad(BatchAllMiner(metric), TripletMarginLoss(1.0, metric, reducer="avg_nonzero"), emb, labels)
    value, _, frac = bf.batch_all(emb, labels, 1.0, metric)
    assert got["loss"] == pytest.approx(value, abs=TOL) and got["active_fraction"] == pytest.approx(frac, abs=1e-6)
    got, _ = loss_and_grad(BatchHardMiner(metric), TripletMarginLoss(1.0, metric), emb, labels)
    assert got["loss"] == pytest.approx(bf.per_anchor(emb, labels, 1.0, metric)[0], abs=TOL)
    got, _ = loss_and_grad(EasyPositiveMiner(metric), TripletMarginLoss(1.0, metric), emb, labels)
    assert got["loss"] == pytest.approx(bf.per_anchor(emb, labels, 1.0, metric, positive="easiest")[0], abs=TOL)
    got, _ = loss_and_grad(SemiHardMiner(metric), TripletMarginLoss(1.0, metric), emb, labels)
    assert got["loss"] == pytest.approx(bf.semihard(emb, labels, 1.0, metric)[0], abs=TOL)


def test_mined_triplets_are_genuine_and_reducers():
    emb, labels = random_batch(4)
    valid = set(bf.all_triplets(labels))
    for miner in (BatchHardMiner(), SemiHardMiner(), EasyPositiveMiner(), BatchAllMiner(), DistanceWeightedMiner(seed=1)):
        mined = miner(emb, labels).numpy()
        assert len(mined) > 0 and set(map(tuple, mined)) <= valid, type(miner).__name__
    losses, weights = tf.constant([0.0, 2.0, 1.0, 5.0]), tf.constant([1.0, 1.0, 1.0, 0.0])
    assert float(MeanReducer()(losses, weights)) == pytest.approx(1.0)
    assert float(AvgNonZeroReducer()(losses, weights)) == pytest.approx(1.5)
    assert float(SumReducer()(losses, weights)) == pytest.approx(3.0)
    for reducer in (MeanReducer(), AvgNonZeroReducer()):  # nothing to average: 0, not NaN
        assert float(reducer(tf.zeros(3), tf.zeros(3))) == 0.0


def test_distance_weighted_probabilities_and_samples():
    rng = np.random.default_rng(5)
    labels = bf.pk_labels(4, 3, rng)
    emb = rng.normal(size=(12, 8)).astype(np.float32)
    miner = DistanceWeightedMiner(cutoff=0.5, nonzero_loss_cutoff=1.4, seed=3)
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    d, _, _ = bf.dist_and_grads(unit, "L2")
    probs = np.asarray(miner.probabilities(EuclideanDistance(normalize_embeddings=True)(emb), labels, 8))
    for a in range(12):  # Wu et al. Eq. 3-4 written out per anchor
        neg = labels != labels[a]
        inside = neg & (d[a] < 1.4)
        support = inside if inside.any() else neg
        dc = np.maximum(d[a], 0.5)
        w = np.where(support, 1.0 / (dc ** 6 * (1 - dc ** 2 / 4) ** 2.5) if inside.any() else 1.0, 0.0)
        np.testing.assert_allclose(probs[a], w / w.sum(), atol=1e-5)
    counts = np.zeros((12, 12))
    for _ in range(40):
        t = miner(emb, labels)
        a, n, w = (np.asarray(v) for v in (t.anchor, t.negative, t.weight))
        np.add.at(counts, (a[w > 0], n[w > 0]), 1)
    freq = counts / counts.sum(1, keepdims=True)
    assert np.all(freq[probs == 0] == 0)  # never outside the support
    assert np.abs(freq - probs).max() < 0.12  # 80 draws per anchor: sampling error ~0.05


def test_mined_triplet_loss_in_keras_fit():
    emb, labels = random_batch(6, p=4, k=4, dim=8)
    loss = MinedTripletLoss(BatchHardMiner("L2"), TripletMarginLoss(0.2, "L2"))
    expect = float(TripletMarginLoss(0.2, "L2")(emb, labels, BatchHardMiner()(emb, labels)))
    assert float(loss(labels.astype(np.float32), emb)) == pytest.approx(expect, abs=1e-6)
    import keras

    for miner in (SemiHardMiner(CosineDistance()), BatchAllMiner(), EasyPositiveMiner(), DistanceWeightedMiner(seed=0)):
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)])
        model.compile(optimizer="sgd", loss=MinedTripletLoss(miner))
        assert np.isfinite(model.fit(emb, labels, batch_size=16, epochs=2, verbose=0).history["loss"]).all()
    with pytest.raises(Exception, match="no positive pair"):  # inside fit's tf.function: a graph assertion
        model.fit(emb, np.arange(16), batch_size=16, epochs=1, verbose=0)


def test_online_bad_input():
    emb, labels = random_batch(0)
    for miner in (BatchHardMiner(), SemiHardMiner(), BatchAllMiner(), EasyPositiveMiner(), DistanceWeightedMiner()):
        with pytest.raises(ValueError, match=r"no positive pair.*P×K"):
            miner(emb, np.arange(len(emb)))
    with pytest.raises(ValueError, match="margin must be > 0"):
        TripletMarginLoss(margin=0.0)
    with pytest.raises(ValueError, match="hold 5 entries but the batch has 12"):
        BatchHardMiner()(emb, labels[:5])
    with pytest.raises(TypeError, match="integer identity labels"):
        BatchHardMiner()(emb, labels.astype(bool))
    with pytest.raises(ValueError, match="reducer 'median'"):
        TripletMarginLoss(reducer="median")
    # no genuine triplet (one identity): defined as 0 with zero gradient
    got, grad = loss_and_grad(BatchHardMiner(), TripletMarginLoss(0.2), emb, np.zeros(12, np.int64))
    assert got["loss"] == 0.0 and not np.any(grad)


def test_offline_hard_miner_against_brute_force():
    rng = np.random.default_rng(9)
    labels = np.repeat(np.arange(6), [2, 3, 4, 1, 3, 2])
    emb = rng.normal(size=(len(labels), 5)).astype(np.float32)
    d, _, _ = bf.dist_and_grads(emb, "L2")
    trips = bf.all_triplets(labels)
    for strategy in ("hard", "semihard"):
        mined = OfflineHardMiner("L2", strategy, chunk=4).mine(labels, emb)
        anchors = sorted({a for a, _, _ in trips})
        assert sorted(mined[:, 0]) == anchors and set(map(tuple, mined)) <= set(trips)
        for a, p, q in mined:
            mine_a = [(pp, qq) for aa, pp, qq in trips if aa == a]
            if strategy == "hard":  # the largest d_ap - d_an over all of the anchor's triplets
                assert d[a, p] - d[a, q] == pytest.approx(max(d[a, pp] - d[a, qq] for pp, qq in mine_a), abs=1e-5)
            else:
                assert d[a, p] == pytest.approx(max(d[a, pp] for pp, _ in mine_a), abs=1e-5)
                far = [d[a, qq] for _, qq in mine_a if d[a, qq] > d[a, p]]
                expect = min(far) if far else max(d[a, qq] for _, qq in mine_a)
                assert d[a, q] == pytest.approx(expect, abs=1e-5)


def test_random_miner_and_batches():
    labels = np.repeat(np.arange(5), [1, 2, 3, 4, 5])
    miner = RandomTripletMiner(num_triplets=3000, seed=2)
    mined = miner.mine(labels)
    assert set(map(tuple, mined)) <= set(bf.all_triplets(labels))
    assert np.array_equal(mined, RandomTripletMiner(3000, seed=2).mine(labels))
    assert not np.array_equal(mined, miner.mine(labels, epoch=1))
    # uniform: for anchors of identity 4 (5 images), each of the 10 others is a negative ~equally often
    neg = mined[labels[mined[:, 0]] == 4, 2]
    counts = np.bincount(neg, minlength=15)[:10]
    assert counts.min() > 0.6 * counts.mean()
    images, local = triplets_to_batch(mined[:50])
    np.testing.assert_array_equal(images[np.asarray(local.anchor)], mined[:50, 0])
    np.testing.assert_array_equal(images[np.asarray(local.negative)], mined[:50, 2])
    with pytest.raises(ValueError, match="no positive pair"):
        RandomTripletMiner().mine(np.arange(6))
    with pytest.raises(TypeError, match="integer"):
        OfflineHardMiner().mine(labels.astype(float), np.zeros((15, 2)))


def test_triplet_epoch_sampler_and_ordered_loss():
    from facelab.miners.offline import TripletEpochSampler, ordered_triplets

    rng = np.random.default_rng(12)
    labels = np.repeat(np.arange(8), 4)
    emb = rng.normal(size=(32, 6)).astype(np.float32)
    valid = set(bf.all_triplets(labels))
    calls = []

    def embed_fn(idx):
        calls.append(len(idx))
        return emb[idx]

    for miner, fn in ((RandomTripletMiner(seed=1), None), (OfflineHardMiner("L2"), embed_fn)):
        sampler = TripletEpochSampler(labels, miner, triplets_per_batch=5, steps=3, embed_fn=fn, pool=24, seed=4)
        if fn is not None:
            sampler.timeout = 0.1
            sampler.prepare(0)  # on_epoch_begin(0); the first epoch would also be mined on demand
            sampler.epoch(0)
            with pytest.raises(TimeoutError, match="prepare"):
                sampler.epoch(1)  # a later epoch waits for its on_epoch_begin
        batches = sampler.epoch(0)
        assert batches.shape == (3, 15) and len(sampler) == 3
        for b in batches:
            assert {(b[t], b[5 + t], b[10 + t]) for t in range(5)} <= valid
    assert calls == [24]
    again = TripletEpochSampler(labels, OfflineHardMiner("L2"), 5, 3, embed_fn=embed_fn, pool=24, seed=4)
    again.prepare(0)
    np.testing.assert_array_equal(again.epoch(0), batches)
    # the loss over an ordered batch is the mean hinge of exactly those triplets
    b = batches[0]
    got = float(TripletMarginLoss(0.5)(emb[b], labels[b], ordered_triplets(15)))
    d, _, _ = bf.dist_and_grads(emb, "L2")
    expect = np.mean([max(0.5 + d[b[t], b[5 + t]] - d[b[t], b[10 + t]], 0) for t in range(5)])
    assert got == pytest.approx(expect, abs=1e-5)


def test_offline_pool_drawn_as_people_times_k_images():
    """``pool_k``: the embedded pool is one P×K batch (pool // pool_k people, pool_k images each, every
    person once), so every pooled image is an anchor; the random pool of the same size is not so."""
    from facelab.miners.offline import TripletEpochSampler

    rng = np.random.default_rng(3)
    counts = np.r_[np.full(40, 2), np.full(20, 6), [60]]  # many pairs, some larger people, one very large
    labels = np.repeat(np.arange(len(counts)), counts)
    emb = rng.normal(size=(len(labels), 8)).astype(np.float32)
    pools = []

    def embed_fn(idx):
        pools.append(np.asarray(idx))
        return emb[idx]

    sampler = TripletEpochSampler(labels, OfflineHardMiner("L2"), 6, 4, embed_fn=embed_fn, pool=64, pool_k=4, seed=1)
    batches = sampler.epoch(0)
    pool = pools[-1]
    per_person = np.bincount(labels[pool], minlength=len(counts))
    assert (per_person > 0).sum() == 64 // 4  # 16 people
    assert set(per_person[per_person > 0]) <= {2, 4}  # four images, or all of a person's two
    assert np.array_equal(np.unique(pool), pool)  # a person's repeats fill the batch, not the pool
    assert set(batches[:, :6].ravel()) <= set(pool)  # anchors, positives and negatives from the pool
    assert set(batches[:, 6:12].ravel()) <= set(pool) and set(batches[:, 12:].ravel()) <= set(pool)
    sampler.prepare(1)
    assert not np.array_equal(pools[-1], pool)  # a new draw of people each epoch
    TripletEpochSampler(labels, OfflineHardMiner("L2"), 6, 4, embed_fn=embed_fn, pool=64, seed=1).epoch(0)
    random_pool = pools[-1]
    assert np.bincount(labels[random_pool])[-1] > 4  # at random, the large person takes a larger share
    with pytest.raises(ValueError, match="pool_k"):
        TripletEpochSampler(labels, OfflineHardMiner("L2"), 6, 4, embed_fn=embed_fn, pool=64, pool_k=1)
    with pytest.raises(ValueError, match="random miner"):
        TripletEpochSampler(labels, RandomTripletMiner(), 6, 4, pool=64, pool_k=4)
