"""Typical mistake: the fast distance formula without clipping — NaN where round-off goes below 0."""
from triplet_mining import *  # noqa: F401,F403


def pairwise_distances(emb):
    emb = np.asarray(emb, dtype=float)
    sq = np.sum(emb ** 2, axis=1)
    return np.sqrt(sq[:, None] + sq[None, :] - 2.0 * emb @ emb.T)  # WRONG: no clip, no exact diagonal
