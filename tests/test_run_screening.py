"""A scheduled ``tracer run`` screens names: sync -> screen -> score -> export, each a logged step.

Before, only ``tracer screen --all`` stored ``name_match`` facts, so a scheduled job never flagged a
provider whose organisation is on the Entity List."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connectors.base import EDGES, OBSERVATIONS, Page, Record
from tracer import config as cfgmod
from tracer import registry
from tracer.demo import serve_parts
from tracer.pipeline import sync
from tracer.scheduler import run_cycle
from tracer.store import Store
from tracer.world.lists import demo_part

PROVIDER = "provider:akash:akash1screenedprovider"
AT = "2026-02-01T00:00:00Z"


async def _store_with_lists_and_provider(db: Path) -> Store:
    part = demo_part()
    runner, base = await serve_parts([part])
    try:
        cc = part.config(f"{base}/{part.name}")
        cfg: dict[str, Any] = {"db": str(db), "connectors": cc}
        conn = registry.get("lists_csl")
        store = Store(db)
        res = await sync(store, cfg, plan=[(conn, conn.streams(cfgmod.connector_config(cfg, "lists_csl",
                                                                                       conn.default_config())))])
        assert res.status == "ok", res.errors
    finally:
        await runner.cleanup()
    store.ensure_tables([OBSERVATIONS, EDGES])
    recs = [
        Record("observations", {"id": "obs:test:org", "subject": PROVIDER, "predicate": "organization",
                                "value": "Shenzhen Render Farm", "confidence": 1.0, "source": "test"}),
        Record("edges", {"id": "edge:test:payout", "kind": "payout_to", "src": PROVIDER,
                         "dst": "wallet:akash:akash1screenedprovider", "chain": "akash", "source": "test"}),
    ]
    run = store.start_run("test", AT)
    store.write_page("test", Page(b"x", "test", "GET", None, None, fetched_at=AT), recs, run)
    return store


async def test_run_cycle_screens_names_before_scoring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACER_NOW", AT)
    db = tmp_path / "t.db"
    store = await _store_with_lists_and_provider(db)
    assert not store.query("SELECT 1 FROM observations WHERE predicate = 'name_match'")
    cfg: dict[str, Any] = {"db": str(db), "connectors": {n: {"enabled": False} for n in registry.connectors()},
                           "export": {"min_score": 0.0}}
    cycle = await run_cycle(store, cfg, tmp_path / "exports")
    assert cycle.status == "ok", cycle.error
    assert [s.name for s in cycle.steps] == ["sync", "screen", "score", "export", "notify"]
    screen = cycle.steps[1]
    assert screen.status == "ok" and screen.records >= 1
    m = store.query("SELECT subject, value FROM observations WHERE predicate = 'name_match'")
    assert [r["subject"] for r in m] == [PROVIDER]
    flag = store.query("SELECT level, reasons FROM flags WHERE subject = ?", [PROVIDER])
    assert flag and "name_match" in flag[0]["reasons"]
    steps = {r["stream"]: r for r in store.query("SELECT stream, status, records FROM run_streams "
                                                  "WHERE stream LIKE 'step:%'")}
    assert steps["step:screen"]["status"] == "ok" and steps["step:screen"]["records"] >= 1
