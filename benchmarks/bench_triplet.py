"""Loss + gradient of the batch-hard and semi-hard triplet losses: facelab (Keras 3, this
environment) against tensorflow-addons 0.23 on TensorFlow 2.15 in its own virtual environment.

    python benchmarks/bench_triplet.py --tfa-python /work/venvs/tfa/bin/python
    FACELAB_TFA_PYTHON=/path/to/venv/bin/python python benchmarks/bench_triplet.py

The same seeded inputs (P×K labels, L2-normalised embeddings) are written to a temporary .npz.
Each side runs in a fresh subprocess (this file in ``--worker`` mode; the tfa worker imports only
tensorflow and tensorflow_addons) that times a ``tf.function`` computing the loss and its
gradient, after warm-up, and reports the median of at least ``--repeats`` runs lasting at least
``--min-time`` seconds (a 2-ms loss gets hundreds of runs). A run is ``--rounds`` rounds of one
worker per side, the order alternating from round to round, so a change in the machine's load
during the run falls on both sides alike; the ratio reported is the median of the
per-round ratios (each round's ratio is printed too). Without a tensorflow-addons python,
facelab is timed alone and the script says so.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

LOSSES = ("semihard", "hard")


def make_inputs(batch: int, dim: int, per_class: int, seed: int):
    if batch % per_class:
        raise SystemExit(f"--batch {batch} is not a multiple of --per-class {per_class}")
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(batch // per_class), per_class).astype(np.int32)
    rng.shuffle(labels)
    emb = rng.normal(size=(batch, dim)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    return labels, emb


def time_loss_and_grad(tf, fn, labels, emb, repeats: int, warmup: int, min_time: float = 0.0):
    """Median seconds of one ``value, grad`` evaluation (compiled) over at least ``repeats`` runs
    and ``min_time`` seconds, and the value and gradient."""
    y, x = tf.constant(labels), tf.constant(emb)

    @tf.function
    def step(y, x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = fn(y, x)
        return value, tape.gradient(value, x)

    for _ in range(warmup):
        value, grad = step(y, x)
        grad.numpy()
    times = []
    while len(times) < repeats or sum(times) < min_time:
        start = time.perf_counter()
        value, grad = step(y, x)
        grad.numpy()  # wait for the result
        times.append(time.perf_counter() - start)
    return float(np.median(times)), float(value.numpy()), grad.numpy()


def run_side(side: str, inputs: str, margin: float, repeats: int, warmup: int, min_time: float) -> dict:
    import tensorflow as tf

    data = np.load(inputs)
    labels, emb = data["labels"], data["emb"]
    if side == "tfa":
        import tensorflow_addons as tfa

        fns = {"semihard": lambda y, x: tfa.losses.triplet_semihard_loss(y, x, margin=margin),
               "hard": lambda y, x: tfa.losses.triplet_hard_loss(y, x, margin=margin)}
        version = f"tensorflow-addons {tfa.__version__} on TensorFlow {tf.__version__}"
    else:
        import keras

        from facelab.losses.tfa import triplet_hard_loss, triplet_semihard_loss

        fns = {"semihard": lambda y, x: triplet_semihard_loss(y, x, margin=margin),
               "hard": lambda y, x: triplet_hard_loss(y, x, margin=margin)}
        version = f"facelab on TensorFlow {tf.__version__}, Keras {keras.__version__}"
    out = {"version": version, "results": {}}
    for name in LOSSES:
        seconds, value, grad = time_loss_and_grad(tf, fns[name], labels, emb, repeats, warmup, min_time)
        out["results"][name] = {"median_s": seconds, "value": value, "grad": grad.tolist()}
    return out


def _run_worker(python: str, side: str, inputs: str, args) -> tuple[dict | None, str | None]:
    """One timing worker in a fresh process: (its result, None) or (None, why it failed)."""
    cmd = [python, os.path.abspath(__file__), "--worker", side, "--inputs", inputs, "--margin", str(args.margin),
           "--repeats", str(args.repeats), "--warmup", str(args.warmup), "--min-time", str(args.min_time)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        return None, f"exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}"
    return json.loads(lines[-1][len("RESULT "):]), None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--per-class", type=int, default=4, help="K of the P×K batch")
    ap.add_argument("--margin", type=float, default=0.2)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--min-time", type=float, default=1.0, help="seconds of timed runs per loss and worker, at least")
    ap.add_argument("--rounds", type=int, default=5, help="worker pairs, the order alternating")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tfa-python", default=os.environ.get("FACELAB_TFA_PYTHON"),
                    help="python of a venv with tensorflow==2.15.1 and tensorflow-addons==0.23.0 "
                         "(default: $FACELAB_TFA_PYTHON)")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--worker", choices=["tfa", "facelab"], help=argparse.SUPPRESS)
    ap.add_argument("--inputs", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:  # subprocess mode: print one JSON line
        print("RESULT " + json.dumps(run_side(args.worker, args.inputs, args.margin, args.repeats, args.warmup, args.min_time)))
        return 0

    labels, emb = make_inputs(args.batch, args.dim, args.per_class, args.seed)
    tfa_python, why_not = args.tfa_python, None
    if not tfa_python:
        why_not = "no --tfa-python given and FACELAB_TFA_PYTHON unset"
    elif not os.path.exists(tfa_python):
        why_not, tfa_python = f"{tfa_python} does not exist", None
    pythons = {"facelab": sys.executable, "tfa": tfa_python}
    rounds: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        inputs = os.path.join(tmp, "inputs.npz")
        np.savez(inputs, labels=labels, emb=emb)
        for r in range(args.rounds):
            order = ("facelab", "tfa") if r % 2 == 0 else ("tfa", "facelab")
            this_round = {}
            for side in order:
                if pythons[side] is None:
                    continue
                result, error = _run_worker(pythons[side], side, inputs, args)
                if result is None:
                    if side == "facelab":
                        raise SystemExit(f"the facelab worker failed: {error}")
                    why_not, pythons["tfa"] = f"the tfa worker failed: {error}", None
                    continue
                this_round[side] = result
            rounds.append(this_round)
    ours = rounds[-1]["facelab"]
    paired = [r for r in rounds if "tfa" in r]
    theirs = paired[-1]["tfa"] if paired else None  # rounds before a failed tfa worker still count

    print(f"triplet loss + gradient, batch {args.batch} (P={args.batch // args.per_class} × K={args.per_class}), "
          f"dim {args.dim}, margin {args.margin}; per worker the median of ≥ {args.repeats} runs (≥ {args.min_time:g} s) "
          f"after {args.warmup} warm-up; {len(rounds)} rounds, medians over rounds")
    print(f"  facelab: {ours['version']}")
    print(f"  tfa:     {theirs['version'] if theirs else 'unavailable — ' + why_not}")
    print(f"{'loss':<10}{'facelab ms':>12}{'tfa ms':>10}{'tfa/facelab':>13}{'|Δvalue|':>11}{'max|Δgrad|':>12}"
          "   per-round tfa/facelab")
    summary = {"config": vars(args) | {"tfa_python": args.tfa_python}, "facelab": ours["version"],
               "tfa": theirs["version"] if theirs else None, "results": {}}
    for name in LOSSES:
        ms = lambda side, rs: [1e3 * r[side]["results"][name]["median_s"] for r in rs]
        row = {"facelab_ms": float(np.median(ms("facelab", rounds))), "facelab_ms_per_round": ms("facelab", rounds)}
        if theirs:
            ratios = [t / f for t, f in zip(ms("tfa", paired), ms("facelab", paired))]
            f, t = ours["results"][name], theirs["results"][name]
            row.update(tfa_ms=float(np.median(ms("tfa", paired))), tfa_ms_per_round=ms("tfa", paired),
                       ratio_tfa_over_facelab=float(np.median(ratios)), ratio_per_round=ratios,
                       abs_value_diff=abs(t["value"] - f["value"]),
                       max_abs_grad_diff=float(np.abs(np.asarray(t["grad"]) - np.asarray(f["grad"])).max()))
            print(f"{name:<10}{row['facelab_ms']:>12.2f}{row['tfa_ms']:>10.2f}{row['ratio_tfa_over_facelab']:>13.2f}"
                  f"{row['abs_value_diff']:>11.1e}{row['max_abs_grad_diff']:>12.1e}   "
                  + " ".join(f"{q:.2f}" for q in ratios))
        else:
            print(f"{name:<10}{row['facelab_ms']:>12.2f}{'—':>10}{'—':>13}")
        summary["results"][name] = row
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(summary, fh, indent=2)
        os.replace(tmp, args.json)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # facelab, for its worker
    sys.exit(main())
