"""facelab assignment, unit 4 — the triplet loss with batch-hard mining.

Implement the functions below between the ``### YOUR CODE START ###`` and
``### YOUR CODE END ###`` markers (NumPy only, no Python loops needed). Then:

    facelab assignment check triplet-mining --file triplet_mining.py
    facelab assignment run triplet-mining --file triplet_mining.py --quick
"""
import numpy as np


def pairwise_distances(emb):
    """All-pairs Euclidean (L2, NOT squared) distances.

    emb: float (n, d). Returns float (n, n) with D[i, j] = ‖emb_i − emb_j‖₂, an exact-zero
    diagonal and no NaN: the fast form ‖a‖² + ‖b‖² − 2a·b can dip below 0 by round-off, so clip
    at 0 before the square root.
    """
    ### YOUR CODE START ###
    raise NotImplementedError
    ### YOUR CODE END ###


def valid_positive_mask(labels):
    """bool (n, n): M[i, j] = True ⇔ labels[i] == labels[j] and i ≠ j.

    An anchor is never its own positive (the distance 0 to itself would make every anchor look
    easy). labels: int (n,), any values.
    """
    ### YOUR CODE START ###
    raise NotImplementedError
    ### YOUR CODE END ###


def batch_hard_triplet_loss(emb, labels, margin=0.2):
    """Batch-hard triplet loss (Hermans, Beyer & Leibe 2017, eq. 5), Euclidean distance D:

        L_a = max(0, margin + max_{p valid positive of a} D(a, p) − min_{n: label ≠ label_a} D(a, n))

    Returns the mean of L_a over the anchors that have at least one valid positive AND at least
    one negative, as a float; 0.0 if no anchor qualifies (a batch of one identity, or of
    singletons). Use your two functions above.
    """
    ### YOUR CODE START ###
    raise NotImplementedError
    ### YOUR CODE END ###
