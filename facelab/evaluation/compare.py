"""``facelab compare``: several methods, the same splits, one table and one ROC plot.

A comparison can take hours (deep methods on all ten View 2 folds), so it loses nothing:
its inputs are checked before the first fit, each method's result is saved as it finishes, the
same command run again resumes from what was saved, and a folder holding other results is never
overwritten without being asked to.
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from .. import io, presets
from ..cores import thread_share
from .. import methods as registry
from ..data.lfw import LFW
from ..shared_fits import SharedFits
from .report import device_description, package_versions, pooled_scores, read_results, write_results
from .runner import evaluate_identification, verify_each

PROGRESS = ".compare-progress"  # inside the output folder: one file per finished method
RUN_KEYS = ("protocol", "data_variant", "seed", "quick", "preset", "params", "folds", "threshold", "identification",
            "fit_data_variant")


def run_key(results: dict) -> dict:
    """What must agree for two runs' methods to share one table (results.json written before the
    ``identification`` key existed say it through their entries)."""
    key = {k: results.get(k) for k in RUN_KEYS}
    key["threshold"] = key["threshold"] or "train"
    key["preset"] = key["preset"] or ("quick" if key["quick"] else None)  # written before presets: said by quick
    if key["identification"] is None:
        key["identification"] = any(r.get("identification") for r in results.get("methods", {}).values())
    return json.loads(json.dumps(key, default=io.json_default))  # as it reads back from a file


def _describe(key: dict, names) -> str:
    folds = "all folds" if key["folds"] == "all" else f"folds {key['folds']}"
    extra = f", --param {key['params']}" if key["params"] else ""
    return (f"{key['protocol']} ({folds}, seed {key['seed']}, preset {key.get('preset') or 'none'}, "
            f"threshold {key['threshold']}{extra}) of {', '.join(names)}")


def prepare_output(out_dir) -> Path:
    """The output folder, created and proven writable before any work is done."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder: choose a folder for the results")
    try:
        (out / PROGRESS).mkdir(parents=True, exist_ok=True)
        io.write_text(out / PROGRESS / ".write-test", "ok")
        (out / PROGRESS / ".write-test").unlink()
    except OSError as exc:
        raise ValueError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None
    return out


class FinishedMethods:
    """The methods of this comparison already finished in the output folder — saved one file per
    method as each finished, or kept from an earlier results.json of the same protocol and settings —
    and the saving of new ones."""

    def __init__(self, out: Path, key: dict, overwrite: bool, log):
        self.folder, self.key, self.log = out / PROGRESS, key, log
        self.entries, self.curves, self.earlier = {}, {}, []
        if overwrite:
            for old in self.folder.glob("*.json"):
                old.unlink()
            return
        if (out / "results.json").exists():
            results, scores = read_results(out, scores=True)
            if run_key(results) != key:
                raise ValueError(f"{out} holds the results of another comparison: {_describe(run_key(results), results['methods'])}. "
                                 f"This run is {_describe(key, ['…'])}. Choose another --out, or give --overwrite to "
                                 "replace them (they are replaced only when the new results are complete).")
            for name, entry in results["methods"].items():
                self._keep(name, entry, scores[name]["scores"], scores[name]["same"])
            self.earlier = list(results["methods"])
            log(f"{out} holds results of the same protocol and settings: its methods are kept and the table "
                "gains this run's")
        for path in sorted(self.folder.glob("*.json")):
            record = json.loads(path.read_text(encoding="utf-8"))
            if record.get("key") != key:
                raise ValueError(f"{path} is unfinished work of another comparison ({_describe(record.get('key', {}), [record.get('name', '?')])}): "
                                 "rerun that comparison to finish it, choose another --out, or give --overwrite")
            self._keep(record["name"], record["entry"], record["scores"], record["same"])

    def _keep(self, name, entry, scores, same):
        self.entries[name] = entry
        self.curves[name] = (np.asarray(scores, dtype=np.float64), np.asarray(same, dtype=bool))

    def save(self, name: str, entry: dict, scores, same) -> None:
        """Save one finished method at once (atomically); a failure says what is kept."""
        record = {"name": name, "key": self.key, "entry": entry, **pooled_scores(scores, same)}
        try:
            io.write_json(self.folder / f"{name}.json", record, indent=None)
        except OSError as exc:
            kept = ", ".join(self.entries) or "none"
            raise OSError(exc.errno, f"could not save {name}'s result in {self.folder} ({exc.strerror}); "
                                     f"methods saved there before: {kept}. Free space and rerun the same command "
                                     "to resume") from None
        self._keep(name, entry, scores, same)

    def clear(self) -> None:
        for path in self.folder.glob("*.json"):
            path.unlink()
        try:
            self.folder.rmdir()
        except OSError:
            pass


