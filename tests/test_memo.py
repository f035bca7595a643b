"""facelab.memo: per-image memoisation gives exactly the function's rows and skips seen images."""
from __future__ import annotations

import numpy as np
import pytest

from facelab.classical.lbp import LBPDescriptor
from facelab.data import PreprocessConfig
from facelab.memo import MEMO, ImageMemo, image_digests


@pytest.fixture(scope="module")
def faces(lfw):
    return lfw.load_images(PreprocessConfig(size=(48, 48), crop=(96, 96)))[:40]


def test_memo_returns_the_functions_rows_and_computes_each_image_once(faces):
    calls = []

    def describe(x):
        calls.append(len(x))
        return LBPDescriptor(grid=(4, 4))(x)

    memo = ImageMemo(max_bytes=1 << 26)
    direct = LBPDescriptor(grid=(4, 4))(faces)
    np.testing.assert_array_equal(memo("k", faces[:20], describe), direct[:20])
    assert calls == [20]
    mixed = np.concatenate([faces[10:30], faces[10:12]])  # 10 seen, 10 new, 2 repeated in the batch
    np.testing.assert_array_equal(memo("k", mixed, describe), np.concatenate([direct[10:30], direct[10:12]]))
    assert calls == [20, 10] and memo.computed == 30
    memo("other key", faces[:5], describe)  # another configuration never reuses these rows
    assert calls[-1] == 5


def test_memo_tells_images_apart_by_content_shape_and_dtype(faces):
    a = faces[:3]
    assert len(set(image_digests(a))) == 3
    assert image_digests(a[:1]) != image_digests(a[:1].astype(np.int16))
    assert image_digests(a[:1]) != image_digests(a[:1, :24])
    b = a.copy()
    b[0, 0, 0, 0] ^= 1  # one bit of one pixel
    assert image_digests(b)[0] != image_digests(a)[0]


def test_memo_bounds_its_memory_and_can_be_disabled(faces):
    rows = lambda x: x.reshape(len(x), -1).astype(np.float64)  # 48·48·8 B ≈ 18 KB per image
    memo = ImageMemo(max_bytes=30 * 48 * 48 * 8)
    memo("a", faces[:20], rows)
    memo("b", faces[:20], rows)  # together over the bound: key "a" (least recent) is dropped
    before = memo.computed
    memo("a", faces[:20], rows)
    assert memo.computed == before + 20
    off = ImageMemo(max_bytes=0)
    off("a", faces[:5], rows)
    off("a", faces[:5], rows)
    assert off.computed == 10


def test_lbp_method_embeddings_are_shared_across_fitted_instances(lfw):
    from facelab import methods as registry

    method = registry.create("lbp-chi2")
    x = lfw.load_images(method.preprocess)[:30]
    first = method.fit(x).embed(x)
    before = MEMO.computed
    again = registry.create("lbp-chi2").fit(x).embed(x)  # a new fold's instance: nothing recomputed
    assert MEMO.computed == before
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, method._describe(x[..., 0:1]))
