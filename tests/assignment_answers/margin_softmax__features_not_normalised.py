"""Typical mistake: only the identity weights are normalised — the logit is f · ŵ, not cos θ."""
from margin_softmax import *  # noqa: F401,F403


def cosine_logits(features, weights):
    w = np.asarray(weights, dtype=float)
    w = w / np.linalg.norm(w, axis=1, keepdims=True)
    return np.asarray(features, dtype=float) @ w.T  # WRONG: features not L2-normalised


def margin_softmax_loss(features, weights, labels, scale, margin):  # the loss on the functions above
    return softmax_cross_entropy(arcface_logits(cosine_logits(features, weights), labels, scale, margin), labels)
