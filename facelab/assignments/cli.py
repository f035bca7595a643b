"""``facelab assignment {list,start,check,run}``: argument parsing, then calls (no logic here
beyond choosing files and printing)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from ..cli_commands import add_command, add_data_dir
from .grading import CHECK_TIMEOUT_S
from .registry import get, names


def _student_file(assignment, file):
    return Path(file) if file else Path(assignment.student_file)


def cmd_list(args) -> int:
    for name in names():
        a = get(name)
        print(f"{name:18s} unit {a.unit}  {a.total_points:3d} pts  {a.title}")
        print(f"{'':18s}         implement: {', '.join(a.functions)}")
    return 0


def cmd_start(args) -> int:
    a = get(args.name)
    target = Path(args.dir) / a.student_file
    if target.exists():
        print(f"facelab assignment start: error: {target} already exists; not overwriting your work "
              f"(move it away or use --dir)", file=sys.stderr)
        return 2
    from .. import io

    io.write_text(target, a.template.read_text(encoding="utf-8"))
    print(f"wrote {target}: implement {', '.join(a.functions)} between the YOUR CODE markers, then run\n"
          f"  facelab assignment check {a.name} --file {target}")
    return 0


def cmd_check(args) -> int:
    from . import grade

    a = get(args.name)
    report = grade(a, _student_file(a, args.file), timeout_s=args.timeout)
    print(report.format())
    return 0 if report.passed else 1


def cmd_run(args) -> int:
    from .. import io
    import traceback

    from ..data import LFW
    from . import grade
    from .grading import load_student

    a = get(args.name)
    path = _student_file(a, args.file)
    if not path.is_file():
        print(f"facelab assignment run: error: {path} does not exist (create it with "
              f"`facelab assignment start {a.name}`)", file=sys.stderr)
        return 2
    report = grade(a, path)  # milliseconds: catch unfinished files before loading any data
    unfinished = sorted({r.check.function for r in report.results if "not implemented yet" in r.message})
    if unfinished:
        print(f"facelab assignment run: error: not implemented yet in {path}: {', '.join(unfinished)}",
              file=sys.stderr)
        return 1
    if not report.passed:
        print(f"warning: {len(report.failed())} autograder check(s) fail ({report.score}/{report.total}); "
              f"the numbers below use your code as it is. See `facelab assignment check {a.name}`.", file=sys.stderr)
    student = load_student(path)
    lfw = LFW(args.data_dir, progress=False)
    t0 = time.perf_counter()
    try:
        numbers = a.run(student, lfw=lfw, quick=args.quick, seed=args.seed)
    except Exception as exc:  # the student's code failed on real data: say where, point at the grader
        last = traceback.extract_tb(exc.__traceback__)[-1]
        print(f"facelab assignment run: error: {type(exc).__name__}: {exc} "
              f"(line {last.lineno} of {Path(last.filename).name})\n"
              f"  run `facelab assignment check {a.name} --file {path}` for a diagnosis", file=sys.stderr)
        return 1
    result = {"assignment": a.name, "unit": a.unit, "student_file": str(path), "quick": args.quick,
              "seed": args.seed, "data": lfw.layout.describe(), **numbers,
              "seconds": round(time.perf_counter() - t0, 3)}
    out = Path(args.out) / f"assignment-{a.name}.json"
    io.write_json(out, result)
    for line in run_summary(numbers):
        print(line)
    print(f"wrote {out}")
    return 0


def run_summary(numbers: dict) -> list[str]:
    """A few lines that show the student's code at work: the loss it trained, and the test accuracy
    before and after that training beside the reference solution's."""
    lines = []
    training = numbers.get("training") or {}
    history = training.get("loss_history") or []
    if len(history) > 1:
        lines.append(f"training loss with your code: {history[0]:.4f} → {history[-1]:.4f} over {len(history) - 1} steps")
    accuracy = numbers.get("test_accuracy") or {}
    if {"before", "after"} <= set(accuracy):
        pairs = f" on {accuracy['pairs']} View 1 test pairs" if "pairs" in accuracy else ""
        reference = (f" (the reference solution: {100 * accuracy['reference_after']:.1f} %)"
                     if "reference_after" in accuracy else "")
        lines.append(f"test accuracy{pairs}: {100 * accuracy['before']:.1f} % before training → "
                     f"{100 * accuracy['after']:.1f} % after{reference}")
    return lines


def add_parser(subparsers) -> None:
    """Register ``facelab assignment ...`` on the main parser's subparsers."""
    p = add_command(subparsers, "assignment", example="facelab assignment list",
                    help="course assignments: list, start, check (autograder), run on LFW")
    sub = p.add_subparsers(dest="assignment_command", required=True)

    q = add_command(sub, "list", example="facelab assignment list", help="the assignments, one per course unit")
    q.set_defaults(func=cmd_list)

    q = add_command(sub, "start", example="facelab assignment start triplet-mining --dir mywork",
                    help="copy the student template into a folder (never overwrites)")
    q.add_argument("name", choices=names())
    q.add_argument("--dir", default=".", help="folder to write <name>.py into (default: .)")
    q.set_defaults(func=cmd_start)

    q = add_command(sub, "check", example="facelab assignment check triplet-mining --file mywork/triplet_mining.py",
                    help="autograde your functions: score and a hint per failure (exit 1 if any fail)")
    q.add_argument("name", choices=names())
    q.add_argument("--file", default=None, help="your file (default: ./<name>.py, dashes as underscores)")
    q.add_argument("--timeout", type=float, default=CHECK_TIMEOUT_S, metavar="SECONDS",
                   help=f"stop and fail a check that runs longer (default {CHECK_TIMEOUT_S:g})")
    q.set_defaults(func=cmd_check)

    q = add_command(sub, "run",
                    example="facelab assignment run triplet-mining --file mywork/triplet_mining.py --quick",
                    help="train/evaluate with your code on real LFW data; write a results JSON")
    q.add_argument("name", choices=names())
    q.add_argument("--file", default=None, help="your file (default: ./<name>.py, dashes as underscores)")
    add_data_dir(q)
    q.add_argument("--out", default="results/assignments", help="output folder (default: results/assignments)")
    q.add_argument("--quick", action="store_true",
                   help="a seeded subset that proves the code runs (seconds; numbers barely move); "
                   "without it, the class budget: a minute or two on a laptop CPU, enough to see learning")
    q.add_argument("--seed", type=int, default=0)
    q.set_defaults(func=cmd_run)
