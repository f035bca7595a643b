"""Samplers on the real LFW identity labels, and the tf.data pipelines on a small real subset."""
from __future__ import annotations

import numpy as np
import pytest

from facelab.data.samplers import BatchSampler, EpisodeSampler, GroupSampler, PairSampler, PKSampler, random_flip


@pytest.fixture(scope="module")
def labels(lfw):
    return lfw.labels


def _counts(labels):
    return np.bincount(labels)


# -- P x K ---------------------------------------------------------------------------------
@pytest.mark.parametrize("short", ["exclude", "replace"])
def test_pk_batches_hold_p_identities_times_k(labels, short):
    s = PKSampler(labels, p=16, k=4, short=short, seed=3)
    batches = s.epoch(0)
    counts = _counts(labels)
    eligible = np.flatnonzero(counts >= (4 if short == "exclude" else 2))
    assert batches.shape == (len(eligible) // 16, 64) == (len(s), s.batch_size)
    seen = []
    for b in batches:
        ids = labels[b].reshape(16, 4)
        assert (ids == ids[:, :1]).all()  # row j belongs to identity j // K
        assert len(np.unique(ids[:, 0])) == 16  # P distinct identities, K images each
        seen.extend(ids[:, 0])
        if short == "exclude":
            assert len(np.unique(b)) == 64  # all distinct images
        else:  # duplicates only for identities with fewer than K images, never a lone image K times
            for row in b.reshape(16, 4):
                n = counts[labels[row[0]]]
                assert len(np.unique(row)) == min(4, n) >= 2
    # one epoch visits each eligible identity at most once
    assert len(seen) == len(set(seen))
    assert set(seen) <= set(eligible)


def test_pk_exclude_counts_lfw_identities(labels):
    # independent count: identities with >= K images, straight from bincount
    assert len(PKSampler(labels, p=10, k=4).ids) == int((np.bincount(labels) >= 4).sum())
    assert len(PKSampler(labels, p=10, k=4, short="replace").ids) == int((np.bincount(labels) >= 2).sum())


def test_pk_reproducible_and_seed_sensitive(labels):
    a = PKSampler(labels, 8, 4, seed=1)
    assert np.array_equal(a.epoch(2), PKSampler(labels, 8, 4, seed=1).epoch(2))
    assert not np.array_equal(a.epoch(2), PKSampler(labels, 8, 4, seed=2).epoch(2))
    assert not np.array_equal(a.epoch(2), a.epoch(3))


def test_pk_bad_arguments(labels):
    with pytest.raises(ValueError, match="p=5000"):
        PKSampler(labels, 5000, 4)
    with pytest.raises(ValueError, match="k"):
        PKSampler(labels, 8, 0)
    with pytest.raises(ValueError, match="short"):
        PKSampler(labels, 8, 4, short="pad")
    with pytest.raises(ValueError, match="integer"):
        PKSampler(labels.astype(float), 8, 4)


# -- pairs ---------------------------------------------------------------------------------
def test_pairs_balanced_and_correctly_labelled(labels):
    s = PairSampler(labels, 2000, seed=5)
    a, b, same = s.epoch(0)
    assert len(a) == len(b) == len(same) == 2000
    assert same.sum() == 1000  # exactly balanced
    assert np.array_equal(same == 1, labels[a] == labels[b])  # y=1 <=> same person
    assert (a[same == 1] != b[same == 1]).all()  # a same pair uses two distinct images
    assert 0.3 < same[:200].mean() < 0.7  # shuffled, not 1000 ones then 1000 zeros
    # identities are drawn uniformly: Bush (530 images) is not the majority of same pairs
    bush = np.argmax(np.bincount(labels))
    assert (labels[a[same == 1]] == bush).mean() < 0.05


def test_pairs_reproducible_and_errors(labels):
    x = PairSampler(labels, 100, seed=0).epoch(1)
    y = PairSampler(labels, 100, seed=0).epoch(1)
    z = PairSampler(labels, 100, seed=9).epoch(1)
    assert all(np.array_equal(u, v) for u, v in zip(x, y))
    assert not np.array_equal(x[0], z[0])
    with pytest.raises(ValueError, match="even"):
        PairSampler(labels, 101)
    with pytest.raises(ValueError, match="single identity"):
        PairSampler(np.zeros(5, int), 10)
    with pytest.raises(ValueError, match="two or more"):
        PairSampler(np.arange(5), 10)


# -- groups and episodes -------------------------------------------------------------------
def test_groups_single_identity(labels):
    s = GroupSampler(labels, 5, seed=0)
    g = s.epoch(0)
    assert g.shape == (int((np.bincount(labels) >= 5).sum()), 5)
    ids = labels[g]
    assert (ids == ids[:, :1]).all()
    assert all(len(np.unique(row)) == 5 for row in g)
    assert len(np.unique(ids[:, 0])) == len(g)  # one group per identity per epoch
    assert not np.array_equal(g, GroupSampler(labels, 5, seed=1).epoch(0))
    assert np.array_equal(g, GroupSampler(labels, 5, seed=0).epoch(0))


def test_episodes_disjoint_and_labelled(labels):
    s = EpisodeSampler(labels, n_way=5, k_shot=3, n_query=2, seed=4)
    for ep in s.episodes(20):
        assert ep.support.shape == (15,) and ep.query.shape == (10,)
        assert not set(ep.support) & set(ep.query)
        assert len(np.unique(ep.classes)) == 5
        assert np.array_equal(labels[ep.support], ep.classes[ep.support_labels])
        assert np.array_equal(labels[ep.query], ep.classes[ep.query_labels])
    e1, e2 = s.episode(7), EpisodeSampler(labels, 5, 3, 2, seed=4).episode(7)
    assert np.array_equal(e1.support, e2.support) and np.array_equal(e1.query, e2.query)
    assert not np.array_equal(e1.support, EpisodeSampler(labels, 5, 3, 2, seed=5).episode(7).support)
    with pytest.raises(ValueError, match="5000-way"):
        EpisodeSampler(labels, 5000, 1)


def test_batch_sampler_is_a_permutation():
    s = BatchSampler(103, 10, seed=0)
    batches = s.epoch(0)
    assert len(batches) == len(s) == 10
    flat = np.concatenate(batches)
    assert len(np.unique(flat)) == 100 and flat.max() < 103
    assert not np.array_equal(flat, np.concatenate(BatchSampler(103, 10, seed=1).epoch(0)))


def test_random_flip_numpy():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (50, 4, 5, 1), dtype=np.uint8)
    y, flipped = random_flip(x, np.random.default_rng(1))
    assert np.array_equal(y[flipped], x[flipped][:, :, ::-1]) and np.array_equal(y[~flipped], x[~flipped])
    assert 10 < flipped.sum() < 40


