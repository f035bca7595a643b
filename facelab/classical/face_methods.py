"""The classical estimators as facelab methods (fit / embed / similarity / config).

Registered names (see ``facelab/methods.py``):

* ``eigenfaces``      — PCA of the training faces, whitened, compared by cosine.
* ``fisherfaces``     — PCA then LDA (Belhumeur et al. 1997), compared by cosine.
* ``lbp-chi2``        — Ahonen et al. (2006) grid of uniform-LBP histograms, compared by chi-square.
* ``lbp``             — the same histograms (square-rooted), whitened by a PCA of the training
  faces (no identity labels), cosine: what whitening does for eigenfaces, done for LBP.
* ``eigenfaces+jb``   — eigenface coordinates scored by Joint Bayesian (Chen et al. 2012).
* ``lbp+jb``          — √LBP histograms → PCA whitening → Joint Bayesian.
* ``lbp+lda``         — √LBP histograms → PCA whitening → LDA → cosine (the WCCN-style baseline).
* ``lbp-pyramid+jb``  — √LBP histograms of the face at five sizes (Chen et al. 2013) → PCA whitening → Joint Bayesian.

Default crops, sizes and parameters were chosen on LFW View 1 only (see ``lectures/02_classical.md``).
"""
from __future__ import annotations

import numpy as np

from ..base import FaceMethod, check_images, check_labels
from ..data.preprocess import PreprocessConfig
from ..memo import MEMO
from ..metrics.distances import weighted_chi2_similarity
from .fisher import FisherLDA
from .lbp import LBPDescriptor, LBPPyramid
from .metric_learning import JointBayesian
from .pca import PCA


# chosen on LFW View 1 (crop 64-120, size 24/32, equalisation on/off; see lectures/02_classical.md)
EIGEN_PREPROCESS = PreprocessConfig(size=(32, 32), crop=(80, 80), equalize=True)
LBP_PREPROCESS = PreprocessConfig(size=(80, 80), crop=(80, 80))
# chosen on LFW View 1 (crop 80-120, 1-6 sizes 0.8 apart, 8-12 pixel cells, 300-600 dimensions;
# reports/cpu/lbp-pyramid-view1): a wider crop than LBP_PREPROCESS, 11-pixel cells at every size
LBP_PYRAMID_PREPROCESS = PreprocessConfig(size=(110, 110), crop=(110, 110))
LBP_PYRAMID = ((110, 9), (88, 7), (70, 6), (56, 4), (44, 3))


def _flat(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1).astype(np.float64)


def _greyscale(images, what="images"):
    images = check_images(images, what=what)
    if images.shape[-1] != 1:
        raise ValueError(f"{what}: this method expects greyscale images (1 channel), got {images.shape[-1]}; "
                         "load them with the method's own preprocess config (grayscale=True)")
    return images


class _FittedShape(FaceMethod):
    """Remembers the training image shape so that embedding other sizes fails clearly."""

    def _check_fit_input(self, images, labels, min_classes=1):
        images = _greyscale(images, "training images")
        labels = check_labels(labels, len(images), min_classes=min_classes)
        self.shape_ = images.shape[1:]
        return images, labels

    def _check_embed_input(self, images):
        if not hasattr(self, "shape_"):
            raise RuntimeError(f"{self.name}: call fit(images, labels) before embed(images)")
        return check_images(_greyscale(images), self.shape_)


class EigenfacesMethod(_FittedShape):
    """Eigenfaces (Turk & Pentland 1991): project on the top principal axes of the training faces.

    n_components: axes kept. whiten: unit variance per axis (then cosine ≈ Mahalanobis angle,
    Moon & Phillips 2001). drop_first: leading axes removed (they mostly encode lighting).
    """

    name = "eigenfaces"
    similarity = "cosine"

    def __init__(self, preprocess=None, seed=0, quick=False, n_components: int = 100, whiten: bool = True,
                 drop_first: int = 0, similarity: str = "cosine"):
        super().__init__(PreprocessConfig.coerce(preprocess, EIGEN_PREPROCESS), seed, quick)
        self.n_components, self.whiten, self.drop_first = n_components, whiten, drop_first
        self.similarity = similarity

    def fit(self, images, labels):
        images, labels = self._check_fit_input(images, labels)
        x = _flat(images)
        k = min(self.n_components + self.drop_first, len(x) - 1, x.shape[1])
        if k <= self.drop_first:
            raise ValueError(f"{self.name}: {len(x)} training images allow {k} components, "
                             f"fewer than drop_first + 1 = {self.drop_first + 1}")
        self.pca_ = PCA(k, whiten=self.whiten, random_state=self.seed).fit(x)
        return self

    def embed(self, images):
        return self.pca_.transform(_flat(self._check_embed_input(images)))[:, self.drop_first:].astype(np.float32)

    def params(self):
        return {"n_components": self.n_components, "whiten": self.whiten, "drop_first": self.drop_first,
                "similarity": self.similarity}


