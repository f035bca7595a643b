"""Seeded same/different pairs drawn from identity labels (for metric learning inside ``fit``)."""
from __future__ import annotations

import numpy as np


def sample_pairs(labels: np.ndarray, n_pairs: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Up to ``n_pairs`` same-identity and ``n_pairs`` different-identity pairs of positions.

    Same pairs: a random person among those with ≥ 2 images (weighted by how many pairs they
    have), then two distinct images of theirs. Returns ``(a, b, same)``, duplicates removed.
    """
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    order = np.argsort(labels, kind="stable")
    ids, start, counts = np.unique(labels[order], return_index=True, return_counts=True)
    multi = np.flatnonzero(counts >= 2)
    if len(multi) == 0 or len(ids) < 2:
        raise ValueError("sampling pairs needs at least one identity with 2 images and 2 identities")
    w = counts[multi] * (counts[multi] - 1.0)
    person = rng.choice(multi, size=n_pairs, p=w / w.sum())
    i = rng.integers(0, counts[person])
    j = (i + rng.integers(1, counts[person])) % counts[person]  # a different image of the same person
    sa, sb = order[start[person] + i], order[start[person] + j]
    da = rng.integers(0, len(labels), size=4 * n_pairs)
    db = rng.integers(0, len(labels), size=4 * n_pairs)
    keep = labels[da] != labels[db]
    da, db = da[keep][:n_pairs], db[keep][:n_pairs]
    a, b = np.concatenate([sa, da]), np.concatenate([sb, db])
    same = np.concatenate([np.ones(len(sa), bool), np.zeros(len(da), bool)])
    uniq = np.unique(np.stack([np.minimum(a, b), np.maximum(a, b), same]), axis=1, return_index=True)[1]
    uniq.sort()
    return a[uniq], b[uniq], same[uniq]
