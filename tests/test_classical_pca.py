"""PCA / eigenfaces against scikit-learn's PCA on real LFW crops."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from sklearn.decomposition import PCA as SkPCA

from facelab.classical.pca import PCA
from facelab.data import PreprocessConfig


@pytest.fixture(scope="module")
def faces(lfw):
    """Real LFW crops (the default 64×64 config, every other pixel: 32×32), 1 200 images as float rows."""
    x = lfw.load_images(PreprocessConfig())[:, ::2, ::2]
    idx = np.random.default_rng(0).choice(len(x), 1200, replace=False)
    return x[np.sort(idx)].reshape(1200, -1).astype(np.float64)


@pytest.mark.parametrize("solver,n", [("full", 300), ("gram", 300), ("covariance", 1200), ("auto", 300)])
def test_matches_sklearn_variances_and_subspace(faces, solver, n):
    X = faces[:n] if solver != "covariance" else faces[:, ::2]  # covariance: d ≤ n
    ref = SkPCA(80, svd_solver="full").fit(X)
    ours = PCA(80, svd_solver=solver).fit(X)
    np.testing.assert_allclose(ours.explained_variance_, ref.explained_variance_, rtol=1e-5)
    np.testing.assert_allclose(ours.explained_variance_ratio_, ref.explained_variance_ratio_, rtol=1e-5)
    np.testing.assert_allclose(ours.mean_, ref.mean_, rtol=1e-12)
    angles = scipy.linalg.subspace_angles(ours.components_.T, ref.components_.T)
    assert angles.max() < 1e-6
    # every single axis agrees up to sign (the spectrum of faces has no ties in the top 80)
    cos = np.abs(np.einsum("ij,ij->i", ours.components_, ref.components_))
    np.testing.assert_allclose(cos, 1.0, atol=1e-8)
    np.testing.assert_allclose(ours.components_ @ ours.components_.T, np.eye(80), atol=1e-10)


def test_gram_trick_is_used_when_fewer_images_than_pixels(faces):
    assert PCA(10).fit(faces[:100]).solver_ == "gram"
    assert PCA(10).fit(faces[:, ::8]).solver_ == "covariance"


@pytest.mark.parametrize("whiten", [False, True])
def test_transform_and_reconstruction_match_sklearn(faces, whiten):
    X = faces[:400]
    ref = SkPCA(50, whiten=whiten, svd_solver="full").fit(X)
    ours = PCA(50, whiten=whiten).fit(X)
    z_ref, z = ref.transform(faces[400:500]), ours.transform(faces[400:500])
    signs = np.sign(np.sum(z_ref * z, axis=0))  # axes may differ in sign only
    np.testing.assert_allclose(z * signs, z_ref, rtol=1e-6, atol=1e-6 * np.abs(z_ref).max())
    np.testing.assert_allclose(ours.inverse_transform(z), ref.inverse_transform(z_ref), atol=1e-6)
    if whiten:
        np.testing.assert_allclose(ours.transform(X).var(0, ddof=1), 1.0, rtol=1e-8)


def test_variance_fraction_picks_same_count_as_sklearn(faces):
    X = faces[:500]
    for frac in (0.5, 0.8, 0.95):
        assert PCA(frac).fit(X).n_components_ == SkPCA(frac, svd_solver="full").fit(X).n_components_


def test_full_rank_reconstruction_is_exact(faces):
    X = faces[:60]
    p = PCA(None).fit(X)  # 60 axes: the last one spans the null direction that centring leaves
    np.testing.assert_allclose(p.inverse_transform(p.transform(X)), X, atol=1e-8)


def test_randomized_solver_finds_the_leading_subspace(faces):
    X = faces[:600]
    ref = SkPCA(20, svd_solver="full").fit(X)
    ours = PCA(20, svd_solver="randomized", n_iter=10).fit(X)
    np.testing.assert_allclose(ours.explained_variance_[:10], ref.explained_variance_[:10], rtol=1e-3)


@pytest.mark.parametrize("bad,match", [
    (dict(n_components=301), "larger than possible"),
    (dict(n_components=0), "larger than possible"),
    (dict(n_components=1.5), "n_components must be"),
    (dict(svd_solver="magic"), "svd_solver must be"),
])
def test_bad_parameters_are_named(faces, bad, match):
    with pytest.raises(ValueError, match=match):
        PCA(**bad).fit(faces[:300])


def test_bad_input_is_named(faces):
    with pytest.raises(ValueError, match="empty"):
        PCA(5).fit(np.zeros((0, 10)))
    with pytest.raises(ValueError, match="2-D"):
        PCA(5).fit(faces[:10].reshape(10, 32, 32))
    p = PCA(5).fit(faces[:50])
    with pytest.raises(ValueError, match="features"):
        p.transform(faces[:5, :100])
    with pytest.raises(RuntimeError, match="not fitted"):
        PCA(5).transform(faces[:5])


def test_transform_centres_in_place_only_arrays_it_may_overwrite(faces):
    """``overwrite_x`` gives the same coordinates without a copy of X; by default the caller's array,
    or a view of it, is never changed."""
    pca = PCA(30, dtype=np.float32).fit(faces[:400])
    X = faces[400:600].astype(np.float32)
    before = X.copy()
    expected = (before - pca.mean_) @ pca.components_.T
    np.testing.assert_array_equal(pca.transform(X), expected)
    np.testing.assert_array_equal(pca.transform(X[::1]), expected)  # a view of it
    np.testing.assert_array_equal(X, before)
    rows64 = faces[400:600].copy()  # float64 into a float32 PCA: converted (a copy of its own), not touched
    np.testing.assert_array_equal(pca.transform(rows64, overwrite_x=True), expected)
    np.testing.assert_array_equal(rows64, faces[400:600])
    np.testing.assert_array_equal(pca.transform(X, overwrite_x=True), expected)
    np.testing.assert_array_equal(X, before - pca.mean_)  # centred where it lies
    frozen = before.copy()
    frozen.flags.writeable = False
    np.testing.assert_array_equal(pca.transform(frozen, overwrite_x=True), expected)
