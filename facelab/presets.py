"""Named training recipes (presets): every budget a method is run at is data in the package.

Each trainable method has at least three presets, kept in ``facelab/presets/*.toml`` and read with
the standard library's :mod:`tomllib`:

- ``quick``: a few batches that prove the path (the test suite, ``--quick``);
- ``class``: a meaningful number on View 1 in class time on a laptop CPU (the registry's default);
- ``full``: the best recipe known, with the number it gave and the command that reproduces it.

A preset is a table ``[METHOD.PRESET]`` with a one-line ``summary``, its constructor arguments in
``params``, and optionally ``reported``. ``presets_of = "deepid"`` gives a method another method's
presets (a ``+jb`` head scores the same network, so it must train it the same way). ``--param``
overrides single values on top of a preset. Every value is checked against what the method takes
when the preset is first used; an error names the file, the preset and the key.

The registry (:func:`facelab.methods.create`) applies them; this module only reads and names them.
"""
from __future__ import annotations

import difflib
import functools
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

PRESET_DIR = Path(__file__).with_name("presets")
BUDGETS = ("quick", "class", "full")  # every trainable method has these three
DEFAULT = "class"  # what a bare `facelab compare --methods deepid` runs
#: every method also has this one: its constructor's own defaults, no preset values (what
#: ``DeepID()`` builds; for experiments that set every value themselves)
DEFAULTS = "defaults"
_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
_PRESET_KEYS = {"summary", "params", "reported"}


@dataclass(frozen=True)
class Preset:
    method: str
    name: str
    summary: str
    params: dict = field(default_factory=dict)
    reported: str | None = None  # the number it gave, with the one command that reproduces it
    source: str = ""  # "facelab/presets/siamese.toml [deepid.class]", for error messages

    @property
    def quick(self) -> bool:
        return self.name == "quick"


class PresetError(ValueError):
    """A preset file, or a preset asked for, that is wrong: the message names the file, preset and key."""


@functools.lru_cache(maxsize=None)
def _load(directory: str) -> dict[str, dict[str, Preset]]:
    tables: dict[str, tuple[Path, dict]] = {}
    for path in sorted(Path(directory).glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise PresetError(f"{path}: not valid TOML ({exc})") from None
        for method, table in data.items():
            if method in tables:
                raise PresetError(f"{path}: method {method!r} already has presets in {tables[method][0]}")
            if not isinstance(table, dict):
                raise PresetError(f"{path}: [{method}] must be a table of presets, got {table!r}")
            tables[method] = (path, table)
    presets: dict[str, dict[str, Preset]] = {}
    for method, (path, table) in tables.items():
        own = {}
        for name, body in table.items():
            if name == "presets_of":
                continue
            where = f"{_shown(path)} [{method}.{name}]" if _NAME.match(method) else f'{_shown(path)} ["{method}".{name}]'
            if not _NAME.match(name):
                raise PresetError(f"{where}: a preset name is lower-case letters, digits and '-'")
            if not isinstance(body, dict):
                raise PresetError(f"{where}: must be a table with summary and params, got {body!r}")
            unknown = sorted(set(body) - _PRESET_KEYS)
            if unknown:
                raise PresetError(f"{where}: unknown key(s) {', '.join(unknown)}; a preset takes {', '.join(sorted(_PRESET_KEYS))}")
            if not isinstance(body.get("summary"), str) or not body["summary"].strip():
                raise PresetError(f"{where}: needs a one-line summary = \"...\"")
            if not isinstance(body.get("params", {}), dict):
                raise PresetError(f"{where}: params must be a table, got {body['params']!r}")
            own[name] = Preset(method, name, body["summary"], dict(body.get("params", {})), body.get("reported"), where)
        presets[method] = own
    for method, (path, table) in tables.items():
        other = table.get("presets_of")
        if other is None:
            continue
        if other not in presets or tables[other][1].get("presets_of"):
            raise PresetError(f"{_shown(path)} [{method}]: presets_of = {other!r} names no method with its own presets")
        inherited = {n: Preset(method, n, p.summary, p.params, None, f"{p.source} (as {method})")
                     for n, p in presets[other].items()}
        presets[method] = {**inherited, **presets[method]}
    return presets


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path(__file__).parent.parent))
    except ValueError:
        return str(path)


def all_presets() -> dict[str, dict[str, Preset]]:
    """Method name → preset name → :class:`Preset`, for every method with presets."""
    return _load(os.fspath(PRESET_DIR))


def presets_of(method: str) -> dict[str, Preset]:
    """The presets of ``method`` ({} for a method without training budgets, e.g. eigenfaces)."""
    return all_presets().get(method, {})


def chosen_name(preset: str | None = None, quick: bool = False) -> str:
    """The preset a run uses: the one named, else ``quick`` for ``--quick``, else ``class``. Naming
    another preset with ``--quick`` is an error, not a silent choice."""
    if preset is not None and quick and preset != "quick":
        raise PresetError(f"--quick is the quick preset; it cannot be combined with --preset {preset}")
    return preset or ("quick" if quick else DEFAULT)


def resolve(method: str, preset: str | None = None, quick: bool = False) -> Preset:
    """The preset ``method`` runs with. A method without presets runs its constructor's defaults
    under any of the three budgets; another name it does not have is an error naming what it has."""
    name = chosen_name(preset, quick)
    own = presets_of(method)
    if name in own:
        return own[name]
    if name == DEFAULTS:
        return Preset(method, name, "the constructor's own defaults")
    if not own and name in BUDGETS:
        return Preset(method, name, "the method's defaults (it has no training budget)")
    have = (sorted(own) or list(BUDGETS)) + [DEFAULTS]
    close = difflib.get_close_matches(name, have, n=1)
    raise PresetError(f"method {method!r} has no preset {name!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
                      + f"; it has: {', '.join(have)} (see `facelab methods`)")


def budget_from_env(environ=None) -> str:
    """The budget a notebook runs at: ``FACELAB_BUDGET`` (quick, class or full), or ``quick`` when
    ``FACELAB_QUICK=1`` (the older switch), else ``class``."""
    environ = os.environ if environ is None else environ
    budget = environ.get("FACELAB_BUDGET", "").strip()
    if budget:
        if budget not in BUDGETS:
            raise PresetError(f"FACELAB_BUDGET={budget!r}: choose one of {', '.join(BUDGETS)}")
        return budget
    return "quick" if environ.get("FACELAB_QUICK", "").strip() not in ("", "0") else DEFAULT

