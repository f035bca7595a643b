"""facelab assignment, unit 3 — Siamese networks and the DeepID2 verification loss.

Implement the functions below between the ``### YOUR CODE START ###`` and
``### YOUR CODE END ###`` markers (NumPy only). Then:

    facelab assignment check siamese --file siamese.py
    facelab assignment run siamese --file siamese.py --quick
"""
import numpy as np


def euclidean_distance(a, b):
    """Row-wise Euclidean (L2, NOT squared) distance d_i = ‖a_i − b_i‖₂.

    a, b: float (n, d). Returns float (n,). A pair of identical rows must give 0 (not NaN).
    """
    ### YOUR CODE START ###
    raise NotImplementedError
    ### YOUR CODE END ###


def contrastive_loss(a, b, same, margin=1.0):
    """Per-pair verification loss of DeepID2 (Sun, Wang & Tang 2014), label y = 1 for the SAME person:

        L_i = ½ d_i²                      if same_i   (pull together)
        L_i = ½ max(0, margin − d_i)²     otherwise   (push apart until the margin)

    with d_i = euclidean_distance(a_i, b_i). a, b: float (n, d); same: (n,) bool or 0/1 ints.
    Returns float (n,) — one loss per pair (the training step averages them).
    """
    ### YOUR CODE START ###
    raise NotImplementedError
    ### YOUR CODE END ###
