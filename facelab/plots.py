"""Every figure facelab draws (computation lives elsewhere; these only draw)."""
from __future__ import annotations

import matplotlib.pyplot as plt  # headless machines fall back to Agg by themselves
import numpy as np

from .metrics import verification as vm


def roc_figure(curves: dict, title: str = "LFW verification ROC"):
    """``curves``: method name → (scores, same). One log-FAR ROC per method, AUC in the legend."""
    fig, ax = plt.subplots(figsize=(6, 5))
    for name, (scores, same) in curves.items():
        far, tar, _ = vm.roc(scores, same)
        ax.plot(np.maximum(far, 1e-4), tar, label=f"{name} (AUC {vm.auc(scores, same):.3f})")
    ax.set_xscale("log")
    ax.set_xlim(1e-3, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false accept rate (FAR)")
    ax.set_ylabel("true accept rate (TAR)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def cmc_figure(cmcs: dict, title: str = "Closed-set identification (CMC)"):
    """``cmcs``: method name → cumulative match curve (rank 1..R)."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, curve in cmcs.items():
        ranks = np.arange(1, len(curve) + 1)
        ax.plot(ranks, curve, marker="o", ms=3, label=f"{name} (rank-1 {curve[0]:.3f})")
    ax.set_xlabel("rank")
    ax.set_ylabel("identification rate")
    ax.set_ylim(0, 1.01)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def few_shot_figure(curves: dict, title: str = "Few-shot identification vs enrolment images N"):
    """``curves``: method name → {N: accuracy}."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, acc in curves.items():
        ns = sorted(int(n) for n in acc)
        ax.plot(ns, [acc[str(n)] for n in ns], marker="o", label=name)
    ax.set_xscale("log")
    ax.set_xticks(ns if curves else [])
    ax.set_xticklabels([str(n) for n in ns] if curves else [])
    ax.set_xlabel("enrolment images per person (N)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.01)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


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


# -- units 3 and 4: Siamese/DeepID and triplet mining ----------------------------------------
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


def curves_figure(x, curves: dict, xlabel: str, ylabel: str, title: str = "", vlines: dict | None = None,
                  spans: dict | None = None, figsize=(6, 4)):
    """Line plot of ``curves`` (label → y over ``x``); ``vlines``: label → x; ``spans``: label → (x0, x1, colour)."""
    fig, ax = plt.subplots(figsize=figsize)
    for label, (x0, x1, colour) in (spans or {}).items():
        ax.axvspan(x0, x1, color=colour, alpha=0.15, label=label)
    for label, y in curves.items():
        ax.plot(x, y, label=label, lw=2)
    for label, xv in (vlines or {}).items():
        ax.axvline(xv, color="k", ls="--", lw=1)
        ax.annotate(label, (xv, ax.get_ylim()[1]), xytext=(3, -12), textcoords="offset points", fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


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
