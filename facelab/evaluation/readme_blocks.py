"""The generated blocks of a Markdown file (the README): a results table between
``<!-- results:begin/end -->`` markers with the one command per row that makes it again, and the
summary of the best View 2 record of each method family. Numbers in a README are written by these,
never typed."""
from __future__ import annotations

from pathlib import Path

from .. import io
from .report import is_disentangle_result, is_few_shot_result, markdown_table, pct


RESULTS_BEGIN, RESULTS_END = "<!-- results:begin -->", "<!-- results:end -->"


def _markers(block: str | None, kind: str = "results") -> tuple[str, str]:
    return (f"<!-- {kind}:begin -->", f"<!-- {kind}:end -->") if not block else \
        (f"<!-- {kind}:{block}:begin -->", f"<!-- {kind}:{block}:end -->")


def _text_with_block(readme: str | Path, begin: str, end: str) -> str:
    """The text of ``readme``, which must hold the ``begin`` … ``end`` block."""
    text = Path(readme).read_text(encoding="utf-8")
    if begin not in text or end not in text:
        raise ValueError(f"{readme} has no {begin} … {end} block to fill")
    return text


def fill_block(readme: str | Path, begin: str, end: str, content: str) -> Path:
    """Replace what stands between the ``begin`` and ``end`` markers of ``readme`` with ``content``
    (atomically): the one way a generated table enters a Markdown file."""
    readme = Path(readme)
    text = _text_with_block(readme, begin, end)
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return io.write_text(readme, f"{head}{begin}\n{content}{end}{tail}")


def fill_results_block(readme: str | Path, block: str | None, content: str) -> Path:
    """Fill the results block ``block`` of ``readme`` (``<!-- results:NAME:begin -->``; the main one when
    ``None``) with ``content``."""
    return fill_block(readme, *_markers(block), content)


def update_readme(readme: str | Path, results_json: str | Path, command: str | None = None,
                  block: str | None = None, results: dict | None = None) -> Path:
    """Replace the block between the results markers of ``readme`` with the table of
    ``results_json`` and the command that produced it — README numbers are never typed in.
    The command is the one the record keeps, else ``command``, else the one the block already shows
    (so filling a block again loses nothing). ``block`` names one of several blocks
    (``<!-- results:NAME:begin -->``); ``results``: the file's contents when the caller has already read them."""
    import json
    import re

    if results is None:
        results = json.loads(Path(results_json).read_text(encoding="utf-8"))
    command = results.get("command") or command
    if not command:
        begin, end = _markers(block)
        text = _text_with_block(readme, begin, end)
        shown = re.search(re.escape(begin) + r"\nProduced by `(.+?)` on ", text)
        if shown is None:
            raise ValueError(f"{results_json} records no command and the block {begin} of {readme} shows none: "
                             "name the command that produced it (--command)")
        command = shown.group(1)
    command = portable_command(command, results_json)
    table = markdown_table(results).split("\n", 2)[2]  # drop the title line: the README has its own heading
    option = f" --block {block}" if block else ""
    return fill_results_block(readme, block,
                              f"Produced by `{command}` on {results['device']}; "
                              f"filled in by `facelab report {results_json} --readme {readme}{option}`.\n"
                              f"{reproducing_lines(results)}{table}")


def portable_command(command: str, results_json: str | Path) -> str:
    """``command`` as a reader can type it in this repository: where it wrote its record (``--out``)
    somewhere else and the record was then moved here, it names the record's place; a working folder
    given by an absolute path (``--run-dir``) becomes ``runs/<its name>``. Every other argument, and so
    every setting that made the numbers, is kept as it was run."""
    import shlex

    argv = shlex.split(command)
    typed = list(argv)
    record = Path(results_json)
    for at, option in enumerate(argv[:-1]):
        value = argv[at + 1]
        if option == "--out" and value not in (record.as_posix(), record.parent.as_posix()):
            argv[at + 1] = (record if value.endswith(".json") else record.parent).as_posix()
        elif option == "--run-dir" and Path(value).is_absolute():
            argv[at + 1] = f"runs/{Path(value).name}"
    return command if argv == typed else shlex.join(argv)


