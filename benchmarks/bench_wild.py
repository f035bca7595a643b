"""Latency of the photo tools (``facelab enrol / identify / search``) on real LFW photos, on this machine.

Measures (each photo timed in every round, methods taking turns round by round; a photo's time is
its median over the rounds, and the median and p95 are over photos):
  * identify: one photo end to end with the method and gallery already loaded, as
    ``facelab identify`` runs it (read + detect + cut out + embed + match against the gallery),
    for each method, and split into its parts (timed again, the clock read between them). Every
    probe is embedded afresh, as a new photo is: the per-image memo of LBP histograms is off. Targets:
    ≤ 50 ms median for a classical method, ≤ 100 ms for the small CNN. Peers: reading + detecting
    alone (the floor every photo pays) and OpenCV's ``cv2.face.LBPHFaceRecognizer.predict`` on the
    same face crops against the same enrolled faces (in place of embed + match);
  * enrol: photos/s of ``facelab enrol`` on the people folder, less the time spent fitting or
    loading the method and measuring the open-set threshold on LFW (both timed and reported);
  * search: one probe embedding against the embeddings of all LFW images (eigenfaces), scored
    with one matrix product as ``facelab search`` scores (target ≤ 5 ms), against scikit-learn's
    ``NearestNeighbors(algorithm="brute")``, with the libraries' default threads and with one;
  * optionally the ``face_recognition`` package (dlib) on the same gallery and probes, run by the
    Python of another environment (``--face-recognition-python``), since it is no facelab dependency.

The gallery: ``--people`` View 1 test people (never trained on) with ``--photos`` one-face photos
each, copied into one folder per person as a user arranges them. Probes: those people's other
photos and photos of other View 1 test people (strangers), each one a face the detector finds.

    python benchmarks/bench_wild.py [--data-dir D] [--probes 120] [--rounds 3] [--out run.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from unittest import mock

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# every probe is a photo seen for the first time, as in use: no LBP histograms remembered from an earlier round
os.environ["FACELAB_MEMO_MB"] = "0"

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.neighbors import NearestNeighbors  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from facelab import io, methods as registry  # noqa: E402
from facelab.data import LFW  # noqa: E402
from facelab.evaluation.gallery import Gallery  # noqa: E402
from facelab.wild import enrolment, gallery_file, model as wild_model, photos, recognise  # noqa: E402

PARTS = ("decode", "detect", "crop", "embed", "match")
CLASSICAL_TARGET_MS, DEEP_TARGET_MS, SEARCH_TARGET_MS = 50.0, 100.0, 5.0
ENROL_INCLUDED = ("listing the people folder; reading, detecting and cutting out each photo's face (one face "
                  "required); embedding all faces in one batch; writing the compressed gallery file")
ENROL_EXCLUDED = ("reading LFW's file list, fitting a classical method on LFW (or loading a trained model) and "
                  "measuring the open-set threshold on LFW galleries (each timed inside the same call and reported)")

# Runs in the other environment: the face_recognition package on the same gallery and probes.
# Reads {"gallery": [[name, path]], "probes": [path], "rounds": n} on stdin, prints JSON.
FACE_RECOGNITION_WORKER = r"""
import json, sys, time
import numpy as np
import face_recognition as fr

spec = json.load(sys.stdin)
clock = time.perf_counter
t0 = clock()
known, names = [], []
for name, path in spec["gallery"]:
    image = fr.load_image_file(path)
    boxes = fr.face_locations(image)
    if len(boxes) == 1:
        known.append(fr.face_encodings(image, boxes)[0])
        names.append(name)
enrol_s = clock() - t0
known = np.array(known)
times = {part: [[] for _ in spec["probes"]] for part in ("decode", "detect", "embed", "match", "total")}
answers = []
for round_ in range(spec["rounds"]):
    for i, path in enumerate(spec["probes"]):
        t0 = clock()
        image = fr.load_image_file(path)
        t1 = clock()
        boxes = fr.face_locations(image)
        t2 = clock()
        encodings = fr.face_encodings(image, boxes)
        t3 = clock()
        found = [(names[int(np.argmin(d))], float(np.min(d))) for d in (fr.face_distance(known, e) for e in encodings)]
        t4 = clock()
        spans = (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0)
        for part, seconds in zip(("decode", "detect", "embed", "match", "total"), spans):
            times[part][i].append(seconds)
        if round_ == 0:
            answers.append(found)
