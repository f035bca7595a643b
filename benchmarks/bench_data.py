"""Data-layer and evaluator speed on this machine.

Measures (medians of --repeats runs):
  * first build: decode + preprocess all LFW images into a fresh cache (target ≤ 30 s on 2 cores),
    against the peer a user would write: a serial loop of cv2.imread + crop + resize;
  * cached load: reading that cache back in a fresh LFW object (target ≤ 2 s);
  * evaluator: the 10-fold View 2 threshold procedure + AUC/EER/TAR for 6,000 pairs given
    embeddings, against a peer that scans every candidate threshold directly.

    python benchmarks/bench_data.py [--data-dir D] [--repeats 3] [--out bench.json]
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

import cv2
import numpy as np

from facelab import io
from facelab.data import LFW, PreprocessConfig
from facelab.data.preprocess import load_or_build
from facelab.metrics import verification as vm


def timed(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def serial_peer(paths, cfg):
    out = np.empty((len(paths), *cfg.shape), np.uint8)
    ch, cw = cfg.crop
    for i, p in enumerate(paths):
        g = cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2GRAY)
        y, x = g.shape[0] // 2 - ch // 2, g.shape[1] // 2 - cw // 2
        out[i, ..., 0] = cv2.resize(g[y:y + ch, x:x + cw], cfg.size[::-1], interpolation=cv2.INTER_AREA)
    return out


def brute_threshold(scores, same):
    cands = np.unique(scores)
    accs = [(np.mean((scores >= t) == same), t) for t in cands]
    return max(accs)[1]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)

    lfw = LFW(args.data_dir, progress=False)
    paths = [r.path for r in lfw.layout.images]
    cfg = PreprocessConfig()
    rows = {}

    def first_build():
        with tempfile.TemporaryDirectory() as d:
            load_or_build(paths, cfg, cache_dir=d, progress=False)

    rows["first_build_s"], _ = timed(first_build, args.repeats)
    rows["serial_peer_s"], _ = timed(lambda: serial_peer(paths, cfg), args.repeats)
    with tempfile.TemporaryDirectory() as d:
        load_or_build(paths, cfg, cache_dir=d, progress=False)
        rows["cached_load_s"], _ = timed(lambda: LFW(args.data_dir, cache_dir=d, progress=False).load_images(cfg),
                                         args.repeats)

    pairs = lfw.pairs("view2")
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(len(lfw), 128)) + 0.6 * rng.normal(size=(len(lfw.people), 128))[lfw.labels]
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)

    def evaluator():
        s = np.einsum("ij,ij->i", emb[pairs.index_a], emb[pairs.index_b])
        for k in range(10):
            t, _ = vm.best_threshold(s[pairs.fold != k], pairs.same[pairs.fold != k])
            vm.accuracy_at(s[pairs.fold == k], pairs.same[pairs.fold == k], t)
        vm.auc(s, pairs.same), vm.eer(s, pairs.same), vm.tar_at_far(s, pairs.same, 0.001)

    def evaluator_peer():
        s = np.einsum("ij,ij->i", emb[pairs.index_a], emb[pairs.index_b])
        for k in range(10):
            brute_threshold(s[pairs.fold != k], pairs.same[pairs.fold != k])

    rows["evaluator_6000_pairs_s"], _ = timed(evaluator, args.repeats)
    rows["evaluator_brute_peer_s"], _ = timed(evaluator_peer, 1)
    rows["ratio_build_vs_serial_peer"] = rows["serial_peer_s"] / rows["first_build_s"]
    rows["ratio_evaluator_vs_brute_peer"] = rows["evaluator_brute_peer_s"] / rows["evaluator_6000_pairs_s"]
    rows["targets"] = {"first_build_s": 30.0, "cached_load_s": 2.0}
    rows["images"] = len(paths)
    rows["config"] = cfg.to_dict()

    print(f"{'what':34s} {'seconds':>9s}")
    for k, v in rows.items():
        if isinstance(v, float):
            print(f"{k:34s} {v:9.3f}")
    print(f"first build {'meets' if rows['first_build_s'] <= 30 else 'MISSES'} the 30 s target; "
          f"cached load {'meets' if rows['cached_load_s'] <= 2 else 'MISSES'} the 2 s target")
    if args.out:
        io.write_json(args.out, rows)


if __name__ == "__main__":
    main()
