"""``tracer migrate SRC DST``: copy a whole store between backends (SQLite <-> PostgreSQL)."""

from __future__ import annotations

import os
import time
from typing import Any

import click

from connectors.base import ConfigError
from tracer.store import FORMS, StoreBackend, StoreUrlError, open_store, sqlite_path
from tracer.store.migrate import copy_store

_KNOWN = ("sqlite:///", "postgresql://", "postgres://")


def _open(arg: str, what: str, create: bool) -> StoreBackend:
    if "://" in arg and not arg.startswith(_KNOWN):
        raise StoreUrlError(f"{what} {arg!r} names no store tracer can open: give {FORMS}")
    return open_store(arg, create=create)


def _same(a: str, b: str) -> bool:
    pa, pb = sqlite_path(a), sqlite_path(b)
    if pa is not None and pb is not None:
        return pa != ":memory:" and os.path.abspath(pa) == os.path.abspath(pb)
    return a == b


@click.command("migrate")
@click.argument("src")
@click.argument("dst")
@click.option("--batch", type=click.IntRange(1), default=5000, show_default=True,
              help="Rows per transaction in the destination.")
@click.option("--grant-read-only", "role", default=None, metavar="ROLE",
              help="PostgreSQL destination: afterwards let ROLE read (only) every table, for tracer serve.")
@click.pass_obj
def migrate_command(env: Any, src: str, dst: str, batch: int, role: str | None) -> None:
    """Copy every table of store SRC into store DST, row for row (raw payloads included).

    \b
    SRC and DST are SQLite files (or sqlite:///path) or postgresql://user@host/dbname URLs:
      tracer migrate tracer.db postgresql://tracer@db.example/tracer    # grow to PostgreSQL
      tracer migrate postgresql://tracer@db.example/tracer laptop.db    # and back
    Facts, raw payloads, stream cursors and the run log are copied as they are; DST is created
    when missing. Rows are upserts: running it again changes nothing, and an interrupted copy
    is finished by running it again; rows only DST has are kept. Holds DST's write lock.
    --grant-read-only ROLE then creates ROLE (if missing) with SELECT only and read-only
    transactions, the role `tracer serve` should connect as.
    """
    if _same(src, dst):
        raise ConfigError(f"SRC and DST are the same store ({src}): give two different stores")
    t0 = time.monotonic()
    source = _open(src, "SRC", create=False)
    try:
        target = _open(dst, "DST", create=True)
        try:
            if role is not None and not hasattr(target, "grant_read_only"):
                raise ConfigError("--grant-read-only needs a PostgreSQL destination (postgresql://...)")
            copied = _copy(env, source, target, batch)
            if role is not None:
                target.grant_read_only(role)  # type: ignore[attr-defined]
        finally:
            target.close()
    finally:
        source.close()
    rows = sum(copied.values())
    extra = f"; {role} may read it" if role else ""
    click.echo(f"copied {rows} rows of {len(copied)} tables from {source.path} to {target.path} "
               f"in {time.monotonic() - t0:.1f}s{extra}")


def _copy(env: Any, source: StoreBackend, target: StoreBackend, batch: int) -> dict[str, int]:
    from tracer.cli import _progress_factory

    prog, factory = _progress_factory(env.quiet if env else False)
    updates: dict[str, Any] = {}

    def progress(table: str, n: int, total: int | None) -> None:
        if factory is None:
            return
        if table not in updates:
            updates[table] = factory(table)
        updates[table](n, total, "")

    if prog is not None:
        prog.start()
    try:
        return copy_store(source, target, progress, batch)
    finally:
        if prog is not None:
            prog.stop()
