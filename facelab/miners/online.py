"""Online (in-batch) triplet miners for P×K batches, in ``keras.ops``.

Each returns fixed-size triplets (see :mod:`facelab.miners.base`), so the strategy is one
argument of the training loop, not a new loss:

- :class:`BatchAllMiner` — every valid ``(a, p, n)`` (Hermans et al. 2017, "batch all"), as a mask;
- :class:`BatchHardMiner` — per anchor the farthest positive and the nearest negative
  (Hermans, Beyer & Leibe 2017, "In Defense of the Triplet Loss", Eq. 5);
- :class:`SemiHardMiner` — per positive pair the nearest negative farther than the positive,
  ``d(a,p) < d(a,n)`` (Schroff et al. 2015, FaceNet, Eq. 4), as tensorflow-addons does it;
- :class:`EasyPositiveMiner` — per anchor the *nearest* positive and the nearest negative
  (Xuan, Stylianou & Pless 2020, "Improved Embeddings with Easy Positive Triplet Mining");
- :class:`DistanceWeightedMiner` — per positive pair one negative drawn with probability
  ∝ 1/q(d), the inverse density of distances on the unit sphere (Wu et al. 2017, "Sampling
  Matters in Deep Embedding Learning", Eq. 3-4).
"""
from __future__ import annotations

import keras
from keras import ops

from facelab.losses.distances import EuclideanDistance
from facelab.miners.base import (IndexTriplets, OnlineMiner, TripletMask, as_embeddings, as_labels, pair_masks,
                                 require_positive_pairs)

_INF = float("inf")


