"""facelab's import graph (docs/architecture.md, "The one-way flow"): no cycle between modules, and no
room importing a room downstream of it. Every ``import`` counts, at module level and inside functions;
relative imports are resolved to module names. (Imports by string — the method registry's
``importlib.import_module`` — are not seen.)"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "facelab"

#: upstream first: a module may import its own room and the rooms above it, never one below.
#: An entry names a module or a package (and everything under it); "facelab" is the package's __init__ only.
ROOMS = {
    "shared": ("facelab", "facelab.io", "facelab.memo", "facelab.cores"),  # helpers every room may use
    "data": ("facelab.data",),
    "methods": ("facelab.base", "facelab.methods", "facelab.presets", "facelab.shared_fits", "facelab.metrics", "facelab.plots",
                "facelab.classical", "facelab.nets", "facelab.losses", "facelab.miners", "facelab.generative"),
    "evaluation": ("facelab.evaluation",),
    "front": ("facelab.cli", "facelab.cli_commands", "facelab.cli_report", "facelab.figures", "facelab.assignments", "facelab.wild",
              "facelab.__main__"),
}
# metrics (and plots, which draws metric curves) sit with the methods: methods score with them, and the
# evaluation room below uses both.

#: upward imports that docs/architecture.md lists as known departures, each as
#: "importer:function -> imported"; an entry that no longer occurs fails too, so the list stays true.
DEPARTURES: set[str] = set()
#: cycles docs/architecture.md lists as known departures: none
KNOWN_CYCLES = []

ORDER = list(ROOMS)
ROOM_OF = {entry: room for room, entries in ROOMS.items() for entry in entries}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def room_of(module: str) -> str:
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        prefix = ".".join(parts[:i])
        if prefix in ROOM_OF and (i == len(parts) or prefix != "facelab"):
            return ROOM_OF[prefix]
    raise AssertionError(f"{module} is in no room: add it to ROOMS in {__file__}")


def _known(name: str) -> str | None:
    """The facelab module ``name`` refers to (``facelab.data.LFW`` → ``facelab.data``); None outside facelab."""
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name if name in MODULES else None


def imports(module: str) -> list[tuple[str, str, int]]:
    """``(imported module, enclosing function (``Class.method``) or "<module>", line)`` for every facelab import of ``module``."""
    path = MODULES[module]
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    out = []

    def visit(node, scope):
        for child in ast.iter_child_nodes(node):
            inner = scope
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                inner = child.name if scope == "<module>" else f"{scope}.{child.name}"
            if isinstance(child, ast.Import):
                targets = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    assert child.level <= len(package), \
                        f"{path.relative_to(PACKAGE.parent)}:{child.lineno}: relative import beyond the facelab package"
                    base = ".".join(package[:len(package) - child.level + 1] + ([child.module] if child.module else []))
                # `from pkg import sub` imports the module pkg.sub; `from pkg import name` imports pkg
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in child.names]
            else:
                visit(child, inner)
                continue
            for target in targets:
                known = _known(target)
                if known is not None and known != module:
                    out.append((known, scope, child.lineno))

    visit(ast.parse(path.read_text(), str(path)), "<module>")
    return out


def graph() -> dict[str, set[str]]:
    return {m: {t for t, _, _ in imports(m)} for m in MODULES}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def connect(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            connect(v)
    return found


def upward_imports() -> dict[str, str]:
    """``"importer:function -> imported"`` → where, for every import of a room downstream of the importer's."""
    out = {}
    for module in MODULES:
        for target, scope, line in imports(module):
            if ORDER.index(room_of(target)) > ORDER.index(room_of(module)):
                out[f"{module}:{scope} -> {target}"] = (f"{MODULES[module].relative_to(PACKAGE.parent)}:{line} "
                                                       f"({room_of(module)} → {room_of(target)})")
    return out


def test_every_module_has_a_room():
    for module in MODULES:
        room_of(module)


def test_no_import_cycle():
    found = cycles(graph())
    new = [c for c in found if c not in KNOWN_CYCLES]
    assert not new, "import cycles between modules:\n" + "\n".join(" ↔ ".join(c) for c in new)
    gone = [c for c in KNOWN_CYCLES if c not in found]
    assert not gone, ("listed cycles that no longer occur (remove them here and from docs/architecture.md):\n"
                      + "\n".join(" ↔ ".join(c) for c in gone))


def test_no_room_imports_a_room_downstream():
    found = upward_imports()
    new = {edge: where for edge, where in found.items() if edge not in DEPARTURES}
    assert not new, "imports of a downstream room:\n" + "\n".join(f"{e}  [{w}]" for e, w in sorted(new.items()))
    gone = DEPARTURES - set(found)
    assert not gone, ("listed departures that no longer occur (remove them here and from docs/architecture.md):\n"
                      + "\n".join(sorted(gone)))


def test_the_checks_can_fail():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    assert room_of("facelab.evaluation.runner") == "evaluation" and room_of("facelab") == "shared"
    with pytest.raises(AssertionError, match="in no room"):
        room_of("facelab.newthing")


def private_imports_across_packages(module: str) -> list[str]:
    """``from X import _name`` in ``module`` where X is outside ``module``'s own package (a private name of another package)."""
    path = MODULES[module]
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.ImportFrom) or node.module == "__future__":
            continue
        source = (".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
                  if node.level else (node.module or ""))
        home = source if source in MODULES and MODULES[source].name == "__init__.py" else source.rsplit(".", 1)[0]
        for alias in node.names:
            if alias.name.startswith("_") and not alias.name.startswith("__") and home != ".".join(package):
                out.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} imports {source}.{alias.name}")
    return out


def test_no_package_imports_another_packages_private_names():
    found = [hit for module in MODULES for hit in private_imports_across_packages(module)]
    assert not found, "private names imported across packages (make them public, or move the code):\n" + "\n".join(found)


MAX_LINES = 400  # a module a reader can hold: split by idea beyond this


def test_no_module_is_longer_than_a_reader_can_hold():
    long = {f"{p.relative_to(PACKAGE.parent)}: {n} lines" for p in MODULES.values()
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines:\n" + "\n".join(sorted(long))
