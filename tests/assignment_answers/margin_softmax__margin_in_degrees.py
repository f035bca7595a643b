"""Typical mistake: the margin taken for degrees and converted, though it is given in radians."""
from margin_softmax import *  # noqa: F401,F403
from margin_softmax import arcface_logits as _right


def arcface_logits(cosine, labels, scale, margin):
    return _right(cosine, labels, scale, np.radians(margin))  # WRONG: 0.5 rad becomes 0.5°


def margin_softmax_loss(features, weights, labels, scale, margin):  # the loss on the functions above
    return softmax_cross_entropy(arcface_logits(cosine_logits(features, weights), labels, scale, margin), labels)
