"""facelab assignment, unit 1 — evaluating face verification.

Implement the three functions below between the ``### YOUR CODE START ###`` and
``### YOUR CODE END ###`` markers (NumPy only; no sklearn in your answer). Then:

    facelab assignment check evaluation --file evaluation.py     # autograder: score + hints
    facelab assignment run evaluation --file evaluation.py --quick  # your code on real LFW pairs

Convention everywhere: a pair score is a SIMILARITY (higher = more alike) and the decision is
"same person" ⇔ score ≥ threshold.
"""
import numpy as np


def best_threshold(scores, same):
    """The threshold that maximises verification accuracy on these (training) pairs.

    scores: float (n,) pair similarities; same: bool (n,), True for same-person pairs.
    Returns one float t such that accuracy = mean((scores >= t) == same) is as high as possible.

    Hint: after sorting, only cuts between two DISTINCT neighbouring scores (plus one below all
    and one above all) give different predictions; use the midpoint of the two scores. Tied scores
    cannot be separated by any threshold. O(n log n) with cumulative sums; O(n²) is fine too.
    """
    ### YOUR CODE START ###
    raise NotImplementedError
    ### YOUR CODE END ###


def fold_accuracies(scores, same, fold):
    """LFW View 2 protocol (Huang et al. 2007): 10-fold cross-validated accuracy.

    scores: float (n,); same: bool (n,); fold: int (n,) fold id of each pair (any integers).
    Returns float (k,): for each fold id k in sorted order, the accuracy on the pairs of fold k
    of the threshold chosen by ``best_threshold`` on the pairs of all OTHER folds.
    (Choosing the threshold on the test fold itself is optimistic — and not allowed.)
    """
    ### YOUR CODE START ###
    raise NotImplementedError
    ### YOUR CODE END ###


def roc_auc(scores, same):
    """Area under the ROC curve, by hand.

    AUC = P(score of a random same pair > score of a random different pair), ties counting ½
    (the Mann–Whitney form of the trapezoidal area). scores: float (n,); same: bool (n,).
    Returns a float in [0, 1]. Raise ValueError when ``same`` holds only one class (AUC is then
    undefined). Checked against sklearn.metrics.roc_auc_score to 1e-9.
    """
    ### YOUR CODE START ###
    raise NotImplementedError
    ### YOUR CODE END ###
