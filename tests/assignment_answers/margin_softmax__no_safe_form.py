"""Typical mistake: cos(θ + m) everywhere, also past θ + m > π, where it grows again."""
from margin_softmax import *  # noqa: F401,F403


def arcface_logits(cosine, labels, scale, margin):
    cos = np.asarray(cosine, dtype=float)
    rows, labels = np.arange(len(cos)), np.asarray(labels, dtype=int)
    theta = np.arccos(np.clip(cos[rows, labels], -1.0, 1.0))
    logits = cos.copy()
    logits[rows, labels] = np.cos(theta + margin)  # WRONG: no safe form past π − m
    return scale * logits


def margin_softmax_loss(features, weights, labels, scale, margin):  # the loss on the functions above
    return softmax_cross_entropy(arcface_logits(cosine_logits(features, weights), labels, scale, margin), labels)