def reproducing_lines(results: dict) -> str:
    """One line per method of a compare record: the one command that makes its settings again."""
    from .commands import reproducing_command, reproducing_disentangle_command

    if is_disentangle_result(results):
        command = reproducing_disentangle_command(results) or "no preset makes these settings"
        return f"The same settings with the shipped presets (checked against the record): `{command}`\n\n"
    if not isinstance(results.get("methods"), dict) or is_few_shot_result(results):
        return ""
    lines = [f"- `{name}`: `{reproducing_command(name, results) or 'no preset makes these settings'}`"
             for name in results["methods"]]
    return "Each row again, one command each (the settings are checked against the record):\n\n" + "\n".join(lines) + "\n\n"


def _is_full_view2(results: dict) -> bool:
    """All ten LFW View 2 folds at a real budget, seed 0: other seeds repeat a setting (their records say
    how much it varies); taking the best of them would report luck. Another data set's View 2 (AT&T,
    a split photo folder) is not LFW's."""
    return (results.get("protocol") == "view2" and results.get("folds", "all") == "all"
            and str(results.get("data_variant", "lfw")).startswith("lfw")
            and not results.get("quick") and results.get("seed", 0) == 0 and isinstance(results.get("methods"), dict))


def best_by_family(records_root: str | Path) -> dict:
    """For each method family (:data:`facelab.methods.FAMILIES`), the best View 2 accuracy among the
    ``results.json`` files under ``records_root`` that cover all ten folds at a real budget, seed 0:
    ``{family: (path, method name, method results, results) or None}``."""
    import json

    from .. import methods

    best = dict.fromkeys(methods.FAMILIES)
    for path in sorted(Path(records_root).rglob("results.json")):
        results = json.loads(path.read_text(encoding="utf-8"))
        if not _is_full_view2(results):
            continue
        for name, r in results["methods"].items():
            fam = methods.family(name)
            if best[fam] is None or r["accuracy_mean"] > best[fam][2]["accuracy_mean"]:
                best[fam] = (path, name, r, results)
    return best


def summary_table(records_root: str | Path, link_from: str | Path = ".") -> str:
    """One row per method family: its best View 2 record, linked (relative to ``link_from``, the
    folder of the Markdown file that shows the table)."""
    import os

    from .. import methods

    from .commands import reproducing_command

    lines = ["| family | best method | accuracy % | AUC | threshold chosen on | machine | record | reproduce with |",
             "|---|---|---|---|---|---|---|---|"]
    for fam, best in best_by_family(records_root).items():
        title = methods.FAMILIES[fam]
        if best is None:
            lines.append(f"| {title} | — | — | — | — | — | no View 2 record | — |")
            continue
        path, name, r, results = best
        rule = "a held-out training fold" if results.get("threshold", "train") == "held-out" else "the training folds"
        folder = Path(os.path.relpath(path.parent, link_from)).as_posix()
        lines.append(f"| {title} | `{name}` | {pct(r['accuracy_mean'])} ± {pct(r['accuracy_se'])} | {r['auc']:.4f} | "
                     f"{rule} | {results['device'].split(' (')[0]} | [{folder}]({folder}/) | "
                     f"`{reproducing_command(name, results) or 'no preset makes these settings'}` |")
    return "\n".join(lines) + "\n"


def update_summary(readme: str | Path, records_root: str | Path) -> Path:
    """Fill ``<!-- summary:begin -->`` … ``<!-- summary:end -->`` of ``readme`` with
    :func:`summary_table` of the records under ``records_root``."""
    begin, end = _markers(None, "summary")
    return fill_block(readme, begin, end,
                      f"Written by `facelab report --summary {records_root} --readme {readme}` from the records "
                      "that cover all ten View 2 folds at seed 0; accuracy is the mean ± standard error over the folds.\n\n"
                      + summary_table(records_root, Path(readme).parent))
