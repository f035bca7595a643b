"""Offline triplet mining over a whole training set (NumPy; runs between epochs).

- :class:`RandomTripletMiner` — uniformly random valid triplets (the baseline that shows why
  mining matters: most random triplets are already easy and give zero loss);
- :class:`OfflineHardMiner` — per anchor, the hardest positive and the hardest (or semi-hard)
  negative computed from the *current* embeddings of the whole set (or of a random pool of
  candidates, as FaceNet §3.2 suggests, to keep mislabelled outliers from dominating).
  Recompute before each epoch.

Both return an ``(n, 3)`` int array of ``(anchor, positive, negative)`` indices into the set;
:func:`triplets_to_batch` turns a slice of them into images to embed plus local triplets, and
:class:`TripletEpochSampler` serves them to a training pipeline, re-mined every epoch.
"""
from __future__ import annotations

import threading

import numpy as np
from keras import ops

from facelab.data.samplers import PKSampler, epoch_rng
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
        rng = epoch_rng(self.seed, epoch)
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
        rng = epoch_rng(self.seed, epoch)
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


def check_pool_k(pool_k: int, pool: int) -> None:
    """A pool drawn as people × ``pool_k`` images needs ``pool_k`` >= 2 (a positive for every image) and
    room for at least two people (a negative)."""
    if not 2 <= pool_k <= pool // 2:
        raise ValueError(f"pool_k (images per person in the mining pool) must be >= 2 and at most "
                         f"pool // 2 = {pool // 2}; got pool_k={pool_k}, pool={pool}")


class TripletEpochSampler:
    """Batches of offline triplets for a training pipeline, mined afresh for every epoch.

    ``epoch(e)`` → ``(steps, 3·T)`` image indices; in each batch rows ``t``, ``T+t``, ``2T+t``
    are triplet t's anchor, positive and negative (:func:`ordered_triplets` gives the matching
    :class:`IndexTriplets`). A miner that needs embeddings (:class:`OfflineHardMiner`) mines on
    ``embed_fn(pool)`` for a random ``pool`` of images, which must reflect the network at the
    start of that epoch: call :meth:`prepare` from ``on_epoch_begin`` — :meth:`epoch` waits for it
    (the input pipeline runs ahead of the training loop). A random miner is prepared on demand, and
    so is the first epoch of a run: Keras may read the first batch before ``on_epoch_begin`` (the
    JAX trainer does, to build the model), and before any step the network is as it will be then.

    Args:
        labels: identity labels of the training images.
        miner: :class:`RandomTripletMiner` or :class:`OfflineHardMiner`.
        triplets_per_batch: T (batch = 3T images).
        steps: batches per epoch.
        embed_fn: ``indices -> embeddings`` (needed by OfflineHardMiner).
        pool: images embedded per epoch for hard mining (None = all), drawn at random.
        pool_k: draw the pool as people × ``pool_k`` images instead (one P×K batch of ``pool // pool_k``
            people): every image in it then has ``pool_k - 1`` positives and every person the same
            weight, as FaceNet (Schroff et al. 2015, Sec. 3.2) samples a fixed number of faces per
            identity so that each anchor's positives are represented. None: images at random.
        seed: the same seed and epoch give the same batches.
    """

    def __init__(self, labels, miner, triplets_per_batch: int, steps: int, embed_fn=None, pool: int | None = 2048,
                 seed: int = 0, timeout: float = 600.0, pool_k: int | None = None):
        self.labels = _check_labels(labels, "TripletEpochSampler")
        if triplets_per_batch < 1 or steps < 1:
            raise ValueError(f"triplets_per_batch and steps must be >= 1; got {triplets_per_batch}, {steps}")
        self.needs_embeddings = isinstance(miner, OfflineHardMiner)
        if self.needs_embeddings and embed_fn is None:
            raise ValueError("OfflineHardMiner mines on current embeddings: pass embed_fn(indices) -> embeddings")
        self.miner, self.t, self.steps, self.embed_fn = miner, int(triplets_per_batch), int(steps), embed_fn
        self.pool, self.seed, self.timeout = pool, int(seed), timeout
        self.pool_people = None
        if pool_k is not None:
            if not self.needs_embeddings:
                raise ValueError("pool_k shapes the pool a hard miner embeds; a random miner has none")
            check_pool_k(pool_k, pool or len(self.labels))
            people = int((np.bincount(self.labels) >= 2).sum())
            self.pool_people = PKSampler(self.labels, min((pool or len(self.labels)) // pool_k, people), pool_k,
                                         short="replace", seed=self.seed)
        self._mined: dict[int, np.ndarray] = {}
        self._cond = threading.Condition()

    def __len__(self) -> int:
        return self.steps

    @property
    def batch_size(self) -> int:
        return 3 * self.t

    def prepare(self, epoch: int) -> None:
        with self._cond:
            if epoch in self._mined:
                return
        rng = epoch_rng(self.seed, 104729, epoch)
        n_needed = self.steps * self.t
        if self.needs_embeddings:
            n = len(self.labels)
            if self.pool_people is None:
                pool = np.sort(rng.choice(n, size=min(self.pool or n, n), replace=False))
            else:  # one P×K batch; people with fewer than pool_k images appear once per image
                pool = np.unique(self.pool_people.epoch(epoch)[0])
            found = self.miner.mine(self.labels[pool], self.embed_fn(pool), epoch=epoch)
            found = pool[found]
        else:
            found = self.miner.mine(self.labels, epoch=epoch)
        pick = rng.permutation(len(found)) if len(found) >= n_needed else rng.integers(len(found), size=n_needed)
        chosen = found[pick[:n_needed]].reshape(self.steps, self.t, 3)
        batches = np.concatenate([chosen[:, :, 0], chosen[:, :, 1], chosen[:, :, 2]], axis=1)
        with self._cond:
            self._mined = {epoch: batches}
            self._cond.notify_all()

    def epoch(self, epoch: int) -> np.ndarray:
        with self._cond:  # read the mined epochs under the lock the callback thread writes them with
            mine_here = (not self.needs_embeddings or not self._mined) and epoch not in self._mined
        if mine_here:
            self.prepare(epoch)
        with self._cond:
            if not self._cond.wait_for(lambda: epoch in self._mined, timeout=self.timeout):
                raise TimeoutError(f"triplets for epoch {epoch} were never mined (call prepare(epoch) in on_epoch_begin)")
            return self._mined[epoch]


def ordered_triplets(batch_size: int) -> IndexTriplets:
    """The triplets of a :class:`TripletEpochSampler` batch: ``(t, T+t, 2T+t)`` for t < T."""
    if batch_size % 3:
        raise ValueError(f"an ordered triplet batch holds 3·T images; got {batch_size}")
    t = np.arange(batch_size // 3, dtype=np.int32)
    return IndexTriplets(t, t + len(t), t + 2 * len(t), np.ones(len(t), np.float32), per_anchor=False)
