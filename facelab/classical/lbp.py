"""Local binary patterns for faces (Ojala et al. 2002; Ahonen, Hadid & Pietikäinen 2004/2006).

Circular LBP(P, R): P neighbours on a circle of radius R around each pixel, sampled with
bilinear interpolation; neighbour p contributes bit ``s(g_p − g_c) · 2^p`` (Ojala et al. 2002,
eq. 9-10). A *mapping* then merges codes:

* ``default``     — the raw P-bit code, 2^P bins;
* ``ror``         — rotation invariant: the minimum over circular rotations (eq. 11);
* ``uniform``     — rotation-invariant uniform LBP^riu2: the number of ones for patterns with at
  most two 0/1 transitions, P + 1 for all others (eq. 12), P + 2 bins;
* ``nri_uniform`` — the not-rotation-invariant uniform patterns each get their own bin, all
  non-uniform ones share the last: P(P − 1) + 3 bins, the 59-bin face descriptor for P = 8.

Codes agree pixel for pixel with :func:`skimage.feature.local_binary_pattern` (same sampling
points, rounded to 5 decimals; same bilinear formula and floating-point order; zero outside the
image; same numbering of uniform patterns), but are computed for a whole batch at once: one
array operation per sampling point instead of a per-pixel loop.

The face descriptor (Ahonen et al. 2006, §3) divides the code image into a grid of cells and
concatenates the cells' histograms; faces are compared by (weighted) chi-square.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

MAPPINGS = ("default", "ror", "uniform", "nri_uniform")
MAX_P = 16  # mappings go through a 2^P lookup table


# -- sampling ---------------------------------------------------------------------------------
def sampling_offsets(P: int, R: float) -> tuple[np.ndarray, np.ndarray]:
    """Row and column offsets of the P neighbours: (−R sin(2πp/P), R cos(2πp/P)), rounded to 5 decimals.

    R passes through single precision first, as skimage's Cython signature declares it ``float``.
    """
    r32 = float(np.float32(R))
    angles = 2 * np.pi * np.arange(P, dtype=np.double) / P
    return np.round(-r32 * np.sin(angles), 5), np.round(r32 * np.cos(angles), 5)


def _axis_plan(n: int, offset: float):
    """For positions i + offset (i = 0..n−1): floor/ceil shifts and the fractional weights (n,)."""
    pos = np.arange(n, dtype=np.double) + offset
    lo, hi = np.floor(pos), np.ceil(pos)
    frac = pos - lo
    lo_shift, hi_shift = lo - np.arange(n), hi - np.arange(n)
    return lo_shift.astype(np.int64), hi_shift.astype(np.int64), frac


def _check_params(P: int, R: float, mapping: str):
    if not isinstance(P, (int, np.integer)) or not 1 <= P <= MAX_P:
        raise ValueError(f"P (number of neighbours) must be an integer in [1, {MAX_P}]; got {P!r}")
    if not R > 0:
        raise ValueError(f"R (radius) must be positive; got {R!r}")
    if mapping not in MAPPINGS:
        raise ValueError(f"mapping must be one of {MAPPINGS}; got {mapping!r}")


def as_gray_batch(images) -> np.ndarray:
    """(h, w), (n, h, w) or (n, h, w, 1) → (n, h, w); colour is refused with a clear message."""
    images = np.asarray(images)
    if images.ndim == 4:
        if images.shape[-1] != 1:
            raise ValueError(f"LBP needs greyscale images; got {images.shape[-1]} channels per image "
                             f"(shape {images.shape}). Load them with PreprocessConfig(grayscale=True)")
        images = images[..., 0]
    elif images.ndim == 2:
        images = images[None]
    elif images.ndim != 3:
        raise ValueError(f"images must be (h, w), (n, h, w) or (n, h, w, 1); got shape {images.shape}")
    if images.size == 0:
        raise ValueError(f"images is empty (shape {images.shape})")
    if not (np.issubdtype(images.dtype, np.integer) or np.issubdtype(images.dtype, np.floating)):
        raise ValueError(f"images must be integer or float arrays; got dtype {images.dtype}")
    return images


def neighbour_bits(images: np.ndarray, P: int, R: float) -> list[np.ndarray]:
    """For each neighbour p, the boolean image ``g_p ≥ g_c`` (n, h, w), skimage's exact arithmetic.

    Neighbours on the pixel grid are compared directly (the bilinear formula returns the pixel
    itself there). Off-grid neighbours use ``(1−dr)·((1−dc)·a + dc·b) + dr·((1−dc)·c + dc·d)`` in
    float64 with dr, dc computed per row/column as skimage does, so ties resolve identically.
    """
    n, h, w = images.shape
    rp, cp = sampling_offsets(P, R)
    pad = int(np.ceil(np.abs(np.concatenate([rp, cp])).max())) + 1
    padded = np.zeros((n, h + 2 * pad, w + 2 * pad), dtype=images.dtype)  # constant mode, cval = 0
    padded[:, pad:pad + h, pad:pad + w] = images
    center = images.astype(np.float64) if not np.issubdtype(images.dtype, np.integer) else images

    def window(row_shift, col_shift):
        if np.ptp(row_shift) == 0 and np.ptp(col_shift) == 0:  # the usual case: one slice
            r0, c0 = pad + int(row_shift[0]), pad + int(col_shift[0])
            return padded[:, r0:r0 + h, c0:c0 + w]
        rows = pad + np.arange(h) + row_shift  # general case: gather
        cols = pad + np.arange(w) + col_shift
        return padded[:, rows[:, None], cols[None, :]]

    bits = []
    for p in range(P):
        r_lo, r_hi, dr = _axis_plan(h, rp[p])
        c_lo, c_hi, dc = _axis_plan(w, cp[p])
        if not dr.any() and not dc.any():  # on the grid: compare the pixel itself
            bits.append(window(r_lo, c_lo) >= center)
            continue
        dr, dc = dr[None, :, None], dc[None, None, :]
        top = (1 - dc) * window(r_lo, c_lo) + dc * window(r_lo, c_hi)
        bottom = (1 - dc) * window(r_hi, c_lo) + dc * window(r_hi, c_hi)
        texture = (1 - dr) * top + dr * bottom
        bits.append((texture - center) >= 0)
    return bits


@lru_cache(maxsize=None)
def mapping_table(P: int, mapping: str) -> np.ndarray:
    """Lookup table raw code (0 .. 2^P − 1) → mapped code, numbered as skimage numbers them."""
    _check_params(P, 1.0, mapping)
    codes = np.arange(2 ** P, dtype=np.int64)
    if mapping == "default":
        return codes
    bits = ((codes[:, None] >> np.arange(P)) & 1).astype(np.int64)  # (2^P, P), bit p = neighbour p
    if mapping == "ror":
        rotations = [((codes >> s) | (codes << (P - s))) & (2 ** P - 1) for s in range(P)]
        return np.min(rotations, axis=0)
    transitions = np.abs(np.diff(bits, axis=1)).sum(1)  # 0/1 changes along p = 0..P−1
    uniform = transitions <= 2  # ≤ 2 along the open chain ⇔ ≤ 2 around the circle (the count is even)
    ones = bits.sum(1)
    if mapping == "uniform":
        return np.where(uniform, ones, P + 1)
    # nri_uniform: uniform patterns indexed by (number of ones, rotation), Ahonen's 59 bins for P = 8
    first_one = np.argmax(bits == 1, axis=1)
    first_zero = np.argmax(bits == 0, axis=1)
    rot = np.where(first_one == 0, ones - first_zero, P - first_one)
    inner = 1 + (ones - 1) * P + rot
    out = np.where(ones == 0, 0, np.where(ones == P, P * (P - 1) + 1, inner))
    return np.where(uniform, out, P * (P - 1) + 2)


def n_bins(P: int, mapping: str) -> int:
    """Histogram length of one cell for a mapping."""
    return {"default": 2 ** P, "ror": 2 ** P, "uniform": P + 2, "nri_uniform": P * (P - 1) + 3}[mapping]


def _code_dtype(P):
    return np.uint8 if P <= 8 else np.uint16


def _codes_chunk(images: np.ndarray, P: int, R: float, mapping: str) -> np.ndarray:
    dtype = _code_dtype(P)
    code = np.zeros(images.shape, dtype=dtype)
    for p, bit in enumerate(neighbour_bits(images, P, R)):
        code |= bit.astype(dtype) << dtype(p)
    table = mapping_table(P, mapping)
    return code if mapping == "default" else table.astype(dtype if n_bins(P, mapping) <= 2 ** P else np.int64)[code]


def _chunk_size(h: int, w: int) -> int:
    return max(1, 2 ** 17 // (h * w))  # ~1 MB per float64 temporary: stays in cache


def local_binary_pattern(images, P: int = 8, R: float = 1.0, mapping: str = "default") -> np.ndarray:
    """LBP code images, (n, h, w) for a batch (or (h, w) for one image); equals skimage's codes."""
    _check_params(P, R, mapping)
    single = np.asarray(images).ndim == 2
    batch = as_gray_batch(images)
    out = np.empty(batch.shape, dtype=_code_dtype(P))
    step = _chunk_size(*batch.shape[1:])
    for s in range(0, len(batch), step):
        out[s:s + step] = _codes_chunk(batch[s:s + step], P, R, mapping)
    return out[0] if single else out


