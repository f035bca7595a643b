"""Assignments, one per course unit: a student template with marked functions, an autograder
that compares them with facelab's reference implementations, and a run on real LFW data.

>>> from facelab.assignments import get, names   # doctest: +SKIP
>>> report = grade(get("triplet-mining"), "triplet_mining.py"); print(report.format())
"""
from __future__ import annotations

from .grading import Assignment, Report, grade
from .registry import MODULES, get, names

__all__ = ["Assignment", "Report", "grade", "get", "names", "MODULES"]