def compare(method_names: list[str], *, protocol: str = "view2", data_dir=None, out_dir="results",
            quick: bool = False, seed: int = 0, identification: bool = True, progress: bool = True,
            cache_dir=None, log=print, params: dict | None = None, folds: list[int] | None = None,
            threshold: str = "train", overwrite: bool = False, preset: str | None = None, fit_data=None) -> dict:
    """Evaluate each named method on the same LFW splits and write the results folder.

    preset: each method's training recipe (:mod:`facelab.presets`; default ``class``, ``quick`` when
    ``quick``); results.json records its name, and each method's config every resolved value.
    params: constructor arguments given to every method on top of its preset (settings chosen on View 1).
    folds: View 2 folds to run (1-based; None = all ten). A subset is for quick looks — notebooks
    in quick mode, deep methods on a CPU — and is written into the results and the table.
    threshold: "train" (LFW's rule) or "held-out" (see :data:`~facelab.evaluation.protocols.THRESHOLDS`).
    overwrite: replace the results of another comparison in ``out_dir`` (by default that is refused;
    results of the same protocol and settings are kept and joined, and unfinished work is resumed).
    fit_data: another data root (LFW, say) whose View 1 training people every method is fitted on,
    once, while thresholds and tests are ``data_dir``'s: how well a method carries to new faces."""
    params = dict(params or {})
    if folds is not None:
        if protocol != "view2":
            raise ValueError("folds: only View 2 has folds; drop --folds for View 1")
        folds = sorted({int(k) for k in folds})
        if not folds or folds[0] < 1:
            raise ValueError(f"folds must be numbers from 1 to the number of folds (LFW: 10); got {folds}")
    preset = presets.chosen_name(preset, quick)
    quick = preset == "quick"
    _check_methods(method_names, preset, seed, params)
    out = prepare_output(out_dir)
    lfw = LFW(data_dir, cache_dir=cache_dir, progress=progress)
    log(f"data: {lfw.layout.describe()}")
    fit_on = None if fit_data is None else LFW(fit_data, cache_dir=cache_dir, progress=progress)
    if fit_on is not None:
        log(f"every method fitted once on the View 1 training people of {fit_on.layout.describe()}")
    results = {"protocol": protocol, "data_variant": lfw.variant, "data_root": str(lfw.layout.root),
               **({"fit_data_variant": fit_on.variant, "fit_data_root": str(fit_on.layout.root)} if fit_on else {}),
               "seed": seed, "quick": quick, "preset": preset, "params": params, "folds": folds or "all",
               **({"threshold": threshold} if threshold != "train" else {}), "identification": identification,
               "versions": package_versions(), "methods": {}}
    finished = FinishedMethods(out, run_key(results), overwrite, log)
    for name in method_names:
        if name in finished.entries:
            entry = finished.entries[name]
            log(f"{name:>24s}: {100 * entry['accuracy_mean']:6.2f} ± {100 * entry['accuracy_se']:.2f} %  "
                f"AUC {entry['auc']:.4f}  (finished earlier, kept)")
    factories = {name: _factory(name, preset, seed, params, progress) for name in method_names
                 if name not in finished.entries}
    fits = SharedFits()  # a network named by two methods (deepid, deepid+jb) trains once per fold, identification included
    for name, ver, seconds in verify_each(factories, lfw, protocol, fits=fits, progress=progress, threshold=threshold,
                                          folds=None if folds is None else [k - 1 for k in folds], fit_on=fit_on):
        t0 = time.perf_counter()
        entry = ver.summary()
        entry["kind"] = registry.spec(name).kind
        if identification:
            entry["identification"] = evaluate_identification(factories[name], lfw, seed=seed, fit_on=fit_on, fits=fits)
        entry["wall_seconds"] = seconds + time.perf_counter() - t0
        finished.save(name, entry, ver.test_scores, ver.test_same)
        log(f"{name:>24s}: {100 * ver.accuracy_mean:6.2f} ± {100 * ver.accuracy_se:.2f} %  "
            f"AUC {entry['auc']:.4f}  ({entry['wall_seconds']:.1f} s)")
    order = list(dict.fromkeys([*finished.earlier, *method_names]))  # an earlier table's rows first, as they were
    results["methods"] = {n: finished.entries[n] for n in order}
    results["device"] = device_description()
    if "keras" in sys.modules:  # the backend the deep methods ran on (tensorflow here, jax on the GPU runs)
        results["keras_backend"] = sys.modules["keras"].config.backend()
    written = write_results(out, results, {n: finished.curves[n] for n in order})
    finished.clear()
    log(f"wrote {', '.join(written)} in {os.fspath(out)}")
    return results