print(json.dumps({"enrolled_faces": len(names), "gallery_photos": len(spec["gallery"]), "enrol_s": enrol_s,
                  "times": times, "answers": answers, "version": getattr(fr, "__version__", "?")}))
"""


def summary_ms(per_photo_seconds) -> dict:
    """Median and p95 in ms over photos of each photo's median over rounds."""
    ms = np.array([1e3 * statistics.median(rounds) for rounds in per_photo_seconds])
    return {"median_ms": float(np.median(ms)), "p95_ms": float(np.percentile(ms, 95)), "photos": len(ms)}


def one_face(path) -> bool:
    return len(photos.find_faces(photos.read_photo(path))) == 1


def choose_people(lfw: LFW, root: Path, *, people: int, photos_each: int, probes_each: int, probes: int, seed: int):
    """A people folder of View 1 test people (``photos_each`` one-face photos each) and probe photos:
    up to ``probes_each`` other photos of each enrolled person, then strangers (other View 1 test people, one
    photo each) up to ``probes``. Returns ``(people_dir, [(probe path, true folder name or None)])``."""
    (test,) = lfw.people_folds("view1-test")
    paths = {p: [lfw.layout.images[i].path for i in lfw.people_indices([p])] for p in test}
    candidates = [p for p in sorted(test) if len(paths[p]) >= photos_each + 6]
    people_dir, chosen, probe_list = root / "people", [], []
    for person in np.random.default_rng(seed).permutation(candidates):
        single = [f for f in paths[person] if one_face(f)]
        if len(single) < photos_each + 3:
            continue
        folder = people_dir / person.replace("_", " ")
        folder.mkdir(parents=True)
        for k, f in enumerate(single[:photos_each]):
            shutil.copy(f, folder / f"photo {k + 1}.jpg")
        probe_list += [(f, folder.name) for f in single[photos_each:photos_each + probes_each]]
        chosen.append(person)
        if len(chosen) == people:
            break
    for person in sorted(test):
        if len(probe_list) >= probes:
            break
        if person not in chosen and one_face(paths[person][0]):
            probe_list.append((paths[person][0], None))
    return people_dir, probe_list


def timing_wrapper(fn, spent: dict, name: str):
    """``fn``, adding the seconds spent inside it to ``spent[name]``."""
    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - t0
    return timed


def enrol_timed(people_dir, out, data_dir, **method) -> dict:
    """One ``facelab enrol``: its wall time and, timed inside the real call, the seconds spent reading
    LFW's file list, fitting or loading the method, calibrating the threshold on LFW, finding the
    faces in the photos and writing the gallery file. ``photos_s``: the whole call less the first three."""
    timed_calls = ((enrolment, "LFW", "lfw_list_s"), (wild_model, "build", "method_s"),
                   (enrolment, "calibrate", "calibration_s"), (enrolment, "faces_in_photos", "read_detect_crop_s"),
                   (gallery_file, "save", "write_s"))
    spent = {name: 0.0 for _, _, name in timed_calls}
    with ExitStack() as stack:
        for module, attribute, name in timed_calls:
            stack.enter_context(mock.patch.object(module, attribute,
                                                  timing_wrapper(getattr(module, attribute), spent, name)))
        t0 = time.perf_counter()
        done = enrolment.enrol(people_dir, out, data_dir=data_dir, **method)
        spent["total_s"] = time.perf_counter() - t0
    spent["photos_s"] = spent["total_s"] - spent["lfw_list_s"] - spent["method_s"] - spent["calibration_s"]
    spent["embed_and_rest_s"] = spent["photos_s"] - spent["read_detect_crop_s"] - spent["write_s"]
    spent["photos"] = sum(n_photos for _, n_photos in done.counts.values())
    spent["faces"] = len(done.gallery.names)
    return spent


