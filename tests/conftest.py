"""Shared fixtures: a fault-injecting loopback server in front of the OFAC demo lists, a pinned
clock (reproducible first_seen/fetched_at), and helpers to build configs and sync in-process."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from faultserver import FaultServer

from tracer.world.ofac import demo_lists

NOW = "2026-01-02T03:04:05Z"


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    srv = FaultServer()
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def pinned_now(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TRACER_NOW", NOW)
    return NOW


@functools.cache
def demo_assets() -> list[str]:
    """The assets the demo lists cover (17 with the real fixtures, ETH alone without)."""
    return sorted(demo_lists()[0])


def ofac_cfg(db: Path | str, base_url: str, fmt: str = "txt", **limits: Any) -> dict[str, Any]:
    """A config syncing only ofac_addresses from ``base_url`` with fast retries."""
    lim = {"concurrency": 4, "rate": 0, "max_retries": 6, "backoff_base": 0.01, "backoff_max": 0.2,
           "timeout": 5.0, **limits}
    return {"db": str(db), "connectors": {"ofac_addresses": {
        "base_url": base_url, "format": fmt, "assets": demo_assets(), "limits": lim}}}