# -- the face descriptor ------------------------------------------------------------------------
def cell_edges(size: int, cells: int, margin: int = 0) -> np.ndarray:
    """Integer borders of ``cells`` near-equal cells over [margin, size − margin)."""
    inner = size - 2 * margin
    if cells < 1 or inner < cells:
        raise ValueError(f"cannot split {inner} pixels (size {size}, margin {margin}) into {cells} cells")
    return margin + (np.arange(cells + 1) * inner) // cells


def grid_histograms(codes: np.ndarray, bins: int, grid=(7, 7), margin: int = 0) -> np.ndarray:
    """Per-cell code counts, (n, cells_y · cells_x · bins) float32, cells in row-major order.

    One ``np.bincount`` for the whole batch: index = (image · cells + cell) · bins + code.
    """
    n, h, w = codes.shape
    gy, gx = grid
    ey, ex = cell_edges(h, gy, margin), cell_edges(w, gx, margin)
    cell_y = np.full(h, -1)
    cell_x = np.full(w, -1)
    for i in range(gy):
        cell_y[ey[i]:ey[i + 1]] = i
    for j in range(gx):
        cell_x[ex[j]:ex[j + 1]] = j
    inside = (cell_y[:, None] >= 0) & (cell_x[None, :] >= 0)
    cell = (cell_y[:, None] * gx + cell_x[None, :])[inside]  # (pixels inside,)
    n_cells = gy * gx
    index = (np.arange(n)[:, None] * n_cells + cell[None, :]) * bins + codes[:, inside].astype(np.int64)
    counts = np.bincount(index.ravel(), minlength=n * n_cells * bins)
    return counts.reshape(n, n_cells * bins).astype(np.float32)


