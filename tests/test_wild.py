"""Faces in the wild (``facelab enrol / identify / search / cluster``) on real LFW photos copied into
folders as a user would arrange their own: one folder per person, names with spaces and accents.

Enrolled people and strangers are View 1 test people (never trained on). The photos are real;
the bad inputs are real photos damaged the way files get damaged (cut short, shrunk, a text file
with a photo's name), never drawn faces."""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import pickle
import shlex
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

import facelab.cli as cli
from facelab.data.preprocess import detect_face
from facelab.wild import gallery_file, photos
from facelab.wild.cli import add_parsers

METHOD = "lbp"  # fitted in under a minute; one fit per process serves every command below
ENROLLED, PHOTOS, PROBES = 6, 5, 5


def facelab(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_face(path) -> bool:
    return len(photos.find_faces(photos.read_photo(path))) == 1


def _single_face_photos(lfw, person: str, n: int = 12) -> list[Path]:
    """The first of ``person``'s LFW photos (among ``n``) in which the cascade finds one face."""
    return [p for p in (lfw.layout.images[i].path for i in lfw.people_indices([person])[:n]) if one_face(p)]


@pytest.fixture(scope="module")
def people(lfw, tmp_path_factory):
    """View 1 test people: ENROLLED with ≥ 11 photos (PHOTOS enrolled, PROBES kept as probes), named
    by folders with spaces (one with an accent), and strangers: every other test person with ≥ 6
    photos (at most 8 each), whose photos were never among the calibration's unknown probes."""
    (test,) = lfw.people_folds("view1-test")
    paths = {p: [lfw.layout.images[i].path for i in lfw.people_indices([p])] for p in test}
    root = tmp_path_factory.mktemp("wild")
    rng = np.random.default_rng(7)
    candidates = [p for p in sorted(test) if len(paths[p]) >= 11]
    chosen, folders, probes = [], {}, {}
    for person in rng.permutation(candidates):
        single = [f for f in paths[person] if one_face(f)]
        if len(single) < PHOTOS + PROBES:
            continue
        name = person.replace("_", " ") + (" Ré" if not chosen else "")
        folder = root / "people" / name
        folder.mkdir(parents=True)
        for k, f in enumerate(single[:PHOTOS]):
            shutil.copy(f, folder / f"photo {k + 1}.jpg")
        chosen.append(person)
        folders[person] = name
        probes[name] = single[PHOTOS:PHOTOS + PROBES]
        if len(chosen) == ENROLLED:
            break
    strangers = [f for p in sorted(test) if p not in chosen and len(paths[p]) >= 6 for f in paths[p][:8]]
    return {"root": root, "dir": root / "people", "folders": folders, "probes": probes, "strangers": strangers,
            "gallery": root / "people.facelab"}


@pytest.fixture(scope="module")
def enrolled(people):
    """``facelab enrol`` of the people folder; its printed report."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["enrol", str(people["dir"]), "--method", METHOD, "--out", str(people["gallery"])])
    assert code == 0, err.getvalue()
    return out.getvalue()


# -- photos → faces -------------------------------------------------------------------------

def test_lfw_frames_faces_as_measured_and_photos_are_cut_out_as_the_data_layer_cuts_lfw(lfw):
    """LFW_FACE is the cascade's box width on LFW, and a photo's face reaches the method exactly as
    ``PreprocessConfig(detect=True)`` (the data layer's cache) cuts that LFW image."""
    from facelab import methods

    from facelab.data.preprocess import preprocess_files

    config = photos.wild_preprocess(methods.create(METHOD).preprocess)
    chosen = np.random.default_rng(0).choice(len(lfw), 40, replace=False)
    paths = [lfw.layout.images[i].path for i in chosen]
    cached, _ = preprocess_files(paths, config, progress=False)  # what the data layer's cache holds for them
    widths, same = [], 0
    for k, path in enumerate(paths):
        bgr = photos.read_photo(path)
        box = detect_face(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
        if box is None:
            continue
        widths.append(box[2])
        face = next(f for f in photos.faces_in_photo(path, config) if f.box == box)
        same += np.array_equal(face.image, cached[k])
    assert abs(np.median(widths) / photos.LFW_FACE - 1) < 0.05, np.median(widths)
    assert same == len(widths)


def test_faces_detected_in_parallel_threads_are_the_faces_found_one_by_one(lfw):
    """The data layer preprocesses in threads; each thread has its own cascade (one shared cascade
    returns boxes of other threads' images), so a cached detection is the one a photo gets."""
    from facelab import methods
    from facelab.data.preprocess import preprocess_files

    config = photos.wild_preprocess(methods.create(METHOD).preprocess)
    paths = [r.path for r in lfw.layout.images[:60]]
    alone, _ = preprocess_files(paths, config, workers=1, progress=False)
    threads, _ = preprocess_files(paths, config, workers=4, progress=False)
    assert np.array_equal(alone, threads)


def test_exif_orientation_is_honoured(tmp_path, lfw):
    """A photo stored on its side with an EXIF Orientation tag (6: turn 90° clockwise to show) is
    read upright: the same face, where a reader that ignores the tag finds none."""
    from PIL import Image

    source = _single_face_photos(lfw, "Colin_Powell")[0]
    sideways = tmp_path / "sideways.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.open(source).transpose(Image.Transpose.ROTATE_90).save(sideways, exif=exif.tobytes(), quality=95)
    raw = cv2.imread(str(sideways), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    assert np.abs(raw.astype(int) - cv2.imread(str(source))).mean() > 20  # stored on its side
    assert detect_face(cv2.cvtColor(raw, cv2.COLOR_BGR2GRAY)) is None
    upright = photos.read_photo(sideways)
    assert np.abs(upright.astype(int) - cv2.imread(str(source))).mean() < 3
    (a,), (b,) = (photos.find_faces(photos.read_photo(p)) for p in (source, sideways))
    assert np.abs(np.subtract(a, b)).max() <= 3


def test_greyscale_rgba_and_16_bit_pngs_give_the_photos_face(tmp_path, lfw):
    source = _single_face_photos(lfw, "Colin_Powell")[1]
    bgr = cv2.imread(str(source))
    (box,) = photos.find_faces(bgr)
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    alpha = np.full(grey.shape, 255, np.uint8)
    alpha[:, :20] = 0  # a transparent strip: laid on white
    variants = {"grey.png": grey, "rgba.png": np.dstack([bgr, alpha]), "deep.png": bgr.astype(np.uint16) * 257,
                "grey16.png": grey.astype(np.uint16) * 257}
    for name, pixels in variants.items():
        assert cv2.imwrite(str(tmp_path / name), pixels)
        read = photos.read_photo(tmp_path / name)
        assert read.shape == bgr.shape and read.dtype == np.uint8, name
        (found,) = photos.find_faces(read)
        assert np.abs(np.subtract(found, box)).max() <= 3, name
    rgba = photos.read_photo(tmp_path / "rgba.png")
    assert (rgba[:, :20] == 255).all() and np.array_equal(rgba[:, 20:], bgr[:, 20:])


# -- enrol, identify, search ----------------------------------------------------------------

def test_enrol_reports_people_and_threshold(enrolled, people):
    assert f"enrolled {ENROLLED} people ({ENROLLED * PHOTOS} faces) with {METHOD}" in enrolled
    for name in people["folders"].values():
        assert f"  {name}: {PHOTOS} face(s) from {PHOTOS} photo(s)" in enrolled
    assert "open set: threshold" in enrolled and "1 % of strangers' photos reach it (LFW people;" in enrolled
    g = gallery_file.load(people["gallery"])
    assert g.embeddings.dtype == np.float32 and len(g.names) == ENROLLED * PHOTOS
    assert g.method["name"] == METHOD and g.method["config"]["preprocess"]["detect"]
    assert g.calibration.far == 0.01 and g.calibration.people == ENROLLED and g.calibration.photos == PHOTOS
    with np.load(people["gallery"], allow_pickle=False) as npz:  # plain arrays and one JSON text
        assert all(npz[k].dtype != object for k in npz.files)


def test_identify_names_enrolled_people_and_refuses_strangers(enrolled, people, capsys, tmp_path):
    probes = [(name, p) for name, ps in people["probes"].items() for p in ps]
    code, out, err = facelab(capsys, "identify", *[p for _, p in probes], "--gallery", people["gallery"], "--json")
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == len(probes)  # one face per probe photo
    for r in records:
        assert set(r) == {"photo", "box", "name", "score", "threshold"} and len(r["box"]) == 4
    truth = {str(p): name for name, p in probes}
    right = np.mean([r["name"] == truth[r["photo"]] for r in records])
    named = np.mean([r["name"] is not None for r in records])
    # the top-1 person, with no threshold (closed set)
    code, out, _ = facelab(capsys, "identify", *[p for _, p in probes], "--gallery", people["gallery"], "--json",
                           "--threshold=-1e9")
    best = np.mean([json.loads(line)["name"] == truth[json.loads(line)["photo"]] for line in out.splitlines()])
    with capsys.disabled():
        print(f"\nenrolled people's probes: top-1 right {best:.3f}, named {named:.3f}, named right {right:.3f}")
    assert best > 0.5, best
    assert right >= 0.8 * named > 0  # whom it names, it mostly names right

    strangers = people["strangers"][::10]
    code, out, err = facelab(capsys, "identify", *strangers, "--gallery", people["gallery"])
    assert code == 0
    lines = [line for line in out.splitlines() if "face at" in line]
    assert np.mean(["not recognised" in line for line in lines]) > 0.8


def test_identify_answers_every_face_and_draws_them(enrolled, people, capsys, tmp_path, lfw):
    group = next(lfw.layout.images[i].path for i in lfw.people_indices(["Colin_Powell"])
                 if len(photos.find_faces(photos.read_photo(lfw.layout.images[i].path))) >= 2)
    out_png = tmp_path / "named.png"
    code, out, err = facelab(capsys, "identify", group, "--gallery", people["gallery"], "--annotate", out_png)
    assert code == 0, err
    answers = [line for line in out.splitlines() if "face at" in line]
    assert len(answers) >= 2 and all(str(group) in line and "x=" in line for line in answers)
    drawn = cv2.imread(str(out_png))
    assert drawn is not None and drawn.shape[0] >= 200


def test_search_lists_top_k_with_scores_and_a_sheet(enrolled, people, capsys, tmp_path):
    name, probe = next((n, ps[0]) for n, ps in people["probes"].items() if n.endswith("Ré"))
    sheet = tmp_path / "sheet.png"
    code, out, err = facelab(capsys, "search", probe, "--gallery", people["gallery"], "-k", 5, "--sheet", sheet)
    assert code == 0, err
    ranks = [line.split() for line in out.splitlines() if line.startswith("  ") and ". " in line]
    assert [r[0] for r in ranks] == ["1.", "2.", "3.", "4.", "5."]
    scores = [float(line.split("  ")[2]) for line in out.splitlines() if line.startswith("  ")]
    assert scores == sorted(scores, reverse=True)
    assert cv2.imread(str(sheet)) is not None


def test_strangers_are_named_at_about_the_requested_rate(enrolled, people, capsys):
    """Over View 1 test people never enrolled (and never the calibration's unknowns), the fraction
    of faces given a name is within a factor of two of the FAR the threshold was set at."""
    far = 0.05
    code, out, err = facelab(capsys, "identify", *people["strangers"], "--gallery", people["gallery"],
                             "--far", far, "--json")
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    accepted = np.mean([r["name"] is not None for r in records])
    with capsys.disabled():
        print(f"\nstrangers' faces named: {accepted:.4f} of {len(records)} at FAR {far}")
    assert len(records) >= 500
    assert far / 2 <= accepted <= 2 * far, accepted


# -- bad input ------------------------------------------------------------------------------

def _bad_inputs(root: Path, lfw) -> dict[str, str]:
    """Real photos damaged as files get damaged; path → the words its summary line must hold."""
    powell = [lfw.layout.images[i].path for i in lfw.people_indices(["Colin_Powell"])]
    single = _single_face_photos(lfw, "Colin_Powell")
    group = next(p for p in powell if len(photos.find_faces(photos.read_photo(p))) >= 2)
    folder = root / "Colin Powell"
    folder.mkdir(parents=True)
    for k, p in enumerate(single[:3]):
        shutil.copy(p, folder / f"good {k}.jpg")
    bad = {}
    (folder / "notes.jpg").write_text("not a photo at all")
    bad[str(folder / "notes.jpg")] = "not an image"
    data = single[3].read_bytes()
    (folder / "cut.jpg").write_bytes(data[: len(data) // 2])
    bad[str(folder / "cut.jpg")] = "truncated"
    corner = cv2.imread(str(single[4]))[:60, :60]  # background only
    cv2.imwrite(str(folder / "corner.png"), corner)
    bad[str(folder / "corner.png")] = "no face found"
    shutil.copy(group, folder / "group.jpg")
    bad[str(folder / "group.jpg")] = "faces found; a photo of one person must show one face"
    cv2.imwrite(str(folder / "tiny.png"), cv2.resize(cv2.imread(str(single[5])), (20, 20)))
    bad[str(folder / "tiny.png")] = "too small (20×20 pixels)"
    (root / "Nobody Yet").mkdir()
    bad[str(root / "Nobody Yet")] = "empty person folder"
    return bad


def test_the_threshold_can_be_calibrated_on_a_folder_of_faces_like_the_users(enrolled, people, capsys, tmp_path):
    """``--calibration-data``: strangers drawn from every person of a split folder (faces taken the way
    the user's are), not LFW's test people; the gallery says whose they were."""
    from facelab.data.folder import split_folder

    by_person = {}
    for photo in people["strangers"]:
        by_person.setdefault(photo.parent.name, []).append(photo)
    for person, photos in list(by_person.items())[:12]:
        (tmp_path / "others" / person).mkdir(parents=True)
        for photo in photos:
            shutil.copy(photo, tmp_path / "others" / person / photo.name)
    split_folder(tmp_path / "others", tmp_path / "others-split", folds=2, pairs=10)
    gallery = tmp_path / "calibrated.facelab"
    code, out, err = facelab(capsys, "enrol", people["dir"], "--method", METHOD, "--out", gallery,
                             "--calibration-data", tmp_path / "others-split")
    assert code == 0, err
    assert f"% of strangers' photos reach it ({tmp_path / 'others'} people;" in out
    calibrated, on_lfw = gallery_file.load(gallery), gallery_file.load(people["gallery"])
    assert calibrated.calibration.strangers == str(tmp_path / "others")
    assert calibrated.calibration.threshold != on_lfw.calibration.threshold
    assert np.array_equal(calibrated.embeddings, on_lfw.embeddings)  # the same method and faces, another threshold


def test_each_bad_input_gets_one_line_and_the_run_goes_on(enrolled, people, capsys, tmp_path, lfw):
    bad = _bad_inputs(tmp_path / "people", lfw)
    out_gallery = tmp_path / "powell.facelab"
    code, out, err = facelab(capsys, "enrol", tmp_path / "people", "--method", METHOD, "--out", out_gallery)
    assert code == 0, err
    assert "enrolled 1 people (3 faces)" in out
    lines = [line.strip() for line in out.splitlines() if line.startswith("  ") and ": " in line]
    for path, words in bad.items():
        mine = [line for line in lines if line.startswith(f"{path}: ")]
        assert len(mine) == 1 and words in mine[0], (path, mine)
    assert f"left out {len(bad)} file(s) or folder(s)" in out

    photos_given = [*bad, *(str(p) for p in people["probes"][next(iter(people["probes"]))][:2])]
    photos_given = [p for p in photos_given if Path(p).is_file() and "group" not in p]
    code, out, err = facelab(capsys, "identify", *photos_given, "--gallery", people["gallery"])
    assert code == 0
    assert len([line for line in out.splitlines() if "face at" in line]) == 2
    for path in photos_given[:-2]:
        assert sum(line.strip().startswith(f"{path}: ") for line in out.splitlines()) == 1


def test_a_gallery_of_another_method_or_preprocessing_is_refused(enrolled, people, capsys):
    from facelab import methods

    code, out, err = facelab(capsys, "identify", people["strangers"][0], "--gallery", people["gallery"],
                             "--method", "eigenfaces")
    assert code == 2
    assert "facelab identify: error:" in err and f"enrolled with {METHOD}" in err and "not with eigenfaces" in err
    g = gallery_file.load(people["gallery"])
    other = methods.create(METHOD, preprocess={**g.preprocess, "size": [48, 48]})
    with pytest.raises(gallery_file.GalleryFileError, match=r"size=\[80, 80\].*size=\[48, 48\]"):
        gallery_file.check_method(g, other, people["gallery"])


def test_a_pickle_is_not_a_gallery_and_runs_no_code(tmp_path, capsys):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    evil = tmp_path / "evil.facelab"
    evil.write_bytes(pickle.dumps(Payload()))
    code, _, err = facelab(capsys, "identify", tmp_path / "x.jpg", "--gallery", evil)
    assert code == 2 and "not a facelab gallery" in err
    assert not marker.exists()


def test_a_write_killed_midway_leaves_the_previous_gallery(enrolled, people, capsys, monkeypatch, tmp_path):
    target = tmp_path / "kept.facelab"
    shutil.copy(people["gallery"], target)
    before = target.read_bytes()

    def dies_midway(fh, **arrays):
        fh.write(b"PK\x03\x04 half a gallery")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez_compressed", dies_midway)
    code, out, err = facelab(capsys, "enrol", people["dir"], "--method", METHOD, "--out", target)
    assert code == 2 and "No space left on device" in err
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.facelab"]  # no temporary file left
    assert len(gallery_file.load(target).names) == ENROLLED * PHOTOS


# -- cluster --------------------------------------------------------------------------------

def _album(people, root: Path) -> Path:
    """The probes of the enrolled people, one folder each: a folder to cluster with its true answer."""
    for name, probes in people["probes"].items():
        (root / name).mkdir(parents=True)
        for p in probes:
            shutil.copy(p, root / name / p.name)
    return root


def test_cluster_estimates_people_and_scores_against_folders(enrolled, people, capsys, tmp_path):
    root = _album(people, tmp_path / "album")
    (root / "README").write_text("who is who")  # a note beside the person folders, as AT&T's folder has
    code, out, err = facelab(capsys, "cluster", root, "--method", METHOD)
    assert code == 0, err
    head = out.splitlines()[0]
    estimated = int(head.split(": ")[1].split(" people")[0])
    assert f"{ENROLLED * PROBES} faces in {ENROLLED * PROBES} photos" in head
    assert 2 <= estimated < ENROLLED * PROBES
    scores = out.split("against the folders")[1]
    assert f"({ENROLLED} people)" in scores
    nmi = float(scores.split("NMI ")[1].split(",")[0])
    with capsys.disabled():
        print("", head, scores.strip(), sep="\n")
    assert nmi > 0.3, out


def test_cluster_json_records_what_it_printed_and_what_cluster_returned(enrolled, people, capsys, tmp_path):
    from facelab.io import json_default
    from facelab.wild.clustering import STAGES, cluster

    root = _album(people, tmp_path / "album")
    first = root / next(iter(people["probes"]))
    (first / "notes.jpg").write_text("not a photo")  # left out, and recorded as such
    shutil.copy(next(f for f in people["strangers"] if one_face(f)), first / "a stranger.jpg")
    record_path = tmp_path / "records" / "cluster.json"
    argv = ["cluster", root, "--method", METHOD, "--list", "1", "--json", record_path]
    code, out, err = facelab(capsys, *argv)
    assert code == 0, err
    record = json.loads(record_path.read_text(encoding="utf-8"))
    assert sorted(p.name for p in record_path.parent.iterdir()) == ["cluster.json"]  # written atomically

    again = cluster(root, method=METHOD)  # deterministic: the same answer as the command's
    assert record["people_estimated"] == again.people
    assert record["threshold"] == float(again.threshold)
    assert record["scores"] == again.scores
    assert record["faces"] == len(again.faces) == ENROLLED * PROBES + 1
    assert record["photos"] == again.photos and record["photos_found"] == ENROLLED * PROBES + 2
    assert record["true_people"] == len(set(again.truth)) == ENROLLED
    assert record["left_out"]["count"] == 1 == record["left_out"]["other"]
    assert record["left_out"]["lines"] == again.summary.lines and "notes.jpg" in record["left_out"]["lines"][0]
    assert record["largest_clusters"] == np.bincount(again.labels)[:10].tolist()
    assert record["method"]["name"] == METHOD
    assert record["method"] == json.loads(json.dumps(again.method, default=json_default))
    assert record["far"] == 0.01 and record["device"].startswith(("cpu", "gpu"))
    assert record["command"] == shlex.join(["facelab", *map(str, argv)])
    assert list(record["seconds"]) == [*STAGES, "total"] and min(record["seconds"].values()) >= 0
    assert record["seconds"]["total"] == pytest.approx(sum(record["seconds"][s] for s in STAGES), abs=0.01)

    lines = out.splitlines()
    assert lines[0].startswith(f"{record['faces']} faces in {record['photos']} photos: "
                               f"{record['people_estimated']} people estimated ({METHOD}; ")
    assert f"above {record['threshold']:.4g}, the score 1 % of" in lines[0]
    s = record["scores"]
    assert (f"against the folders ({record['true_people']} people): purity {s['purity']:.3f}, NMI {s['nmi']:.3f}, "
            f"ARI {s['ari']:.3f}") in lines
    # --list 1: the largest person, then one line for the rest
    listed = [line for line in lines if line.startswith("  person ")]
    assert listed == [lines[1]] and f"({record['largest_clusters'][0]} faces)" in listed[0]
    rest = record["people_estimated"] - 1
    assert lines[2] == (f"  … and {rest} more people ({record['faces'] - record['largest_clusters'][0]} faces; at "
                        f"most {record['largest_clusters'][1]} each)")
    assert "left out 1 file(s) or folder(s):" in lines and lines[-1] == f"wrote {record_path}"

    code, out, err = facelab(capsys, "cluster", root, "--method", METHOD, "--list", "-1")
    assert code == 2 and "--list" in err


def test_average_linkage_cuts_where_scikit_learn_cuts():
    """The condensed SciPy linkage gives scikit-learn's AgglomerativeClustering(distance_threshold) partition,
    ties and asymmetric scores included."""
    from sklearn.cluster import AgglomerativeClustering

    from facelab.wild.clustering import _average_linkage

    rng = np.random.default_rng(3)
    for trial in range(60):
        n, k = int(rng.integers(2, 50)), int(rng.integers(1, 8))
        x = rng.normal(size=(k, 6))[rng.integers(0, k, n)] + rng.uniform(0.2, 2.0) * rng.normal(size=(n, 6))
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        s = (x @ x.T).astype(np.float32 if trial % 2 else np.float64)
        if trial % 3 == 0:
            s = np.round(s, 1).astype(s.dtype)  # ties
        if trial % 5 == 0:
            s = s + (0.01 * rng.normal(size=s.shape)).astype(s.dtype)
        tau = float(rng.choice(s.ravel())) if trial % 4 else float(rng.uniform(-1.0, 1.5))
        sym = (s + s.T) / 2
        c = float(sym.max())
        if tau > c:
            expected = np.arange(n)
        else:
            d = c - sym
            np.fill_diagonal(d, 0.0)
            expected = AgglomerativeClustering(n_clusters=None, metric="precomputed", linkage="average",
                                               distance_threshold=max(c - tau, 1e-12)).fit_predict(d)
        got = _average_linkage(s, tau)
        assert len(np.unique(got)) == len(np.unique(expected))
        # the same partition: each pair of faces together in both or apart in both
        assert np.array_equal(got[:, None] == got[None, :], expected[:, None] == expected[None, :]), trial
        sizes = np.bincount(got)
        assert np.all(np.diff(sizes) <= 0)  # numbered largest first


# -- a deep method ---------------------------------------------------------------------------

def test_a_deep_method_comes_from_its_training_folder(people, capsys, tmp_path):
    """`facelab train` → enrol --model → identify: the gallery names the folder, not a network, and
    is refused once the model is gone. (The quick recipe is near chance: this proves the path.)
    Trained at the classical method's preprocessing, so both use one cached detection of LFW."""
    run = tmp_path / "deepid"
    code, _, err = facelab(capsys, "train", "deepid", "--preset", "quick", "--out", run, "--no-progress",
                           "--param", 'preprocess={"size": 80, "crop": [80, 80]}')
    assert code == 0, err
    gallery = tmp_path / "deep.facelab"
    code, out, err = facelab(capsys, "enrol", people["dir"], "--method", "deepid", "--model", run, "--out", gallery)
    assert code == 0, err
    assert f"enrolled {ENROLLED} people" in out and "with deepid" in out
    assert gallery_file.load(gallery).method["model"] == str(run.resolve())
    probe = next(iter(people["probes"].values()))[0]
    code, out, err = facelab(capsys, "identify", probe, "--gallery", gallery, "--json")
    assert code == 0, err
    assert set(json.loads(out.splitlines()[0])) == {"photo", "box", "name", "score", "threshold"}
    code, _, err = facelab(capsys, "enrol", people["dir"], "--method", "deepid2", "--model", run, "--out", gallery)
    assert code == 2 and "holds a deepid model, not deepid2" in err
    shutil.rmtree(run)
    code, _, err = facelab(capsys, "identify", probe, "--gallery", gallery)
    assert code == 2 and "which is not there any more" in err


# -- the command line -----------------------------------------------------------------------

def test_each_command_has_one_example_that_parses():
    parser = argparse.ArgumentParser(prog="facelab")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parsers(sub)
    for name, p in sub.choices.items():
        example = p.epilog.splitlines()[-1].strip()
        assert p.epilog.count("example:") == 1 and example.startswith(f"facelab {name} ")
        assert parser.parse_args(example.split()[1:]).command == name
