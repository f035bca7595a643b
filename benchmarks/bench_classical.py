"""Classical speed, measured in one run on this machine (ratios only mean something within a run).

1. LBP grid-histogram features for every LFW image: facelab's batch LBP versus the plain
   pipeline (skimage ``local_binary_pattern`` per image + ``np.histogram`` per cell), and OpenCV
   LBPH training on the same images.
2. Eigenfaces fit on the whole LFW matrix: facelab PCA versus sklearn
   ``PCA(svd_solver="randomized")`` at the same k, and ``cv2.face`` Eigen training.

3. Optionally the wall time of the whole ``facelab compare --methods eigenfaces,fisherfaces,lbp``.

    python benchmarks/bench_classical.py [--n 13233] [--out bench.json] [--compare-runs 3]
"""
from __future__ import annotations

import argparse
import time

import cv2
import numpy as np
from skimage.feature import local_binary_pattern as skimage_lbp
from sklearn.decomposition import PCA as SkPCA

from facelab import io
from facelab.classical.face_methods import EIGEN_PREPROCESS, LBP_PREPROCESS, LBPMethod
from facelab.classical.lbp import cell_edges, n_bins
from facelab.classical.pca import PCA
from facelab.data import LFW


def time_compare(runs: int) -> dict:
    """Wall time of the issue's whole classical comparison, run as a user runs it (a fresh process)."""
    import subprocess
    import sys
    import tempfile

    cmd = ["facelab", "compare", "--methods", "eigenfaces,fisherfaces,lbp", "--protocol", "view2", "--no-progress"]
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as out:
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "facelab", *cmd[1:], "--out", out], check=True, capture_output=True)
            times.append(time.perf_counter() - t0)
    return {"command": " ".join(cmd), "runs_s": times, "median_s": float(np.median(times))}


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def plain_lbp_features(images, P, R, mapping, grid, margin):
    """What a user would write: skimage per image, then one np.histogram per cell."""
    bins = n_bins(P, mapping)
    h, w = images.shape[1:3]
    ey, ex = cell_edges(h, grid[0], margin), cell_edges(w, grid[1], margin)
    out = np.empty((len(images), grid[0] * grid[1] * bins), np.float32)
    for i, im in enumerate(images[..., 0]):
        codes = skimage_lbp(im, P, R, mapping)
        hists = []
        for a in range(grid[0]):
            for b in range(grid[1]):
                hist = np.histogram(codes[ey[a]:ey[a + 1], ex[b]:ex[b + 1]], bins=bins, range=(0, bins))[0]
                hists.append(hist / max(hist.sum(), 1))
        out[i] = np.concatenate(hists)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=None, help="images to use (default: all)")
    ap.add_argument("--k", type=int, default=100, help="eigenfaces components")
    ap.add_argument("--out", default=None, help="write the measurements as JSON (atomically)")
    ap.add_argument("--compare-runs", type=int, default=0,
                    help="also time the whole `facelab compare --methods eigenfaces,fisherfaces,lbp --protocol view2` "
                         "this many times (median wall seconds; aim: under 120)")
    args = ap.parse_args(argv)
    lfw = LFW(progress=False)
    rows = {}

    method = LBPMethod()
    x = lfw.load_images(method.preprocess)[: args.n]
    d = method.descriptor
    (P, R), = d.scales
    t_ours, ours = timed(lambda: d(x))  # the descriptor itself (the method's per-image memo is not involved)
    t_plain, plain = timed(lambda: plain_lbp_features(x, P, R, d.mapping, d.grid, d.margin_px))
    same = bool(np.allclose(ours, plain, atol=1e-6))
    recog = cv2.face.LBPHFaceRecognizer_create(radius=int(R), neighbors=P, grid_x=d.grid[1], grid_y=d.grid[0])
    t_cv, _ = timed(lambda: recog.train(list(x[..., 0]), lfw.labels[: len(x)].astype(np.int32)))
    rows["lbp_features"] = {"images": len(x), "image_shape": list(x.shape[1:]), "P": P, "R": R,
                            "mapping": d.mapping, "grid": list(d.grid), "facelab_s": t_ours,
                            "plain_skimage_numpy_s": t_plain, "opencv_lbph_train_s": t_cv,
                            "speedup_vs_plain": t_plain / t_ours, "features_equal": same}

    xe = lfw.load_images(EIGEN_PREPROCESS)[: args.n]
    X = xe.reshape(len(xe), -1).astype(np.float64)
    t_fl, pca = timed(lambda: PCA(args.k).fit(X))
    t_sk, _ = timed(lambda: SkPCA(args.k, svd_solver="randomized", random_state=0).fit(X))
    eig = cv2.face.EigenFaceRecognizer_create(num_components=args.k)
    t_cv, _ = timed(lambda: eig.train(list(xe[..., 0]), lfw.labels[: len(xe)].astype(np.int32)))
    rows["eigenfaces_fit"] = {"matrix": list(X.shape), "k": args.k, "facelab_solver": pca.solver_,
                              "facelab_s": t_fl, "sklearn_randomized_s": t_sk, "opencv_eigen_train_s": t_cv,
                              "ratio_facelab_over_sklearn": t_fl / t_sk}

    print(f"{'task':28s} {'facelab':>9s} {'reference':>10s} {'OpenCV':>9s}  ratio")
    r = rows["lbp_features"]
    print(f"{'LBP features ' + str(r['images']) + ' img':28s} {r['facelab_s']:8.2f}s {r['plain_skimage_numpy_s']:9.2f}s "
          f"{r['opencv_lbph_train_s']:8.2f}s  {r['speedup_vs_plain']:.1f}x faster than plain (equal: {same})")
    r = rows["eigenfaces_fit"]
    print(f"{'eigenfaces fit ' + 'x'.join(map(str, r['matrix'])):28s} {r['facelab_s']:8.2f}s {r['sklearn_randomized_s']:9.2f}s "
          f"{r['opencv_eigen_train_s']:8.2f}s  {r['ratio_facelab_over_sklearn']:.2f}x sklearn randomized time "
          f"(solver {r['facelab_solver']}, k={r['k']})")
    if args.compare_runs:
        rows["compare_wall"] = time_compare(args.compare_runs)
        r = rows["compare_wall"]
        print(f"{'`' + r['command'] + '`':28s} median {r['median_s']:.1f}s over {len(r['runs_s'])} runs "
              f"({', '.join(f'{t:.1f}' for t in r['runs_s'])})")
    if args.out:
        io.write_json(args.out, rows)
    return rows


if __name__ == "__main__":
    main()