def normalize_histograms(hist: np.ndarray, bins: int, norm: str = "l1", sqrt: bool = False) -> np.ndarray:
    """Per-cell normalisation: ``l1`` (each cell sums to 1), ``l2`` or ``none``; ``sqrt`` then takes
    element-wise square roots (Hellinger kernel: Euclidean on √h ≈ Hellinger on h)."""
    if norm not in ("l1", "l2", "none"):
        raise ValueError(f"norm must be 'l1', 'l2' or 'none'; got {norm!r}")
    n = len(hist)
    cells = hist.reshape(n, -1, bins).astype(np.float32)
    if norm == "l1":
        cells = cells / np.maximum(cells.sum(-1, keepdims=True), 1e-12)
    elif norm == "l2":
        cells = cells / np.maximum(np.linalg.norm(cells, axis=-1, keepdims=True), 1e-12)
    if sqrt:
        cells = np.sqrt(cells)
    return cells.reshape(n, -1)


@dataclass(frozen=True)
class LBPDescriptor:
    """Ahonen et al. (2006) face descriptor: concatenated per-cell LBP histograms, one or more scales.

    scales: ((P, R), ...) — several entries give multi-scale LBP (histograms concatenated).
    mapping: one of ``MAPPINGS``. grid: (cells down, cells across). margin: pixels dropped at each
    border before the grid ("auto" = ceil(R) of the largest radius, where the zero padding
    outside the image would leak into the codes). norm/sqrt: see :func:`normalize_histograms`.
    """

    scales: tuple = ((8, 1.0),)
    mapping: str = "nri_uniform"
    grid: tuple = (7, 7)
    margin: int | str = "auto"
    norm: str = "l1"
    sqrt: bool = False

    def __post_init__(self):
        scales = tuple((int(P), float(R)) for P, R in self.scales)
        if not scales:
            raise ValueError("scales must hold at least one (P, R)")
        for P, R in scales:
            _check_params(P, R, self.mapping)
        object.__setattr__(self, "scales", scales)
        object.__setattr__(self, "grid", tuple(int(g) for g in self.grid))

    @property
    def margin_px(self) -> int:
        return int(np.ceil(max(R for _, R in self.scales))) if self.margin == "auto" else int(self.margin)

    @property
    def bins_per_cell(self) -> tuple:
        return tuple(n_bins(P, self.mapping) for P, _ in self.scales)

    def dim(self) -> int:
        return sum(self.bins_per_cell) * self.grid[0] * self.grid[1]

    def n_cells(self) -> int:
        return self.grid[0] * self.grid[1]

    def region_index(self) -> np.ndarray:
        """Cell number (row-major) of every feature, (dim,): for per-region weights."""
        n_cells = self.n_cells()
        return np.concatenate([np.repeat(np.arange(n_cells), b) for b in self.bins_per_cell])

    def __call__(self, images) -> np.ndarray:
        """Descriptors (n, dim) float32 of a batch (n, h, w[, 1])."""
        batch = as_gray_batch(images)
        n, h, w = batch.shape
        cell_edges(h, self.grid[0], self.margin_px), cell_edges(w, self.grid[1], self.margin_px)  # validate
        out = np.empty((n, self.dim()), dtype=np.float32)
        step = _chunk_size(h, w)
        for s in range(0, n, step):
            parts = []
            for (P, R), bins in zip(self.scales, self.bins_per_cell):
                codes = _codes_chunk(batch[s:s + step], P, R, self.mapping)
                hist = grid_histograms(codes, bins, self.grid, self.margin_px)
                parts.append(normalize_histograms(hist, bins, self.norm, self.sqrt))
            out[s:s + step] = np.concatenate(parts, axis=1)
        return out


