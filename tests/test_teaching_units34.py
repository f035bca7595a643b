"""Units 3 and 4 teaching pieces: the side-by-side runner the notebooks use, the triplet-region
computations behind the figures (against a brute-force triple loop and against
``facelab.miners.stats``), and lecture figures that must draw facelab's own losses."""
from __future__ import annotations

import itertools

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from facelab import plots  # noqa: E402
from facelab.classical.pixels import PixelMethod  # noqa: E402
from facelab.data import PreprocessConfig  # noqa: E402
from facelab.evaluation import evaluate_verification  # noqa: E402
from facelab.evaluation.side_by_side import held_out_sample, run_side_by_side  # noqa: E402

SMALL = PreprocessConfig(size=24, crop=(112, 112))  # the evaluation tests' config: one shared cache


@pytest.fixture(scope="module")
def pk_pixels(lfw):
    """A real P×K batch (P=6 people, K=3 images) as centred, unit-norm pixel vectors (for margin
    0.05 all three regions are populated; the test checks it)."""
    from facelab.data.samplers import PKSampler

    batch = PKSampler(lfw.labels, 6, 3, seed=3).epoch(0)[0]
    x = lfw.load_images(SMALL)[batch].reshape(len(batch), -1).astype(np.float64)
    x -= x.mean(0)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, lfw.labels[batch]


def brute_force_triplets(e, labels):
    """Every (a, p, n) by a triple loop, with d(a,n) − d(a,p)."""
    d = np.linalg.norm(e[:, None] - e[None], axis=-1)
    out = {}
    for a, p, n in itertools.product(range(len(e)), repeat=3):
        if a != p and labels[a] == labels[p] and labels[n] != labels[a]:
            out[(a, p, n)] = d[a, n] - d[a, p]
    return out


def test_triplet_gaps_equal_a_brute_force_triple_loop(pk_pixels):
    e, labels = pk_pixels
    t = plots.triplet_gaps(e, labels)
    ours = {(a, p, n): g for a, p, n, g in zip(t["anchor"], t["positive"], t["negative"], t["gap"])}
    ref = brute_force_triplets(e, labels)
    assert set(ours) == set(ref) and len(ours) == len(t["gap"]) == 18 * 2 * 15
    np.testing.assert_allclose([ours[k] for k in ref], list(ref.values()), atol=1e-12)


def test_region_fractions_agree_with_the_training_statistics(pk_pixels):
    from facelab.miners.stats import triplet_statistics

    e, labels = pk_pixels
    margin = 0.05
    region = plots.region_of(plots.triplet_gaps(e, labels)["gap"], margin)
    stats = triplet_statistics(e, labels, margin)
    assert stats["num_triplets"] == len(region)
    assert all(0 < np.mean(region == r) < 1 for r in range(3)), "the fixture should populate all regions"
    for r, key in enumerate(("frac_hard", "frac_semihard", "frac_easy")):
        # stats computes distances in float32: a triplet may sit on a boundary within rounding
        assert abs(np.mean(region == r) - stats[key]) <= 2 / len(region), key
    fig = plots.negative_regions_figure({"pixels": (e, labels)}, margin)
    heights = [sum(p.get_height() for p in c) for c in fig.axes[0].containers]
    assert heights == [int(np.sum(region == r)) for r in range(3)]  # every triplet drawn in its region
    plt.close(fig)


def test_region_examples_lie_in_their_regions(pk_pixels):
    e, labels = pk_pixels
    margin = 0.05
    ex = plots.pick_region_examples(e, labels, margin)
    d = np.linalg.norm(e[:, None] - e[None], axis=-1)
    a, p = ex["anchor"], ex["positive"]
    assert a != p and labels[a] == labels[p] and np.isclose(ex["d_ap"], d[a, p])
    assert set(ex["negatives"]) == {"hard", "semi-hard", "easy"}
    for name, (n, d_an) in ex["negatives"].items():
        assert labels[n] != labels[a] and np.isclose(d_an, d[a, n])
        gap = d[a, n] - d[a, p]
        assert {"hard": gap <= 0, "semi-hard": 0 < gap < margin, "easy": gap >= margin}[name], (name, gap)


def test_triplet_gaps_without_positive_pair_names_pk_sampling():
    with pytest.raises(ValueError, match="P×K"):
        plots.triplet_gaps(np.eye(4), np.arange(4))


