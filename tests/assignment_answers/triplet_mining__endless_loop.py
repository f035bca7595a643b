"""Typical mistake: a loop whose condition never changes."""
from triplet_mining import *  # noqa: F401,F403
import triplet_mining as _correct


def pairwise_distances(emb):
    i = 0
    while i < len(emb):  # WRONG: i is never increased
        pass
    return _correct.pairwise_distances(emb)
