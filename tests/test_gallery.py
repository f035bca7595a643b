"""Gallery search and identification against brute force."""
import numpy as np
import pytest

from facelab.evaluation.gallery import Gallery


@pytest.mark.parametrize("similarity", ["cosine", "neg_euclidean"])
def test_search_and_identify_match_brute_force(similarity):
    rng = np.random.default_rng(0)
    emb, labels = rng.normal(size=(300, 16)), rng.integers(0, 40, 300)
    probes = rng.normal(size=(7, 16))
    g = Gallery(emb, labels, similarity)
    if similarity == "cosine":
        u = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)
        brute = u(probes) @ u(emb).T
    else:
        brute = -np.linalg.norm(probes[:, None] - emb[None], axis=2)
    np.testing.assert_allclose(g.scores(probes), brute, rtol=1e-4, atol=1e-5)
    ids, scores, rows = g.search(probes, k=5)
    for i in range(7):
        assert list(rows[i]) == list(np.argsort(-brute[i], kind="stable")[:5])
        assert np.array_equal(ids[i], labels[rows[i]])
    top_ids, top_scores = g.identify(probes, k=3)
    for i in range(7):
        best = {c: brute[i][labels == c].max() for c in np.unique(labels)}
        expect = sorted(best, key=lambda c: -best[c])[:3]
        assert list(top_ids[i]) == expect
        np.testing.assert_allclose(top_scores[i], [best[c] for c in expect], rtol=1e-4)


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match="labels must have shape"):
        Gallery(np.zeros((3, 2)), np.zeros(4))
    with pytest.raises(ValueError, match=r"probe embeddings must be \(n, 2\)"):
        Gallery(np.ones((3, 2)), np.zeros(3)).scores(np.ones((1, 5)))
