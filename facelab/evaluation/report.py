"""results.json, results.md and the plots, written atomically into one output folder."""
from __future__ import annotations

import platform
from pathlib import Path

import numpy as np

from .. import io


def package_versions() -> dict:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for pkg in ("facelab", "numpy", "scikit-learn", "scikit-image", "opencv-contrib-python-headless",
                "tensorflow", "keras", "tensorflow-probability"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def device_description() -> str:
    """'cpu (N cores)' or the GPU name, without importing TensorFlow unless it is loaded."""
    import os
    import sys

    if "tensorflow" in sys.modules:
        gpus = sys.modules["tensorflow"].config.list_physical_devices("GPU")
        if gpus:
            return f"gpu ({len(gpus)}× {gpus[0].name})"
    if "jax" in sys.modules:  # Keras on JAX (a GPU machine without TensorFlow)
        gpus = [d for d in sys.modules["jax"].devices() if d.platform == "gpu"]
        if gpus:
            return f"gpu ({len(gpus)}× {getattr(gpus[0], 'device_kind', 'GPU')}, jax)"
    return f"cpu ({os.cpu_count()} cores, {platform.machine()})"


def pct(x: float) -> str:
    return f"{100 * x:.2f}"


def _subset_lines(results: dict) -> list[str]:
    lines = []
    folds = results.get("folds", "all")
    if folds != "all":
        lines.append(f"**Folds {', '.join(map(str, folds))} of 10 only** — a quick look, not the LFW protocol's number.")
    if results.get("params"):
        lines.append("Method arguments: " + ", ".join(f"{k}={v!r}" for k, v in results["params"].items()) + ".")
    return lines


def markdown_table(results: dict) -> str:
    """One row per method: the numbers a reader compares, with the budget next to them."""
    lines = [
        f"# facelab compare — LFW {results['protocol']} ({results['data_variant']})",
        "",
        f"Seed {results['seed']}, device {results['device']}, quick={results['quick']}. "
        "Accuracy: mean ± standard error over folds (σ/√k for k View 2 folds; binomial for one fold or View 1).",
        *_subset_lines(results),
        "",
        "| method | accuracy % | AUC | EER % | TAR@FAR=1% | TAR@FAR=0.1% | rank-1 | DIR@FAR=1% | fit s | embed s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results["methods"].items():
        ident = r.get("identification") or {}
        rank1 = ident.get("closed_set", {}).get("rank1")
        dir1 = ident.get("open_set", {}).get("dir_at_far", {}).get("0.01")
        lines.append(
            f"| {name} | {pct(r['accuracy_mean'])} ± {pct(r['accuracy_se'])} | {r['auc']:.4f} | {pct(r['eer'])} | "
            f"{pct(r['tar_at_far']['0.01'])} | {pct(r['tar_at_far']['0.001'])} | "
            f"{'—' if rank1 is None else pct(rank1)} | {'—' if dir1 is None else pct(dir1)} | "
            f"{r['fit_seconds']:.1f} | {r['embed_seconds']:.1f} |")
    few = {n: r["identification"]["few_shot"]["accuracy"] for n, r in results["methods"].items()
           if r.get("identification")}
    if few:
        shots = sorted({int(k) for acc in few.values() for k in acc})
        lines += ["", "Few-shot identification accuracy % (nearest class mean, View 1 test people):", "",
                  "| method | " + " | ".join(f"N={n}" for n in shots) + " |",
                  "|---|" + "---|" * len(shots)]
        for name, acc in few.items():
            lines.append(f"| {name} | " + " | ".join(pct(acc[str(n)]) for n in shots) + " |")
    lines += ["", "Fold accuracies %:", ""]
    for name, r in results["methods"].items():
        lines.append(f"- {name}: " + ", ".join(pct(a) for a in r["fold_accuracy"]))
    return "\n".join(lines) + "\n"


def write_results(out_dir: str | Path, results: dict, roc_curves: dict) -> dict:
    """Write results.json, results.md, roc.png (and cmc.png, few_shot.png when present)."""
    from .. import plots

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {"results.json": io.write_json(out_dir / "results.json", results),
               "results.md": io.write_text(out_dir / "results.md", markdown_table(results))}
    # the pooled test scores behind AUC/EER/ROC, so runs over separate folds can be merged (merge_results)
    written["scores.npz"] = io.save_npz(out_dir / "scores.npz", **{
        f"{n}{SEP}{part}": np.asarray(arr) for n, (scores, same) in roc_curves.items()
        for part, arr in (("scores", scores), ("same", same))})
    fig = plots.roc_figure(roc_curves, title=f"LFW {results['protocol']} ROC (test folds pooled)")
    written["roc.png"] = io.save_figure(fig, out_dir / "roc.png", dpi=120)
    cmcs = {n: np.array(r["identification"]["closed_set"]["cmc"]) for n, r in results["methods"].items()
            if r.get("identification")}
    if cmcs:
        written["cmc.png"] = io.save_figure(plots.cmc_figure(cmcs), out_dir / "cmc.png", dpi=120)
        few = {n: r["identification"]["few_shot"]["accuracy"] for n, r in results["methods"].items()
               if r.get("identification")}
        written["few_shot.png"] = io.save_figure(plots.few_shot_figure(few), out_dir / "few_shot.png", dpi=120)
    import matplotlib.pyplot as plt

    plt.close("all")
    return written


SEP = "::"
RESULTS_BEGIN, RESULTS_END = "<!-- results:begin -->", "<!-- results:end -->"


def update_readme(readme: str | Path, results_json: str | Path, command: str) -> Path:
    """Replace the block between the results markers of ``readme`` with the table of
    ``results_json`` and the command that produced it — README numbers are never typed in."""
    import json

    readme, results_json = Path(readme), Path(results_json)
    text = readme.read_text(encoding="utf-8")
    if RESULTS_BEGIN not in text or RESULTS_END not in text:
        raise ValueError(f"{readme} has no {RESULTS_BEGIN} … {RESULTS_END} block to fill")
    results = json.loads(results_json.read_text(encoding="utf-8"))
    table = markdown_table(results).split("\n", 2)[2]  # drop the title line: the README has its own heading
    block = (f"{RESULTS_BEGIN}\nProduced by `{command}` on {results['device']}; "
             f"filled in by `facelab report {results_json.parent.name}/{results_json.name} --readme {readme.name}`.\n{table}{RESULTS_END}")
    head, rest = text.split(RESULTS_BEGIN, 1)
    _, tail = rest.split(RESULTS_END, 1)
    return io.write_text(readme, head + block + tail)
