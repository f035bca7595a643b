"""Typical mistake: the scale s forgotten — the softmax sees values in [−1, 1] only."""
from margin_softmax import *  # noqa: F401,F403
from margin_softmax import arcface_logits as _right


def arcface_logits(cosine, labels, scale, margin):
    return _right(cosine, labels, 1.0, margin)  # WRONG: no s


def margin_softmax_loss(features, weights, labels, scale, margin):  # the loss on the functions above
    return softmax_cross_entropy(arcface_logits(cosine_logits(features, weights), labels, scale, margin), labels)
