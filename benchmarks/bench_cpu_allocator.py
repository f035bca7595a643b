"""TensorFlow's CPU memory allocator during training: the default (glibc malloc) against TensorFlow's
BFC allocator (``TF_CPU_ALLOCATOR_USE_BFC=true``, which :mod:`facelab` sets unless the variable is given).

Why: a training step on the small CNN at batch 128 allocates activations of tens of MiB. glibc serves
blocks over 32 MiB with a fresh ``mmap`` and unmaps them when freed, so every step faults every page of
them in again, zeroed by the kernel. On this 2-core machine a 40-epoch triplet run spent 31 % of its CPU
time in the kernel (``/usr/bin/time -v``: 1414 s system against 3129 s user, 375 million minor page
faults; reports/cpu/triplet-semi-hard-v2-fold1-40ep/plain/log.txt). The BFC allocator keeps the memory it
has taken and reuses it.

Each measurement is its own process (the allocator is chosen when TensorFlow first allocates), the two
variants alternating round by round: real LFW faces (64×64 grey), P×K = 32×4 batches through
facelab's tf.data pipeline with flips, the small CNN of width 32, the semi-hard triplet loss, Adam; the
second of two epochs of ``--steps`` batches is timed (the first traces and makes the first allocations). Reports per variant the median wall time, user and system CPU time and
minor page faults of the timed steps, and the ratio of the wall-time medians.

    PYTHONPATH=. FACELAB_DATA=... python benchmarks/bench_cpu_allocator.py --rounds 5 --steps 30 [--out FILE]

``--table FILE`` prints a recorded run's medians as a Markdown table (with ``--readme PAGE --block NAME``
it also fills that page's ``<!-- results:NAME:begin -->`` block), so a record's README shows the numbers
the benchmark wrote, never typed ones.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

VARIANTS = {"malloc": "false", "bfc": "true"}
LABELS = {"malloc": "glibc malloc (`TF_CPU_ALLOCATOR_USE_BFC=false`)",
          "bfc": "BFC (`TF_CPU_ALLOCATOR_USE_BFC=true`, facelab's default)"}


def table(path: str, readme: str | None = None, block: str | None = None) -> str:
    """The medians of a recorded run (``--out``'s JSON) as Markdown, headed by the command that prints it."""
    result = json.loads(Path(path).read_text(encoding="utf-8"))
    cfg = result["config"]
    where = f" --readme {readme} --block {block}" if readme else ""
    lines = [f"Printed by `python benchmarks/bench_cpu_allocator.py --table {path}{where}`.", "",
             f"Medians of {cfg['rounds']} rounds of {cfg['steps']} timed steps ({cfg['cpu_count']} cores, "
             f"{cfg['machine']}):", "",
             "| allocator | wall s | user s | system s | minor page faults |", "|---|---|---|---|---|"]
    for v in VARIANTS:
        m = result["median"][v]
        lines.append(f"| {LABELS[v]} | {m['wall_s']:.2f} | {m['user_s']:.2f} | {m['system_s']:.2f} | "
                     f"{int(m['minor_faults']):,} |")
    lines += ["", f"BFC over malloc: **{result['speedup_bfc_over_malloc']:.2f}×** (ratio of the wall-time medians)."]
    return "\n".join(lines) + "\n"


def child(steps: int, width: int) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    from facelab.data import LFW, PreprocessConfig, pipeline
    from facelab.data.samplers import PKSampler
    from facelab.losses.triplet import MinedTripletLoss, TripletMarginLoss
    from facelab.miners.online import SemiHardMiner
    from facelab.nets.backbones import small_cnn

    lfw = LFW(progress=False)
    images = lfw.load_images(PreprocessConfig(size=64))
    labels = lfw.labels
    sampler = PKSampler(labels, 32, 4, short="replace", seed=0)
    keras.utils.set_random_seed(0)
    model = small_cnn(images.shape[1:], 128, width=width)
    model.compile(keras.optimizers.Adam(1e-3), MinedTripletLoss(SemiHardMiner(), TripletMarginLoss(0.2, "L2")))
    marks = []

    class Mark(keras.callbacks.Callback):  # the rusage and clock at the timed epoch's start and end
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                marks.append((resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()))

        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                marks.append((resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()))

    # epoch 0: warm-up (tracing, first allocations); epoch 1: timed
    ds = pipeline.pk_dataset(images, labels, sampler, epochs=2, augment=True, max_steps=steps)
    model.fit(ds, steps_per_epoch=steps, epochs=2, verbose=0, callbacks=[Mark()])
    (r0, t0), (r1, t1) = marks
    return {"wall_s": t1 - t0, "user_s": r1.ru_utime - r0.ru_utime, "system_s": r1.ru_stime - r0.ru_stime,
            "minor_faults": r1.ru_minflt - r0.ru_minflt}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=30, help="timed training steps per measurement")
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--out", default=None, help="write the results as JSON here (atomically)")
    ap.add_argument("--table", default=None, metavar="FILE", help="print a recorded run (--out's JSON) as Markdown")
    ap.add_argument("--readme", default=None, help="with --table: the page whose results block to fill")
    ap.add_argument("--block", default=None, help="with --readme: the block's name (<!-- results:NAME:begin -->)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if (args.readme is None) != (args.block is None) or (args.readme and not args.table):
        ap.error("--readme and --block go together, with --table")
    if args.table:
        text = table(args.table, args.readme, args.block)
        print(text, end="")
        if args.readme:
            from facelab.evaluation.readme_blocks import fill_results_block

            fill_results_block(args.readme, args.block, text)
        return 0
    if args.child:
        print(json.dumps(child(args.steps, args.width)))
        return 0

    runs = {v: [] for v in VARIANTS}
    for r in range(args.rounds):
        order = list(VARIANTS) if r % 2 == 0 else list(VARIANTS)[::-1]
        for v in order:
            env = {**os.environ, "TF_CPU_ALLOCATOR_USE_BFC": VARIANTS[v]}
            out = subprocess.run([sys.executable, __file__, "--child", "--steps", str(args.steps),
                                  "--width", str(args.width)],
                                 env=env, capture_output=True, text=True, check=True)
            runs[v].append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"round {r + 1}: " + ", ".join(f"{v} {runs[v][-1]['wall_s']:.1f} s "
                                             f"(system {runs[v][-1]['system_s']:.1f} s)" for v in VARIANTS),
              flush=True)

    median = {v: {k: statistics.median(m[k] for m in ms) for k in ms[0]} for v, ms in runs.items()}
    result = {"median": median, "speedup_bfc_over_malloc": median["malloc"]["wall_s"] / median["bfc"]["wall_s"],
              "runs": runs,
              "config": {"steps": args.steps, "rounds": args.rounds, "width": args.width,
                         "batch": "32x4", "input": [64, 64, 1], "cpu_count": os.cpu_count(),
                         "machine": platform.processor() or platform.machine()}}
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))
    if args.out:
        from facelab import io

        io.write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