class FisherfacesMethod(_FittedShape):
    """Fisherfaces (Belhumeur et al. 1997): PCA to ``pca_components`` (paper: n − c), then LDA.

    Only people with at least two training images carry within-class information; all images
    are used, as in the paper. n_components: discriminant axes kept (paper: c − 1).
    """

    name = "fisherfaces"
    similarity = "cosine"

    def __init__(self, preprocess=None, seed=0, quick=False, pca_components: int | None = 300,
                 n_components: int | None = 200, reg: float = 0.0, similarity: str = "cosine"):
        super().__init__(PreprocessConfig.coerce(preprocess, EIGEN_PREPROCESS), seed, quick)
        self.pca_components, self.n_components, self.reg = pca_components, n_components, reg
        self.similarity = similarity

    def fit(self, images, labels):
        images, labels = self._check_fit_input(images, labels, min_classes=2)
        self.lda_ = FisherLDA(self.n_components, pca_components=self.pca_components, reg=self.reg)
        self.lda_.fit(_flat(images), labels)
        return self

    def embed(self, images):
        return self.lda_.transform(_flat(self._check_embed_input(images))).astype(np.float32)

    def params(self):
        return {"pca_components": self.pca_components, "n_components": self.n_components, "reg": self.reg,
                "similarity": self.similarity}


