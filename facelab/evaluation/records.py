"""Results records read back, and one table across several of them.

A record is a results folder that ``facelab compare`` (or ``facelab report --merge``) wrote: its
``results.json`` (``merged-results.json`` in older merges), and the ``history.json`` of its training
where it trained. The committed records live in the repository's ``reports/``; notebooks read them by
name (:func:`committed_results`), and ``facelab report --runs`` prints any set of them as one table
(:func:`runs_table`), so a record folder holds records and never a program of its own."""
from __future__ import annotations

import glob
import json
import os
import re
from pathlib import Path

from .report import pct, read_results

RESULTS_FILES = ("results.json", "merged-results.json")
HISTORY_KEYS = ("loss", "triplet_frac_easy", "triplet_frac_hard", "triplet_spread")
_NOT_SETTINGS = ("run_dir",)  # where a network was kept, not how it was trained


def reports_root() -> Path:
    """The committed records: ``$FACELAB_REPORTS``, else the ``reports/`` folder of the checkout facelab
    is installed from (``pip install -e .``, as the README installs it)."""
    root = Path(os.environ.get("FACELAB_REPORTS") or Path(__file__).resolve().parents[2] / "reports")
    if not root.is_dir():
        raise ValueError(f"no results records at {root}: they ship with facelab's repository; install facelab "
                         "from a checkout (pip install -e .) or set FACELAB_REPORTS to its reports/ folder")
    return root


def committed_results(record: str, scores: bool = False):
    """The results of one committed record, by its name under ``reports/`` (e.g. ``"cpu/classical-view2"``);
    with ``scores``, also its pooled test scores (``scores.json``), as ``(results, scores)``."""
    folder = reports_root() / record
    return read_results(results_file(folder), scores=True) if scores else load_results(folder)


def results_file(run: str | Path) -> Path:
    """The results file of ``run``: the file itself, or the one a results folder holds."""
    path = Path(run)
    if path.is_file():
        return path
    for name in RESULTS_FILES:
        if (path / name).is_file():
            return path / name
    raise ValueError(f"{path}: no {' or '.join(RESULTS_FILES)} there (not a results folder)")


def load_results(run: str | Path) -> dict:
    """A results file's contents; a ``facelab compare`` results.json is first checked against the files
    beside it (:func:`facelab.evaluation.report.read_results`)."""
    path = results_file(run)
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if path.name == "results.json" and isinstance(results, dict) and {"protocol", "methods"} <= results.keys():
        return read_results(path)
    return results


def expand_runs(patterns) -> list[Path]:
    """Paths, each a results folder or file, or a glob pattern (quoted, so that the command line a README
    quotes stays short) that stands for the sorted paths it matches."""
    runs = []
    for pattern in patterns:
        if Path(pattern).exists() or not glob.has_magic(pattern):
            runs.append(Path(pattern))
            continue
        matched = sorted(glob.glob(pattern), key=_natural)
        if not matched:
            raise ValueError(f"--runs {pattern}: matches no results folder")
        runs += map(Path, matched)
    return runs


