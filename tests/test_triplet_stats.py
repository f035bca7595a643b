"""Mining statistics against a brute-force count over all (a, p, n); the collapse warning fires on
collapsed embeddings and not on spread ones; the Keras callback logs TensorBoard scalars in fit
(on real LFW faces)."""
from __future__ import annotations

import warnings
from pathlib import Path

import keras
import numpy as np
import pytest

import triplet_numpy as bf
from deep_helpers import lfw_subset
from facelab.miners.stats import (STAT_NAMES, CollapseWarning, TripletStatsCallback, TripletStatsLogger,
                                  history_table, is_collapsed, triplet_statistics)


@pytest.mark.parametrize("case", ["random-L2", "random-angular", "ties-squared-L2", "ties-L2"])
def test_statistics_match_brute_force(case):
    kind, metric = case.split("-", 1)
    rng = np.random.default_rng(11)
    labels = bf.pk_labels(4, 4, rng)
    emb = bf.tie_heavy(16, seed=4) if kind == "ties" else rng.normal(size=(16, 5)).astype(np.float32)
    # integer ties: d_an == d_ap and d_an == d_ap + m both occur (squared distances are integers)
    margin = {"random": 0.4, "ties": 2.0 if metric == "squared-L2" else 1.0}[kind]
    stats = triplet_statistics(emb, labels, margin, metric)
    counts, d = bf.regions(emb, labels, margin, metric)
    total = sum(counts.values())
    assert stats["num_triplets"] == total
    for region in ("hard", "semihard", "easy"):
        assert stats[f"frac_{region}"] == pytest.approx(counts[region] / total, abs=1e-12), region
    assert stats["frac_active"] == pytest.approx((counts["hard"] + counts["semihard"]) / total)
    same = labels[:, None] == labels[None, :]
    assert stats["mean_pos_dist"] == pytest.approx(d[same & ~np.eye(16, dtype=bool)].mean(), abs=1e-5)
    assert stats["mean_neg_dist"] == pytest.approx(d[~same].mean(), abs=1e-5)
    assert stats["spread"] == pytest.approx(np.sqrt(((emb - emb.mean(0)) ** 2).sum(1).mean()), rel=1e-6)
    if kind == "ties":
        assert counts["hard"] and counts["semihard"] and counts["easy"]


def test_collapse_detection_and_warning():
    rng = np.random.default_rng(0)
    labels = bf.pk_labels(4, 4, rng)
    spread = rng.normal(size=(16, 8))
    point = rng.normal(size=8) * 3
    collapsed = point + 1e-5 * rng.normal(size=(16, 8))
    assert is_collapsed(collapsed) and is_collapsed(np.zeros((16, 8))) and not is_collapsed(spread)
    logger = TripletStatsLogger(margin=0.2)
    with pytest.warns(CollapseWarning, match="collapsed to one point"):
        assert logger.update(0, collapsed, labels)["collapsed"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", CollapseWarning)
        assert not logger.update(1, spread, labels)["collapsed"]
    table = history_table(logger.history)
    assert table["step"].tolist() == [0, 1] and table["collapsed"].tolist() == [True, False]
    with pytest.raises(ValueError, match="no positive pair"):
        triplet_statistics(spread, np.arange(16))


@pytest.fixture(scope="module")
def faces(lfw):
    """Four LFW people × four faces, 16×16 grey, flattened to [0, 1]: 16 real faces, one P×K batch."""
    images, labels = lfw_subset(lfw, people=4, per_person=4, size=16)
    return images.reshape(len(images), -1).astype(np.float32) / 255.0, labels


def _read_scalars(log_dir: Path) -> dict:
    import tensorflow as tf

    tags = {}
    for event_file in log_dir.rglob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(event_file)):
            for value in event.summary.value:
                tags.setdefault(value.tag, []).append(event.step)
    return tags


def test_callback_logs_tensorboard_scalars_in_fit(faces, tmp_path):
    from facelab.losses.triplet import MinedTripletLoss
    from facelab.miners.online import BatchHardMiner

    x, y = faces
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(8)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss=MinedTripletLoss(BatchHardMiner()))
    callback = TripletStatsCallback(x, y, margin=0.2, log_dir=tmp_path / "tb", every_n_batches=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CollapseWarning)  # a random projection of faces is spread out
        history = model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[callback])
    assert len(history.history["triplet_frac_hard"]) == 2
    assert len(callback.history) == 4  # 2 batches (1 per epoch) + 2 epoch ends
    expect = triplet_statistics(np.asarray(model(x)), y, 0.2)
    assert history.history["triplet_frac_hard"][-1] == pytest.approx(expect["frac_hard"])
    tags = _read_scalars(tmp_path / "tb")
    for name in STAT_NAMES:
        assert f"triplet/{name}" in tags, name


def test_logger_without_tensorflow_keeps_its_history_and_writes_no_event_file(faces, tmp_path, monkeypatch):
    """On a JAX-only GPU machine tf.summary does not exist: the logger says so once, at construction,
    keeps computing and remembering the statistics, and touches nothing under log_dir."""
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "tensorflow" else find_spec(name, *a))
    x, y = faces
    with pytest.warns(UserWarning, match="no TensorFlow, so no TensorBoard scalars"):
        logger = TripletStatsLogger(margin=0.2, log_dir=str(tmp_path / "logs"))
    first = logger.update(3, x, y)
    assert first == triplet_statistics(x.astype(np.float64), y, 0.2) | {"collapsed": False}
    assert [row["step"] for row in logger.history] == [3] and not (tmp_path / "logs").exists()


def test_callback_warns_on_collapsed_model(faces):
    x, y = faces
    model = keras.Sequential([keras.Input((x.shape[1],)),
                              keras.layers.Dense(8, kernel_initializer="zeros", bias_initializer="ones")])
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    with pytest.warns(CollapseWarning):
        model.fit(x, np.zeros((len(x), 8)), batch_size=16, epochs=1, verbose=0,
                  callbacks=[TripletStatsCallback(x, y)])
