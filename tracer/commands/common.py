"""Small pieces several command modules share (kept here so each command stays a thin shell)."""

from __future__ import annotations

import sys
from typing import Any

import click

from tracer.output import one_line


def refuse_unknown_id(store: Any, ident: str) -> None:
    """Exit 2 with one line when ``ident`` names nothing in the store: a mistyped id is the caller's
    mistake, not "no flag" (which reads as "no risk").  Call it once the command found nothing."""
    from tracer import queries as q

    if not q.exists(store, ident):
        click.echo(f"error: id {one_line(ident)} is not in the store; try find with part of its address or name",
                   err=True)
        sys.exit(2)
