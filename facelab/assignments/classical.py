"""Unit 2 assignment — classical: LBP codes with bilinear interpolation, PCA via the SVD."""
from __future__ import annotations

import numpy as np

from . import reference as ref
from .grading import Assignment, Checks, Fail, as_array, call, expect_close

checks = Checks()


def _image(seed: int, shape=(20, 24), levels: int = 256) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, levels, shape).astype(np.uint8)


def _lbp_mistakes(img, P, R) -> dict:
    clockwise = np.flipud(ref.lbp_codes(np.flipud(img), P, R))
    return {
        "your diagonal neighbours are read from the corner pixels: sample the circle of radius R with "
        "BILINEAR interpolation (the diagonal points at R=1 lie at (±0.707, ±0.707))":
            ref.lbp_codes(img, P, R, interpolate=False),
        "bit order reversed: neighbour p (angle 2πp/P, p = 0 to the right) must carry weight 2^p":
            ref.lbp_codes(img, P, R, reverse_bits=True),
        "you walk the circle clockwise: neighbour p is at (r − R·sin(2πp/P), c + R·cos(2πp/P)) — rows grow "
        "downwards, so p = 2 is ABOVE the centre": clockwise,
        "a neighbour equal to the centre must give bit 1 (s(x) = 1 for x ≥ 0; use a tolerance of 1e-6 "
        "for interpolation round-off), you used >": ref.lbp_codes(img, P, R, strict=True),
    }


def _grade_lbp(student, img, P, R, what):
    got = call(student, "lbp_codes", img, P, R)
    expected = ref.lbp_codes(img, P, R)
    m = int(np.ceil(R))
    expect_close(got, expected, what, rtol=0, atol=0.5, mistakes=_lbp_mistakes(img, P, R),
                 hint=f"codes are returned for the interior pixels only: shape (h − {2 * m}, w − {2 * m})")


@checks.add("lbp_codes", 3, "seeded 20×24 uint8 image, P=8, R=1 (vs scikit-image's 'default' LBP)")
def _(student):
    _grade_lbp(student, _image(0), 8, 1.0, "LBP codes")


@checks.add("lbp_codes", 2, "many ties (4 grey levels)")
def _(student):
    _grade_lbp(student, _image(1, levels=4), 8, 1.0, "LBP codes with ties")


@checks.add("lbp_codes", 1, "flat image: every neighbour ties, every code 255")
def _(student):
    _grade_lbp(student, np.full((6, 7), 90, np.uint8), 8, 1.0, "LBP codes of a flat image")


@checks.add("lbp_codes", 2, "P=8, R=2 (interpolation off the grid, 2-pixel border)")
def _(student):
    _grade_lbp(student, _image(2, (16, 15)), 8, 2.0, "LBP_{8,2} codes")


