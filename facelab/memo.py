"""Per-image memo for deterministic, fit-free image functions (LBP histograms, OpenCV head pose).

The evaluator fits a fresh method per fold and embeds the images each fold needs; for a function
that depends on nothing but the image (an LBP descriptor has nothing to fit), the ten View 2
folds would compute the same rows ten times. :class:`ImageMemo` keys every image by a digest of
its bytes (plus shape and dtype) and computes only the images it has not seen under the same
``key`` (the function's configuration). Results are bit-identical to calling the function.

Memory is bounded: when the rows kept exceed ``max_bytes`` the least recently used keys are
dropped whole (``FACELAB_MEMO_MB`` sets the bound; 0 disables the memo).
"""
from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from typing import Callable, Hashable

import numpy as np

MEMO_ENV_VAR = "FACELAB_MEMO_MB"


def image_digests(images: np.ndarray) -> list[bytes]:
    """One 16-byte BLAKE2b digest per image, over its shape, dtype and bytes."""
    images = np.ascontiguousarray(images)
    head = f"{images.shape[1:]}{images.dtype.str}".encode()
    return [hashlib.blake2b(head + im.tobytes(), digest_size=16).digest() for im in images]


class ImageMemo:
    """``memo(key, images, fn)`` == ``fn(images)`` row for row, computing only unseen images.

    fn must map a batch (n, ...) to rows (n, ...) and give each image the same row whatever
    batch it comes in (true of per-image functions; not of anything that normalises per batch).
    """

    def __init__(self, max_bytes: int | None = None):
        if max_bytes is None:
            max_bytes = int(float(os.environ.get(MEMO_ENV_VAR, 1024)) * 2 ** 20)
        self.max_bytes = max_bytes
        self._tables: OrderedDict[Hashable, dict[bytes, np.ndarray]] = OrderedDict()
        self._bytes: dict[Hashable, int] = {}
        self.computed = 0  # images passed to fn so far (tests and benchmarks read it)

    def __call__(self, key: Hashable, images: np.ndarray, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        if self.max_bytes <= 0 or len(images) == 0:
            self.computed += len(images)
            return fn(images)
        digests = image_digests(images)
        table = self._tables.setdefault(key, {})
        self._tables.move_to_end(key)
        missing = sorted({d: i for i, d in reversed(list(enumerate(digests))) if d not in table}.values())
        if missing:
            rows = np.asarray(fn(images[missing]))
            if len(rows) != len(missing):
                raise ValueError(f"memoised function returned {len(rows)} rows for {len(missing)} images")
            self.computed += len(missing)
            self._store(key, [digests[i] for i in missing], rows)
        out = np.stack([table[d] for d in digests])
        self._evict(keep=key)
        return out

    def _store(self, key: Hashable, digests: list[bytes], rows: np.ndarray) -> None:
        """Keep ``rows`` (views into one array: every row is kept, nothing is wasted) under ``key``;
        rows already there stay as they are."""
        table = self._tables.setdefault(key, {})
        for digest, row in zip(digests, rows):
            if digest not in table:
                table[digest] = row
                self._bytes[key] = self._bytes.get(key, 0) + row.nbytes

    def preload(self, key: Hashable, images: np.ndarray, rows: np.ndarray) -> None:
        """Remember ``rows`` as ``fn``'s rows of ``images`` under ``key`` (rows computed elsewhere: a
        packed LFW copy carries the OpenCV head-pose rows for machines whose OpenCV cannot compute them)."""
        rows = np.asarray(rows)
        if len(rows) != len(images):
            raise ValueError(f"preload: {len(rows)} rows for {len(images)} images")
        if self.max_bytes <= 0 or len(images) == 0:
            return
        self._store(key, image_digests(images), rows)
        self._tables.move_to_end(key)
        self._evict(keep=key)

    def _evict(self, keep: Hashable) -> None:
        while sum(self._bytes.values()) > self.max_bytes and len(self._tables) > 1:
            oldest = next(iter(self._tables))
            if oldest == keep:
                break
            del self._tables[oldest]
            self._bytes.pop(oldest, None)
        if self._bytes.get(keep, 0) > self.max_bytes:  # one key alone is too big: keep nothing of it
            self._tables.pop(keep, None)
            self._bytes.pop(keep, None)

    def discard(self, key: Hashable) -> None:
        """Forget every row kept under ``key``."""
        self._tables.pop(key, None)
        self._bytes.pop(key, None)

    def clear(self) -> None:
        self._tables.clear()
        self._bytes.clear()


#: the process-wide memo the classical methods share (folds, identification and few-shot reuse it)
MEMO = ImageMemo()