class LBPMethod(_FittedShape):
    """Ahonen et al. (2006): per-cell LBP histograms, concatenated, compared by (weighted) chi-square.

    scales, mapping, grid, norm, sqrt: see :class:`facelab.classical.lbp.LBPDescriptor`.
    similarity: ``neg_chi2`` (the paper), or e.g. ``cosine`` / ``neg_hellinger``.
    region_weights: None (plain χ²); ``"learned"`` — Ahonen's weighted χ² (eq. 4) with one weight
    per cell learned from training identities: w_j = (μ_diff − μ_same) / (σ²_same + σ²_diff) of
    the cell's χ² distance over ``n_pairs`` seeded same/different pairs (Fisher's criterion per
    cell, clipped at 0, mean 1); or an explicit array of grid_y × grid_x weights.
    flip_average: describe a face by the mean of its histograms and its mirror image's, so the
    descriptor is left–right symmetric (a face turned left matches the same face turned right
    more closely); chosen on View 1 (plain χ²: 0.690 → 0.721 test accuracy).
    pyramid: None, or ``((size, cells), ...)``: describe the face at each size with a cells × cells
    grid and concatenate (:class:`~facelab.classical.lbp.LBPPyramid`, Chen et al. 2013); ``grid`` is then unused.
    """

    name = "lbp"
    similarity = "neg_chi2"

    def __init__(self, preprocess=None, seed=0, quick=False, scales=((8, 2),), mapping: str = "nri_uniform",
                 grid=(10, 10), norm: str = "l1", sqrt: bool = False, similarity: str = "neg_chi2",
                 region_weights=None, n_pairs: int = 3000, flip_average: bool = False, pyramid=None):
        super().__init__(PreprocessConfig.coerce(preprocess, LBP_PREPROCESS), seed, quick)
        self.flip_average = flip_average
        self.descriptor = LBPDescriptor(scales=scales, mapping=mapping, grid=grid, norm=norm, sqrt=sqrt)
        if pyramid is not None:
            self.descriptor = LBPPyramid(self.descriptor, pyramid)
        self.similarity = similarity
        self.region_weights, self.n_pairs = region_weights, n_pairs

    def fit(self, images, labels=None):
        images = _greyscale(images, "training images")
        self.shape_ = images.shape[1:]
        n_cells = self.descriptor.n_cells()
        if self.region_weights is None:
            return self
        if isinstance(self.region_weights, str):
            if self.region_weights != "learned":
                raise ValueError(f"region_weights must be None, 'learned' or an array; got {self.region_weights!r}")
            labels = check_labels(labels, len(images), min_classes=2)
            self.cell_weights_ = self._learn_weights(images, labels, n_cells)
        else:
            w = np.asarray(self.region_weights, dtype=np.float64).ravel()
            if w.shape != (n_cells,):
                raise ValueError(f"region_weights must hold {n_cells} values, one per cell; got {w.size}")
            self.cell_weights_ = w
        per_feature = self.cell_weights_[self.descriptor.region_index()]
        self.similarity = weighted_chi2_similarity(per_feature)
        return self

    def _learn_weights(self, images, labels, n_cells):
        from .pairs import sample_pairs

        a, b, same = sample_pairs(labels, self.n_pairs // (10 if self.quick else 1), seed=self.seed)
        need, inv = np.unique(np.concatenate([a, b]), return_inverse=True)
        feats = self.descriptor(images[need]).astype(np.float64)
        fa, fb = feats[inv[: len(a)]], feats[inv[len(a):]]
        s = fa + fb
        terms = np.where(s > 0, (fa - fb) ** 2 / np.where(s > 0, s, 1.0), 0.0)
        per_cell = np.zeros((len(a), n_cells))
        np.add.at(per_cell.T, self.descriptor.region_index(), terms.T)  # (pairs, cells) χ² per cell
        ds, dd = per_cell[same], per_cell[~same]
        w = np.maximum(dd.mean(0) - ds.mean(0), 0) / (ds.var(0) + dd.var(0) + 1e-12)
        return w / max(w.mean(), 1e-12)

    def embed(self, images):
        x = self._check_embed_input(images)  # (n, h, w, 1)
        # nothing fitted enters the histograms: the folds of one comparison share them (facelab.memo)
        return MEMO((self.descriptor, self.flip_average), x, self._describe)

    def _describe(self, x):
        if self.flip_average:
            return 0.5 * (self.descriptor(x) + self.descriptor(x[:, :, ::-1]))
        return self.descriptor(x)

    def params(self):
        pyramid = isinstance(self.descriptor, LBPPyramid)
        d = self.descriptor.base if pyramid else self.descriptor
        rw = self.region_weights
        return {"scales": [list(s) for s in d.scales], "mapping": d.mapping,
                **({"pyramid": [list(level) for level in self.descriptor.levels]} if pyramid else {"grid": list(d.grid)}),
                "margin": d.margin_px, "norm": d.norm, "sqrt": d.sqrt, "similarity": getattr(
                    self.similarity, "name", self.similarity),
                "flip_average": self.flip_average,
                "region_weights": rw if rw is None or isinstance(rw, str) else np.asarray(rw).tolist(),
                **({"n_pairs": self.n_pairs} if isinstance(rw, str) else {})}


METRICS = ("jb", "lda", "none")


class LearnedMetricMethod(FaceMethod):
    """Any method's embeddings → PCA whitening → a metric learned on the training identities.

    base: an unfitted :class:`FaceMethod` (its preprocess is used). pca_dim: whitened dimensions.
    metric: ``"jb"`` (Joint Bayesian, Chen et al. 2012; ``.similarity`` is the learned score),
    ``"lda"`` (LDA on the whitened features, then cosine — within-class normalisation as in WCCN)
    or ``"none"`` (whitened PCA and cosine only: no identity labels are used, the unsupervised
    counterpart of whitened eigenfaces).
    """

    def __init__(self, base: FaceMethod, pca_dim: int = 300, metric: str = "jb", lda_dim: int = 150,
                 pca_max_samples: int = 4000, jb_iter: int = 3, name: str | None = None, seed=0, quick=False):
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {', '.join(METRICS)}; got {metric!r}")
        super().__init__(base.preprocess, seed, quick)
        self.base, self.pca_dim, self.metric, self.lda_dim = base, pca_dim, metric, lda_dim
        self.pca_max_samples, self.jb_iter = pca_max_samples, jb_iter
        self.name = name or f"{base.name}+{metric}"
        self.kind = base.kind
        self.similarity = "cosine"

    def fit(self, images, labels=None):
        return self.fit_with(lambda method, x, y: method.fit(x, y), images, labels)

    def fit_with(self, fit, images, labels=None):
        if self.metric != "none" or labels is not None:
            labels = check_labels(labels, len(images), min_classes=1 if self.metric == "none" else 2)
        self.base = fit(self.base, images, labels)  # in a comparison, reuses `deepid` for `deepid+jb`
        self.fit_reused_ = self.base.fit_reused_
        # the whitening basis is learned on a seeded subset: it needs the spectrum, not every image
        rng = np.random.default_rng(self.seed)
        subset = slice(None) if len(images) <= self.pca_max_samples else \
            np.sort(rng.choice(len(images), self.pca_max_samples, replace=False))
        if self.metric == "none":  # nothing is learned from the other images: embed the subset only
            feats = sub = self.base.embed(images[subset])
        else:  # float32: the PCA below computes in float32 without a float64 copy
            feats = self.base.embed(images)
            sub = feats[subset]
        k = min(self.pca_dim if not self.quick else min(self.pca_dim, 64), len(sub) - 1, feats.shape[1])
        self.pca_ = PCA(k, whiten=True, svd_solver="randomized", n_iter=4, random_state=self.seed,
                        dtype=np.float32).fit(sub)
        if self.metric == "none":
            self.model_ = None
            self.similarity = "cosine"
            return self
        z = self.pca_.transform(feats, overwrite_x=not np.may_share_memory(feats, images)).astype(np.float64)
        if self.metric == "jb":
            self.model_ = JointBayesian(n_iter=self.jb_iter).fit(z, labels)
            self.similarity = self.model_.similarity
        else:
            self.model_ = FisherLDA(self.lda_dim, pca_components=k).fit(z, labels)
            self.similarity = "cosine"
        return self

    def embed(self, images):
        if not hasattr(self, "pca_"):
            raise RuntimeError(f"{self.name}: call fit(images, labels) before embed(images)")
        feats = self.base.embed(images)  # a new array, unless the base hands back the images themselves
        z = self.pca_.transform(feats, overwrite_x=not np.may_share_memory(feats, images)).astype(np.float64)
        return (z if self.metric != "lda" else self.model_.transform(z)).astype(np.float32)

    def params(self):
        return {"base": self.base.config, "pca_dim": self.pca_dim, "pca_max_samples": self.pca_max_samples,
                "metric": self.metric, **({"jb_iter": self.jb_iter} if self.metric == "jb" else {}),
                **({"lda_dim": self.lda_dim} if self.metric == "lda" else {})}


# -- factories for the registry (facelab/methods.py) -------------------------------------------
def eigenfaces(**kw):
    return EigenfacesMethod(**kw)


def lbp_weighted(**kw):
    return LBPMethod(region_weights="learned", **kw)


def fisherfaces(**kw):
    return FisherfacesMethod(**kw)


class LBPChi2Method(LBPMethod):
    """Ahonen et al.'s LBP: the grid of histograms compared by chi-square, each face averaged with its mirror."""

    name = "lbp-chi2"

    def __init__(self, *args, flip_average: bool = True, **kwargs):
        super().__init__(*args, flip_average=flip_average, **kwargs)



def lbp(preprocess=None, seed=0, quick=False, pca_dim: int = 200, flip_average: bool = True):
    """√LBP histograms → whitened PCA (no labels) → cosine; pca_dim chosen on View 1 (lectures/02)."""
    base = LBPMethod(preprocess, seed, quick, sqrt=True, flip_average=flip_average)
    return LearnedMetricMethod(base, pca_dim=pca_dim, metric="none", name="lbp", seed=seed, quick=quick)


def eigenfaces_jb(preprocess=None, seed=0, quick=False, pca_dim: int = 200):
    base = EigenfacesMethod(preprocess, seed, quick, n_components=pca_dim, whiten=False)
    return LearnedMetricMethod(base, pca_dim=pca_dim, metric="jb", name="eigenfaces+jb", seed=seed, quick=quick)


def lbp_jb(preprocess=None, seed=0, quick=False, pca_dim: int = 300, flip_average: bool = True):
    base = LBPMethod(preprocess, seed, quick, sqrt=True, flip_average=flip_average)
    return LearnedMetricMethod(base, pca_dim=pca_dim, metric="jb", name="lbp+jb", seed=seed, quick=quick)


def lbp_pyramid_jb(preprocess=None, seed=0, quick=False, pca_dim: int = 400, flip_average: bool = True,
                   pyramid=LBP_PYRAMID):
    """√LBP histograms at five sizes (Chen et al. 2013's high-dimensional LBP on a dense grid) → PCA
    whitening → Joint Bayesian; the crop, the sizes and pca_dim chosen on View 1."""
    base = LBPMethod(PreprocessConfig.coerce(preprocess, LBP_PYRAMID_PREPROCESS), seed, quick, sqrt=True,
                     flip_average=flip_average, pyramid=pyramid)
    return LearnedMetricMethod(base, pca_dim=pca_dim, metric="jb", name="lbp-pyramid+jb", seed=seed, quick=quick)


def lbp_lda(preprocess=None, seed=0, quick=False, pca_dim: int = 300, lda_dim: int = 150):
    base = LBPMethod(preprocess, seed, quick, sqrt=True)
    return LearnedMetricMethod(base, pca_dim=pca_dim, metric="lda", lda_dim=lda_dim, name="lbp+lda",
                               seed=seed, quick=quick)
