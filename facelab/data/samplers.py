"""Seeded samplers over integer identity labels (NumPy only; :mod:`facelab.data.pipeline` feeds them
to tf.data).

Every sampler returns *indices* into the image array, never images, so the same sampler serves
NumPy code, tf.data and any other framework. Randomness comes from
``np.random.default_rng([seed, epoch])`` (or ``[seed, episode]``): the batches of epoch 7 are the
same whether or not epochs 0–6 were drawn first, which is what lets a killed training run resume
mid-epoch on exactly the batches it would have seen.

Identities with too few images (the P×K and group samplers, ``short=``):

- ``"exclude"`` (default): only identities with at least K (or N) images take part, so every
  batch holds P×K *distinct* images. In LFW that is 610 people for K=4 (1,680 for K=2).
- ``"replace"``: identities with at least 2 images take part; one with fewer than K images gives
  all its images once and fills up to K by drawing among them again (duplicates possible, never
  a lone image repeated K times, which would give zero-distance "positives").

Identities with a single image can never supply a positive pair; the pair, group and P×K
samplers ignore them, the episode sampler needs K+Q images per identity.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SHORT_POLICIES = ("exclude", "replace")


def _as_labels(labels) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) == 0:
        raise ValueError(f"labels must be a non-empty 1-D array of identity labels; got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers (identity labels); got dtype {labels.dtype}")
    return labels


def _positive_int(value, what) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def epoch_rng(seed: int, *counters: int) -> np.random.Generator:
    """The generator of one epoch (or episode, or batch of an epoch): a function of the seed and the
    counters only, never of what was drawn before, so a resumed run draws what it would have drawn."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, *(int(c) for c in counters)])


class _ByIdentity:
    """Image positions grouped by identity: ``members[i]`` are the positions of ``classes[i]``."""

    def __init__(self, labels):
        self.labels = _as_labels(labels)
        order = np.argsort(self.labels, kind="stable")
        classes, starts, counts = np.unique(self.labels[order], return_index=True, return_counts=True)
        self.classes = classes
        self.counts = counts
        self.members = [order[s: s + c] for s, c in zip(starts, counts)]

    def eligible(self, min_count: int) -> np.ndarray:
        """Indices (into ``classes``) of identities with at least ``min_count`` images."""
        return np.flatnonzero(self.counts >= min_count)


