"""The import structure of ``src/blincompass``: no import cycle, and the layers of docs/dev/conventions.md.

Every module is parsed with :mod:`ast` (nothing is imported or run); every ``import`` statement counts,
at module level, inside functions and under ``TYPE_CHECKING`` alike. Each module belongs to a *part*:
a sub-package (``io``, ``validate``, ...) or a top-level module (``expr``, ``exports``; ``cli`` and every
``cli_*`` module form the part ``cli``). :data:`ALLOWED` lists, for every part, the parts it may
import; an import of any other part, or a part missing from the table, fails the test.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "blincompass"

#: The data models read by every stage (docs/dev/conventions.md).
MODELS = frozenset({"dictionary", "protocol", "expr"})

#: For each part: the parts it may import (besides itself). The pipeline is
#: io -> validate -> derive -> stats -> report; stats takes arrays and imports nothing of the project;
#: the registry stores data sets beside the pipeline (io, validate) and never derives; ``exports``
#: composes registry, derive and io for ``blincompass db export``; the CLI sits on top of everything.
#: The top-level package (``blincompass``) holds only the version, which report and federate record;
#: ``gctune`` (the collector settings of a command and of the figure worker) and ``lazy`` (packages whose
#: names are imported on first use) import nothing.
ALLOWED: dict[str, frozenset[str]] = {
    "blincompass": frozenset(),
    "expr": frozenset(),
    "gctune": frozenset(),
    "lazy": frozenset(),
    "dictionary": frozenset(),
    "protocol": frozenset({"dictionary", "expr"}),
    "stats": frozenset(),
    "io": MODELS | {"lazy"},
    "validate": MODELS | {"io"},
    "derive": MODELS | {"io", "validate"},
    "report": MODELS | {"blincompass", "io", "validate", "derive", "stats", "gctune", "lazy"},
    "registry": MODELS | {"io", "validate"},
    "exports": MODELS | {"io", "validate", "derive", "registry"},
    "synth": MODELS | {"io"},
    "study": MODELS | {"io"},
    "federate": MODELS | {"blincompass", "io", "validate", "derive", "stats", "study"},
    "web": MODELS | {"io", "validate", "registry", "exports", "report"},
    "cli": MODELS | {"blincompass", "io", "validate", "derive", "stats", "report", "registry", "exports",
                     "synth", "study", "federate", "web", "gctune"},
}


def module_name(path: Path, src: Path = SRC) -> str:
    """``src/blincompass/io/raw.py`` -> ``blincompass.io.raw``; a package's ``__init__.py`` -> the package."""
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def part_of(module: str) -> str:
    """The part a module belongs to: its sub-package or top-level module (``cli_*`` -> ``cli``)."""
    parts = module.split(".")
    if len(parts) == 1:
        return PACKAGE
    return "cli" if parts[1] == "cli" or parts[1].startswith("cli_") else parts[1]


def imported_modules(source: str, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The project modules that ``source`` (the text of ``module``) imports anywhere in its body.

    ``from X import name`` counts as an import of ``X.name`` when that is a module of the project,
    else of ``X``; relative imports are resolved against ``module``.
    """
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == PACKAGE)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != PACKAGE:
                continue
            subs = {f"{target}.{a.name}" for a in node.names} & known
            found.update(subs)
            if len(subs) < len(node.names):
                found.add(target)
    found.discard(module)
    return found


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    """Module -> the project modules it imports, for every ``.py`` file under ``src/blincompass``."""
    files = {module_name(p, src): p for p in sorted((src / PACKAGE).rglob("*.py"))}
    known = set(files)
    return {m: imported_modules(p.read_text(encoding="utf-8"), m, p.name == "__init__.py", known)
            for m, p in files.items()}


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def layer_violations(graph: Mapping[str, Iterable[str]], allowed: Mapping[str, frozenset[str]]) -> list[str]:
    """Every import from one part to another that ``allowed`` does not list, and every unlisted part."""
    problems = []
    for module in sorted(graph):
        src_part = part_of(module)
        if src_part not in allowed:
            problems.append(f"{module}: part {src_part!r} is not in ALLOWED (tests/test_layering.py)")
            continue
        for target in sorted(graph[module]):
            dst_part = part_of(target)
            if dst_part != src_part and dst_part not in allowed[src_part]:
                problems.append(f"{module} imports {target}: {src_part} may not import {dst_part}")
    return problems


GRAPH = import_graph()


def test_every_module_is_read() -> None:
    assert {"blincompass.io.raw", "blincompass.registry.access", "blincompass.exports",
            "blincompass.cli_registry", "blincompass.stats.km"} <= set(GRAPH)
    # the resolution of `from X import name` (a function-level import in the registry's access layer)
    assert "blincompass.io.convert" in GRAPH["blincompass.registry.access"]
    assert "blincompass.io.cells" in GRAPH["blincompass.validate.rules"]  # from blincompass.io import cells


def test_no_import_cycle() -> None:
    assert cycles(GRAPH) == []


def test_lower_layers_never_import_higher_ones() -> None:
    assert layer_violations(GRAPH, ALLOWED) == []


def test_allowed_layers_form_no_cycle() -> None:
    assert cycles({p: set(a) for p, a in ALLOWED.items()}) == []
    assert all(a <= set(ALLOWED) for a in ALLOWED.values())


def test_the_checks_find_what_they_look_for(tmp_path: Path) -> None:
    pkg = tmp_path / PACKAGE
    for sub in ("stats", "io", "registry"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "stats" / "km.py").write_text("def f():\n    from blincompass.io import raw\n")
    (pkg / "io" / "raw.py").write_text("from blincompass.stats.km import f\n")
    (pkg / "registry" / "a.py").write_text("from .b import x\n")
    (pkg / "registry" / "b.py").write_text("import blincompass.registry.a\nx = 1\n")
    graph = import_graph(tmp_path)
    assert graph["blincompass.stats.km"] == {"blincompass.io.raw"}
    assert cycles(graph) == [["blincompass.io.raw", "blincompass.stats.km"],
                             ["blincompass.registry.a", "blincompass.registry.b"]]
    assert layer_violations(graph, ALLOWED) == [
        "blincompass.io.raw imports blincompass.stats.km: io may not import stats",
        "blincompass.stats.km imports blincompass.io.raw: stats may not import io",
    ]
    assert layer_violations(graph, {"io": MODELS}) == [
        "blincompass: part 'blincompass' is not in ALLOWED (tests/test_layering.py)",
        "blincompass.io.raw imports blincompass.stats.km: io may not import stats",
        *(f"blincompass.{m}: part '{m.split('.')[0]}' is not in ALLOWED (tests/test_layering.py)"
          for m in ("registry", "registry.a", "registry.b", "stats", "stats.km")),
    ]


@pytest.mark.parametrize(("module", "part"), [
    ("blincompass", "blincompass"), ("blincompass.cli", "cli"), ("blincompass.cli_registry", "cli"),
    ("blincompass.exports", "exports"), ("blincompass.io.raw", "io"), ("blincompass.registry", "registry"),
])
def test_part_of(module: str, part: str) -> None:
    assert part_of(module) == part
