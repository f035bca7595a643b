"""Parsers for LFW's official protocol files (Huang et al. 2007, LFW technical report §3).

View 1 (development): ``pairsDevTrain.txt`` / ``pairsDevTest.txt`` and
``peopleDevTrain.txt`` / ``peopleDevTest.txt``. View 2 (performance reporting): ``pairs.txt``
(10 folds × 300 matched + 300 mismatched, consecutive blocks of 600 lines) and ``people.txt``
(the 10 folds' people; the pairs of fold k use only fold k's people). ``lfw-names.txt`` lists
every person with an image count.

Every parser raises :class:`ProtocolFormatError` naming the file and line of a malformed
line, and :func:`resolve_pairs` names any image a pair points to that does not exist;
:func:`check_people_on_disk` names a person whose image count disagrees with the image folder.
Files are read as UTF-8 (a byte-order mark is allowed); a byte that is not UTF-8 is an error
naming its line.
"""
from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import DataNotFoundError, ProtocolFormatError, ProtocolMismatchError


@dataclass(frozen=True)
class Pair:
    name1: str
    num1: int
    name2: str
    num2: int
    same: bool
    fold: int = 0
    line_no: int = 0


@dataclass(frozen=True)
class PeopleFold:
    fold: int
    people: dict  # name → image count
    lines: dict = field(default_factory=dict, compare=False)  # name → line number, for errors


