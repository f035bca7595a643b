"""Typical mistake: only the features are normalised — the identity weights keep their lengths."""
from margin_softmax import *  # noqa: F401,F403


def cosine_logits(features, weights):
    f = np.asarray(features, dtype=float)
    f = f / np.linalg.norm(f, axis=1, keepdims=True)
    return f @ np.asarray(weights, dtype=float).T  # WRONG: weights not L2-normalised


def margin_softmax_loss(features, weights, labels, scale, margin):  # the loss on the functions above
    return softmax_cross_entropy(arcface_logits(cosine_logits(features, weights), labels, scale, margin), labels)
