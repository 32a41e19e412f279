"""Conformance: EVERY registered connector syncs against its demo part and behaves.

For each entry point in ``tracer.connectors`` the suite finds the demo part (``tracer.demo.DEMO_PARTS``)
whose ``config()`` names it, serves that part on loopback, syncs only that connector into a fresh
database and checks: the run is ok, records come, declared primary-key columns are never NULL (the
store enforces uniqueness), transform gives the same records for the same page, the cursor never decreases page after page where the stream says it
is sorted, every stream's final state is a JSON object, and a second sync adds no row to any
data table.  A new connector joins by registering an entry point and adding a demo part.  Each
connector conforms on both store backends (``db_factory``: SQLite and PostgreSQL).
"""

from __future__ import annotations

import asyncio
import copy
import functools
import json
from collections.abc import AsyncIterator, Callable, Iterator
from importlib.metadata import entry_points
from typing import Any

import pytest

from connectors.base import Page, Record, Rows, RunContext, Table, records_of
from tracer import config as cfgmod
from tracer import registry
from tracer.demo import DEMO_PARTS, _load, serve_parts
from tracer.pipeline import sync
from tracer.store import StoreBackend, open_store
from tracer.world import DemoPart

NOW = "2026-01-02T03:04:05Z"
NOT_DATA = {"runs", "run_streams", "migrations", "raw_payloads", "stream_state"}
REGISTERED = sorted(ep.name for ep in entry_points(group=registry.GROUP))


@functools.cache
def _parts() -> tuple[DemoPart, ...]:
    return tuple(_load(spec)() for spec in DEMO_PARTS)


def _part_for(name: str) -> DemoPart | None:
    for part in _parts():
        if name in part.config(f"http://127.0.0.1:9/{part.name}"):
            return part
    return None


