"""facelab's classical methods next to the reference implementations, on exactly the same images.

Two checks, both on real LFW:

* **OpenCV** (``cv2.face``): closed-set identification on a seeded split of the people with at
  least ``min_images`` images. Eigenfaces and Fisherfaces on both sides are the same model
  (PCA / PCA→LDA, then the Euclidean nearest training image), so their predictions should agree
  on almost every probe; LBP is compared by accuracy only (OpenCV's LBPH uses its own code
  ordering, border handling and the asymmetric χ², so predictions need not coincide).
* **scikit-learn's eigenfaces exercise** ("Faces recognition example using eigenfaces and SVMs"):
  people with ≥ 70 images, a 75/25 ``train_test_split(random_state=42)``, 150 whitened principal
  components, an RBF SVC. Only the PCA differs between the two sides.

``python -m facelab.classical.reference_check`` prints both sides of both checks.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np

from ..data import LFW, PreprocessConfig
from ..metrics import get_similarity
from .face_methods import EIGEN_PREPROCESS
from .fisher import FisherLDA
from .lbp import LBPDescriptor
from .pca import PCA

REFERENCE_PREPROCESS = EIGEN_PREPROCESS  # 32×32 equalised grey crop: the eigenfaces method's own input
SKLEARN_PREPROCESS = PreprocessConfig()  # 64×64 grey centre crop (the exercise uses 50×37 funneled crops)


@dataclass
class IdentificationSplit:
    """Training (gallery) and probe images of the same people; labels are 0..n_people−1."""

    x_train: np.ndarray  # (n_train, h, w) uint8
    y_train: np.ndarray  # (n_train,)
    x_test: np.ndarray   # (n_test, h, w) uint8
    y_test: np.ndarray   # (n_test,)
    people: list

    @property
    def n_people(self) -> int:
        return len(self.people)


def identification_split(lfw: LFW, *, min_images: int = 20, n_train: int = 6, n_test: int = 4,
                         config: PreprocessConfig = REFERENCE_PREPROCESS, seed: int = 0) -> IdentificationSplit:
    """Every person with ≥ ``min_images`` images: ``n_train`` random images to train, ``n_test`` others to probe."""
    if n_train < 1 or n_test < 1:
        raise ValueError(f"n_train and n_test must be ≥ 1; got {n_train} and {n_test}")
    if n_train + n_test > min_images:
        raise ValueError(f"n_train + n_test = {n_train + n_test} exceeds min_images = {min_images}")
    images = lfw.load_images(config)[..., 0]
    labels = lfw.labels
    ids, counts = np.unique(labels, return_counts=True)
    chosen = ids[counts >= min_images]
    if len(chosen) < 2:
        raise ValueError(f"only {len(chosen)} people have ≥ {min_images} images; need at least 2")
    rng = np.random.default_rng(seed)
    train, test = [], []
    for person in chosen:
        idx = rng.permutation(np.flatnonzero(labels == person))
        train.append(idx[:n_train])
        test.append(idx[n_train:n_train + n_test])
    train, test = np.concatenate(train), np.concatenate(test)
    relabel = {p: i for i, p in enumerate(chosen)}
    to_new = np.vectorize(relabel.__getitem__)
    return IdentificationSplit(images[train], to_new(labels[train]), images[test], to_new(labels[test]),
                               [lfw.people[p] for p in chosen])


def _flat(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1).astype(np.float64)


def _nearest(train_emb, y_train, test_emb, similarity="neg_euclidean") -> np.ndarray:
    scores = get_similarity(similarity).pairwise(test_emb, train_emb)  # (n_test, n_train)
    return y_train[np.argmax(scores, axis=1)]


def facelab_predictions(kind: str, split: IdentificationSplit, *, n_components: int = 100,
                        grid=(4, 4)) -> np.ndarray:
    """facelab's nearest-neighbour identities for the probes.

    ``eigen``: PCA(n_components), unwhitened, Euclidean — OpenCV's EigenFaceRecognizer model.
    ``fisher``: PCA to n − c, LDA to c − 1 (Belhumeur et al. 1997), Euclidean — OpenCV's Fisherfaces.
      Each discriminant direction is scaled to unit length in PCA coordinates, OpenCV's convention
      (facelab's own ``FisherLDA`` scales them to ``wᵀ S_W w = 1``, which changes Euclidean distances).
    ``lbp``: LBP(8, 1) 256-bin histograms on a ``grid`` of cells, 1-pixel border dropped (OpenCV
      computes no codes there), χ² — the model of OpenCV's LBPH.
    """
    Xtr, Xte = _flat(split.x_train), _flat(split.x_test)
    if kind == "eigen":
        pca = PCA(n_components).fit(Xtr)
        return _nearest(pca.transform(Xtr), split.y_train, pca.transform(Xte))
    if kind == "fisher":
        lda = FisherLDA().fit(Xtr, split.y_train)
        w = lda.lda_scalings_ / np.linalg.norm(lda.lda_scalings_, axis=0)  # (m, c − 1), unit columns
        components = w.T @ lda.pca_.components_  # (c − 1, d)
        return _nearest((Xtr - lda.mean_) @ components.T, split.y_train, (Xte - lda.mean_) @ components.T)
    if kind == "lbp":
        desc = LBPDescriptor(scales=((8, 1),), mapping="default", grid=grid, margin=1)
        return _nearest(desc(split.x_train), split.y_train, desc(split.x_test), "neg_chi2")
    raise ValueError(f"kind must be 'eigen', 'fisher' or 'lbp'; got {kind!r}")


def opencv_predictions(kind: str, split: IdentificationSplit, *, n_components: int = 100,
                       grid=(4, 4)) -> np.ndarray:
    """OpenCV's ``cv2.face`` recognizer of the same ``kind``, trained and queried on the same images."""
    import cv2

    if kind == "eigen":
        model = cv2.face.EigenFaceRecognizer_create(num_components=n_components)
    elif kind == "fisher":
        model = cv2.face.FisherFaceRecognizer_create()  # PCA to n − c, LDA to c − 1, as in the paper
    elif kind == "lbp":
        model = cv2.face.LBPHFaceRecognizer_create(radius=1, neighbors=8, grid_x=grid[1], grid_y=grid[0])
    else:
        raise ValueError(f"kind must be 'eigen', 'fisher' or 'lbp'; got {kind!r}")
    model.train(list(split.x_train), split.y_train.astype(np.int32))
    return np.array([model.predict(img)[0] for img in split.x_test])


def compare_with_opencv(lfw: LFW, *, kinds=("eigen", "fisher", "lbp"), n_components: int = 100,
                        grid=(4, 4), seed: int = 0, **split_kw) -> dict:
    """Rank-1 of both sides, their agreement, and seconds taken, for every kind."""
    split = identification_split(lfw, seed=seed, **split_kw)
    out = {"n_people": split.n_people, "n_train": len(split.y_train), "n_test": len(split.y_test),
           "chance": 1.0 / split.n_people}
    for kind in kinds:
        t0 = time.perf_counter()
        ours = facelab_predictions(kind, split, n_components=n_components, grid=grid)
        t1 = time.perf_counter()
        ref = opencv_predictions(kind, split, n_components=n_components, grid=grid)
        t2 = time.perf_counter()
        out[kind] = {"facelab": float(np.mean(ours == split.y_test)), "opencv": float(np.mean(ref == split.y_test)),
                     "agreement": float(np.mean(ours == ref)), "facelab_s": t1 - t0, "opencv_s": t2 - t1}
    return out


def sklearn_eigenfaces_exercise(lfw: LFW, *, min_images: int = 70, n_components: int = 150,
                                config: PreprocessConfig = SKLEARN_PREPROCESS, C: float = 1000.0,
                                gamma: float = 0.005, seed: int = 42) -> dict:
    """scikit-learn's eigenfaces + SVM exercise with sklearn's PCA and with facelab's PCA.

    Same split (``train_test_split(test_size=0.25, random_state=seed)``), same whitened
    150-dimensional projection (sklearn: randomized solver, as in the exercise), same RBF SVC
    (``class_weight="balanced"``; C and gamma fixed instead of the exercise's search, so both
    sides see one classifier). Returns the test accuracy of each side.
    """
    from sklearn.decomposition import PCA as SkPCA
    from sklearn.model_selection import train_test_split
    from sklearn.svm import SVC

    ids, counts = np.unique(lfw.labels, return_counts=True)
    keep = np.isin(lfw.labels, ids[counts >= min_images])
    X = _flat(lfw.load_images(config)[keep])
    y = lfw.labels[keep]
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=seed)
    out = {"n_people": int((counts >= min_images).sum()), "n_train": len(y_train), "n_test": len(y_test)}
    for side, pca in (("sklearn", SkPCA(n_components, svd_solver="randomized", whiten=True, random_state=seed)),
                      ("facelab", PCA(n_components, whiten=True))):
        Z_train = pca.fit(X_train).transform(X_train)
        svc = SVC(kernel="rbf", class_weight="balanced", C=C, gamma=gamma).fit(Z_train, y_train)
        out[side] = float(np.mean(svc.predict(pca.transform(X_test)) == y_test))
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--min-images", type=int, default=20)
    ap.add_argument("--n-train", type=int, default=6)
    ap.add_argument("--n-test", type=int, default=4)
    args = ap.parse_args(argv)
    lfw = LFW(args.data_dir, progress=False)
    res = compare_with_opencv(lfw, seed=args.seed, min_images=args.min_images, n_train=args.n_train,
                              n_test=args.n_test)
    print(f"closed-set identification, LFW people with ≥ {args.min_images} images ({res['n_people']} people, "
          f"{res['n_train']} train / {res['n_test']} probes, seed {args.seed}, chance {res['chance']:.4f})")
    print(f"{'model':8s} {'facelab':>8s} {'OpenCV':>8s} {'agree':>7s} {'facelab s':>10s} {'OpenCV s':>9s}")
    for kind in ("eigen", "fisher", "lbp"):
        r = res[kind]
        print(f"{kind:8s} {r['facelab']:8.4f} {r['opencv']:8.4f} {r['agreement']:7.4f} "
              f"{r['facelab_s']:10.2f} {r['opencv_s']:9.2f}")
    sk = sklearn_eigenfaces_exercise(lfw)
    print(f"sklearn eigenfaces exercise ({sk['n_people']} people ≥ 70 images, {sk['n_train']} train / "
          f"{sk['n_test']} test, PCA 150 whitened + RBF SVC): sklearn PCA {sk['sklearn']:.4f}, "
          f"facelab PCA {sk['facelab']:.4f}")


if __name__ == "__main__":
    main()
