"""facelab assignment, unit 3 — the margin softmax (ArcFace, Deng et al. 2019).

A softmax over the training identities separates them, but does not ask a face to be much closer
to its own identity than to the next. ArcFace puts features and identity weights on the unit
sphere, so a logit is the cosine of an angle, and adds a margin m to the true identity's angle.

Implement the functions below between the ``### YOUR CODE START ###`` and
``### YOUR CODE END ###`` markers (NumPy only, no Python loops needed). Then:

    facelab assignment check margin-softmax --file margin_softmax.py
    facelab assignment run margin-softmax --file margin_softmax.py --quick
"""
import numpy as np


def cosine_logits(features, weights):
    """cos θ_ij between face i and identity j: both vectors L2-normalised, then their dot product.

    features: float (n, d), one face per row, of any length. weights: float (C, d), one identity's
    weight vector per ROW, of any length. Returns float (n, C) with entries in [−1, 1]:

        cos θ_ij = f_i · w_j / (‖f_i‖ ‖w_j‖)
    """
    ### YOUR CODE START ###
    raise NotImplementedError
    ### YOUR CODE END ###


def arcface_logits(cosine, labels, scale, margin):
    """The logits of ArcFace (Deng et al. 2019, eq. 3): row i's true identity y = labels[i] gets its
    angle moved by the margin, every other identity keeps its cosine, and all are multiplied by s:

        logit_iy = s · ψ(θ_iy),   logit_ij = s · cos θ_ij   (j ≠ y)

        ψ(θ) = cos(θ + m)         if θ + m ≤ π
        ψ(θ) = cos θ − m · sin m  otherwise (the safe form: past π, cos(θ + m) would grow again
                                   and reward a worse angle)

    with θ = arccos(cos θ). The margin m is in RADIANS (0.5 rad ≈ 28.6°), as np.cos expects.
    cosine: float (n, C) from cosine_logits — round-off can put a value a hair above 1 or below −1,
    so clip to [−1, 1] before np.arccos. labels: int (n,) in [0, C). scale: s > 0. margin: m ≥ 0.
    Returns float (n, C).
    """
    ### YOUR CODE START ###
    raise NotImplementedError
    ### YOUR CODE END ###


def margin_softmax_loss(features, weights, labels, scale, margin):
    """ArcFace's loss: the mean over the n faces of the softmax cross-entropy of the margin logits,

        L = (1/n) Σ_i −log( exp(logit_iy) / Σ_j exp(logit_ij) ),
        logits = arcface_logits(cosine_logits(features, weights), labels, scale, margin).

    Use your two functions above. Subtract each row's largest logit before np.exp: the softmax does
    not change, and np.exp cannot overflow. Returns one float.
    """
    ### YOUR CODE START ###
    raise NotImplementedError
    ### YOUR CODE END ###
