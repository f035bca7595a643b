"""Root conftest: the README's test command also executes the notebooks, in their quick mode.

Notebook kernels (nbmake) start in ``notebooks/`` as separate processes; the repository root
goes on their ``PYTHONPATH`` so they import this checkout's facelab even when it is not
pip-installed (``PYTHONPATH=.`` would point them at ``notebooks/``)."""
import os
from pathlib import Path

os.environ.setdefault("FACELAB_QUICK", "1")
_ROOT = str(Path(__file__).resolve().parent)
os.environ["PYTHONPATH"] = os.pathsep.join([_ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                                                      if p and p != "."])
