"""One training shared by a network and its Joint Bayesian variant, and by the GAN's Table 2
sub-vectors (:mod:`facelab.shared_fits`), inside a comparison only."""
from __future__ import annotations

import numpy as np
import pytest

from facelab.base import FaceMethod


# -- one training for deepid and deepid+jb ---------------------------------------------------
class Counting(FaceMethod):
    name, kind = "counting", "deep"
    fits = 0

    def fit(self, images, labels):
        type(self).fits += 1
        return self

    def embed(self, images):
        return images.reshape(len(images), -1)[:, :4].astype(np.float32)


def test_shared_fits_reuse_a_same_config_fit_only_within_one_comparison():
    from facelab.shared_fits import SharedFits

    x, y = np.arange(4 * 16, dtype=np.uint8).reshape(4, 4, 4, 1), np.array([0, 0, 1, 1])
    Counting.fits = 0
    SharedFits().fit(Counting(), x, y), SharedFits().fit(Counting(), x, y)
    assert Counting.fits == 2  # two comparisons: each fits
    fits = SharedFits()
    first = fits.fit(Counting(), x, y)
    assert fits.fit(Counting(), x, y) is first and first.fit_reused_
    fits.fit(Counting(seed=1), x, y)  # another config
    fits.fit(Counting(), x[::-1].copy(), y)  # other training images
    assert Counting.fits == 5


def test_a_method_built_on_another_fits_it_through_the_shared_fits():
    """``LearnedMetricMethod`` (deepid+jb) receives the comparison's ``fit`` in ``fit_with``: its base
    network is the one the plain method trained; fitted alone, it fits its own base."""
    from facelab.classical.face_methods import LearnedMetricMethod
    from facelab.shared_fits import SharedFits

    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 255, (40, 4, 4, 1), dtype=np.uint8), np.repeat(np.arange(10), 4)
    Counting.fits = 0
    fits = SharedFits()
    plain = fits.fit(Counting(), x, y)
    learned = fits.fit(LearnedMetricMethod(Counting(), pca_dim=3, metric="lda", lda_dim=2), x, y)
    assert Counting.fits == 1 and learned.base is plain and learned.fit_reused_
    alone = LearnedMetricMethod(Counting(), pca_dim=3, metric="lda", lda_dim=2).fit(x, y)
    assert Counting.fits == 2 and not alone.fit_reused_
    np.testing.assert_array_equal(alone.embed(x), learned.embed(x))


@pytest.mark.parametrize("module, cls_name, name, pca_dim", [
    ("facelab.nets.siamese", "DeepID", "deepid", 128),
    ("facelab.nets.triplet_method", "TripletSemiHard", "triplet-semi-hard", 64)])
def test_compare_trains_the_network_once_for_it_and_its_joint_bayesian_variant(
        module, cls_name, name, pca_dim, tmp_path, cache_dir, monkeypatch):
    import importlib

    from facelab.evaluation.compare import compare

    cls = getattr(importlib.import_module(module), cls_name)
    trainings = []
    fit = cls.fit
    monkeypatch.setattr(cls, "fit", lambda self, *a: trainings.append(self) or fit(self, *a))
    res = compare([name, f"{name}+jb"], protocol="view2", folds=[1], quick=True, identification=False,
                  progress=False, out_dir=tmp_path, cache_dir=cache_dir, log=lambda *_: None,
                  params={"backbone_kwargs": {"width": 8}})  # a narrow network: the test is about sharing
    plain, jb = res["methods"][name], res["methods"][f"{name}+jb"]
    assert jb["config"]["fit_reused"] is True and "fit_reused" not in plain["config"]
    assert jb["config"]["base"] == {k: v for k, v in plain["config"].items()}
    assert jb["config"]["pca_dim"] == pca_dim and jb["config"]["metric"] == "jb"
    assert len(trainings) == 1
    assert jb["auc"] != plain["auc"]  # the same embedding, scored another way


def test_compare_trains_the_gan_once_for_its_table2_sub_vectors(lfw, monkeypatch, tmp_path):
    """gan-disentangler (f_id) and gan-disentangler-noid (f_-id) differ only in what they embed:
    within one SharedFits the second adopts the first's fit, and each still embeds its own sub-vector.
    One run_dir keeps a folder per training set (another split trains beside it, as deep methods do)."""
    from deep_helpers import lfw_subset

    from facelab.generative import gan_disentangler as gd
    from facelab.shared_fits import SharedFits

    x, y = lfw_subset(lfw, people=8, per_person=4, size=24, min_images=4)
    trainings = []
    train = gd.GanDisentangler.train_autoencoder
    monkeypatch.setattr(gd.GanDisentangler, "train_autoencoder", lambda self, *a: trainings.append(self) or train(self, *a))
    settings = dict(gd.QUICK_SETTINGS, epochs=(1, 1, 1), run_dir=str(tmp_path / "run"), tensorboard=False)
    fits = SharedFits()
    f_id = fits.fit(gd.GanDisentangler(**settings), x, y)
    f_noid = fits.fit(gd.GanDisentanglerNoId(**settings), x, y)
    assert len(trainings) == 1
    other_seed = gd.GanDisentanglerNoId(**settings, seed=1)
    assert other_seed.fit_config != f_id.fit_config and f_noid.fit_config == f_id.fit_config  # seed: yes; part: no
    assert f_noid is not f_id and f_noid.fit_reused_ and not getattr(f_id, "fit_reused_", False)
    assert f_noid.name == "gan-disentangler-noid" and f_noid.nets_ is f_id.nets_
    np.testing.assert_array_equal(f_noid.embed(x[:5]), f_id.embed(x[:5], part="noid"))
    assert not np.allclose(f_noid.embed(x[:5]), f_id.embed(x[:5]))
    # another training set (one person fewer) trains beside it; stage 1 alone shows where (it is where a
    # shared folder failed: "written by another configuration; differences: data")
    monkeypatch.setattr(gd.GanDisentangler, "train_disentanglement", lambda self, *a: self)
    monkeypatch.setattr(gd.GanDisentangler, "train_joint", lambda self, *a: self)
    other_split = gd.GanDisentangler(**settings).fit(x[4:], y[4:])
    assert len(trainings) == 2 and other_split.fit_dir_ != f_id.fit_dir_ == f_noid.fit_dir_
    assert len(list((tmp_path / "run" / "gan-disentangler").glob("data-*/stage1/checkpoint*"))) == 2
