"""facelab assignment, unit 2 — classical face descriptors: LBP codes and PCA (eigenfaces).

Implement the functions below between the ``### YOUR CODE START ###`` and
``### YOUR CODE END ###`` markers (NumPy only: no skimage/sklearn in your answer). Then:

    facelab assignment check classical --file classical.py
    facelab assignment run classical --file classical.py --quick
"""
import numpy as np


def lbp_codes(image, P=8, R=1.0):
    """Local binary pattern codes LBP_{P,R} (Ojala, Pietikäinen & Mäenpää 2002, eq. 9).

        LBP(r, c) = Σ_{p=0}^{P-1} s(g_p − g_c) · 2^p,   s(x) = 1 if x ≥ 0 else 0

    g_c is the centre pixel; g_p is the grey value on the circle of radius R at angle 2πp/P,
    at row r − R·sin(2πp/P), column c + R·cos(2πp/P) (p = 0 to the right, p = 2 above: rows grow
    downwards). Points off the pixel grid are BILINEARLY interpolated from their 4 neighbours.
    Round the offsets to 5 decimals (so points on the grid are exact) and treat
    g_p − g_c ≥ −1e-6 as "≥" (interpolation round-off on flat patches).

    image: (h, w) uint8 or float grey image. Returns int (h − 2m, w − 2m), m = ceil(R): codes of
    the pixels whose whole circle lies inside the image. Convert to float before subtracting
    (uint8 arithmetic wraps around).
    """
    ### YOUR CODE START ###
    raise NotImplementedError
    ### YOUR CODE END ###


def pca_fit(X, n_components):
    """Principal component analysis via the SVD (Turk & Pentland 1991, eigenfaces).

    X: float (n, d), one sample per row. Centre the data, X − μ = U S Vᵀ, and keep the first
    ``n_components`` rows of Vᵀ (largest singular values first).
    Returns (mean (d,), components (n_components, d)) with orthonormal rows. Components are
    compared up to sign. Works when n < d (more pixels than faces): use full_matrices=False.
    """
    ### YOUR CODE START ###
    raise NotImplementedError
    ### YOUR CODE END ###


def pca_transform(X, mean, components):
    """Coordinates of X in the principal subspace: (X − mean) · componentsᵀ, shape (n, k)."""
    ### YOUR CODE START ###
    raise NotImplementedError
    ### YOUR CODE END ###
