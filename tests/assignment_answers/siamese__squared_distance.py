"""Typical mistake: 'distance' returned squared (and so the hinge uses d²)."""
from siamese import *  # noqa: F401,F403


def euclidean_distance(a, b):
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    return np.sum(diff * diff, axis=1)  # WRONG: no square root


def contrastive_loss(a, b, same, margin=1.0):
    d2 = euclidean_distance(a, b)
    y = np.asarray(same).astype(bool)
    return np.where(y, 0.5 * d2, 0.5 * np.maximum(0, margin - d2) ** 2)
