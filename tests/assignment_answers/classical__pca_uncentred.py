"""Typical mistake: PCA without centring (the first 'component' points at the mean)."""
from classical import *  # noqa: F401,F403


def pca_fit(X, n_components):
    X = np.asarray(X, dtype=np.float64)
    _, _, vt = np.linalg.svd(X, full_matrices=False)  # WRONG: X − μ expected
    return X.mean(axis=0), vt[:n_components]