def _data(seed: int, n: int, d: int) -> np.ndarray:
    """Data with well-separated variances (so the principal axes are unique) and a non-zero mean."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    scales = 3.0 * 0.7 ** np.arange(d)
    return (rng.standard_normal((n, d)) * scales) @ q.T + rng.normal(5, 2, d)


def _unpack_fit(out):
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise Fail(f"`pca_fit` must return (mean, components), got {type(out).__name__}")
    return as_array(out[0], "pca_fit"), as_array(out[1], "pca_fit")


def _same_subspace_rows(got, expected) -> bool:
    """Row i of ``got`` equals ± row i of ``expected`` (principal axes have no sign)."""
    if got.shape != expected.shape:
        return False
    cos = np.abs(np.sum(got * expected, axis=1))
    return bool(np.allclose(cos, 1.0, atol=1e-6)) and bool(np.allclose(np.abs(got), np.abs(expected), atol=1e-6))


def _grade_pca_fit(student, X, k, what):
    mean, comps = _unpack_fit(call(student, "pca_fit", X, k))
    ref_mean, ref_comps = ref.pca_fit(X, k)
    d = X.shape[1]
    if comps.shape != (k, d):
        hint = (" — these look like columns of U (one value per SAMPLE): the components are the first k "
                "rows of Vᵀ" if comps.shape in ((len(X), k), (k, len(X))) else "")
        raise Fail(f"{what}: components have shape {comps.shape}, expected (k, d) = {(k, d)}{hint}")
    expect_close(mean, ref_mean, f"{what}: mean", hint="mean = X.mean(axis=0)")
    gram = comps @ comps.T
    if not np.allclose(gram, np.eye(k), atol=1e-6):
        raise Fail(f"{what}: the components are not orthonormal (max |W Wᵀ − I| = "
                   f"{np.abs(gram - np.eye(k)).max():.3g}); use the unit right-singular vectors")
    if _same_subspace_rows(comps, ref_comps):
        return
    _, uncentred = ref.pca_fit(X, k, centre=False)
    if _same_subspace_rows(comps, uncentred):
        raise Fail(f"{what}: your components are those of the UNcentred data: subtract the mean before the SVD")
    centred = X - ref_mean
    captured = np.var(centred @ comps.T, axis=0).sum()
    best = np.var(centred @ ref_comps.T, axis=0).sum()
    if captured < 0.99 * best:
        raise Fail(f"{what}: your {k} components capture {captured / best:.1%} of the variance that the top-{k} "
                   "capture: keep the LARGEST singular values first (np.linalg.eigh returns ascending eigenvalues)")
    raise Fail(f"{what}: component rows differ from the top-{k} right-singular vectors of the centred data "
               f"(compared up to sign: |⟨w_i, v_i⟩| = {np.round(np.abs(np.sum(comps * ref_comps, 1)), 4).tolist()}, "
               "expected all 1)")


@checks.add("pca_fit", 3, "seeded data n=60, d=8, k=3 (components up to sign)")
def _(student):
    _grade_pca_fit(student, _data(0, 60, 8), 3, "PCA")


@checks.add("pca_fit", 2, "eigenfaces case: fewer samples than dimensions (n=12, d=40, k=5)")
def _(student):
    _grade_pca_fit(student, _data(1, 12, 40), 5, "PCA with n < d")


@checks.add("pca_transform", 2, "seeded projection")
def _(student):
    X = _data(2, 30, 6)
    mean, comps = ref.pca_fit(X, 3)
    Y = _data(3, 7, 6)
    expect_close(call(student, "pca_transform", Y, mean, comps), ref.pca_transform(Y, mean, comps), "projection",
                 mistakes={"you projected X without subtracting the mean: (X − μ) Wᵀ": Y @ comps.T},
                 hint="(X − mean) @ components.T has shape (n, k)")


@checks.add("pca_transform", 1, "the training mean projects to the origin")
def _(student):
    X = _data(4, 20, 5)
    mean, comps = ref.pca_fit(X, 2)
    expect_close(call(student, "pca_transform", mean[None, :], mean, comps), np.zeros((1, 2)),
                 "projection of the mean", atol=1e-9,
                 mistakes={"you projected X without subtracting the mean: (X − μ) Wᵀ": mean[None, :] @ comps.T})


# -- run on real data ---------------------------------------------------------------------------
def lbp_histograms(codes: np.ndarray, grid: int = 4, bins: int = 256) -> np.ndarray:
    """Concatenated per-cell code histograms on a grid×grid layout, each normalised to sum 1
    (Ahonen, Hadid & Pietikäinen 2006)."""
    h, w = codes.shape
    rows, cols = np.linspace(0, h, grid + 1).astype(int), np.linspace(0, w, grid + 1).astype(int)
    out = []
    for i in range(grid):
        for j in range(grid):
            cell = codes[rows[i]:rows[i + 1], cols[j]:cols[j + 1]].ravel()
            out.append(np.bincount(cell, minlength=bins)[:bins] / max(cell.size, 1))
    return np.concatenate(out)


def _pool2(images: np.ndarray) -> np.ndarray:
    """2×2 mean pooling: (n, h, w, 1) → (n, h/2, w/2)."""
    n, h, w = images.shape[:3]
    return images[:, : h // 2 * 2, : w // 2 * 2, 0].reshape(n, h // 2, 2, w // 2, 2).mean((2, 4))


def run(student, *, lfw, quick: bool = False, seed: int = 0, progress: bool = False) -> dict:
    """View 1 verification with (a) LBP_{8,1} 4×4-cell histograms from the student's codes,
    compared by χ², and (b) eigenfaces from the student's PCA, compared by cosine. Thresholds are
    chosen on pairsDevTrain, accuracy measured on pairsDevTest; the reference pipeline's numbers
    are reported next to the student's."""
    from ..data.preprocess import PreprocessConfig
    from ..metrics.distances import chi_square, cosine
    from .realdata import flat, verify, view1

    config = PreprocessConfig(size=64 if quick else 80, crop=(112, 112))
    train, test = view1(lfw, config, per_class=100 if quick else None, seed=seed)

    def lbp_scores(codes_fn):
        def scores(data):
            hists = np.stack([lbp_histograms(np.asarray(codes_fn(img[..., 0], 8, 1.0)).astype(np.int64))
                              for img in data.images])
            return -chi_square(hists[data.a], hists[data.b])
        return scores

    code_agreement = float(np.mean([np.mean(np.asarray(student.lbp_codes(img[..., 0], 8, 1.0)) == ref.lbp_codes(img[..., 0]))
                                    for img in train.images[:20]]))
    lbp = {"student": verify(lbp_scores(student.lbp_codes), train, test), "reference": verify(lbp_scores(ref.lbp_codes), train, test),
           "code_agreement_first_20_images": code_agreement, "grid": 4, "similarity": "neg_chi2"}

    k = 40 if quick else 100
    pooled = lambda d: flat(_pool2(d.images))  # eigenfaces at half resolution: a CPU-sized SVD
    X = pooled(train)
    mean, comps = student.pca_fit(X, k)
    proj = lambda d: np.asarray(student.pca_transform(pooled(d), mean, comps))
    rmean, rcomps = ref.pca_fit(X, k)
    rp = lambda d: ref.pca_transform(pooled(d), rmean, rcomps)

    def cosine_scores(project):
        def scores(data):
            e = project(data)
            return cosine(e[data.a], e[data.b])
        return scores

    pca = {"student": verify(cosine_scores(proj), train, test), "reference": verify(cosine_scores(rp), train, test),
           "n_components": k, "fitted_on_images": len(X), "pixels": X.shape[1], "similarity": "cosine"}
    return {"preprocess": config.to_dict(), "train_pairs": len(train), "test_pairs": len(test),
            "lbp": lbp, "eigenfaces": pca}


ASSIGNMENT = Assignment("classical", 2, "LBP codes (P=8, R=1, bilinear) and PCA projection via the SVD",
                        ("lbp_codes", "pca_fit", "pca_transform"), checks, run)
