"""The deep methods' training parameters (:mod:`facelab.nets.base`): ``shift`` keys a checkpoint
only when on."""
from __future__ import annotations

import pytest


def test_shift_keys_the_checkpoint_only_when_on():
    """Runs trained before ``shift`` existed keep their fingerprint; a shifted run gets its own."""
    from facelab.nets.triplet_method import TripletSemiHard

    assert "shift" not in TripletSemiHard()._training_params()
    assert TripletSemiHard(shift=4)._training_params()["shift"] == 4
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="shift must be a whole number"):
            TripletSemiHard(shift=bad)
