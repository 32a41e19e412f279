"""The sync engine under injected faults: every transient failure is retried and the database
ends identical, row for row, to a clean run; a fatal 4xx fails the stream with one clear line.
Every test touching a store runs on both backends (``db_factory``: SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import demo_assets, ofac_cfg
from faultserver import FaultServer, snapshot

from tracer.pipeline import sync
from tracer.store import open_store, sqlite_path
from tracer.store.base import unpack_body

DbFactory = Callable[..., str]


def _sync(db: str, cfg: dict[str, Any], selectors: list[str] | None = None) -> Any:
    store = open_store(db)
    try:
        return asyncio.run(sync(store, cfg, selectors or ["ofac_addresses"]))
    finally:
        store.close()


def _clean(db_factory: DbFactory, srv: FaultServer, fmt: str) -> dict[str, Any]:
    db = db_factory(f"clean-{fmt}.db")
    res = _sync(db, ofac_cfg(db, srv.base + "/lists/", fmt))
    assert res.status == "ok", res.errors
    snap = snapshot(db)
    assert len(snap["entities"]) > 0 and len(snap["observations"]) > 0
    return snap


# (file, faults) per scenario; "truncate" is a 200 with half a JSON document (format=json).
SCENARIOS = {
    "429-retry-after": ("json", {"ETH": ["429"]}),
    "500": ("json", {"ETH": ["500", "500"]}),
    "connection-reset": ("json", {"ETH": ["reset"]}),
    "timeout": ("json", {"ETH": ["timeout"]}),
    "truncated-json": ("json", {"ETH": ["truncate", "truncate"]}),
    "txt-reset-and-500": ("txt", {"ETH": ["reset", "500"]}),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_transient_faults_end_with_the_clean_rows(db_factory: DbFactory, fault_server: FaultServer,
                                                  pinned_now: str, scenario: str) -> None:
    fmt, faults = SCENARIOS[scenario]
    clean = _clean(db_factory, fault_server, fmt)
    fault_server.log.clear()
    injected = 0
    for asset, fs in faults.items():
        fault_server.inject(f"sanctioned_addresses_{asset}.{fmt}", *fs)
        injected += len(fs)
    db = db_factory("faulty.db")
    res = _sync(db, ofac_cfg(db, fault_server.base + "/lists/", fmt, timeout=0.4))
    assert res.status == "ok", res.errors
    served_faults = sum(1 for _, _, o in fault_server.log if o not in ("ok",))
    assert served_faults == injected, fault_server.log  # every fault was really hit
    assert snapshot(db) == clean


def test_all_faults_at_once_across_assets(db_factory: DbFactory, fault_server: FaultServer,
                                          pinned_now: str) -> None:
    clean = _clean(db_factory, fault_server, "json")
    assets = demo_assets()
    kinds = ["429", "500", "reset", "timeout", "truncate"]
    for i, kind in enumerate(kinds):
        fault_server.inject(f"sanctioned_addresses_{assets[i % len(assets)]}.json", kind)
    db = db_factory("faulty.db")
    res = _sync(db, ofac_cfg(db, fault_server.base + "/lists/", "json", timeout=0.4))
    assert res.status == "ok", res.errors
    for kind in kinds:
        assert fault_server.served(kind) == 1
    assert snapshot(db) == clean


def test_fatal_404_fails_the_stream_with_one_line(db_factory: DbFactory, fault_server: FaultServer) -> None:
    fault_server.inject("sanctioned_addresses_ETH.txt", "404")
    db = db_factory()
    res = _sync(db, ofac_cfg(db, fault_server.base + "/lists/"))
    assert res.status == "failed"
    [err] = res.errors
    assert "HTTP 404" in err and "\n" not in err
    assert fault_server.served("404") == 1  # fatal: not retried
    store = open_store(db)
    [run] = store.runs()
    [rs] = store.query("SELECT * FROM run_streams")
    store.close()
    assert run["status"] == "failed" and "HTTP 404" in run["error"]
    assert rs["status"] == "failed" and rs["error"] == err.split(": ", 1)[1]


def test_resume_after_fatal_error_completes_identically(db_factory: DbFactory, fault_server: FaultServer,
                                                        pinned_now: str) -> None:
    clean = _clean(db_factory, fault_server, "txt")
    last = demo_assets()[-1]
    fault_server.inject(f"sanctioned_addresses_{last}.txt", "403")
    db = db_factory()
    cfg = ofac_cfg(db, fault_server.base + "/lists/")
    assert _sync(db, cfg).status == "failed"
    assert _sync(db, cfg).status == "ok"
    assert snapshot(db) == clean


def test_killed_run_is_marked_abandoned_by_the_next(db_factory: DbFactory, fault_server: FaultServer) -> None:
    db = db_factory()
    store = open_store(db)
    store.start_run("sync", "2026-01-01T00:00:00Z")  # a run whose process died without ending it
    store.close()
    assert _sync(db, ofac_cfg(db, fault_server.base + "/lists/")).status == "ok"
    store = open_store(db)
    statuses = sorted(r["status"] for r in store.runs())
    store.close()
    assert statuses == ["abandoned", "ok"]


def test_pagination_state_and_records_commit_together(db_factory: DbFactory, fault_server: FaultServer) -> None:
    """After each page the stored cursor names exactly the assets whose rows are stored."""
    db = db_factory()
    last = demo_assets()[-1]
    fault_server.inject(f"sanctioned_addresses_{last}.txt", "403")
    _sync(db, ofac_cfg(db, fault_server.base + "/lists/"))
    store = open_store(db)
    st = store.get_state("ofac_addresses.addresses")
    stored = {r["a"] for r in store.query(
        f"SELECT DISTINCT {store.json_text('attrs', 'asset')} AS a FROM observations")}
    store.close()
    assert st["complete"] is False and last not in st["done"]
    assert stored <= set(st["done"]) and stored


class _UrlInStateStream:
    """Like akash's streams: keeps its base URL in state to notice a configuration change."""

    name = "urlstate.s"
    primary_key = ("id",)
    cursor_field = None
    is_sorted = False

    def __init__(self, base: str) -> None:
        from connectors.base import ENTITIES

        self.base = base
        self.tables = (ENTITIES,)

    async def extract(self, ctx: Any, state: dict[str, Any]) -> Any:
        from connectors.base import Page

        resp = await ctx.http.get_bytes(self.base + "sanctioned_addresses_ETH.txt")
        yield Page(body=resp.body, url=self.base, method="GET", data=None,
                   state={"node": self.base, "seen": [self.base]})

    def transform(self, page: Any) -> Any:
        from connectors.base import Record

        yield Record("entities", {"id": "x", "kind": "wallet"})


