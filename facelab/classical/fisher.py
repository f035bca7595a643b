"""Fisherfaces: PCA to n − c dimensions, then Fisher's linear discriminant (Belhumeur et al. 1997).

With n training images of c people, the within-class scatter S_W (rank ≤ n − c) is singular in
pixel space. Belhumeur, Hespanha & Kriegman (1997, §2.3, eq. 5–6) first project with PCA to
n − c dimensions, where S_W is invertible, then keep the c − 1 directions maximising
``|Wᵀ S_B W| / |Wᵀ S_W W|``: the generalised eigenproblem ``S_B w = λ S_W w``.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg

from .pca import PCA, check_matrix, check_matrix_and_labels


def scatter_matrices(Z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Between-class S_B = Σ_i N_i (μ_i − μ)(μ_i − μ)ᵀ and within-class S_W = Σ_i Σ_x∈i (x − μ_i)(x − μ_i)ᵀ."""
    _, inv, counts = np.unique(y, return_inverse=True, return_counts=True)
    sums = np.zeros((len(counts), Z.shape[1]))
    np.add.at(sums, inv, Z)
    means = sums / counts[:, None]
    mu = Z.mean(0)
    dm = (means - mu) * np.sqrt(counts)[:, None]
    s_b = dm.T @ dm
    within = Z - means[inv]
    s_w = within.T @ within
    return s_b, s_w


class FisherLDA:
    """Fisherfaces (Belhumeur et al. 1997): ``W_optᵀ = W_fldᵀ W_pcaᵀ``.

    n_components: discriminant directions kept (default c − 1, capped by the PCA dimension).
    pca_components: PCA dimension before LDA; None = n − c as in the paper (capped by the rank).
    reg: ridge added to S_W as a fraction of its mean eigenvalue (0 = the paper).
    Fitted: ``mean_`` (d,), ``components_`` (k, d), ``eigenvalues_`` (k,) = the Fisher ratios,
    ``pca_`` (the PCA stage), ``n_classes_``.
    """

    def __init__(self, n_components: int | None = None, *, pca_components: int | None = None, reg: float = 0.0,
                 whiten_pca: bool = False):
        self.n_components = n_components
        self.pca_components = pca_components
        self.reg = reg
        self.whiten_pca = whiten_pca

    def fit(self, X, y) -> "FisherLDA":
        X, y = check_matrix_and_labels(X, y)
        n, d = X.shape
        c = len(np.unique(y))
        if c < 2:
            raise ValueError(f"Fisherfaces need at least 2 classes; y holds {c}")
        if n - c < 1:
            raise ValueError(f"Fisherfaces need more images than classes to estimate the within-class "
                             f"scatter; got {n} images of {c} classes")
        m = self.pca_components if self.pca_components is not None else n - c
        m = min(m, n - c, d)  # S_W has rank n − c at most: more PCA axes would make it singular
        self.pca_ = PCA(m, whiten=self.whiten_pca).fit(X)
        Z = self.pca_.transform(X)
        s_b, s_w = scatter_matrices(Z, y)
        if self.reg:
            s_w = s_w + self.reg * np.trace(s_w) / len(s_w) * np.eye(len(s_w))
        k = self.n_components if self.n_components is not None else c - 1
        if not 1 <= k:
            raise ValueError(f"n_components must be at least 1; got {k}")
        k = min(k, m, c - 1)
        # generalised symmetric problem S_B w = λ S_W w; eigh normalises wᵀ S_W w = 1
        lam, w = scipy.linalg.eigh(s_b, s_w, subset_by_index=[m - k, m - 1])
        lam, w = lam[::-1], w[:, ::-1]
        self.eigenvalues_ = lam
        self.lda_scalings_ = w  # (m, k) in PCA coordinates
        self.mean_ = self.pca_.mean_
        scale = 1.0 / np.sqrt(self.pca_.explained_variance_) if self.whiten_pca else 1.0
        self.components_ = (w * (scale if np.isscalar(scale) else scale[:, None])).T @ self.pca_.components_
        self.n_components_ = k
        self.n_classes_ = c
        return self

    def transform(self, X) -> np.ndarray:
        if not hasattr(self, "components_"):
            raise RuntimeError("this FisherLDA is not fitted yet: call fit(X, y) first")
        X = check_matrix(X, "X")
        if X.shape[1] != self.mean_.shape[0]:
            raise ValueError(f"X has {X.shape[1]} features; this model was fitted on {self.mean_.shape[0]}")
        return (X - self.mean_) @ self.components_.T

    def fit_transform(self, X, y) -> np.ndarray:
        return self.fit(X, y).transform(X)
