"""Declared dependencies are exactly the imported ones.

A dependency declared but never imported is weight every user installs for nothing (and a version
pin nobody tests); one imported but not declared works here only because something else happened to
pull it in, and breaks the day that something drops it.  So: the third-party distributions that
``connectors/``, ``graphs/`` and ``tracer/`` import equal ``[project] dependencies`` (plus any optional
extra other than ``dev``: an optional backend's driver), and those that only ``tests/`` import equal
the ``dev`` extra (less the tools and pytest plugins it lists, which are run, not imported).

Imports are read with ``ast`` (every ``import``/``from`` at any depth, ``TYPE_CHECKING`` blocks and
function-local imports included, plus ``pytest.importorskip("x")`` / ``importlib.import_module("x")``
with a literal name) and mapped to distributions by ``importlib.metadata.packages_distributions()``.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OWN = frozenset({"connectors", "graphs", "tracer"})
#: dev entries that are run or loaded by pytest, never imported by a test.
TOOLS = frozenset({"pytest-asyncio", "pytest-timeout", "ruff", "mypy"})
_LITERAL_IMPORTERS = frozenset({"importorskip", "import_module", "__import__"})


def norm(name: str) -> str:
    """A distribution name as PEP 503 compares them (``PyYAML`` == ``pyyaml``, ``a_b`` == ``a-b``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(spec: str) -> str:
    m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec)
    assert m, f"unreadable requirement {spec!r}"
    return norm(m.group(1))


def declared() -> tuple[set[str], set[str]]:
    """(runtime, dev) distribution names from pyproject.toml; runtime includes optional extras but dev."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project.get("optional-dependencies", {})
    runtime = {requirement_name(s) for s in project.get("dependencies", [])}
    runtime |= {requirement_name(s) for name, specs in extras.items() if name != "dev" for s in specs}
    dev = {requirement_name(s) for s in extras.get("dev", [])}
    return runtime, dev


def imported_modules(tree: ast.AST) -> Iterable[str]:
    """Top-level module names a module imports (absolute imports only)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if name in _LITERAL_IMPORTERS:
                yield node.args[0].value.split(".")[0]


def third_party(dirs: Iterable[str]) -> dict[str, set[str]]:
    """Third-party top-level module -> the files (relative) that import it, under ``dirs``."""
    files = [p for d in dirs for p in sorted((ROOT / d).rglob("*.py"))]
    local = {p.stem for p in files} | {p.parent.name for p in files}  # tests' own helper modules
    out: dict[str, set[str]] = {}
    for p in files:
        for mod in imported_modules(ast.parse(p.read_text(), str(p))):
            if mod in sys.stdlib_module_names or mod in OWN or mod in local:
                continue
            out.setdefault(mod, set()).add(str(p.relative_to(ROOT)))
    return out


def distributions(modules: dict[str, set[str]], prefer: set[str]) -> dict[str, set[str]]:
    """Distribution -> files importing it; a module several distributions provide maps to the
    declared ones among them (``prefer``).  A module no installed distribution provides is an error."""
    provides = importlib.metadata.packages_distributions()
    out: dict[str, set[str]] = {}
    unknown = []
    for mod, files in modules.items():
        dists = {norm(d) for d in provides.get(mod, [])}
        if not dists:
            unknown.append(f"{mod} (imported by {', '.join(sorted(files))})")
            continue
        for d in (dists & prefer) or dists:
            out.setdefault(d, set()).update(files)
    assert not unknown, "imports that no installed distribution provides:\n  " + "\n  ".join(unknown)
    return out


def _diff(imported: dict[str, set[str]], declared_: set[str], where: str) -> list[str]:
    lines = [f"imported but not declared in {where}: {d} (by {', '.join(sorted(imported[d])[:3])})"
             for d in sorted(set(imported) - declared_)]
    lines += [f"declared in {where} but never imported: {d}" for d in sorted(declared_ - set(imported))]
    return lines


def test_runtime_dependencies_are_exactly_the_imported_ones() -> None:
    runtime, _ = declared()
    used = distributions(third_party(("connectors", "graphs", "tracer")), runtime)
    problems = _diff(used, runtime, "[project] dependencies (or a non-dev extra)")
    assert not problems, "\n".join(problems)


def test_dev_dependencies_are_exactly_what_tests_import_besides_runtime() -> None:
    runtime, dev = declared()
    used = distributions(third_party(("tests",)), runtime | dev)
    test_only = {d: f for d, f in used.items() if d not in runtime}
    problems = _diff(test_only, dev - TOOLS, "the dev extra")
    problems += [f"tool {t} is not in the dev extra" for t in sorted(TOOLS - dev)]
    problems += [f"{d} is in both [project] dependencies and dev" for d in sorted(runtime & dev)]
    assert not problems, "\n".join(problems)


def test_the_check_sees_every_kind_of_import() -> None:
    tree = ast.parse("import a.b\nfrom c.d import e\nfrom . import f\n"
                     "def g():\n    from h import i\n    pytest.importorskip('j.k')\n"
                     "    importlib.import_module('l')\n    pytest.importorskip(name)\n")
    assert sorted(imported_modules(tree)) == ["a", "c", "h", "j", "l"]
    assert norm("PyYAML") == norm("pyyaml") and norm("sqlite_utils") == "sqlite-utils"
    assert requirement_name("web3>=7") == "web3" and requirement_name("msgspec >=0.18") == "msgspec"
