"""Typical mistake: squared distances."""
from triplet_mining import *  # noqa: F401,F403
import triplet_mining as _correct


def pairwise_distances(emb):
    return _correct.pairwise_distances(emb) ** 2  # WRONG: squared


def batch_hard_triplet_loss(emb, labels, margin=0.2):
    labels = np.asarray(labels)
    D = pairwise_distances(emb)
    pos = valid_positive_mask(labels)
    neg = labels[:, None] != labels[None, :]
    ok = pos.any(axis=1) & neg.any(axis=1)
    if not ok.any():
        return 0.0
    per = np.maximum(0.0, margin + np.where(pos, D, -np.inf).max(1) - np.where(neg, D, np.inf).min(1))
    return float(per[ok].mean())
