"""The layering of issue 13, checked on the source: SQL only in tracer/store/, libraries that never
import the application, and tests that never skip the project's own code.

Why tests: each rule is easy to break in one line and invisible in review; a failing test names the
file and line.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OWN_PACKAGES = frozenset({"connectors", "graphs", "tracer"})
STORE = ROOT / "tracer" / "store"

# SQL statements as the code writes them (upper-case keywords).  Fragments count too: a query
# assembled from pieces (``base = "FROM edges WHERE ..."``) is still SQL outside the store.
SQL = re.compile(
    r"\bSELECT\b[\s\S]*?\bFROM\b"
    r"|\bSELECT\s+(?:\*|DISTINCT\b|1\b|count\(|max\(|min\()"
    r"|\bINSERT\s+(?:OR\s+[A-Z]+\s+)?INTO\b"
    r"|\bUPDATE\s+(?:OR\s+[A-Z]+\s+)?\"?\w+\"?\s+SET\b"
    r"|\bDELETE\s+FROM\b"
    r"|\bCREATE\s+(?:TEMP\s+|TEMPORARY\s+|UNIQUE\s+)?(?:TABLE|INDEX|VIEW)\b"
    r"|\bDROP\s+(?:TABLE|INDEX)\b"
    r"|\bFROM\s+\"?\w+\"?(?:\s+\w+)?\s+(?:WHERE|ORDER\s+BY|GROUP\s+BY|LIMIT|JOIN)\b"
    r"|\bPRAGMA\b"
    r"|\bjson_extract\(")


def _py_files(*parts: str) -> Iterator[Path]:
    for part in parts:
        yield from sorted((ROOT / part).rglob("*.py"))


def _strings(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Every string literal with its line; an f-string as its literal parts joined by ``{}``."""
    inside_fstring: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = []
            for v in node.values:
                if isinstance(v, ast.Constant) and isinstance(v.value, str):
                    parts.append(v.value)
                    inside_fstring.add(id(v))
                else:
                    parts.append("{}")
            yield node.lineno, "".join(parts)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in inside_fstring:
            yield node.lineno, node.value


def test_no_sql_outside_the_store() -> None:
    offenders = []
    for path in _py_files("connectors", "graphs", "tracer"):
        if path.is_relative_to(STORE):
            continue
        for line, text in _strings(ast.parse(path.read_text(), str(path))):
            m = SQL.search(text)
            if m:
                snippet = " ".join(text[m.start():m.start() + 70].split())
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {snippet}")
    assert not offenders, ("SQL outside tracer/store/ (move it into a named read or writer method of the "
                           "store):\n  " + "\n  ".join(sorted(offenders)))


def _imports(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name):
            # importlib.import_module("tracer...") / __import__("tracer...")
            name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
            if name in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant) \
                    and isinstance(node.args[0].value, str):
                yield node.lineno, node.args[0].value


def test_libraries_never_import_the_application() -> None:
    offenders = [f"{path.relative_to(ROOT)}:{line}: imports {mod}"
                 for path in _py_files("connectors", "graphs")
                 for line, mod in _imports(ast.parse(path.read_text(), str(path)))
                 if mod == "tracer" or mod.startswith("tracer.")]
    assert not offenders, "connectors/ and graphs/ must not import tracer/:\n  " + "\n  ".join(offenders)


def test_tests_never_skip_the_projects_own_modules() -> None:
    offenders = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name)):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
            if name != "importorskip" or not node.args:
                continue
            arg = node.args[0]
            if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: importorskip of a computed name")
            elif arg.value.split(".")[0] in OWN_PACKAGES:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: importorskip({arg.value!r})")
    assert not offenders, ("a test must import the project's own modules (a missing one is a failure, "
                           "not a skip):\n  " + "\n  ".join(offenders))


def test_read_primitives_are_called_only_inside_the_store() -> None:
    """``query``/``iter_rows``/``dataframe`` (and the write primitives) take SQL: callers use named methods."""
    primitives = {"query", "iter_rows", "dataframe", "execute", "executemany"}
    offenders = [f"{path.relative_to(ROOT)}:{node.lineno}: .{node.func.attr}(...)"
                 for path in _py_files("connectors", "graphs", "tracer") if not path.is_relative_to(STORE)
                 for node in ast.walk(ast.parse(path.read_text(), str(path)))
                 if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                 and node.func.attr in primitives]
    assert not offenders, "store primitives called outside tracer/store/:\n  " + "\n  ".join(offenders)


# The CLI layer: the root group, its lazily loaded command modules, the output helpers they share, the
# demo command and the generator of docs/cli.md.  Everything else in tracer/ is library code.
CLI_MODULES = frozenset({"tracer/cli.py", "tracer/cli_docs.py", "tracer/output.py", "tracer/demo.py"})


def test_library_code_never_imports_click() -> None:
    """Screening, explain, queries, exports, scoring and the store are callable without the CLI (the HTTP
    API, the scheduler and tests use them): only tracer/commands/ and the root CLI modules import click."""
    offenders = []
    for path in _py_files("tracer"):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("tracer/commands/") or rel in CLI_MODULES:
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=rel)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n == "click" or n.startswith("click.") for n in names):
                offenders.append(f"{rel}:{node.lineno}")
    assert not offenders, "click imported by library code (move the command to tracer/commands/): " + \
        ", ".join(offenders)


def test_commands_are_registered_lazily_from_the_commands_package() -> None:
    """Every lazily loaded command lives in tracer/commands/ (or is the demo), and each one resolves."""
    import importlib

    from tracer.cli import LAZY_COMMANDS

    for name, spec in LAZY_COMMANDS.items():
        mod, _, attr = spec.partition(":")
        assert mod.startswith("tracer.commands.") or mod == "tracer.demo", f"{name}: {spec}"
        assert getattr(importlib.import_module(mod), attr).name == name


CORE_ROW = re.compile(r"""Record\(\s*["'](entities|edges|observations)["']""")


def test_core_facts_are_built_only_by_the_fact_builders() -> None:
    """Entities, edges and observations are built by connectors/facts.py (every column, exact amounts,
    stable observation ids); a hand-written row dict elsewhere is how a fact lost its ``source`` before."""
    offenders = [f"{path.relative_to(ROOT)}:{text[:m.start()].count(chr(10)) + 1}"
                 for path in _py_files("connectors", "graphs", "tracer")
                 if path.relative_to(ROOT).as_posix() != "connectors/facts.py"
                 for text in [path.read_text()] for m in CORE_ROW.finditer(text)]
    assert not offenders, "core rows built by hand (use connectors.facts): " + ", ".join(offenders)
