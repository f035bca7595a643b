"""The grouped VAE's figures (Tan, Pal & Courville): the arrays, then thin matplotlib drawing.

- :func:`z_interpolation` — w fixed per row, z moved linearly between two images' z (their Fig. 2c);
- :func:`identity_means` — x decoded at z = E[p(z | w)] next to the group's pixel mean (Fig. 3b);
- :func:`identity_samples` — new images of a person whose w was inferred from N seen images.

Inputs are uint8 images as the data layer gives them; outputs are floats in [0, 1].
"""
from __future__ import annotations

import numpy as np

from .fewshot import to_numpy
from .grouped_vae import GroupedVAE, to_unit


def _single_z(model: GroupedVAE, image: np.ndarray):
    """(w, z) of one image: w = μ of q(w | x), z = μ of q(z | x, w)."""
    x = to_unit(image[None])
    mu_w, _ = model.q_w(x[:, None])
    mu_z, _ = model.q_z(model.features(x), mu_w)
    return to_numpy(mu_w)[0], to_numpy(mu_z)[0]


def z_interpolation(model: GroupedVAE, image_a, image_b, identity_groups, steps: int = 8) -> np.ndarray:
    """Decoded means ``(R, steps, H, W, C)``: row r uses w = μ of q(w | identity_groups[r]) (uint8
    ``(N, H, W, C)`` each), column t uses z = (1 − t) z_a + t z_b, z_a and z_b from the two images."""
    _, z_a = _single_z(model, np.asarray(image_a))
    _, z_b = _single_z(model, np.asarray(image_b))
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    z = (1 - t) * z_a + t * z_b  # (steps, z_dim)
    rows = []
    for group in identity_groups:
        w = to_numpy(model.q_w(to_unit(np.asarray(group))[None])[0])  # (1, w_dim)
        rows.append(to_numpy(model.decode(np.repeat(w, steps, 0), z)))
    return np.stack(rows)


def identity_means(model: GroupedVAE, groups) -> tuple[np.ndarray, np.ndarray]:
    """For each group (uint8 ``(N, H, W, C)``): the decoder's mean at w = μ_w(group), z = mean of
    p(z | w), and the plain pixel average of the group. Two arrays ``(G, H, W, C)``."""
    decoded, averages = [], []
    for group in groups:
        x = to_unit(np.asarray(group))
        w = model.q_w(x[None])[0]
        mu_z, _ = model.p_z(w)
        decoded.append(to_numpy(model.decode(w, mu_z))[0])
        averages.append(x.mean(0))
    return np.stack(decoded), np.stack(averages)


def identity_samples(model: GroupedVAE, group, n_samples: int = 8, seed: int = 0, sample_w: bool = False):
    """New images of the person seen in ``group``: z ~ p(z | w), x = mean of p(x | w, z), with w the
    mean of q(w | group) (or a draw from it when ``sample_w``). ``(n_samples, H, W, C)``."""
    rng = np.random.default_rng(seed)
    mu_w, sd_w = (to_numpy(a) for a in model.q_w(to_unit(np.asarray(group))[None]))
    w = np.repeat(mu_w, n_samples, 0)
    if sample_w:
        w = w + np.repeat(sd_w, n_samples, 0) * rng.standard_normal(w.shape).astype(np.float32)
    mu_z, sd_z = (to_numpy(a) for a in model.p_z(w))
    z = mu_z + sd_z * rng.standard_normal(mu_z.shape).astype(np.float32)
    return to_numpy(model.decode(w, z))


# -- drawing -----------------------------------------------------------------------------------
def image_rows(rows, row_labels=None, size: float = 1.1, title: str | None = None):
    """Rows of images (uint8 or floats in [0, 1]) in one figure, an optional label per row."""
    import matplotlib.pyplot as plt

    rows = [np.asarray(r) for r in rows]
    ncols = max(len(r) for r in rows)
    fig, axes = plt.subplots(len(rows), ncols, figsize=(ncols * size + 1.2, len(rows) * size), squeeze=False)
    for i, row in enumerate(rows):
        for j in range(ncols):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if j < len(row):
                img = row[j][..., 0] if row[j].shape[-1] == 1 else row[j]
                ax.imshow(img, cmap="gray", vmin=0, vmax=1 if img.dtype != np.uint8 else 255)
        if row_labels is not None:
            axes[i, 0].set_ylabel(row_labels[i], fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def draw_z_interpolation(grid: np.ndarray, row_labels=None):
    return image_rows(list(grid), row_labels, title="w fixed per row, z interpolated between two images")


def draw_identity_means(groups, decoded: np.ndarray, averages: np.ndarray, show: int = 5):
    """Per identity: ``show`` of its images, the pixel average and the decoder's mean."""
    rows = [list(np.asarray(g)[:show] / 255.0) + [a, d] for g, a, d in zip(groups, averages, decoded)]
    fig = image_rows(rows, title=f"{show} images · group pixel average · decoded at z = E[p(z|w)]")
    return fig


def draw_identity_samples(group, samples: np.ndarray, show: int = 5):
    return image_rows([np.asarray(group)[:show] / 255.0, samples],
                 ["seen", "generated"], title="new images of an identity inferred from the seen group")


def paper_figures(model: GroupedVAE, groups, steps: int = 8, n_samples: int = 8, seed: int = 0) -> dict:
    """The three figures for a list of ≥ 2 groups (uint8 ``(N, H, W, C)``, one person each):
    ``{filename: matplotlib figure}``. The first two groups drive the interpolation."""
    if len(groups) < 2:
        raise ValueError(f"paper_figures needs at least 2 groups (people), got {len(groups)}")
    grid = z_interpolation(model, groups[0][0], groups[1][0], groups[:2], steps=steps)
    decoded, averages = identity_means(model, groups)
    samples = identity_samples(model, groups[0], n_samples=n_samples, seed=seed)
    return {"z_interpolation.png": draw_z_interpolation(grid, ["person A", "person B"]),
            "identity_means.png": draw_identity_means(groups, decoded, averages),
            "identity_samples.png": draw_identity_samples(groups[0], samples)}
