"""The PostgreSQL backend on a real server: the same pages give the same rows as SQLite, row for row;
state, runs, locks, read-only access and the portable-SQL translation."""

from __future__ import annotations

import hashlib
from pathlib import Path

import psycopg
import pytest
from pg_support import (
    NOW,
    THINGS,
    DemoWorld,
    PgServer,
    assert_same_rows,
    page,
    rows_of,
    sync_into,
    write_sample,
)

from connectors.base import Column, Record, Table
from tracer.store import LockedError, NotAStoreError, ReadOnlyStoreError, Store, StoreError, open_store
from tracer.store.postgres import PostgresStore, redact_url
from tracer.store.postgres_schema import to_pg


def test_pages_give_the_same_rows_as_sqlite(tmp_path: Path, pg_url: str) -> None:
    sq, pg = Store(tmp_path / "t.db"), PostgresStore(pg_url)
    try:
        for s in (sq, pg):
            write_sample(s)
        assert_same_rows(rows_of(pg), rows_of(sq))
        # Replaying every page (a crash replays pages) changes nothing but the run ids.
        before = rows_of(pg)
        write_sample(pg)
        after = rows_of(pg)
        assert after["things"] == before["things"] and after["entities"] == before["entities"]
        row = pg.query("SELECT * FROM things WHERE id = ?", ["a"])[0]
        assert row["raw_sha256"] == hashlib.sha256(b"one").hexdigest()  # re-seen: cites its first page
        assert row["first_seen"] == "t1" and row["last_seen"] == "t9"
        assert pg.query("SELECT raw_sha256 FROM things WHERE id = 'r0001'")[0]["raw_sha256"] == \
            hashlib.sha256(b"three").hexdigest()  # changed: cites the page that changed it
        assert pg.query("SELECT first_seen, last_seen, v FROM things WHERE id = 'r0005'") == \
            [{"first_seen": "t2", "last_seen": "t3", "v": "again"}]  # a key twice in one COPY batch
        assert pg.get_state("demo.things") == sq.get_state("demo.things") == {"cursor": 2}
        assert [(r["stream"], r["state"]) for r in pg.states()] == [(r["stream"], r["state"]) for r in sq.states()]
        body = pg.raw_payload(hashlib.sha256(b"two").hexdigest())
        assert body is not None and body["body"] == b"two"
        assert pg.query("SELECT amount FROM edges")[0]["amount"] == str(2**255)  # uint256 as exact text
    finally:
        sq.close()
        pg.close()


def test_reads_and_aggregates_come_back_as_sqlite_gives_them(tmp_path: Path, pg_url: str) -> None:
    sq, pg = Store(tmp_path / "t.db"), PostgresStore(pg_url)
    try:
        for s in (sq, pg):
            write_sample(s)
        sqls = [("SELECT sum(n) AS s, count(*) AS c, min(id) AS lo, max(x) AS hi FROM things", []),
                ("SELECT avg(x) AS a FROM things WHERE id LIKE ?", ["R00%"]),  # LIKE ignores case, as SQLite's
                ("SELECT id FROM things WHERE v IS NOT ? ORDER BY id LIMIT 3", ["1"]),
                ("SELECT id, v FROM things WHERE v = '50% ? ''quoted''' OR id = ?", ["a"]),
                ("SELECT id FROM things WHERE id >= ? AND id < ? ORDER BY id", ["a", "r0003"]),
                ("SELECT id FROM things WHERE id > 'Z' ORDER BY id LIMIT 2", [])]  # byte order, as SQLite
        for sql, params in sqls:
            assert pg.query(sql, params) == sq.query(sql, params), sql
        js = "SELECT {} AS c FROM observations"
        assert pg.query(js.format(pg.json_text("attrs", "category"))) == [{"c": "exchange"}]
        assert list(pg.iter_rows("SELECT id FROM things ORDER BY id", size=7)) == \
            list(sq.iter_rows("SELECT id FROM things ORDER BY id"))
        assert pg.count("things") == sq.count("things") == 302
        assert set(pg.table_names()) == set(sq.table_names()) - {"sqlite_stat1"}
        assert pg.table_columns("things") == sq.table_columns("things")
        assert pg.has_table("things") and not pg.has_table("nothing")
    finally:
        sq.close()
        pg.close()


