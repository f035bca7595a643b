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


def make_figures(out_dir: str | Path, units: list[str] | None = None, *, data_dir=None, seed: int = 0,
                 quick: bool = False, log=print) -> list[Path]:
    """Regenerate the figures of ``units`` (default: all) into ``out_dir``."""
    import matplotlib.pyplot as plt

    ctx = Context(LFW(data_dir, progress=False), seed, quick)
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
