"""Shared output options: ``--json`` (JSON Lines-friendly array), ``--csv`` and ``--table``."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import click


def output_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Add the three mutually exclusive output flags; the command receives ``fmt``."""
    f = click.option("--table", "fmt", flag_value="table", help="Aligned table (default on a terminal).")(f)
    f = click.option("--csv", "fmt", flag_value="csv", help="CSV with a header row.")(f)
    f = click.option("--json", "fmt", flag_value="json", help="A JSON array of objects.")(f)
    return f


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, dict | list):
        return json.dumps(v, sort_keys=True)
    return str(v)


def emit(rows: Sequence[dict[str, Any]], fmt: str | None, columns: Sequence[str] | None = None,
         out: TextIO | None = None, title: str | None = None, table_columns: Sequence[str] | None = None) -> None:
    """Print rows in the chosen format (table on a terminal, JSON when piped, unless told).

    ``table_columns``: what a person reads in the table (``display``: ``1,750 USDC``), when the
    machine formats carry more (the integer base amount, decimals and asset id beside it)."""
    out = out or sys.stdout
    cols = list(columns) if columns else (list(rows[0].keys()) if rows else [])
    if fmt is None:
        fmt = "table" if out.isatty() else "json"
    if fmt == "table" and table_columns:
        cols = list(table_columns)
    if fmt == "json":
        out.write(json.dumps([{c: r.get(c) for c in cols} for r in rows], indent=2, default=str) + "\n")
    elif fmt == "csv":
        w = csv.writer(out, lineterminator="\n")
        w.writerow(cols)
        for r in rows:
            w.writerow([_cell(r.get(c)) for c in cols])
    else:
        from rich.console import Console
        from rich.table import Table

        t = Table(title=title, show_lines=False)
        for c in cols:
            t.add_column(c, overflow="fold")
        from rich.markup import escape

        for r in rows:  # escaped: "[sanctioned: OFAC SDN]" or a third party's label is text, not markup
            t.add_row(*[escape(_cell(r.get(c))) for c in cols])
        Console(file=out, width=None if out.isatty() else 200).print(t)


def one_line(message: object) -> str:
    """A message as one printable line: control characters from the user's input (a newline in a
    --db value) and lone surrogates (argv bytes that are not UTF-8, which a UTF-8 stdout refuses)
    are shown escaped, so the line stays the single line scripts and logs expect."""
    return "".join(repr(c)[1:-1] if ord(c) < 32 or 0x7F <= ord(c) < 0xA0 or 0xD800 <= ord(c) < 0xE000 else c
                   for c in str(message))
