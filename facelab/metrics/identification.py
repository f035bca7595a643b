"""Identification numbers from a probe × gallery-identity score matrix (higher = more alike)."""
from __future__ import annotations

import numpy as np


def cmc(scores: np.ndarray, probe_labels: np.ndarray, gallery_labels: np.ndarray, max_rank: int | None = None) -> np.ndarray:
    """Cumulative match characteristic: ``cmc[k-1]`` = fraction of probes whose identity is among
    the top k gallery identities. ``scores`` is (n_probes, n_identities) with column j for
    ``gallery_labels[j]``; every probe's identity must be enrolled (closed set)."""
    scores = np.asarray(scores)
    probe_labels, gallery_labels = np.asarray(probe_labels), np.asarray(gallery_labels)
    col = {g: j for j, g in enumerate(gallery_labels)}
    missing = [p for p in np.unique(probe_labels) if p not in col]
    if missing:
        raise ValueError(f"closed-set CMC: {len(missing)} probe identities are not in the gallery (e.g. {missing[0]})")
    true_col = np.array([col[p] for p in probe_labels])
    true_score = scores[np.arange(len(scores)), true_col]
    # rank = 1 + number of identities scoring strictly higher (ties resolved in the probe's favour)
    rank = 1 + (scores > true_score[:, None]).sum(1)
    max_rank = max_rank or scores.shape[1]
    return np.array([(rank <= k).mean() for k in range(1, max_rank + 1)])


def dir_at_far(scores_known: np.ndarray, known_labels: np.ndarray, gallery_labels: np.ndarray,
               scores_unknown: np.ndarray, far_target: float) -> tuple[float, float]:
    """Open-set detection-and-identification rate at a false-alarm rate (Phillips et al., FRVT).

    The threshold τ is set so that a fraction ≤ ``far_target`` of unknown probes (people not
    enrolled) have a top score ≥ τ; DIR is the fraction of known probes whose top-1 identity is
    right *and* whose top score is ≥ τ. Returns ``(dir, tau)``.
    """
    top_unknown = np.sort(np.asarray(scores_unknown).max(1))[::-1]
    n_allowed = int(np.floor(far_target * len(top_unknown) + 1e-9))
    # accept strictly above the (n_allowed+1)-th highest unknown score
    tau = np.nextafter(top_unknown[n_allowed], np.inf) if n_allowed < len(top_unknown) else -np.inf
    best = np.argmax(scores_known, 1)
    correct = np.asarray(gallery_labels)[best] == np.asarray(known_labels)
    detected = scores_known.max(1) >= tau
    return float(np.mean(correct & detected)), float(tau)
