"""Root conftest: the README's test command also executes the notebooks, in their quick mode,
and their kernels import this checkout's facelab even when it is not pip-installed. A skipped test
fails the run (tests/every_test_runs.py)."""
import os
from pathlib import Path

pytest_plugins = ["tests.every_test_runs"]

os.environ.setdefault("FACELAB_QUICK", "1")
_root = str(Path(__file__).resolve().parent)
if _root not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_root, os.environ.get("PYTHONPATH")) if p)
