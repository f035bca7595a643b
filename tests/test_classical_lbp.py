"""LBP codes against scikit-image pixel for pixel on real LFW crops; descriptors against plain NumPy."""
from __future__ import annotations

import numpy as np
import pytest
from skimage.feature import local_binary_pattern as skimage_lbp

from facelab.classical import lbp
from facelab.data import PreprocessConfig


@pytest.fixture(scope="module")
def crops(lfw):
    """40 real LFW crops, 64×64 greyscale uint8 (the default config), spread over the data set."""
    x = lfw.load_images(PreprocessConfig())
    return x[np.linspace(0, len(x) - 1, 40).astype(int), ..., 0]


@pytest.mark.parametrize("P", [8, 16])
@pytest.mark.parametrize("R", [1, 2, 3])
@pytest.mark.parametrize("mapping", ["default", "ror", "uniform", "nri_uniform"])
def test_codes_equal_skimage_pixel_for_pixel(crops, P, R, mapping):
    ours = lbp.local_binary_pattern(crops, P, R, mapping)  # whole batch at once
    ref = np.stack([skimage_lbp(im, P, R, mapping) for im in crops])
    assert ours.shape == ref.shape
    assert np.array_equal(ours, ref), f"{(ours != ref).sum()} of {ref.size} codes differ"


def test_off_grid_radius_and_float_images_match_too(crops):
    for R in (1.5, 2.5):
        assert np.array_equal(lbp.local_binary_pattern(crops[:8], 8, R, "uniform"),
                              np.stack([skimage_lbp(im, 8, R, "uniform") for im in crops[:8]]))
    f = crops[:6].astype(np.float64) / 7.0  # ties between neighbours are rare but not absent here
    with pytest.warns(UserWarning):
        ref = np.stack([skimage_lbp(im, 8, 2, "nri_uniform") for im in f])
    assert np.array_equal(lbp.local_binary_pattern(f, 8, 2, "nri_uniform"), ref)


def test_bin_counts_of_mappings(crops):
    assert lbp.n_bins(8, "nri_uniform") == 59 and lbp.n_bins(8, "uniform") == 10
    codes = lbp.local_binary_pattern(crops, 8, 1, "nri_uniform")
    assert codes.max() < 59 and len(np.unique(lbp.mapping_table(8, "nri_uniform"))) == 59
    assert len(np.unique(lbp.mapping_table(16, "nri_uniform"))) == 16 * 15 + 3


def test_grid_histograms_equal_per_cell_numpy_histograms(crops):
    desc = lbp.LBPDescriptor(scales=((8, 2),), mapping="nri_uniform", grid=(5, 6), margin=2, norm="none")
    feats = desc(crops[:5, :, :, None])  # (n, h, w, 1) as the data layer gives them
    codes = lbp.local_binary_pattern(crops[:5], 8, 2, "nri_uniform")
    ey, ex = lbp.cell_edges(64, 5, 2), lbp.cell_edges(64, 6, 2)
    for i in range(5):
        ref = [np.histogram(codes[i, ey[a]:ey[a + 1], ex[b]:ex[b + 1]], bins=59, range=(0, 59))[0]
               for a in range(5) for b in range(6)]
        np.testing.assert_array_equal(feats[i], np.concatenate(ref))
    assert feats.sum(1).tolist() == [60 * 60] * 5  # every inner pixel counted once


def test_normalised_multiscale_descriptor(crops):
    desc = lbp.LBPDescriptor(scales=((8, 1), (16, 2)), mapping="uniform", grid=(4, 4))
    feats = desc(crops[:3])
    assert feats.shape == (3, 16 * (10 + 18)) == (3, desc.dim())
    cells = np.split(feats, np.cumsum([16 * 10]), axis=1)
    for part, bins in zip(cells, (10, 18)):
        np.testing.assert_allclose(part.reshape(3, 16, bins).sum(-1), 1.0, rtol=1e-6)
    assert len(desc.region_index()) == desc.dim()


