"""Pairwise distances between embeddings, written with ``keras.ops`` (TensorFlow and JAX backends).

A distance object is passed to miners and losses (the pytorch-metric-learning style), so
switching Euclidean for cosine is one argument. Every distance here is *smaller = closer*.

The formulas are those of tensorflow-addons 0.23 (``metric_learning.pairwise_distance`` and
``angular_distance``), so the tfa-compatible losses built on them reproduce tfa's values and
gradients. The Euclidean distance has a safe gradient at 0: ``d = sqrt(s)`` has an infinite
derivative at ``s = 0``, so where ``s <= 0`` the square root is taken of a harmless 1 and the
result replaced by 0 (tfa adds 1e-16 and multiplies by 0) — the value is 0 and the gradient is
exactly 0, not NaN.

    emb  # (batch, dim)
    d = EuclideanDistance()(emb)            # (batch, batch), zero diagonal
    d = CosineDistance()(emb)               # 1 - cos, tfa's "angular"
    d = get_distance("squared-L2")(x, y)    # (n, m) between two sets
"""
from __future__ import annotations

from typing import Callable, Union

from keras import ops

_L2_EPS = 1e-12  # tf.math.l2_normalize's epsilon on the squared norm


def l2_normalize(x, axis: int = -1):
    """``x / max(||x||, 1e-6)``, the formula of ``tf.math.l2_normalize`` (epsilon 1e-12 on ||x||²)."""
    square_sum = ops.sum(ops.square(x), axis=axis, keepdims=True)
    return x * ops.rsqrt(ops.maximum(square_sum, _L2_EPS))


class Distance:
    """Base class: ``distance(x)`` → ``(n, n)`` within a batch, ``distance(x, y)`` → ``(n, m)``.

    Args:
        normalize_embeddings: L2-normalise the rows first (distances on the unit sphere).
    """

    name = "distance"

    def __init__(self, normalize_embeddings: bool = False):
        self.normalize_embeddings = bool(normalize_embeddings)

    def __call__(self, x, y=None):
        x = ops.convert_to_tensor(x)
        if len(x.shape) != 2:
            raise ValueError(f"{self.name}: embeddings must be 2-D (batch, dim); got shape {tuple(x.shape)}")
        if y is not None:
            y = ops.convert_to_tensor(y)
            if len(y.shape) != 2 or (x.shape[1] is not None and y.shape[1] is not None and x.shape[1] != y.shape[1]):
                raise ValueError(f"{self.name}: second set must be 2-D with {x.shape[1]} columns; got {tuple(y.shape)}")
        if self.normalize_embeddings:
            x = l2_normalize(x, axis=1)
            y = None if y is None else l2_normalize(y, axis=1)
        return self.pairwise(x, y)

    def pairwise(self, x, y=None):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(normalize_embeddings={self.normalize_embeddings})"


class EuclideanDistance(Distance):
    """``||x_i - y_j||`` (or its square with ``squared=True``), via ``|x|² + |y|² - 2 x·y``.

    Within one batch the diagonal is set to exactly 0 (tfa ``pairwise_distance``), and the
    square root has a zero gradient where the distance is 0 (see module docstring).
    """

    def __init__(self, squared: bool = False, normalize_embeddings: bool = False):
        super().__init__(normalize_embeddings)
        self.squared = bool(squared)
        self.name = "squared-L2" if squared else "L2"

    def pairwise(self, x, y=None):
        same = y is None
        y = x if same else y
        sq = ops.add(ops.sum(ops.square(x), axis=1, keepdims=True),
                     ops.sum(ops.square(ops.transpose(y)), axis=0, keepdims=True))
        sq = sq - 2.0 * ops.matmul(x, ops.transpose(y))
        # tfa: max(sq, 0); sqrt(sq + [sq <= 0]·1e-16) · [sq > 0]; diagonal · 0. The same values and
        # gradients with two selects instead of six multiplies/casts (rounding can make sq < 0).
        positive = ops.greater(sq, 0.0)
        if same:
            positive = ops.logical_and(positive, ops.logical_not(ops.eye(ops.shape(x)[0], dtype="bool")))
        if self.squared:
            return ops.where(positive, sq, 0.0)
        return ops.where(positive, ops.sqrt(ops.where(positive, sq, 1.0)), 0.0)

    def __repr__(self) -> str:
        return f"EuclideanDistance(squared={self.squared}, normalize_embeddings={self.normalize_embeddings})"


class CosineDistance(Distance):
    """``1 - cos(x_i, y_j)``, clipped at 0 — tensorflow-addons calls this ``"angular"``.

    The rows are always L2-normalised (so ``normalize_embeddings`` changes nothing). Unlike the
    Euclidean distance the diagonal is not forced to 0: it is ``max(1 - |x̂|², 0)``, ~1e-7.
    """

    name = "angular"

    def __init__(self):
        super().__init__(normalize_embeddings=True)

    def pairwise(self, x, y=None):
        x = l2_normalize(x, axis=1)  # idempotent up to rounding; tfa normalises here
        y = x if y is None else l2_normalize(y, axis=1)
        return ops.maximum(1.0 - ops.matmul(x, ops.transpose(y)), 0.0)

    def __repr__(self) -> str:
        return "CosineDistance()"


class CallableDistance(Distance):
    """Wraps a user function ``f(embeddings) -> (batch, batch)`` (tfa's callable ``distance_metric``)."""

    name = "callable"

    def __init__(self, fn: Callable):
        super().__init__(False)
        self.fn = fn

    def __call__(self, x, y=None):
        if y is not None:
            raise ValueError("a callable distance_metric only computes distances within one batch")
        return self.fn(ops.convert_to_tensor(x))

    def __repr__(self) -> str:
        return f"CallableDistance({getattr(self.fn, '__name__', self.fn)!r})"


DistanceLike = Union[str, Callable, Distance, None]
_BY_NAME = {
    "l2": lambda: EuclideanDistance(),
    "euclidean": lambda: EuclideanDistance(),
    "squared-l2": lambda: EuclideanDistance(squared=True),
    "squared_euclidean": lambda: EuclideanDistance(squared=True),
    "angular": lambda: CosineDistance(),
    "cosine": lambda: CosineDistance(),
}


def get_distance(distance: DistanceLike = "L2") -> Distance:
    """A :class:`Distance` from tfa's names ``"L2"``, ``"squared-L2"``, ``"angular"`` (also
    ``"euclidean"``, ``"squared_euclidean"``, ``"cosine"``), a callable, or a Distance."""
    if distance is None:
        return EuclideanDistance()
    if isinstance(distance, Distance):
        return distance
    if isinstance(distance, str):
        key = distance.lower()
        if key not in _BY_NAME:
            raise ValueError(f"distance_metric {distance!r} is not one of 'L2', 'squared-L2', 'angular' "
                             "(or 'euclidean', 'squared_euclidean', 'cosine'), a callable or a Distance")
        return _BY_NAME[key]()
    if callable(distance):
        return CallableDistance(distance)
    raise TypeError(f"distance_metric must be a name, a callable or a Distance; got {type(distance).__name__}")
