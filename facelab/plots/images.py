"""Grids of face images: any images, verification pairs, and the GAN disentangler's identity transfer."""
from __future__ import annotations

import matplotlib.pyplot as plt  # headless machines fall back to Agg by themselves
import numpy as np


def image_grid(images: np.ndarray, ncols: int = 8, titles=None, cmap="gray", size: float = 1.4):
    """A grid of uint8/float images (n, h, w[, c])."""
    n = len(images)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * 1.1), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, img in enumerate(images):
        img = np.asarray(img)
        if img.ndim == 3 and img.shape[-1] == 1:
            img = img[..., 0]
        axes.ravel()[i].imshow(img, cmap=cmap if img.ndim == 2 else None)
        if titles is not None:
            axes.ravel()[i].set_title(str(titles[i]), fontsize=7)
    fig.tight_layout()
    return fig


def pair_grid(images: np.ndarray, index_a, index_b, same, n_per_kind: int = 4, size: float = 1.4, seed: int = 0):
    """``n_per_kind`` same-person and as many different-person pairs side by side (label 1 = SAME)."""
    same = np.asarray(same).astype(bool)
    rng = np.random.default_rng(seed)
    picks = []
    for kind in (True, False):
        rows = np.flatnonzero(same == kind)
        picks += list(rng.choice(rows, size=min(n_per_kind, len(rows)), replace=False))
    grid = [images[i] for k in picks for i in (index_a[k], index_b[k])]
    titles = [f"same = {int(same[k])}" if j == 0 else "" for k in picks for j in (0, 1)]
    return image_grid(np.stack(grid), ncols=4, titles=titles, size=size)


def transfer_grid_figure(transfer: dict, size: float = 1.3):
    """Identity transfer (GAN disentangler): a blank corner, the target faces along the top, the
    source faces down the left, and in cell (i, j) the face generated from source i's identity code
    with target j's pose and style codes. ``transfer``: the dict of
    :func:`facelab.generative.gan_disentangler.identity_transfer`."""
    grid, sources, targets = transfer["grid"], transfer["sources"], transfer["targets"]
    rows = [np.concatenate([np.full_like(sources[:1], 255), targets])]
    rows += [np.concatenate([sources[i:i + 1], grid[i]]) for i in range(len(grid))]
    titles = ["source ↓ / target →"] + ["target"] * len(targets) + [""] * (len(grid) * (len(targets) + 1))
    return image_grid(np.concatenate(rows), ncols=grid.shape[1] + 1, titles=titles, size=size)
