"""Classical methods' figures: eigenfaces, PCA reconstructions and explained variance, LBP codes
and cell histograms."""
from __future__ import annotations

import matplotlib.pyplot as plt  # headless machines fall back to Agg by themselves
import numpy as np


def eigenface_grid(mean: np.ndarray, components: np.ndarray, shape, n: int = 15, ncols: int = 8,
                   size: float = 1.3):
    """The mean face, then the first ``n`` principal axes drawn as images (red/blue = ± pixel weight)."""
    n = min(n, len(components))
    nrows = int(np.ceil((n + 1) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * 1.15), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    axes[0, 0].imshow(np.reshape(mean, shape), cmap="gray")
    axes[0, 0].set_title("mean face", fontsize=7)
    for i in range(n):
        v = np.reshape(components[i], shape)
        lim = np.abs(v).max()
        ax = axes.ravel()[i + 1]
        ax.imshow(v, cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_title(f"eigenface {i + 1}", fontsize=7)
    fig.tight_layout()
    return fig


def reconstruction_grid(originals: np.ndarray, reconstructions: dict, shape, size: float = 1.2):
    """Rows: faces; columns: the original, then its reconstruction from the first k axes for each k."""
    ks = list(reconstructions)
    fig, axes = plt.subplots(len(originals), len(ks) + 1, figsize=((len(ks) + 1) * size, len(originals) * size * 1.15),
                             squeeze=False)
    for r, img in enumerate(originals):
        cols = [np.reshape(img, shape)] + [np.reshape(reconstructions[k][r], shape) for k in ks]
        for c, (ax, im) in enumerate(zip(axes[r], cols)):
            ax.imshow(np.clip(im, 0, 255), cmap="gray", vmin=0, vmax=255)
            ax.axis("off")
            if r == 0:
                ax.set_title("original" if c == 0 else f"k = {ks[c - 1]}", fontsize=7)
    fig.tight_layout()
    return fig


def explained_variance_figure(ratio: np.ndarray, marks=(0.8, 0.9, 0.95)):
    """Per-axis explained-variance ratio (log) and its cumulative sum, with the k reaching each mark."""
    ratio = np.asarray(ratio)
    k = np.arange(1, len(ratio) + 1)
    cum = np.cumsum(ratio)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
    a1.semilogy(k, ratio)
    a1.set_xlabel("principal axis k")
    a1.set_ylabel("explained variance ratio")
    a2.plot(k, cum)
    for m in marks:
        if cum[-1] >= m:
            km = int(np.searchsorted(cum, m) + 1)
            a2.axhline(m, ls=":", c="gray")
            a2.annotate(f"{m:.0%}: k = {km}", (km, m), textcoords="offset points", xytext=(5, -12), fontsize=8)
    a2.set_xlabel("number of axes k")
    a2.set_ylabel("cumulative explained variance")
    a2.set_ylim(0, 1.01)
    for ax in (a1, a2):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def lbp_codes_figure(image: np.ndarray, codes: dict, size: float = 2.2):
    """A face next to its LBP code images (``codes``: title → (h, w) integer code image)."""
    fig, axes = plt.subplots(1, len(codes) + 1, figsize=((len(codes) + 1) * size, size * 1.15))
    axes[0].imshow(np.squeeze(image), cmap="gray")
    axes[0].set_title("face", fontsize=8)
    for ax, (title, c) in zip(axes[1:], codes.items()):
        ax.imshow(c, cmap="nipy_spectral", interpolation="nearest")
        ax.set_title(title, fontsize=8)
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    return fig


def lbp_histogram_figure(image: np.ndarray, grid, descriptor: np.ndarray, bins: int, cells=(0, None),
                         margin: int = 0):
    """The face with its cell grid, and the histograms of a few cells from ``descriptor`` (cells × bins)."""
    image = np.squeeze(image)
    h, w = image.shape
    per_cell = np.reshape(descriptor, (-1, bins))
    cells = [c if c is not None else len(per_cell) // 2 + grid[1] // 2 for c in cells]
    fig, axes = plt.subplots(1, len(cells) + 1, figsize=(3 + 3.2 * len(cells), 2.8),
                             gridspec_kw={"width_ratios": [1] + [1.6] * len(cells)})
    axes[0].imshow(image, cmap="gray")
    for y in np.linspace(margin, h - margin, grid[0] + 1):
        axes[0].axhline(y - 0.5, c="yellow", lw=0.6)
    for x in np.linspace(margin, w - margin, grid[1] + 1):
        axes[0].axvline(x - 0.5, c="yellow", lw=0.6)
    axes[0].axis("off")
    axes[0].set_title(f"{grid[0]}×{grid[1]} cells", fontsize=8)
    for ax, c in zip(axes[1:], cells):
        ax.bar(np.arange(bins), per_cell[c], width=1.0)
        ax.set_title(f"cell {c} (row {c // grid[1]}, col {c % grid[1]})", fontsize=8)
        ax.set_xlabel("LBP bin")
    fig.tight_layout()
    return fig
