"""Metrics against sklearn / scipy and against brute force."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.metrics import roc_auc_score, roc_curve

from facelab.metrics import SIMILARITIES, get_similarity
from facelab.metrics import identification as idm
from facelab.metrics import verification as vm


def _brute_best_threshold(scores, same):
    """Every candidate threshold (each score, and above the max), accuracy computed directly."""
    best_acc, best_t = -1, None
    for t in sorted(np.concatenate([scores, [scores.max() + 1]])):
        acc = np.mean((scores >= t) == same)
        if acc > best_acc:
            best_acc, best_t = acc, t
    return best_t, best_acc


@pytest.mark.parametrize("seed", range(6))
def test_best_threshold_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = 200
    same = rng.random(n) < 0.5
    scores = rng.normal(same * 1.0, 1.0)
    if seed % 2:  # many ties
        scores = np.round(scores, 1)
    t, acc = vm.best_threshold(scores, same)
    _, brute_acc = _brute_best_threshold(scores, same)
    assert acc == pytest.approx(brute_acc, abs=1e-12)
    assert vm.accuracy_at(scores, same, t) == pytest.approx(acc, abs=1e-12)


def test_auc_roc_eer_tar_against_sklearn_and_definitions():
    rng = np.random.default_rng(3)
    same = rng.random(3000) < 0.5
    scores = rng.normal(same * 1.5, 1.0)
    assert vm.auc(scores, same) == pytest.approx(roc_auc_score(same, scores), abs=1e-12)
    far, tar, _ = roc_curve(same, scores)
    f2, t2, _ = vm.roc(scores, same)
    assert np.array_equal(far, f2) and np.array_equal(tar, t2)
    # EER: at the threshold where FAR and FRR cross, both are close to the returned value
    e = vm.eer(scores, same)
    ts = np.sort(scores)
    fars = np.array([np.mean(scores[~same] >= t) for t in ts])
    frrs = np.array([np.mean(scores[same] < t) for t in ts])
    k = np.argmin(np.abs(fars - frrs))
    assert abs(e - fars[k]) < 0.01 and abs(e - frrs[k]) < 0.01
    # TAR at FAR by brute force over thresholds
    for target in (0.01, 0.001, 0.1):
        brute = max(np.mean(scores[same] >= t) for t in np.concatenate([ts, [np.inf]])
                    if np.mean(scores[~same] >= t) <= target)
        assert vm.tar_at_far(scores, same, target) == pytest.approx(brute, abs=1e-12)


def test_verification_rejects_bad_scores():
    with pytest.raises(ValueError, match="NaN or infinite"):
        vm.best_threshold(np.array([0.1, np.nan]), np.array([True, False]))
    with pytest.raises(ValueError, match="equally long"):
        vm.auc(np.zeros(3), np.zeros(4, bool))


SCIPY = {
    "cosine": lambda A, B: 1 - cdist(A, B, "cosine"),
    "neg_euclidean": lambda A, B: -cdist(A, B, "euclidean"),
    "neg_sq_euclidean": lambda A, B: -cdist(A, B, "sqeuclidean"),
    "neg_manhattan": lambda A, B: -cdist(A, B, "cityblock"),
    "neg_minkowski3": lambda A, B: -cdist(A, B, "minkowski", p=3),
    "neg_chi2": lambda A, B: -np.array([[np.sum(np.where(a + b > 0, (a - b) ** 2 / np.where(a + b > 0, a + b, 1), 0))
                                         for b in B] for a in A]),
    "hist_intersection": lambda A, B: np.array([[np.minimum(a, b).sum() for b in B] for a in A]),
    "jaccard": lambda A, B: np.array([[np.minimum(a, b).sum() / np.maximum(a, b).sum() for b in B] for a in A]),
    "neg_hamming": lambda A, B: -cdist(A != 0, B != 0, "hamming") * A.shape[1],
    "neg_hellinger": lambda A, B: -cdist(np.sqrt(A), np.sqrt(B), "euclidean") / np.sqrt(2),
}


@pytest.mark.parametrize("name", sorted(SIMILARITIES))
def test_similarities_against_scipy(name):
    rng = np.random.default_rng(0)
    A = rng.random((7, 16))
    B = rng.random((5, 16))
    if name == "neg_hamming":
        A, B = (A > 0.5).astype(float), (B > 0.5).astype(float)
    A[0, :4] = 0
    B[0, :4] = 0  # zero bins exercise the chi-square guard
    sim = get_similarity(name)
    expected = SCIPY[name](A, B)
    np.testing.assert_allclose(sim.pairwise(A, B), expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(sim.paired(A[:5], B), np.diag(expected[:5]), rtol=1e-10, atol=1e-10)


def test_float32_embeddings_stay_float32_and_agree():
    rng = np.random.default_rng(1)
    A, B = rng.random((40, 300)).astype(np.float32), rng.random((9, 300)).astype(np.float32)
    sim = get_similarity("neg_chi2")
    fast = sim.pairwise(A, B)
    assert fast.dtype == np.float32
    np.testing.assert_allclose(fast, SCIPY["neg_chi2"](A.astype(float), B.astype(float)), rtol=1e-5)


def test_unknown_similarity_is_named():
    with pytest.raises(KeyError, match="unknown similarity 'nope'"):
        get_similarity("nope")


def test_cmc_and_dir_against_brute_force():
    rng = np.random.default_rng(1)
    gallery = np.array([10, 11, 12, 13, 14])
    probes = rng.choice(gallery, 50)
    scores = rng.random((50, 5))
    curve = idm.cmc(scores, probes, gallery)
    for k in range(1, 6):
        brute = np.mean([probes[i] in gallery[np.argsort(-scores[i])[:k]] for i in range(50)])
        assert curve[k - 1] == pytest.approx(brute)
    assert curve[-1] == 1.0
    unknown = rng.random((200, 5)) * 0.9
    d, tau = idm.dir_at_far(scores, probes, gallery, unknown, 0.05)
    assert np.mean(unknown.max(1) >= tau) <= 0.05
    brute = np.mean((gallery[scores.argmax(1)] == probes) & (scores.max(1) >= tau))
    assert d == pytest.approx(brute)
    with pytest.raises(ValueError, match="not in the gallery"):
        idm.cmc(scores, probes + 100, gallery)


def test_purity_against_brute_force_and_edge_cases():
    from facelab.metrics.clustering import cluster, clustering_scores, purity

    rng = np.random.default_rng(0)
    ids = rng.integers(0, 5, 200)
    clusters = np.where(rng.random(200) < 0.7, ids, rng.integers(0, 5, 200))
    brute = sum(np.bincount(ids[clusters == c]).max() for c in np.unique(clusters)) / 200
    assert purity(ids, clusters) == pytest.approx(brute)
    assert purity(ids, ids) == 1.0 and purity(ids, np.arange(200)) == 1.0
    with pytest.raises(ValueError, match="equal-length"):
        purity(ids, clusters[:-1])
    # well separated blobs are recovered by both clusterers
    centres = rng.normal(size=(4, 16)) * 5
    x = centres[np.repeat(np.arange(4), 30)] + rng.normal(size=(120, 16)) * 0.3
    truth = np.repeat(np.arange(4), 30)
    for method in ("kmeans", "agglomerative"):
        assert clustering_scores(truth, cluster(x, 4, method))["ari"] == pytest.approx(1.0)


def test_chi_square_in_threads_gives_the_one_block_numbers(lfw, monkeypatch):
    """Row blocks on two threads: bit for bit the numbers of one block (real LBP histograms); so for
    the cosine of rows and the rows made unit length."""
    from sklearn.metrics.pairwise import additive_chi2_kernel

    from facelab.classical.face_methods import LBPMethod
    from facelab.data import PreprocessConfig
    from facelab.metrics import distances

    x = lfw.load_images(PreprocessConfig())[:1200]
    h = LBPMethod().fit(x).embed(x)
    monkeypatch.setattr(distances, "_cores", lambda: 2)
    blocks = []
    real = distances._chi_square_rows
    monkeypatch.setattr(distances, "_chi_square_rows", lambda *a: blocks.append(len(a[0])) or real(*a))
    paired = distances.chi_square(h[:600], h[600:])
    assert len(blocks) > 1 and sum(blocks) == 600
    np.testing.assert_array_equal(paired, real(h[:600], h[600:]))
    np.testing.assert_array_equal(distances.pairwise_chi_square(h[:900], h[900:]),
                                  -additive_chi2_kernel(h[:900], h[900:]))
    pixels = x.reshape(len(x), -1).astype(np.float32)
    np.testing.assert_array_equal(distances.cosine(pixels[:600], pixels[600:]),
                                  distances._cosine_rows(pixels[:600], pixels[600:]))
    np.testing.assert_array_equal(distances._unit(pixels), distances._unit_rows(pixels))