def identify_in_parts(path, opened: recognise.Opened, config, tau: float):
    """``facelab identify`` of one photo with the gallery open, as :func:`recognise.identify` and
    :func:`photos.faces_in_photo` do it, the clock read between the parts."""
    clock = time.perf_counter
    t0 = clock()
    bgr = photos.read_photo(path)
    t1 = clock()
    boxes = photos.find_faces(bgr)
    t2 = clock()
    faces = [photos.Face(Path(path), box, *photos.face_input(bgr, box, config, str(path))) for box in boxes]
    batch = photos.stack(faces) if faces else None
    t3 = clock()
    embeddings = opened.method.embed(batch) if faces else None
    t4 = clock()
    answers = []
    if faces:
        names, scores = opened.search.identify(embeddings, k=1)
        answers = [recognise.Answer(f, str(n), float(s), tau) for f, n, s in zip(faces, names[:, 0], scores[:, 0])]
    t5 = clock()
    return dict(zip(PARTS, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4))), answers, batch


def identify_whole(path, opened: recognise.Opened, tau: float) -> list:
    """The same photo through the library's own calls, with no clock inside (the end-to-end figure)."""
    faces = photos.faces_in_photos([path], opened.method.preprocess, photos.Summary())
    if not faces:
        return []
    names, scores = opened.search.identify(opened.method.embed(photos.stack(faces)), k=1)
    return [recognise.Answer(f, str(n), float(s), tau) for f, n, s in zip(faces, names[:, 0], scores[:, 0])]


def accuracy(answers_per_probe, truth) -> dict:
    """Known people's photos named correctly (at the threshold, and best match ignoring it); strangers
    not named. ``answers_per_probe``: per probe, ``(best name, named or None)`` of its first face."""
    known = [(a, t) for a, t in zip(answers_per_probe, truth) if t is not None]
    strangers = [a for a, t in zip(answers_per_probe, truth) if t is None]
    mean = lambda hits: float(np.mean(hits)) if hits else None  # noqa: E731
    return {"known_named_correctly": mean([bool(a) and a[1] == t for a, t in known]),
            "known_best_match_correct": mean([bool(a) and a[0] == t for a, t in known]),
            "strangers_not_named": mean([not a or a[1] is None for a in strangers]),
            "known_probes": len(known), "stranger_probes": len(strangers)}


def bench_identify(opened_by_method: dict, probe_paths, rounds: int) -> tuple[dict, dict]:
    """Per method and photo, the seconds of each round: the whole call and each part. Also each
    probe's face crops and first answer, from the first round."""
    times = {m: {k: [[] for _ in probe_paths] for k in (*PARTS, "parts_total", "end_to_end", "end_to_end_cpu")}
             for m in opened_by_method}
    crops, answers = {}, {}
    for round_ in range(rounds):
        for name, (opened, tau) in opened_by_method.items():
            config = photos.wild_preprocess(opened.method.preprocess)
            for i, path in enumerate(probe_paths):
                t0, cpu0 = time.perf_counter(), time.process_time()
                identify_whole(path, opened, tau)
                times[name]["end_to_end"][i].append(time.perf_counter() - t0)
                times[name]["end_to_end_cpu"][i].append(time.process_time() - cpu0)
                parts, found, batch = identify_in_parts(path, opened, config, tau)
                for part, seconds in parts.items():
                    times[name][part][i].append(seconds)
                times[name]["parts_total"][i].append(sum(parts.values()))
                if round_ == 0:
                    crops.setdefault(name, []).append(batch)
                    answers.setdefault(name, []).append((found[0].best, found[0].name) if found else None)
    return times, {"crops": crops, "answers": answers}


def bench_lbph(opened: recognise.Opened, probe_crops, rounds: int) -> tuple[list, list]:
    """OpenCV's LBPH trained on the gallery's enrolled faces (lbp's crops), predicting each probe's faces."""
    names = sorted(set(opened.gallery.names.tolist()))
    recognizer = cv2.face.LBPHFaceRecognizer_create()
    recognizer.train(list(opened.gallery.faces[..., 0]), np.array([names.index(n) for n in opened.gallery.names]))
    times = [[] for _ in probe_crops]
    best = []
    for round_ in range(rounds):
        for i, batch in enumerate(probe_crops):
            t0 = time.perf_counter()
            predicted = [recognizer.predict(face[..., 0]) for face in (batch if batch is not None else [])]
            times[i].append(time.perf_counter() - t0)
            if round_ == 0:
                best.append(names[predicted[0][0]] if predicted else None)
    return times, best


def per_call_ms(fn, queries) -> list[float]:
    """Milliseconds of ``fn(q)`` for each query, one after another."""
    times = []
    for q in queries:
        t0 = time.perf_counter()
        fn(q)
        times.append(1e3 * (time.perf_counter() - t0))
    return times