def test_portable_sql_translation() -> None:
    assert to_pg("SELECT * FROM t WHERE a = ? AND b LIKE '%?%' -- a ? here\n AND c IS NOT ?") == (
        "SELECT * FROM t WHERE a = %s AND b ILIKE '%%?%%' -- a ? here\n AND c IS DISTINCT FROM %s")
    assert to_pg('SELECT "we?ird" FROM t WHERE x IS NULL AND y IS NOT NULL AND z IS ?') == (
        'SELECT "we?ird" FROM t WHERE x IS NULL AND y IS NOT NULL AND z IS NOT DISTINCT FROM %s')
    assert to_pg("SELECT a::jsonb FROM t WHERE b = :name", named=True) == "SELECT a::jsonb FROM t WHERE b = %(name)s"
    assert to_pg("SELECT 'it''s ?' || ? /* ? */") == "SELECT 'it''s ?' || %s /* ? */"


def test_errors_are_one_line_store_errors(pg_url: str) -> None:
    pg = PostgresStore(pg_url)
    try:
        pg.ensure_tables([THINGS])
        run = pg.start_run("x", NOW)
        with pytest.raises(StoreError, match="undeclared table"):
            pg.write_page("s", page(b"p", None), [Record("nope", {"id": "a"})], run)
        with pytest.raises(StoreError, match="unknown columns"):
            pg.write_page("s", page(b"p", None), [Record("things", {"id": "a", "zz": 1})], run)
        with pytest.raises(StoreError, match="does not fit"):
            pg.write_page("s", page(b"p", None), [Record("things", {"id": "a", "n": 2**70})], run)
        with pytest.raises(StoreError, match="NUL"):
            pg.write_page("s", page(b"p", None), [Record("things", {"id": "a", "v": "a\x00b"})], run)
        assert pg.count("things") == 0 and pg.count("raw_payloads") == 0  # each page all or nothing
    finally:
        pg.close()


def test_open_refuses_what_is_not_a_tracer_store(pg_server: PgServer, pg_url: str) -> None:
    with pytest.raises(NotAStoreError, match="no tracer store"):
        PostgresStore(pg_url, create=False)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE accounts (id int)")
    with pytest.raises(NotAStoreError, match="without tracer's tables"):
        PostgresStore(pg_url)
    with pytest.raises(NotAStoreError, match="does not exist"):
        PostgresStore(pg_server.url("no_such_db"))
    url = pg_server.create_database()
    try:
        PostgresStore(url).close()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO migrations VALUES (99, 'future', '')")
        with pytest.raises(StoreError, match="newer than this tracer"):
            PostgresStore(url)
    finally:
        pg_server.drop_database(url)


def test_open_store_picks_postgres_and_redacts_the_password(pg_url: str) -> None:
    s = open_store(pg_url)
    try:
        assert isinstance(s, PostgresStore) and s.path == pg_url
        assert s.migrate() == []  # opening migrated it; a second migrate has nothing to do
    finally:
        s.close()
    assert redact_url("postgresql://u:secret@h:5/db") == "postgresql://u:***@h:5/db"


def test_stream_locks_let_other_streams_sync_and_refuse_the_same_one(pg_url: str) -> None:
    a, b = PostgresStore(pg_url), PostgresStore(pg_url)
    try:
        with a.lock_streams("sync", ["lists.x", "lists.y"]):
            with b.lock_streams("sync", ["lists.z"]):
                pass  # another stream: goes ahead
            with pytest.raises(LockedError) as e, b.lock_streams("sync", ["lists.z", "lists.y"]):
                pass
            msg = str(e.value)
            assert "\n" not in msg and "lists.y" in msg and "another tracer process is syncing" in msg
            assert "tracer pid" in msg  # names the holder
            with pytest.raises(LockedError, match="write lock"), b.lock("score"):  # exclusive: refused during syncs
                pass
            with b.lock_streams("sync", ["lists.z"]):
                pass  # the refused attempt released what it took
        with b.lock("score"), pytest.raises(LockedError), a.lock_streams("sync", ["lists.x"]):
            pass
    finally:
        a.close()
        b.close()


