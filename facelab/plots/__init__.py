"""Every figure facelab draws (computation lives elsewhere; these only draw).

One kind of figure per module (none imports this package's ``__init__``):

- :mod:`.curves` — evaluation curves: ROC, CMC, few-shot accuracy over N, and any line plot
  (:func:`curves_figure`);
- :mod:`.images` — image grids: faces, verification pairs, the GAN disentangler's identity transfer;
- :mod:`.embeddings` — embeddings projected to 2-D (PCA or t-SNE), one map per method;
- :mod:`.training` — curves over training: loss terms, triplet-mining statistics, per-stage losses;
- :mod:`.triplets` — the hard / semi-hard / easy regions of a batch's triplets and a face from each;
- :mod:`.classical` — eigenfaces, PCA reconstructions and explained variance, LBP codes and histograms.

Every name is re-exported here, so ``from facelab import plots`` / ``from facelab.plots import X`` is the
one import callers need.
"""
from __future__ import annotations

from .classical import (eigenface_grid, explained_variance_figure, lbp_codes_figure, lbp_histogram_figure,
                        reconstruction_grid)
from .curves import cmc_figure, curves_figure, few_shot_figure, roc_figure
from .embeddings import embedding_scatter, project_2d
from .images import image_grid, pair_grid, transfer_grid_figure
from .training import MINING_STATS, loss_curves_figure, mining_curves, training_curves
from .triplets import (REGIONS, negative_regions_figure, pick_region_examples, region_examples_figure, region_of,
                       triplet_gaps)

__all__ = [
    "MINING_STATS", "REGIONS",
    "cmc_figure", "curves_figure", "eigenface_grid", "embedding_scatter", "explained_variance_figure",
    "few_shot_figure", "image_grid", "lbp_codes_figure", "lbp_histogram_figure", "loss_curves_figure",
    "mining_curves", "negative_regions_figure", "pair_grid", "pick_region_examples", "project_2d",
    "reconstruction_grid", "region_examples_figure", "region_of", "roc_figure", "training_curves",
    "transfer_grid_figure", "triplet_gaps",
]
