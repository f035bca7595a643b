"""``facelab compare``: several methods, the same splits, one table and one ROC plot."""
from __future__ import annotations

import time
from pathlib import Path

from .. import methods as registry
from ..data.lfw import LFW
from .report import device_description, package_versions, write_results
from .runner import evaluate_identification, evaluate_verification


def compare(method_names: list[str], *, protocol: str = "view2", data_dir=None, out_dir="results",
            quick: bool = False, seed: int = 0, identification: bool = True, progress: bool = True,
            cache_dir=None, log=print) -> dict:
    """Evaluate each named method on the same LFW splits and write the results folder."""
    lfw = LFW(data_dir, cache_dir=cache_dir, progress=progress)
    log(f"data: {lfw.layout.describe()}")
    results = {"protocol": protocol, "data_variant": lfw.variant, "data_root": str(lfw.layout.root),
               "seed": seed, "quick": quick, "versions": package_versions(), "methods": {}}
    curves = {}
    for name in method_names:
        factory = lambda name=name: registry.create(name, seed=seed, quick=quick)
        t0 = time.perf_counter()
        ver = evaluate_verification(factory, lfw, protocol, progress=progress)
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
    write_results(Path(out_dir), results, curves)
    log(f"wrote {Path(out_dir) / 'results.json'}, results.md, roc.png")
    return results
