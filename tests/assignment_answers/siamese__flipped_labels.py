"""Typical mistake: y = 1 read as 'different' (the flipped label convention)."""
from siamese import *  # noqa: F401,F403


def contrastive_loss(a, b, same, margin=1.0):
    d = euclidean_distance(a, b)
    y = np.asarray(same).astype(bool)
    return np.where(y, 0.5 * np.maximum(0, margin - d) ** 2, 0.5 * d ** 2)  # WRONG: branches swapped
