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


def dataset_name(variant: str) -> str:
    """How a table names the data a results file was measured on (its ``data_variant``)."""
    return {"att": "AT&T/ORL", "folder": "face folder"}.get(variant, "LFW")


_WHERE_NOT_WHAT = ("run_dir",)  # where a run kept its networks: no setting behind a number


def _settings(params: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in params.items() if k not in _WHERE_NOT_WHAT)


def _subset_lines(results: dict) -> list[str]:
    lines = []
    if results.get("fit_data_variant"):
        lines.append(f"**Every method fitted on {dataset_name(results['fit_data_variant'])} "
                     f"({results['fit_data_variant']}, View 1 training people)**; thresholds and tests are "
                     f"{dataset_name(results['data_variant'])}'s.")
    folds = results.get("folds", "all")
    if folds != "all":
        lines.append(f"**Folds {', '.join(map(str, folds))} of 10 only** — a quick look, not the LFW protocol's number.")
    if results.get("threshold", "train") != "train":
        lines.append("Thresholds chosen on one training fold held out of fitting (`--threshold held-out`).")
    if settings := _settings(results.get("params") or {}):
        lines.append(f"Method arguments: {settings}.")
    for name, r in results["methods"].items():  # merged runs of different settings keep them per method
        if settings := _settings(r.get("params") or {}):
            lines.append(f"Arguments of {name}: {settings}.")
    if results.get("merged_from"):
        lines.append(f"Merged by `facelab report --merge` from {len(results['merged_from'])} runs over separate folds.")
    return lines


def is_few_shot_result(results: dict) -> bool:
    """Whether a results file came from :func:`facelab.evaluation.vae_few_shot.few_shot_accuracy` (``python -m
    facelab.evaluation.vae_few_shot``), not from ``facelab compare``."""
    return "importance_samples" in results


FEW_SHOT_RULES = {"vae_p_w_given_x": "grouped VAE, p̃(w \\| x) (eq. 8)",
                  "vae_mu_w_ncm": "grouped VAE, μ_w nearest class mean (cosine)",
                  "eigenfaces_ncm": "eigenfaces, same images, nearest class mean (cosine)"}  # what each rule is


def few_shot_markdown(result: dict, command: str | None = None) -> str:
    """The accuracy-vs-N table of :func:`facelab.evaluation.vae_few_shot.few_shot_accuracy` (and the command, when given)."""
    acc = result["accuracy"]
    shots = list(next(iter(acc.values())))
    lines = [f"# Grouped VAE: few-shot identification on LFW View 1 test people", "",
             f"{result['identities']} identities, {result['probes']} probes per repeat, {result['repeats']} repeats, "
             f"K = {result['importance_samples']} importance samples"
             + (f", at most {result['probes_per_person']} probes per person" if result.get("probes_per_person") else "")
             + f". Accuracy % (mean over repeats; chance {100 / result['identities']:.1f} %)"
             + (f"; device {result['device']}." if "device" in result else "."),
             "",
             "| rule | " + " | ".join(f"N={n}" for n in shots) + " |",
             "|---|" + "---|" * len(shots)]
    for rule, row in acc.items():
        label = f"{FEW_SHOT_RULES[rule]} (`{rule}`)" if rule in FEW_SHOT_RULES else rule
        lines.append(f"| {label} | " + " | ".join(f"{100 * row[n]:.2f}" for n in shots) + " |")
    lines += ["", f"Command: `{command}`", ""] if command else [""]
    return "\n".join(lines)


def is_disentangle_result(results: dict) -> bool:
    """Whether a results file came from ``facelab disentangle`` (the GAN disentangler's measurements)."""
    return "reconstruction_rmse" in results and "verification" in results


def _pose_moved(transfer: dict) -> str:
    """How far the generated faces' f_pose moved from the source's towards the target's: 1 − (distance
    to the target) / (the source's own distance to it), per pose reading."""
    to_target, from_source = transfer["pose_distance_to_target"], transfer["pose_distance_source_to_target"]
    return ", ".join(f"{n} {100 * (1 - to_target[n] / from_source[n]):.0f} %" for n in to_target)


