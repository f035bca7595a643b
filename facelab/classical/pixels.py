"""The floor every method must beat: raw pixels, mean-centred, compared by cosine."""
from __future__ import annotations

import numpy as np

from ..base import FaceMethod, check_images


class PixelMethod(FaceMethod):
    """Embedding = the preprocessed image as a vector minus the training mean image.

    Centring on the training identities' mean face makes cosine compare deviations from an
    average face rather than overall brightness, which is all a raw-pixel method can learn.
    """

    name = "pixels"
    similarity = "cosine"

    def fit(self, images, labels=None):
        images = check_images(images)
        self.mean_ = images.reshape(len(images), -1).mean(0, dtype=np.float64).astype(np.float32)
        self.shape_ = images.shape[1:]
        return self

    def embed(self, images):
        images = check_images(images, self.shape_)
        return images.reshape(len(images), -1).astype(np.float32) - self.mean_