class Watched:
    """A stream wrapper that records each page's state and records on their way to the store."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.primary_key = inner.primary_key
        self.cursor_field = inner.cursor_field
        self.is_sorted = inner.is_sorted
        self.tables: tuple[Table, ...] = inner.tables
        self.states: list[dict[str, Any] | None] = []
        self.records: list[list[Record]] = []

    async def extract(self, ctx: RunContext, state: dict[str, Any]) -> AsyncIterator[Page]:
        async for page in self.inner.extract(ctx, state):
            self.states.append(copy.deepcopy(page.state))
            yield page

    def transform(self, page: Page) -> Iterator[Record | Rows]:
        out = list(self.inner.transform(page))
        again = list(self.inner.transform(page))
        assert out == again, f"{self.name}: transform is not deterministic (same page, different records)"
        self.records.append(list(records_of(out)))
        return iter(out)  # Rows batches go to the store as they are: its bulk path is conformed too


def _cursor_values(state: Any, field: str, path: str = "") -> dict[str, Any]:
    """Every value stored under ``field`` anywhere in a state, by its path (per partition)."""
    out: dict[str, Any] = {}
    if isinstance(state, dict):
        for k, v in state.items():
            p = f"{path}/{k}"
            if k == field and not isinstance(v, dict | list):
                out[p] = v
            else:
                out.update(_cursor_values(v, field, p))
    return out


def _comparable(v: Any) -> Any:
    if isinstance(v, str) and v.lstrip("-").isdigit():
        return int(v)
    return v


def _check_monotone(w: Watched) -> None:
    """The state's cursor never decreases; without one in the state, the records' cursor values
    move in one direction page after page (a newest-first crawl is sorted too)."""
    field = w.cursor_field
    if not field:  # sorted by an opaque key (a next_key token): nothing comparable to check
        return
    seqs: dict[str, list[Any]] = {}
    for st in w.states:
        for path, v in _cursor_values(st, field).items():
            if v is not None:
                seqs.setdefault(path, []).append(_comparable(v))
    if seqs:
        for path, seq in seqs.items():
            for a, b in zip(seq, seq[1:], strict=False):
                assert b >= a, f"{w.name}: state cursor {field} at {path} went back from {a!r} to {b!r}"
        return
    per_page = [[_comparable(r.row[field]) for r in recs if r.row.get(field) is not None] for recs in w.records]
    seq = [v for page in per_page for v in page]
    assert seq, f"{w.name} is_sorted on {field!r} but neither its state nor its records carry {field!r}"
    up = all(b >= a for a, b in zip(seq, seq[1:], strict=False))
    down = all(b <= a for a, b in zip(seq, seq[1:], strict=False))
    assert up or down, (f"{w.name} is_sorted on {field!r}, but the {field} values of its records are "
                        f"not ordered (first {seq[:3]!r}); is {field!r} really its cursor?")


def _counts(store: StoreBackend) -> dict[str, int]:
    return {t: store.count(t) for t in store.table_names() if t not in NOT_DATA}


async def _conform(name: str, part: DemoPart, db: str) -> None:
    if part.start:
        await part.start()
    runner, base = await serve_parts([part])
    try:
        cc = part.config(f"{base}/{part.name}")
        cfg: dict[str, Any] = {"db": db, "connectors": {n: {**c, "enabled": n == name}
                                                             for n, c in cc.items()}}
        conn = registry.get(name)
        c = cfgmod.connector_config(cfg, name, conn.default_config())
        streams = [Watched(s) for s in conn.streams(c)]
        assert streams, f"{name} declares no stream"
        store = open_store(db)
        try:
            res = await sync(store, cfg, plan=[(conn, streams)])  # type: ignore[list-item]
            assert res.status == "ok", f"{name} demo sync failed: {res.errors}"
            assert res.records > 0, f"{name}: no records from its demo part"
            for s in res.streams:
                assert s.pages > 0, f"{s.stream}: no pages"
            tables = {t.name: t for w in streams for t in w.tables}
            for t in tables.values():
                for col in t.pk:
                    nulls = store.query(f'SELECT count(*) AS n FROM "{t.name}" WHERE "{col}" IS NULL')[0]["n"]
                    assert nulls == 0, f"{t.name}: {nulls} rows with NULL primary-key column {col}"
            for w in streams:
                if w.is_sorted:
                    _check_monotone(w)
                row = store.query("SELECT state FROM stream_state WHERE stream = ?", [w.name])
                assert row, f"{w.name}: no state stored (it cannot resume)"
                assert isinstance(json.loads(row[0]["state"]), dict), f"{w.name}: state is not a JSON object"
            before = _counts(store)
            again = [Watched(s) for s in conn.streams(c)]
            res2 = await sync(store, cfg, plan=[(conn, again)])  # type: ignore[list-item]
            assert res2.status == "ok", f"{name} second sync failed: {res2.errors}"
            after = _counts(store)
            grown = {t: (before.get(t, 0), n) for t, n in after.items() if n != before.get(t, 0)}
            assert not grown, f"{name}: a second sync changed row counts (before, after): {grown}"
        finally:
            store.close()
    finally:
        await runner.cleanup()
        if part.stop:
            await part.stop()


@pytest.mark.timeout(180)
@pytest.mark.parametrize("name", REGISTERED)
def test_connector_conforms(name: str, db_factory: Callable[..., str], monkeypatch: pytest.MonkeyPatch) -> None:
    part = _part_for(name)
    if part is None:
        pytest.fail(f"connector {name!r} is registered but no demo part in tracer.demo.DEMO_PARTS "
                    f"configures it: add one (tracer/world/<part>.py) so it is tested and in the demo")
    monkeypatch.setenv("TRACER_NOW", NOW)
    asyncio.run(_conform(name, part, db_factory("c.db")))


def test_every_registered_connector_is_loadable() -> None:
    assert "ofac_addresses" in REGISTERED
    for name in REGISTERED:
        conn = registry.get(name)
        assert conn.name == name, f"entry point {name} loads a connector named {conn.name}"
        assert conn.description and conn.streams(conn.default_config())


class _Fake:
    name = "fake.s"
    primary_key = ("id",)
    cursor_field = "block"
    is_sorted = True
    tables: tuple[Table, ...] = ()


def test_the_monotone_check_can_fail() -> None:
    w = Watched(_Fake())
    w.states = [{"block": 5}, {"block": 7}, {"block": 7}]
    _check_monotone(w)
    w.states.append({"block": 3})
    with pytest.raises(AssertionError, match="went back from 7 to 3"):
        _check_monotone(w)
    w = Watched(_Fake())
    w.states = [None, None]
    w.records = [[Record("t", {"block": 9}), Record("t", {"block": 8})], [Record("t", {"block": 2})]]
    _check_monotone(w)  # newest first is ordered
    w.records.append([Record("t", {"block": 4})])
    with pytest.raises(AssertionError, match="not ordered"):
        _check_monotone(w)
