"""Reference solution of the `evaluation` assignment (brute force, as a student might write it)."""
import numpy as np


def best_threshold(scores, same):
    ### YOUR CODE START ###
    scores = np.asarray(scores, dtype=float)
    same = np.asarray(same, dtype=bool)
    values = np.unique(scores)  # sorted distinct scores
    candidates = np.concatenate([[values[0] - 1.0], (values[:-1] + values[1:]) / 2, [values[-1] + 1.0]])
    accuracy = [np.mean((scores >= t) == same) for t in candidates]
    return float(candidates[int(np.argmax(accuracy))])
    ### YOUR CODE END ###


def fold_accuracies(scores, same, fold):
    ### YOUR CODE START ###
    scores, same, fold = np.asarray(scores, float), np.asarray(same, bool), np.asarray(fold)
    result = []
    for k in sorted(set(fold.tolist())):
        test = fold == k
        t = best_threshold(scores[~test], same[~test])
        result.append(np.mean((scores[test] >= t) == same[test]))
    return np.array(result)
    ### YOUR CODE END ###


def roc_auc(scores, same):
    ### YOUR CODE START ###
    scores, same = np.asarray(scores, float), np.asarray(same, bool)
    pos, neg = scores[same], scores[~same]
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError("AUC needs both same and different pairs")
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(wins / (len(pos) * len(neg)))
    ### YOUR CODE END ###
