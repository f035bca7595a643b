"""Preprocessing is deterministic; the cache is atomic and rebuilt when corrupted or stale."""
from __future__ import annotations

import numpy as np
import pytest

from facelab.data import PreprocessConfig, load_or_build, preprocess_image, read_image
from facelab.data.errors import DataError


@pytest.fixture(scope="module")
def paths(lfw):
    return [r.path for r in lfw.layout.images[:40]]


def test_centre_crop_resize_matches_a_plain_opencv_pipeline(paths):
    import cv2

    cfg = PreprocessConfig(size=(50, 40), crop=(120, 100), grayscale=True)
    bgr = read_image(paths[0])
    out, found = preprocess_image(bgr, cfg)
    expected = cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)[65:185, 75:175], (40, 50), interpolation=cv2.INTER_AREA)
    assert found and out.shape == (50, 40, 1) and out.dtype == np.uint8
    assert np.array_equal(out[..., 0], expected)
    colour, _ = preprocess_image(bgr, PreprocessConfig(size=32, grayscale=False, equalize=True))
    assert colour.shape == (32, 32, 3)


def test_detection_crops_faces_and_falls_back_on_non_faces(paths):
    cfg = PreprocessConfig(size=48, detect=True)
    out, found = preprocess_image(read_image(paths[0]), cfg)
    assert found and out.shape == (48, 48, 1)
    flat = np.full((250, 250, 3), 127, np.uint8)  # a blank wall has no face
    out, found = preprocess_image(flat, cfg)
    assert not found and out.shape == (48, 48, 1)
    with pytest.raises(DataError, match="wall.png: no face found"):
        preprocess_image(flat, PreprocessConfig(size=48, detect=True, on_no_face="error"), source="wall.png")