def _natural(text: str) -> list:
    """Sort key that puts ``fold2`` before ``fold10``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def training_history(run: str | Path) -> dict:
    """Per-epoch values of the training behind ``run``: its ``history.json`` (the loss terms, and the
    triplet methods' mining statistics ``triplet_*`` of a fixed probe batch), with the
    ``statistics.jsonl`` of older runs (a line per epoch, ``triplet/NAME``) read as the same keys."""
    folder = results_file(run).parent
    path = folder / "history.json"
    if not path.is_file():
        raise ValueError(f"{folder}: no history.json (the run trained nothing, or its history was not kept)")
    history = dict(json.loads(path.read_text(encoding="utf-8"))["history"])
    legacy = folder / "statistics.jsonl"
    if legacy.is_file():
        rows = [json.loads(line) for line in legacy.read_text(encoding="utf-8").splitlines() if line.strip()]
        for key in rows[0] if rows else ():
            if key.startswith("triplet/"):
                history.setdefault("triplet_" + key.split("/", 1)[1], [row[key] for row in rows])
    return history


def _folds(results: dict) -> list:
    if results.get("protocol") != "view2":
        return ["View 1"]
    return list(range(1, 11)) if results.get("folds") in ("all", None) else list(results["folds"])


def _settings(results: dict, method: dict) -> dict:
    """What made a row: its ``--seed``, ``--threshold`` rule and ``--param`` arguments."""
    params = {"seed": results.get("seed"), "threshold": results.get("threshold", "train"), **results.get("params", {}),
              **method.get("params", {})}
    return {k: v for k, v in params.items() if k not in _NOT_SETTINGS}


def _labels(runs: list[Path]) -> list[str]:
    """Each run (a folder or a file) as its path below the runs' common folder (its own name when alone)."""
    paths = [Path(r).resolve() for r in runs]
    common = Path(os.path.commonpath(paths)) if len(paths) > 1 else paths[0].parent
    return [str(p.relative_to(common)) if p != common else p.name for p in paths]


def _history_cells(run: Path, epochs: list[int], keys) -> list[str]:
    """The row's history columns; a run that trained nothing (a rescoring of a kept network) has none."""
    if not (results_file(run).parent / "history.json").is_file():
        return ["—"] * (len(keys) + 1)
    history = training_history(run)
    cells = []
    for key in keys:
        values = history.get(key)
        if values is None:
            cells.append("—")
            continue
        if max(epochs) > len(values):
            raise ValueError(f"{run}: --epochs {max(epochs)} is beyond its {len(values)} epochs of {key}")
        cells.append(" / ".join(f"{values[e - 1]:.3f}" if key == "loss" else f"{values[e - 1]:.2f}" for e in epochs))
    collapsed = history.get("triplet_collapsed")
    cells.append("—" if collapsed is None else str(sum(int(v) for v in collapsed)))
    return cells


def runs_table(runs, *, per_fold: bool = False, against=None, epochs=None, keys=None) -> str:
    """One Markdown row per run and method: accuracy (mean ± SE over folds), AUC, EER, the threshold
    where each row has one (View 1, or a single fold) and fit seconds, with the ``--seed`` and ``--param``
    arguments in which the runs differ.

    ``per_fold``: each fold's accuracy too. ``against``: one run per run (same methods), and the
    differences from it (points of accuracy, AUC; per fold, instead of the folds' accuracies, with
    ``per_fold``): a rescoring on another machine, say. ``epochs`` (1-based): the training history's
    ``keys`` (default :data:`HISTORY_KEYS`) at those epochs, and the number of epochs whose embeddings
    collapsed to one point.
    ``facelab cluster --json`` records get :func:`clustering_table` instead."""
    runs, keys = [Path(r) for r in runs], tuple(keys or HISTORY_KEYS)
    if not runs:
        raise ValueError("--runs needs at least one results folder")
    if against is not None and len(against) != len(runs):
        raise ValueError(f"--against needs one run per --runs run ({len(runs)}), got {len(against)}")
    loaded = [load_results(r) for r in runs]
    clusterings = [is_clustering(results) for results in loaded]
    if any(clusterings):
        if not all(clusterings) or per_fold or against or epochs:
            raise ValueError("--runs: a table of `facelab cluster --json` records takes only such records, "
                             "without --per-fold, --against or --epochs")
        return clustering_table(runs, loaded)
    references = [load_results(r) for r in against] if against is not None else []
    for run, results in zip([*runs, *(against or [])], [*loaded, *references]):  # the references are checked alike
        if not isinstance(results.get("methods"), dict) or "protocol" not in results:
            raise ValueError(f"{run}: not a facelab compare results file (it has no 'protocol' and 'methods')")
    rows = [(j, label, results, name, m) for j, (label, results) in enumerate(zip(_labels(runs), loaded))
            for name, m in results["methods"].items()]
    settings = [_settings(results, m) for _, _, results, _, m in rows]
    varying = sorted(k for k in set().union(*settings) if len({json.dumps(s.get(k), sort_keys=True) for s in settings}) > 1)
    folds = sorted({f for results in loaded for f in _folds(results)}, key=lambda f: _natural(str(f))) \
        if per_fold else []
    head = ["run", "method"] + (["arguments"] if varying else [])
    one_threshold = all(len(m["thresholds"]) == 1 for *_, m in rows)  # View 1, or one fold each: show it
    head += ["accuracy %", "AUC", "EER %"] + (["threshold"] if one_threshold else []) + ["fit s"]
    head += ["Δ accuracy (points)", "Δ AUC"] if against else []
    head += [f"fold {f}" if f != "View 1" else f for f in folds]
    if epochs:
        head += [f"{k}, epoch {' / '.join(map(str, epochs))}" for k in keys] + ["epochs collapsed"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (j, label, results, name, m), row_settings in zip(rows, settings):
        cells = [f"`{label}`", name]
        if varying:
            cells.append(", ".join(f"{k}={json.dumps(row_settings[k])}" for k in varying if k in row_settings))
        cells += [f"{pct(m['accuracy_mean'])} ± {pct(m['accuracy_se'])}", f"{m['auc']:.4f}", pct(m["eer"])]
        cells += [f"{m['thresholds'][0]:.3f}"] if one_threshold else []
        cells.append(f"{m['fit_seconds']:.0f}")
        by_fold = dict(zip(_folds(results), m["fold_accuracy"]))
        if not references:
            cells += [pct(by_fold[f]) if f in by_fold else "—" for f in folds]
        else:
            if name not in references[j]["methods"]:
                raise ValueError(f"{against[j]}: has no {name} to compare {runs[j]} with")
            ref = references[j]["methods"][name]
            ref_fold = dict(zip(_folds(references[j]), ref["fold_accuracy"]))
            cells += [f"{100 * (m['accuracy_mean'] - ref['accuracy_mean']):+.2f}", f"{m['auc'] - ref['auc']:+.5f}"]
            cells += [f"{100 * (by_fold[f] - ref_fold[f]):+.2f}" if f in by_fold and f in ref_fold else "—"
                      for f in folds]
        if epochs:
            cells += _history_cells(runs[j], epochs, keys)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def is_clustering(record: dict) -> bool:
    """Whether a record was written by ``facelab cluster --json``."""
    return isinstance(record, dict) and "people_estimated" in record


def clustering_table(runs, records) -> str:
    """A row per ``facelab cluster --json`` record: what was clustered, what was left out and why, how
    many people were found against the folders' count, agreement with the folders (purity, NMI, ARI),
    the threshold and where the seconds went."""
    steps = ("detect+crop", "fit", "calibrate", "embed", "cluster")
    lines = ["| run | method | photos | clustered faces | left out: several faces / no face / other | "
             "people estimated / true | purity | NMI | ARI | threshold | seconds: " + " / ".join(steps) + " (total) |",
             "|" + "---|" * 11]
    for label, r in zip(_labels([Path(run) for run in runs]), records):
        left, scores, seconds = r["left_out"], r.get("scores") or {}, r["seconds"]
        agreement = [f"{scores[k]:.3f}" if k in scores else "—" for k in ("purity", "nmi", "ari")]
        lines.append(f"| `{label}` | {r['method']['name']} | {r['photos_found']} | {r['faces']} | "
                     f"{left['several_faces']} / {left['no_face']} / {left['other']} | "
                     f"{r['people_estimated']} / {r['true_people'] if r['true_people'] is not None else '—'} | "
                     + " | ".join(agreement) + f" | {r['threshold']:.4g} | "
                     + " / ".join(f"{seconds.get(k, 0):.0f}" for k in steps) + f" ({seconds['total']:.0f}) |")
    return "\n".join(lines) + "\n"
