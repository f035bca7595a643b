"""Training steps/second of the GAN disentangler's three stages at a preset (default ``class``: 32×32,
width 16), each stage's step compiled by TensorFlow as facelab compiles it by default (a graph) against
the same step XLA-compiled (``jit_compile=True``), interleaved round by round so that load from other
processes hits both alike. Reports the median steps/s per stage and variant, the XLA/graph ratio, and
the preset's training minutes predicted from them (its epochs × steps per epoch on View 1).

    PYTHONPATH=. python benchmarks/bench_gan_step.py --rounds 5 --steps 10 [--out results/bench_gan_step.json]

The batches are real LFW View 1 training faces (a P×K batch for stages 2 and 3, a plain batch for stage 1),
the same every step, with fixed pose targets: only the step is timed, not the data pipeline or OpenCV.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

VARIANTS = {"graph": False, "xla": True}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="class")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=10, help="training steps per measurement")
    ap.add_argument("--data-dir", default=None, help="LFW (default: FACELAB_DATA)")
    ap.add_argument("--out", default=None, help="write the results as JSON here (atomically)")
    args = ap.parse_args(argv)

    import keras
    import tensorflow as tf

    from facelab import io
    from facelab.data.lfw import LFW
    from facelab.data.pipeline import to_float
    from facelab.data.samplers import BatchSampler, PKSampler
    from facelab.evaluation.protocols import verification_splits
    from facelab.generative.gan_disentangler import BUDGETS, GanDisentangler, Networks, StageTrainer

    if keras.backend.backend() != "tensorflow":
        raise SystemExit("bench_gan_step compares TensorFlow's graph step with its XLA step: run it with KERAS_BACKEND=tensorflow")
    method = GanDisentangler(**BUDGETS[args.preset])
    cfg = method.gan_config
    lfw = LFW(args.data_dir, progress=False)
    train = verification_splits(lfw, "view1")[-1].train_images
    images = lfw.load_images(method.preprocess)[train]
    _, labels = np.unique(lfw.labels[train], return_inverse=True)
    pk = PKSampler(labels.astype(np.int32), cfg.p, cfg.k, short="replace", seed=0)
    idx = np.asarray(pk.epoch(0)[0])
    pose = np.random.default_rng(0).normal(size=(len(idx), 2)).astype(np.float32)
    batch = lambda i: (to_float(images[i]), labels[i].astype(np.int32), pose[:len(i)],
                       np.ones(len(i), bool))
    stage_batch = {1: batch(np.arange(cfg.batch_size)), 2: batch(idx), 3: batch(idx)}
    # the samplers the method's stages draw from, so that the predicted minutes count the same steps
    steps_per_epoch = {1: len(BatchSampler(len(images), cfg.batch_size, seed=0)), 2: len(pk), 3: len(pk)}

    nets = Networks(cfg)
    trainers = {}
    for stage in (1, 2, 3):
        data = tf.data.Dataset.from_tensors(stage_batch[stage]).repeat()
        for name, jit in VARIANTS.items():
            t = StageTrainer(nets, stage, cfg)
            t.compile(jit_compile=jit)
            t.fit(data, steps_per_epoch=2, epochs=1, verbose=0)  # trace and compile
            trainers[stage, name] = (t, data)

    speeds = {(stage, name): [] for stage, name in trainers}
    for _ in range(args.rounds):
        for (stage, name), (t, data) in trainers.items():
            t0 = time.perf_counter()
            t.fit(data, steps_per_epoch=args.steps, epochs=1, verbose=0)
            speeds[stage, name].append(args.steps / (time.perf_counter() - t0))

    median = {f"stage{s}": {n: statistics.median(speeds[s, n]) for n in VARIANTS} for s in (1, 2, 3)}
    minutes = {n: sum(cfg.epochs[s - 1] * steps_per_epoch[s] / median[f"stage{s}"][n] for s in (1, 2, 3)) / 60
               for n in VARIANTS}
    result = {
        "steps_per_second_median": median,
        "steps_per_second_all": {f"stage{s}": {n: speeds[s, n] for n in VARIANTS} for s in (1, 2, 3)},
        "xla_over_graph": {f"stage{s}": median[f"stage{s}"]["xla"] / median[f"stage{s}"]["graph"] for s in (1, 2, 3)},
        "preset_training_minutes": minutes,
        "config": {"preset": args.preset, "epochs": list(cfg.epochs), "steps_per_epoch": steps_per_epoch,
                   "image_shape": list(cfg.image_shape), "width": cfg.width, "rounds": args.rounds,
                   "steps": args.steps, "cpu_count": os.cpu_count(), "machine": platform.machine(),
                   "tensorflow": tf.__version__, "keras": keras.__version__},
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        io.write_text(args.out, text + "\n")


if __name__ == "__main__":
    main()
