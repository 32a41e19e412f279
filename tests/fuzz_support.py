"""Structure-aware fuzzing of connector transforms (used by tests/test_fuzz_transform.py and bench/fuzz.py).

Pages come from syncing every registered connector against its demo part (generated worlds and the
real recorded bodies some parts serve), exactly as ``tests/test_conformance.py`` does, with a wrapper
that keeps a copy of each page.  For each page the item list is found (the longest list of objects in
``page.data``, else in the JSON body the transform re-parses) and one item is mutated.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import sqlite3
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.base import Page, Record, RunContext, records_of
from tracer import config as cfgmod
from tracer import registry
from tracer.demo import DEMO_PARTS, _load, serve_parts
from tracer.pipeline import sync
from tracer.store import Store, _cell
from tracer.world import DemoPart

NOW = "2026-01-02T03:04:05Z"
MAX_ITEMS = 24  # items of a page kept for fuzzing (a 5,000-offer snapshot re-parsed per example is slow)
Path_ = tuple[Any, ...]


@dataclass
class Target:
    """One page of one stream, with where its item list is and how to rebuild the page around new items."""

    stream: Any
    page: Page
    in_body: bool  # the items live in the JSON body (the transform re-parses page.body)
    path: Path_  # where the item list is, inside page.data or the parsed body
    doc: Any  # page.data or the parsed body

    @property
    def items(self) -> list[Any]:
        return list(_get(self.doc, self.path))

    def with_items(self, items: list[Any]) -> Page:
        doc = _set(copy.deepcopy(self.doc) if self.path else None, self.path, items)
        p = copy.copy(self.page)
        if self.in_body:
            p.body = json.dumps(doc).encode()
        else:
            p.data = doc
        if hasattr(self.stream, "page_meta"):  # the page-level code extract runs on the items
            p.meta = {**self.page.meta, **self.stream.page_meta(_ctx(), items)}
        return p


_EMPTY = Store(":memory:")  # a real store with nothing synced: the read port answers empty


def _ctx() -> RunContext:
    return RunContext(http=None, config={}, now=NOW, run_id="fuzz", stored=_EMPTY)  # type: ignore[arg-type]


def _get(doc: Any, path: Path_) -> Any:
    for k in path:
        doc = doc[k]
    return doc


def _set(doc: Any, path: Path_, value: Any) -> Any:
    if not path:
        return value
    _get(doc, path[:-1])[path[-1]] = value
    return doc


# Lists a page carries that come from our own store, not from the source (not input to fuzz).
FROM_STORE = frozenset({"members", "stale", "delisted", "changes"})


def _lists(doc: Any, path: Path_ = (), depth: int = 2) -> Iterator[tuple[Path_, list[Any]]]:
    if isinstance(doc, list) and any(isinstance(x, dict) for x in doc):
        yield path, doc
    if depth and isinstance(doc, dict):
        for k, v in doc.items():
            if k not in FROM_STORE:
                yield from _lists(v, (*path, k), depth - 1)


def target_of(stream: Any, page: Page) -> Target | None:
    """The page's item list (the longest list of objects), in ``data`` first, else in the JSON body."""
    found = sorted(_lists(page.data), key=lambda t: -len(t[1]))
    in_body, doc = False, page.data
    if not found:
        try:
            doc = json.loads(page.body)
        except ValueError:
            return None
        in_body, found = True, sorted(_lists(doc), key=lambda t: -len(t[1]))
    if not found:
        return None
    path = found[0][0]
    doc = _set(copy.deepcopy(doc) if path else None, path, list(found[0][1][:MAX_ITEMS]))
    return Target(stream, page, in_body, path, doc)


class Capture:
    """A stream wrapper that keeps every page (a deep copy) on its way to the store."""

    def __init__(self, inner: Any, out: list[tuple[Any, Page]]) -> None:
        self.inner, self.out = inner, out
        self.name, self.primary_key, self.cursor_field = inner.name, inner.primary_key, inner.cursor_field
        self.is_sorted, self.tables = inner.is_sorted, inner.tables

    async def extract(self, ctx: RunContext, state: dict[str, Any]) -> AsyncIterator[Page]:
        async for page in self.inner.extract(ctx, state):
            yield page

    def transform(self, page: Page) -> Iterator[Any]:
        self.out.append((self.inner, copy.deepcopy(page)))
        return self.inner.transform(page)


