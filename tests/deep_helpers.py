"""Small real-LFW subsets for the deep-learning tests (a few hundred images, preprocessed directly)."""
from __future__ import annotations

import os

import numpy as np

from facelab.data.preprocess import PreprocessConfig, preprocess_files


def lfw_subset(lfw, *, people: int = 40, per_person: int = 6, size: int = 32, min_images: int = 6, offset: int = 0):
    """``(images uint8 (n, size, size, 1), labels 0..people-1)``: the first ``per_person`` images of
    ``people`` LFW identities with at least ``min_images`` images (alphabetical, from ``offset``)."""
    counts = np.bincount(lfw.labels)
    ids = np.flatnonzero(counts >= min_images)[offset: offset + people]
    index = np.concatenate([np.flatnonzero(lfw.labels == i)[:per_person] for i in ids])
    paths = [lfw.layout.images[i].path for i in index]
    images, _ = preprocess_files(paths, PreprocessConfig(size=size, crop=(112, 112)), progress=False, workers=2)
    labels = np.searchsorted(ids, lfw.labels[index]).astype(np.int32)
    return images, labels


def jax_process_env(devices: int = 1, **extra) -> dict:
    """Environment for a subprocess that runs Keras on JAX on this CPU (the GPU machine's backend).

    ``devices`` > 1 splits the CPU into that many XLA devices. XLA's backend optimisation is off: these
    programs are tiny, so a test waits on their compilation, not on running them (the two-device
    grouped VAE and GAN runs took 43 and 37 s instead of 54 and 57 s, their losses the same within
    the tests' tolerances)."""
    flags = ["--xla_backend_optimization_level=0"]
    if devices > 1:
        flags.append(f"--xla_force_host_platform_device_count={devices}")
    return dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", XLA_FLAGS=" ".join(flags), **extra)