def bench_search(lfw: LFW, probe_paths, repeats: int, k: int = 5) -> dict:
    """One probe against every LFW image's eigenfaces embedding: facelab's gallery search (one matrix
    product, then the top k) against sklearn's brute-force nearest neighbours, each timed over its own
    block of queries (the faces of the probe photos in turn), with the libraries' default threads and
    with one thread. Not interleaved call by call: after sklearn's OpenMP region its threads keep
    spinning and a NumPy product started then waits on them (milliseconds instead of tens of µs)."""
    method = wild_model.build("eigenfaces", lfw)
    t0 = time.perf_counter()
    embeddings = np.asarray(method.embed(lfw.load_images(method.preprocess)), dtype=np.float32)
    embed_all_s = time.perf_counter() - t0
    faces = photos.faces_in_photos(probe_paths, method.preprocess, photos.Summary())
    probe_embeddings = np.asarray(method.embed(photos.stack(faces)), dtype=np.float32)
    gallery = Gallery(embeddings, lfw.labels, method.similarity)
    peer = NearestNeighbors(n_neighbors=k, algorithm="brute", metric="cosine").fit(embeddings)
    queries = [probe_embeddings[i % len(probe_embeddings)][None] for i in range(repeats)]
    calls = {"scores": lambda q: gallery.scores(q), "search_top_k": lambda q: gallery.search(q, k=k),
             "sklearn_brute_kneighbors": lambda q: peer.kneighbors(q)}
    threads = {}
    for label, limit in (("default_threads", None), ("one_thread", 1)):
        with threadpool_limits(limit):
            times = {}
            for name, fn in calls.items():
                time.sleep(0.5)  # the previous block's worker threads stop spinning and sleep
                times[name] = per_call_ms(fn, queries)
        row = {f"{name}_median_ms": statistics.median(t) for name, t in times.items()}
        row["search_top_k_p95_ms"] = float(np.percentile(times["search_top_k"], 95))
        row["ratio_sklearn_over_search"] = row["sklearn_brute_kneighbors_median_ms"] / row["search_top_k_median_ms"]
        threads[label] = row
    headline = threads["default_threads"]["search_top_k_median_ms"]
    same_top_k = float(np.mean([set(gallery.search(q, k=k)[2][0].tolist()) == set(peer.kneighbors(q)[1][0].tolist())
                                for q in queries[:len(probe_embeddings)]]))
    return {"gallery_size": len(embeddings), "dim": int(embeddings.shape[1]), "k": k, "repeats": repeats,
            "similarity": str(method.similarity), "embed_all_lfw_s": embed_all_s, **threads,
            "same_top_k_as_sklearn": same_top_k,
            "target_ms": SEARCH_TARGET_MS, "target_met": headline <= SEARCH_TARGET_MS,
            "what": "Gallery(all LFW eigenfaces embeddings).search(one probe embedding, k): the scoring "
                    "`facelab search` does (one matrix product with the normalised gallery, then the top k); the "
                    "peer is NearestNeighbors(algorithm='brute', metric='cosine').kneighbors(one probe)"}


def face_recognition_peer(python: str | None, gallery_photos, probes, rounds: int) -> dict:
    """The face_recognition package run by ``python``; why not, when it cannot be."""
    if not python:
        return {"status": "not run", "why": "no --face-recognition-python given"}
    check = subprocess.run([python, "-c", "import face_recognition"], capture_output=True, text=True)
    if check.returncode:
        lines = [line for line in check.stderr.strip().splitlines() if line.strip()]
        return {"status": "not importable", "python": python, "why": lines[-1] if lines else f"exit {check.returncode}"}
    spec = {"gallery": [[name, str(p)] for name, p in gallery_photos], "probes": [str(p) for p, _ in probes],
            "rounds": rounds}
    done = subprocess.run([python, "-c", FACE_RECOGNITION_WORKER], input=json.dumps(spec), capture_output=True,
                          text=True)
    if done.returncode:
        return {"status": "failed", "python": python, "why": done.stderr.strip().splitlines()[-1]}
    out = json.loads(done.stdout)
    tolerance = 0.6  # the package's own default for compare_faces
    answers = [(a[0][0], a[0][0] if a[0][1] <= tolerance else None) if a else None for a in out["answers"]]
    return {"status": "measured", "python": python, "version": out["version"],
            "models": "dlib's HOG face detector, 68-point landmarks and ResNet face encoder; the encoder was trained "
                      "on about three million faces from outside sources, not on LFW's training people",
            "end_to_end": summary_ms(out["times"]["total"]),
            "parts": {part: summary_ms(out["times"][part]) for part in ("decode", "detect", "embed", "match")},
            "accuracy": accuracy(answers, [t for _, t in probes]), "tolerance": tolerance,
            "enrolled_faces": out["enrolled_faces"], "gallery_photos": out["gallery_photos"],
            "enrol_photos_per_s": out["gallery_photos"] / out["enrol_s"]}


