"""Lecture figures, regenerated from the real data by one command: ``facelab figures``.

Each unit registers functions ``fn(ctx) -> {filename: matplotlib figure}``; ``ctx`` gives the LFW
object and a seed. Computation comes from the package (methods, evaluator); drawing from
:mod:`facelab.plots`; files are written atomically.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from . import io, plots
from .data import LFW, PreprocessConfig

FIGURES: dict[str, list[Callable]] = {}


def figure(unit: str):
    def deco(fn):
        FIGURES.setdefault(unit, []).append(fn)
        return fn
    return deco


@dataclass
class Context:
    lfw: LFW
    seed: int = 0
    quick: bool = False
    run_dir: str | None = None  # trained models kept here; a finished training is read back, not redone


@figure("01_tasks_and_evaluation")
def lfw_samples(ctx: Context):
    """A random sample of LFW at full resolution next to the preprocessed crops facelab uses."""
    rng = np.random.default_rng(ctx.seed)
    pick = rng.choice(len(ctx.lfw), 8, replace=False)
    full = ctx.lfw.load_images(PreprocessConfig(size=125, crop=None, grayscale=False))[pick]
    crops = ctx.lfw.load_images(PreprocessConfig())[pick]
    names = [ctx.lfw.people[ctx.lfw.labels[i]].replace("_", " ") for i in pick]
    return {"lfw_samples.png": plots.image_grid(list(full) + list(crops), ncols=8,
                                                titles=names + [""] * 8, size=1.6)}


@figure("01_tasks_and_evaluation")
def view2_pairs(ctx: Context):
    """Matched and mismatched View 2 pairs: what the verification task looks like."""
    pairs = ctx.lfw.pairs("view2")
    rng = np.random.default_rng(ctx.seed)
    images = ctx.lfw.load_images(PreprocessConfig(size=96, crop=(150, 150), grayscale=False))
    same = rng.choice(np.flatnonzero(pairs.same), 4, replace=False)
    diff = rng.choice(np.flatnonzero(~pairs.same), 4, replace=False)
    order = np.concatenate([same, diff])
    grid = np.stack([images[i] for k in order for i in (pairs.index_a[k], pairs.index_b[k])])
    titles = ["same"] * 8 + ["different"] * 8
    return {"view2_pairs.png": plots.image_grid(grid, ncols=8, titles=titles, size=1.5)}


@figure("02_classical")
def eigenfaces(ctx: Context):
    """The mean face and the first eigenfaces of View 1's training people (the eigenfaces method's input)."""
    from .classical.face_methods import EIGEN_PREPROCESS
    from .classical.pca import PCA

    images = ctx.lfw.load_images(EIGEN_PREPROCESS)[..., 0]
    train = ctx.lfw.people_indices(ctx.lfw.people_folds("view1-train")[0])
    X = images[train].reshape(len(train), -1).astype(np.float64)
    pca = PCA(15, random_state=ctx.seed).fit(X)
    return {"eigenfaces.png": plots.eigenface_grid(pca.mean_, pca.components_, EIGEN_PREPROCESS.size, n=15)}


@figure("02_classical")
def lbp_codes(ctx: Context):
    """One LFW face and its LBP code images (raw 256 codes, rotation-invariant uniform, Ahonen's 59 bins)."""
    from .classical.face_methods import LBP_PREPROCESS
    from .classical.lbp import local_binary_pattern

    images = ctx.lfw.load_images(LBP_PREPROCESS)[..., 0]
    face = images[np.random.default_rng(ctx.seed).integers(len(images))]
    codes = {f"LBP(8, {R}) {m}": local_binary_pattern(face, 8, R, m)
             for R, m in [(1, "default"), (2, "default"), (2, "uniform"), (2, "nri_uniform")]}
    return {"lbp_codes.png": plots.lbp_codes_figure(face, codes)}


# -- unit 3: Siamese networks and DeepID ---------------------------------------------------------
def _view1_training_people(lfw) -> np.ndarray:
    from .evaluation.protocols import verification_splits

    return verification_splits(lfw, "view1")[0].train_images


@figure("03_siamese_deepid")
def siamese_pairs(ctx: Context):
    """Balanced training pairs as the Siamese methods draw them (PairSampler, label 1 = SAME)."""
    from .data.samplers import PairSampler

    train = _view1_training_people(ctx.lfw)
    a, b, same = PairSampler(ctx.lfw.labels[train], 64, seed=ctx.seed).epoch(0)
    images = ctx.lfw.load_images(PreprocessConfig(size=96, crop=(150, 150), grayscale=False))
    return {"siamese_pairs.png": plots.pair_grid(images, train[a], train[b], same, n_per_kind=4, seed=ctx.seed)}


@figure("03_siamese_deepid")
def contrastive_loss_curves(ctx: Context):
    """The DeepID2 contrastive loss of one pair against the distance of its embeddings,
    evaluated by facelab's own loss (``contrastive_per_pair``), for both labels."""
    from .losses.contrastive import contrastive_per_pair

    margin = 1.0
    d = np.linspace(0.0, 2.0, 201, dtype=np.float32)  # unit-norm embeddings: 0 <= d <= 2
    fa, fb = np.zeros((len(d), 1), np.float32), d[:, None]
    curves = {f"same = {s} ({'same person' if s else 'different people'})":
              np.asarray(contrastive_per_pair(fa, fb, np.full(len(d), s, np.float32), margin)) for s in (1, 0)}
    return {"contrastive_loss.png": plots.curves_figure(
        d, curves, "distance ‖f(x₁) − f(x₂)‖", "loss of the pair", f"Contrastive loss (DeepID2 form), margin m = {margin:g}",
        vlines={"m": margin})}


# -- unit 4: triplet mining -----------------------------------------------------------------
@figure("04_triplet_mining")
def triplet_hinge(ctx: Context):
    """FaceNet's hinge against d(a,n) − d(a,p), with the three regions of negatives shaded."""
    from .losses.triplet import margin_loss

    margin = 0.2
    gap = np.linspace(-0.6, 0.6, 241, dtype=np.float32)
    loss = np.asarray(margin_loss(np.zeros_like(gap), gap, margin))  # d_ap = 0, d_an = gap
    soft = np.asarray(margin_loss(np.zeros_like(gap), gap, margin, soft=True))
    spans = {"hard": (gap[0], 0.0, "tab:red"), "semi-hard": (0.0, margin, "tab:orange"),
             "easy": (margin, gap[-1], "tab:green")}
    return {"triplet_hinge.png": plots.curves_figure(
        gap, {f"hinge, margin {margin:g}": loss, "soft margin log(1+e^(−gap))": soft},
        "d(a,n) − d(a,p)", "loss of the triplet", "Triplet loss and the regions of negatives", spans=spans)}


def _pk_batch_and_nets(ctx: Context, strategies=("batch-hard", "semi-hard"), p: int = 8, k: int = 4):
    """A real P×K batch of View 1 training people, embedded by an untrained backbone and by
    triplet networks trained briefly on View 1's training people (quick budget, or 3 epochs)."""
    import keras

    from .data.samplers import PKSampler
    from .nets.backbones import build_backbone
    from .nets.triplet_method import TripletMethod

    train = _view1_training_people(ctx.lfw)
    budget = {} if ctx.quick else {"epochs": 3}  # quick: its own default; an explicit epochs=3 would run all 3
    nets = {s: TripletMethod(strategy=s, seed=ctx.seed, quick=ctx.quick, **budget) for s in strategies}
    first = nets[strategies[0]]
    images = ctx.lfw.load_images(first.preprocess)
    labels = ctx.lfw.labels[train]
    batch = train[PKSampler(labels, p, k, seed=ctx.seed + 1).epoch(0)[0]]
    keras.utils.set_random_seed(ctx.seed)
    untrained = build_backbone(first.backbone, images.shape[1:], first.embedding_dim)
    embedded = {"untrained network": np.asarray(untrained(images[batch].astype(np.float32) / 255.0, training=False))}
    for s, net in nets.items():
        net.fit(images[train], labels)
        embedded[f"{s}, {net.train_epochs} epochs"] = net.embed(images[batch])
    return batch, ctx.lfw.labels[batch], embedded, nets


@figure("04_triplet_mining")
def negative_regions(ctx: Context):
    """Where the negatives of a real P×K batch lie before and after a little training with
    batch-hard and semi-hard mining; one anchor's positive and negatives of each region; and
    the mining statistics of a fixed probe batch over that training."""
    batch, labels, embedded, nets = _pk_batch_and_nets(ctx)
    margin = nets["semi-hard"].margin
    hist = plots.negative_regions_figure({t: (e, labels) for t, e in embedded.items()}, margin)
    faces = ctx.lfw.load_images(PreprocessConfig(size=96, crop=(150, 150), grayscale=False))[batch]
    semi = [e for t, e in embedded.items() if t.startswith("semi-hard")][0]
    examples = plots.pick_region_examples(semi, labels, margin)
    stats = plots.mining_curves({s: net.stats_callback_.history for s, net in nets.items()})
    return {"negative_regions.png": hist, "region_examples.png": plots.region_examples_figure(faces, examples),
            "mining_stats.png": stats}


# -- unit 5: grouped-identity VAE -------------------------------------------------------------
#: the lecture's CPU budget (32×32 grey, a few minutes on 2 cores); quick: one epoch
VAE_LECTURE = dict(size=32, epochs=12)


@figure("05_grouped_vae")
def grouped_vae_figures(ctx: Context):
    """The paper's figures (Tan, Pal & Courville: Fig. 2c z-interpolation at fixed w, Fig. 3b decoded
    identity means, new samples of an identity) for four View 1 *test* people the model never saw,
    from a VAE trained on View 1's training people with the lecture's CPU budget; and its curves."""
    from .evaluation import few_shot_split
    from .generative.figures import paper_figures
    from .generative.grouped_vae import GroupedVAEMethod

    config = PreprocessConfig(size=VAE_LECTURE["size"])
    method = GroupedVAEMethod(config, seed=ctx.seed, quick=ctx.quick,
                              epochs=1 if ctx.quick else VAE_LECTURE["epochs"])
    split = few_shot_split(ctx.lfw, shots=(5,), repeats=1, seed=ctx.seed)
    images, labels = ctx.lfw.load_images(config), ctx.lfw.labels
    train = split.train_images
    if ctx.quick:  # the people with 8+ images only: seconds, for tests
        train = train[np.bincount(labels)[labels[train]] >= 8]
    method.fit(images[train], labels[train])
    people = split.episodes[0][:4]
    out = paper_figures(method.model_, [images[e] for _, e, _ in people], seed=ctx.seed)
    budget = f"{method.epochs} epochs, {config.size[0]}×{config.size[1]}, {len(train)} training images"
    terms = {f"{k} ({budget})" if k == "nll" else k: {k: v} for k, v in method.history_.items()
             if k in ("nll", "kl_w", "kl_z", "beta")}
    out["vae_training.png"] = plots.training_curves(terms)
    return out


# -- unit 6: GAN disentangler ----------------------------------------------------------------
@figure("06_gan_disentangler")
def gan_disentangler_figures(ctx: Context):
    """Identity transfer on View 1 test people (source identity × target pose/style) and the loss
    curves of every stage, from a disentangler trained on View 1's training people."""
    from .generative import gan_disentangler as gd

    settings = dict(gd.QUICK_SETTINGS) if ctx.quick else dict(gd.LECTURE_SETTINGS)
    model = gd.GanDisentangler(seed=ctx.seed, run_dir=ctx.run_dir, **settings)
    train = _view1_training_people(ctx.lfw)
    images, labels = ctx.lfw.load_images(model.preprocess), ctx.lfw.labels
    model.fit(images[train], labels[train])
    test = ctx.lfw.people_indices(ctx.lfw.people_folds("view1-test")[0])
    transfer = gd.identity_transfer(model, images[test], labels[test], n_sources=5, n_targets=5, seed=ctx.seed)
    return {"identity_transfer.png": plots.transfer_grid_figure(transfer),
            "gan_training.png": plots.loss_curves_figure(model.curves_, title="GAN disentangler training")}


def make_figures(out_dir: str | Path, units: list[str] | None = None, *, data_dir=None, seed: int = 0,
                 quick: bool = False, run_dir=None, log=print) -> list[Path]:
    """Regenerate the figures of ``units`` (default: all) into ``out_dir``. ``run_dir``: where the GAN
    disentangler trains (``facelab disentangle --run-dir`` with the same preset leaves a finished one)."""
    import matplotlib.pyplot as plt

    ctx = Context(LFW(data_dir, progress=False), seed, quick, None if run_dir is None else str(run_dir))
    units = units or sorted(FIGURES)
    unknown = [u for u in units if u not in FIGURES]
    if unknown:
        raise KeyError(f"unknown lecture unit(s) {', '.join(unknown)}; known: {', '.join(sorted(FIGURES))}")
    written = []
    for unit in units:
        for fn in FIGURES[unit]:
            for name, fig in fn(ctx).items():
                written.append(io.save_figure(fig, Path(out_dir) / name, dpi=110))
                plt.close(fig)
                log(f"{unit}: {written[-1]}")
    return written
