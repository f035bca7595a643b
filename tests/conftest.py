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


@pytest.fixture(scope="session")
def att_dir() -> Path:
    """AT&T/ORL faces, from ``$FACELAB_ATT`` (s1..s40 folders of 10 .pgm each)."""
    env = os.environ.get("FACELAB_ATT")
    if not env or not Path(env).is_dir():
        pytest.fail("set FACELAB_ATT to the AT&T faces folder (s1 ... s40) to run this test")
    return Path(env)
