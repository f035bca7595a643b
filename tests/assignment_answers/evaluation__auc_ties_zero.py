"""Typical mistake: AUC counts a tie between a same and a different pair as a loss (0, not ½)."""
from evaluation import *  # noqa: F401,F403


def roc_auc(scores, same):
    scores, same = np.asarray(scores, float), np.asarray(same, bool)
    pos, neg = scores[same], scores[~same]
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError("AUC needs both classes")
    return float((pos[:, None] > neg[None, :]).mean())  # WRONG: ties ignored
