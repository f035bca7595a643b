"""Shared fixtures. Real data only: LFW comes from the loader's normal configuration
(``$FACELAB_DATA`` or ``--data-dir``); a missing data root fails the tests that need it, loudly."""
from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """Preprocessed-array cache: ``$FACELAB_CACHE`` if set (fast reruns), else a fresh temp folder."""
    env = os.environ.get("FACELAB_CACHE")
    return Path(env) if env else tmp_path_factory.mktemp("facelab-cache")


@pytest.fixture(scope="session")
def lfw(cache_dir):
    from facelab.data import LFW

    return LFW(cache_dir=cache_dir, progress=False)
