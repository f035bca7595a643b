"""Typical mistake: the first neighbour gets the most significant bit."""
from classical import *  # noqa: F401,F403
from classical import lbp_codes as _correct


def lbp_codes(image, P=8, R=1.0):
    codes = _correct(image, P, R)
    bits = [(codes >> p) & 1 for p in range(P)]
    return sum(b << (P - 1 - p) for p, b in enumerate(bits))  # WRONG: reversed weights
