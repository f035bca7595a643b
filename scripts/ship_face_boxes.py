"""Find the Haar cascade's face box in every image of an LFW copy and add them to the boxes that
ship with facelab (facelab/data/lfw_face_boxes.npz), under the copy's image-list fingerprint.

    python scripts/ship_face_boxes.py [--data-dir ROOT]

Run it for an official LFW release (deep-funneled, funneled, original); facelab then uses these
boxes where the machine's cascade reproduces a sample of them, instead of searching every image.
"""
from __future__ import annotations

import argparse
import os

import numpy as np

from facelab import io
from facelab.data.detection import SHIPPED_BOXES, find_boxes
from facelab.data.lfw import LFW
from facelab.data.preprocess import images_fingerprint


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="LFW data root (default: $FACELAB_DATA, else ./data)")
    args = parser.parse_args(argv)
    lfw = LFW(args.data_dir, progress=False)
    paths = [r.path for r in lfw.layout.images]
    boxes = find_boxes(paths, lfw.layout.read, workers=os.cpu_count() or 1)
    shipped = {}
    if SHIPPED_BOXES.exists():
        with np.load(SHIPPED_BOXES, allow_pickle=False) as npz:
            shipped = {k: npz[k] for k in npz.files}
    key = f"boxes_{images_fingerprint(paths)}"
    shipped[key] = boxes.astype(np.int16)
    io.save_npz(SHIPPED_BOXES, compress=True, **shipped)
    print(f"{SHIPPED_BOXES}: {key} ({len(paths)} images of {lfw.layout.describe()}, "
          f"{int((boxes[:, 0] < 0).sum())} without a face)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
