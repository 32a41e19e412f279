"""Helpers for the list tests: sync a list connector from local files (real fixtures in place)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tracer.pipeline import SyncResult, sync
from tracer.store import Store
from tracer.world import fixtures_dir


def fixture(*parts: str) -> Path:
    """A real fixture file read in place, or skip the test with the reason."""
    fx = fixtures_dir()
    if fx is None:
        pytest.skip("../shared/fixtures not present (set TRACER_FIXTURES)")
    p = fx.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"fixture {p} not present")
    return p


def run_sources(store: Store, connector: Any, sources: dict[str, dict[str, Any]],
                monkeypatch: pytest.MonkeyPatch | None = None, now: str | None = None) -> SyncResult:
    """Sync ``connector`` with exactly ``sources`` (URLs or local paths) into ``store``."""
    if monkeypatch is not None and now is not None:
        monkeypatch.setenv("TRACER_NOW", now)
    cfg_c = {**connector.default_config(), "sources": sources}
    cfg = {"db": store.path, "connectors": {connector.name: cfg_c}}
    res = asyncio.run(sync(store, cfg, plan=[(connector, connector.streams(cfg_c))]))
    assert res.status == "ok", res.errors
    return res
