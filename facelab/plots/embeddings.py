"""Embeddings drawn in two dimensions (PCA or t-SNE), one map per method."""
from __future__ import annotations

import matplotlib.pyplot as plt  # headless machines fall back to Agg by themselves
import numpy as np


def project_2d(embeddings: np.ndarray, projection: str = "tsne", seed: int = 0) -> np.ndarray:
    """(n, d) → (n, 2) by PCA or t-SNE (scikit-learn), for drawing only."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    e = np.asarray(embeddings, dtype=np.float64)
    if projection == "pca":
        return PCA(2, svd_solver="full").fit_transform(e)
    if projection == "tsne":
        perplexity = float(min(30.0, max(2.0, (len(e) - 1) / 3)))
        return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(e)
    raise ValueError(f"projection must be 'pca' or 'tsne', got {projection!r}")


def embedding_scatter(panels: dict, names: dict | None = None, projection: str = "tsne", seed: int = 0,
                      ncols: int = 3, size: float = 3.6):
    """One 2-D map per method of the same images: ``panels`` title → (embeddings (n, d), labels (n,)).
    Points coloured by identity (``names``: label → legend text, shown once)."""
    n = len(panels)
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    handles = None
    for ax, (title, (emb, labels)) in zip(axes.ravel(), panels.items()):
        xy = project_2d(emb, projection, seed)
        labels = np.asarray(labels)
        ids = np.unique(labels)
        cmap = plt.get_cmap("tab10" if len(ids) <= 10 else "tab20")
        for j, ident in enumerate(ids):
            m = labels == ident
            ax.scatter(xy[m, 0], xy[m, 1], s=14, color=cmap(j % cmap.N),
                       label=(names or {}).get(ident, str(ident)))
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        handles = ax.get_legend_handles_labels()
    if handles is not None:
        fig.legend(*handles, loc="lower center", ncol=min(5, len(handles[0])), fontsize=7, frameon=False)
    fig.suptitle(f"held-out people, {projection.upper()} of each method's embedding", fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig
