"""Offline mining (:mod:`facelab.miners.offline`): the first epoch may be read before
on_epoch_begin; later epochs wait for it."""
from __future__ import annotations

import threading

import numpy as np
import pytest


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
