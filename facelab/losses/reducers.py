"""Reducers: per-triplet losses ``(T,)`` and weights ``(T,)`` → one scalar (pytorch-metric-learning style).

Every reducer gives 0 with a zero gradient when there is nothing to average (no genuine
triplet, or none with positive loss), never NaN.
"""
from __future__ import annotations

import keras
from keras import ops


def replicas_in_sync() -> int:
    """Replicas of the TensorFlow distribution strategy in scope: 1 without one, and under JAX (whose
    step is one program over the whole batch)."""
    if keras.backend.backend() != "tensorflow":
        return 1
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync if tf.distribute.has_strategy() else 1


def per_replica(loss):
    """A loss its ``call`` already reduced to one number, divided by the TensorFlow replicas in sync.

    Several replicas (``tf.distribute.MirroredStrategy``) each compute the loss of their slice and their
    gradients are summed; Keras divides the losses it reduces itself by the replica count, but returns a
    scalar from ``call`` as it is. Unchanged on one device and under JAX."""
    replicas = replicas_in_sync()
    return loss if replicas == 1 else loss / replicas


def _flat(x):
    return ops.reshape(x, (-1,))


class MeanReducer:
    """Mean over the genuine triplets (weight > 0), zero-loss ones included (FaceNet, batch-hard)."""

    name = "mean"

    def __call__(self, losses, weights):
        losses, weights = _flat(losses), ops.cast(_flat(weights), losses.dtype)
        count = ops.sum(weights)
        return ops.sum(losses * weights) / ops.maximum(count, 1.0)


class AvgNonZeroReducer:
    """Mean over the genuine triplets whose loss is > 0 (Hermans et al. 2017, batch-all: "averaging
    over the non-zero terms"); the easy triplets would otherwise dilute the gradient to nothing."""

    name = "avg_nonzero"

    def __call__(self, losses, weights):
        losses, weights = _flat(losses), ops.cast(_flat(weights), losses.dtype)
        active = ops.cast(ops.greater(losses * weights, 0.0), losses.dtype)
        return ops.sum(losses * weights) / ops.maximum(ops.sum(active), 1.0)


class SumReducer:
    """Sum over the genuine triplets."""

    name = "sum"

    def __call__(self, losses, weights):
        losses, weights = _flat(losses), ops.cast(_flat(weights), losses.dtype)
        return ops.sum(losses * weights)


def active_fraction(losses, weights):
    """Fraction of the genuine triplets with loss > 0 (0 when there is none) — batch-all reports it."""
    losses, weights = _flat(losses), ops.cast(_flat(weights), losses.dtype)
    active = ops.sum(ops.cast(ops.greater(losses * weights, 0.0), losses.dtype))
    return active / ops.maximum(ops.sum(weights), 1.0)


_REDUCERS = {"mean": MeanReducer, "avg_nonzero": AvgNonZeroReducer, "sum": SumReducer}


def get_reducer(reducer) -> object:
    if reducer is None:
        return MeanReducer()
    if isinstance(reducer, str):
        if reducer not in _REDUCERS:
            raise ValueError(f"reducer {reducer!r} is not one of {sorted(_REDUCERS)}")
        return _REDUCERS[reducer]()
    if callable(reducer):
        return reducer
    raise TypeError(f"reducer must be a name or a callable (losses, weights) -> scalar; got {type(reducer).__name__}")
