"""facelab's eigenfaces, Fisherfaces and LBP against OpenCV's cv2.face recognizers, and facelab's PCA
inside scikit-learn's classic eigenfaces + SVM exercise — on exactly the same real LFW images."""
from __future__ import annotations

import numpy as np
import pytest

from facelab.classical import reference_check as rc


@pytest.fixture(scope="module")
def split(lfw):
    """62 people with ≥ 20 images, 6 train / 4 probe images each (seeded), 32×32 equalised crops."""
    return rc.identification_split(lfw, min_images=20, n_train=6, n_test=4, seed=0)


def test_split_is_seeded_and_disjoint(lfw, split):
    again = rc.identification_split(lfw, min_images=20, n_train=6, n_test=4, seed=0)
    np.testing.assert_array_equal(again.x_test, split.x_test)
    other = rc.identification_split(lfw, min_images=20, n_train=6, n_test=4, seed=1)
    assert not np.array_equal(other.x_test, split.x_test)
    assert np.bincount(split.y_train).tolist() == [6] * split.n_people
    # no probe image is also a training image
    flat_tr = {x.tobytes() for x in split.x_train}
    assert not any(x.tobytes() in flat_tr for x in split.x_test)


@pytest.mark.parametrize("kind, min_agreement", [
    # Same model (PCA 100, Euclidean 1-NN, float64 on both sides): only ties or round-off could differ.
    ("eigen", 0.99),
    # Same model, but S_W in the n − c PCA space is nearly singular, so OpenCV's non-symmetric
    # eigensolver of S_W⁻¹S_B and scipy's symmetric-definite eigh give slightly different trailing
    # directions; ~5 % of probes near a decision boundary may flip.
    ("fisher", 0.90),
])
def test_eigen_and_fisher_predict_like_opencv(split, kind, min_agreement):
    ours = rc.facelab_predictions(kind, split)
    ref = rc.opencv_predictions(kind, split)
    chance = 1 / split.n_people
    acc_ours, acc_ref = np.mean(ours == split.y_test), np.mean(ref == split.y_test)
    assert acc_ours > 10 * chance and acc_ref > 10 * chance, (acc_ours, acc_ref)
    assert np.mean(ours == ref) >= min_agreement, np.mean(ours == ref)
    assert abs(acc_ours - acc_ref) <= 1 - min_agreement


def test_lbp_is_as_accurate_as_opencv_lbph(split):
    """Different code ordering, borders and χ² variant: compare accuracy, not predictions."""
    ours = rc.facelab_predictions("lbp", split)
    ref = rc.opencv_predictions("lbp", split)
    chance = 1 / split.n_people
    acc_ours, acc_ref = np.mean(ours == split.y_test), np.mean(ref == split.y_test)
    assert acc_ours > 10 * chance and acc_ref > 10 * chance, (acc_ours, acc_ref)
    assert abs(acc_ours - acc_ref) <= 0.05, (acc_ours, acc_ref)  # 0.05 ≈ 12 of 248 probes


def test_sklearn_eigenfaces_exercise_with_facelab_pca(lfw):
    """Whitened projections agree up to axis signs (the RBF kernel ignores those), so the SVC sees the
    same data; sklearn's randomized solver is approximate, hence 1 point (≈ 3 of 322 test faces)."""
    res = rc.sklearn_eigenfaces_exercise(lfw)
    assert res["n_people"] == 7 and res["n_test"] > 300
    assert res["sklearn"] > 0.75 and res["facelab"] > 0.75, res  # chance ≈ 1/7 (Bush holds 41 %)
    assert abs(res["sklearn"] - res["facelab"]) <= 0.01, res
