"""Typical mistake: θ computed in degrees, then cos(θ + m) with m in radians."""
from margin_softmax import *  # noqa: F401,F403


def arcface_logits(cosine, labels, scale, margin):
    cos = np.asarray(cosine, dtype=float)
    rows, labels = np.arange(len(cos)), np.asarray(labels, dtype=int)
    cos_y = np.clip(cos[rows, labels], -1.0, 1.0)
    theta = np.degrees(np.arccos(cos_y))  # WRONG: degrees, then np.cos below reads them as radians
    psi = np.where(theta + margin <= 180.0, np.cos(theta + margin), cos_y - margin * np.sin(margin))
    logits = cos.copy()
    logits[rows, labels] = psi
    return scale * logits


def margin_softmax_loss(features, weights, labels, scale, margin):  # the loss on the functions above
    return softmax_cross_entropy(arcface_logits(cosine_logits(features, weights), labels, scale, margin), labels)