@dataclass(frozen=True)
class LBPPyramid:
    """Multi-scale LBP over an image pyramid (Chen, Cao, Wen & Sun 2013, "Blessing of dimensionality",
    §3.1): the face is described at several sizes, each resized from the input by area averaging, and
    the levels' descriptors are concatenated. Small levels see coarse structure (the shape of the face
    and its features), large ones fine texture; Chen et al. sample patches around landmarks, here a
    dense grid does, since LFW's deep-funneled faces are aligned.

    base: the :class:`LBPDescriptor` of every level (its grid is replaced by the level's).
    levels: ``((size, cells), ...)``: the level's image is size × size and its grid cells × cells.
    """

    base: LBPDescriptor
    levels: tuple

    def __post_init__(self):
        try:
            levels = tuple((int(s), int(c)) for s, c in self.levels)
        except (TypeError, ValueError):
            raise ValueError(f"pyramid levels must be (size, cells) pairs, e.g. ((110, 9), (88, 7)); "
                             f"got {self.levels!r}") from None
        if not levels:
            raise ValueError("pyramid levels must hold at least one (size, cells) pair")
        for size, cells in levels:
            try:
                cell_edges(size, cells, self.base.margin_px)
            except ValueError as e:
                raise ValueError(f"pyramid level ({size}, {cells}): {e}") from None
        object.__setattr__(self, "levels", levels)

    def descriptors(self) -> list[LBPDescriptor]:
        """One descriptor per level, the base's settings with the level's grid."""
        return [replace(self.base, grid=(cells, cells)) for _, cells in self.levels]

    def dim(self) -> int:
        return sum(d.dim() for d in self.descriptors())

    def n_cells(self) -> int:
        return sum(cells * cells for _, cells in self.levels)

    def region_index(self) -> np.ndarray:
        """Cell number of every feature, the levels' cells numbered one after another, (dim,)."""
        offsets = np.cumsum([0] + [cells * cells for _, cells in self.levels])
        return np.concatenate([d.region_index() + o for d, o in zip(self.descriptors(), offsets)])

    def __call__(self, images) -> np.ndarray:
        """Descriptors (n, dim) float32 of a batch (n, h, w[, 1]) of square images."""
        import cv2

        batch = as_gray_batch(images)
        if batch.shape[1] != batch.shape[2]:
            raise ValueError(f"an LBP pyramid needs square images; got {batch.shape[1]}×{batch.shape[2]}")
        parts = []
        for (size, _), descriptor in zip(self.levels, self.descriptors()):
            level = batch if size == batch.shape[1] else \
                np.stack([cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA) for image in batch])
            parts.append(descriptor(level))
        return np.concatenate(parts, axis=1)
