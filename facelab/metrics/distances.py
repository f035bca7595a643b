"""Distances and similarities taught in the course, paired (row i vs row i) and pairwise (all vs all).

Each :class:`Similarity` scores "higher = more alike", so a distance d appears as ``neg_<d>``.
The evaluator only ever calls ``similarity.paired(a, b)`` (verification) and
``similarity.pairwise(A, B)`` (identification), whatever the method.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import numpy as np

_EPS = 1e-12


@dataclass(frozen=True)
class Similarity:
    """A named score: ``paired(a, b) -> (n,)`` and ``pairwise(A, B) -> (n, m)``; higher = more alike."""

    name: str
    paired: Callable[[np.ndarray, np.ndarray], np.ndarray]
    pairwise: Callable[[np.ndarray, np.ndarray], np.ndarray]
    doc: str = ""


def _f(x):
    return np.asarray(x, dtype=np.float64)


def _unit_rows(x):
    x = _f(x)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), _EPS)


def _unit(x):
    """Rows scaled to unit length (float64)."""
    x = np.asarray(x)
    return in_row_blocks(_unit_rows, x) if x.ndim == 2 else _unit_rows(x)


# -- distances (lower = closer), paired and pairwise -----------------------------------------
def euclidean(a, b):
    return np.sqrt(sq_euclidean(a, b))


def sq_euclidean(a, b):
    d = _f(a) - _f(b)
    return np.einsum("ij,ij->i", d, d)


def pairwise_sq_euclidean(A, B):
    """‖a‖² + ‖b‖² − 2 a·b, clipped at 0 against round-off (one matrix product)."""
    A, B = _f(A), _f(B)
    d = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * A @ B.T
    return np.maximum(d, 0.0)


def pairwise_euclidean(A, B):
    return np.sqrt(pairwise_sq_euclidean(A, B))


def _float(x):
    """Keep float32/float64 as they are (embeddings are float32: halve the memory traffic)."""
    x = np.asarray(x)
    return x if x.dtype in (np.float32, np.float64) else x.astype(np.float64)


def minkowski(a, b, p: float = 3.0):
    if p < 1:
        raise ValueError(f"Minkowski p must be ≥ 1 to be a metric, got {p}")
    return (np.abs(_float(a) - _float(b)) ** p).sum(-1) ** (1.0 / p)


def pairwise_minkowski(A, B, p: float = 3.0):
    return pairwise_blocked(lambda a, b: minkowski(a, b, p), A, B)


def manhattan(a, b):
    return np.abs(_float(a) - _float(b)).sum(-1)


def pairwise_manhattan(A, B):
    return pairwise_blocked(manhattan, A, B)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def in_row_blocks(fn, *arrays, block_bytes: int = 1 << 23):
    """``fn(*arrays)`` computed on blocks of rows, the blocks shared among one thread per core: the same
    numbers for any ``fn`` that computes every row alone, in less time for functions that release the
    GIL (NumPy's element-wise loops and reductions, scikit-learn's compiled χ²) and with temporaries of
    about ``block_bytes`` (in float64) instead of the arrays' size (a fresh gigabyte is slow to fault
    in). ``arrays`` share their first dimension; the blocks' results are stacked on it."""
    n = len(arrays[0])
    row_bytes = 8 * sum(int(np.prod(x.shape[1:])) for x in arrays)
    rows = max(64, block_bytes // max(row_bytes, 1))
    if n <= rows:
        return fn(*arrays)
    edges = list(range(0, n, rows)) + [n]
    blocks = lambda i: fn(*(x[edges[i]: edges[i + 1]] for x in arrays))
    workers = min(_cores(), len(edges) - 1)
    if workers < 2:
        return np.concatenate([blocks(i) for i in range(len(edges) - 1)])
    with ThreadPoolExecutor(workers) as pool:
        return np.concatenate(list(pool.map(blocks, range(len(edges) - 1))))


def _chi_square_rows(a, b, weights=None):
    total = a + b
    terms = a - b
    np.multiply(terms, terms, out=terms)
    zero = total == 0
    np.divide(terms, total, out=terms, where=~zero)
    terms[zero] = 0.0
    return terms.sum(-1) if weights is None else terms @ _float(weights).astype(terms.dtype)


def chi_square(a, b, weights=None):
    """χ²(a, b) = Σ (a−b)² / (a+b), terms with a+b = 0 omitted (Ahonen et al. 2006, eq. 3);
    with ``weights`` (one per feature) the weighted form Σ w (a−b)²/(a+b) (their eq. 4)."""
    a, b = np.broadcast_arrays(_float(a), _float(b))
    if a.ndim == 2 and weights is None:  # rows of histograms (verification pairs): row blocks in threads
        return in_row_blocks(_chi_square_rows, a, b)  # (not weighted: BLAS's product is blocked by rows)
    return _chi_square_rows(a, b, weights)


def pairwise_chi_square(A, B):
    """Non-negative inputs (histograms) go through scikit-learn's compiled
    ``additive_chi2_kernel`` (= −χ²), about 3× faster than NumPy blocks, on row blocks of A in
    threads; others through blocks."""
    A, B = _float(A), _float(B)
    if A.size and B.size and A.min() >= 0 and B.min() >= 0:
        from sklearn.metrics.pairwise import additive_chi2_kernel

        B = B.astype(A.dtype)
        return in_row_blocks(lambda rows: -additive_chi2_kernel(rows, B), A)
    return pairwise_blocked(chi_square, A, B)


def hist_intersection(a, b):
    """Σ min(a, b) (Swain & Ballard 1991): a similarity, higher = more alike."""
    return np.minimum(_float(a), _float(b)).sum(-1)


def pairwise_hist_intersection(A, B):
    return pairwise_blocked(hist_intersection, A, B)


def jaccard(a, b):
    """Weighted Jaccard Σ min / Σ max for non-negative vectors (binary sets as 0/1 vectors)."""
    a, b = _float(a), _float(b)
    den = np.maximum(a, b).sum(-1)
    return np.where(den > 0, np.minimum(a, b).sum(-1) / np.where(den > 0, den, 1.0), 1.0)


def pairwise_jaccard(A, B):
    return pairwise_blocked(jaccard, A, B)


def hamming(a, b):
    """Number of differing positions of binary codes (any non-zero counts as 1)."""
    return ((np.asarray(a) != 0) != (np.asarray(b) != 0)).sum(-1).astype(np.float64)


def pairwise_hamming(A, B):
    A, B = (np.asarray(A) != 0).astype(np.float64), (np.asarray(B) != 0).astype(np.float64)
    return A @ (1 - B).T + (1 - A) @ B.T  # count of 1/0 plus 0/1 disagreements, as matrix products


def _cosine_rows(a, b):
    return np.einsum("ij,ij->i", _unit_rows(a), _unit_rows(b))


def cosine(a, b):
    return in_row_blocks(_cosine_rows, *np.broadcast_arrays(np.asarray(a), np.asarray(b)))


def pairwise_cosine(A, B):
    return _unit(A) @ _unit(B).T


def pairwise_blocked(paired_fn, A, B, max_elements: int = 1 << 22):
    """All-vs-all for distances without a matrix-product form: ``paired_fn`` on broadcast
    blocks ``(rows, 1, d)`` × ``(1, m, d)``, with rows chosen to bound the temporaries' size."""
    A, B = _float(A), _float(B)
    out = np.empty((len(A), len(B)), dtype=np.result_type(A, B))
    rows = max(1, max_elements // max(1, B.size))
    for i in range(0, len(A), rows):
        out[i: i + rows] = paired_fn(A[i: i + rows, None, :], B[None, :, :])
    return out


# -- the registry ----------------------------------------------------------------------------
def _neg(fn):
    return lambda *args: -fn(*args)


SIMILARITIES: dict[str, Similarity] = {}


def register_similarity(sim: Similarity) -> Similarity:
    SIMILARITIES[sim.name] = sim
    return sim


for _name, _paired, _pairwise, _doc, _negate in [
    ("cosine", cosine, pairwise_cosine, "cosine of the angle between embeddings", False),
    ("neg_euclidean", euclidean, pairwise_euclidean, "minus the Euclidean (L2) distance", True),
    ("neg_sq_euclidean", sq_euclidean, pairwise_sq_euclidean, "minus the squared Euclidean distance", True),
    ("neg_manhattan", manhattan, pairwise_manhattan, "minus the L1 distance", True),
    ("neg_minkowski3", minkowski, pairwise_minkowski, "minus the Minkowski distance, p = 3", True),
    ("neg_chi2", chi_square, pairwise_chi_square, "minus the chi-square histogram distance", True),
    ("hist_intersection", hist_intersection, pairwise_hist_intersection, "histogram intersection", False),
    ("jaccard", jaccard, pairwise_jaccard, "weighted Jaccard similarity", False),
    ("neg_hamming", hamming, pairwise_hamming, "minus the Hamming distance of binary codes", True),
]:
    register_similarity(Similarity(_name, _neg(_paired) if _negate else _paired,
                                   _neg(_pairwise) if _negate else _pairwise, _doc))


def get_similarity(similarity) -> Similarity:
    """A :class:`Similarity` from its registered name (or pass one through)."""
    if isinstance(similarity, Similarity):
        return similarity
    if similarity in SIMILARITIES:
        return SIMILARITIES[similarity]
    if isinstance(similarity, str) and similarity.startswith("neg_minkowski"):
        p = float(similarity[len("neg_minkowski"):])
        return Similarity(similarity, lambda a, b: -minkowski(a, b, p), lambda A, B: -pairwise_minkowski(A, B, p))
    raise KeyError(f"unknown similarity {similarity!r}; registered: {', '.join(SIMILARITIES)}")


# -- classical: Hellinger and weighted chi-square for LBP histograms ------------------
def hellinger(a, b):
    """Hellinger distance √(½ Σ (√a − √b)²) of non-negative histograms (0 = equal, 1 = disjoint for
    L1-normalised ones)."""
    return np.sqrt(0.5 * ((np.sqrt(np.maximum(_f(a), 0)) - np.sqrt(np.maximum(_f(b), 0))) ** 2).sum(-1))


def pairwise_hellinger(A, B):
    """Through one matrix product: Σ(√a − √b)² = Σa + Σb − 2 √a·√b."""
    ra, rb = np.sqrt(np.maximum(_f(A), 0)), np.sqrt(np.maximum(_f(B), 0))
    d = (ra * ra).sum(1)[:, None] + (rb * rb).sum(1)[None, :] - 2.0 * ra @ rb.T
    return np.sqrt(0.5 * np.maximum(d, 0.0))


def weighted_chi_square(a, b, weights):
    """Σ_j w_j Σ_{i ∈ region j} (a_i − b_i)² / (a_i + b_i) (Ahonen et al. 2006, eq. 4); ``weights``
    holds one weight per feature (repeat a per-region weight over that region's bins)."""
    return chi_square(a, b, weights)


def weighted_chi2_similarity(weights, name: str = "neg_weighted_chi2") -> Similarity:
    """A :class:`Similarity` scoring −weighted χ² with fixed per-feature ``weights`` (d,)."""
    w = _f(weights)
    return Similarity(name, lambda a, b: -weighted_chi_square(a, b, w),
                      lambda A, B: -pairwise_blocked(lambda x, y: weighted_chi_square(x, y, w), A, B),
                      "minus the region-weighted chi-square distance (Ahonen et al. 2006)")


if "neg_hellinger" not in SIMILARITIES:
    register_similarity(Similarity("neg_hellinger", _neg(hellinger), _neg(pairwise_hellinger),
                                   "minus the Hellinger distance of histograms"))
# -- end classical --
