"""Embedding throughput of a deep method's backbone: what ``DeepMethod.embed`` does (the backbone
compiled once, ``predict_on_batch`` per chunk of 256) against calling the Keras model eagerly per
chunk (``backbone(x, training=False)``, the obvious code), interleaved round by round on the same
real LFW images. Reports medians, the ratio and the largest difference between the two outputs.

    PYTHONPATH=. python benchmarks/bench_embed.py --images 4096 --rounds 5
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=4096)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--backbone", default="small")
    args = ap.parse_args(argv)

    import keras

    from facelab.data import LFW, PreprocessConfig
    from facelab.nets.backbones import build_backbone

    images = LFW(progress=False).load_images(PreprocessConfig(size=64))[: args.images]
    x = images.astype(np.float32) / np.float32(255.0)
    keras.utils.set_random_seed(0)
    model = build_backbone(args.backbone, images.shape[1:], 128)

    def eager():
        return np.concatenate([np.asarray(keras.ops.convert_to_numpy(model(x[i:i + 256], training=False)))
                               for i in range(0, len(x), 256)])

    def compiled():
        return np.concatenate([np.asarray(model.predict_on_batch(x[i:i + 256])) for i in range(0, len(x), 256)])

    diff = float(np.abs(eager() - compiled()).max())  # also the warm-up of both
    times = {"eager": [], "compiled": []}
    for _ in range(args.rounds):
        for name, fn in (("eager", eager), ("compiled", compiled)):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{len(x)} images 64×64×1, backbone {args.backbone}: eager {med['eager']:.2f} s "
          f"({len(x) / med['eager']:.0f} img/s), compiled predict_on_batch {med['compiled']:.2f} s "
          f"({len(x) / med['compiled']:.0f} img/s) → {med['eager'] / med['compiled']:.2f}× faster; "
          f"max |difference| {diff:.2e}")
    return med


if __name__ == "__main__":
    main()
