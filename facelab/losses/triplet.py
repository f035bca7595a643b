"""The triplet margin loss: embeddings + labels + mined triplets → per-triplet losses → reducer.

    miner = BatchHardMiner("L2")                     # or SemiHardMiner, BatchAllMiner, ...
    loss_fn = TripletMarginLoss(margin=0.2, distance="L2", reducer="mean")
    loss = loss_fn(emb, labels, miner(emb, labels))   # batch-hard vs semi-hard is one argument

    model.compile(loss=MinedTripletLoss(SemiHardMiner(), TripletMarginLoss(0.2)))  # in Keras

Per triplet, FaceNet's hinge (Schroff et al. 2015, Eq. 1)
``max(d(a,p) - d(a,n) + margin, 0)``, or with ``soft=True`` the soft margin
``log(1 + exp(d(a,p) - d(a,n)))`` (Hermans, Beyer & Leibe 2017, §2: no margin to tune; the
margin argument is then ignored, as in tensorflow-addons).
"""
from __future__ import annotations

import numbers

import keras
from keras import ops

from facelab.losses.distances import Distance, DistanceLike, get_distance
from facelab.losses.reducers import AvgNonZeroReducer, active_fraction, get_reducer, per_replica
from facelab.miners.base import (IndexTriplets, OnlineMiner, TripletMask, as_embeddings, as_labels,
                                 require_positive_pairs)
from facelab.miners.online import BatchAllMiner


def check_margin(margin, soft: bool = False, what: str = "margin") -> float | object:
    """A hinge margin must be > 0: with margin <= 0 collapsing every embedding to one point is
    already a minimum (all distances 0 give loss max(margin, 0) = 0). Ignored when ``soft``."""
    if soft:
        return margin
    if isinstance(margin, bool) or not isinstance(margin, numbers.Real):
        if hasattr(margin, "shape"):  # a tensor: checked by the caller's graph, not here
            return margin
        raise TypeError(f"{what} must be a positive number; got {type(margin).__name__}")
    if not margin > 0:
        raise ValueError(f"{what} must be > 0 for the hinge loss (got {margin}): with margin <= 0 every embedding "
                         "collapsing to one point already gives zero loss. Use soft=True for a margin-free loss.")
    return float(margin)


def _gather_pairs(dist, rows, cols):
    b = ops.shape(dist)[0]
    flat = ops.cast(rows, "int32") * ops.cast(b, "int32") + ops.cast(cols, "int32")
    return ops.take(ops.reshape(dist, (-1,)), flat)


def triplet_distances(dist, triplets):
    """``(d_ap, d_an, weight)`` of the triplets, gathered from the ``(B, B)`` distance matrix
    (the gradient flows only into the chosen entries)."""
    if isinstance(triplets, IndexTriplets) and triplets.per_anchor:
        d_ap = ops.take_along_axis(dist, ops.expand_dims(triplets.positive, 1), axis=1)[:, 0]
        d_an = ops.take_along_axis(dist, ops.expand_dims(triplets.negative, 1), axis=1)[:, 0]
        return d_ap, d_an, ops.cast(triplets.weight, dist.dtype)
    if isinstance(triplets, IndexTriplets):
        d_ap = _gather_pairs(dist, triplets.anchor, triplets.positive)
        d_an = _gather_pairs(dist, triplets.anchor, triplets.negative)
        return d_ap, d_an, ops.cast(triplets.weight, dist.dtype)
    if isinstance(triplets, TripletMask):
        return ops.expand_dims(dist, 2), ops.expand_dims(dist, 1), ops.cast(triplets.mask, dist.dtype)
    raise TypeError(f"triplets must be IndexTriplets or TripletMask (from a miner); got {type(triplets).__name__}")


def margin_loss(d_ap, d_an, margin, soft: bool = False):
    """``max(margin + (d_ap - d_an), 0)`` or, soft, ``log(1 + exp(d_ap - d_an))``."""
    diff = d_ap - d_an
    return ops.softplus(diff) if soft else ops.maximum(margin + diff, 0.0)


