"""Head pose (:mod:`facelab.generative.pose`) where OpenCV has no Haar cascades: the error names the
pack that carries the GAN's targets."""
from __future__ import annotations

import numpy as np
import pytest


def test_missing_haar_cascades_name_the_pack_that_carries_the_targets(monkeypatch):
    import cv2

    from facelab.generative import pose

    monkeypatch.setattr(pose, "_CASCADES", {})
    monkeypatch.delattr(cv2, "CascadeClassifier")
    with pytest.raises(RuntimeError, match=r"no Haar cascades.*facelab data pack --methods gan-disentangler"):
        pose.head_pose(np.zeros((1, 64, 64, 1), np.uint8))
