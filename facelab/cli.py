"""The ``facelab`` command: argument parsing, then calls into the package (no logic here)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .assignments.cli import add_parser as add_assignment_parser
from .cli_report import add_parser as add_report_parser
from .wild.cli import add_parsers as add_wild_parsers
from .cli_commands import add_command, add_data_dir, parse_devices, parse_folds, parse_params
from .presets import BUDGETS


def cmd_compare(args) -> int:
    from . import methods
    from .evaluation.compare import compare, compare_folds_in_parallel

    names = methods.resolve_names(args.methods)
    settings = dict(protocol=args.protocol, data_dir=args.data_dir, out_dir=args.out, quick=args.quick,
                    preset=args.preset, seed=args.seed, identification=not args.no_identification,
                    params=parse_params(args.param), folds=parse_folds(args.folds), threshold=args.threshold,
                    overwrite=args.overwrite, fit_data=args.fit_data)
    if args.jobs is None:
        compare(names, progress=not args.no_progress, **settings)
    else:
        compare_folds_in_parallel(names, jobs=args.jobs, **settings)
    return 0


def cmd_methods(args) -> int:
    from . import methods

    from . import presets

    names = methods.available()
    width = max(map(len, names))
    for name in names:
        s = methods.spec(name)
        print(f"{name:{width}s}  {s.kind:10s} {'*' if s.default else ' '} {s.summary}")
        for preset in presets.presets_of(name).values():
            default = " (default)" if preset.name == presets.DEFAULT else ""
            print(f"{'':{width}s}    --preset {preset.name}{default}: {preset.summary}")
            if preset.reported:
                print(f"{'':{width}s}      measured: {preset.reported}")
    print("\n* = run by `facelab compare` when no --methods is given")
    print(f"--preset picks a training recipe ({', '.join(presets.BUDGETS)}; default {presets.DEFAULT}); "
          "--param KEY=VALUE changes one value of it")
    return 0


def cmd_data(args) -> int:
    from .data import find_lfw, resolve_data_root

    if args.action == "locate":
        layout = find_lfw(args.data_dir)
        print(f"{layout.describe()}; protocol files in {layout.root}")
    elif args.action == "counts":
        from .data import LFW

        lfw = LFW(args.data_dir, progress=False)
        counts = lfw.layout.counts()
        pairs = lfw.pairs("view2")
        counts.update({"view2_pairs": len(pairs), "view2_folds": int(len(set(pairs.fold.tolist()))),
                       "view1_train_pairs": len(lfw.pairs("view1-train")),
                       "view1_test_pairs": len(lfw.pairs("view1-test"))})
        print(f"{lfw.layout.describe()}")
        print(json.dumps(counts, indent=2))
    elif args.action == "verify":
        from .data.download import verify_manifest

        layout = find_lfw(args.data_dir)
        report = verify_manifest(layout.root, progress=not args.no_progress)
        print(report.summary())
        return 0 if report.ok else 1
    elif args.action == "download" and args.dataset == "att":
        from .data.att import download_att

        root = download_att(resolve_data_root(args.data_dir), url=args.url, progress=not args.no_progress)
        print(f"the AT&T/ORL faces ready at {root}, split into LFW's protocol; use it as the data root "
              f"(--data-dir {root})")
    elif args.action == "download":
        from .data.download import download_lfw

        root = download_lfw(resolve_data_root(args.data_dir), base_url=args.url, progress=not args.no_progress)
        print(f"LFW ready at {root}")
    elif args.action == "split":
        from .data.folder import split_folder

        if not args.photos:
            raise ValueError("facelab data split needs PHOTOS, a folder with one sub-folder of photos per person")
        done = split_folder(args.photos, args.out, folds=args.folds, pairs=args.pairs, seed=args.seed)
        for line in done.summary.report():
            print(line, file=sys.stderr)
        kind = "the AT&T/ORL faces" if done.variant == "att" else "a face folder"
        print(f"{kind}: {done.people} people, {done.images} photos ({done.faces_not_found} without a face the "
              f"detector found, framed by the average face box); View 2: {done.folds} folds of "
              f"{done.pairs_per_fold} + {done.pairs_per_fold} pairs; View 1: {done.view1_pairs[0]} + "
              f"{done.view1_pairs[0]} training and {done.view1_pairs[1]} + {done.view1_pairs[1]} test pairs. "
              f"Protocol written to {done.root}; use it as the data root (--data-dir {done.root})")
    elif args.action == "pack":
        from . import methods
        from .data import LFW
        from .data.pack import pack_lfw

        if not args.out:
            raise ValueError("facelab data pack needs --out DIR (a new folder for the packed copy)")
        configs, tables = methods.pack_contents(methods.resolve_names("deep" if args.methods is None else args.methods),
                                                args.preset)
        out = pack_lfw(LFW(args.data_dir, progress=not args.no_progress), args.out, configs, tables)
        size = sum(f.stat().st_size for f in out.iterdir()) / 2 ** 20
        print(f"packed LFW ({len(configs)} preprocessing config(s), {len(tables)} memo table(s)) into {out}: "
              f"{size:.1f} MiB; "
              f"use it as the data root (--data-dir {out} or FACELAB_DATA={out})")
    return 0


def cmd_train(args) -> int:
    from .nets.train_cli import train_method

    params = parse_params(args.param)
    if args.devices is not None:
        params["devices"] = args.devices
    record = train_method(args.method, args.out, data_dir=args.data_dir, people=args.people, quick=args.quick,
                          preset=args.preset, seed=args.seed, epochs=args.epochs, params=params,
                          progress=not args.no_progress)
    print(json.dumps(record, indent=2, default=str))
    return 0


def cmd_disentangle(args) -> int:
    from .evaluation.disentanglement import disentangle, to_json

    result = disentangle("quick" if args.quick else args.preset, protocol=args.protocol, data_dir=args.data_dir,
                         run_dir=args.run_dir, out=args.out, seed=args.seed, command=args.command_line,
                         params=parse_params(args.param), reference=args.reference)
    print(to_json(result))
    return 0


def cmd_figures(args) -> int:
    from .figures import make_figures

    units = args.units.split(",") if args.units else None
    make_figures(args.out, units, data_dir=args.data_dir, seed=args.seed, quick=args.quick, run_dir=args.run_dir)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facelab", description="Face recognition on LFW, classical to deep, "
                                     "on one evaluation protocol.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = add_command(sub, "compare",
                    example="facelab compare --methods deepid --protocol view1 --preset class --out results/deepid-view1",
                    help="run methods on the same LFW splits; write results.json/.md and roc.png",
                    description="Evaluate methods on LFW (View 2: 10 folds, unrestricted, no outside data; "
                    "View 1: dev split) plus closed/open-set and few-shot identification on View 1's test people.")
    p.add_argument("--methods", default=None,
                   help="comma-separated method names, kinds (classical, deep, generative) or 'all', "
                   "e.g. 'deep,lbp+jb' (default: the fast classical methods, starred by `facelab methods`)")
    p.add_argument("--protocol", choices=["view2", "view1"], default="view2")
    add_data_dir(p)
    p.add_argument("--out", default="results", help="output folder (default: ./results)")
    p.add_argument("--preset", default=None,
                   help="each method's training recipe: quick, class (default) or full; `facelab methods` lists them")
    p.add_argument("--quick", action="store_true",
                   help="the quick preset: a few batches that prove the path (the test suite); --param epochs=N is kept")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-identification", action="store_true", help="skip CMC / open-set / few-shot")
    p.add_argument("--folds", default=None, metavar="K,K-K,...",
                   help="View 2 folds to run, 1-based, e.g. 1-10 or 1,3 (default: all ten; fewer only for quick looks)")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="View 2: run the folds as N processes at once (sharing the CPU cores or the GPU); each fold's "
                   "results go to OUT/folds/fold-K and are merged into OUT/results.json")
    p.add_argument("--param", action="append", metavar="KEY=VALUE",
                   help="extra argument for every method's constructor, JSON value (e.g. --methods lbp --param pca_dim=100); "
                        "for choosing settings on View 1")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the results of another comparison in --out (only once the new ones are complete); "
                   "without it such a folder is refused, results of the same protocol and settings are joined, "
                   "and an interrupted run resumes from the methods it finished")
    p.add_argument("--threshold", choices=["train", "held-out"], default="train",
                   help="View 2: choose each fold's threshold on the nine training folds' pairs (LFW's rule, default) "
                        "or on one training fold held out of fitting")
    p.add_argument("--fit-data", default=None, metavar="DIR",
                   help="fit every method once on the View 1 training people of this other data root (e.g. LFW) and "
                   "test on --data-dir's folds (e.g. a split AT&T or photo folder): what carries to new faces")
    p.add_argument("--no-progress", action="store_true",
                   help="print no training settings, per-epoch losses or progress bars")
    p.set_defaults(func=cmd_compare)

    p = add_command(sub, "methods", example="facelab methods", help="list the registered methods")
    p.set_defaults(func=cmd_methods)

    p = add_command(sub, "train", example="facelab train deepid --quick --out runs/deepid-quick",
                    help="train one deep method on LFW training people (resumes if interrupted)",
                    description="Train a deep method and save model.keras, TensorBoard logs and train.json in --out. "
                    "Running the same command again after an interruption resumes from the last checkpoint; "
                    "with more --epochs it continues a finished run. One --out folder holds one method.")
    p.add_argument("method", help="a deep method name (see `facelab methods`)")
    p.add_argument("--out", required=True, help="run folder")
    add_data_dir(p)
    p.add_argument("--people", choices=["view1", "all"], default="view1",
                   help="train on View 1's training people (default) or on every LFW image (not for View 2 numbers)")
    p.add_argument("--epochs", type=int, default=None,
                   help="epochs to train (default: the method's; kept with --quick)")
    p.add_argument("--param", action="append", metavar="KEY=VALUE",
                   help="extra method argument, JSON value (e.g. --param backbone='\"resnet\"' --param batch_size=128)")
    p.add_argument("--preset", default=None,
                   help="the method's training recipe: quick, class (default) or full; `facelab methods` lists them")
    p.add_argument("--quick", action="store_true",
                   help="the quick preset: few epochs (unless --epochs says) of a few batches")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--devices", type=parse_devices, default=None, metavar="N|all",
                   help="train on N devices (or all there are), one replica each, the batch split evenly: "
                        "keras.distribution.DataParallel under JAX, tf.distribute.MirroredStrategy under TensorFlow")
    p.add_argument("--no-progress", action="store_true",
                   help="print no training settings, per-epoch losses or progress bars")
    p.set_defaults(func=cmd_train)

    add_report_parser(sub)

    p = add_command(sub, "disentangle", example="facelab disentangle --quick --out gan-quick.json",
                    help="measure the GAN disentangler on LFW: verification per sub-vector, reconstruction, pose, "
                    "identity transfer (JSON)",
                    description="Train the GAN disentangler on each training split of --protocol and print, as JSON, "
                    "verification with each sub-vector of its code (Table 2 of Browatzki & Wallraven), "
                    "reconstruction RMSE, pose error and identity transfer on the last split's test people.")
    p.add_argument("--preset", choices=BUDGETS, default="full",
                   help="the method's preset (see `facelab methods`): quick, the test suite's tiny networks; "
                        "class, the lecture figures' CPU budget (32×32, 6+30+3 epochs); full (default), 64×64, "
                        "20+40+10 epochs, a GPU job")
    p.add_argument("--quick", action="store_true", help="same as --preset quick")
    p.add_argument("--protocol", default="view1", choices=("view1", "view2"))
    add_data_dir(p)
    p.add_argument("--run-dir", default=None, help="checkpoints per stage (a killed run resumes)")
    p.add_argument("--out", default=None, help="also write the JSON here (atomically)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--param", action="append", metavar="KEY=VALUE",
                   help="one setting on top of the preset, JSON value (e.g. --param encoder_in_stage2=false "
                        "--param epochs=[6,3,3])")
    p.add_argument("--reference", default=None, metavar="METHOD",
                   help="also measure how often this registered method (e.g. lbp+jb), fitted on the same training "
                        "people and reading the same faces, identifies the real source faces of identity transfer's "
                        "draws: f_id's ceiling beside another recogniser's")
    p.set_defaults(func=cmd_disentangle)

    p = add_command(sub, "figures", example="facelab figures --units 01_tasks_and_evaluation --quick --out figures",
                    help="regenerate the lecture figures from the real data")
    p.add_argument("--units", default=None, help="comma-separated lecture units (default: all)")
    p.add_argument("--out", default="lectures/figures")
    add_data_dir(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--run-dir", default=None, help="where the GAN disentangler trains; a finished training there "
                   "(e.g. by `facelab disentangle --preset class --protocol view1 --run-dir` with the same folder) "
                   "is read back instead of trained again")
    p.set_defaults(func=cmd_figures)

    p = add_command(sub, "data", example="facelab data verify",
                    help="locate, download, verify, count or pack LFW; split a folder of faces into LFW's protocol",
                    description="pack: write the protocol files and the preprocessed arrays that --methods need "
                    "(default: every deep method) into --out, a data root for a machine without the JPEGs. "
                    "split PHOTOS: give a folder with one sub-folder per person (AT&T's s1 … s40 too) LFW's "
                    "protocol files, drawn by person from --seed, so that it (or --out) is a data root for "
                    "compare, train and the notebooks.")
    p.add_argument("action", choices=["locate", "download", "verify", "counts", "pack", "split"])
    p.add_argument("photos", nargs="?", default=None, help="split: the folder of people's photos (PHOTOS/NAME/photo.jpg)")
    add_data_dir(p)
    p.add_argument("--out", default=None, help="pack: the folder to write; split: where the protocol files go "
                   "(default: the photos folder itself)")
    p.add_argument("--folds", type=int, default=10, help="split: View 2 folds (default 10, as LFW)")
    p.add_argument("--pairs", type=int, default=300,
                   help="split: at most this many matched and as many mismatched pairs per fold (default 300, as LFW)")
    p.add_argument("--seed", type=int, default=0, help="split: the seed that deals people into folds and draws pairs")
    p.add_argument("--methods", default=None, help="pack: methods (names or kinds, as for compare) whose preprocessing to include "
                   "(default: deep)")
    p.add_argument("--preset", default="full",
                   help="pack: the preset whose preprocessing to include (default full, what a GPU machine runs)")
    p.add_argument("--dataset", choices=["lfw", "att"], default="lfw",
                   help="download: LFW (default) or the AT&T/ORL faces (40 people × 10, each image checked against its "
                   "published sha256, then split into LFW's protocol)")
    p.add_argument("--url", default=None, help="download: base URL of LFW (default: $FACELAB_LFW_URL or the official "
                   "site), or the AT&T archive's URL (default: $FACELAB_ATT_URL or its published address)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_data)

    add_assignment_parser(sub)
    add_wild_parsers(sub)
    return parser


def _command_line(argv) -> str:
    """The ``facelab ...`` command line that ran (``argv``, else the process's arguments), quoted for a shell."""
    import shlex

    return shlex.join(["facelab", *(sys.argv[1:] if argv is None else map(str, argv))])


def _error_text(exc: BaseException, argv) -> str:
    """What the catch-all prints. A KeyError from a failed lookup carries only the key, and a JSON
    error only a position, so both say where the lookup was and which command's input lacked it; an
    OSError (a full disk, a missing file) names its file."""
    import traceback

    command = _command_line(argv)
    if isinstance(exc, KeyError):
        key = exc.args[0] if exc.args else None
        if isinstance(key, str) and len(key.split()) >= 3:  # raised with a sentence: it says what is wrong
            return key
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        return (f"missing key {key!r}, looked up by {frame.name} ({Path(frame.filename).name} line {frame.lineno}) "
                f"in what `{command}` read")
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON ({exc}) in a file that `{command}` read"
    if isinstance(exc, OSError) and exc.filename is not None:
        also = f" and {exc.filename2}" if exc.filename2 is not None else ""
        return f"{exc.filename}{also}: {exc.strerror or exc}"
    return str(exc)


def main(argv=None) -> int:
    import os

    # TensorFlow's C++ start-up chatter (no CUDA on a laptop, oneDNN notes) is not for students;
    # set TF_CPP_MIN_LOG_LEVEL yourself to see it. Python-level errors are unaffected.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    args = build_parser().parse_args(argv)
    args.command_line = _command_line(argv)  # what a command that records its own line writes
    from .data.errors import DataError

    try:
        return args.func(args)
    except (DataError, KeyError, ValueError, OSError) as exc:
        print(f"facelab {args.command}: error: {_error_text(exc, argv)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
