"""Triplet-mining figures (unit 4): the hard / semi-hard / easy regions of a real batch's triplets,
and a face example from each region."""
from __future__ import annotations

import matplotlib.pyplot as plt  # headless machines fall back to Agg by themselves
import numpy as np

from .images import image_grid


REGIONS = (("hard", "tab:red"), ("semi-hard", "tab:orange"), ("easy", "tab:green"))


def triplet_gaps(embeddings, labels) -> dict:
    """Every genuine triplet (a, p, n) of a batch — ``label[a] == label[p]``, ``a != p``,
    ``label[n] != label[a]`` — with its Euclidean ``d_ap``, ``d_an`` and ``gap = d_an − d_ap``.
    Brute force in NumPy (a batch of a few dozen faces has a few thousand triplets).

    Regions for margin m (Schroff et al. 2015, §3.2): hard ``gap <= 0``, semi-hard ``0 < gap < m``,
    easy ``gap >= m`` — the same boundaries as :func:`facelab.miners.stats.triplet_statistics`."""
    e = np.asarray(embeddings, dtype=np.float64)
    labels = np.asarray(labels).reshape(-1)
    if e.ndim != 2 or len(e) != len(labels):
        raise ValueError(f"embeddings must be (batch, dim) with one label each; got {e.shape} and {labels.shape}")
    d = np.sqrt(np.maximum(((e[:, None, :] - e[None, :, :]) ** 2).sum(-1), 0.0))
    same = labels[:, None] == labels[None, :]
    a, p = np.nonzero(same & ~np.eye(len(e), dtype=bool))
    if len(a) == 0:
        raise ValueError("triplet_gaps: no two embeddings share a label, so there is no triplet; "
                         "sample the batch P×K (facelab.data.samplers.PKSampler)")
    n_per_a = [np.flatnonzero(~same[i]) for i in range(len(e))]
    aa = np.concatenate([np.full(len(n_per_a[i]), i) for i in a])
    pp = np.concatenate([np.full(len(n_per_a[i]), j) for i, j in zip(a, p)])
    nn = np.concatenate([n_per_a[i] for i in a])
    d_ap, d_an = d[aa, pp], d[aa, nn]
    return {"anchor": aa, "positive": pp, "negative": nn, "d_ap": d_ap, "d_an": d_an, "gap": d_an - d_ap}


def region_of(gap: np.ndarray, margin: float) -> np.ndarray:
    """0 = hard (gap <= 0), 1 = semi-hard (0 < gap < margin), 2 = easy (gap >= margin)."""
    gap = np.asarray(gap)
    return np.where(gap <= 0, 0, np.where(gap < margin, 1, 2))


def negative_regions_figure(panels: dict, margin: float = 0.2, bins: int = 60, size=(4.2, 3.4)):
    """Histogram of ``d(a,n) − d(a,p)`` over every triplet of a real batch, one panel per
    ``title → (embeddings, labels)``, with the hard / semi-hard / easy regions shaded and their
    fractions in the legend."""
    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(size[0] * n, size[1]), squeeze=False)
    for ax, (title, (emb, labels)) in zip(axes[0], panels.items()):
        gap = triplet_gaps(emb, labels)["gap"]
        region = region_of(gap, margin)
        lo, hi = min(gap.min(), -margin), max(gap.max(), 2 * margin)
        edges = np.linspace(lo, hi, bins + 1)
        for r, (name, colour) in enumerate(REGIONS):
            ax.hist(gap[region == r], bins=edges, color=colour, alpha=0.8,
                    label=f"{name} {100 * np.mean(region == r):.1f} %")
        for x in (0.0, margin):
            ax.axvline(x, color="k", ls="--", lw=1)
        ax.set_xlabel("d(a,n) − d(a,p)")
        ax.set_ylabel("triplets")
        ax.set_title(f"{title}\n{len(gap)} triplets, margin {margin:g}", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def pick_region_examples(embeddings, labels, margin: float = 0.2) -> dict:
    """An anchor–positive pair of the batch with negatives in as many regions as possible, and
    for each region the negative at the median gap: ``{"anchor", "positive", "d_ap",
    "negatives": {region: (index, d_an)}}``."""
    t = triplet_gaps(embeddings, labels)
    region = region_of(t["gap"], margin)
    pair_key = t["anchor"] * len(np.asarray(labels)) + t["positive"]
    keys = np.unique(pair_key)
    coverage = np.array([len(np.unique(region[pair_key == k])) for k in keys])
    best = keys[np.argmax(coverage)]  # first pair (in batch order) covering the most regions
    rows = np.flatnonzero(pair_key == best)
    out = {"anchor": int(t["anchor"][rows[0]]), "positive": int(t["positive"][rows[0]]),
           "d_ap": float(t["d_ap"][rows[0]]), "negatives": {}}
    for r, (name, _) in enumerate(REGIONS):
        in_r = rows[region[rows] == r]
        if len(in_r):
            mid = in_r[np.argsort(t["gap"][in_r], kind="stable")[len(in_r) // 2]]
            out["negatives"][name] = (int(t["negative"][mid]), float(t["d_an"][mid]))
    return out


def region_examples_figure(images: np.ndarray, examples: dict, size: float = 1.8):
    """Anchor, positive and one negative per region (from :func:`pick_region_examples`), with distances."""
    tiles = [images[examples["anchor"]], images[examples["positive"]]]
    titles = ["anchor", f"positive\nd = {examples['d_ap']:.2f}"]
    for name, (idx, d_an) in examples["negatives"].items():
        tiles.append(images[idx])
        titles.append(f"{name} negative\nd = {d_an:.2f}")
    return image_grid(np.stack(tiles), ncols=len(tiles), titles=titles, size=size)
