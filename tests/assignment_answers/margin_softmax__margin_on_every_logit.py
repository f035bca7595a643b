"""Typical mistake: the angular margin is added to every identity's angle, not only the true one's."""
from margin_softmax import *  # noqa: F401,F403


def arcface_logits(cosine, labels, scale, margin):
    cos = np.clip(np.asarray(cosine, dtype=float), -1.0, 1.0)
    theta = np.arccos(cos)
    psi = np.where(theta + margin <= np.pi, np.cos(theta + margin), cos - margin * np.sin(margin))
    return scale * psi  # WRONG: every column moved


def margin_softmax_loss(features, weights, labels, scale, margin):  # the loss on the functions above
    return softmax_cross_entropy(arcface_logits(cosine_logits(features, weights), labels, scale, margin), labels)