class TripletMarginLoss:
    """Triplet margin loss over mined triplets.

    Args:
        margin: hinge margin (> 0; ignored when ``soft``).
        distance: a :class:`~facelab.losses.distances.Distance` or a name ("L2", "squared-L2", "angular").
        soft: soft margin ``log(1 + exp(d_ap - d_an))`` instead of the hinge.
        reducer: "mean" (default), "avg_nonzero" (batch-all), "sum", or a callable.

    ``loss(embeddings, labels, triplets=None)``: without triplets, every triplet of the batch
    (batch-all). A batch without any genuine triplet gives 0 with zero gradient.
    """

    def __init__(self, margin: float = 0.2, distance: DistanceLike = "L2", soft: bool = False, reducer=None):
        self.soft = bool(soft)
        self.margin = check_margin(margin, self.soft)
        self.distance: Distance = get_distance(distance)
        self.reducer = get_reducer(reducer)

    def losses(self, dist, triplets):
        """Per-triplet losses and weights from a precomputed distance matrix."""
        d_ap, d_an, weight = triplet_distances(dist, triplets)
        return margin_loss(d_ap, d_an, self.margin, self.soft), weight

    def compute(self, embeddings, labels, triplets=None) -> dict:
        """``{"loss", "active_fraction", "num_triplets"}`` (the fraction of genuine triplets with loss > 0)."""
        embeddings = as_embeddings(embeddings)
        labels = as_labels(labels, embeddings.shape[0])
        dist = self.distance(embeddings)
        if triplets is None:
            triplets = BatchAllMiner(self.distance).mine(dist, labels)
        losses, weight = self.losses(dist, triplets)
        return {"loss": self.reducer(losses, weight), "active_fraction": active_fraction(losses, weight),
                "num_triplets": ops.sum(weight)}

    def __call__(self, embeddings, labels, triplets=None):
        return self.compute(embeddings, labels, triplets)["loss"]

    def params(self) -> dict:
        return {"margin": self.margin, "soft": self.soft, "distance": self.distance.name,
                "reducer": getattr(self.reducer, "name", type(self.reducer).__name__)}


class MinedTripletLoss(keras.losses.Loss):
    """A Keras loss ``(y_true=labels, y_pred=embeddings)`` that mines then applies a
    :class:`TripletMarginLoss` — for ``model.compile(loss=...)``. The distance matrix is computed
    once; the miner sees it without gradient. A batch without a positive pair raises (miners
    that need positives; see :data:`facelab.miners.base.NO_POSITIVE_HELP`)."""

    def __init__(self, miner: OnlineMiner, loss: TripletMarginLoss | None = None, name: str = "mined_triplet_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.miner = miner
        self.triplet_loss = loss or TripletMarginLoss()
        if isinstance(miner, BatchAllMiner) and loss is None:
            self.triplet_loss.reducer = AvgNonZeroReducer()

    def call(self, y_true, y_pred):
        embeddings = as_embeddings(y_pred)
        labels = as_labels(y_true, embeddings.shape[0])
        if self.miner.needs_positives:
            require_positive_pairs(labels, type(self.miner).__name__)
        dist = self.triplet_loss.distance(embeddings)
        same_distance = repr(self.miner.distance) == repr(self.triplet_loss.distance)
        mined_on = ops.stop_gradient(dist) if same_distance else self.miner.distance(ops.stop_gradient(embeddings))
        if self.miner.needs_dim:  # distance-weighted sampling
            triplets = self.miner.mine(mined_on, labels, dim=embeddings.shape[1])
        else:
            triplets = self.miner.mine(mined_on, labels)
        losses, weight = self.triplet_loss.losses(dist, triplets)
        return per_replica(self.triplet_loss.reducer(losses, weight))

    def get_config(self) -> dict:
        return {**super().get_config(), **self.triplet_loss.params(), **self.miner.params()}