class _UrlInStateConnector:
    name = "urlstate"
    description = "test"

    def __init__(self, base: str) -> None:
        self.base = base

    def default_config(self) -> dict[str, Any]:
        return {"base_url": self.base}

    def streams(self, config: dict[str, Any]) -> list[Any]:
        return [_UrlInStateStream(config["base_url"])]

    def probes(self, config: dict[str, Any]) -> list[Any]:
        return []

    def secrets(self, config: dict[str, Any]) -> list[str]:
        return []


def _cells_with(store: Any, needle: bytes) -> list[str]:
    """Where ``needle`` occurs in any cell of any table (raw bodies decompressed): ``table.column``."""
    found = []
    for t in sorted(store.table_names()):
        for row in store.query(f'SELECT * FROM "{t}"'):
            for col, v in row.items():
                data = v if isinstance(v, bytes) else str(v).encode()
                if t == "raw_payloads" and col == "body" and v is not None:
                    data = unpack_body(v)
                if needle in data:
                    found.append(f"{t}.{col}")
    return found


def test_a_key_in_a_state_or_page_url_never_reaches_the_database(tmp_path: Path, db_factory: DbFactory,
                                                                  fault_server: FaultServer) -> None:
    key = "fedcba9876543210fedcba9876543210"
    base = f"{fault_server.base}/v2/{key}/"
    conn = _UrlInStateConnector(base)
    db = db_factory()
    store = open_store(db)
    res = asyncio.run(sync(store, {"db": db, "connectors": {}},
                           plan=[(conn, conn.streams({"base_url": base}))]))  # type: ignore[list-item]
    st = store.get_state("urlstate.s")
    leaked = _cells_with(store, key.encode())
    bodies = [store.raw_payload(r["sha256"]) for r in store.query("SELECT sha256 FROM raw_payloads")]
    if sqlite_path(db) is not None:
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[attr-defined]
    store.close()
    assert res.status == "ok", res.errors
    assert key in fault_server.log[0][1]  # the key was used
    assert st["node"].endswith("/v2/***/")
    assert not leaked, leaked
    assert bodies and all(b is not None and key.encode() not in b["body"] for b in bodies)
    if sqlite_path(db) is not None:  # SQLite: not in the file's bytes either (free pages, WAL)
        for f in tmp_path.iterdir():
            assert key.encode() not in f.read_bytes(), f.name


