"""``tracer sync``'s early start (issue 16): a stream that reads the store only before its first page
(``early_start``) sends its first requests on a read-only snapshot of the store while the store
opens on a worker thread; under the lock its state is compared with the snapshot's, and a stream
another run stored in between starts again on the store.  What is written never comes from a
snapshot the store contradicts."""

from __future__ import annotations

import asyncio
import io
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from stream_support import OneStream

from connectors.base import ENTITIES, ConnectorError, Page, Record, RunContext
from tracer.live import LiveView
from tracer.pipeline import SyncResult, sync
from tracer.store import Opening, Store, StoreError
from tracer.store.snapshot import Snapshot, peek

STREAM = "early.s"


class _Stream:
    """Three pages from the stored cursor on; notes when it starts (with what) and when it is closed."""

    name = STREAM
    primary_key = ("id",)
    cursor_field = "n"
    is_sorted = True
    tables = (ENTITIES,)
    early_start = True

    def __init__(self, log: list[tuple[Any, ...]], fail: bool = False) -> None:
        self.log, self.fail = log, fail
        self.ctx: RunContext | None = None

    async def extract(self, ctx: RunContext, state: dict[str, Any]) -> AsyncIterator[Page]:
        self.ctx = ctx
        self.log.append(("start", dict(state), type(ctx.stored).__name__))
        try:
            await asyncio.sleep(0.05)  # the first request's round trip
            if self.fail:
                raise ConnectorError("the node said no")
            first = int(state.get("cursor", -1)) + 1
            for n in range(first, first + 3):
                yield Page(body=f"page {n}".encode(), url="http://127.0.0.1/x", method="GET", data=n,
                           state={"cursor": n})
        finally:
            self.log.append(("closed", dict(state)))

    def transform(self, page: Page) -> Iterator[Record]:
        yield Record("entities", {"id": f"e:{page.data}", "kind": "test"})


class _Opening(Opening):
    """An Opening that notes when it opens, after ``before`` (another process's write, a failure)."""

    def __init__(self, db: Path, log: list[tuple[Any, ...]], before: Callable[[], None] | None = None) -> None:
        super().__init__(str(db))
        self.log, self.before = log, before

    def open(self) -> Any:
        self.log.append(("open",))
        if self.before is not None:
            self.before()
        return super().open()


def _run(store: Any, stream: _Stream) -> tuple[SyncResult, list[asyncio.Task[Any]]]:
    """One sync; also the tasks still pending after it (an early start must leave none)."""

    async def main() -> tuple[SyncResult, list[asyncio.Task[Any]]]:
        conn = OneStream("early", stream)
        try:
            res = await sync(store, {"db": "unused", "connectors": {}}, plan=[(conn, conn.streams({}))])  # type: ignore[list-item]
        finally:
            await asyncio.sleep(0)
        return res, [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]

    return asyncio.run(main())


def _first_sync(db: Path) -> None:
    """A whole early-started sync into ``db``: pages 0-2 stored, the cursor at 2."""
    first = _Opening(db, [])
    assert _run(first, _Stream([]))[0].status == "ok"
    assert first.store is not None
    first.store.close()


def _ids(db: Path) -> list[str]:
    s = Store(db)
    try:
        return [r["id"] for r in s.query("SELECT id FROM entities WHERE kind = 'test' ORDER BY id")]
    finally:
        s.close()


def _cursor(db: Path) -> dict[str, Any]:
    s = Store(db)
    try:
        return s.get_state(STREAM)
    finally:
        s.close()


def test_a_new_store_the_stream_starts_before_the_store_opens(tmp_path: Path) -> None:
    db, log = tmp_path / "t.db", list[tuple[Any, ...]]()
    stream = _Stream(log)
    opening = _Opening(db, log)
    res, pending = _run(opening, stream)
    assert res.status == "ok", res.errors
    assert log[:2] == [("start", {}, "Snapshot"), ("open",)]  # started on the snapshot, before the open
    assert [e for e in log if e[0] == "start"] == [("start", {}, "Snapshot")]  # once
    assert stream.ctx is not None and stream.ctx.stored is opening.store  # reads the store after the check
    assert stream.ctx.run_id == res.run_id
    assert _ids(db) == ["e:0", "e:1", "e:2"] and _cursor(db) == {"cursor": 2}
    assert pending == []
    assert opening.store is not None
    opening.store.close()


