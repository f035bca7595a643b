"""Margin-based softmax: the identification loss of every modern face recogniser.

DeepID's softmax separates the training identities; it does not ask a face to be much closer to its
own identity than to the next one. The margin losses do, on the unit sphere: the features f and
each identity's weight vector W_j are L2-normalised, so a logit is cos θ_j, the cosine of the angle
between the face and identity j, and the true identity y must win by a margin before the scaled
softmax is satisfied:

- SphereFace / A-softmax (Liu et al. 2017, eq. 6–7): ψ(θ_y) = (−1)^k cos(mθ_y) − 2k for θ_y in
  [kπ/m, (k+1)π/m], an integer m multiplying the angle (monotone in θ over [0, π]);
- CosFace / AM-softmax (Wang et al. 2018, eq. 4; Wang, Cheng et al. 2018): cos θ_y − m;
- ArcFace (Deng et al. 2019, eq. 3): cos(θ_y + m), an additive angular margin. Past θ_y + m > π
  cos(θ + m) would grow again and reward a worse angle, so there it continues as cos θ_y − m·sin m
  (the usual form, insightface's), which starts below cos(θ + m)'s −1: the target logit keeps
  falling as θ_y grows, with a step down of about m²/2 at θ_y = π − m.

All take the logit scale s (the radius of the sphere the softmax sees) and the margin m, and the
loss is the cross-entropy of s · [ψ(θ_y) for y, cos θ_j elsewhere]. Written with ``keras.ops`` (both
backends) in float32 whatever the precision policy; sin θ = √(1 − cos²θ) and arccos are kept away
from their infinite slopes at cos θ = ±1. ``tests/test_margin_losses.py`` checks values and gradients
against a brute-force NumPy reference (``tests/margin_numpy.py``).
"""
from __future__ import annotations

import math

import keras
from keras import ops

MARGINS = ("arcface", "cosface", "sphereface")
_EDGE = 1e-6  # cos θ is kept within [−1 + _EDGE, 1 − _EDGE] where a slope is infinite at ±1


def target_logit(cosine, kind: str, margin: float):
    """ψ(θ) for every entry of ``cosine`` (cos θ): the true identity's cosine with the margin applied."""
    if kind == "cosface":
        return cosine - margin
    if kind == "arcface":
        sine = ops.sqrt(ops.clip(1.0 - ops.square(cosine), _EDGE, 1.0))
        moved = cosine * math.cos(margin) - sine * math.sin(margin)  # cos(θ + m)
        return ops.where(cosine > math.cos(math.pi - margin), moved, cosine - margin * math.sin(margin))
    if kind == "sphereface":
        theta = ops.arccos(ops.clip(cosine, -1.0 + _EDGE, 1.0 - _EDGE))
        k = ops.floor(margin * theta / math.pi)
        sign = 1.0 - 2.0 * ops.mod(k, 2.0)  # (−1)^k
        return sign * ops.cos(margin * theta) - 2.0 * k
    raise ValueError(f"margin kind must be one of {', '.join(MARGINS)}; got {kind!r}")


def margin_logits(cosine, labels, kind: str, scale: float, margin: float):
    """s · ψ(θ_y) on each row's label, s · cos θ_j on the other identities: the logits of a margin softmax."""
    cosine = ops.clip(ops.cast(cosine, "float32"), -1.0, 1.0)
    is_target = ops.one_hot(ops.cast(ops.reshape(labels, (-1,)), "int32"), ops.shape(cosine)[-1]) > 0.5
    return scale * ops.where(is_target, target_logit(cosine, kind, margin), cosine)


def check_margin(kind: str, scale: float, margin: float) -> None:
    """The settings a margin softmax can train with; a wrong one is an error naming it."""
    if kind not in MARGINS:
        raise ValueError(f"margin kind must be one of {', '.join(MARGINS)}; got {kind!r}")
    if not scale > 0:
        raise ValueError(f"scale (s, the radius of the sphere) must be > 0; got {scale}")
    if kind == "sphereface":
        if margin < 1 or float(margin) != int(margin):
            raise ValueError(f"SphereFace multiplies the angle by an integer margin m ≥ 1; got {margin}")
    elif not 0 <= margin < (1.0 if kind == "cosface" else math.pi / 2):
        limit = "1" if kind == "cosface" else "π/2 (radians, not degrees)"
        raise ValueError(f"{kind} margin m must be in [0, {limit}); got {margin}")


@keras.saving.register_keras_serializable(package="facelab")
class MarginSoftmaxLoss(keras.losses.Loss):
    """Cross-entropy of :func:`margin_logits`: ``y_true`` integer identities, ``y_pred`` the cosines
    cos θ_j of a :class:`~facelab.nets.heads.CosineClassifier`."""

    def __init__(self, kind: str = "arcface", scale: float = 30.0, margin: float = 0.5, name: str | None = None,
                 **kwargs):
        check_margin(kind, scale, margin)
        super().__init__(name=name or f"{kind}_loss", **kwargs)
        self.kind, self.scale, self.margin = kind, float(scale), float(margin)

    def call(self, y_true, y_pred):
        logits = margin_logits(y_pred, y_true, self.kind, self.scale, self.margin)
        return keras.losses.sparse_categorical_crossentropy(ops.reshape(y_true, (-1,)), logits, from_logits=True)

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "scale": self.scale, "margin": self.margin}