def _disentangle_row(label: str, m: dict) -> str:
    v, r = m["verification"], m["reconstruction_rmse"]
    acc = lambda part: f"{pct(v[part]['accuracy_mean'])} ± {pct(v[part]['accuracy_se'])}" if part in v else "—"
    t, pose = m.get("identity_transfer"), m.get("pose_error")
    transfer = f"{pct(t['nearest_is_source'])} (chance {pct(t['chance'])})" if t else "—"
    if t and "over_draws" in t:
        d = t["over_draws"]
        transfer += (f"; over {d['draws']} draws of people {pct(d['mean'])} ± {pct(d['se'])}"
                     + (f", the real source faces {pct(d['real_source_mean'])}" if "real_source_mean" in d else "")
                     + (f" (by `{t['reference']['method']}` on the same faces: {pct(t['reference']['real_source_mean'])})"
                        if "reference" in t else ""))
    if t:
        transfer += " · " + _pose_moved(t)
        if "pose_distance_to_target" in t.get("over_draws", {}):
            transfer += f"; over {t['over_draws']['draws']} draws " + _pose_moved(t["over_draws"])
        if "grid_spread" in t:  # the grid's pixel spread between targets / between sources (older records lack it)
            transfer += (f" · grid spread {t['grid_spread']['between_targets']:.1f} between targets, "
                         f"{t['grid_spread']['between_sources']:.1f} between sources")
    roll = (f"{pose['roll_deg']['mae']:.2f} / {pose['roll_deg']['mae_predict_mean']:.2f}"
            f" (r = {pose['roll_deg']['pearson_r']:.2f})") if pose else "—"
    via_f = f"{r['disentangled']:.1f}" if "disentangled" in r else "—"
    return (f"| {label} | {acc('id')} | {acc('noid')} | {acc('pose')} | {acc('style')} | {acc('z')} | "
            f"{r['autoencoder']:.1f} / {via_f} / {r['mean_image']:.1f} | {transfer} | {roll} |")


def disentangle_markdown(results: dict) -> str:
    """The measurements of ``facelab disentangle``: verification with each sub-vector (Table 2),
    reconstruction RMSE, identity transfer and pose error, after each stage where measured."""
    c = results["config"]
    lines = [f"# GAN disentangler — LFW {results['protocol']}", "",
             f"Preset {results['preset']}, {c['image_shape'][0]}×{c['image_shape'][1]}, "
             f"z = {c['id_dim']} + {c['pose_dim']} + {c['style_dim']}, epochs {' + '.join(map(str, c['epochs']))}, seed {c['seed']}, "
             f"device {results.get('device', '—')}, {results['seconds'] / 60:.1f} min. Verification accuracy % "
             "(± SE) with each sub-vector; RMSE on 0–255 of G(E(x)) / G(Φ⁻¹(Φ(E(x)))) / the mean image on "
             f"{results['reconstruction_rmse']['images']} held-out images; identity transfer: how often the "
             "re-encoded face is nearest to its source person, and how far its f_pose moved from the source's "
             "towards the target's; f_pose's roll error (°) against predicting the mean.", "",
             "| after | f_id | f_-id | f_pose | f_style | z | RMSE AE / via f / mean | transfer · pose moved | roll MAE / mean |",
             "|---|---|---|---|---|---|---|---|---|"]
    for stage, m in results.get("stages", {}).items():
        lines.append(_disentangle_row(stage.replace("after_stage", "stage "), m))
    lines.append(_disentangle_row("stage 3 (the model)", results))
    return "\n".join(lines) + "\n"