def test_a_resumed_sync_starts_early_from_the_stored_cursor(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    _first_sync(db)
    log: list[tuple[Any, ...]] = []
    opening = _Opening(db, log)
    res, pending = _run(opening, _Stream(log))
    assert res.status == "ok", res.errors
    assert log[:2] == [("start", {"cursor": 2}, "Snapshot"), ("open",)]
    assert _ids(db) == [f"e:{n}" for n in range(6)] and _cursor(db) == {"cursor": 5}
    assert pending == []
    assert opening.store is not None
    opening.store.close()


def test_a_stream_stored_by_another_run_in_between_starts_again_on_the_store(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    _first_sync(db)

    def other_run() -> None:  # commits page 10 of the stream after the snapshot was read
        s = Store(db)
        s.write_page(STREAM, Page(b"page 10", "http://127.0.0.1/x", "GET", 10, {"cursor": 10},
                                  fetched_at="2026-01-01T00:00:00Z"),
                     [Record("entities", {"id": "e:10", "kind": "test"})], "other")
        s.close()

    log: list[tuple[Any, ...]] = []
    opening = _Opening(db, log, before=other_run)
    res, pending = _run(opening, _Stream(log))
    assert res.status == "ok", res.errors
    starts = [e for e in log if e[0] == "start"]
    assert starts == [("start", {"cursor": 2}, "Snapshot"), ("start", {"cursor": 10}, "Store")]
    assert ("closed", {"cursor": 2}) in log  # the early one was stopped, its generator closed
    # Nothing of the early start was written (its page 3 never reached the store).
    assert _ids(db) == ["e:0", "e:1", "e:10", "e:11", "e:12", "e:13", "e:2"]
    assert _cursor(db) == {"cursor": 13}
    assert pending == []
    assert opening.store is not None
    opening.store.close()


def test_a_store_that_fails_to_open_stops_the_early_stream(tmp_path: Path) -> None:
    log: list[tuple[Any, ...]] = []

    def fail() -> None:
        raise StoreError("the disk is gone")

    async def main() -> list[asyncio.Task[Any]]:
        conn = OneStream("early", _Stream(log))
        with pytest.raises(StoreError, match="the disk is gone"):
            await sync(_Opening(tmp_path / "t.db", log, before=fail), {"db": "unused", "connectors": {}},
                       plan=[(conn, conn.streams({}))])  # type: ignore[list-item]
        await asyncio.sleep(0)
        return [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]

    assert asyncio.run(main()) == []
    assert log[0] == ("start", {}, "Snapshot") and ("closed", {}) in log
    assert not (tmp_path / "t.db").exists()


def test_an_early_stream_that_fails_fails_as_it_always_did(tmp_path: Path) -> None:
    db, log = tmp_path / "t.db", list[tuple[Any, ...]]()
    opening = _Opening(db, log)
    res, pending = _run(opening, _Stream(log, fail=True))
    assert res.status == "failed" and res.errors == [f"{STREAM}: the node said no"]
    assert log[0] == ("start", {}, "Snapshot")
    assert pending == []
    assert opening.store is not None
    assert opening.store.runs()[0]["status"] == "failed"
    opening.store.close()


def test_an_open_store_or_a_store_it_cannot_peek_starts_the_stream_after_the_open(tmp_path: Path) -> None:
    db, log = tmp_path / "t.db", list[tuple[Any, ...]]()
    store = Store(db)
    res, _ = _run(store, _Stream(log))
    assert res.status == "ok" and log[0] == ("start", {}, "Store")
    store.close()
    # A store of an older schema (what a previous tracer wrote): no snapshot; the open migrates it.
    con = sqlite3.connect(db)
    con.execute("DELETE FROM migrations WHERE version = (SELECT max(version) FROM migrations)")
    con.commit()
    con.close()
    log.clear()
    opening = _Opening(db, log)
    assert opening.peek() is None
    res, _ = _run(opening, _Stream(log))
    assert res.status == "ok" and log[:2] == [("open",), ("start", {"cursor": 2}, "Store")]
    assert opening.store is not None
    opening.store.close()


def _interrupted(opening: Opening, log: list[tuple[Any, ...]], cancel_when: Callable[[], bool],
                 then: Callable[[], None] = lambda: None) -> str:
    """A sync told to a plain-line live view, cancelled as asyncio.run's Ctrl-C handler does (the main
    task's cancel) once ``cancel_when()`` holds, ``then()`` called; the view's lines.  No task is left
    behind."""
    out = io.StringIO()

    async def main() -> None:
        conn = OneStream("early", _Stream(log))
        task = asyncio.ensure_future(sync(opening, {"db": "unused", "connectors": {}}, plan=[(conn, conn.streams({}))],  # type: ignore[list-item]
                                          watch=LiveView(out=out)))
        for _ in range(200):  # bounded: 10 s
            if cancel_when() or task.done():
                break
            await asyncio.sleep(0.05)
        task.cancel()
        then()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)
        assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()] == []

    asyncio.run(main())
    return out.getvalue()


