"""The registered triplet methods on a small real LFW subset (32×32): the offline and online
training paths fit, embed and learn (the triplet loss on the training faces falls); every strategy
wires the right miner and reducer."""
from __future__ import annotations

import json

import numpy as np
import pytest

from facelab import methods

NAMES = ["triplet-random", "triplet-offline-hard", "triplet-batch-all", "triplet-batch-hard", "triplet-semi-hard",
         "triplet-distance-weighted", "triplet-easy-positive"]
SMALL = dict(quick=True, p=8, k=4, seed=0, backbone_kwargs={"width": 8}, embedding_dim=32)
# quick mode's 2 epochs × 3 P×K batches barely move the weights; 15 epochs (45 steps, ~3 s a fit) at a
# higher rate are the least that lowers the triplet loss clearly for every strategy (measured: by 28–77 %
# with seed 0, by at least 20 % with seeds 0–2)
LEARN = dict(SMALL, quick=False, preset="defaults", epochs=15, learning_rate=3e-3)
MIN_LOSS_DROP = 0.15  # the loss of the trained network must be at most (1 - this) × the untrained one's


@pytest.fixture(scope="module")
def faces(lfw):
    from deep_helpers import lfw_subset

    return lfw_subset(lfw, people=24, per_person=6, size=32, min_images=6)


def all_triplet_loss(net, images, labels, margin: float) -> float:
    """Mean hinge ``max(d(a,p) - d(a,n) + margin, 0)`` over every valid triplet of ``images``, on the
    L2-normalised embeddings of ``net`` run on them as one batch in training mode (batch statistics, as
    the optimiser sees them: BatchNorm's moving averages lag far behind 45 steps). Computed here in
    NumPy, independently of facelab's losses and miners, so the same yardstick serves every strategy."""
    import keras

    e = keras.ops.convert_to_numpy(net(images.astype(np.float32) / 255.0, training=True)).astype(np.float64)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    d = np.sqrt(np.maximum(((e[:, None] - e[None]) ** 2).sum(-1), 0.0))
    same = labels[:, None] == labels[None]
    valid = (same & ~np.eye(len(labels), dtype=bool))[:, :, None] & ~same[:, None, :]  # [a, p, n]
    return float(np.maximum(d[:, :, None] - d[:, None, :] + margin, 0.0)[valid].mean())


@pytest.mark.slow
@pytest.mark.parametrize("name", ["triplet-random", "triplet-offline-hard", "triplet-semi-hard"])
def test_training_paths_fit_embed_and_learn(faces, name, tmp_path):
    """Offline (random / re-mined each epoch) and online (P×K) paths, with mining statistics; training
    lowers the triplet loss of the training faces well below the untrained network's (exactly equal
    when nothing learns, e.g. a learning rate of 0)."""
    import keras

    x, y = faces
    m = methods.create(name, run_dir=str(tmp_path / "run"), **LEARN).fit(x, y)
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

    keras.utils.set_random_seed(m.seed)  # as fit() does before building: the network training started from
    untrained = m.build_backbone(x.shape[1:])
    kept_weights = m.backbone_.get_weights()  # a training-mode call updates BatchNorm's moving averages
    before = all_triplet_loss(untrained, x, y, m.margin)
    after = all_triplet_loss(m.backbone_, x, y, m.margin)
    m.backbone_.set_weights(kept_weights)
    assert after <= (1 - MIN_LOSS_DROP) * before, \
        f"{name} did not learn: triplet loss of the training faces {before:.4f} untrained, {after:.4f} trained"


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


def test_feature_bn_spreads_a_new_network_s_faces_over_the_sphere(faces):
    """A new network maps real faces nearly one way (the shared positive part of pooled ReLU maps);
    ``feature_bn`` centres the features over the batch, so hardest-triplet mining starts from spread faces."""
    import keras

    from facelab.nets.backbones import build_backbone

    x, _ = faces
    batch = x[:64].astype(np.float32) / 255.0

    def mean_cosine(**kwargs) -> float:
        keras.utils.set_random_seed(0)
        e = keras.ops.convert_to_numpy(build_backbone("small", x.shape[1:], 32, width=8, **kwargs)(batch, training=True))
        off_diagonal = ~np.eye(len(e), dtype=bool)
        return float((e @ e.T)[off_diagonal].mean())

    assert mean_cosine() > 0.7
    assert abs(mean_cosine(feature_bn=True)) < 0.1


def test_bad_arguments():
    from facelab.nets.triplet_method import TripletMethod

    with pytest.raises(ValueError, match="strategy must be one of"):
        TripletMethod(strategy="hardest")
    with pytest.raises(ValueError, match="margin must be > 0"):
        methods.create("triplet-batch-hard", margin=0.0)
    with pytest.raises(ValueError, match=r"pool_k .* got pool_k=1"):  # at construction, not after the data loads
        methods.create("triplet-offline-hard", pool_k=1)
    with pytest.raises(ValueError, match="pool_k"):
        methods.create("triplet-offline-hard", mining_pool=16, pool_k=9)
