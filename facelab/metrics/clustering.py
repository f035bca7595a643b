"""Face clustering quality: how well clusters of embeddings agree with the identities.

Clustering itself is scikit-learn's (k-means, agglomerative); what the course measures is here.
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix


def purity(identities, clusters) -> float:
    """Fraction of faces whose cluster's majority identity is their own (Manning et al., IR book §16.3).

    1.0 for a perfect clustering; trivially 1.0 with one cluster per face — read it next to the
    number of clusters, or use :func:`clustering_scores`, which adds NMI and ARI.
    """
    identities, clusters = np.asarray(identities), np.asarray(clusters)
    if identities.shape != clusters.shape or identities.ndim != 1 or len(identities) == 0:
        raise ValueError(f"identities {identities.shape} and clusters {clusters.shape} must be equal-length 1-D")
    return float(contingency_matrix(identities, clusters).max(axis=0).sum() / len(identities))


def cluster(embeddings, n_clusters: int, method: str = "kmeans", seed: int = 0) -> np.ndarray:
    """Cluster L2-normalised embeddings (so Euclidean distance ranks like cosine)."""
    from sklearn.cluster import AgglomerativeClustering, KMeans

    x = np.asarray(embeddings, dtype=np.float64)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    if method == "kmeans":
        return KMeans(n_clusters, n_init=10, random_state=seed).fit_predict(x)
    if method == "agglomerative":
        return AgglomerativeClustering(n_clusters, linkage="average", metric="cosine").fit_predict(x)
    raise ValueError(f"unknown clustering method {method!r}; choose 'kmeans' or 'agglomerative'")


def clustering_scores(identities, clusters) -> dict:
    return {"purity": purity(identities, clusters),
            "nmi": float(normalized_mutual_info_score(identities, clusters)),
            "ari": float(adjusted_rand_score(identities, clusters))}
