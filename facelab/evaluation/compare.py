"""``facelab compare``: several methods, the same splits, one table and one ROC plot."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from .. import methods as registry
from ..data.lfw import LFW
from .report import device_description, package_versions, write_results
from .runner import evaluate_identification, evaluate_verification
from .shared_fits import share_fits


def compare(method_names: list[str], *, protocol: str = "view2", data_dir=None, out_dir="results",
            quick: bool = False, seed: int = 0, identification: bool = True, progress: bool = True,
            cache_dir=None, log=print, params: dict | None = None, folds: list[int] | None = None,
            threshold: str = "train") -> dict:
    """Evaluate each named method on the same LFW splits and write the results folder.

    params: extra constructor arguments given to every method (settings chosen on View 1).
    folds: View 2 folds to run (1-based; None = all ten). A subset is for quick looks — notebooks
    in quick mode, deep methods on a CPU — and is written into the results and the table.
    threshold: "train" (LFW's rule) or "held-out" (see :data:`~facelab.evaluation.protocols.THRESHOLDS`)."""
    params = dict(params or {})
    if folds is not None:
        if protocol != "view2":
            raise ValueError("folds: only View 2 has folds; drop --folds for View 1")
        folds = sorted({int(k) for k in folds})
        if not folds or folds[0] < 1 or folds[-1] > 10:
            raise ValueError(f"folds must be numbers from 1 to 10; got {folds}")
    lfw = LFW(data_dir, cache_dir=cache_dir, progress=progress)
    log(f"data: {lfw.layout.describe()}")
    results = {"protocol": protocol, "data_variant": lfw.variant, "data_root": str(lfw.layout.root),
               "seed": seed, "quick": quick, "params": params, "folds": folds or "all",
               **({"threshold": threshold} if threshold != "train" else {}), "versions": package_versions(), "methods": {}}
    curves = {}
    with share_fits():  # a network named by two methods (deepid, deepid+jb) trains once per fold
        for name in method_names:
            factory = lambda name=name: registry.create(name, seed=seed, quick=quick, **params)
            t0 = time.perf_counter()
            ver = evaluate_verification(factory, lfw, protocol, progress=progress, threshold=threshold,
                                        folds=None if folds is None else [k - 1 for k in folds])
            entry = ver.summary()
            entry["kind"] = registry.spec(name).kind
            if identification:
                entry["identification"] = evaluate_identification(factory, lfw, seed=seed)
            entry["wall_seconds"] = time.perf_counter() - t0
            results["methods"][name] = entry
            curves[name] = (ver.test_scores, ver.test_same)
            log(f"{name:>24s}: {100 * ver.accuracy_mean:6.2f} ± {100 * ver.accuracy_se:.2f} %  "
                f"AUC {entry['auc']:.4f}  ({entry['wall_seconds']:.1f} s)")
    results["device"] = device_description()
    if "keras" in sys.modules:  # the backend the deep methods ran on (tensorflow here, jax on the GPU runs)
        results["keras_backend"] = sys.modules["keras"].config.backend()
    written = write_results(Path(out_dir), results, curves)
    log(f"wrote {', '.join(written)} in {out_dir}")
    return results

