"""Evaluation protocols (:mod:`facelab.evaluation.protocols`): thresholds from a held-out training
fold that fitting never saw."""
from __future__ import annotations

import numpy as np
import pytest


def test_held_out_threshold_fold_is_left_out_of_fitting(lfw):
    from facelab.evaluation.protocols import verification_splits

    standard = verification_splits(lfw, "view2")
    held = verification_splits(lfw, "view2", "held-out")
    folds = lfw.people_folds("view2")
    for k, (s, h) in enumerate(zip(standard, held, strict=True)):
        np.testing.assert_array_equal(s.test_pairs.index_a, h.test_pairs.index_a)  # same test pairs
        nxt = (k + 1) % 10
        assert set(np.unique(h.threshold_pairs.fold)) == {nxt} and len(h.threshold_pairs) == 600
        trained = set(lfw.labels[h.train_images])
        held_people = set(lfw.labels[lfw.people_indices(folds[nxt])])
        assert not trained & held_people  # the threshold's people were never fitted on
        pair_people = set(lfw.labels[h.threshold_pairs.index_a]) | set(lfw.labels[h.threshold_pairs.index_b])
        assert pair_people <= held_people
        assert len(h.train_images) < len(s.train_images)
    with pytest.raises(ValueError, match="needs View 2's folds"):
        verification_splits(lfw, "view1", "held-out")
    with pytest.raises(ValueError, match="threshold must be one of"):
        verification_splits(lfw, "view2", "test")