def test_lecture_loss_figures_draw_facelabs_losses_as_the_papers_state_them():
    from facelab import figures

    fig = figures.contrastive_loss_curves(None)["contrastive_loss.png"]
    same, diff = fig.axes[0].lines[:2]
    d = same.get_xdata()
    np.testing.assert_allclose(same.get_ydata(), 0.5 * d ** 2, atol=1e-6)  # same = 1: ½ d²
    np.testing.assert_allclose(diff.get_ydata(), 0.5 * np.maximum(1.0 - d, 0) ** 2, atol=1e-6)  # ½ max(0, m − d)²
    assert "same = 1" in same.get_label()
    fig2 = figures.triplet_hinge(None)["triplet_hinge.png"]
    hinge, soft = fig2.axes[0].lines[:2]
    gap = hinge.get_xdata()
    np.testing.assert_allclose(hinge.get_ydata(), np.maximum(0.2 - gap, 0), atol=1e-6)
    np.testing.assert_allclose(soft.get_ydata(), np.log1p(np.exp(-gap)), atol=1e-6)
    plt.close("all")


def test_mining_curves_plot_the_logged_history():
    hist = [{"step": s, "frac_hard": 0.5 / s, "frac_semihard": 0.3, "frac_easy": 0.2, "mean_pos_dist": 0.1 * s,
             "mean_neg_dist": 0.2, "spread": 1.0} for s in (1, 2, 4)]
    fig = plots.mining_curves({"semi-hard": hist})
    line = fig.axes[0].lines[0]
    np.testing.assert_array_equal(line.get_xdata(), [1, 2, 4])
    np.testing.assert_allclose(line.get_ydata(), [0.5, 0.25, 0.125])
    plt.close(fig)


def test_side_by_side_is_the_evaluator_and_keeps_the_last_splits_model(lfw):
    run = run_side_by_side({"pixels": lambda: PixelMethod(SMALL)}, lfw, "view2", folds=[2, 7], log=None)
    direct = evaluate_verification(lambda: PixelMethod(SMALL), lfw, "view2", progress=False, folds=[2, 7])
    assert run.results["pixels"].fold_accuracy == direct.fold_accuracy
    np.testing.assert_array_equal(run.results["pixels"].test_scores, direct.test_scores)
    # the kept model is the one of the last split (fold 8), fitted on that split's images only
    assert run.split.name == "fold 8"
    images = lfw.load_images(SMALL)
    expected_mean = images[run.split.train_images].reshape(len(run.split.train_images), -1).mean(0)
    np.testing.assert_allclose(run.fitted["pixels"].mean_, expected_mean, rtol=1e-5)
    assert "| pixels |" in run.table(lfw) and "Folds 3, 8 of 10 only" in run.table(lfw)
    scores, same = run.roc_curves()["pixels"]
    assert len(scores) == len(same) == 1200


def test_held_out_sample_never_holds_a_training_person(lfw):
    from facelab.evaluation.protocols import verification_splits

    split = verification_splits(lfw, "view1")[0]
    held = held_out_sample(lfw, split, n_people=5, per_person=7, seed=1)
    people = lfw.labels[held]
    assert not set(people) & set(lfw.labels[split.train_images])
    ids, counts = np.unique(people, return_counts=True)
    assert len(ids) == 5 and np.all(counts == 7) and len(np.unique(held)) == len(held)
    # the five unseen people with the most images (brute force over all people)
    trained = set(lfw.labels[split.train_images].tolist())
    count = {i: 0 for i in range(len(lfw.people))}
    for label in lfw.labels.tolist():
        count[label] += 1
    top = sorted((i for i in count if i not in trained), key=lambda i: -count[i])[:5]
    assert set(ids) == set(top)
    with pytest.raises(ValueError, match="n_people"):
        held_out_sample(lfw, split, n_people=0)


@pytest.mark.parametrize("projection", ["pca", "tsne"])
def test_embedding_scatter_draws_every_image_once_per_method(pk_pixels, projection):
    e, labels = pk_pixels
    names = {i: f"person {i}" for i in np.unique(labels)}
    fig = plots.embedding_scatter({"a": (e, labels), "b": (e[:, ::-1], labels)}, names, projection=projection)
    for ax in fig.axes[:2]:
        assert sum(len(c.get_offsets()) for c in ax.collections) == len(e)
        assert len(ax.collections) == len(names)  # one colour per person
    if projection == "pca":  # the map is sklearn's PCA of the embeddings (up to the sign of each axis)
        from sklearn.decomposition import PCA

        ref = PCA(2, svd_solver="full").fit_transform(e)
        got = np.concatenate([c.get_offsets() for c in fig.axes[0].collections])
        order = np.concatenate([np.flatnonzero(labels == i) for i in np.unique(labels)])
        np.testing.assert_allclose(np.abs(got), np.abs(ref[order]), atol=1e-8)
    plt.close(fig)
    with pytest.raises(ValueError, match="projection"):
        plots.project_2d(e, "umap")