async def _capture(name: str, part: DemoPart, db: Path) -> list[tuple[Any, Page]]:
    if part.start:
        await part.start()
    runner, base = await serve_parts([part])
    out: list[tuple[Any, Page]] = []
    try:
        cc = part.config(f"{base}/{part.name}")
        cfg: dict[str, Any] = {"db": str(db), "connectors": {n: {**c, "enabled": n == name} for n, c in cc.items()}}
        conn = registry.get(name)
        c = cfgmod.connector_config(cfg, name, conn.default_config())
        store = Store(db)
        try:
            await sync(store, cfg, plan=[(conn, [Capture(s, out) for s in conn.streams(c)])])  # type: ignore[list-item,misc]
        finally:
            store.close()
    finally:
        await runner.cleanup()
        if part.stop:
            await part.stop()
    return out


@contextlib.contextmanager
def _pinned_now() -> Iterator[None]:
    """``TRACER_NOW`` pinned while the pages are captured, then put back: left set, it pinned the
    clock of every later test in the process (a judgement recorded by a later test's server was
    dated before the one it replaces, so the page kept showing the old one)."""
    before = os.environ.get("TRACER_NOW")
    os.environ.setdefault("TRACER_NOW", NOW)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TRACER_NOW", None)


def targets(names: list[str]) -> dict[str, list[Target]]:
    """Stream name -> fuzzable pages (at most 4 per stream, the ones with the most items)."""
    parts = [_load(spec)() for spec in DEMO_PARTS]
    out: dict[str, list[Target]] = {}
    with _pinned_now(), tempfile.TemporaryDirectory() as tmp:
        for name in names:
            part = next((p for p in parts if name in p.config(f"http://127.0.0.1:9/{p.name}")), None)
            if part is None:
                continue
            for stream, page in asyncio.run(_capture(name, part, Path(tmp) / f"{name}.db")):
                t = target_of(stream, page)
                out.setdefault(stream.name, [])
                if t is not None and t.items:
                    out[stream.name].append(t)
    return {k: sorted(v, key=lambda t: -len(t.items))[:4] for k, v in out.items()}


# -- mutations -------------------------------------------------------------------------------------
def _deep(n: int, leaf: Any = 1, as_dict: bool = False) -> Any:
    v = leaf
    for _ in range(n):
        v = {"a": v} if as_dict else [v]
    return v


WEIRD: list[Any] = [None, True, False, 0, -1, 2**64, 10**30, -(10**30), 1e308, -0.0, "", " ", "x", "0", "-1",
                    "1e999", "NaN", "\ud800", "\udcff\x00", "\x00", "é" * 3, "9" * 400, [], {}, [None], [1, "a"],
                    {"a": None}, _deep(300), _deep(300, as_dict=True)]


def paths(item: Any, path: Path_ = (), depth: int = 4) -> list[Path_]:
    """Every field path inside an item (keys and list indexes), up to ``depth`` levels."""
    out: list[Path_] = []
    if depth and isinstance(item, dict):
        for k, v in item.items():
            out += [(*path, k), *paths(v, (*path, k), depth - 1)]
    elif depth and isinstance(item, list):
        for i, v in enumerate(item[:3]):
            out += [(*path, i), *paths(v, (*path, i), depth - 1)]
    return out


def mutate(item: Any, kind: str, path: Path_, value: Any) -> Any:
    """``item`` with one change: ``drop`` the field at ``path``, ``set`` it to ``value``, ``retype`` it
    (text <-> number, wrapped in a list or object), or ``item`` (the whole item becomes ``value``)."""
    if kind == "item" or not path:
        return value
    m = copy.deepcopy(item)
    parent, key = _get(m, path[:-1]), path[-1]
    if kind == "drop":
        if isinstance(parent, dict):
            parent.pop(key, None)
        else:
            parent.pop(key)
        return m
    if kind == "retype":
        old = parent[key]
        value = ([old] if isinstance(value, bool) else {"v": old}) if isinstance(old, str) else \
            (str(old) if not isinstance(old, dict | list) else json.dumps(old))
    parent[key] = value
    return m