def versions() -> dict:
    import sklearn

    found = {"python": platform.python_version(), "numpy": np.__version__, "opencv": cv2.__version__,
             "sklearn": sklearn.__version__}
    if "tensorflow" in sys.modules:
        found["tensorflow"] = sys.modules["tensorflow"].__version__
    return found


def enrol_method(name: str, people_dir: Path, root: Path, args) -> tuple[dict, dict | None, Path]:
    """Enrol the people folder with ``name`` (a deep method trained here first, at ``--deep-preset``):
    the enrolment row, the deep fit's row (or None) and the gallery file."""
    how, fit_row = {"method": name}, None
    if registry.spec(name).kind != "classical":
        from facelab.nets.train_cli import train_method

        run = root / f"run-{name}"
        fit = train_method(name, run, data_dir=args.data_dir, preset=args.deep_preset, progress=False)
        fit_row = {"preset": fit["preset"], "fit_s": fit["fit_seconds"], "images": fit["images"],
                   "command": f"facelab train {name} --preset {args.deep_preset} --out RUN"}
        how["model"] = run
    out = root / f"{name}.facelab"
    first = enrol_timed(people_dir, out, args.data_dir, **how)  # fits a classical method
    repeats = [enrol_timed(people_dir, out, args.data_dir, **how) for _ in range(args.enrol_repeats)]
    median = lambda key: statistics.median(r[key] for r in repeats)  # noqa: E731
    row = {"photos": first["photos"], "faces": first["faces"], "photos_per_s": first["photos"] / median("photos_s"),
           "photos_part_median_s": median("photos_s"),
           "photos_part_split_median_s": {k: median(k) for k in ("read_detect_crop_s", "embed_and_rest_s", "write_s")},
           "total_median_s": median("total_s"), "calibration_median_s": median("calibration_s"),
           "method_fit_or_load_first_s": first["method_s"], "included": ENROL_INCLUDED, "excluded": ENROL_EXCLUDED,
           "runs": repeats, "command": f"facelab enrol PEOPLE_DIR --method {name}"
           + (" --model RUN" if "model" in how else "") + " --out G.facelab"}
    return row, fit_row, out


def identify_rows(times: dict, seen: dict, opened: dict, truth, lbph_times) -> tuple[dict, dict]:
    """Per method: end to end and per part (median, p95), the target, accuracy and the ratios to the peers."""
    photos_n = len(truth)
    per_photo = lambda name, part, i: statistics.median(times[name][part][i])  # noqa: E731
    # the floor: reading + detecting, the same work under every method, so every method's rounds count
    floor = summary_ms([[a + b for name in times for a, b in zip(times[name]["decode"][i], times[name]["detect"][i])]
                        for i in range(photos_n)])
    peers = {"read_and_detect_floor": floor}
    if lbph_times is not None:
        peers["opencv_lbph_predict"] = summary_ms(lbph_times)
    rows = {}
    for name, t in times.items():
        target = CLASSICAL_TARGET_MS if registry.spec(name).kind == "classical" else DEEP_TARGET_MS
        whole = summary_ms(t["end_to_end"])
        embed_and_match_ms = 1e3 * statistics.median(per_photo(name, "embed", i) + per_photo(name, "match", i)
                                                     for i in range(photos_n))
        rows[name] = {
            "end_to_end": whole, "parts_total": summary_ms(t["parts_total"]),
            # CPU seconds of this process (all its threads): near the wall time on an idle machine, far below
            # it while other processes hold the cores
            "end_to_end_process_cpu": summary_ms(t["end_to_end_cpu"]),
            "parts": {part: summary_ms(t[part]) for part in PARTS}, "embed_and_match_median_ms": embed_and_match_ms,
            "target_ms": target, "target_met": whole["median_ms"] <= target,
            "ratio_over_read_and_detect": whole["median_ms"] / floor["median_ms"],
            "accuracy": accuracy(seen["answers"][name], truth), "threshold": opened[name][1],
            "command": f"facelab identify PHOTO --gallery G.facelab ({name}; method and gallery already loaded)"}
        if lbph_times is not None:
            rows[name]["ratio_embed_and_match_over_lbph_predict"] = (embed_and_match_ms
                                                                     / peers["opencv_lbph_predict"]["median_ms"])
    return rows, peers


