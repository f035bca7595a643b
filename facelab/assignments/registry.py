"""Which assignments exist: CLI name → module, imported only when asked for (`facelab assignment
list` needs none of them). Its own module so that the grader's worker process can find an
assignment by name without importing the package that imports the grader."""
from __future__ import annotations

import importlib

MODULES = {
    "evaluation": "evaluation",
    "classical": "classical",
    "siamese": "siamese",
    "margin-softmax": "margin_softmax",
    "triplet-mining": "triplet_mining",
    "grouped-vae": "grouped_vae",
    "gan-disentangler": "gan_disentangler",
}


def names() -> list[str]:
    return list(MODULES)


def get(name: str):
    """The :class:`~facelab.assignments.grading.Assignment` named ``name`` (e.g. "triplet-mining")."""
    if name not in MODULES:
        raise KeyError(f"unknown assignment {name!r}; choose one of {', '.join(MODULES)}")
    return importlib.import_module(f"{__package__}.{MODULES[name]}").ASSIGNMENT
