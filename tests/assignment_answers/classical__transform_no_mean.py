"""Typical mistake: projecting without subtracting the training mean."""
from classical import *  # noqa: F401,F403


def pca_transform(X, mean, components):
    return np.asarray(X, dtype=np.float64) @ components.T  # WRONG: (X − mean) expected
