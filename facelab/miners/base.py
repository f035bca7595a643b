"""What a miner returns, label checks, and the base class of the online (in-batch) miners.

A miner looks at a batch's distances and labels and returns *which* triplets to train on; the
loss (:mod:`facelab.losses.triplet`) turns them into numbers. Two forms, as in
pytorch-metric-learning:

- :class:`IndexTriplets` — index vectors ``anchor, positive, negative`` (T,) and a ``weight``
  (T,) that is 1 for a genuine triplet and 0 for padding (a fixed T keeps shapes static, so the
  same code runs in a TensorFlow graph and under JAX);
- :class:`TripletMask` — a ``(B, B, B)`` mask over every ``[a, p, n]`` (batch-all).
"""
from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from keras import ops

from facelab.losses.distances import Distance, DistanceLike, get_distance

NO_POSITIVE_HELP = (
    "the batch holds no positive pair (no two embeddings share a label), so no triplet "
    "(anchor, positive, negative) exists. Sample batches P×K: P identities with K >= 2 images "
    "each (facelab.data.samplers), so every anchor has K-1 positives and (P-1)·K negatives."
)


@dataclass
class IndexTriplets:
    """Triplets as index vectors into the batch; ``weight`` is 1 for a genuine triplet
    (``label[a] == label[p]``, ``a != p``, ``label[n] != label[a]``), 0 for padding."""

    anchor: object  # (T,) int
    positive: object  # (T,) int
    negative: object  # (T,) int
    weight: object  # (T,) float
    per_anchor: bool = False  # anchor == arange(B): one triplet per anchor (row gathers suffice)

    def numpy(self) -> np.ndarray:
        """The genuine triplets as a ``(t, 3)`` NumPy array (eager only; for tests and plots)."""
        a, p, n, w = (np.asarray(ops.convert_to_numpy(v)) for v in (self.anchor, self.positive, self.negative, self.weight))
        keep = w > 0
        return np.stack([a[keep], p[keep], n[keep]], axis=1).astype(np.int64)


@dataclass
class TripletMask:
    """Every triplet of the batch: ``mask[a, p, n]`` is 1 for a genuine triplet, else 0."""

    mask: object  # (B, B, B) float

    def numpy(self) -> np.ndarray:
        return np.argwhere(np.asarray(ops.convert_to_numpy(self.mask)) > 0).astype(np.int64)


def _dtype_name(x) -> str | None:
    if not hasattr(x, "dtype"):
        return None
    try:
        return keras.backend.standardize_dtype(x.dtype)
    except (ValueError, TypeError):  # strings, objects
        return str(x.dtype)


def as_labels(labels, batch_size=None, what: str = "labels"):
    """Labels as a 1-D tensor: shape ``(B,)`` or ``(B, 1)`` (Keras passes the latter), integer
    dtype or float holding identity numbers (Keras casts ``y_true`` to float); else a clear error."""
    if isinstance(labels, (list, tuple)):
        labels = np.asarray(labels)
    dtype = _dtype_name(labels)
    if dtype is None or not (dtype.startswith(("int", "uint", "float", "bfloat"))):
        raise TypeError(f"{what} must be integer identity labels (or floats holding them); got dtype {dtype}")
    labels = ops.convert_to_tensor(labels)
    shape = tuple(labels.shape)
    if len(shape) == 2 and shape[1] == 1:
        labels = ops.reshape(labels, (-1,))
    elif len(shape) != 1:
        raise ValueError(f"{what} must have shape (batch,) or (batch, 1); got {shape}")
    n = labels.shape[0]
    if batch_size is not None and n is not None and n != batch_size:
        raise ValueError(f"{what} hold {n} entries but the batch has {batch_size} embeddings")
    return labels


def as_embeddings(embeddings, what: str = "embeddings"):
    embeddings = ops.convert_to_tensor(embeddings)
    if len(embeddings.shape) != 2:
        raise ValueError(f"{what} must be 2-D (batch, dim); got shape {tuple(embeddings.shape)}")
    if not keras.backend.standardize_dtype(embeddings.dtype).startswith(("float", "bfloat")):
        raise TypeError(f"{what} must be floating point; got dtype {embeddings.dtype}")
    return embeddings


def pair_masks(labels):
    """``(positive, negative)`` boolean ``(B, B)``: same label and not the anchor itself / other label."""
    same = ops.equal(ops.expand_dims(labels, 1), ops.expand_dims(labels, 0))
    not_self = ops.logical_not(ops.cast(ops.eye(ops.shape(labels)[0]), "bool"))
    return ops.logical_and(same, not_self), ops.logical_not(same)


def _concrete(x):
    """The NumPy value of ``x`` when it has one now (eager), else None (inside a graph or a jit)."""
    backend = keras.backend.backend()
    if isinstance(x, np.ndarray):
        return x
    if backend == "tensorflow":
        import tensorflow as tf

        if not tf.executing_eagerly():
            return None
    elif backend == "jax":
        import jax

        tracer = getattr(jax.core, "Tracer", None)  # newer JAX may move it; conversion below fails then
        if tracer is not None and isinstance(x, tracer):
            return None
    try:
        return np.asarray(ops.convert_to_numpy(x))
    except Exception:  # a symbolic tensor of some other backend
        return None


def require_positive_pairs(labels, who: str):
    """Raise (eagerly) or assert (TensorFlow graph) that some two labels are equal.

    Under a JAX jit there is no way to raise on a value; there the miners return no genuine
    triplet and the losses give 0 with zero gradient.
    """
    value = _concrete(labels)
    if value is not None:
        value = value.reshape(-1)
        if len(np.unique(value)) == len(value):
            raise ValueError(f"{who}: {NO_POSITIVE_HELP}")
        return
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        positive, _ = pair_masks(labels)
        tf.debugging.assert_greater(tf.reduce_sum(tf.cast(positive, tf.int32)), 0, message=f"{who}: {NO_POSITIVE_HELP}")


class OnlineMiner:
    """Base class of the in-batch miners: ``miner(embeddings, labels)`` → triplets.

    The distances are computed on ``stop_gradient(embeddings)``: mining chooses indices, it is
    not differentiated. :meth:`mine` works on a precomputed distance matrix (the combined loss
    computes it once and shares it).

    Args:
        distance: a :class:`~facelab.losses.distances.Distance` or a name (``"L2"``, ...).
    """

    needs_positives = True
    needs_dim = False  # True: mine(dist, labels, dim=embedding dimension)

    def __init__(self, distance: DistanceLike = "L2"):
        self.distance: Distance = get_distance(distance)

    def __call__(self, embeddings, labels):
        embeddings = as_embeddings(embeddings)
        labels = as_labels(labels, embeddings.shape[0])
        if self.needs_positives:
            require_positive_pairs(labels, type(self).__name__)
        return self.mine(self.distance(ops.stop_gradient(embeddings)), labels)

    def mine(self, dist, labels):  # pragma: no cover - abstract
        raise NotImplementedError

    def params(self) -> dict:
        return {"miner": type(self).__name__, "distance": self.distance.name}
