"""Principal component analysis written out for teaching, and fast enough for all of LFW.

Eigenfaces (Turk & Pentland 1991; Sirovich & Kirby 1987) are the principal axes of the
centred image matrix ``Xc`` (n images × d pixels). Four ways to the same axes:

* ``"full"``       — SVD ``Xc = U S Vᵀ``; components = rows of ``Vᵀ``, variances ``S² / (n − 1)``.
* ``"gram"``       — the *Gram-matrix trick* of Turk & Pentland (§2): when n < d, eigendecompose the
  small n × n matrix ``Xc Xcᵀ = U Λ Uᵀ``; then ``v = Xcᵀ u / √λ`` are the d-dimensional axes.
* ``"covariance"`` — when d ≤ n, eigendecompose the d × d scatter ``Xcᵀ Xc`` (top k only).
* ``"randomized"`` — Halko, Martinsson & Tropp (2011), Alg. 4.4: a random range finder with power
  iterations, then an exact SVD of the small projected matrix. Approximate; for very wide data.

``"auto"`` takes the exact eigendecomposition of the smaller of the two matrices when that is at
most ``max_exact_dim`` wide, else the randomized solver. Parameters live in ``__init__``, ``fit``
learns the attributes ending in ``_``, ``transform`` is pure: the scikit-learn estimator style,
and :class:`sklearn.decomposition.PCA` is the test oracle.
"""
from __future__ import annotations

import numbers

import numpy as np
import scipy.linalg

SOLVERS = ("auto", "full", "gram", "covariance", "randomized")