def test_only_runs_of_dead_processes_are_abandoned(pg_url: str) -> None:
    alive, dead, me = PostgresStore(pg_url), PostgresStore(pg_url), PostgresStore(pg_url)
    try:
        r_alive = alive.start_run("sync a", NOW)
        r_dead = dead.start_run("sync b", NOW)
        dead.close()  # its session ends: as if the crawler was killed
        assert me.abandon_stale_runs(NOW) == 1
        status = {r["run_id"]: r["status"] for r in me.runs()}
        assert status == {r_alive: "running", r_dead: "abandoned"}
        alive.end_run(r_alive, "ok", NOW, 1.0, 0)
        assert me.abandon_stale_runs(NOW) == 0
    finally:
        alive.close()
        me.close()


def test_read_only_opening_and_role(pg_server: PgServer, pg_url: str) -> None:
    w = PostgresStore(pg_url)
    write_sample(w)
    w.grant_read_only("tracer_web")
    w.ensure_tables([Table("later", (Column("id"),), pk=("id",))])  # created after the grant: readable too
    w.close()
    ro = PostgresStore(pg_url, read_only=True)
    try:
        assert ro.read_only and ro.count("things") == 302
        with pytest.raises(ReadOnlyStoreError), ro.lock("sync"):
            pass
        with pytest.raises(ReadOnlyStoreError):
            ro.write_page("demo.things", page(b"p", None), [], "r")
    finally:
        ro.close()
    web_url = pg_url.replace("postgres@", "tracer_web@")
    web = open_store(web_url)  # the role's own default makes it read-only, without asking
    try:
        assert web.read_only and "default_transaction_read_only" in web.read_only_why
        assert web.count("things") == 302 and web.count("later") == 0
        with pytest.raises(ReadOnlyStoreError):
            web.reset_state()
    finally:
        web.close()


@pytest.mark.slow
def test_demo_world_sync_equals_sqlite_row_for_row(tmp_path: Path, pg_url: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Every demo connector (records and Rows, deletes, COPY batches) through the real pipeline, twice."""
    monkeypatch.setenv("TRACER_NOW", NOW)
    world = DemoWorld().start()
    sq, pg = Store(tmp_path / "t.db"), PostgresStore(pg_url)
    try:
        cfg = world.config()
        for _ in range(2):  # the second sync resumes from the stored cursors
            sync_into(sq, cfg)
            sync_into(pg, cfg)
            assert_same_rows(rows_of(pg), rows_of(sq))
        assert pg.count("edges") > 1000
        # Scoring reads the graph through the named reads and writes flags/evidence: the same on both.
        from tracer.scoring.run import score_store

        for s in (sq, pg):
            score_store(s, now=NOW)
        assert_same_rows(rows_of(pg), rows_of(sq))
        assert pg.count("flags") > 0
        # The streams' named questions answer alike on both backends.
        assert pg.akash_provider_owners() == sq.akash_provider_owners()
        assert pg.akash_lease_owners(50) == sq.akash_lease_owners(50)
        assert pg.evm_known_tokens("ethereum") == sq.evm_known_tokens("ethereum")
        assert pg.evm_transfer_wallets("ethereum", 0, 10**9, 10**6) == sq.evm_transfer_wallets("ethereum", 0, 10**9,
                                                                                                  10**6)
        snap = sq.list_latest_snapshot("un")
        assert pg.list_latest_snapshot("un") == snap
    finally:
        sq.close()
        pg.close()
        world.stop()
