"""Offline triplet mining over a whole training set (NumPy; runs between epochs).

- :class:`RandomTripletMiner` — uniformly random valid triplets (the baseline that shows why
  mining matters: most random triplets are already easy and give zero loss);
- :class:`OfflineHardMiner` — per anchor, the hardest positive and the hardest (or semi-hard)
  negative computed from the *current* embeddings of the whole set (or of a random pool of
  candidates, as FaceNet §3.2 suggests, to keep mislabelled outliers from dominating).
  Recompute before each epoch.

Both return an ``(n, 3)`` int array of ``(anchor, positive, negative)`` indices into the set;
:func:`triplets_to_batch` turns a slice of them into images to embed plus local triplets.
"""
from __future__ import annotations

import numpy as np
from keras import ops

from facelab.losses.distances import DistanceLike, get_distance
from facelab.miners.base import NO_POSITIVE_HELP, IndexTriplets


def _check_labels(labels, who: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"{who}: labels must be 1-D (n,); got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"{who}: labels must be integer identity labels; got dtype {labels.dtype}")
    _, counts = np.unique(labels, return_counts=True)
    if not (counts >= 2).any():
        raise ValueError(f"{who}: {NO_POSITIVE_HELP}")
    if len(counts) < 2:
        raise ValueError(f"{who}: all labels are one identity, so no negative exists; need >= 2 identities")
    return labels


class RandomTripletMiner:
    """Random triplets: anchor uniform over the images whose identity has >= 2 images, positive
    uniform over the anchor's other images, negative uniform over the other identities' images.

    Args:
        num_triplets: how many (default: one per eligible anchor).
        seed: NumPy seed; the same seed gives the same triplets.
    """

    def __init__(self, num_triplets: int | None = None, seed: int = 0):
        if num_triplets is not None and num_triplets < 1:
            raise ValueError(f"num_triplets must be >= 1; got {num_triplets}")
        self.num_triplets, self.seed = num_triplets, seed

    def mine(self, labels, embeddings=None, epoch: int = 0) -> np.ndarray:
        labels = _check_labels(labels, "RandomTripletMiner")
        rng = np.random.default_rng([self.seed, epoch])
        members = {c: np.flatnonzero(labels == c) for c in np.unique(labels)}
        eligible = np.concatenate([m for m in members.values() if len(m) >= 2])
        n = self.num_triplets or len(eligible)
        anchors = rng.choice(eligible, size=n)
        out = np.empty((n, 3), dtype=np.int64)
        for t, a in enumerate(anchors):
            same = members[labels[a]]
            p = same[rng.integers(len(same) - 1)]  # one of the first k-1 slots; a's slot maps to
            p = p if p != a else same[-1]           # the last one: uniform over a's k-1 others
            n_idx = rng.integers(len(labels))
            while labels[n_idx] == labels[a]:  # rejection: uniform over the other identities
                n_idx = rng.integers(len(labels))
            out[t] = (a, p, n_idx)
        return out

    __call__ = mine

    def params(self) -> dict:
        return {"miner": "RandomTripletMiner", "num_triplets": self.num_triplets, "seed": self.seed}


class OfflineHardMiner:
    """Hard triplets from the current embeddings of the whole set: per anchor (with a positive),
    the farthest positive and the nearest negative (``strategy="hard"``), or the nearest negative
    farther than that positive (``"semihard"``, FaceNet; if none, the farthest negative).

    Args:
        distance: a Distance or a name ("L2", "squared-L2", "angular").
        strategy: "hard" or "semihard".
        pool_size: search negatives among this many random images per anchor block (None = all).
        chunk: anchors per block (memory: chunk × n distances).
        seed: seed of the candidate pools.
    """

    def __init__(self, distance: DistanceLike = "L2", strategy: str = "hard", pool_size: int | None = None,
                 chunk: int = 1024, seed: int = 0):
        if strategy not in ("hard", "semihard"):
            raise ValueError(f"strategy must be 'hard' or 'semihard'; got {strategy!r}")
        if pool_size is not None and pool_size < 1:
            raise ValueError(f"pool_size must be >= 1 or None; got {pool_size}")
        self.distance, self.strategy, self.pool_size, self.chunk, self.seed = (
            get_distance(distance), strategy, pool_size, int(chunk), seed)

    def mine(self, labels, embeddings, epoch: int = 0) -> np.ndarray:
        labels = _check_labels(labels, "OfflineHardMiner")
        embeddings = np.asarray(embeddings, dtype=np.float32)
        if embeddings.ndim != 2 or len(embeddings) != len(labels):
            raise ValueError(f"OfflineHardMiner: embeddings must be ({len(labels)}, dim); got {embeddings.shape}")
        rng = np.random.default_rng([self.seed, epoch])
        out = []
        for start in range(0, len(labels), self.chunk):
            rows = np.arange(start, min(start + self.chunk, len(labels)))
            d = np.asarray(ops.convert_to_numpy(self.distance(embeddings[rows], embeddings)), dtype=np.float64)
            same = labels[rows, None] == labels[None, :]
            positive = same.copy()
            positive[np.arange(len(rows)), rows] = False
            negative = ~same
            if self.pool_size is not None and self.pool_size < len(labels):
                pool = np.zeros(len(labels), dtype=bool)
                pool[rng.choice(len(labels), self.pool_size, replace=False)] = True
                has_pooled = (negative & pool).any(1, keepdims=True)
                negative = np.where(has_pooled, negative & pool, negative)
            ok = positive.any(1) & negative.any(1)
            p = np.where(positive, d, -np.inf).argmax(1)
            d_ap = d[np.arange(len(rows)), p][:, None]
            if self.strategy == "hard":
                n = np.where(negative, d, np.inf).argmin(1)
            else:
                farther = negative & (d > d_ap)
                n = np.where(farther.any(1), np.where(farther, d, np.inf).argmin(1), np.where(negative, d, -np.inf).argmax(1))
            out.append(np.stack([rows, p, n], 1)[ok])
        return np.concatenate(out).astype(np.int64)

    __call__ = mine

    def params(self) -> dict:
        return {"miner": "OfflineHardMiner", "strategy": self.strategy, "distance": self.distance.name,
                "pool_size": self.pool_size, "seed": self.seed}


def triplets_to_batch(triplets: np.ndarray):
    """``(image_indices (m,), IndexTriplets into those m)`` for a block of offline triplets:
    each image is embedded once even if it appears in several triplets."""
    triplets = np.asarray(triplets, dtype=np.int64)
    if triplets.ndim != 2 or triplets.shape[1] != 3:
        raise ValueError(f"triplets must be an (n, 3) array of (anchor, positive, negative); got {triplets.shape}")
    images, local = np.unique(triplets, return_inverse=True)
    local = local.reshape(triplets.shape).astype(np.int32)
    ones = np.ones(len(triplets), dtype=np.float32)
    return images, IndexTriplets(local[:, 0], local[:, 1], local[:, 2], ones)
