"""Curves over training: per-method loss terms, triplet-mining statistics, and per-stage losses."""
from __future__ import annotations

import matplotlib.pyplot as plt  # headless machines fall back to Agg by themselves
import numpy as np


def training_curves(histories: dict, keys=None, ncols: int = 4, size: float = 3.2):
    """Per method (``histories``: name → Keras history dict of per-epoch lists), its loss terms
    (every key ending in ``loss``, else every key, unless ``keys`` says otherwise) over the epochs."""
    n = len(histories)
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * 0.8), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    for ax, (name, hist) in zip(axes.ravel(), histories.items()):
        for key in keys or [k for k in hist if k.endswith("loss")] or list(hist):
            values = np.asarray(hist.get(key, []), dtype=float)
            ax.plot(np.arange(1, len(values) + 1), values, marker="o", ms=3, label=key)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


MINING_STATS = (("frac_hard", "fraction hard"), ("frac_semihard", "fraction semi-hard"),
                ("frac_easy", "fraction easy"), ("mean_pos_dist", "mean d(a,p)"),
                ("mean_neg_dist", "mean d(a,n)"), ("spread", "embedding spread"))


def mining_curves(histories: dict, stats=MINING_STATS, ncols: int = 3, size: float = 3.2):
    """Mining statistics over training, one panel per statistic, one line per strategy.
    ``histories``: name → list of :func:`facelab.miners.stats.triplet_statistics` dicts with a
    ``step`` (what ``TripletStatsCallback.history`` holds)."""
    ncols = min(ncols, len(stats))
    nrows = int(np.ceil(len(stats) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * 0.8), squeeze=False)
    for ax in axes.ravel()[len(stats):]:
        ax.axis("off")
    for ax, (key, label) in zip(axes.ravel(), stats):
        for name, hist in histories.items():
            ax.plot([row["step"] for row in hist], [row[key] for row in hist], marker="o", ms=3, label=name)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("training step")
        ax.grid(True, alpha=0.3)
    axes.ravel()[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def loss_curves_figure(curves: dict, title: str = "training curves", skip=("loss",)):
    """``curves``: stage → {loss name: per-epoch values}; one panel per stage, one line per loss
    (accuracies, names ending in ``_acc``, on a twin axis)."""
    stages = list(curves)
    fig, axes = plt.subplots(1, len(stages), figsize=(4.6 * len(stages), 3.6), squeeze=False)
    for ax, stage in zip(axes[0], stages):
        twin = None
        for name, values in sorted(curves[stage].items()):
            if name in skip:
                continue
            epochs = np.arange(1, len(values) + 1)
            if name.endswith("_acc"):
                twin = twin or ax.twinx()
                twin.plot(epochs, values, ls="--", marker=".", label=name)
                twin.set_ylim(0, 1.01)
            else:
                ax.plot(epochs, values, marker=".", label=name)
        ax.set_title(f"{title}: {stage}", fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=6, loc="upper right")
        if twin is not None:
            twin.legend(fontsize=6, loc="lower left")
    fig.tight_layout()
    return fig