def percent(fraction: float | None) -> str:
    return "-" if fraction is None else f"{100 * fraction:.0f} %"


def print_report(record: dict) -> None:
    identify, peers, peer = record["identify"], record["identify_peers"], record["face_recognition"]
    g = record["gallery"]
    print(f"\nidentify one photo, method and gallery loaded ({g['probes']} photos × {g['rounds']} rounds), ms:")
    print(f"{'method':12s} {'median':>7s} {'p95':>7s} {'cpu':>7s} " + " ".join(f"{p:>7s}" for p in PARTS) + "  target")
    for name, row in identify.items():
        print(f"{name:12s} {row['end_to_end']['median_ms']:7.1f} {row['end_to_end']['p95_ms']:7.1f} "
              f"{row['end_to_end_process_cpu']['median_ms']:7.1f} "
              + " ".join(f"{row['parts'][p]['median_ms']:7.2f}" for p in PARTS)
              + f"  ≤ {row['target_ms']:.0f}: {'met' if row['target_met'] else 'MISSED'}")
    if peer["status"] == "measured":
        print(f"{'face_recog.':12s} {peer['end_to_end']['median_ms']:7.1f} {peer['end_to_end']['p95_ms']:7.1f} {'':7s} "
              + " ".join(f"{peer['parts'][p]['median_ms']:7.2f}" if p in peer["parts"] else f"{'-':>7s}"
                         for p in PARTS))
    lbph = peers.get("opencv_lbph_predict")
    print(f"read + detect alone: {peers['read_and_detect_floor']['median_ms']:.1f} ms median"
          + (f"; OpenCV LBPH predict: {lbph['median_ms']:.2f} ms" if lbph else ""))
    for name, row in identify.items():
        a = row["accuracy"]
        print(f"  {name}: {row['ratio_over_read_and_detect']:.2f}× read + detect"
              + (f", embed + match {row['ratio_embed_and_match_over_lbph_predict']:.2f}× LBPH predict" if lbph else "")
              + f"; named correctly: {percent(a['known_named_correctly'])} of enrolled people's photos; not named: "
              f"{percent(a['strangers_not_named'])} of strangers'")
    for name, row in record["enrol"].items():
        print(f"enrol {name}: {row['photos_per_s']:.1f} photos/s ({row['photos']} photos); whole command "
              f"{row['total_median_s']:.1f} s, of which calibration {row['calibration_median_s']:.1f} s")
    s = record["search"]
    for label in ("default_threads", "one_thread"):
        row = s[label]
        print(f"search 1 probe × {s['gallery_size']} ({label.replace('_', ' ')}): scores "
              f"{row['scores_median_ms']:.3f} ms, top-{s['k']} {row['search_top_k_median_ms']:.3f} ms; sklearn brute "
              f"{row['sklearn_brute_kneighbors_median_ms']:.2f} ms ({row['ratio_sklearn_over_search']:.0f}×)")
    print(f"search target ≤ {SEARCH_TARGET_MS:.0f} ms: {'met' if s['target_met'] else 'MISSED'}; "
          f"same top {s['k']} as sklearn for {100 * s['same_top_k_as_sklearn']:.0f} % of probes")
    if peer["status"] == "measured":
        a = peer["accuracy"]
        print(f"face_recognition: named correctly: {percent(a['known_named_correctly'])} of enrolled people's photos; "
              f"not named: {percent(a['strangers_not_named'])} of strangers'; enrol {peer['enrol_photos_per_s']:.1f} "
              "photos/s")
    else:
        print(f"face_recognition: {peer['status']} ({peer['why']})")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=None, help="LFW data root (default: $FACELAB_DATA, else ./data)")
    ap.add_argument("--methods", default="eigenfaces,lbp,deepid", help="classical methods, and deep ones that are "
                    "trained here at --deep-preset")
    ap.add_argument("--deep-preset", default="quick")
    ap.add_argument("--people", type=int, default=8, help="people enrolled")
    ap.add_argument("--photos", type=int, default=5, help="photos enrolled per person")
    ap.add_argument("--probes", type=int, default=120, help="probe photos: the enrolled people's other photos, "
                    "then strangers up to this many")
    ap.add_argument("--probes-per-person", type=int, default=8, help="other photos of each enrolled person probed")
    ap.add_argument("--rounds", type=int, default=3, help="times each probe photo is identified")
    ap.add_argument("--enrol-repeats", type=int, default=3)
    ap.add_argument("--search-repeats", type=int, default=500)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--face-recognition-python", default=None, metavar="PYTHON",
                    help="the Python of an environment with the face_recognition package, to measure it as a peer")
    ap.add_argument("--face-recognition-note", default=None, metavar="TEXT",
                    help="how that environment was made (or why it could not be), recorded with its figures")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    command = " ".join(["python benchmarks/bench_wild.py", *(argv if argv is not None else sys.argv[1:])])
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    lfw = LFW(args.data_dir, progress=False)
    record = {"command": command, "machine": f"{platform.machine()}, {os.cpu_count()} cores",
              "data": lfw.layout.describe(), "load_average_at_start": os.getloadavg()}

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        people_dir, probes = choose_people(lfw, root, people=args.people, photos_each=args.photos,
                                           probes_each=args.probes_per_person, probes=args.probes, seed=args.seed)
        gallery_photos = [(d.name, f) for d in sorted(people_dir.iterdir()) for f in photos.files_in(d)]
        probe_paths, truth = [p for p, _ in probes], [t for _, t in probes]
        record["gallery"] = {"people": len(list(people_dir.iterdir())), "photos": len(gallery_photos),
                             "probes": len(probes), "known_probes": sum(t is not None for t in truth),
                             "rounds": args.rounds}
        print(f"gallery: {record['gallery']['people']} View 1 test people × {args.photos} photos; {len(probes)} probe "
              f"photos ({record['gallery']['known_probes']} of enrolled people)", flush=True)

        opened, enrol_rows, deep_fits = {}, {}, {}
        for name in methods:
            enrol_rows[name], fit_row, gallery = enrol_method(name, people_dir, root, args)
            if fit_row:
                deep_fits[name] = fit_row
            loaded = gallery_file.load(gallery)
            opened[name] = (recognise.open_gallery(loaded, gallery, args.data_dir), recognise.threshold(loaded))
            print(f"{name}: enrolled {enrol_rows[name]['faces']} faces, {enrol_rows[name]['photos_per_s']:.1f} "
                  "photos/s", flush=True)
        for o, tau in opened.values():  # warm-up: the first calls build graphs and load libraries
            for path in probe_paths[:5]:
                identify_whole(path, o, tau)

        times, seen = bench_identify(opened, probe_paths, args.rounds)
        lbph_times, lbph_best = (bench_lbph(opened["lbp"][0], seen["crops"]["lbp"], args.rounds) if "lbp" in opened
                                 else (None, None))
        record["identify"], peers = identify_rows(times, seen, opened, truth, lbph_times)
        if lbph_times is not None:
            peers["opencv_lbph_predict"]["known_best_match_correct"] = accuracy(  # it has no open-set threshold
                [(b, None) if b else None for b in lbph_best], truth)["known_best_match_correct"]
        record.update(identify_peers=peers, enrol=enrol_rows, deep_fits=deep_fits)
        record["search"] = bench_search(lfw, probe_paths, args.search_repeats)

        peer = face_recognition_peer(args.face_recognition_python, gallery_photos, probes, args.rounds)
        if args.face_recognition_note:
            peer["install"] = args.face_recognition_note
        if peer["status"] == "measured":
            for row in record["identify"].values():
                row["ratio_face_recognition_over_this"] = (peer["end_to_end"]["median_ms"]
                                                           / row["end_to_end"]["median_ms"])
        record["face_recognition"] = peer
    record["versions"] = versions()
    record["load_average_at_end"] = os.getloadavg()  # other processes on the machine, for the reader
    print_report(record)
    if args.out:
        io.write_json(args.out, record)
    return record


if __name__ == "__main__":
    main()