def _draw_k(members: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """K images of one identity: without replacement when possible, else all of them + refills."""
    if len(members) >= k:
        return rng.choice(members, size=k, replace=False)
    extra = rng.choice(members, size=k - len(members), replace=True)
    return rng.permutation(np.concatenate([members, extra]))


class _GroupsOfK:
    """Shared machinery of the P×K and group samplers: identities that can give ``k`` images."""

    def __init__(self, labels, k: int, short: str, seed: int, what: str):
        if short not in SHORT_POLICIES:
            raise ValueError(f"short must be one of {SHORT_POLICIES}, got {short!r}")
        self.k = _positive_int(k, what)
        self.short = short
        self.seed = int(seed)
        self.index = _ByIdentity(labels)
        self.ids = self.index.eligible(self.k if short == "exclude" else min(2, self.k))

    def _groups(self, rng: np.random.Generator, n_ids: int) -> np.ndarray:  # (n_ids, k)
        chosen = rng.permutation(self.ids)[:n_ids]
        return np.stack([_draw_k(self.index.members[i], self.k, rng) for i in chosen])


class PKSampler(_GroupsOfK):
    """Batches of P identities × K images each, for online triplet mining.

    Hermans, Beyer & Leibe (2017), "In Defense of the Triplet Loss", Sec. 2: "randomly sampling
    P classes, and then randomly sampling K images of each class". One epoch visits every
    eligible identity once (a random order, split into ``len(self)`` batches of P; the last
    incomplete batch is dropped). Row ``j`` of a batch belongs to identity ``j // K``.
    """

    def __init__(self, labels, p: int, k: int, *, short: str = "exclude", seed: int = 0):
        super().__init__(labels, k, short, seed, "k (images per identity)")
        self.p = _positive_int(p, "p (identities per batch)")
        if len(self.ids) < self.p:
            need = self.k if short == "exclude" else 2
            raise ValueError(f"p={self.p} identities per batch, but only {len(self.ids)} identities have at least "
                             f"{need} images (k={self.k}, short={short!r})")

    @property
    def batch_size(self) -> int:
        return self.p * self.k

    def __len__(self) -> int:  # batches per epoch
        return len(self.ids) // self.p

    def epoch(self, epoch: int) -> np.ndarray:
        """Index batches of one epoch, shape ``(len(self), P*K)``."""
        rng = epoch_rng(self.seed, epoch)
        groups = self._groups(rng, len(self) * self.p)  # (batches*P, K)
        return groups.reshape(len(self), self.p * self.k)


class GroupSampler(_GroupsOfK):
    """Groups of N images of one identity (the grouped VAE's input; Bouchacourt et al. 2018).

    One epoch gives one group per eligible identity, in random order: shape ``(n_groups, N)``.
    """

    def __init__(self, labels, n: int, *, short: str = "exclude", seed: int = 0):
        super().__init__(labels, n, short, seed, "n (images per group)")
        if len(self.ids) == 0:
            raise ValueError(f"no identity has enough images for groups of n={self.k} (short={short!r})")

    @property
    def n(self) -> int:
        return self.k

    def __len__(self) -> int:
        return len(self.ids)

    def epoch(self, epoch: int) -> np.ndarray:
        return self._groups(epoch_rng(self.seed, epoch), len(self.ids))


class PairSampler:
    """Balanced same/different pairs: exactly half the pairs show the same person.

    Label convention (used by every pair loss in facelab): ``same = 1`` means the two images
    show the SAME person, ``0`` different people. A same pair picks an identity with two or
    more images uniformly, then two distinct images of it; a different pair picks two distinct
    identities uniformly (among all identities), then one image of each. Weighting identities
    rather than images keeps George W. Bush (530 LFW images) from dominating.
    """

    def __init__(self, labels, pairs_per_epoch: int, *, seed: int = 0):
        self.index = _ByIdentity(labels)
        self.pairs_per_epoch = _positive_int(pairs_per_epoch, "pairs_per_epoch")
        if self.pairs_per_epoch % 2:
            raise ValueError(f"pairs_per_epoch must be even (half same, half different), got {pairs_per_epoch}")
        self.seed = int(seed)
        self.multi = self.index.eligible(2)
        if len(self.multi) == 0:
            raise ValueError("no identity has two or more images: same-person pairs are impossible")
        if len(self.index.classes) < 2:
            raise ValueError("labels hold a single identity: different-person pairs are impossible")

    def __len__(self) -> int:
        return self.pairs_per_epoch

    def epoch(self, epoch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(index_a, index_b, same)`` for one epoch, shuffled; ``same`` is int32 0/1."""
        rng = epoch_rng(self.seed, epoch)
        half = self.pairs_per_epoch // 2
        members = self.index.members
        same_ids = rng.choice(self.multi, size=half)
        same_pairs = np.array([rng.choice(members[i], size=2, replace=False) for i in same_ids]).reshape(half, 2)
        n_classes = len(self.index.classes)
        first = rng.integers(0, n_classes, size=half)
        second = (first + rng.integers(1, n_classes, size=half)) % n_classes  # uniform over the others
        diff_pairs = np.array([[rng.choice(members[i]), rng.choice(members[j])] for i, j in zip(first, second)],
                              dtype=np.int64).reshape(half, 2)
        pairs = np.concatenate([same_pairs, diff_pairs])
        same = np.concatenate([np.ones(half, np.int32), np.zeros(half, np.int32)])
        order = rng.permutation(self.pairs_per_epoch)
        return pairs[order, 0], pairs[order, 1], same[order]


@dataclass(frozen=True)
class Episode:
    """One N-way K-shot task. ``*_labels`` are episode-local classes 0..N-1; ``classes[c]`` is the
    original identity of local class ``c``. Support and query images never overlap."""

    support: np.ndarray  # (N*K,) image positions
    support_labels: np.ndarray  # (N*K,)
    query: np.ndarray  # (N*Q,)
    query_labels: np.ndarray  # (N*Q,)
    classes: np.ndarray  # (N,)


class EpisodeSampler:
    """N-way K-shot episodes with Q queries per class (Vinyals et al. 2016, Matching Networks, Sec. 4).

    Episode ``i`` draws N identities among those with at least K+Q images, then K support and Q
    query images of each, without replacement, so support and query are disjoint.
    """

    def __init__(self, labels, n_way: int, k_shot: int, n_query: int = 1, *, seed: int = 0):
        self.index = _ByIdentity(labels)
        self.n_way = _positive_int(n_way, "n_way")
        self.k_shot = _positive_int(k_shot, "k_shot")
        self.n_query = _positive_int(n_query, "n_query")
        self.seed = int(seed)
        self.ids = self.index.eligible(self.k_shot + self.n_query)
        if len(self.ids) < self.n_way:
            raise ValueError(f"{self.n_way}-way episodes need {self.n_way} identities with at least "
                             f"k_shot + n_query = {self.k_shot + self.n_query} images; only {len(self.ids)} have them")

    def episode(self, i: int) -> Episode:
        rng = epoch_rng(self.seed, i)
        chosen = rng.choice(self.ids, size=self.n_way, replace=False)
        k, q = self.k_shot, self.n_query
        draws = np.stack([rng.choice(self.index.members[c], size=k + q, replace=False) for c in chosen])
        local = np.arange(self.n_way)
        return Episode(support=draws[:, :k].reshape(-1), support_labels=np.repeat(local, k),
                       query=draws[:, k:].reshape(-1), query_labels=np.repeat(local, q),
                       classes=self.index.classes[chosen])

    def episodes(self, count: int, start: int = 0) -> list[Episode]:
        return [self.episode(i) for i in range(start, start + count)]


def random_flip(images: np.ndarray, rng: np.random.Generator, p: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Mirror each image left-right with probability ``p`` (NumPy reference of the tf.data
    augmentation). Returns ``(images, flipped bool (n,))``; the input is not modified."""
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images must be (n, height, width, channels); got shape {images.shape}")
    flipped = rng.random(len(images)) < p
    out = images.copy()
    out[flipped] = out[flipped, :, ::-1]
    return out, flipped


class BatchSampler:
    """Plain shuffled mini-batches of image positions (identification/softmax training).

    Each epoch is a fresh permutation of ``range(n)`` cut into ``len(self)`` batches; the last
    incomplete batch is dropped (``drop_last=True``) so every batch has the same shape.
    """

    def __init__(self, n: int, batch_size: int, *, seed: int = 0, drop_last: bool = True):
        self.n = _positive_int(n, "n (number of images)")
        self.batch_size = _positive_int(batch_size, "batch_size")
        if drop_last and self.batch_size > self.n:
            raise ValueError(f"batch_size={batch_size} is larger than the {n} images (drop_last=True)")
        self.seed = int(seed)
        self.drop_last = drop_last

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def epoch(self, epoch: int) -> list[np.ndarray]:
        order = epoch_rng(self.seed, epoch).permutation(self.n)
        return [order[i * self.batch_size: (i + 1) * self.batch_size] for i in range(len(self))]