# -- the property ----------------------------------------------------------------------------------
class Failure(AssertionError):
    pass


def _pk(stream: Any) -> dict[str, tuple[str, ...]]:
    return {t.name: t.pk for t in stream.tables}


def _keyed(stream: Any, recs: list[Record]) -> dict[tuple[Any, ...], str]:
    pks, out = _pk(stream), {}
    for r in recs:
        cols = pks.get(r.table) or tuple(sorted(r.row))
        key = (r.table, *(json.dumps(r.row.get(c), sort_keys=True, default=str) for c in cols))
        out[key] = json.dumps(r.row, sort_keys=True, default=str)
    return out


def _storable(recs: list[Record]) -> None:
    db = sqlite3.connect(":memory:")
    for r in recs:
        if not isinstance(r.row, dict):
            raise Failure(f"{r.table}: a row that is a {type(r.row).__name__}")
        for k, v in r.row.items():
            try:
                db.execute("SELECT ?", [_cell(v)])
            except Exception as e:
                raise Failure(f"{r.table}.{k} cannot be stored: {type(e).__name__}: {e}") from e


def run(t: Target, items: list[Any]) -> list[Record]:
    """Transform the page rebuilt around ``items``; any exception is a failure of the property."""
    try:
        recs = list(records_of(t.stream.transform(t.with_items(items))))
    except Exception as e:
        raise Failure(f"{t.stream.name}: {type(e).__name__}: {str(e)[:200]}") from e
    _storable(recs)
    return recs


def check(t: Target, items: list[Any], k: int | None, mutated: list[Any], alone: list[Any]) -> int:
    """Transform ``mutated`` (``items`` with item ``k`` changed, or with items added/removed): nothing
    raises, every record is storable, and every record of the page without the changed items that no
    changed item also touches (same table and primary key) comes out identical.  Returns the number
    of rejection rows the mutated page gave."""
    out = run(t, mutated)
    rest = [x for i, x in enumerate(items) if i != k]
    expect = _keyed(t.stream, run(t, rest))
    touched = set(_keyed(t.stream, run(t, alone)))
    got = _keyed(t.stream, out)
    for key, row in expect.items():
        if key not in got:
            raise Failure(f"{t.stream.name}: a valid item's record is gone: {key}")
        if key not in touched and got[key] != row:
            raise Failure(f"{t.stream.name}: a valid item's record changed: {key}")
    return sum(1 for r in out if r.table == "rejected_inputs") - \
        sum(1 for r in run(t, rest) if r.table == "rejected_inputs")


def example(t: Target, draw: Callable[[Any], Any], st: Any) -> int:
    """One hypothesis example against ``t``; returns the rejections it caused."""
    items = t.items
    kind = draw(st.sampled_from(["drop", "set", "set", "retype", "item", "duplicate", "truncate"]))
    if kind == "truncate":
        n = draw(st.integers(0, len(items)))
        run(t, items[:n])
        return 0
    k = draw(st.integers(0, len(items) - 1))
    if kind == "duplicate":
        at = draw(st.integers(0, len(items)))
        mutated = [*items[:at], items[k], *items[at:]]
        return check(t, items, None, mutated, [items[k]])
    ps = paths(items[k])
    path: Path_ = draw(st.sampled_from(ps)) if ps and kind != "item" else ()
    if kind == "drop" and not path:
        kind = "item"
    value = draw(st.one_of(st.sampled_from(WEIRD), st.integers(-(2**70), 2**70), st.text(max_size=8)))
    m = mutate(items[k], kind, path, value)
    mutated = [*items[:k], m, *items[k + 1:]]
    return check(t, items, k, mutated, [items[k], m])