def test_ctrl_c_while_the_store_opens_says_the_early_stream_was_interrupted(tmp_path: Path) -> None:
    """The early stream's requests are out, the store is still opening (a slow disk, a loaded
    machine): Ctrl-C there names the stream it stopped, as it does once the run is under the lock
    (it used to say nothing of it: CI, a loaded machine's ``tracer sync evm``)."""
    log: list[tuple[Any, ...]] = []
    gate = threading.Event()

    def held() -> None:  # the open waits (bounded) until the test has pressed Ctrl-C
        gate.wait(10)

    opening = _Opening(tmp_path / "t.db", log, before=held)
    try:
        lines = _interrupted(opening, log, lambda: any(e[0] == "start" for e in log), gate.set).splitlines()
    finally:
        gate.set()
    assert ("closed", {}) in log  # its generator closed, its requests stopped
    assert len(lines) == 1 and lines[0].startswith(f"{STREAM} interrupted: "), lines
    assert " 0 records, 0 retries" in lines[0], lines
    assert lines[0].endswith("; error: stopped by a signal"), lines
    if opening.store is not None:  # the open ran on in its thread: nothing was recorded in it
        assert opening.store.runs() == []
        opening.store.close()


def test_ctrl_c_as_the_run_starts_records_the_early_stream_interrupted(tmp_path: Path) -> None:
    """Ctrl-C while the run row is written (under the lock, before the streams' tasks ran their first
    step): the run and the early stream are both recorded and shown as interrupted."""
    log: list[tuple[Any, ...]] = []

    class CancelAtStart(_Opening):
        def open(self) -> Any:
            store = super().open()
            start_run = store.start_run

            def cancelled_start(*a: Any) -> str:
                run_id = start_run(*a)
                task = asyncio.current_task()
                assert task is not None
                task.cancel()  # what the SIGINT handler of asyncio.run does, delivered at the next await
                return str(run_id)

            store.start_run = cancelled_start
            return store

    opening = CancelAtStart(tmp_path / "t.db", log)
    text = _interrupted(opening, log, lambda: False)
    lines = [ln for ln in text.splitlines() if not ln.endswith(" running")]
    assert len(lines) == 1 and lines[0].startswith(f"{STREAM} interrupted: ") and " 0 records" in lines[0], text
    assert lines[0].endswith("; error: stopped by a signal"), text
    assert opening.store is not None
    store = opening.store
    assert [r["status"] for r in store.runs()] == ["interrupted"]
    assert store.query("SELECT stream, status, records, error FROM run_streams") == [
        {"stream": STREAM, "status": "interrupted", "records": 0, "error": "stopped by a signal"}]
    assert store.get_state(STREAM) == {}
    store.close()
    assert _ids(tmp_path / "t.db") == []  # none of its pages was written


def test_peek_reads_what_the_store_reads_and_refuses_what_is_not_a_store(tmp_path: Path) -> None:
    missing = peek(str(tmp_path / "none.db"), 7)
    assert isinstance(missing, Snapshot) and missing.get_state("x") == {} and missing.evm_known_tokens("eth") == {}
    assert missing.evm_transfer_wallets("eth", 0, 10, 5) == set()
    assert not (tmp_path / "none.db").exists()  # a look never creates the file
    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    from tracer.store.base import SCHEMA_VERSION

    assert peek(str(other), SCHEMA_VERSION) is None  # another program's database
    (tmp_path / "junk.db").write_bytes(b"not sqlite at all" * 100)
    assert peek(str(tmp_path / "junk.db"), SCHEMA_VERSION) is None
    assert peek(":memory:", SCHEMA_VERSION) is None
    assert Opening("postgresql://u@127.0.0.1:1/x").peek() is None
    assert Opening(str(tmp_path / "none.db"), create=False).peek() is None  # a command that never creates
    assert Opening(str(tmp_path / "none.db"), read_only=True).peek() is None

    db = tmp_path / "t.db"
    s = Store(db)
    s.ensure_tables([ENTITIES])
    s.write_page(STREAM, Page(b"p", "http://127.0.0.1/x", "GET", 0, {"cursor": 7, "window": 20},
                              fetched_at="2026-01-01T00:00:00Z"), [], "r")
    snap = peek(str(db), SCHEMA_VERSION)
    assert snap is not None
    assert snap.get_state(STREAM) == s.get_state(STREAM) == {"cursor": 7, "window": 20}
    assert snap.evm_known_tokens("eth") == s.evm_known_tokens("eth") == {}  # no evm_tokens table yet
    assert sorted(snap.table_names()) == sorted(s.table_names())
    with pytest.raises(sqlite3.OperationalError):  # read-only: a look never writes
        snap.conn.execute("DELETE FROM stream_state")  # type: ignore[union-attr]
    snap.close()
    s.close()
