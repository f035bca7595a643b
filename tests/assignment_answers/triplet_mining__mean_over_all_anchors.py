"""Typical mistake: the mean runs over every anchor, so anchors with no valid positive count as 0."""
from triplet_mining import *  # noqa: F401,F403


def batch_hard_triplet_loss(emb, labels, margin=0.2):
    labels = np.asarray(labels)
    D = pairwise_distances(emb)
    pos = valid_positive_mask(labels)
    neg = labels[:, None] != labels[None, :]
    hardest_pos = np.max(np.where(pos, D, -np.inf), axis=1)  # -inf for an anchor without a positive → loss 0
    hardest_neg = np.min(np.where(neg, D, np.inf), axis=1)
    return float(np.mean(np.maximum(0.0, margin + hardest_pos - hardest_neg)))  # WRONG: mean over all anchors
