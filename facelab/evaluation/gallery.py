"""The deployment trick from the lectures: embed the gallery once; identifying or searching a
probe against every enrolled face is then one matrix product (for cosine: a dot product of
unit vectors, normalised once at enrolment)."""
from __future__ import annotations

import numpy as np

from ..metrics import get_similarity


class Gallery:
    """Precomputed gallery embeddings ``(n, d)`` with identity labels and the method's similarity."""

    def __init__(self, embeddings, labels, similarity="cosine"):
        emb = np.asarray(embeddings, dtype=np.float32)
        if emb.ndim != 2 or len(emb) == 0:
            raise ValueError(f"gallery embeddings must be a non-empty (n, dim) array; got shape {emb.shape}")
        self.labels = np.asarray(labels)
        if self.labels.shape != (len(emb),):
            raise ValueError(f"gallery labels must have shape ({len(emb)},); got {self.labels.shape}")
        self.similarity = get_similarity(similarity)
        self._cosine = self.similarity.name == "cosine"
        # cosine: normalise once here, so each query is a single product with the stored matrix
        self.embeddings = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12) if self._cosine else emb

    def scores(self, probes) -> np.ndarray:
        """Similarity of every probe to every gallery face, ``(n_probes, n_gallery)``."""
        probes = np.asarray(probes, dtype=np.float32)
        if probes.ndim != 2 or probes.shape[1] != self.embeddings.shape[1]:
            raise ValueError(f"probe embeddings must be (n, {self.embeddings.shape[1]}); got {probes.shape}")
        if self._cosine:
            return (probes / np.maximum(np.linalg.norm(probes, axis=1, keepdims=True), 1e-12)) @ self.embeddings.T
        return self.similarity.pairwise(probes, self.embeddings)

    def search(self, probes, k: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Top-``k`` gallery faces per probe: ``(labels, scores, rows)``, each ``(n_probes, k)``, best first."""
        s = self.scores(probes)
        k = min(k, s.shape[1])
        part = np.argpartition(-s, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(s, part, 1), axis=1, kind="stable")
        rows = np.take_along_axis(part, order, 1)
        return self.labels[rows], np.take_along_axis(s, rows, 1), rows

    def identify(self, probes, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` identities per probe, each scored by its best gallery face: ``(labels, scores)``."""
        s = self.scores(probes)
        ids, inverse = np.unique(self.labels, return_inverse=True)
        per_id = np.full((len(s), len(ids)), -np.inf, dtype=s.dtype)
        np.maximum.at(per_id.T, inverse, s.T)
        k = min(k, len(ids))
        top = np.argsort(-per_id, axis=1, kind="stable")[:, :k]
        return ids[top], np.take_along_axis(per_id, top, 1)