# -- tf.data -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small(lfw):
    from deep_helpers import lfw_subset

    return lfw_subset(lfw, people=24, per_person=5, size=32, min_images=5)


def _materialise(ds):
    return [tuple(np.asarray(t) for t in _flatten(item)) for item in ds]


def _flatten(item):
    if isinstance(item, (tuple, list)):
        for t in item:
            yield from _flatten(t)
    else:
        yield item


def test_pk_pipeline_floats_identities_and_determinism(small):
    from facelab.data.pipeline import pk_dataset, steps_per_epoch

    images, labels = small
    s = PKSampler(labels, p=4, k=3, seed=2)
    out = _materialise(pk_dataset(images, labels, s, epochs=2, augment=True))
    assert len(out) == 2 * steps_per_epoch(s)
    batches = np.concatenate([s.epoch(0), s.epoch(1)])
    flips = 0
    for (x, y), idx in zip(out, batches):
        assert x.dtype == np.float32 and x.shape == (12, 32, 32, 1) and 0 <= x.min() and x.max() <= 1
        assert np.array_equal(y, labels[idx])
        ref = images[idx].astype(np.float32) / 255
        same = np.all(np.isclose(x, ref, atol=1e-6), axis=(1, 2, 3))
        mirrored = np.all(np.isclose(x, ref[:, :, ::-1], atol=1e-6), axis=(1, 2, 3))
        assert (same | mirrored).all()  # augmentation = mirror or identity, per image
        flips += int((mirrored & ~same).sum())
    assert 0.2 < flips / (len(out) * 12) < 0.8
    again = _materialise(pk_dataset(images, labels, s, epochs=2, augment=True))
    assert all(np.array_equal(u, v) for a, b in zip(out, again) for u, v in zip(a, b))
    other = _materialise(pk_dataset(images, labels, PKSampler(labels, 4, 3, seed=3), epochs=2, augment=True))
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(out, other))
    # resuming mid-epoch yields exactly the remaining batches, flips included
    resumed = _materialise(pk_dataset(images, labels, s, epochs=2, start_epoch=1, skip=2, augment=True))
    tail = out[steps_per_epoch(s) + 2:]
    assert len(resumed) == len(tail)
    assert all(np.array_equal(u, v) for a, b in zip(resumed, tail) for u, v in zip(a, b))


def test_pair_pipeline_labels_and_identities(small):
    from facelab.data.pipeline import pair_dataset

    images, labels = small
    s = PairSampler(labels, 40, seed=1)
    a, b, same = s.epoch(0)
    out = _materialise(pair_dataset(images, labels, s, 8, with_identities=True))
    assert len(out) == 5
    for i, (xa, xb, y, ya, yb) in enumerate(out):
        sl = slice(8 * i, 8 * i + 8)
        assert np.allclose(xa, images[a[sl]] / 255.0, atol=1e-6) and np.allclose(xb, images[b[sl]] / 255.0, atol=1e-6)
        assert np.array_equal(y, same[sl]) and np.array_equal(y == 1, ya == yb)


def test_group_and_episode_pipelines(small):
    from facelab.data.pipeline import episode_dataset, group_dataset, inference_dataset

    images, labels = small
    g = GroupSampler(labels, 4, seed=0)
    batches = list(group_dataset(images, labels, g, 6, augment=True))
    assert len(batches) == 4
    x, y = (np.asarray(t) for t in batches[0])
    assert x.shape == (6, 4, 32, 32, 1) and y.shape == (6,)
    assert np.array_equal(y, labels[g.epoch(0)[:6, 0]])
    eps = list(episode_dataset(images, EpisodeSampler(labels, 3, 2, 2, seed=0), 3))
    ep0 = EpisodeSampler(labels, 3, 2, 2, seed=0).episode(0)
    assert np.allclose(eps[0]["support"].numpy(), images[ep0.support] / 255.0, atol=1e-6)
    assert np.array_equal(eps[0]["query_labels"].numpy(), ep0.query_labels)
    xs = np.concatenate([b.numpy() for b in inference_dataset(images, 50)])
    assert np.allclose(xs, images / 255.0, atol=1e-6)
    with pytest.raises(ValueError, match="uint8"):
        inference_dataset(images.astype(np.float32))