def _arg_reduce(name: str, x, axis=1):
    """``ops.argmax`` / ``ops.argmin`` (``name``), but TensorFlow's own under the TensorFlow backend:
    Keras' version first maps −0.0 to −tiny with six extra full-matrix ops (jax#24280,
    flush-to-zero), which for a row of distances can only change which of several exact zeros is
    picked, never the chosen value. Batch-hard makes four arg-reductions per step, so those extra
    ops were a visible share of its loss + gradient time (benchmarks/bench_triplet.py)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return getattr(tf.math, name)(x, axis=axis, output_type="int32")
    return getattr(ops, name)(x, axis=axis)


def _argmax(x, axis=1):
    return _arg_reduce("argmax", x, axis)


def _argmin(x, axis=1):
    return _arg_reduce("argmin", x, axis)


def _masked_argmax(dist, mask, axis=1):
    return _argmax(ops.where(mask, dist, -_INF), axis=axis)


def _masked_argmin(dist, mask, axis=1):
    return _argmin(ops.where(mask, dist, _INF), axis=axis)


def _per_anchor(positive, negative, weight):
    anchor = ops.arange(ops.shape(weight)[0], dtype=positive.dtype)
    return IndexTriplets(anchor, positive, ops.cast(negative, positive.dtype), ops.cast(weight, "float32"), per_anchor=True)


def _per_pair(negative, weight):
    """Triplet ``t = a·B + p`` for every ordered pair ``(a, p)``: anchors/positives from the grid."""
    b = ops.shape(weight)[0]
    grid = ops.arange(b, dtype=negative.dtype)
    anchor = ops.reshape(ops.repeat(ops.expand_dims(grid, 1), b, axis=1), (-1,))
    positive = ops.reshape(ops.repeat(ops.expand_dims(grid, 0), b, axis=0), (-1,))
    return IndexTriplets(anchor, positive, ops.reshape(negative, (-1,)), ops.reshape(ops.cast(weight, "float32"), (-1,)))


class BatchAllMiner(OnlineMiner):
    """Every genuine triplet of the batch, as a ``(B, B, B)`` mask. Pair it with
    :class:`~facelab.losses.reducers.AvgNonZeroReducer` for Hermans et al.'s batch-all loss
    (mean over the triplets with positive loss)."""

    def mine(self, dist, labels):
        positive, negative = pair_masks(labels)
        mask = ops.logical_and(ops.expand_dims(positive, 2), ops.expand_dims(negative, 1))
        return TripletMask(ops.cast(mask, "float32"))


class BatchHardMiner(OnlineMiner):
    """Per anchor: the farthest positive and the nearest negative (one triplet per anchor).

    An anchor without a positive gets the nearest entry of its row (itself: d = 0), one without
    a negative the farthest; their ``weight`` is 0 (tensorflow-addons counts them, see
    :func:`facelab.losses.tfa.triplet_hard_loss`).
    """

    def mine(self, dist, labels):
        positive, negative = pair_masks(labels)
        has_pos, has_neg = ops.any(positive, axis=1), ops.any(negative, axis=1)
        p = ops.where(has_pos, _masked_argmax(dist, positive), _argmin(dist, axis=1))
        n = ops.where(has_neg, _masked_argmin(dist, negative), _argmax(dist, axis=1))
        return _per_anchor(p, n, ops.logical_and(has_pos, has_neg))


class EasyPositiveMiner(OnlineMiner):
    """Per anchor: the *nearest* positive and the nearest negative (Xuan et al. 2020, EPHN).

    Pulling only the easiest positive lets a class keep several modes (a face seen frontal and
    in profile) instead of forcing every positive into one tight cluster.
    """

    def mine(self, dist, labels):
        positive, negative = pair_masks(labels)
        has_pos, has_neg = ops.any(positive, axis=1), ops.any(negative, axis=1)
        p = ops.where(has_pos, _masked_argmin(dist, positive), _argmin(dist, axis=1))
        n = ops.where(has_neg, _masked_argmin(dist, negative), _argmax(dist, axis=1))
        return _per_anchor(p, n, ops.logical_and(has_pos, has_neg))


class SemiHardMiner(OnlineMiner):
    """Per positive pair ``(a, p)``: the nearest negative with ``d(a,n) > d(a,p)`` (FaceNet's
    semi-hard negative; those beyond ``d(a,p) + margin`` give zero loss anyway). If no negative
    is farther than the positive, the farthest negative (the least hard); with no negative at
    all, the nearest entry of the row — exactly tensorflow-addons' rule.

    Returns ``B·B`` triplets, ``t = a·B + p``; ``weight`` marks genuine positive pairs whose
    anchor has a negative. Each anchor's negatives are sorted once and every positive distance
    is located among them (``searchsorted``): O(B² log B), where tfa compares all B³ triplets.
    """

    def mine(self, dist, labels):
        positive, negative = pair_masks(labels)
        b = ops.shape(dist)[0]
        neg_dist = ops.where(negative, dist, _INF)  # (a, n): non-negatives sort last
        order = ops.cast(ops.argsort(neg_dist, axis=1), "int32")
        sorted_neg = ops.take_along_axis(neg_dist, order, axis=1)
        # first sorted negative strictly farther than d(a, p), per (a, p)
        first = ops.vectorized_map(lambda row: ops.searchsorted(row[0], row[1], side="right"), (sorted_neg, dist))
        first = ops.cast(first, "int32")
        num_neg = ops.sum(ops.cast(negative, "int32"), axis=1, keepdims=True)
        n_semi = ops.take_along_axis(order, ops.minimum(first, b - 1), axis=1)  # (a, p)
        has_neg = ops.any(negative, axis=1)
        n_far = ops.where(has_neg, _masked_argmax(dist, negative), _argmin(dist, axis=1))  # (a,)
        n = ops.where(ops.less(first, num_neg), n_semi, ops.expand_dims(ops.cast(n_far, "int32"), 1))
        return _per_pair(n, ops.logical_and(positive, ops.expand_dims(has_neg, 1)))


class DistanceWeightedMiner(OnlineMiner):
    """Per positive pair, one negative drawn with probability ∝ min(λ, 1/q(d)), where
    ``q(d) ∝ d^(n-2) (1 - d²/4)^((n-3)/2)`` is the density of distances between random points
    on the unit sphere in ``n`` dimensions (Wu et al. 2017, Eq. 3-4). Distances are clipped
    below at ``cutoff`` (which bounds the weights, λ); negatives at ``d >= nonzero_loss_cutoff``
    (zero loss for any sensible margin) are not drawn. If an anchor has no such negative, one
    is drawn uniformly from all of its negatives.

    Embeddings are L2-normalised first (the density assumes the unit sphere).

    Args:
        cutoff: lower clip of d (paper: 0.5).
        nonzero_loss_cutoff: negatives this far or farther are never drawn (paper: 1.4).
        seed: int seed of a :class:`keras.random.SeedGenerator` (each call draws anew).
    """

    needs_dim = True  # mine() takes the embedding dimension

    def __init__(self, cutoff: float = 0.5, nonzero_loss_cutoff: float = 1.4, seed: int | None = 0):
        super().__init__(EuclideanDistance(normalize_embeddings=True))
        if not 0 < cutoff < nonzero_loss_cutoff <= 2:
            raise ValueError(f"need 0 < cutoff < nonzero_loss_cutoff <= 2; got {cutoff}, {nonzero_loss_cutoff}")
        self.cutoff, self.nonzero_loss_cutoff, self.seed = float(cutoff), float(nonzero_loss_cutoff), seed
        self._seed = keras.random.SeedGenerator(seed)

    def __call__(self, embeddings, labels):
        embeddings = as_embeddings(embeddings)
        labels = as_labels(labels, embeddings.shape[0])
        require_positive_pairs(labels, type(self).__name__)
        return self.mine(self.distance(ops.stop_gradient(embeddings)), labels, dim=embeddings.shape[1])

    def log_weights(self, dist, labels, dim: int):
        """Unnormalised log-probabilities ``(B, B)`` of drawing each negative; -inf = never."""
        if dim is None or dim < 4:
            raise ValueError(f"distance-weighted sampling needs embedding dimension >= 4; got {dim}")
        _, negative = pair_masks(labels)
        d = ops.maximum(dist, self.cutoff)
        log_q = (dim - 2.0) * ops.log(d) + ((dim - 3.0) / 2.0) * ops.log(ops.maximum(1.0 - 0.25 * ops.square(d), 1e-8))
        inside = ops.logical_and(negative, ops.less(dist, self.nonzero_loss_cutoff))
        has_inside = ops.any(inside, axis=1, keepdims=True)
        support = ops.where(has_inside, inside, negative)
        log_w = ops.where(has_inside, -log_q, ops.zeros_like(log_q))  # uniform fallback
        log_w = ops.where(support, log_w, -_INF)
        row_max = ops.max(ops.where(support, log_w, -1e30), axis=1, keepdims=True)
        return log_w - ops.stop_gradient(row_max)

    def probabilities(self, dist, labels, dim: int):
        """``(B, B)`` row-stochastic probabilities of drawing negative n for anchor a (0 rows
        for anchors without negatives)."""
        w = ops.exp(self.log_weights(dist, labels, dim))
        return w / ops.maximum(ops.sum(w, axis=1, keepdims=True), 1e-30)

    def mine(self, dist, labels, dim: int = None):
        positive, negative = pair_masks(labels)
        has_neg = ops.any(negative, axis=1)
        logits = self.log_weights(dist, labels, dim)
        logits = ops.where(ops.expand_dims(has_neg, 1), logits, ops.zeros_like(logits))  # keep rows drawable
        b = ops.shape(dist)[0]
        n = keras.random.categorical(logits, b, seed=self._seed)  # (a, p): one draw per pair
        return _per_pair(n, ops.logical_and(positive, ops.expand_dims(has_neg, 1)))

    def params(self) -> dict:
        return {"miner": "DistanceWeightedMiner", "cutoff": self.cutoff,
                "nonzero_loss_cutoff": self.nonzero_loss_cutoff, "seed": self.seed}