def test_cache_roundtrip_corruption_and_staleness(paths, tmp_path):
    cfg = PreprocessConfig(size=32)
    first = load_or_build(paths, cfg, cache_dir=tmp_path, progress=False)
    assert first.rebuilt and first.reason == "no cache yet"
    again = load_or_build(paths, cfg, cache_dir=tmp_path, progress=False)
    assert not again.rebuilt and np.array_equal(again.images, first.images)
    # a truncated file (a crash mid-write without atomic replace would leave this) is rebuilt
    data = first.path.read_bytes()
    first.path.write_bytes(data[: len(data) // 2])
    fixed = load_or_build(paths, cfg, cache_dir=tmp_path, progress=False)
    assert fixed.rebuilt and fixed.reason.startswith("corrupted cache")
    assert np.array_equal(fixed.images, first.images)
    # another image list under the same config is stale
    stale = load_or_build(paths[:-1] + [paths[0]], cfg, cache_dir=tmp_path, progress=False)
    assert stale.rebuilt and stale.reason.startswith("stale cache")
    # no temporary files are left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.path.name]


def test_config_validation():
    with pytest.raises(ValueError, match="size must be a positive int"):
        PreprocessConfig(size=(0, 10))
    with pytest.raises(ValueError, match="on_no_face"):
        PreprocessConfig(on_no_face="skip")
    assert PreprocessConfig(size=64).key() == PreprocessConfig(size=(64, 64)).key()
    assert PreprocessConfig(size=64).key() != PreprocessConfig(size=64, equalize=True).key()


def test_unreadable_image_is_named(tmp_path):
    bad = tmp_path / "Nobody_0001.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match="Nobody_0001.jpg"):
        read_image(bad)


def test_detection_configs_share_one_search_for_faces(paths, tmp_path, monkeypatch):
    """The cascade runs once per image list: a second detection config crops the boxes the first found,
    and gives exactly what running the cascade inside preprocessing gives (the no-face fallback too)."""
    from facelab.data import detection
    from facelab.data.preprocess import preprocess_files

    calls = []
    real = detection.detect_face
    monkeypatch.setattr(detection, "detect_face", lambda gray: calls.append(1) or real(gray))
    first = PreprocessConfig(size=32, detect=True, detect_margin=0.3)
    second = PreprocessConfig(size=48, crop=None, detect=True, grayscale=False)
    a = load_or_build(paths, first, cache_dir=tmp_path, tag="t", progress=False)
    assert len(calls) == len(paths)
    b = load_or_build(paths, second, cache_dir=tmp_path, tag="t", progress=False)
    assert len(calls) == len(paths)  # no second search
    monkeypatch.setattr(detection, "detect_face", real)
    for cached, config in ((a, first), (b, second)):
        images, found = preprocess_files(paths, config, progress=False)  # the cascade inside preprocessing
        assert np.array_equal(cached.images, images) and np.array_equal(cached.face_found, found)


def test_shipped_boxes_serve_only_where_this_cascade_finds_the_same_faces(paths, tmp_path, monkeypatch):
    """Boxes shipped for an image list are used once the machine's cascade finds the same faces on a
    sample of them (a few pixels apart, or a few sampled images off, as on another CPU); a list whose
    shipped boxes frame other places is searched image by image."""
    from facelab.data import detection
    from facelab.data.preprocess import images_fingerprint

    fingerprint = images_fingerprint(paths)
    truth = np.stack([detection.image_box(read_image(p)) for p in paths])
    calls = []
    real = detection.detect_face
    monkeypatch.setattr(detection, "detect_face", lambda gray: calls.append(1) or real(gray))
    monkeypatch.setattr(detection, "SHIPPED_CHECK", 8)
    monkeypatch.setattr(detection, "SHIPPED_TOLERATED", 1)
    monkeypatch.setattr(detection, "SHIPPED_BOXES", tmp_path / "shipped.npz")

    def boxes_with(shipped, cache):
        np.savez(detection.SHIPPED_BOXES, **{f"boxes_{fingerprint}": shipped.astype(np.int16)})
        calls.clear()
        return detection.face_boxes(paths, read_image, cache_dir=tmp_path / cache, tag="t",
                                    fingerprint=fingerprint, progress=False)

    assert np.array_equal(boxes_with(truth, "a"), truth) and len(calls) == 8  # the sample only
    nudged = truth + np.array([2, -1, 1, 0])  # every shipped box a pixel or two off: the same faces
    assert np.array_equal(boxes_with(nudged, "b"), nudged) and len(calls) == 8
    sample = [i for i in np.random.default_rng(0).choice(len(paths), 8, replace=False) if truth[i, 0] >= 0]
    one_off = truth.copy()
    one_off[sample[0]] = detection.NO_FACE  # one sampled image off is tolerated
    assert np.array_equal(boxes_with(one_off, "c"), one_off) and len(calls) == 8
    two_off = one_off.copy()
    two_off[sample[1], 0] += two_off[sample[1], 2]  # a box moved by its width frames another place
    assert np.array_equal(boxes_with(two_off, "d"), truth) and len(calls) > len(paths)
    other = truth[:-1]  # shipped for a list of another length
    assert np.array_equal(boxes_with(other, "e"), truth) and len(calls) == len(paths)


def test_same_face_is_overlap_of_boxes_or_no_face_in_both():
    from facelab.data.detection import NO_FACE, same_face

    assert same_face(NO_FACE, NO_FACE) and not same_face(NO_FACE, (10, 10, 40, 40))
    assert same_face((10, 10, 40, 40), (12, 9, 40, 41))
    assert not same_face((10, 10, 40, 40), (30, 10, 40, 40))  # IoU 20·40 / (2·1600 − 800) = 1/3
    assert same_face((10, 10, 40, 40), (20, 10, 40, 40))  # IoU 30·40 / (3200 − 1200) = 0.6


def test_the_official_lfw_ships_the_boxes_its_cascade_finds(lfw):
    """The shipped boxes of the official LFW release are the cascade's (a seeded sample of 100).
    Another OpenCV build may differ on a few; facelab then searches every image itself."""
    from facelab.data import detection
    from facelab.data.preprocess import images_fingerprint

    if lfw.variant != "lfw-deepfunneled":
        pytest.skip(f"boxes ship for the deep-funneled release; this LFW is {lfw.variant}")
    paths = [r.path for r in lfw.layout.images]
    with np.load(detection.SHIPPED_BOXES) as npz:
        shipped = npz[f"boxes_{images_fingerprint(paths)}"]
    assert shipped.shape == (len(paths), 4) and 0 < (shipped[:, 0] < 0).sum() < len(paths) // 20
    sample = np.random.default_rng(1).choice(len(paths), 100, replace=False)
    found = np.stack([detection.image_box(lfw.layout.read(paths[i])) for i in sample])
    assert (found == shipped[sample]).all(1).mean() >= 0.95


def test_two_processes_needing_the_faces_at_once_search_once(paths, tmp_path):
    """Two processes (two test workers, two notebooks) asking for the same boxes at the same time: the
    lock beside the cache makes the second wait and read the first one's boxes."""
    import json
    import subprocess
    import sys

    script = """
import json, sys
from pathlib import Path
from facelab.data import detection
from facelab.data.preprocess import images_fingerprint, read_image
calls = []
real = detection.detect_face
detection.detect_face = lambda gray: calls.append(1) or real(gray)
paths = json.loads(sys.argv[1])
boxes = detection.face_boxes(paths, read_image, cache_dir=Path(sys.argv[2]), tag="t",
                             fingerprint=images_fingerprint(paths), progress=False)
print(json.dumps({"calls": len(calls), "boxes": boxes.tolist()}))
"""
    args = [sys.executable, "-c", script, json.dumps([str(p) for p in paths]), str(tmp_path)]
    runs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [json.loads(r.communicate(timeout=300)[0].strip().splitlines()[-1]) for r in runs]
    assert sorted(o["calls"] for o in outs) == [0, len(paths)]
    assert outs[0]["boxes"] == outs[1]["boxes"]
