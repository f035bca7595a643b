"""NumPy brute force for the triplet tests: float64, explicit loops over every (a, p, n), distances
from their definitions (not the |x|²+|y|²-2x·y trick facelab uses), analytic gradients."""
from __future__ import annotations

import itertools

import numpy as np


def dist_and_grads(x: np.ndarray, metric: str):
    """``d[i, j]`` and ``g[i, j] = ∂d[i, j]/∂x_i`` (``∂/∂x_j`` is ``gj[i, j]``)."""
    x = np.asarray(x, dtype=np.float64)
    n, dim = x.shape
    d = np.zeros((n, n))
    gi = np.zeros((n, n, dim))
    gj = np.zeros((n, n, dim))
    for i, j in itertools.product(range(n), range(n)):
        diff = x[i] - x[j]
        if metric == "L2":
            r = np.sqrt(diff @ diff)
            d[i, j] = r
            if i != j and r > 0:
                gi[i, j], gj[i, j] = diff / r, -diff / r
        elif metric == "squared-L2":
            d[i, j] = diff @ diff
            if i != j:
                gi[i, j], gj[i, j] = 2 * diff, -2 * diff
        elif metric == "angular":
            ni, nj = np.linalg.norm(x[i]), np.linalg.norm(x[j])
            ui, uj = x[i] / ni, x[j] / nj
            c = ui @ uj
            d[i, j] = max(1.0 - c, 0.0)
            if 1.0 - c > 0:
                gi[i, j] = -(uj - c * ui) / ni
                gj[i, j] = -(ui - c * uj) / nj
        else:
            raise ValueError(metric)
    if metric != "angular":
        np.fill_diagonal(d, 0.0)
    return d, gi, gj


def all_triplets(labels):
    labels = np.asarray(labels)
    n = len(labels)
    return [(a, p, q) for a in range(n) for p in range(n) for q in range(n)
            if a != p and labels[a] == labels[p] and labels[q] != labels[a]]


class Accumulator:
    """Adds ``w · (∂d(a,p) - ∂d(a,n))`` into a gradient for chosen triplets."""

    def __init__(self, x, metric):
        self.d, self.gi, self.gj = dist_and_grads(x, metric)
        self.grad = np.zeros(np.shape(x))

    def add_pair(self, i, j, w):
        self.grad[i] += w * self.gi[i, j]
        self.grad[j] += w * self.gj[i, j]


def hinge(d_ap, d_an, margin, soft):
    x = d_ap - d_an
    if soft:
        return np.log1p(np.exp(x)), 1.0 / (1.0 + np.exp(-x))
    v = margin + x
    return max(v, 0.0), float(v > 0)


def batch_all(x, labels, margin=0.2, metric="L2", soft=False, reducer="avg_nonzero"):
    """Every valid triplet; mean over those with loss > 0 (or over all, reducer='mean')."""
    acc = Accumulator(x, metric)
    trips = all_triplets(labels)
    vals = []
    for a, p, q in trips:
        v, s = hinge(acc.d[a, p], acc.d[a, q], margin, soft)
        vals.append((v, s, a, p, q))
    denom = max(sum(v > 0 for v, *_ in vals), 1) if reducer == "avg_nonzero" else max(len(trips), 1)
    for v, s, a, p, q in vals:
        acc.add_pair(a, p, s / denom)
        acc.add_pair(a, q, -s / denom)
    frac = sum(v > 0 for v, *_ in vals) / max(len(trips), 1)
    return sum(v for v, *_ in vals) / denom, acc.grad, frac


def per_anchor(x, labels, margin=0.2, metric="L2", soft=False, positive="hardest", tfa=False):
    """Per anchor, the triplet of largest loss over all its (p, n) (batch-hard), or with
    ``positive="easiest"`` the nearest positive and its largest-loss negative (easy-positive).
    ``tfa``: every anchor counts; no positive → d_ap = 0, no negative → d_an = max of the row."""
    labels = np.asarray(labels)
    acc = Accumulator(x, metric)
    d, n = acc.d, len(labels)
    rows = []
    for a in range(n):
        pos = [p for p in range(n) if p != a and labels[p] == labels[a]]
        neg = [q for q in range(n) if labels[q] != labels[a]]
        if not tfa and (not pos or not neg):
            continue
        if positive == "easiest":
            pos = [min(pos, key=lambda p: d[a, p])] if pos else pos
        best = None
        for p, q in itertools.product(pos or [None], neg or [None]):
            dap = d[a, p] if p is not None else 0.0
            dan = d[a, q] if q is not None else d[a].max()
            key = dap - dan
            if best is None or key > best[0]:
                best = (key, p, q, dap, dan)
        rows.append((a,) + best[1:])
    for a, p, q, dap, dan in rows:
        v, s = hinge(dap, dan, margin, soft)
        if p is not None:
            acc.add_pair(a, p, s / len(rows))
        if q is not None:
            acc.add_pair(a, q, -s / len(rows))
    value = sum(hinge(dap, dan, margin, soft)[0] for _, _, _, dap, dan in rows) / max(len(rows), 1)
    return value, acc.grad


def semihard(x, labels, margin=1.0, metric="L2", tfa=False):
    """Per positive pair: nearest negative with d_an > d_ap, else the farthest negative.
    ``tfa``: pairs whose anchor has no negative count with d_an = 0; mean over positive pairs."""
    labels = np.asarray(labels)
    acc = Accumulator(x, metric)
    d, n = acc.d, len(labels)
    chosen = []
    for a, p in itertools.product(range(n), range(n)):
        if a == p or labels[a] != labels[p]:
            continue
        neg = [q for q in range(n) if labels[q] != labels[a]]
        if not neg:
            if tfa:
                chosen.append((a, p, None, 0.0))
            continue
        farther = [q for q in neg if d[a, q] > d[a, p]]
        q = min(farther, key=lambda q: d[a, q]) if farther else max(neg, key=lambda q: d[a, q])
        chosen.append((a, p, q, d[a, q]))
    total = 0.0
    for a, p, q, dan in chosen:
        v, s = hinge(d[a, p], dan, margin, False)
        total += v
        acc.add_pair(a, p, s / len(chosen))
        if q is not None:
            acc.add_pair(a, q, -s / len(chosen))
    return (total / len(chosen) if chosen else 0.0), acc.grad, chosen


def regions(x, labels, margin, metric="L2"):
    d, _, _ = dist_and_grads(x, metric)
    counts = {"hard": 0, "semihard": 0, "easy": 0}
    for a, p, q in all_triplets(labels):
        if d[a, q] <= d[a, p]:
            counts["hard"] += 1
        elif d[a, q] < d[a, p] + margin:
            counts["semihard"] += 1
        else:
            counts["easy"] += 1
    return counts, d


def pk_labels(p, k, rng=None, shuffle=True):
    labels = np.repeat(np.arange(p), k)
    if shuffle:
        (rng or np.random.default_rng(0)).shuffle(labels)
    return labels


def tie_heavy(n, dim=3, seed=0):
    """Integer embeddings in {-1, 0, 1}: many exactly equal distances (exact in float32 too)."""
    return np.random.default_rng(seed).integers(-1, 2, size=(n, dim)).astype(np.float32)
