"""Drop-in replacements for tensorflow-addons' ``TripletSemiHardLoss`` and ``TripletHardLoss``
(tensorflow-addons does not import under Keras 3), in ``keras.ops``.

Same arguments (``margin``, ``distance_metric`` = "L2" | "squared-L2" | "angular" | callable,
``soft``), same values and gradients as tensorflow-addons 0.23 — proven on every case of
``tfa_triplet_reference.json`` (tests/test_triplet_tfa.py) — built from facelab's pieces:
tfa's semi-hard loss is :class:`~facelab.miners.online.SemiHardMiner` + hinge + mean over the
positive pairs; its hard loss is :class:`~facelab.miners.online.BatchHardMiner` + hinge (or
soft margin) + mean over all anchors.

Defined results where tensorflow-addons has quirks:

- **No positive pair in the batch** (every label distinct): tfa's semi-hard loss divides 0 by 0
  and returns NaN; :func:`triplet_semihard_loss` returns **0 with zero gradient**.
  :func:`triplet_hard_loss` keeps tfa's value there: an anchor without a positive counts with
  ``d(a,p) = 0`` (itself), i.e. ``max(margin - d(a, nearest negative), 0)``.
- **No negative** (one identity): both follow tfa (semi-hard: ``margin + d(a,p)``, hard: ``margin``).
- ``margin <= 0`` raises ``ValueError`` (unless ``soft=True``, where the margin is not used).
- ``soft=True`` uses ``softplus``, equal to tfa's ``log1p(exp(x))`` but finite for x > 88.
"""
from __future__ import annotations

import keras
from keras import ops

from facelab.losses.distances import DistanceLike, get_distance
from facelab.losses.reducers import MeanReducer
from facelab.losses.triplet import check_margin, margin_loss, triplet_distances
from facelab.miners.base import as_embeddings, as_labels, pair_masks
from facelab.miners.online import BatchHardMiner, SemiHardMiner


def _prepare(y_true, y_pred):
    embeddings = as_embeddings(y_pred, what="y_pred (embeddings)")
    labels = as_labels(y_true, embeddings.shape[0], what="y_true (labels)")
    low_precision = keras.backend.standardize_dtype(embeddings.dtype) in ("float16", "bfloat16")
    return labels, (ops.cast(embeddings, "float32") if low_precision else embeddings), embeddings.dtype


def triplet_semihard_loss(y_true, y_pred, margin: float = 1.0, distance_metric: DistanceLike = "L2"):
    """FaceNet semi-hard triplet loss (Schroff et al. 2015, Eq. 1 with §3.2's semi-hard
    negatives), mean over all ordered positive pairs; tensorflow-addons semantics.

    Returns 0 (zero gradient) for a batch without any positive pair, where tfa returns NaN.
    """
    margin = check_margin(margin)
    labels, emb, dtype = _prepare(y_true, y_pred)
    dist = get_distance(distance_metric)(emb)
    triplets = SemiHardMiner().mine(ops.stop_gradient(dist), labels)
    d_ap, d_an, _ = triplet_distances(dist, triplets)
    positive, _ = pair_masks(labels)
    loss = MeanReducer()(margin_loss(d_ap, d_an, margin), ops.reshape(positive, (-1,)))
    return ops.cast(loss, dtype)


def triplet_hard_loss(y_true, y_pred, margin: float = 1.0, soft: bool = False, distance_metric: DistanceLike = "L2"):
    """Batch-hard triplet loss (Hermans et al. 2017, Eq. 5; soft margin §2), mean over all
    anchors; tensorflow-addons semantics (anchors without positive count with d(a,p) = 0)."""
    margin = check_margin(margin, soft)
    labels, emb, dtype = _prepare(y_true, y_pred)
    dist = get_distance(distance_metric)(emb)
    triplets = BatchHardMiner().mine(ops.stop_gradient(dist), labels)
    d_ap, d_an, _ = triplet_distances(dist, triplets)
    return ops.cast(ops.mean(margin_loss(d_ap, d_an, margin, soft)), dtype)


class TripletSemiHardLoss(keras.losses.Loss):
    """Keras loss wrapping :func:`triplet_semihard_loss` (``y_true`` = labels, ``y_pred`` = embeddings)."""

    def __init__(self, margin: float = 1.0, distance_metric: DistanceLike = "L2", name: str = "triplet_semihard_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.margin = check_margin(margin)
        self.distance_metric = distance_metric
        get_distance(distance_metric)  # fail now on a bad name

    def call(self, y_true, y_pred):
        return triplet_semihard_loss(y_true, y_pred, self.margin, self.distance_metric)

    def get_config(self) -> dict:
        return {**super().get_config(), "margin": self.margin, "distance_metric": self.distance_metric}


class TripletHardLoss(keras.losses.Loss):
    """Keras loss wrapping :func:`triplet_hard_loss` (``y_true`` = labels, ``y_pred`` = embeddings)."""

    def __init__(self, margin: float = 1.0, soft: bool = False, distance_metric: DistanceLike = "L2",
                 name: str = "triplet_hard_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.soft = bool(soft)
        self.margin = check_margin(margin, self.soft)
        self.distance_metric = distance_metric
        get_distance(distance_metric)

    def call(self, y_true, y_pred):
        return triplet_hard_loss(y_true, y_pred, self.margin, self.soft, self.distance_metric)

    def get_config(self) -> dict:
        return {**super().get_config(), "margin": self.margin, "soft": self.soft, "distance_metric": self.distance_metric}
