"""Typical mistake: os._exit (or a crash in native code) ends the process from inside a function."""
import os

from triplet_mining import *  # noqa: F401,F403


def pairwise_distances(emb):
    os._exit(3)  # WRONG: ends the process without a word
