"""Crash safety: ``tracer sync`` killed with SIGKILL at seeded random pages, then resumed, leaves
the database identical row for row to one uninterrupted run.

The loopback server knows the child's pid and kills it itself, either when the k-th request
arrives (the previous page is committed) or a few milliseconds after answering it (the kill
lands while the page is being transformed or written), so every crash point is deterministic.
Both store backends (SQLite and PostgreSQL): the child finds its store in its config's ``db``.
"""

from __future__ import annotations

import random
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import NOW, demo_assets
from faultserver import TRACER, FaultServer, cli_env, run_cli, snapshot, write_config

from tracer.store import open_store

SEED = 20260102
POINTS = 10


Snapshot = dict[str, list[tuple[object, ...]]]


def _config(tmp: Path, base: str, db: str) -> Path:
    return write_config(tmp / "tracer.toml", base + "/lists/", db=db, assets=demo_assets(), format="txt",
                        limits={"concurrency": 2, "rate": 0, "backoff_base": 0.01})


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    """One server for the module: the URL (port) is part of the stored provenance."""
    srv = FaultServer()
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def baselines() -> dict[str, Snapshot]:
    """The uninterrupted run's rows per backend, made once for the module (by the first test)."""
    return {}


@pytest.fixture
def baseline(baselines: dict[str, Snapshot], backend: str, db_factory: Callable[..., str],
             tmp_path_factory: pytest.TempPathFactory, server: FaultServer) -> Snapshot:
    if backend not in baselines:
        tmp = tmp_path_factory.mktemp(f"baseline-{backend}")
        db = db_factory("b.db")
        cfg = _config(tmp, server.base, db)
        r = run_cli(["--config", str(cfg), "-q", "sync", "ofac_addresses"], env=cli_env(TRACER_NOW=NOW))
        assert r.returncode == 0, r.stderr
        baselines[backend] = snapshot(db)
        assert baselines[backend]["observations"], "the uninterrupted run stored nothing"
    return baselines[backend]


def _points() -> list[tuple[int, float | None]]:
    n = len(demo_assets())
    if n < POINTS + 1:
        return []
    rng = random.Random(SEED)
    ks = sorted(rng.sample(range(1, n + 1), POINTS))
    # On arrival of request k, or 0-15 ms after answering it (mid transform/write) when k leaves
    # enough work that the process cannot have finished first.
    return [(k, None if k > n - 3 or rng.random() < 0.5 else round(rng.uniform(0, 0.015), 4)) for k in ks]


def _marked(points: list[tuple[int, float | None]]) -> list[Any]:
    """The first point runs in the fast suite; all ten (~15-50 s on a shared box) are slow."""
    return [pytest.param(k, d, marks=() if i == 0 else pytest.mark.slow) for i, (k, d) in enumerate(points)]


@pytest.mark.skipif(len(demo_assets()) < POINTS + 1,
                    reason="needs the real 0xB10C lists in ../shared/fixtures for >= 11 pages")
@pytest.mark.parametrize(("kill_at", "delay"), _marked(_points()))
def test_sigkill_then_resume_equals_uninterrupted(tmp_path: Path, server: FaultServer, baseline: Snapshot,
                                                  db_factory: Callable[..., str],
                                                  kill_at: int, delay: float | None) -> None:
    fault_server = server
    fault_server.reset()
    db = db_factory("t.db")
    cfg = _config(tmp_path, fault_server.base, db)
    args = [TRACER, "--config", str(cfg), "-q", "sync", "ofac_addresses"]
    env = cli_env(TRACER_NOW=NOW)
    fault_server.kill_at, fault_server.kill_delay = kill_at, delay
    child = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    fault_server.kill_pid = child.pid
    _, err = child.communicate(timeout=60)
    assert child.returncode == -9, f"not killed (rc {child.returncode}): {err}"

    store = open_store(db)
    assert [r["status"] for r in store.runs()] == ["running"]
    partial = store.get_state("ofac_addresses.addresses")
    store.close()
    assert partial.get("complete") is not True

    fault_server.kill_at = None
    r = run_cli(args[1:], env=env)
    assert r.returncode == 0, r.stderr
    assert snapshot(db) == baseline
    store = open_store(db)
    statuses = sorted(x["status"] for x in store.runs())
    final = store.get_state("ofac_addresses.addresses")
    store.close()
    assert statuses == ["abandoned", "ok"]
    assert final["complete"] is True and len(final["done"]) == len(demo_assets())
    # Resumed, not restarted: assets stored before the kill are not fetched again.
    refetched = len([e for e in fault_server.log if e[2] == "ok"]) - len(demo_assets())
    assert refetched <= 1 + (0 if delay is None else 1)
