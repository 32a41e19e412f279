"""Shared fixtures: a fault-injecting loopback server in front of the OFAC demo lists, a pinned
clock (reproducible first_seen/fetched_at), helpers to build configs and sync in-process, and the
store backend a test runs against (``backend`` / ``db_factory``: SQLite and PostgreSQL)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from faultserver import FaultServer
from pg_support import pg_server, pg_url  # noqa: F401 - PostgreSQL fixtures (tests/pg_support.py)
from spark_support import spark  # noqa: F401 - the shared Spark session (tests/spark_support.py)

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


BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(params=BACKENDS, ids=("sqlite", "pg"))
def backend(request: pytest.FixtureRequest) -> str:
    """The store backend of this test: every test using it (or ``db_factory``) runs on both."""
    return str(request.param)


@pytest.fixture
def db_factory(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., str]]:
    """``make(name="t.db") -> db``: a new, empty store's ``db`` value for this test's backend.

    SQLite: a file path under ``tmp_path`` (``name`` names the file).  PostgreSQL: a fresh database
    on the session's server (``name`` is ignored), dropped at teardown.  The PostgreSQL server is
    asked for only by the pg half, so the SQLite half runs where PostgreSQL is not installed."""
    made: list[str] = []
    srv = request.getfixturevalue("pg_server") if backend == "postgresql" else None

    def make(name: str = "t.db") -> str:
        if srv is None:
            return str(tmp_path / name)
        url = srv.create_database()
        made.append(url)
        return url

    yield make
    for url in made:
        assert srv is not None
        srv.drop_database(url)


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
