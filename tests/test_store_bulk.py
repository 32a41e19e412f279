"""Bulk writes of a sync: secondary indexes of empty tables built once at the end (and rebuilt by
the next writer if the sync died), WAL checkpoints on a background thread, same rows either way."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from stream_support import OneStream

from connectors.base import EDGES, ENTITIES, ConfigError, Page, Record, Rows, RunContext
from tracer.pipeline import sync
from tracer.store import Store

ROOT = Path(__file__).resolve().parent.parent


def _indexes(store: Store, table: str) -> set[str]:
    return {r["name"] for r in store.query("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
                                           "AND sql IS NOT NULL", [table])}


class _EdgesStream:
    """Three pages of edges; while extracting, it notes which edges indexes exist (read from the store
    the sync writes to: a test's look behind the store interface, which no connector has)."""

    name = "bulk.edges"
    primary_key = ("id",)
    cursor_field = "block"
    is_sorted = True
    tables = (EDGES, ENTITIES)

    def __init__(self, first: int = 0) -> None:
        self.first = first
        self.seen_indexes: list[set[str]] = []
        self.store: Store | None = None

    async def extract(self, ctx: RunContext, state: dict[str, Any]) -> AsyncIterator[Page]:
        for b in range(int(state.get("cursor", self.first - 1)) + 1, self.first + 3):
            assert self.store is not None
            self.seen_indexes.append(_indexes(self.store, "edges"))
            yield Page(body=f"page {b}".encode(), url="http://127.0.0.1/x", method="GET", data=b,
                       state={"cursor": b})

    def transform(self, page: Page) -> Iterator[Record | Rows]:
        b = page.data
        yield Rows("edges", ("id", "kind", "src", "dst", "block", "amount"),
                   [(f"e{b}-{i}", "paid", f"wallet:evm:0x{i:040x}", f"wallet:evm:0x{i + 1:040x}", b, str(2**200 + i))
                    for i in range(50)])
        yield Record("entities", {"id": f"block:{b}", "kind": "block"})


def _run(db: Path, stream: _EdgesStream, defer: str | None = None) -> Any:
    store = Store(db)
    cfg: dict[str, Any] = {"db": str(db), "connectors": {}}
    if defer is not None:
        cfg["store"] = {"defer_indexes": defer}
    stream.store = store
    try:
        conn = OneStream("bulk", stream)
        return asyncio.run(sync(store, cfg, plan=[(conn, conn.streams({}))]))  # type: ignore[list-item]
    finally:
        store.close()


def _rows(db: Path) -> list[tuple[Any, ...]]:
    s = Store(db)
    try:
        return [tuple(r.values()) for r in s.query("SELECT id, src, dst, block, amount FROM edges ORDER BY id")]
    finally:
        s.close()


def test_indexes_of_an_empty_table_are_built_once_at_the_end(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    fresh = Store(db)
    full = _indexes(fresh, "edges")
    fresh.close()
    assert {"idx_edges_src_kind", "idx_edges_dst_kind", "idx_edges_kind_chain_block"} <= full
    assert "idx_edges_raw" not in full  # no index on raw_sha256 (StoreBackend.ensure_tables)
    st = _EdgesStream()
    res = _run(db, st)
    assert res.status == "ok", res.errors
    assert all(seen == set() for seen in st.seen_indexes)  # edges was empty: no index during the sync
    s = Store(db)
    assert _indexes(s, "edges") == full
    assert s.count("deferred_indexes") == 0
    plan = s.query("EXPLAIN QUERY PLAN SELECT * FROM edges WHERE src = ? AND kind = 'paid'", ["x"])
    s.close()
    assert any("idx_edges_src_kind" in r["detail"] for r in plan)

    # A second run: edges holds rows, so "empty" keeps its indexes while writing.
    st2 = _EdgesStream(first=3)
    assert _run(db, st2).status == "ok"
    assert st2.seen_indexes and all(seen == full for seen in st2.seen_indexes)


def test_deferring_changes_no_row(tmp_path: Path) -> None:
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    assert _run(a, _EdgesStream(), defer="never").status == "ok"
    st = _EdgesStream()
    assert _run(b, st, defer="always").status == "ok"
    assert all(seen == set() for seen in st.seen_indexes)
    assert _rows(a) == _rows(b) and len(_rows(a)) == 150
    assert _rows(a)[0][-1] == str(2**200)  # uint256 exact through the Rows path


def test_always_defers_a_table_that_holds_rows(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    assert _run(db, _EdgesStream()).status == "ok"
    st = _EdgesStream(first=3)
    assert _run(db, st, defer="always").status == "ok"
    assert all(seen == set() for seen in st.seen_indexes)
    s = Store(db)
    assert {"idx_edges_src_kind", "idx_edges_dst_kind"} <= _indexes(s, "edges")
    s.close()


def test_a_store_made_with_the_raw_index_keeps_it_through_a_deferred_sync(tmp_path: Path) -> None:
    """Stores made before tables lost their index on ``raw_sha256`` keep it: a first sync into
    their empty table defers it with the others and builds it again at the end."""
    db = tmp_path / "t.db"
    s = Store(db)
    s.execute('CREATE INDEX "idx_edges_raw" ON "edges" (raw_sha256)')  # as ensure_tables made it then
    before = _indexes(s, "edges")
    s.close()
    assert "idx_edges_raw" in before
    st = _EdgesStream()
    assert _run(db, st).status == "ok"
    assert all(seen == set() for seen in st.seen_indexes)
    s = Store(db)
    assert _indexes(s, "edges") == before
    plan = s.query("EXPLAIN QUERY PLAN SELECT id FROM edges WHERE raw_sha256 = ?", ["x"])
    s.close()
    assert any("idx_edges_raw" in r["detail"] for r in plan)


def test_a_bad_defer_setting_is_a_usage_error_before_the_run(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="defer_indexes"):
        _run(tmp_path / "t.db", _EdgesStream(), defer="sometimes")
    s = Store(tmp_path / "t.db")
    assert s.count("runs") == 0
    s.close()


def test_a_sync_killed_with_deferred_indexes_leaves_them_to_the_next_writer(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    s = Store(db)
    full, ent = _indexes(s, "edges"), _indexes(s, "entities")
    s.close()
    code = (f"import os, sys; sys.path.insert(0, {str(ROOT)!r})\n"
            "from tracer.store import Store\n"
            f"s = Store({str(db)!r})\n"
            "with s.lock('test'):\n"
            "    with s.bulk_writes(['edges', 'entities']) as deferred:\n"
            "        assert 'idx_edges_src_kind' in deferred, deferred\n"
            "        os._exit(9)  # like a SIGKILL: no cleanup runs\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 9, r.stderr
    s = Store(db)
    assert _indexes(s, "edges") == set()  # what the dead sync left
    assert s.count("deferred_indexes") == len(full) + len(ent) and ent  # both tables were empty
    with s.lock("next run"):
        pass
    assert _indexes(s, "edges") == full and _indexes(s, "entities") == ent
    assert s.count("deferred_indexes") == 0
    s.close()


def test_checkpoints_run_in_the_background_during_a_bulk_sync(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    s = Store(db)
    s.ensure_tables([EDGES])
    size0 = os.path.getsize(db)
    with s.lock("test"), s.bulk_writes(["edges"], checkpoint_interval=0.05):
        assert s.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0  # not on the writing thread
        for p in range(20):
            s.write_page("t.s", Page(f"p{p}".encode(), "http://127.0.0.1/", "GET", None, {"c": p},
                                     fetched_at="2026-01-01T00:00:00Z"),
                         [Rows("edges", ("id", "src", "dst"),
                               [(f"{p}-{i}", "a" * 60, "b" * 60) for i in range(500)])], "r")
        deadline = time.monotonic() + 10
        while os.path.getsize(db) <= size0 + 500_000 and time.monotonic() < deadline:
            time.sleep(0.05)
        grown = os.path.getsize(db) - size0
    assert grown > 500_000, "the database file only grows when a checkpoint copies the WAL into it"
    assert s.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] > 0  # restored after the sync
    assert s.count("edges") == 10_000
    s.close()


@pytest.mark.parametrize(("exc", "rebuilt"), [(RuntimeError("a stream crashed"), True),
                                              (KeyboardInterrupt(), False)])
def test_a_failed_sync_rebuilds_at_once_a_stopped_one_leaves_it_to_the_next(
        tmp_path: Path, exc: BaseException, rebuilt: bool) -> None:
    """A signal should stop the run now, not after an index build that can take minutes."""
    s = Store(tmp_path / "t.db")
    full = _indexes(s, "edges")
    with pytest.raises(type(exc)), s.lock("test"), s.bulk_writes(["edges"]):
        assert _indexes(s, "edges") == set()
        raise exc
    assert (_indexes(s, "edges") == full) is rebuilt
    assert (s.count("deferred_indexes") == 0) is rebuilt
    with s.lock("next"):
        assert _indexes(s, "edges") == full
    s.close()


def _big_deferred_store(path: Path, n: int) -> tuple[Store, set[str]]:
    """A store whose ``edges`` (``n`` rows, keys in random order) had its indexes deferred: with
    ``n`` = 80k the dst keys are ~6 MB, more than one of SQLite's sorted runs at the build's cache."""
    import random

    s = Store(path)
    full = _indexes(s, "edges")
    rnd = random.Random(16)
    # Stopped as by Ctrl-C: the deferred indexes stay recorded for the next writer to build.
    with pytest.raises(KeyboardInterrupt), s.lock("test"), s.bulk_writes(["edges"]):
        s.write_page("t.s", Page(b"p", "http://127.0.0.1/", "GET", None, {"c": 1}, fetched_at="2026-01-01T00:00:00Z"),
                     [Rows("edges", ("id", "kind", "src", "dst", "block"),
                           [(f"e{i:06d}", "paid", f"wallet:evm:0x{rnd.getrandbits(160):040x}",
                             f"wallet:evm:0x{rnd.getrandbits(160):040x}", i) for i in range(n)])], "r")
        raise KeyboardInterrupt
    assert _indexes(s, "edges") == set() and s.count("deferred_indexes") == len(full)
    return s, full


def test_deferred_indexes_are_sorted_on_worker_threads_and_come_out_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The parallel build (several sorted runs merged on worker threads) makes the same indexes, and
    the connection gets its usual cache back."""
    import tracer.store.sqlite as sq

    monkeypatch.setattr(sq, "SORT_THREADS", 2)
    s, full = _big_deferred_store(tmp_path / "t.db", 80_000)
    seen: list[tuple[int, int]] = []
    build = sq.Store._build_index

    def spy(self: Store, name: str, sql: str) -> None:
        seen.append((self.db.execute("PRAGMA threads").fetchone()[0], self.db.execute("PRAGMA cache_size").fetchone()[0]))
        build(self, name, sql)

    monkeypatch.setattr(sq.Store, "_build_index", spy)
    assert sorted(s.restore_deferred_indexes()) == sorted(full)
    assert seen and all(t == 2 and c == -sq.SORT_CACHE_KIB for t, c in seen)
    assert _indexes(s, "edges") == full and s.count("deferred_indexes") == 0
    assert s.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"  # every index entry matches its row
    assert s.db.execute("PRAGMA threads").fetchone()[0] == 0
    assert s.db.execute("PRAGMA cache_size").fetchone()[0] == -sq.CACHE_KIB
    dst = s.query("SELECT dst FROM edges WHERE id = 'e040000'")[0]["dst"]
    plan = s.query("EXPLAIN QUERY PLAN SELECT id FROM edges WHERE dst = ? AND kind = 'paid'", [dst])
    assert any("idx_edges_dst_kind" in r["detail"] for r in plan)
    assert [r["id"] for r in s.query("SELECT id FROM edges WHERE dst = ? AND kind = 'paid'", [dst])] == ["e040000"]
    s.close()


def test_an_index_whose_parallel_build_fails_is_built_on_one_thread(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Say SQLite's temp directory is full: the sorted runs cannot be written.  The failed build is
    rolled back and made again the usual way (one thread, the big cache); nothing stays deferred."""
    import sqlite3

    import tracer.store.sqlite as sq

    monkeypatch.setattr(sq, "SORT_THREADS", 2)
    s, full = _big_deferred_store(tmp_path / "t.db", 2_000)
    build = sq.Store._build_index
    calls: list[int] = []

    def failing(self: Store, name: str, sql: str) -> None:
        threads = self.db.execute("PRAGMA threads").fetchone()[0]
        calls.append(threads)
        if threads:
            with self.db.conn:  # partway through: the index exists in the transaction, then the disk is full
                self.db.execute(sql)
                raise sqlite3.OperationalError("database or disk is full")
        build(self, name, sql)

    monkeypatch.setattr(sq.Store, "_build_index", failing)
    assert sorted(s.restore_deferred_indexes()) == sorted(full)
    assert calls[0] == 2 and calls[1:] == [0] * len(full)  # the first failed; it and the rest on one thread
    assert _indexes(s, "edges") == full and s.count("deferred_indexes") == 0
    assert s.fault is None  # a temp-file failure is not the store's disk
    assert s.db.execute("PRAGMA cache_size").fetchone()[0] == -sq.CACHE_KIB
    s.close()


def test_the_end_of_a_streams_pages_starts_the_checkpoint_now(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``writes_ending`` (a stream queued its last page) wakes the checkpointer before its interval
    when the WAL is large: it is copied while the last pages are written, not by the first index
    build after them.  A small WAL is left alone."""
    import tracer.store.sqlite as sq

    db = tmp_path / "t.db"
    s = Store(db)
    s.ensure_tables([EDGES])
    size0 = os.path.getsize(db)
    with s.lock("test"), s.bulk_writes(["edges"], checkpoint_interval=3600):
        for p in range(20):
            s.write_page("t.s", Page(f"p{p}".encode(), "http://127.0.0.1/", "GET", None, {"c": p},
                                     fetched_at="2026-01-01T00:00:00Z"),
                         [Rows("edges", ("id", "src", "dst"),
                               [(f"{p}-{i}", "a" * 60, "b" * 60) for i in range(500)])], "r")
        wal = os.path.getsize(str(db) + "-wal")
        monkeypatch.setattr(sq, "CHECKPOINT_AT_END_BYTES", wal + 1)
        s.writes_ending()  # below the threshold: nothing happens
        time.sleep(0.3)
        assert os.path.getsize(db) == size0  # an hour's interval: no checkpoint yet
        monkeypatch.setattr(sq, "CHECKPOINT_AT_END_BYTES", wal)
        s.writes_ending()
        deadline = time.monotonic() + 10
        while os.path.getsize(db) <= size0 + 500_000 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert os.path.getsize(db) > size0 + 500_000, "the nudge copied the WAL into the database"
    assert s.count("edges") == 10_000
    s.writes_ending()  # outside bulk writes: nothing to wake, no error
    s.close()


@pytest.mark.parametrize("big", [True, False])
def test_the_checkpointer_copies_each_deferred_index_while_the_next_one_is_built(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, big: bool) -> None:
    """After a sync that left a large WAL, the index builds commit with the writer's own checkpoint
    still off: the first of them used to copy and sync that whole WAL, with nothing else running.
    The checkpointer is woken at the end of the pages and after each index, then stopped.  After a
    small WAL (a short sync) it is stopped first and SQLite's own checkpoint is back for the builds.
    Either way the rows and indexes come out whole and the writer's autocheckpoint comes back."""
    import tracer.store.sqlite as sq
    from tracer.store.sqlite_files import Checkpointer

    db = tmp_path / "t.db"
    s = Store(db)
    full = _indexes(s, "edges")
    wakes: list[float] = []
    autockpt: list[int] = []
    now, build = Checkpointer.now, sq.Store._build_index

    def woken(self: Checkpointer) -> None:
        wakes.append(time.monotonic())
        now(self)

    def spy(self: Store, name: str, sql: str) -> None:
        autockpt.append(self.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
        build(self, name, sql)

    monkeypatch.setattr(Checkpointer, "now", woken)
    monkeypatch.setattr(sq.Store, "_build_index", spy)
    size0 = os.path.getsize(db)
    with s.lock("test"), s.bulk_writes(["edges"], checkpoint_interval=3600) as deferred:
        assert sorted(deferred) == sorted(full)
        for p in range(10):
            s.write_page("t.s", Page(f"p{p}".encode(), "http://127.0.0.1/", "GET", None, {"c": p},
                                     fetched_at="2026-01-01T00:00:00Z"),
                         [Rows("edges", ("id", "kind", "src", "dst"),
                               [(f"{p}-{i:04d}", "paid", f"wallet:evm:0x{i:040x}", "b" * 60) for i in range(1000)])], "r")
        assert os.path.getsize(db) == size0  # an hour's interval: nothing copied during the pages
        wal = os.path.getsize(str(db) + "-wal")
        monkeypatch.setattr(sq, "CHECKPOINT_AT_END_BYTES", wal if big else wal + 1)
    if big:
        assert autockpt == [0] * len(full)  # no build copies the WAL itself
        assert len(wakes) == 1 + len(full)  # once at the end of the pages, once after each index
        assert os.path.getsize(db) > size0 + 1_000_000, "the checkpointer copied the sync into the database"
    else:
        assert autockpt == [s._autocheckpoint()] * len(full) and wakes == []
    assert s.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == s._autocheckpoint() > 0
    assert _indexes(s, "edges") == full and s.count("deferred_indexes") == 0
    assert s.count("edges") == 10_000
    assert s.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    s.close()
