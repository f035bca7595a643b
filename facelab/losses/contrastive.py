"""Pair losses for Siamese training. Label convention, everywhere in facelab: ``same = 1`` means the
two images show the SAME person, ``same = 0`` different people.

(keras-io's Siamese contrastive example long had it the other way round: there ``y = 1`` meant
*different*, so its "margin" term pulled same-person pairs apart. Check the convention before
reusing a loss from elsewhere.)
"""
from __future__ import annotations

import keras
from keras import ops


def pair_distance(fa, fb, epsilon: float = 1e-12):
    """Euclidean distance ‖fa − fb‖₂ per pair, ``(batch,)``; ε keeps the gradient finite at 0."""
    sq = ops.sum(ops.square(ops.cast(fa, "float32") - ops.cast(fb, "float32")), axis=-1)
    return ops.sqrt(ops.maximum(sq, epsilon))


def contrastive_per_pair(fa, fb, same, margin: float = 1.0):
    """DeepID2 verification loss, Sun et al. 2014, Eq. (5) (after Hadsell, Chopra & LeCun 2006):

        same = 1:  ½ ‖fa − fb‖²
        same = 0:  ½ max(0, m − ‖fa − fb‖)²

    Returns the loss of every pair ``(batch,)``.
    """
    same = ops.cast(ops.reshape(same, (-1,)), "float32")
    d = pair_distance(fa, fb)
    sq = ops.sum(ops.square(ops.cast(fa, "float32") - ops.cast(fb, "float32")), axis=-1)  # exact d² for positives
    return 0.5 * same * sq + 0.5 * (1.0 - same) * ops.square(ops.maximum(margin - d, 0.0))


@keras.saving.register_keras_serializable(package="facelab")
class ContrastiveLoss(keras.losses.Loss):
    """Mean :func:`contrastive_per_pair` over a batch, as a Keras loss.

    ``y_true``: ``same`` (batch,) with 1 = SAME person. ``y_pred``: the two embeddings stacked,
    ``(batch, 2, dim)`` (what :func:`facelab.nets.siamese.stack_pair` outputs).
    """

    def __init__(self, margin: float = 1.0, name: str = "contrastive", **kwargs):
        super().__init__(name=name, **kwargs)
        if margin <= 0:
            raise ValueError(f"margin must be positive, got {margin}")
        self.margin = margin

    def call(self, y_true, y_pred):
        return contrastive_per_pair(y_pred[:, 0], y_pred[:, 1], y_true, self.margin)

    def get_config(self):
        return {**super().get_config(), "margin": self.margin}
