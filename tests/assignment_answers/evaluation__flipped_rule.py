"""Typical mistake: treats scores as distances (same ⇔ score < t)."""
from evaluation import *  # noqa: F401,F403


def best_threshold(scores, same):
    scores, same = np.asarray(scores, float), np.asarray(same, bool)
    values = np.unique(scores)
    candidates = np.concatenate([[values[0] - 1.0], (values[:-1] + values[1:]) / 2, [values[-1] + 1.0]])
    accuracy = [np.mean((scores < t) == same) for t in candidates]  # WRONG direction
    return float(candidates[int(np.argmax(accuracy))])
