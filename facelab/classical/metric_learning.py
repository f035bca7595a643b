"""Learned verification metrics on top of any features: Joint Bayesian, and PCA-whitening + LDA.

Joint Bayesian (Chen, Cao, Wang, Wen & Sun, ECCV 2012, "Bayesian Face Revisited: A Joint
Formulation") models a face feature as ``x = μ + ε``: an identity part μ ~ N(0, S_μ) shared by all
images of a person and a within-person variation ε ~ N(0, S_ε). Two faces are scored by the log
likelihood ratio of "same person" versus "different people" (eq. 4-5):

    r(x₁, x₂) = x₁ᵀ A x₁ + x₂ᵀ A x₂ − 2 x₁ᵀ G x₂,
    A = (S_μ + S_ε)⁻¹ − (F + G),  [[F + G, G], [G, F + G]] = [[S_μ+S_ε, S_μ], [S_μ, S_μ+S_ε]]⁻¹,

which is twice the log ratio up to a constant. S_μ and S_ε are learned by EM (§3.2), which
uses the closed forms F = S_ε⁻¹ and G = −(m S_μ + S_ε)⁻¹ S_μ S_ε⁻¹ for a person with m images.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg

from ..metrics.distances import Similarity
from .pca import check_matrix_and_labels


def _sym(m):
    return (m + m.T) / 2


def _inv_spd(m):
    """Inverse of a symmetric positive definite matrix through its Cholesky factor."""
    c = scipy.linalg.cho_factor(m, lower=True)
    return _sym(scipy.linalg.cho_solve(c, np.eye(len(m))))


class JointBayesian:
    """Joint Bayesian verification model (Chen et al. 2012), EM-trained.

    n_iter / tol: EM iterations and the relative change of S_μ, S_ε at which it stops.
    Fitted: ``mean_`` (d,), ``S_mu_``, ``S_eps_`` (d, d), ``A_``, ``G_`` (d, d), ``n_iter_``.
    """

    def __init__(self, n_iter: int = 30, tol: float = 1e-4):
        self.n_iter = n_iter
        self.tol = tol

    def fit(self, X, y) -> "JointBayesian":
        X, y = check_matrix_and_labels(X, y)
        _, inv, counts = np.unique(y, return_inverse=True, return_counts=True)
        if (counts >= 2).sum() < 2:
            raise ValueError("Joint Bayesian needs at least 2 identities with 2 or more images each "
                             f"to learn within-person variation; got {(counts >= 2).sum()}")
        self.mean_ = X.mean(0)
        X = X - self.mean_
        n, d = X.shape
        sums = np.zeros((len(counts), d))  # (c, d): Σ_j x_ij per person
        np.add.at(sums, inv, X)
        m = counts.astype(np.float64)[:, None]  # (c, 1) images per person
        scatter = X.T @ X  # Σ_ij x xᵀ, fixed through EM
        # initialisation: covariance of the person means; pooled within-person covariance
        means = sums / m
        S_mu = _sym(means.T @ means / len(means))
        S_eps = _sym((scatter - sums.T @ means) / n)
        ridge = 1e-6 * np.trace(S_eps) / d * np.eye(d)  # keeps S_ε invertible on rank-poor data
        for it in range(1, self.n_iter + 1):
            # E-step in the basis where S_ε = I and S_μ = diag(λ) (simultaneous diagonalisation):
            # there G_m = −diag(λ / (mλ + 1)), so E[μ_i] = λ/(mλ+1) ∘ s_i and E[ε_ij] = x_ij − λ/(mλ+1) ∘ s_i
            L = np.linalg.cholesky(S_eps + ridge)
            Li = scipy.linalg.solve_triangular(L, np.eye(d), lower=True)
            lam, V = np.linalg.eigh(_sym(Li @ S_mu @ Li.T))
            lam = np.maximum(lam, 0.0)
            T = V.T @ Li  # x' = T x;  T S_ε Tᵀ = I, T S_μ Tᵀ = diag(λ)
            Tinv = L @ V
            s = sums @ T.T  # (c, d) per-person sums, new basis
            a = lam[None, :] / (m * lam[None, :] + 1.0)  # (c, d)
            mu = a * s  # E[μ_i]
            C_mu = mu.T @ mu / len(mu)
            # Σ_ij ε εᵀ = Σ x'x'ᵀ − Σ_i (s_i (a∘s_i)ᵀ + (a∘s_i) s_iᵀ) + Σ_i m_i (a∘s_i)(a∘s_i)ᵀ
            cross = s.T @ mu
            C_eps = (T @ scatter @ T.T - cross - cross.T + mu.T @ (m * mu)) / n
            new_mu, new_eps = _sym(Tinv @ C_mu @ Tinv.T), _sym(Tinv @ C_eps @ Tinv.T)
            change = max(np.linalg.norm(new_mu - S_mu) / np.linalg.norm(S_mu),
                         np.linalg.norm(new_eps - S_eps) / np.linalg.norm(S_eps))
            S_mu, S_eps = new_mu, new_eps
            if change < self.tol:
                break
        self.n_iter_ = it
        self.S_mu_, self.S_eps_ = S_mu, S_eps
        F = _inv_spd(S_eps + ridge)
        G = _sym(-np.linalg.solve(2 * S_mu + S_eps + ridge, S_mu @ F))
        self.A_ = _sym(_inv_spd(S_mu + S_eps + ridge) - (F + G))
        self.G_ = G
        return self

    # -- scores -------------------------------------------------------------------------
    def _prep(self, X):
        if not hasattr(self, "A_"):
            raise RuntimeError("this JointBayesian model is not fitted yet: call fit(X, y) first")
        X = np.asarray(X, dtype=np.float64) - self.mean_
        return X, ((X @ self.A_) * X).sum(1)  # xᵀ A x per row, through BLAS

    def score_paired(self, a, b) -> np.ndarray:
        """r(a_i, b_i) for each row i, (n,) — higher = more likely the same person."""
        a, qa = self._prep(a)
        b, qb = self._prep(b)
        return qa + qb - 2 * ((a @ self.G_) * b).sum(1)

    def score_pairwise(self, a, b) -> np.ndarray:
        """r(a_i, b_j) for all i, j, (n, m)."""
        a, qa = self._prep(a)
        b, qb = self._prep(b)
        return qa[:, None] + qb[None, :] - 2 * (a @ self.G_) @ b.T

    @property
    def similarity(self) -> Similarity:
        return Similarity("joint_bayesian", self.score_paired, self.score_pairwise,
                          "Joint Bayesian log-likelihood ratio (Chen et al. 2012), learned on the training folds")
