"""Assignments, one per course unit: a student template with marked functions, an autograder
that compares them with facelab's reference implementations, and a run on real LFW data.

>>> from facelab.assignments import get, names   # doctest: +SKIP
>>> report = grade(get("triplet-mining"), "triplet_mining.py"); print(report.format())
"""
from __future__ import annotations

import importlib

from .grading import Assignment, Report, grade

# CLI name → module (imported lazily: `facelab assignment list` needs none of them)
MODULES = {
    "evaluation": "evaluation",
    "classical": "classical",
    "siamese": "siamese",
    "triplet-mining": "triplet_mining",
    "grouped-vae": "grouped_vae",
    "gan-disentangler": "gan_disentangler",
}


def names() -> list[str]:
    return list(MODULES)


def get(name: str) -> Assignment:
    if name not in MODULES:
        raise KeyError(f"unknown assignment {name!r}; choose one of {', '.join(MODULES)}")
    return importlib.import_module(f"{__name__}.{MODULES[name]}").ASSIGNMENT


__all__ = ["Assignment", "Report", "grade", "get", "names", "MODULES"]
