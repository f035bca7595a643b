"""``facelab enrol / identify / search / cluster``: argument parsing and printing; the work is in
the modules beside this one. Nothing heavy is imported until a command runs."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from ..cli_commands import add_command


def _box(box) -> str:
    x, y, w, h = box
    return f"x={x} y={y} w={w} h={h}"


def _print_summary(summary, file=None) -> None:
    for line in summary.report():
        print(line, file=file or sys.stdout)


def cmd_enrol(args) -> int:
    from .enrolment import enrol

    done = enrol(args.people_dir, args.out, method=args.method, preset=args.preset, model=args.model, far=args.far,
                 data_dir=args.data_dir, calibration_data=args.calibration_data)
    g = done.gallery
    enrolled = [p for p, (n, _) in done.counts.items() if n]
    print(f"enrolled {len(enrolled)} people ({len(g.names)} faces) with {g.method['name']} into {done.path}")
    for person, (n, photos) in done.counts.items():
        print(f"  {person}: {n} face(s) from {photos} photo(s)")
    print(f"open set: {g.calibration.describe()}")
    if g.calibration.people < len(enrolled):
        print(f"note: {g.calibration.strangers} has only {g.calibration.people} test people with {g.calibration.photos + 1} or more photos, "
              f"fewer than the {len(enrolled)} enrolled: strangers may be named more often than measured")
    _print_summary(done.summary)
    return 0


def cmd_identify(args) -> int:
    from .recognise import identify

    answers, summary, _ = identify(args.photos, args.gallery, far=args.far, given_threshold=args.threshold,
                                   method=args.method, data_dir=args.data_dir)
    for a in answers:
        if args.json:
            print(json.dumps(a.record(), ensure_ascii=False))
        elif a.name:
            print(f"{a.face.photo}  face at {_box(a.face.box)}: {a.name} (score {a.score:.4g} ≥ threshold "
                  f"{a.threshold:.4g})")
        else:
            print(f"{a.face.photo}  face at {_box(a.face.box)}: not recognised (closest {a.best}, score "
                  f"{a.score:.4g} < threshold {a.threshold:.4g})")
    _print_summary(summary, sys.stderr if args.json else None)
    if args.annotate and answers:
        from .drawing import annotate

        photos = list(dict.fromkeys(a.face.photo for a in answers))
        out = Path(args.annotate)
        for i, photo in enumerate(photos, 1):
            target = out if len(photos) == 1 else out.with_name(f"{out.stem}-{i}-{photo.stem}{out.suffix or '.png'}")
            annotate(photo, [a for a in answers if a.face.photo == photo], target)
            print(f"wrote {target}", file=sys.stderr if args.json else sys.stdout)
    return 0 if answers else 1


def cmd_search(args) -> int:
    from .recognise import search

    results, summary, _ = search(args.photo, args.gallery, k=args.k, method=args.method, data_dir=args.data_dir)
    for i, (face, matches) in enumerate(results, 1):
        print(f"{face.photo}  face {i} at {_box(face.box)}:")
        for rank, m in enumerate(matches, 1):
            print(f"  {rank}. {m.name}  {m.score:.4g}  ({m.source}, face at {_box(m.box)})")
    _print_summary(summary)
    if args.sheet and results:
        from .drawing import contact_sheet

        print(f"wrote {contact_sheet(results, args.sheet)}")
    return 0 if results else 1


def cmd_cluster(args) -> int:
    from .clustering import cluster

    if args.list is not None and args.list < 0:
        raise ValueError(f"--list is a number of people to list, 0 or more; got {args.list}")
    c = cluster(args.photos_dir, method=args.method, preset=args.preset, model=args.model, far=args.far,
                data_dir=args.data_dir)
    print(f"{len(c.faces)} faces in {c.photos} photos: {c.people} people estimated ({args.method}; groups joined "
          f"while their mean similarity is above {c.threshold:.4g}, the score {100 * args.far:g} % of LFW stranger "
          "pairs reach)")
    members = [[] for _ in range(c.people)]
    for face, label in zip(c.faces, c.labels):
        members[label].append(face)
    shown = c.people if args.list is None else min(args.list, c.people)
    for k in range(shown):  # the largest first
        names = ", ".join(f"{Path(f.photo).parent.name}/{Path(f.photo).name}" for f in members[k])
        print(f"  person {k + 1} ({len(members[k])} face{'s' if len(members[k]) > 1 else ''}): {names}")
    if shown < c.people:
        rest = sum(len(m) for m in members[shown:])
        print(f"  … and {c.people - shown} more people ({rest} faces; at most {len(members[shown])} each)")
    if c.scores is not None:
        print(f"against the folders ({len(set(c.truth))} people): purity {c.scores['purity']:.3f}, "
              f"NMI {c.scores['nmi']:.3f}, ARI {c.scores['ari']:.3f}")
    _print_summary(c.summary)
    if args.json:
        from ..evaluation.report import device_description, package_versions
        from ..io import write_json

        sizes = c.sizes
        several = sum(bool(re.search(r": \d+ faces found; ", line)) for line in c.summary.lines)
        no_face = sum(": no face found" in line for line in c.summary.lines)
        record = {
            "command": getattr(args, "command_line", None),
            "photos_dir": str(Path(args.photos_dir).resolve()),
            "method": c.method,
            "far": args.far,
            "threshold": c.threshold,
            "faces": len(c.faces),
            "photos": c.photos,
            "photos_found": c.photos_found,
            "left_out": {"count": len(c.summary), "several_faces": several, "no_face": no_face,
                         "other": len(c.summary) - several - no_face, "lines": c.summary.lines},
            "people_estimated": c.people,
            "true_people": len(set(c.truth)) if c.truth is not None else None,
            "scores": c.scores,
            "largest_clusters": sizes[:10].tolist(),
            "single_face_clusters": int((sizes == 1).sum()),
            "seconds": {**c.seconds, "total": round(sum(c.seconds.values()), 3)},
            "device": device_description(),
            "versions": package_versions(),
        }
        print(f"wrote {write_json(args.json, record)}")
    return 0


def _method_arguments(p, required: bool = True) -> None:
    p.add_argument("--method", required=required, help="a registered method (see `facelab methods`); a classical "
                   "one is fitted on LFW View 1's training people, a deep one needs --model")
    p.add_argument("--preset", default=None, help="the method's recipe (quick, class or full; `facelab methods`)")
    p.add_argument("--model", default=None, metavar="RUN_DIR",
                   help="a folder written by `facelab train METHOD --out RUN_DIR` (its model.keras)")


def _data_dir(p) -> None:
    p.add_argument("--data-dir", default=None, help="LFW data root, for fitting and calibrating the method "
                   "(default: $FACELAB_DATA, else ./data)")


def add_parsers(subparsers) -> None:
    """Register ``facelab enrol``, ``identify``, ``search`` and ``cluster`` on the main parser."""
    p = add_command(subparsers, "enrol", example="facelab enrol my_people --method lbp --out my_people.facelab",
                    help="enrol people from one folder of photos per person into a gallery file",
                    description="Each folder under PEOPLE_DIR is a person, named by the folder, holding photos that "
                    "show that person's face alone. Writes a gallery file with the faces' embeddings and an "
                    "open-set threshold measured on LFW people the method never trained on.")
    p.add_argument("people_dir", metavar="PEOPLE_DIR")
    _method_arguments(p)
    p.add_argument("--out", required=True, help="the gallery file to write (e.g. people.facelab)")
    p.add_argument("--far", type=float, default=0.01, help="fraction of photos of people not enrolled that may "
                   "still be given a name (default 0.01)")
    p.add_argument("--calibration-data", default=None, metavar="DIR",
                   help="measure the threshold on the View 1 test people of this data root (a folder of faces split by "
                   "`facelab data split`, e.g. other people photographed like yours) instead of LFW's: a threshold "
                   "set on LFW lets more strangers through on photos unlike LFW's")
    _data_dir(p)
    p.set_defaults(func=cmd_enrol)

    p = add_command(subparsers, "identify",
                    example="facelab identify party.jpg --gallery my_people.facelab --annotate party-named.png",
                    help="name every face in photos, or say 'not recognised'",
                    description="For each face found: the enrolled person it matches best and the score, or 'not "
                    "recognised' when the score is below the gallery's threshold. Exit status 1 when no photo showed "
                    "a face.")
    p.add_argument("photos", nargs="+", metavar="PHOTO")
    p.add_argument("--gallery", required=True, help="a gallery file written by `facelab enrol`")
    p.add_argument("--far", type=float, default=None, help="recalibrate: the fraction of strangers' photos that may be "
                   "named (default: the one enrolled with)")
    p.add_argument("--threshold", type=float, default=None, help="use this score threshold instead")
    p.add_argument("--annotate", default=None, metavar="OUT.png", help="draw the boxes and names on the photo "
                   "(with several photos: OUT-1-NAME.png, ...)")
    p.add_argument("--json", action="store_true", help="one JSON record per face (photo, box, name or null, score, "
                   "threshold); the summary goes to stderr")
    p.add_argument("--method", default=None, help="refuse a gallery enrolled with another method")
    _data_dir(p)
    p.set_defaults(func=cmd_identify)

    p = add_command(subparsers, "search",
                    example="facelab search photo.jpg --gallery my_people.facelab -k 5 --sheet matches.png",
                    help="the enrolled faces most like each face in a photo",
                    description="Ranks every enrolled face by its score against each face found in PHOTO.")
    p.add_argument("photo", metavar="PHOTO")
    p.add_argument("--gallery", required=True, help="a gallery file written by `facelab enrol`")
    p.add_argument("-k", type=int, default=5, help="how many matches per face (default 5)")
    p.add_argument("--sheet", default=None, metavar="OUT.png", help="draw the faces and their matches")
    p.add_argument("--method", default=None, help="refuse a gallery enrolled with another method")
    _data_dir(p)
    p.set_defaults(func=cmd_search)

    p = add_command(subparsers, "cluster", example="facelab cluster holiday_photos --method lbp",
                    help="group the faces of a folder of photos by person and count the people",
                    description="Agglomerative clustering of every face found; with one subfolder per person, "
                    "the clusters are also scored against the folders (purity, NMI, ARI).")
    p.add_argument("photos_dir", metavar="PHOTOS_DIR")
    _method_arguments(p)
    p.add_argument("--far", type=float, default=0.01, help="fraction of LFW stranger pairs similar enough to be "
                   "joined (default 0.01): lower splits more, higher joins more")
    p.add_argument("--list", type=int, default=None, metavar="N", help="list only the N largest people found, then "
                   "one line for the rest (default: every one; 0 lists none)")
    p.add_argument("--json", default=None, metavar="OUT.json", help="also write the run as a JSON record: the "
                   "command, method and settings, threshold, faces, photos and those left out, people estimated "
                   "(and in the folders), purity/NMI/ARI, seconds per stage and the device")
    _data_dir(p)
    p.set_defaults(func=cmd_cluster)
