"""Fisherfaces, Joint Bayesian and the registered classical methods, against independent references."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from scipy.stats import multivariate_normal
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

from facelab import methods as registry
from facelab.classical.fisher import FisherLDA
from facelab.classical.metric_learning import JointBayesian
from facelab.classical.pca import PCA
from facelab.data import PreprocessConfig
from facelab.data import PreprocessConfig
from facelab.metrics import get_similarity


@pytest.fixture(scope="module")
def people(lfw):
    """Images (64×64 default config) and labels of the LFW people with ≥ 20 images: 62 people."""
    x = lfw.load_images(PreprocessConfig())
    ids, counts = np.unique(lfw.labels, return_counts=True)
    keep = np.isin(lfw.labels, ids[counts >= 20])
    return x[keep], lfw.labels[keep]


def test_fisher_directions_match_sklearn_lda_in_pca_space(people):
    x, y = people
    X = x[:, ::2, ::2].reshape(len(x), -1).astype(np.float64)  # 32×32
    ours = FisherLDA(pca_components=150, n_components=10).fit(X, y)
    Z = ours.pca_.transform(X)
    ref = LinearDiscriminantAnalysis(solver="eigen").fit(Z, y)
    # the same generalised eigenproblem: S_B w = λ S_W w up to sklearn's scaling of both matrices
    angles = scipy.linalg.subspace_angles(ours.lda_scalings_[:, :5], ref.scalings_[:, :5])
    assert angles.max() < 1e-6
    P = ours.transform(X)
    _, s_w = _within(P, y)
    np.testing.assert_allclose(s_w, np.eye(10), atol=1e-8)  # eigh normalises wᵀ S_W w = 1


def _within(P, y):
    mu = np.stack([P[y == c].mean(0) for c in np.unique(y)])
    W = P - mu[np.searchsorted(np.unique(y), y)]
    return mu, W.T @ W


def test_joint_bayesian_score_is_twice_the_log_likelihood_ratio(people):
    x, y = people
    Z = PCA(12, whiten=True).fit_transform(x[:, ::4, ::4].reshape(len(x), -1))
    jb = JointBayesian(n_iter=5).fit(Z, y)
    S_mu, S_eps = jb.S_mu_, jb.S_eps_
    d = len(S_mu)
    same = np.block([[S_mu + S_eps, S_mu], [S_mu, S_mu + S_eps]])
    diff = np.block([[S_mu + S_eps, np.zeros((d, d))], [np.zeros((d, d)), S_mu + S_eps]])
    a, b = Z[:40] - jb.mean_, Z[40:80] - jb.mean_
    pair = np.hstack([a, b])
    llr = multivariate_normal(np.zeros(2 * d), same).logpdf(pair) - multivariate_normal(np.zeros(2 * d), diff).logpdf(pair)
    const = -0.5 * (np.linalg.slogdet(same)[1] - np.linalg.slogdet(diff)[1])
    r = jb.score_paired(Z[:40], Z[40:80])
    np.testing.assert_allclose(r, 2 * (llr - const), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(jb.score_pairwise(Z[:5], Z[40:45]).diagonal(), r[:5], rtol=1e-10)


def _reference_em(X, y, n_iter):
    """Chen et al. (2012) EM written per person with explicit inverses (slow, obvious)."""
    X = X - X.mean(0)
    ids = np.unique(y)
    means = np.stack([X[y == i].mean(0) for i in ids])
    S_mu = means.T @ means / len(ids)
    W = np.concatenate([X[y == i] - X[y == i].mean(0) for i in ids])
    S_eps = W.T @ W / len(X)
    for _ in range(n_iter):
        F = np.linalg.inv(S_eps)
        mus, epss = [], []
        for i in ids:
            xi = X[y == i]
            m = len(xi)
            G = -np.linalg.inv(m * S_mu + S_eps) @ S_mu @ F
            s = xi.sum(0)
            mus.append(S_mu @ (F + m * G) @ s)
            epss.extend(xj + S_eps @ G @ s for xj in xi)
        mus, epss = np.array(mus), np.array(epss)
        S_mu, S_eps = mus.T @ mus / len(mus), epss.T @ epss / len(epss)
    return S_mu, S_eps


def test_joint_bayesian_em_matches_the_per_person_reference(people):
    x, y = people
    Z = PCA(8, whiten=True).fit_transform(x[:, ::4, ::4].reshape(len(x), -1))
    y = y.copy()
    y[::7] = -np.arange(len(y[::7])) - 1  # some one-image people, as in LFW
    jb = JointBayesian(n_iter=4, tol=0).fit(Z, y)
    S_mu, S_eps = _reference_em(Z, y, 4)
    np.testing.assert_allclose(jb.S_mu_, S_mu, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(jb.S_eps_, S_eps, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", ["eigenfaces", "fisherfaces", "lbp", "lbp-chi2", "lbp-weighted", "lbp+jb", "eigenfaces+jb"])
def test_registered_methods_fit_embed_and_score(lfw, name):
    method = registry.create(name, seed=0, quick=True)
    x = lfw.load_images(method.preprocess)
    ids, counts = np.unique(lfw.labels, return_counts=True)
    train = np.flatnonzero(np.isin(lfw.labels, ids[(counts >= 8) & (counts < 30)]))  # ~ 1 000 images
    method.fit(x[train], lfw.labels[train])
    test = np.flatnonzero(np.isin(lfw.labels, ids[counts == 7]))[:70]
    e = method.embed(x[test])
    assert e.shape[0] == 70 and np.isfinite(e).all()
    sim = get_similarity(method.similarity)
    y = lfw.labels[test]
    s = sim.pairwise(e, e)
    np.fill_diagonal(s, -np.inf)
    # an independent check that the score carries identity: nearest neighbours beat chance (1/10) clearly
    assert np.mean(y[np.argmax(s, 1)] == y) > 0.25
    np.testing.assert_allclose(sim.paired(e[:10], e[10:20]), s[np.arange(10), np.arange(10, 20)], rtol=1e-5)
    assert method.config["name"] == name or name.startswith(method.config["name"])


def test_methods_refuse_bad_images(lfw):
    method = registry.create("eigenfaces")
    x = lfw.load_images(method.preprocess)[:50]
    labels = lfw.labels[:50]
    with pytest.raises(ValueError, match="empty"):
        method.fit(x[:0], labels[:0])
    with pytest.raises(ValueError, match="greyscale"):
        method.fit(np.repeat(x, 3, axis=-1), labels)
    method.fit(x, labels)
    with pytest.raises(ValueError, match="shape"):
        method.embed(x[:, :20, :20])
    with pytest.raises(ValueError, match="larger than possible"):
        PCA(51).fit(x.reshape(50, -1))
    with pytest.raises(ValueError, match="more images than classes"):
        FisherLDA().fit(x.reshape(50, -1)[:3], np.arange(3))


def test_fisherfaces_keep_at_most_n_minus_c_pca_axes_on_a_small_training_set(lfw):
    """Belhumeur et al. project to N − c PCA axes: more would make the within-class scatter singular.
    A training set of 12 people × 10 photos with pca_components=300 asks for more than N − c = 108."""
    people = [p for p, n in lfw.layout.image_counts.items() if n >= 10][:12]
    positions = np.concatenate([lfw.people_indices([p])[:10] for p in people])
    x = lfw.load_images(PreprocessConfig(size=32, crop=(80, 80))).reshape(len(lfw), -1)[positions].astype(float)
    y = np.repeat(np.arange(12), 10)
    lda = FisherLDA(pca_components=300).fit(x, y)
    assert lda.pca_.components_.shape[0] == 120 - 12 and lda.n_components_ == 11
    assert np.all(np.isfinite(lda.eigenvalues_)) and lda.eigenvalues_[0] > lda.eigenvalues_[-1] > 0


def test_flip_averaged_lbp_is_mirror_invariant(people):
    from facelab.classical.face_methods import LBPMethod

    x = people[0][:6]  # (6, 64, 64, 1) real faces
    mirrored = x[:, :, ::-1]
    plain = LBPMethod(grid=(8, 8)).fit(x)
    flipped = LBPMethod(grid=(8, 8), flip_average=True).fit(x)
    assert not np.allclose(plain.embed(mirrored), plain.embed(x), atol=1e-3)  # LBP alone is not symmetric
    np.testing.assert_allclose(flipped.embed(mirrored), flipped.embed(x), atol=1e-7)
    np.testing.assert_allclose(flipped.embed(x), 0.5 * (plain.embed(x) + plain.embed(mirrored)), atol=1e-7)


def test_lbp_whitens_without_labels_and_chi2_variant_is_ahonen(people):
    from facelab.classical.face_methods import LBP_PREPROCESS, LBPMethod

    x = people[0][:300]
    lbp = registry.create("lbp", pca_dim=40).fit(x)  # no labels: the whitening is unsupervised
    z = lbp.pca_.transform(lbp.base.embed(x).astype(np.float64))
    np.testing.assert_allclose(np.cov(z.T, bias=False).diagonal(), 1.0, rtol=0.05)  # whitened training faces
    chi2 = registry.create("lbp-chi2")
    assert chi2.name == "lbp-chi2" and chi2.similarity == "neg_chi2" and chi2.preprocess == LBP_PREPROCESS
    np.testing.assert_array_equal(chi2.fit(x).embed(x[:5]), LBPMethod(flip_average=True).fit(x).embed(x[:5]))


def test_whitened_lbp_embeds_only_the_faces_its_pca_learns_from(people):
    """With no metric to learn, ``lbp`` describes just the seeded subset its whitening is fitted on,
    and gets the PCA that the subset of every face's description gives."""
    from facelab.classical.face_methods import LBPMethod

    x = people[0][:300]
    described = []
    lbp = registry.create("lbp", pca_dim=20)
    lbp.pca_max_samples = 120
    real = lbp.base.embed
    lbp.base.embed = lambda images: described.append(len(images)) or real(images)
    lbp.fit(x)
    assert described == [120]
    subset = np.sort(np.random.default_rng(lbp.seed).choice(300, 120, replace=False))
    reference = PCA(20, whiten=True, svd_solver="randomized", n_iter=4, random_state=lbp.seed,
                    dtype=np.float32).fit(LBPMethod(sqrt=True, flip_average=True).fit(x).embed(x)[subset])
    np.testing.assert_array_equal(lbp.pca_.components_, reference.components_)
    feats = LBPMethod(sqrt=True, flip_average=True).fit(x).embed(x[:7])
    np.testing.assert_array_equal(lbp.embed(x[:7]), reference.transform(feats).astype(np.float32))
