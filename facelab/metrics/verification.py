"""Verification numbers from pair scores (higher score = more likely the same person).

ROC and AUC come from :mod:`sklearn.metrics`; what is built on top (threshold that maximises
accuracy, EER, TAR at a FAR) is written here because the LFW protocol needs it exactly.
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve


def _check(scores, same):
    scores = np.asarray(scores, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    if scores.shape != same.shape or scores.ndim != 1:
        raise ValueError(f"scores {scores.shape} and same {same.shape} must be 1-D and equally long")
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"{int((~np.isfinite(scores)).sum())} pair score(s) are NaN or infinite")
    return scores, same


def best_threshold(scores, same) -> tuple[float, float]:
    """Threshold t maximising accuracy of "same ⇔ score ≥ t" on these pairs, and that accuracy.

    Candidates are every cut between distinct sorted scores (midpoints) plus both extremes,
    evaluated together with cumulative sums: O(n log n). Ties go to the lowest threshold.
    """
    scores, same = _check(scores, same)
    order = np.argsort(scores, kind="stable")
    s, y = scores[order], same[order]
    n = len(s)
    # cut i: predict "different" for s[:i], "same" for s[i:]  (i = 0..n)
    diff_below = np.concatenate([[0], np.cumsum(~y)])  # true negatives for cut i
    same_above = y.sum() - np.concatenate([[0], np.cumsum(y)])  # true positives for cut i
    correct = diff_below + same_above
    valid = np.ones(n + 1, dtype=bool)
    valid[1:n] = s[1:] > s[:-1]  # a cut inside a run of equal scores is not realisable
    correct = np.where(valid, correct, -1)
    i = int(np.argmax(correct))
    if i == 0:
        t = s[0] - 1.0
    elif i == n:
        t = s[-1] + 1.0
    else:
        t = 0.5 * (s[i - 1] + s[i])
    return float(t), float(correct[i] / n)


def accuracy_at(scores, same, threshold: float) -> float:
    scores, same = _check(scores, same)
    return float(np.mean((scores >= threshold) == same))


def roc(scores, same):
    """(FAR, TAR, thresholds) via ``sklearn.metrics.roc_curve``."""
    scores, same = _check(scores, same)
    far, tar, thr = roc_curve(same, scores)
    return far, tar, thr


def auc(scores, same) -> float:
    scores, same = _check(scores, same)
    return float(roc_auc_score(same, scores))


def eer(scores, same) -> float:
    """Equal error rate: where FAR = 1 − TAR on the ROC, linearly interpolated between points."""
    far, tar, _ = roc(scores, same)
    frr = 1.0 - tar
    d = far - frr  # increasing along the curve from −1 to +1
    k = int(np.searchsorted(d, 0.0))
    if k == 0:
        return float(far[0])
    x0, x1 = d[k - 1], d[k]
    w = 0.0 if x1 == x0 else (0.0 - x0) / (x1 - x0)
    return float(far[k - 1] + w * (far[k] - far[k - 1]))


def tar_at_far(scores, same, far_target: float) -> float:
    """Highest TAR over ROC points whose FAR ≤ ``far_target`` (no interpolation, no optimism)."""
    far, tar, _ = roc(scores, same)
    ok = far <= far_target + 1e-12
    return float(tar[ok].max()) if ok.any() else 0.0
