"""Pictures of the answers: a photo with its faces boxed and named, and a contact sheet of matches.

Drawn with matplotlib (names in any script, which OpenCV's fonts cannot write) on a bare
``Figure`` (no pyplot state), and saved atomically with :func:`facelab.io.save_figure`.
"""
from __future__ import annotations

from pathlib import Path

import cv2

from .. import io
from .photos import read_photo

NAMED, UNKNOWN = "#2ca02c", "#d62728"


def annotate(photo, answers, out, *, max_side: float = 10.0) -> Path:
    """``photo`` with each answer's face boxed: green and named, or red and "not recognised"."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    rgb = cv2.cvtColor(read_photo(photo), cv2.COLOR_BGR2RGB)
    h, w = rgb.shape[:2]
    fig = Figure(figsize=(max_side * w / max(h, w), max_side * h / max(h, w)))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(rgb)
    ax.set_axis_off()
    for a in answers:
        x, y, bw, bh = a.face.box
        colour = NAMED if a.name else UNKNOWN
        ax.add_patch(Rectangle((x, y), bw, bh, fill=False, edgecolor=colour, linewidth=2))
        label = f"{a.name} {a.score:.2f}" if a.name else f"not recognised ({a.score:.2f})"
        ax.text(x, max(y - 4, 0), label, color="white", fontsize=9, va="bottom",
                bbox={"facecolor": colour, "edgecolor": "none", "pad": 1.5})
    return io.save_figure(fig, out, dpi=max(72, int(round(max(h, w) / max_side))))


def contact_sheet(results, out, *, size: float = 1.6) -> Path:
    """One row per face searched: the face, then its matches (name, score, source photo)."""
    from matplotlib.figure import Figure

    cols = 1 + max(len(matches) for _, matches in results)
    fig = Figure(figsize=(size * cols, (size + 0.5) * len(results)))
    for i, (face, matches) in enumerate(results):
        cells = [(face.thumb, f"face {i + 1}\n{Path(face.photo).name}")]
        cells += [(m.thumb, f"{m.name}\n{m.score:.3f}") for m in matches]
        for j, (image, title) in enumerate(cells):
            ax = fig.add_subplot(len(results), cols, i * cols + j + 1)
            ax.imshow(image)
            ax.set_title(title, fontsize=7)
            ax.set_axis_off()
    fig.tight_layout()
    return io.save_figure(fig, out, dpi=100)