def _read_lines(path: Path) -> list[str]:
    """The file's lines, decoded as UTF-8; editors on Windows add a byte-order mark, which is dropped."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"protocol file {path} not found")
    raw = path.read_bytes()
    raw = raw[len(codecs.BOM_UTF8):] if raw.startswith(codecs.BOM_UTF8) else raw
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        raise ProtocolFormatError(
            path, raw.count(b"\n", 0, exc.start) + 1,
            f"byte 0x{raw[exc.start]:02x} at column {exc.start - line_start + 1} is not UTF-8 "
            "(the file was saved in another encoding, e.g. Latin-1); save it as UTF-8",
        ) from None
    return text.splitlines()


def _int(path, line_no, text, what) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ProtocolFormatError(path, line_no, f"expected an integer {what}, got {text!r}") from None
    if value < 0:
        raise ProtocolFormatError(path, line_no, f"{what} must be ≥ 0, got {value}")
    return value


def _header(path, lines, n_fields) -> list[int]:
    if not lines:
        raise ProtocolFormatError(path, 1, "file is empty; expected a header line")
    fields = lines[0].split()
    if len(fields) != n_fields:
        raise ProtocolFormatError(
            path, 1, f"expected a header of {n_fields} integer field(s), got {lines[0]!r}"
        )
    return [_int(path, 1, f, "in header") for f in fields]


def _pair_line(path, line_no, line, fold, expect_same) -> Pair:
    fields = line.rstrip("\r\n").split("\t")
    if len(fields) == 3:
        name, a, b = fields
        pair = Pair(name, _int(path, line_no, a, "image number"), name,
                    _int(path, line_no, b, "image number"), True, fold, line_no)
    elif len(fields) == 4:
        n1, a, n2, b = fields
        pair = Pair(n1, _int(path, line_no, a, "image number"), n2,
                    _int(path, line_no, b, "image number"), False, fold, line_no)
    else:
        raise ProtocolFormatError(
            path, line_no, f"expected 3 or 4 tab-separated fields, got {len(fields)}: {line!r}"
        )
    if not pair.name1 or not pair.name2:
        raise ProtocolFormatError(path, line_no, f"empty person name in {line!r}")
    if pair.same != expect_same:
        kind = "matched (name, i, j)" if expect_same else "mismatched (name1, i, name2, j)"
        raise ProtocolFormatError(path, line_no, f"expected a {kind} pair here, got {line!r}")
    if pair.num1 < 1 or pair.num2 < 1:
        raise ProtocolFormatError(path, line_no, "image numbers start at 1")
    return pair


def parse_pairs(path: str | Path) -> list[Pair]:
    """Parse ``pairs.txt`` (header ``folds\\tn``) or ``pairsDev*.txt`` (header ``n``).

    Each fold is a block of ``n`` matched lines then ``n`` mismatched lines. Returns pairs in
    file order with ``fold`` set (always 0 for the one-fold View 1 files).
    """
    path = Path(path)
    lines = _read_lines(path)
    if not lines:
        raise ProtocolFormatError(path, 1, "file is empty; expected a header line")
    header = lines[0].split()
    if len(header) == 2:
        n_folds, per_class = _header(path, lines, 2)
    elif len(header) == 1:
        n_folds, per_class = 1, _header(path, lines, 1)[0]
    else:
        raise ProtocolFormatError(path, 1, f"expected header 'folds<TAB>n' or 'n', got {lines[0]!r}")
    body = lines[1:]
    while body and not body[-1].strip():
        body.pop()
    expected = n_folds * 2 * per_class
    if len(body) != expected:
        raise ProtocolFormatError(
            path, len(body) + 1 if len(body) < expected else expected + 2,
            f"header promises {n_folds} fold(s) × 2 × {per_class} = {expected} pair lines, "
            f"found {len(body)}",
        )
    pairs = []
    for i, line in enumerate(body):
        fold, within = divmod(i, 2 * per_class)
        pairs.append(_pair_line(path, i + 2, line, fold, within < per_class))
    return pairs


def parse_people(path: str | Path) -> list[PeopleFold]:
    """Parse ``people.txt`` (header = number of folds, each fold: count, then ``name\\tcount``)
    or ``peopleDev*.txt`` (header = number of people, then ``name\\tcount`` lines)."""
    path = Path(path)
    lines = _read_lines(path)
    (first,) = _header(path, lines, 1)
    rest = [(i + 2, l) for i, l in enumerate(lines[1:]) if l.strip()]
    # people.txt has a count line right after the header; peopleDev*.txt goes straight to names
    if rest and len(rest[0][1].split("\t")) == 1:
        n_folds, cursor, folds = first, 0, []
        fold_of: dict[str, tuple[int, int]] = {}  # name → (fold, line) where the person was first listed
        for fold in range(n_folds):
            if cursor >= len(rest):
                raise ProtocolFormatError(path, len(lines) + 1, f"fold {fold + 1} of {n_folds} is missing")
            line_no, count_line = rest[cursor]
            n = _int(path, line_no, count_line.strip(), "people count for a fold")
            block = rest[cursor + 1: cursor + 1 + n]
            if len(block) < n:
                raise ProtocolFormatError(path, len(lines), f"fold {fold + 1} promises {n} people, file ends early")
            counts = _name_counts(path, block)
            where = {name: line for (line, _), name in zip(block, counts)}
            # a person in two folds would be trained on in the splits that test them
            for name, line in where.items():
                if name in fold_of:
                    other_fold, other_line = fold_of[name]
                    raise ProtocolFormatError(
                        path, line, f"{name} is in fold {fold + 1} and already in fold {other_fold + 1} "
                        f"(line {other_line}); each person belongs to one fold, so that test people are never "
                        "trained on")
                fold_of[name] = (fold, line)
            folds.append(PeopleFold(fold, counts, where))
            cursor += 1 + n
        if cursor != len(rest):
            raise ProtocolFormatError(path, rest[cursor][0], f"unexpected line after {n_folds} folds: {rest[cursor][1]!r}")
        return folds
    if len(rest) != first:
        raise ProtocolFormatError(path, 1, f"header promises {first} people, found {len(rest)} lines")
    counts = _name_counts(path, rest)
    return [PeopleFold(0, counts, {name: line for (line, _), name in zip(rest, counts)})]


def parse_names(path: str | Path) -> dict[str, int]:
    """Parse ``lfw-names.txt``: one ``name\\tcount`` line per person, no header."""
    path = Path(path)
    return _name_counts(path, [(i + 1, l) for i, l in enumerate(_read_lines(path)) if l.strip()])


def _name_counts(path, numbered_lines) -> dict[str, int]:
    out = {}
    for line_no, line in numbered_lines:
        fields = line.rstrip("\r\n").split("\t")
        if len(fields) != 2 or not fields[0]:
            raise ProtocolFormatError(path, line_no, f"expected 'name<TAB>count', got {line!r}")
        if fields[0] in out:
            raise ProtocolFormatError(path, line_no, f"person {fields[0]} listed twice")
        out[fields[0]] = _int(path, line_no, fields[1], "image count")
    return out


def check_people_on_disk(folds: list[PeopleFold], layout, path) -> None:
    """Check that every person of a people file has the images it says, in ``layout``.

    The count column is the file's promise about the data; a person without images (a missing
    folder, a misspelt name) or with another count means the file and the images are not the same
    release, so :class:`ProtocolMismatchError` names the first such line and how many others there are.
    """
    on_disk = layout.image_counts
    wrong = []
    for fold in folds:
        for name, listed in fold.people.items():
            found = on_disk.get(name, 0)
            if found != listed:
                wrong.append((fold.lines.get(name, 0), name, listed, found))
    if not wrong:
        return
    line, name, listed, found = min(wrong)
    plural = "image" if listed == 1 else "images"
    if found:
        problem = f"{found} in the packed copy {layout.root}" if layout.packed else \
            f"{found} on disk in {layout.person_dir(name)}"
    elif layout.packed:
        problem = f"but the packed copy {layout.root} holds none"
    elif layout.person_dir(name).is_dir():
        problem = f"but {layout.person_dir(name)} holds no {name}_NNNN.jpg image"
    else:
        problem = f"but there is no folder {layout.person_dir(name)} (no such person in {layout.image_dir})"
    more = f" (and {len(wrong) - 1} more people disagree with the images on disk)" if len(wrong) > 1 else ""
    raise ProtocolMismatchError(path, line, f"{name} is listed with {listed} {plural}, {problem}{more}")


def resolve_pairs(pairs: list[Pair], layout, source: str = "pairs") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Map pairs to image positions in ``layout.images``.

    Returns ``(index_a, index_b, same)`` arrays plus raises a :class:`DataNotFoundError` that
    names the missing image and the protocol line that references it.
    """
    a = np.empty(len(pairs), dtype=np.int64)
    b = np.empty(len(pairs), dtype=np.int64)
    for i, p in enumerate(pairs):
        where = f"{source} line {p.line_no}"
        a[i] = layout.index_of(p.name1, p.num1, where)
        b[i] = layout.index_of(p.name2, p.num2, where)
    same = np.array([p.same for p in pairs], dtype=bool)
    return a, b, same
