"""Shared fixtures. Real data only: LFW comes from the loader's normal configuration
(``$FACELAB_DATA`` or ``--data-dir``); a missing data root fails the tests that need it, loudly."""
from __future__ import annotations

import os
from pathlib import Path

import pytest


def _share_the_cores_between_workers() -> None:
    """Under ``pytest -n N`` each worker (and the notebook kernels and processes it starts) gets its share of
    the cores: BLAS, OpenMP and TensorFlow would otherwise each start a thread per core in every worker, and
    BLAS threads spin while they wait (:mod:`facelab.cores`). Runs before numpy is imported in the worker;
    a variable the user set wins."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        from facelab.cores import thread_share

        for name, value in thread_share(workers).items():
            os.environ.setdefault(name, value)


_share_the_cores_between_workers()


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """Preprocessed-array cache: ``$FACELAB_CACHE`` if set (fast reruns), else a fresh temp folder."""
    env = os.environ.get("FACELAB_CACHE")
    return Path(env) if env else tmp_path_factory.mktemp("facelab-cache")


@pytest.fixture(scope="session")
def lfw(cache_dir):
    from facelab.data import LFW

    return LFW(cache_dir=cache_dir, progress=False)
