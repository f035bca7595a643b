"""Wall time of each notebook at a training budget, beside this machine's training speed.

Executes every notebook (or those named) end to end with ``FACELAB_BUDGET`` set, one after the other,
and records each one's wall time and whether it finished. The machine's training speed (images/s
of the small CNN at 64×64, ``bench_training.py``'s Keras 3 variant) is measured in the same run, so
that a teacher with a slower laptop can scale the minutes: minutes there ≈ minutes here × (images/s
here ÷ images/s there). A measured report, not a timed test.

    PYTHONPATH=. python benchmarks/notebooks_at_budget.py --budget class [--notebooks 03,07] \\
        [--out reports/cpu/notebooks-class/results.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def training_speed(rounds: int = 3, steps: int = 20) -> float:
    """Median images/s of the small CNN at 64×64 (bench_training.py, Keras 3 with fused batch norm)."""
    with_out = ROOT / "results" / "bench-training-for-notebooks.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_training.py"), "--rounds", str(rounds),
                    "--steps", str(steps), "--variants", "keras3_fused", "--out", str(with_out)],
                   check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True)
    measured = json.loads(with_out.read_text())
    return float(measured["images_per_second_median"]["keras3_fused"])


def run_notebook(path: Path, budget: str, timeout_s: int) -> dict:
    """Execute ``path`` with nbclient in a fresh kernel; its wall time and how it ended."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    os.environ["FACELAB_BUDGET"] = budget
    os.environ.pop("FACELAB_QUICK", None)
    client = NotebookClient(notebook, timeout=timeout_s, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    try:
        client.execute()
        error = None
    except Exception as exc:  # noqa: BLE001 — a failing notebook is a measured outcome, not a crash of the script
        error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
    return {"notebook": path.name, "minutes": round((time.perf_counter() - start) / 60, 2), "error": error}


def main(argv=None) -> int:
    from facelab import io

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", default="class", choices=("quick", "class", "full"))
    ap.add_argument("--notebooks", default=None, help="comma-separated prefixes, e.g. 03,07 (default: all)")
    ap.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    ap.add_argument("--out", default=None, help="write the results as JSON here (atomically)")
    args = ap.parse_args(argv)
    paths = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if args.notebooks:  # in the order given
        by_prefix = {p.name.split("_")[0]: p for p in paths}
        unknown = [w for w in args.notebooks.split(",") if w not in by_prefix]
        if unknown:
            ap.error(f"--notebooks: no notebook numbered {', '.join(unknown)} (there are {', '.join(sorted(by_prefix))})")
        paths = [by_prefix[w] for w in args.notebooks.split(",")]
    speed = training_speed()
    print(f"training speed here: {speed:.0f} images/s (small CNN, 64×64, batch 64)", flush=True)
    machine = f"{platform.machine()}, {os.cpu_count()} cores"
    command = " ".join(["python benchmarks/notebooks_at_budget.py", *(argv or sys.argv[1:])])
    result = {"budget": args.budget, "machine": machine, "notebooks": []}
    if args.out and Path(args.out).exists():  # rows of other notebooks measured earlier at this budget stay
        earlier = json.loads(Path(args.out).read_text())
        if earlier.get("budget") == args.budget and earlier.get("machine") == machine:
            result["notebooks"] = [r for r in earlier["notebooks"] if r["notebook"] not in {p.name for p in paths}]
    for path in paths:
        row = {**run_notebook(path, args.budget, args.timeout), "images_per_second": round(speed, 1), "command": command}
        result["notebooks"].append(row)
        print(f"{row['notebook']:36s} {row['minutes']:6.2f} min  {row['error'] or 'ok'}", flush=True)
        if args.out:  # each finished notebook is kept, even if a later one is interrupted
            io.write_json(args.out, result)
    return 0 if all(r["error"] is None for r in result["notebooks"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
