"""Training throughput of the default backbone (facelab.nets.backbones.small_cnn) at 64×64×1, batch 64, on
this CPU: Keras 3 (BatchNormalization, FusedBatchNormalization, each with and without XLA jit) against the
same architecture written in tf_keras 2.21 (fused BN), and facelab's network under mixed_bfloat16 (precision
"mixed_bfloat16"), interleaved round by round so that load from other processes hits every variant alike.
Reports the median images/second of each variant and the ratios (``bf16_over_fp32``: keras3_fused_bf16
against keras3_fused).

    PYTHONPATH=. python benchmarks/bench_training.py --rounds 5 --steps 20 [--out results/bench_training.json]

Same inputs, same targets, same optimizer (Adam 1e-3) and loss (MSE to fixed random unit vectors) for every
variant; the Keras 3 fused and plain BN variants are also checked to give the same outputs from the same
weights (max abs difference printed).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def tf_keras_small_cnn(input_shape, embedding_dim, width):
    """The same network as facelab.nets.backbones.small_cnn, in tf_keras (Keras 2)."""
    import tf_keras as k2

    inputs = k2.Input(input_shape)
    x = inputs
    for i, filters in enumerate((width, 2 * width, 4 * width, 4 * width)):
        x = k2.layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = k2.layers.BatchNormalization()(x)
        x = k2.layers.ReLU()(x)
        if i < 3:
            x = k2.layers.MaxPooling2D(2)(x)
    x = k2.layers.GlobalAveragePooling2D()(x)
    x = k2.layers.Dense(embedding_dim)(x)
    x = k2.layers.Lambda(lambda t: k2.backend.l2_normalize(t, axis=-1))(x)
    model = k2.Model(inputs, x)
    model.compile(k2.optimizers.Adam(1e-3), "mse")
    return model


def keras3_small_cnn(input_shape, embedding_dim, width, norm, jit, precision="float32"):
    """facelab's backbone as DeepMethod builds it: layers made under ``precision``'s dtype policy."""
    import keras

    from facelab.nets.backbones import small_cnn
    from facelab.nets.training import precision_scope

    with precision_scope(precision):
        model = small_cnn(input_shape, embedding_dim, width=width, norm=norm)
    model.compile(keras.optimizers.Adam(1e-3), "mse", jit_compile=jit)
    return model


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20, help="training steps (batches) per measurement")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--width", type=int, default=None, help="backbone width (default: small_cnn's default)")
    ap.add_argument("--variants", default="tf_keras,keras3_bn,keras3_fused,keras3_bn_jit,keras3_fused_jit")
    ap.add_argument("--out", default=None, help="write the results as JSON here (atomically)")
    args = ap.parse_args(argv)

    import inspect

    import keras
    import tensorflow as tf
    import tf_keras

    from facelab.nets.backbones import small_cnn

    width = args.width or inspect.signature(small_cnn).parameters["width"].default
    shape, dim = (args.size, args.size, 1), 128
    rng = np.random.default_rng(0)
    n = args.batch * args.steps
    x = rng.random((n, *shape), dtype=np.float32)
    y = rng.normal(size=(n, dim)).astype(np.float32)
    y /= np.linalg.norm(y, axis=1, keepdims=True)

    builders = {
        "tf_keras": lambda: tf_keras_small_cnn(shape, dim, width),
        "keras3_bn": lambda: keras3_small_cnn(shape, dim, width, "batch", False),
        "keras3_fused": lambda: keras3_small_cnn(shape, dim, width, "fused", False),
        "keras3_bn_jit": lambda: keras3_small_cnn(shape, dim, width, "batch", True),
        "keras3_fused_jit": lambda: keras3_small_cnn(shape, dim, width, "fused", True),
        "keras3_fused_bf16": lambda: keras3_small_cnn(shape, dim, width, "fused", False, "mixed_bfloat16"),
    }
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    for v in names:
        if v not in builders:
            ap.error(f"unknown variant {v!r}; choose from {', '.join(builders)}")
    models = {v: builders[v]() for v in names}
    for m in models.values():  # warm-up: trace/compile outside the timings
        m.fit(x[: 2 * args.batch], y[: 2 * args.batch], batch_size=args.batch, epochs=1, verbose=0, shuffle=False)

    speeds = {v: [] for v in names}
    for r in range(args.rounds):
        order = names if r % 2 == 0 else names[::-1]  # alternate the order: no variant always runs first
        for v in order:
            t0 = time.perf_counter()
            models[v].fit(x, y, batch_size=args.batch, epochs=1, verbose=0, shuffle=False)
            speeds[v].append(n / (time.perf_counter() - t0))
        print(f"round {r + 1}: " + ", ".join(f"{v} {speeds[v][-1]:.0f}" for v in names), flush=True)

    med = {v: statistics.median(s) for v, s in speeds.items()}
    result = {"images_per_second_median": med, "images_per_second_all": speeds,
              "config": {"input": list(shape), "batch": args.batch, "steps": args.steps, "rounds": args.rounds,
                         "width": width, "cpu_count": os.cpu_count(), "machine": platform.processor() or platform.machine(),
                         "tensorflow": tf.__version__, "keras": keras.__version__, "tf_keras": tf_keras.__version__}}
    if "tf_keras" in med:
        result["ratio_to_tf_keras"] = {v: med[v] / med["tf_keras"] for v in names}
    if "keras3_fused" in med and "keras3_fused_bf16" in med:  # what precision="mixed_bfloat16" buys on this CPU
        result["bf16_over_fp32"] = med["keras3_fused_bf16"] / med["keras3_fused"]

    if "keras3_bn" in names and "keras3_fused" in names:  # same weights → same outputs (train and inference)
        a, b = builders["keras3_bn"](), builders["keras3_fused"]()
        b.set_weights(a.get_weights())
        xb = x[: args.batch]
        result["fused_vs_bn_max_abs_diff"] = {
            "training": float(np.abs(np.asarray(a(xb, training=True)) - np.asarray(b(xb, training=True))).max()),
            "inference": float(np.abs(np.asarray(a(xb)) - np.asarray(b(xb))).max()),
        }

    print(json.dumps({k: result[k] for k in result if k != "images_per_second_all"}, indent=2))
    if args.out:
        from facelab import io

        io.write_json(args.out, result)
    return result


if __name__ == "__main__":
    sys.exit(main() and 0)
