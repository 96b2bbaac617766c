"""The package's layout (issue 13): no import circle anywhere, no private names reached
across modules, no source file over the size limit.

Imports are read from the source (``ast``), top-level and inside functions alike: a lazy
import is still a dependency, and a circle hidden inside a function is still a circle. An
import names the most specific module it reaches (``from . import lotid`` is
``compounding.store.lotid``; ``from ..store import Store`` is ``compounding.store``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "compounding"

#: About 600 lines at most per source file (issue 13). ``migrations.py`` is exempt: an
#: append-only list of DDL that several people append migrations to at once (HELPERS.md);
#: splitting it would fight them, and its functions never change once released.
MAX_LINES = 600
LONG_ALLOWED = {"compounding/store/migrations.py",
                # its PostgreSQL mirror (issue 20): the same append-only list, same reason
                "compounding/store/pg_migrations.py"}


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(package: Path = PACKAGE, root: Path = ROOT) -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted(package.rglob("*.py"))}


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules ``name`` (at ``path``) imports, anywhere in the file."""
    is_package = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod
                       for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:  # import a.b.c of a module: the deepest known one
                t = t.rpartition(".")[0]
            if t and t != name:
                out.add(t)
    return out


def graph(package: Path = PACKAGE, root: Path = ROOT) -> dict[str, set[str]]:
    mods = modules(package, root)
    known = set(mods)
    return {m: imports(m, p, known) for m, p in mods.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle as ``[a, b, ..., a]``, or None (depth-first, colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(edges.get(m, ())):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state:
                found = visit(n)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(edges):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


# ---------------------------------------------------------------- the checker checks

@pytest.mark.parametrize("files, cycle", [
    ({"a.py": "from . import b", "b.py": "from . import c", "c.py": ""}, None),
    ({"a.py": "from . import b", "b.py": "def f():\n    from . import a\n"},
     ["pkg.a", "pkg.b", "pkg.a"]),
    ({"a.py": "from .b import thing", "b.py": "from .c import x", "c.py": "import pkg.a"},
     ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]),
    ({"sub/__init__.py": "from .x import y", "sub/x.py": "from .. import a", "a.py": ""}, None),
    ({"sub/__init__.py": "from .x import y", "sub/x.py": "from ..a import z",
      "a.py": "from .sub import y"}, ["pkg.a", "pkg.sub", "pkg.sub.x", "pkg.a"]),
])
def test_the_cycle_finder_finds_circles_and_only_circles(tmp_path, files, cycle):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for rel, text in files.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    assert find_cycle(graph(pkg, tmp_path)) == cycle


# ---------------------------------------------------------------- the package

def test_no_import_circle_anywhere_in_the_package():
    edges = graph()
    assert "compounding.store.core" in edges and edges["compounding.store.store"]
    assert find_cycle(edges) is None


def test_the_store_core_knows_no_record_module():
    edges = graph()
    families = {"users", "signatures", "approvals", "inventory", "batches", "batch_create",
                "weighings", "compounding_record", "dispensing", "signoff", "audit", "store"}
    reached = {m.rpartition(".")[2] for m in edges["compounding.store.core"]}
    assert not reached & families, reached & families


def module_aliases(name: str, path: Path, known: set[str]) -> set[str]:
    """The names under which ``name`` (at ``path``) holds a package module (``from . import
    sqlite as backend`` -> ``backend``; ``import compounding.units`` -> ``compounding``)."""
    is_package = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out |= {a.asname or a.name for a in node.names if f"{mod}.{a.name}" in known}
        elif isinstance(node, ast.Import):
            out |= {a.asname or a.name.split(".")[0] for a in node.names
                    if a.name.split(".")[0] == "compounding"}
    return out


#: Objects of other modules whose private attributes are theirs alone (the store and its
#: core passed around as ``store``; the migration set).
SHARED_OBJECTS = {"store", "core", "migrations"}


def private_reaches(package: Path = PACKAGE, root: Path = ROOT) -> list[str]:
    """Every ``from M import _name`` and ``alias._name`` of another module's private name."""
    mods = modules(package, root)
    known = set(mods)
    bad = []
    for name, path in mods.items():
        aliases = module_aliases(name, path, known) | SHARED_OBJECTS
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                for a in node.names:
                    if a.name.startswith("_") and not a.name.startswith("__"):
                        bad.append(f"{name}: from {node.module or '.'} import {a.name}")
            elif (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                  and not node.attr.startswith("__") and isinstance(node.value, ast.Name)
                  and node.value.id in aliases):
                bad.append(f"{name}:{node.lineno}: {node.value.id}.{node.attr}")
    return bad


@pytest.mark.parametrize("files, found", [
    ({"a.py": "from .b import _x", "b.py": "_x = 1"}, ["pkg.a: from b import _x"]),
    ({"a.py": "from . import b as back\nback._x", "b.py": "_x = 1"}, ["pkg.a:2: back._x"]),
    ({"a.py": "def f(store):\n    return store._rows()"}, ["pkg.a:2: store._rows"]),
    ({"a.py": "from .b import x, __all__\nclass C:\n    def f(self):\n        return self._y",
      "b.py": "x = 1"}, []),
    ({"a.py": "import json\njson._default_encoder"}, []),  # not ours to police
])
def test_the_private_name_finder(tmp_path, files, found):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for rel, text in files.items():
        (pkg / rel).write_text(text)
    assert private_reaches(pkg, tmp_path) == found


def test_no_module_reaches_another_modules_private_names():
    assert private_reaches() == []


def test_no_source_file_over_the_size_limit():
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert set(long) <= LONG_ALLOWED, long


def shadowed_imports(tree: ast.AST) -> list[tuple[str, int, str]]:
    """(function, line, name) for each name a function imports and then rebinds in the same
    body (a nested ``def``, a class or an assignment): closures in that body see the later
    binding, not the module (the bench's approvals page once called ``.approval_state`` on its
    own route function)."""
    found = []
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        imported = {}
        for node in fn.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for a in node.names:
                    imported[(a.asname or a.name).split(".")[0]] = node.lineno
        for node in fn.body:
            names = []
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            found += [(fn.name, node.lineno, n) for n in names if n in imported]
    return found


def test_shadowed_imports_are_found():
    src = "def f():\n    from x import a\n    def g(): return a.b\n    def a(): pass\n"
    assert shadowed_imports(ast.parse(src)) == [("f", 4, "a")]


def test_no_function_rebinds_a_name_it_imported():
    bad = {str(p.relative_to(ROOT)): shadowed_imports(ast.parse(p.read_text()))
           for p in PACKAGE.rglob("*.py")}
    assert {k: v for k, v in bad.items() if v} == {}
