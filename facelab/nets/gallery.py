"""The lecture's deployment trick: embed the gallery once, then identifying a probe against every
enrolled face is one matrix product (cosine = dot product of unit vectors)."""
from __future__ import annotations

import numpy as np


def _unit(x: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"{what} must be (n, dim) embeddings; got shape {x.shape}")
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


class Gallery:
    """Precomputed, L2-normalised gallery embeddings ``(n_gallery, d)`` with their identity labels."""

    def __init__(self, embeddings: np.ndarray, labels: np.ndarray):
        self.embeddings = _unit(embeddings, "gallery embeddings")
        self.labels = np.asarray(labels)
        if self.labels.shape != (len(self.embeddings),):
            raise ValueError(f"gallery labels must have shape ({len(self.embeddings)},); got {self.labels.shape}")

    def scores(self, probes: np.ndarray) -> np.ndarray:
        """Cosine similarity of every probe to every gallery image: ONE product, (n_probe, n_gallery)."""
        probes = _unit(probes, "probe embeddings")
        if probes.shape[1] != self.embeddings.shape[1]:
            raise ValueError(f"probe dim {probes.shape[1]} != gallery dim {self.embeddings.shape[1]}")
        return probes @ self.embeddings.T

    def identify(self, probes: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` identities per probe (best gallery image per identity): ``(labels (n, k), scores (n, k))``."""
        s = self.scores(probes)
        ids, inverse = np.unique(self.labels, return_inverse=True)
        per_id = np.full((len(s), len(ids)), -np.inf, dtype=np.float32)
        np.maximum.at(per_id.T, inverse, s.T)  # max over each identity's gallery images
        k = min(k, len(ids))
        top = np.argsort(-per_id, axis=1, kind="stable")[:, :k]
        return ids[top], np.take_along_axis(per_id, top, axis=1)
