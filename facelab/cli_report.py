"""``facelab report``: results files as tables, merged folds, tables across runs, README blocks filled.
Argument parsing and printing only; the work is in :mod:`facelab.evaluation`."""
from __future__ import annotations

import json
from pathlib import Path

from .cli_commands import add_command


def cmd_report(args) -> int:
    from .evaluation.readme_blocks import update_readme, update_summary
    from .evaluation.report import is_disentangle_result, is_few_shot_result, markdown_table, merge_results, read_results

    if args.runs:
        if args.results or args.merge or args.summary:
            raise ValueError("--runs makes a table of its own: give it without a results.json, --merge or --summary")
        return _report_runs(args)
    if args.merge:
        if not args.out:
            raise ValueError("--merge needs --out DIR for the merged results folder")
        merged = merge_results(args.merge, args.out, log=print)
        print(markdown_table(merged))
        return 0
    if args.summary:
        if not args.readme:
            raise ValueError("--summary needs --readme FILE, the Markdown file whose summary block to fill")
        update_summary(args.readme, args.summary)
        print(f"updated the summary block of {args.readme} from the records under {args.summary}")
        return 0
    if not args.results:
        raise ValueError("give a results.json (or --merge DIR ... --out DIR, or --summary DIR --readme FILE)")
    results = json.loads(Path(args.results).read_text())
    if args.figure and not is_few_shot_result(results):
        raise ValueError(f"--figure draws few-shot results (python -m facelab.evaluation.vae_few_shot); {args.results} "
                         "is not one (a facelab compare folder has its own roc.png)")
    if not is_few_shot_result(results) and not is_disentangle_result(results):
        results = read_results(args.results)  # a compare results file: checked against the files beside it
    if args.readme:
        update_readme(args.readme, args.results, args.produced_by, block=args.block, results=results)
        print(f"updated the results block of {args.readme} from {args.results}")
    else:
        print(markdown_table(results))
    if args.figure:
        from . import io
        from .evaluation import vae_few_shot

        io.save_figure(vae_few_shot.figure(results), args.figure, dpi=120)
        print(f"wrote {args.figure}")
    return 0


def _report_runs(args) -> int:
    """``facelab report --runs``: several records as one table, printed or filled into a README block."""
    from .evaluation.readme_blocks import fill_results_block
    from .evaluation.records import expand_runs, runs_table

    epochs = [int(e) for e in args.epochs.split(",")] if args.epochs else None
    table = runs_table(expand_runs(args.runs), per_fold=args.per_fold,
                       against=expand_runs(args.against) if args.against else None, epochs=epochs,
                       keys=args.keys.split(",") if args.keys else None)
    if not args.readme:
        print(table, end="")
        return 0
    fill_results_block(args.readme, args.block, f"Printed by `{args.command_line}`.\n\n{table}")
    print(f"updated the {args.block or 'results'} block of {args.readme}")
    return 0


def add_parser(sub) -> None:
    p = add_command(sub, "report", example="facelab report results/eigenfaces-view1/results.json",
                    help="print a results.json (or several runs, --runs) as a table, or fill a README block with it")
    p.add_argument("results", nargs="?", help="a results.json written by `facelab compare`")
    p.add_argument("--runs", nargs="+", metavar="RUN", default=None,
                   help="results folders or files (or quoted glob patterns) to print as one table, a row per run "
                   "and method, with the --seed, --threshold and --param values in which they differ")
    p.add_argument("--per-fold", action="store_true", help="with --runs: each fold's accuracy too")
    p.add_argument("--against", nargs="+", metavar="RUN", default=None,
                   help="with --runs: one run per run (the same methods); print the differences from it")
    p.add_argument("--epochs", default=None, metavar="E,E,...",
                   help="with --runs: the training history (history.json) at these 1-based epochs")
    p.add_argument("--keys", default=None, metavar="KEY,KEY,...",
                   help="with --epochs: which history values (default: loss and the triplet mining statistics "
                   "frac_easy, frac_hard, spread)")
    p.add_argument("--merge", nargs="+", metavar="DIR", default=None,
                   help="results folders of runs over disjoint View 2 folds (compare --folds K) to join into --out")
    p.add_argument("--out", default=None, help="with --merge: the merged results folder")
    p.add_argument("--readme", default=None, help="README to update between <!-- results:begin/end --> markers")
    p.add_argument("--command", dest="produced_by", default=None,
                   help="the command that produced the results, quoted in the README (default: the one the record "
                        "keeps, else the one the block already shows)")
    p.add_argument("--block", default=None, help="which results block of the README (<!-- results:NAME:begin -->); default the main one")
    p.add_argument("--summary", default=None, metavar="DIR",
                   help="with --readme: fill its <!-- summary:begin/end --> block with each method family's best "
                   "View 2 record among the results.json files under DIR")
    p.add_argument("--figure", default=None, metavar="PNG",
                   help="also draw a few-shot results file (accuracy against N) into this image")
    p.set_defaults(func=cmd_report)
