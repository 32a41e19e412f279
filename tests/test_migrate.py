"""``tracer migrate``: SQLite -> PostgreSQL -> SQLite gives back the original store row for row
(run ids, wall clocks and raw payloads included), idempotent, with one-line errors."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from faultserver import run_cli
from pg_support import THINGS, PgServer, assert_same_rows, rows_of, write_sample

from tracer.store import Store, open_store
from tracer.store.migrate import copy_store, table_info
from tracer.store.postgres import PostgresStore

EXACT: dict[str, set[str]] = {}  # nothing ignored: a copy keeps run ids and wall clocks too


def _exact(store: object) -> dict[str, list[tuple[object, ...]]]:
    return rows_of(store, ignore=(), by_table=EXACT)


def test_round_trip_is_row_for_row_and_idempotent(tmp_path: Path, pg_url: str) -> None:
    src = Store(tmp_path / "src.db")
    write_sample(src)
    src.log_stream("r-extra", "demo.other", "a", "b", "failed", 1, 2, "boom")
    pg = PostgresStore(pg_url)
    back = Store(tmp_path / "back.db")
    try:
        copied = copy_store(src, pg)
        assert copied["things"] == 302 and copied["raw_payloads"] == 3 and "migrations" not in copied
        assert_same_rows(_exact(pg), _exact(src))
        assert copy_store(src, pg) == copied  # again: nothing changes
        assert_same_rows(_exact(pg), _exact(src))
        copy_store(pg, back)
        assert_same_rows(_exact(back), _exact(src))
        # The connector table came with its primary key and its declared indexes (none on raw_sha256).
        assert table_info(pg, "things").pk == ("id",)
        assert set(table_info(pg, "things").indexes) == {("n",)}
        assert {r["name"] for r in back.query("PRAGMA index_list('things')") if r["origin"] == "c"} == {"idx_things_n"}
        assert back.raw_payload(src.query("SELECT sha256 FROM raw_payloads LIMIT 1")[0]["sha256"]) is not None
        # The copy is a store like any other: syncing into it upserts onto the copied rows.
        write_sample(pg)
        assert pg.count("things") == 302
    finally:
        for s in (src, pg, back):
            s.close()


def test_cli_copies_with_a_one_line_summary(tmp_path: Path, pg_url: str) -> None:
    src = Store(tmp_path / "src.db")
    src.ensure_tables([THINGS])
    write_sample(src)
    src.close()
    r = run_cli(["migrate", str(tmp_path / "src.db"), pg_url])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("copied ") and pg_url in lines[0], r.stdout
    r = run_cli(["-q", "migrate", pg_url, f"sqlite:///{tmp_path / 'back.db'}"])
    assert r.returncode == 0, r.stderr
    a, b = Store(tmp_path / "src.db"), Store(tmp_path / "back.db")
    try:
        assert_same_rows(_exact(b), _exact(a))
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("args", [
    ["mysql://u@h/db", "x.db"],  # a scheme tracer does not know
    ["SRC", "mysql://u@h/db"],
    ["missing.db", "x.db"],  # a source that is not there is refused, not created
    ["SRC", "SRC"],  # the same store
])
def test_bad_arguments_are_one_line_usage_errors(tmp_path: Path, args: list[str]) -> None:
    src = tmp_path / "src.db"
    Store(src).close()
    argv = [str(src) if a == "SRC" else (str(tmp_path / a) if a.endswith(".db") else a) for a in args]
    r = run_cli(["migrate", *argv])
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "missing.db").exists()


def test_grant_read_only_role_for_serve(tmp_path: Path, pg_server: PgServer, pg_url: str) -> None:
    src = Store(tmp_path / "src.db")
    write_sample(src)
    src.close()
    r = run_cli(["migrate", str(tmp_path / "src.db"), pg_url, "--grant-read-only", "tracer_reader"])
    assert r.returncode == 0, r.stderr
    assert "tracer_reader may read it" in r.stdout
    web = open_store(pg_url.replace("postgres@", "tracer_reader@"))
    try:
        assert web.read_only and web.count("things") == 302
    finally:
        web.close()


@pytest.mark.slow
def test_demo_store_round_trip(tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole demo (every connector, scoring's flags and evidence) through PostgreSQL and back."""
    from tracer.demo import run_demo

    monkeypatch.setenv("TRACER_NOW", "2026-01-02T03:04:05Z")
    summary = asyncio.run(run_demo(tmp_path / "demo"))
    assert summary["status"] == "ok", json.dumps(summary["errors"])
    db = tmp_path / "demo" / "tracer.db"
    r = run_cli(["-q", "migrate", str(db), pg_url], timeout=600)
    assert r.returncode == 0, r.stderr
    r = run_cli(["-q", "migrate", pg_url, str(tmp_path / "back.db")], timeout=600)
    assert r.returncode == 0, r.stderr
    orig, back, pg = Store(db), Store(tmp_path / "back.db"), PostgresStore(pg_url)
    try:
        want = _exact(orig)
        assert {"flags", "evidence", "edges", "raw_payloads"} <= set(want)
        assert_same_rows(_exact(pg), want)
        assert_same_rows(_exact(back), want)
    finally:
        for s in (orig, back, pg):
            s.close()
