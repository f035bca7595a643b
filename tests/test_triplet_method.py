"""The registered triplet methods on a small real LFW subset (32×32): the offline and online
training paths fit in quick mode and embed; every strategy wires the right miner and reducer."""
from __future__ import annotations

import json

import numpy as np
import pytest

from facelab import methods

NAMES = ["triplet-random", "triplet-offline-hard", "triplet-batch-all", "triplet-batch-hard", "triplet-semi-hard",
         "triplet-distance-weighted", "triplet-easy-positive"]
SMALL = dict(quick=True, p=8, k=4, seed=0, backbone_kwargs={"width": 8}, embedding_dim=32)


@pytest.fixture(scope="module")
def faces(lfw):
    from deep_helpers import lfw_subset

    return lfw_subset(lfw, people=24, per_person=6, size=32, min_images=6)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["triplet-random", "triplet-offline-hard", "triplet-semi-hard"])
def test_training_paths_fit_and_embed(faces, name, tmp_path):
    """Offline (random / re-mined each epoch) and online (P×K) paths, with mining statistics."""
    x, y = faces
    m = methods.create(name, run_dir=str(tmp_path / "run"), **SMALL).fit(x, y)
    e = m.embed(x)
    assert e.shape == (len(x), 32) and np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    assert np.isfinite(m.training_.history["loss"]).all() and len(m.training_.history["loss"]) == m.train_epochs
    stats = m.stats_callback_.history
    assert len(stats) == m.train_epochs and 0 <= stats[-1]["frac_active"] <= 1
    kept = json.loads(next((tmp_path / "run").glob(f"{name}/data-*/history.json")).read_text())["history"]
    assert kept["triplet_frac_active"] == [row["frac_active"] for row in stats]  # every backend, not only TB
    assert list((tmp_path / "run").glob(f"{name}/data-*/logs/triplet/events.out.tfevents.*"))
    assert m.config["strategy"] == name.removeprefix("triplet-")
    json.dumps(m.config)


def test_every_strategy_wires_its_miner_and_reducer(faces):
    from facelab.losses.reducers import AvgNonZeroReducer, MeanReducer
    from facelab.miners import online
    from facelab.nets.backbones import build_backbone

    x, y = faces
    batch = x[:32].astype(np.float32) / 255.0
    emb = build_backbone("small", x.shape[1:], 16, width=8)(batch)
    expect = {"batch-all": (online.BatchAllMiner, AvgNonZeroReducer), "batch-hard": (online.BatchHardMiner, MeanReducer),
              "semi-hard": (online.SemiHardMiner, MeanReducer), "easy-positive": (online.EasyPositiveMiner, MeanReducer),
              "distance-weighted": (online.DistanceWeightedMiner, MeanReducer)}
    for name in NAMES:
        m = methods.create(name, **SMALL)
        assert methods.spec(name).kind == m.kind == "deep"
        value = float(m.loss(y[:32], emb))
        assert np.isfinite(value) and value >= 0
        if m.strategy in expect:
            miner, reducer = expect[m.strategy]
            assert type(m.loss.miner) is miner and type(m.loss.triplet_loss.reducer) is reducer


def test_bad_arguments():
    from facelab.nets.triplet_method import TripletMethod

    with pytest.raises(ValueError, match="strategy must be one of"):
        TripletMethod(strategy="hardest")
    with pytest.raises(ValueError, match="margin must be > 0"):
        methods.create("triplet-batch-hard", margin=0.0)
