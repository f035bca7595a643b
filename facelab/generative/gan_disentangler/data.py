"""The disentangler's batches and pose targets: :func:`stage_dataset` (one stage's batches, resumable,
with seeded flips) and the OpenCV head pose of each image (:func:`pose_targets`), memoised per image."""
from __future__ import annotations

import numpy as np

from ...data.pipeline import image_spec, mapped_batches, to_float, vector_spec
from ...data.samplers import epoch_rng
from ...memo import MEMO
from ..pose import POSE_NAMES, head_pose


def stage_dataset(images, labels, targets, sampler, *, epochs: int, start_epoch: int, skip: int,
                  max_steps: int | None, augment: bool, seed: int):
    """``(x float32 in [0, 1], y int32, pose float32 (B, 2), valid bool)`` batches of ``sampler``'s epochs
    ``start_epoch..epochs-1`` (first ``skip`` batches of the first left out, for resuming).
    ``targets(idx) -> (pose (B, 2), valid (B,))``. Flips are drawn per batch from ``(seed, epoch,
    batch)``, so resumed runs see the same ones; a flipped image's pose target is negated (exact,
    see :mod:`facelab.generative.pose`)."""
    n_steps = len(sampler) if max_steps is None else min(len(sampler), max_steps)

    def gen():
        for e in range(start_epoch, epochs):
            batches = sampler.epoch(e)
            for b in range(skip if e == start_epoch else 0, n_steps):
                idx = np.asarray(batches[b])
                pose, valid = targets(idx)
                x, pose = images[idx], np.asarray(pose, np.float32).copy()
                if augment:
                    flip = epoch_rng(seed, e, b).random(len(idx)) < 0.5
                    x = x.copy()
                    x[flip] = x[flip, :, ::-1]
                    pose[flip] = -pose[flip]
                yield x, labels[idx], pose, np.asarray(valid, bool)

    signature = lambda: (image_spec(images), vector_spec(), vector_spec((None, len(POSE_NAMES)), "float32"),
                         vector_spec((None,), "bool"))
    return mapped_batches(gen, signature, lambda x, y, t, v: (to_float(x), y, t, v))


# -- pose targets -------------------------------------------------------------------------------------
POSE_MEMO_KEY = "head_pose"


def _pose_rows(images: np.ndarray) -> np.ndarray:
    pose, found = head_pose(images)
    return np.column_stack([pose, found]).astype(np.float64)


def pose_targets(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(pose (n, 2), found (n,))`` = :func:`~facelab.generative.pose.head_pose`, memoised per image
    content (:mod:`facelab.memo`): quick runs pay only for the images they see, the evaluator's folds
    share the work, and a packed LFW copy (``facelab data pack --methods gan-disentangler``) brings
    the rows computed where OpenCV has its Haar cascades."""
    rows = MEMO(POSE_MEMO_KEY, np.asarray(images), _pose_rows)
    return rows[:, :-1], rows[:, -1] > 0.5


class PoseTargets:
    """The pose targets of an image array, looked up per batch of indices (:func:`pose_targets`)."""

    def __init__(self, images: np.ndarray):
        self.images = images

    def get(self, idx) -> tuple[np.ndarray, np.ndarray]:
        return pose_targets(self.images[np.asarray(idx, dtype=np.int64)])
