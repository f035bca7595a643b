"""Evaluation curves: ROC, CMC, few-shot accuracy over N, and a general line plot (only drawing)."""
from __future__ import annotations

import matplotlib.pyplot as plt  # headless machines fall back to Agg by themselves
import numpy as np

from ..metrics import verification as vm


def roc_figure(curves: dict, title: str = "LFW verification ROC"):
    """``curves``: method name → (scores, same). One log-FAR ROC per method, AUC in the legend."""
    fig, ax = plt.subplots(figsize=(6, 5))
    for name, (scores, same) in curves.items():
        far, tar, _ = vm.roc(scores, same)
        ax.plot(np.maximum(far, 1e-4), tar, label=f"{name} (AUC {vm.auc(scores, same):.3f})")
    ax.set_xscale("log")
    ax.set_xlim(1e-3, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false accept rate (FAR)")
    ax.set_ylabel("true accept rate (TAR)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def cmc_figure(cmcs: dict, title: str = "Closed-set identification (CMC)"):
    """``cmcs``: method name → cumulative match curve (rank 1..R)."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, curve in cmcs.items():
        ranks = np.arange(1, len(curve) + 1)
        ax.plot(ranks, curve, marker="o", ms=3, label=f"{name} (rank-1 {curve[0]:.3f})")
    ax.set_xlabel("rank")
    ax.set_ylabel("identification rate")
    ax.set_ylim(0, 1.01)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def few_shot_figure(curves: dict, title: str = "Few-shot identification vs enrolment images N"):
    """``curves``: method name → {N: accuracy}."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, acc in curves.items():
        ns = sorted(int(n) for n in acc)
        ax.plot(ns, [acc[str(n)] for n in ns], marker="o", label=name)
    ax.set_xscale("log")
    ax.set_xticks(ns if curves else [])
    ax.set_xticklabels([str(n) for n in ns] if curves else [])
    ax.set_xlabel("enrolment images per person (N)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.01)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def curves_figure(x, curves: dict, xlabel: str, ylabel: str, title: str = "", vlines: dict | None = None,
                  spans: dict | None = None, figsize=(6, 4)):
    """Line plot of ``curves`` (label → y over ``x``); ``vlines``: label → x; ``spans``: label → (x0, x1, colour)."""
    fig, ax = plt.subplots(figsize=figsize)
    for label, (x0, x1, colour) in (spans or {}).items():
        ax.axvspan(x0, x1, color=colour, alpha=0.15, label=label)
    for label, y in curves.items():
        ax.plot(x, y, label=label, lw=2)
    for label, xv in (vlines or {}).items():
        ax.axvline(xv, color="k", ls="--", lw=1)
        ax.annotate(label, (xv, ax.get_ylim()[1]), xytext=(3, -12), textcoords="offset points", fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