def test_connectors_sharing_a_host_share_the_stricter_limits() -> None:
    from connectors.base import Probe
    from tracer.pipeline import plan_limits

    class C:
        def __init__(self, name: str, url: str) -> None:
            self.name = name
            self.url = url

        def probes(self, config: dict[str, Any]) -> list[Probe]:
            return [Probe("p", self.url)]

    a, b = C("a", "https://raw.example/x"), C("b", "https://raw.example/y")
    c = C("c", "https://other.example/")
    configs = {"a": {"limits": {"rate": 5, "concurrency": 8}}, "b": {"limits": {"rate": 2, "concurrency": 16}},
               "c": {"limits": {"rate": 0}}}
    lim = plan_limits([(a, []), (b, []), (c, [])], configs)  # type: ignore[list-item]
    assert (lim["raw.example"].rate, lim["raw.example"].concurrency) == (2, 8)
    assert lim["other.example"].rate == 0


class _LoopingStream:
    """Follows ``next`` tokens with a TokenGuard, as every paginating connector should."""

    name = "loop.s"
    primary_key = ("id",)
    cursor_field = None
    is_sorted = False

    def __init__(self, base: str) -> None:
        from connectors.base import ENTITIES

        self.base = base
        self.tables = (ENTITIES,)

    async def extract(self, ctx: Any, state: dict[str, Any]) -> Any:
        from connectors.base import Page
        from connectors.http import TokenGuard

        guard = TokenGuard(self.name)
        token = state.get("next")
        while True:
            resp = await ctx.http.get_json(f"{self.base}/page", params={"t": token} if token else None)
            token = resp.data["next"]
            guard.check(token)
            yield Page(body=resp.body, url=resp.url, method="GET", data=resp.data, state={"next": token})

    def transform(self, page: Any) -> Any:
        from connectors.base import Record

        yield Record("entities", {"id": f"x{page.data['n']}", "kind": "wallet"})


def test_a_looping_paginator_stops_with_an_error(db_factory: DbFactory) -> None:
    import json

    srv = FaultServer(files={"page": json.dumps({"n": 1, "next": "same-token"}).encode()})
    srv.start()
    try:
        class Conn(_UrlInStateConnector):
            name = "loop"

            def streams(self, config: dict[str, Any]) -> list[Any]:
                return [_LoopingStream(self.base)]

        conn = Conn(srv.base)
        store = open_store(db_factory())
        res = asyncio.run(sync(store, {"connectors": {}}, plan=[(conn, conn.streams({}))]))  # type: ignore[list-item]
        [rs] = store.query("SELECT status, pages, error FROM run_streams")
        store.close()
    finally:
        srv.stop()
    assert res.status == "failed"
    assert rs["status"] == "failed" and "seen twice" in rs["error"]
    assert rs["pages"] == 1 and len(srv.log) == 2  # stopped at the first repeat, not after many
