"""Typical mistake: the 10-fold threshold is chosen on the test fold itself."""
from evaluation import *  # noqa: F401,F403 — the correct functions
from evaluation import best_threshold


def fold_accuracies(scores, same, fold):
    scores, same, fold = np.asarray(scores, float), np.asarray(same, bool), np.asarray(fold)
    result = []
    for k in sorted(set(fold.tolist())):
        test = fold == k
        t = best_threshold(scores[test], same[test])  # WRONG: tuned on the pairs it is tested on
        result.append(np.mean((scores[test] >= t) == same[test]))
    return np.array(result)
