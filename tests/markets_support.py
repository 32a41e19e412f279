"""Helpers for the market connector tests: serve a DemoPart (or plain routes) on loopback and sync
selected connectors through the real pipeline into a fresh store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tracer.demo import serve_parts
from tracer.pipeline import SyncResult, sync
from tracer.store import Store
from tracer.world import DemoPart, fixtures_dir

HERE = Path(__file__).resolve().parent / "data" / "markets"


def data(name: str) -> bytes:
    """A fixture this project wrote (tests/data/markets, shapes documented in SOURCE.md)."""
    return (HERE / name).read_bytes()


def real(*parts: str) -> Path:
    """A real recorded fixture from ../shared/fixtures, or skip the test with the reason."""
    fx = fixtures_dir()
    if fx is None or not fx.joinpath(*parts).exists():
        pytest.skip(f"real fixture {'/'.join(parts)} not present (set TRACER_FIXTURES)")
    return fx.joinpath(*parts)


def routes_part(name: str, routes: list[web.RouteDef], config: Any) -> DemoPart:
    return DemoPart(name, routes, config)


async def run(part: DemoPart, tmp: Path, names: list[str], overrides: dict[str, Any] | None = None,
              store: Store | None = None) -> tuple[Store, SyncResult]:
    """Serve ``part`` on 127.0.0.1, sync connectors ``names`` against it, return the store and result."""
    runner, base = await serve_parts([part])
    try:
        conf = part.config(f"{base}/{part.name}")
        connectors = {n: {**conf[n], **((overrides or {}).get(n, {}))} for n in names}
        cfg = {"db": str(tmp / "t.db"), "connectors": connectors}
        st = store or Store(tmp / "t.db")
        res = await sync(st, cfg, names)
        return st, res
    finally:
        await runner.cleanup()


def rows(store: Store, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    return store.query(sql, params or [])


def attrs(row: dict[str, Any]) -> dict[str, Any]:
    a = row.get("attrs")
    return json.loads(a) if isinstance(a, str) else (a or {})
