"""Typical mistake: the margin term without max(0, ·) — far-apart different pairs are penalised."""
from siamese import *  # noqa: F401,F403


def contrastive_loss(a, b, same, margin=1.0):
    d = euclidean_distance(a, b)
    y = np.asarray(same).astype(bool)
    return np.where(y, 0.5 * d ** 2, 0.5 * (margin - d) ** 2)  # WRONG: no hinge