def test_bad_inputs_are_refused_by_name(crops):
    colour = np.repeat(crops[:2, :, :, None], 3, axis=-1)
    with pytest.raises(ValueError, match="greyscale"):
        lbp.local_binary_pattern(colour)
    with pytest.raises(ValueError, match="empty"):
        lbp.LBPDescriptor()(np.zeros((0, 64, 64, 1), np.uint8))
    with pytest.raises(ValueError, match="P"):
        lbp.local_binary_pattern(crops[:1], P=24)
    with pytest.raises(ValueError, match="mapping"):
        lbp.local_binary_pattern(crops[:1], mapping="var")
    with pytest.raises(ValueError, match="cells"):
        lbp.LBPDescriptor(grid=(70, 70))(crops[:1])


def _block_means(images: np.ndarray, factor: int) -> np.ndarray:
    """Plain NumPy downsampling by an integer factor: the mean of each factor × factor block."""
    n, h, w = images.shape
    return images.reshape(n, h // factor, factor, w // factor, factor).mean(axis=(2, 4), dtype=np.float32)


def test_pyramid_describes_each_size_of_the_face_and_concatenates(crops):
    """Each level is the face averaged down to its size (block means here: sums of a few whole grey
    levels are exact in float32, so OpenCV's area resizing must equal them) with its own grid."""
    x = crops[:6].astype(np.float32)
    base = lbp.LBPDescriptor(scales=((8, 2),), mapping="nri_uniform", grid=(7, 7), sqrt=True)
    pyramid = lbp.LBPPyramid(base, ((64, 6), (32, 3), (16, 1)))
    expected = [lbp.LBPDescriptor(scales=((8, 2),), mapping="nri_uniform", grid=(cells, cells), sqrt=True)(
        _block_means(x, 64 // size)) for size, cells in pyramid.levels]
    np.testing.assert_array_equal(pyramid(x[..., None]), np.concatenate(expected, axis=1))
    assert pyramid.dim() == 59 * (36 + 9 + 1) and pyramid.n_cells() == 46
    index = pyramid.region_index()
    assert len(index) == pyramid.dim() and index.max() == 45 and (np.bincount(index) == 59).all()
    assert pyramid == lbp.LBPPyramid(base, [[64, 6], [32, 3], [16, 1]])  # lists from a --param read alike


def test_pyramid_levels_and_images_are_checked_by_name(crops):
    base = lbp.LBPDescriptor(scales=((8, 2),))
    for levels, message in ((((64, 0),), r"pyramid level \(64, 0\)"), (((10, 9),), r"pyramid level \(10, 9\)"),
                            ((), "at least one"), ("64", "pairs"), (((64,),), "pairs")):
        with pytest.raises(ValueError, match=message):
            lbp.LBPPyramid(base, levels)
    with pytest.raises(ValueError, match="square"):
        lbp.LBPPyramid(base, ((32, 3),))(crops[:2, :, :40])


def test_lbp_method_on_a_pyramid_learns_one_weight_per_cell_of_every_level(lfw):
    from facelab.classical.face_methods import LBPMethod

    counts = np.bincount(lfw.labels)
    positions = np.flatnonzero(np.isin(lfw.labels, np.flatnonzero(counts >= 20)[:8]))[:120]
    images, labels = lfw.load_images(PreprocessConfig())[positions], lfw.labels[positions]
    method = LBPMethod(PreprocessConfig(), pyramid=((64, 4), (32, 2)), region_weights="learned", quick=True)
    method.fit(images, labels)
    assert method.cell_weights_.shape == (20,) and np.isclose(method.cell_weights_.mean(), 1.0)
    assert method.params()["pyramid"] == [[64, 4], [32, 2]] and "grid" not in method.params()
    assert method.embed(images[:3]).shape == (3, 59 * 20)
