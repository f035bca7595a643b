"""Typical mistake: eigenvectors of the covariance from eigh, kept in ascending order."""
from classical import *  # noqa: F401,F403


def pca_fit(X, n_components):
    X = np.asarray(X, dtype=np.float64)
    mean = X.mean(axis=0)
    _, vecs = np.linalg.eigh(np.cov(X - mean, rowvar=False))
    return mean, vecs[:, :n_components].T  # WRONG: smallest eigenvalues first
