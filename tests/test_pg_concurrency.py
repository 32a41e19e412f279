"""Several crawler processes, one PostgreSQL store: different streams sync at the same time and
lose nothing; a second process on a stream that is being synced is refused with one line."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from faultserver import TRACER, cli_env, run_cli
from pg_support import NOW, DemoWorld, assert_same_rows, rows_of, toml_config

from tracer.store import Store
from tracer.store.postgres import PostgresStore

A = ["ofac_addresses"]  # one stream; its answers are held until the test releases them
B = ["vastai", "golem", "clore"]  # three other connectors


@pytest.fixture
def world() -> Iterator[DemoWorld]:
    w = DemoWorld(hold=("/ofac/",)).start()
    try:
        yield w
    finally:
        w.release()
        w.stop()


def _config(tmp_path: Path, world: DemoWorld) -> Path:
    path = tmp_path / "tracer.toml"
    path.write_text(toml_config({"connectors": world.config(A + B)}))
    return path


def _crawler(cfg: Path, db: str, selectors: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen([TRACER, "-q", "--config", str(cfg), "--db", db, "sync", *selectors],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=cli_env(TRACER_NOW=NOW))


def _sync(cfg: Path, db: str, selectors: list[str]) -> Any:
    return run_cli(["-q", "--config", str(cfg), "--db", db, "sync", *selectors], env=cli_env(TRACER_NOW=NOW),
                   timeout=180)


def _fetching(world: DemoWorld, proc: subprocess.Popen[str]) -> None:
    """Wait until ``proc`` (crawler A) asked for its first held answer: it is mid-sync, locks held."""
    deadline = time.monotonic() + 90
    while not world.requests("/ofac/") and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert world.requests("/ofac/"), f"crawler A never started fetching: {proc.poll()} {_wait(proc)}"


def _wait(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=180)
    return proc.returncode, out, err


@pytest.mark.slow
def test_two_crawlers_on_different_streams_lose_nothing(tmp_path: Path, pg_url: str, world: DemoWorld) -> None:
    cfg = _config(tmp_path, world)
    a = _crawler(cfg, pg_url, A)
    _fetching(world, a)
    b = _sync(cfg, pg_url, B)  # runs from start to end while A is in the middle of its sync
    assert b.returncode == 0, b.stderr
    assert a.poll() is None
    world.release()
    code, _, err = _wait(a)
    assert code == 0, err
    # The same two syncs one after the other into SQLite: the same rows, row for row.
    for sel in (A, B):
        r = _sync(cfg, str(tmp_path / "t.db"), sel)
        assert r.returncode == 0, r.stderr
    pg, sq = PostgresStore(pg_url), Store(tmp_path / "t.db")
    try:
        assert_same_rows(rows_of(pg), rows_of(sq))
        assert [r["status"] for r in pg.runs()] == ["ok", "ok"]
        assert pg.count("raw_payloads") == sq.count("raw_payloads") > 0
    finally:
        pg.close()
        sq.close()


@pytest.mark.slow
def test_a_second_crawler_on_the_same_stream_is_refused_with_one_line(tmp_path: Path, pg_url: str,
                                                                      world: DemoWorld) -> None:
    cfg = _config(tmp_path, world)
    first = _crawler(cfg, pg_url, A)
    _fetching(world, first)
    second = _sync(cfg, pg_url, A)
    assert first.poll() is None
    assert second.returncode == 1
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in second.stderr, second.stderr
    assert lines[0].startswith("error: another tracer process is syncing ofac_addresses.addresses"), lines[0]
    world.release()
    code, _, err = _wait(first)
    assert code == 0, err
    pg = PostgresStore(pg_url)
    try:
        assert [r["status"] for r in pg.runs()] == ["ok"]  # the refused crawler recorded no run
    finally:
        pg.close()
    r = _sync(cfg, pg_url, A)
    assert r.returncode == 0, r.stderr  # released: the next one goes ahead
