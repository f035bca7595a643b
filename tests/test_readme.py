"""The front page and the results records show numbers that facelab wrote, never typed ones: every
table is regenerated here from the committed results.json files and must match what is shown, and
so is the one command beside each row that makes its settings again from a preset."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from facelab.evaluation.readme_blocks import reproducing_lines, summary_table
from facelab.evaluation.report import markdown_table

ROOT = Path(__file__).resolve().parents[1]


def test_readme_summary_is_the_one_facelab_report_writes_from_the_records():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert summary_table(ROOT / "reports", ROOT) in text


@pytest.mark.parametrize("page, at_least", [("reports/README.md", 10), ("README.md", 1),
                                           ("lectures/06_gan_disentangler.md", 2), ("lectures/07_your_own_faces.md", 2),
                                           ("lectures/03_siamese_deepid.md", 1),
                                           ("lectures/05_grouped_vae.md", 1)])
def test_every_results_block_matches_its_results_file(page, at_least):
    text = (ROOT / page).read_text(encoding="utf-8")
    blocks = re.findall(r"<!-- results:([\w.-]+):begin -->\n(.*?)<!-- results:\1:end -->", text, flags=re.S)
    assert len(blocks) >= at_least
    for name, body in blocks:
        if body.startswith("Printed by `facelab report --runs "):
            continue  # a table across several records: its command runs again in the test below
        source = re.search(rf"filled in by `facelab report (\S+) --readme {re.escape(page)} --block ([\w.-]+)`", body)
        assert source and source.group(2) == name, f"block {name}: no 'filled in by' line naming it"
        results = json.loads((ROOT / source.group(1)).read_text(encoding="utf-8"))
        assert markdown_table(results).split("\n", 2)[2] in body, f"block {name} differs from {source.group(1)}"
        assert reproducing_lines(results) in body, f"block {name}: its commands are not those the presets give now"


def _printed_blocks(pages, command_pattern: str):
    """``(page, block name, block text, the match of command_pattern, its argv before --readme)`` of every
    results block of ``pages`` that starts with a command matching ``command_pattern`` (group 1: the command
    line); the command must name the page and the block it fills."""
    import shlex

    for page in pages:
        text = page.read_text(encoding="utf-8")
        for name, body in re.findall(r"<!-- results:([\w.-]+):begin -->\n(.*?)<!-- results:\1:end -->", text, flags=re.S):
            command = re.match(command_pattern, body)
            if not command:
                continue
            argv = shlex.split(command.group(1))
            at = argv.index("--readme")
            assert argv[at + 1:at + 4] == [str(page.relative_to(ROOT)), "--block", name], f"{page}: block {name}"
            yield page, name, body, command, argv[:at] + argv[at + 4:]


def test_every_table_of_several_runs_is_the_one_its_command_prints(capsys, monkeypatch):
    """Blocks made by ``facelab report --runs`` (a table across runs) carry their command line: it is run
    again here, from the repository root, and must print the table shown."""
    from facelab.cli import main

    monkeypatch.chdir(ROOT)
    pages = [ROOT / "README.md", *sorted((ROOT / "lectures").glob("*.md")), *sorted((ROOT / "reports").rglob("*.md"))]
    checked = 0
    for page, name, body, command, argv in _printed_blocks(pages, r"Printed by `facelab (report --runs .*?)`\.\n\n"):
        assert main(argv) == 0
        assert body == command.group(0) + capsys.readouterr().out, f"{page}: block {name} is not what it prints"
        checked += 1
    assert checked >= 10


def test_every_benchmark_table_is_the_one_its_benchmark_prints_from_its_record():
    """Blocks printed by a benchmark's ``--table`` (a speed record's medians) carry their command line: it is
    run again here without ``--readme``, and must print the table shown."""
    import subprocess
    import sys

    checked = 0
    pages = sorted((ROOT / "reports").rglob("*.md"))
    for page, name, body, _, argv in _printed_blocks(pages, r"Printed by `python (benchmarks/\S+\.py --table .*?)`\.\n"):
        run = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, check=True)
        shown = body.replace(f" --readme {page.relative_to(ROOT)} --block {name}`", "`", 1)
        assert shown == run.stdout, f"{page}: block {name} is not what its benchmark prints"
        checked += 1
    assert checked >= 2


def test_front_page_commands_use_the_users_python_and_check_it_first():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- ci:begin -->", 1)[1].split("<!-- ci:end -->", 1)[0]
    first = [line for line in block.splitlines() if line.startswith("python")][0]
    assert first.startswith("python3 scripts/check_python.py && python3 -m venv .venv")
    assert "../shared" not in text and not re.search(r"issues? #?\d", text, flags=re.I)


def test_a_produced_by_line_names_where_the_record_lies_not_a_scratch_folder():
    from facelab.evaluation.readme_blocks import portable_command

    record = "reports/cpu/gan-view1-class/results.json"
    moved = portable_command("facelab disentangle --preset class --run-dir /scratch/gan/run-e30 "
                             "--param 'epochs=[6,30,3]' --out /scratch/gan/e30.json", record)
    assert moved == ("facelab disentangle --preset class --run-dir runs/run-e30 "
                     "--param 'epochs=[6,30,3]' --out reports/cpu/gan-view1-class/results.json")
    assert portable_command("facelab compare --methods lbp --out reports/old-name", "reports/new/results.json") \
        == "facelab compare --methods lbp --out reports/new"
    typed = 'facelab compare --methods lbp --param run_dir="runs/x" --out reports/new'
    assert portable_command(typed, "reports/new/results.json") == typed  # nothing to move: kept as typed


@pytest.mark.parametrize("page", ["README.md", "reports/README.md", *sorted(
    str(p.relative_to(ROOT)) for p in (ROOT / "lectures").glob("*.md"))])
def test_generated_lines_name_no_absolute_path(page):
    """A reader can type every generated command: no scratch folder of the machine that ran it."""
    text = (ROOT / page).read_text(encoding="utf-8")
    generated = [line for line in text.splitlines()
                 if line.startswith(("Produced by `", "Method arguments: ", "Arguments of "))]
    assert generated or page.startswith("lectures/")
    for line in generated:
        assert not line.startswith("Produced by ``"), f"{page}: a block that names no command"
        assert not re.search(r"[\s'=]/(?:tmp|work|home|scratch)/", line), f"{page}: {line[:120]}"
