"""Reference solution of the `classical` assignment (loop over neighbours, as a student might write it)."""
import numpy as np


def lbp_codes(image, P=8, R=1.0):
    ### YOUR CODE START ###
    img = np.asarray(image, dtype=np.float64)
    m = int(np.ceil(R))
    h, w = img.shape
    centre = img[m:h - m, m:w - m]
    rows, cols = np.meshgrid(np.arange(m, h - m), np.arange(m, w - m), indexing="ij")
    codes = np.zeros(centre.shape, dtype=np.int64)
    for p in range(P):
        y = rows - round(R * np.sin(2 * np.pi * p / P), 5)
        x = cols + round(R * np.cos(2 * np.pi * p / P), 5)
        y0, x0 = np.floor(y).astype(int), np.floor(x).astype(int)
        dy, dx = y - y0, x - x0
        y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
        g = (img[y0, x0] * (1 - dy) * (1 - dx) + img[y0, x1] * (1 - dy) * dx
             + img[y1, x0] * dy * (1 - dx) + img[y1, x1] * dy * dx)
        codes += (g - centre >= -1e-6).astype(np.int64) * 2 ** p
    return codes
    ### YOUR CODE END ###


def pca_fit(X, n_components):
    ### YOUR CODE START ###
    X = np.asarray(X, dtype=np.float64)
    mean = X.mean(axis=0)
    _, _, vt = np.linalg.svd(X - mean, full_matrices=False)
    return mean, vt[:n_components]
    ### YOUR CODE END ###


def pca_transform(X, mean, components):
    ### YOUR CODE START ###
    return (np.asarray(X, dtype=np.float64) - mean) @ components.T
    ### YOUR CODE END ###