def check_matrix(X, what: str = "X", min_samples: int = 1, dtype=np.float64) -> np.ndarray:
    """A finite 2-D ``dtype`` array (n_samples, n_features) with at least ``min_samples`` rows; no copy
    when X already is one (LBP's histograms of all of LFW are a gigabyte)."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array (n_samples, n_features); got shape {X.shape}")
    if len(X) < min_samples:
        raise ValueError(f"{what} has {len(X)} sample(s); at least {min_samples} are needed"
                         + (" (the training set is empty)" if len(X) == 0 else ""))
    if X.shape[1] == 0:
        raise ValueError(f"{what} has no features (shape {X.shape})")
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        raise ValueError(f"{what} must be real numbers; got dtype {X.dtype}")
    X = X.astype(dtype, copy=False)
    if not np.isfinite(X).all():
        raise ValueError(f"{what} contains NaN or infinite values")
    return X


def check_matrix_and_labels(X, y, min_samples: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """:func:`check_matrix` for X plus one label per row of X (supervised fits: LDA, Joint Bayesian)."""
    X = check_matrix(X, "X", min_samples=min_samples)
    y = np.asarray(y)
    if y.shape != (len(X),):
        raise ValueError(f"y must have shape ({len(X)},) to match X; got {y.shape}")
    return X, y


def _flip_signs(components: np.ndarray) -> np.ndarray:
    """Deterministic signs: the largest-magnitude entry of every axis is positive (as sklearn ≥ 1.5)."""
    idx = np.argmax(np.abs(components), axis=1)
    signs = np.sign(components[np.arange(len(components)), idx])
    signs[signs == 0] = 1.0
    return components * signs[:, None]


class PCA:
    """Principal component analysis (eigenfaces when the rows are face images).

    n_components: int = keep that many axes; float in (0, 1) = the fewest axes whose explained
        variance ratio sums to at least that fraction; None = min(n_samples, n_features).
    whiten: divide projections by √variance so every kept axis has unit variance.
    svd_solver: one of ``SOLVERS`` (see the module docstring).
    max_exact_dim: ``"auto"`` uses an exact eigendecomposition when min(n, d) is at most this.
    n_iter, n_oversamples, random_state: the randomized solver's power iterations, extra
        columns and seed.
    dtype: arithmetic precision (float32 halves time and memory where 1e-5 accuracy is not needed).

    Fitted: ``mean_`` (d,), ``components_`` (k, d) orthonormal rows, ``explained_variance_`` (k,)
    (unbiased, divided by n − 1), ``explained_variance_ratio_`` (k,), ``singular_values_`` (k,),
    ``n_components_``, ``n_samples_``, ``n_features_in_``, ``solver_`` (the one used).
    """

    def __init__(self, n_components=None, *, whiten: bool = False, svd_solver: str = "auto",
                 max_exact_dim: int = 2500, n_iter: int = 7, n_oversamples: int = 10, random_state=0,
                 dtype=np.float64):
        self.n_components = n_components
        self.whiten = whiten
        self.svd_solver = svd_solver
        self.max_exact_dim = max_exact_dim
        self.n_iter = n_iter
        self.n_oversamples = n_oversamples
        self.random_state = random_state
        self.dtype = dtype

    # -- fitting ------------------------------------------------------------------------
    def _resolve_k(self, n: int, d: int) -> int | float:
        k, limit = self.n_components, min(n, d)
        if k is None:
            return limit
        if isinstance(k, numbers.Integral) and not isinstance(k, bool):
            if not 1 <= k <= limit:
                raise ValueError(f"n_components={k} is larger than possible: it must be between 1 and "
                                 f"min(n_samples={n}, n_features={d}) = {limit}")
            return int(k)
        if isinstance(k, numbers.Real) and 0 < k < 1:
            return float(k)
        raise ValueError(f"n_components must be None, an int in [1, {limit}] or a float in (0, 1); got {k!r}")

    def _choose_solver(self, n: int, d: int, k) -> str:
        solver = self.svd_solver
        if solver not in SOLVERS:
            raise ValueError(f"svd_solver must be one of {SOLVERS}; got {solver!r}")
        if solver == "randomized" and isinstance(k, float):
            raise ValueError("a variance fraction for n_components needs an exact solver, not 'randomized'")
        if solver == "auto":
            if min(n, d) <= self.max_exact_dim or isinstance(k, float):
                solver = "gram" if n < d else "covariance"
            else:
                solver = "randomized"
        return solver

    def fit(self, X, y=None) -> "PCA":
        X = check_matrix(X, "X", min_samples=2, dtype=self.dtype)
        n, d = X.shape
        k = self._resolve_k(n, d)
        solver = self._choose_solver(n, d, k)
        self.mean_ = X.mean(axis=0)
        Xc = X - self.mean_
        total_var = float(np.einsum("ij,ij->", Xc, Xc)) / (n - 1)
        # each solver returns: eigenvalues of Xcᵀ Xc (descending) and orthonormal axes (rows)
        if solver == "full":
            _, s, vt = scipy.linalg.svd(Xc, full_matrices=False, lapack_driver="gesdd")
            lam, axes = s ** 2, vt
        elif solver == "gram":
            lam, axes = self._gram(Xc, k)
        elif solver == "covariance":
            lam, axes = self._covariance(Xc, k)
        else:
            lam, axes = self._randomized(Xc, k)
        lam = np.maximum(lam, 0.0)
        ratio = lam / (n - 1) / total_var if total_var > 0 else np.zeros_like(lam)
        if isinstance(k, float):  # fewest axes reaching the fraction (sklearn's rule)
            k = int(np.searchsorted(np.cumsum(ratio), k, side="right") + 1)
            k = min(k, len(axes))
        self.components_ = _flip_signs(axes[:k])
        self.explained_variance_ = lam[:k] / (n - 1)
        self.explained_variance_ratio_ = ratio[:k]
        self.singular_values_ = np.sqrt(lam[:k])
        self.n_components_ = k
        self.n_samples_, self.n_features_in_ = n, d
        self.solver_ = solver
        return self

    @staticmethod
    def _gram(Xc, k):
        """Turk & Pentland's trick: eigenvectors u of Xc Xcᵀ (n × n) give axes Xcᵀ u / √λ."""
        n = len(Xc)
        gram = Xc @ Xc.T
        lam, u = scipy.linalg.eigh(gram)  # all n eigenvalues (also needed for a variance fraction)
        lam, u = lam[::-1], u[:, ::-1]
        rank_tol = max(lam[0], 0.0) * n * np.finfo(float).eps
        keep = int((lam > rank_tol).sum())  # centring costs one rank: at most n − 1 axes come from u
        if isinstance(k, int) and k > keep:  # null directions cannot come from Xcᵀ u; take them from the SVD
            _, s, vt = scipy.linalg.svd(Xc, full_matrices=False)
            return s[:k] ** 2, vt[:k]
        kk = keep if isinstance(k, float) else k
        axes = (Xc.T @ u[:, :kk]) / np.sqrt(lam[:kk])  # (d, kk), unit columns up to round-off
        axes /= np.linalg.norm(axes, axis=0)
        return (lam if isinstance(k, float) else lam[:kk]), axes.T

    @staticmethod
    def _covariance(Xc, k):
        """Top-k eigenpairs of the d × d scatter matrix Xcᵀ Xc."""
        d = Xc.shape[1]
        scatter = Xc.T @ Xc
        if isinstance(k, float) or k == d:
            lam, v = scipy.linalg.eigh(scatter)
        else:
            lam, v = scipy.linalg.eigh(scatter, subset_by_index=[d - k, d - 1], driver="evr")
        return lam[::-1], v[:, ::-1].T

    def _randomized(self, Xc, k):
        """Halko et al. (2011) Alg. 4.4: subspace iteration on a Gaussian sketch, then SVD of QᵀXc."""
        rng = np.random.default_rng(self.random_state)
        n, d = Xc.shape
        l = min(k + self.n_oversamples, n, d)
        q, _ = np.linalg.qr(Xc @ rng.standard_normal((d, l)).astype(Xc.dtype))
        for _ in range(self.n_iter):
            q, _ = np.linalg.qr(Xc.T @ q)
            q, _ = np.linalg.qr(Xc @ q)
        _, s, vt = scipy.linalg.svd(q.T @ Xc, full_matrices=False)
        return s[:k] ** 2, vt[:k]

    # -- using the fit ------------------------------------------------------------------
    def _check_fitted(self):
        if not hasattr(self, "components_"):
            raise RuntimeError("this PCA is not fitted yet: call fit(X) first")

    def transform(self, X, overwrite_x: bool = False) -> np.ndarray:
        """Coordinates of X on the principal axes, (n, k); unit variance per axis if ``whiten``.

        overwrite_x: centre X in place when it already is a writable array of the working dtype (as
        scipy's ``overwrite_a``): the same numbers without a second array of X's size, for callers that
        made X for this call alone (a fresh allocation of a gigabyte costs more than the product)."""
        self._check_fitted()
        X_in = X
        X = check_matrix(X, "X", dtype=self.mean_.dtype)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features; this PCA was fitted on {self.n_features_in_}")
        # check_matrix's own copy is free to use; the caller's array only when it says so
        in_place = X.flags.writeable and (overwrite_x or not np.may_share_memory(X, X_in))
        z = np.subtract(X, self.mean_, out=X if in_place else None) @ self.components_.T
        if self.whiten:
            z /= np.sqrt(np.maximum(self.explained_variance_, np.finfo(float).tiny))
        return z

    def fit_transform(self, X, y=None) -> np.ndarray:
        return self.fit(X).transform(X)

    def inverse_transform(self, Z) -> np.ndarray:
        """Back to pixel space: the reconstruction from k components, (n, d)."""
        self._check_fitted()
        Z = check_matrix(Z, "Z")
        if Z.shape[1] != self.n_components_:
            raise ValueError(f"Z has {Z.shape[1]} columns; this PCA keeps {self.n_components_} components")
        if self.whiten:
            Z = Z * np.sqrt(self.explained_variance_)
        return Z @ self.components_ + self.mean_