def markdown_table(results: dict) -> str:
    """One row per method: the numbers a reader compares, with the budget next to them.
    A few-shot results file of ``python -m facelab.evaluation.vae_few_shot`` and the GAN disentangler's
    measurements (``facelab disentangle``) get their own tables."""
    if is_few_shot_result(results):
        return few_shot_markdown(results)
    if is_disentangle_result(results):
        return disentangle_markdown(results)
    lines = [
        f"# facelab compare — {dataset_name(results['data_variant'])} {results['protocol']} ({results['data_variant']})",
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


RESULT_FILES = ("results.md", "scores.json", "roc.png", "cmc.png", "few_shot.png")  # results.json names them


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def pooled_scores(scores, same) -> dict:
    """One method's pooled test scores as scores.json (and compare's per-method progress) keep them:
    float64 scores (exact in JSON) and 0/1 same-person flags."""
    return {"scores": np.asarray(scores, dtype=np.float64).tolist(), "same": np.asarray(same).astype(int).tolist()}


def write_results(out_dir: str | Path, results: dict, roc_curves: dict) -> dict:
    """Write results.md, scores.json, roc.png (and cmc.png, few_shot.png when present), then
    results.json last, each atomically. results.json lists the checksum of every other file
    (``files``), so a folder whose write was cut short, or that mixes two runs' files, is caught by
    :func:`read_results` instead of being read as one run; result files of an earlier run that this
    one does not write are removed."""
    from .. import plots

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {"results.md": io.write_text(out_dir / "results.md", markdown_table(results))}
    # the pooled test scores behind AUC/EER/ROC, so runs over separate folds can be merged (merge_results);
    # JSON (exact for float64), so a report folder keeps them beside results.json and folds run in
    # different sessions or on different machines can still be merged
    written["scores.json"] = io.write_json(out_dir / "scores.json", {
        n: pooled_scores(scores, same) for n, (scores, same) in roc_curves.items()}, indent=None)
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
    files = {name: _sha256(path) for name, path in written.items()}
    written = {"results.json": io.write_json(out_dir / "results.json", {**results, "files": files}), **written}
    for stale in set(RESULT_FILES) - set(written):
        (out_dir / stale).unlink(missing_ok=True)
    return written


def read_results(folder: str | Path, scores: bool = False):
    """``results`` of a results folder, or of a results file and the files beside it (with
    ``scores.json``'s contents when ``scores``), after checking that its files are the ones its
    results.json lists: a mixed or half-written folder is an error naming the file, never read as a
    run. Folders written before results.json listed its files are read as they are."""
    import json

    path = Path(folder)
    path, folder = (path / "results.json", path) if path.is_dir() else (path, path.parent)
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{folder}: no results.json (not a facelab compare results folder)") from None
    except ValueError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc}); rerun the command that wrote it") from None
    if not isinstance(results, dict) or "methods" not in results or "protocol" not in results:
        raise ValueError(f"{path}: not a facelab compare results file (it has no 'protocol' and 'methods')")
    for name, digest in results.get("files", {}).items():
        other = folder / name
        if other.exists() and _sha256(other) != digest:
            raise ValueError(f"{other} does not belong to {path}: another run wrote it, or a write was cut short. "
                             "Rerun the command that made this folder (its results.json says which).")
    if not scores:
        return results
    try:
        return results, json.loads((folder / "scores.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{folder}: results.json without a readable scores.json ({exc})") from None


def merge_results(run_dirs, out_dir: str | Path, log=lambda *_: None) -> dict:
    """One results folder from ``facelab compare`` runs over disjoint View 2 folds.

    A machine trains the ten folds fastest as separate processes (``facelab compare --jobs N``, or
    ``--folds 1`` … ``--folds 10`` by hand); this joins them as if one run had done all folds: per-fold accuracies and
    thresholds in fold order, the pooled test scores (``scores.json``) for AUC, EER, TAR@FAR and the
    ROC — computed by the same code as a single run. Each method must cover the same folds in
    every run it appears in, and no fold twice; settings must agree except the folds.
    """
    import json

    from .runner import VerificationResult

    runs = []
    for d in map(Path, run_dirs):
        results, scores = read_results(d, scores=True)
        if results.get("protocol") != "view2":
            raise ValueError(f"{d}: only View 2 runs have folds to merge (this one is {results.get('protocol')!r})")
        folds = list(range(1, 11)) if results.get("folds") == "all" else list(results["folds"])
        runs.append((d, results, scores, folds))
    if not runs:
        raise ValueError("merge_results needs at least one results folder")
    sources = [str(d) for d, *_ in runs]
    if (Path(out_dir) / "results.json").exists():  # rewriting the same merge is fine; replacing other results is not
        existing = read_results(out_dir)
        if existing.get("merged_from") != sources:
            raise ValueError(f"{out_dir} already holds other results (of {', '.join(existing['methods'])}): "
                             "choose another --out for the merge")
    first = runs[0][1]
    for d, results, _, _ in runs[1:]:
        for key in ("data_variant", "seed", "quick", "preset", "threshold"):
            if results.get(key) != first.get(key):
                raise ValueError(f"{d}: {key} = {results.get(key)!r} differs from {runs[0][0]}'s {first.get(key)!r}")
    merged = {"protocol": "view2", "data_variant": first["data_variant"], "data_root": first["data_root"],
              "seed": first["seed"], "quick": first["quick"], **({"preset": first["preset"]} if "preset" in first else {}),
              "params": {}, "folds": None,
              **({"threshold": first["threshold"]} if "threshold" in first else {}),
              "versions": first["versions"], "methods": {}, "device": first["device"],
              "merged_from": sources}
    curves, method_folds = {}, {}
    for name in dict.fromkeys(n for _, r, _, _ in runs for n in r["methods"]):
        parts = sorted(((folds, d, r["methods"][name], s) for d, r, s, folds in runs if name in r["methods"]),
                       key=lambda p: p[0])
        covered = [k for p in parts for k in p[0]]
        if len(set(covered)) != len(covered):
            raise ValueError(f"method {name}: fold(s) {sorted({k for k in covered if covered.count(k) > 1})} "
                             "appear in more than one run")
        configs = {json.dumps({k: v for k, v in p[2]["config"].items() if k != "fit_reused"}, sort_keys=True)
                   for p in parts}
        if len(configs) != 1:  # constructor arguments (--param) are part of the config
            raise ValueError(f"method {name}: the runs used different settings; merge runs of one configuration")
        ver = VerificationResult("view2", [a for p in parts for a in p[2]["fold_accuracy"]],
                                 [t for p in parts for t in p[2]["thresholds"]],
                                 np.concatenate([np.asarray(p[3][name]["scores"], dtype=np.float64) for p in parts]),
                                 np.concatenate([np.asarray(p[3][name]["same"], dtype=bool) for p in parts]),
                                 sum(p[2]["fit_seconds"] for p in parts), sum(p[2]["embed_seconds"] for p in parts),
                                 parts[0][2]["config"])
        entry = ver.summary()
        entry["kind"] = parts[0][2].get("kind")
        entry["wall_seconds"] = sum(p[2].get("wall_seconds", 0.0) for p in parts)
        identified = [p[2]["identification"] for p in parts if p[2].get("identification")]
        if identified:  # View 1's test people: the same in every run, computed by one of them
            entry["identification"] = identified[0]
        merged["methods"][name] = entry
        curves[name] = (ver.test_scores, ver.test_same)
        method_folds[name] = sorted(covered)
    fold_sets = {tuple(f) for f in method_folds.values()}
    if len(fold_sets) != 1:
        raise ValueError("the merged methods cover different folds: "
                         + "; ".join(f"{n}: {f}" for n, f in method_folds.items()))
    folds = list(fold_sets.pop())
    merged["folds"] = "all" if folds == list(range(1, 11)) else folds
    params = {json.dumps(r.get("params", {}), sort_keys=True) for _, r, _, _ in runs}
    if len(params) == 1:
        merged["params"] = first.get("params", {})
    else:  # each method keeps the arguments of the runs it came from
        for name in merged["methods"]:
            merged["methods"][name]["params"] = next(r.get("params", {}) for _, r, _, _ in runs if name in r["methods"])
    written = write_results(Path(out_dir), merged, curves)
    log(f"wrote {', '.join(written)} in {out_dir}")
    return merged