FOLD_RUNS = "folds"  # inside the output folder of a parallel comparison: one results folder per fold


def compare_folds_in_parallel(method_names: list[str], *, jobs: int, out_dir="results", folds: list[int] | None = None,
                              identification: bool = True, overwrite: bool = False, log=print, **settings) -> dict:
    """:func:`compare` on View 2 with its folds run as ``jobs`` separate processes on this machine (a
    standard-library process pool), each writing ``out_dir/folds/fold-K``; then one merged
    ``results.json`` in ``out_dir``, the same as ``facelab report --merge`` of those folders. A fold
    that finished is kept when the same command runs again. On a GPU the processes share it: each
    allocates memory as it needs it. On a CPU each gets its share of the cores.
    Identification (View 1's test people, the same for every fold) runs once, with the first fold."""
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    from .report import merge_results

    if settings.get("protocol", "view2") != "view2":
        raise ValueError("--jobs runs View 2's folds in parallel; View 1 has one split (drop --jobs)")
    if jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {jobs}")
    folds = sorted(set(folds or range(1, 11)))
    out = prepare_output(out_dir)
    runs = [out / FOLD_RUNS / f"fold-{k}" for k in folds]
    if (out / "results.json").exists():
        existing = read_results(out)
        if existing.get("merged_from") != [str(r) for r in runs] and not overwrite:
            raise ValueError(f"{out} holds the results of another comparison ({', '.join(existing['methods'])}): "
                             "choose another --out, or give --overwrite to replace them")
    _check_methods(method_names, presets.chosen_name(settings.get("preset"), settings.get("quick", False)),
                   settings.get("seed", 0), settings.get("params") or {})
    workers = min(jobs, len(folds))
    log(f"{len(folds)} fold(s) in {workers} process(es); each fold's results in {out / FOLD_RUNS}")
    with _environment(_process_share(workers)), ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        running = {pool.submit(compare, method_names, folds=[k], out_dir=str(run), overwrite=overwrite,
                               identification=identification and k == folds[0], progress=False, log=print,
                               **settings): k for k, run in zip(folds, runs)}
        for done in as_completed(running):
            done.result()  # a failed fold raises here, naming its error; the finished ones stay saved
            log(f"fold {running[done]} finished")
    if overwrite and (out / "results.json").exists():
        (out / "results.json").unlink()
    merged = merge_results(runs, out, log=log)
    for name, entry in merged["methods"].items():
        log(f"{name:>24s}: {100 * entry['accuracy_mean']:6.2f} ± {100 * entry['accuracy_se']:.2f} %  AUC {entry['auc']:.4f}")
    return merged


def _factory(name: str, preset: str, seed: int, params: dict, progress: bool):
    """A fresh ``name`` method per call; one that trains shows its settings and per-epoch losses
    unless ``progress`` is off."""
    arguments = {**({"progress": progress} if "progress" in registry.accepted_parameters(name) else {}), **params}
    return lambda: registry.create(name, preset=preset, seed=seed, **arguments)


def _check_methods(method_names, preset: str, seed: int, params: dict) -> None:
    """Every method accepts its preset and arguments before the first one runs (or process starts):
    a typo fails at once, not hours into a comparison."""
    for name in method_names:
        registry.create(name, preset=preset, seed=seed, **params)


@contextlib.contextmanager
def _environment(variables: dict[str, str]):
    """``variables`` set (where not set already) while the block runs, as the spawned pool's
    processes start, and the parent's environment restored afterwards."""
    added = {k: v for k, v in variables.items() if k not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


def _process_share(workers: int) -> dict[str, str]:
    """Environment for ``workers`` processes training at once: threads split over the CPU cores, and
    GPU memory taken as needed (JAX, TensorFlow) rather than all of it by the first process."""
    return {**thread_share(workers), "XLA_PYTHON_CLIENT_PREALLOCATE": "false", "TF_FORCE_GPU_ALLOW_GROWTH": "true"}
