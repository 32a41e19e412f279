"""Store faults (issue 17): every fault of the store's file or disk is one line naming the cause and
what to do, never "internal error"; migrations run under the lock; read commands work on a
read-only store; an empty or foreign file is refused, not replaced.

Disk full is simulated with SQLite's ``PRAGMA max_page_count`` (SQLITE_FULL, no privileges) and,
for the lock file, ``os.open``/``os.pwrite`` raising ENOSPC in the tracer process.  Tests run as
root here, so ``chmod`` stops nothing: read-only is tested through ``store.read_only``, the mode
selection directly, and -- where the process may mount and chattr (root with CAP_SYS_ADMIN) -- on a
real read-only tmpfs and an immutable file; those two skip elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import multiprocessing as mp
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import demo_assets, ofac_cfg
from faultserver import FaultServer, cli_env, run_cli, write_config

from tracer.pipeline import sync
from tracer.store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    LockedError,
    NotAStoreError,
    ReadOnlyStoreError,
    Store,
    StoreFault,
    open_mode,
)
from tracer.store import sqlite as store_sqlite

# The tracer CLI with faults injected from the environment (a real process, real exit codes).
FAULTY_TRACER = r"""
import errno, os, sys
extra = os.environ.get("FAULT_MAX_PAGES")
if extra:  # SQLITE_FULL once the database grows by this many pages
    import tracer.store as s
    orig = s.Store.__init__
    def init(self, *a, **k):
        orig(self, *a, **k)
        n = self.db.execute("PRAGMA page_count").fetchone()[0]
        self.db.execute(f"PRAGMA max_page_count={n + int(extra)}")
    s.Store.__init__ = init
lock = os.environ.get("FAULT_LOCK")  # "open" or "write": the lock file meets a full disk
if lock:
    real_open, real_pwrite = os.open, os.pwrite
    def fake_open(path, *a, **k):
        if lock == "open" and str(path).endswith(".lock"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real_open(path, *a, **k)
    def fake_pwrite(fd, data, offset):
        if lock == "write":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_pwrite(fd, data, offset)
    os.open, os.pwrite = fake_open, fake_pwrite
from tracer.cli import run
sys.argv[0] = "tracer"
run()
"""


def _faulty_cli(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", FAULTY_TRACER, *args], capture_output=True, text=True,
                          env=cli_env(**env), timeout=120)


def _one_line(r: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a failed command (no traceback, no "internal error")."""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: ") and "internal error" not in lines[0], lines[0]
    return lines[0]


def _sync_args(tmp_path: Path, base: str, db: Path, *extra: str) -> list[str]:
    cfg = write_config(tmp_path / "tracer.toml", base, assets=demo_assets(),
                       limits={"backoff_base": 0.01, "max_retries": 2, "rate": 0})
    return ["--config", str(cfg), "--db", str(db), "-q", *extra, "sync", "ofac_addresses"]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _indexes(db: Path) -> set[str]:
    con = sqlite3.connect(db)
    try:
        return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='index' AND sql IS NOT NULL")}
    finally:
        con.close()


@pytest.fixture(scope="module")
def synced_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small store written by a real sync (copied per test that writes)."""
    tmp = tmp_path_factory.mktemp("synced")
    srv = FaultServer()
    srv.start()
    try:
        store = Store(tmp / "t.db")
        res = asyncio.run(sync(store, ofac_cfg(tmp / "t.db", srv.base + "/lists/"), ["ofac_addresses"]))
        store.close()
    finally:
        srv.stop()
    assert res.status == "ok"
    return tmp / "t.db"


# -- migrations under the lock ------------------------------------------------------------------
def _open_at_barrier(path: str, barrier: Any, q: Any) -> None:
    try:
        barrier.wait(10)
        Store(path).close()
        q.put("ok")
    except BaseException as e:  # noqa: BLE001 - reported to the parent
        q.put(f"{type(e).__name__}: {e}")


def _race(paths: list[str], procs: int) -> list[str]:
    ctx = mp.get_context("fork")  # tracer already imported: the processes start in milliseconds
    out = []
    for path in paths:
        barrier, q = ctx.Barrier(procs), ctx.Queue()
        ps = [ctx.Process(target=_open_at_barrier, args=(path, barrier, q)) for _ in range(procs)]
        for p in ps:
            p.start()
        for p in ps:
            p.join(60)
        out += [q.get(timeout=5) for _ in ps]
    return out


def test_processes_creating_the_same_new_store_at_once_all_succeed(tmp_path: Path) -> None:
    paths = [str(tmp_path / f"r{i}" / "t.db") for i in range(12)]
    results = _race(paths, 4)
    assert results == ["ok"] * len(results), [r for r in results if r != "ok"][:3]
    for p in paths:
        con = sqlite3.connect(p)
        versions = [r[0] for r in con.execute("SELECT version FROM migrations ORDER BY version")]
        con.close()
        assert versions == list(range(1, SCHEMA_VERSION + 1))
        assert not [f for f in os.listdir(os.path.dirname(p)) if ".new-" in f]  # no temporary left


def _old_store(path: Path) -> None:
    import sqlite_utils

    db = sqlite_utils.Database(path)  # what a tracer with only migration 1 wrote
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)")
    MIGRATIONS[0][2](db)
    db.execute("INSERT INTO migrations VALUES (1, 'core', '2025-01-01')")
    db.conn.commit()
    db.close()


def test_processes_upgrading_the_same_old_store_at_once_all_succeed(tmp_path: Path) -> None:
    paths = []
    for i in range(10):
        (tmp_path / f"u{i}").mkdir()
        _old_store(tmp_path / f"u{i}" / "t.db")
        paths.append(str(tmp_path / f"u{i}" / "t.db"))
    results = _race(paths, 4)
    assert results == ["ok"] * len(results), [r for r in results if r != "ok"][:3]


def test_an_upgrade_waits_for_the_lock_and_says_why_when_it_cannot(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "t.db"
    _old_store(path)
    holder = Store(tmp_path / "other.db")  # any Store object: take the lock beside t.db by hand
    holder.path = str(path)
    monkeypatch.setattr(store_sqlite, "MIGRATE_WAIT_S", 0.2)
    with holder.lock("sync"), pytest.raises(LockedError, match="upgrade the store's schema"):
        Store(path)
    s = Store(path)  # released: upgraded
    assert [r["version"] for r in s.query("SELECT version FROM migrations")] == list(range(1, SCHEMA_VERSION + 1))
    s.close()
    holder.close()


# -- disk full ------------------------------------------------------------------------------------
def test_disk_full_ends_the_sync_with_one_line_and_the_next_writer_rebuilds_the_indexes(
        tmp_path: Path, fault_server: FaultServer) -> None:
    db = tmp_path / "t.db"
    args = _sync_args(tmp_path, fault_server.base + "/lists/", db)
    Store(db).close()
    r = _faulty_cli(args, FAULT_MAX_PAGES="5")
    assert r.returncode == 1
    line = _one_line(r)
    assert "disk full" in line and str(db) in line and "free space" in line
    con = sqlite3.connect(db)
    runs = con.execute("SELECT status, error FROM runs").fetchall()
    recorded = {n for (n,) in con.execute("SELECT name FROM deferred_indexes")}
    con.close()
    assert [s for s, _ in runs] == ["failed"] and "disk full" in runs[0][1]
    assert recorded, "the sync had dropped the indexes of its empty tables: they must stay recorded"
    assert not recorded & _indexes(db)

    r = _faulty_cli(args, FAULT_MAX_PAGES="0")  # still full: the next writer cannot rebuild them either
    assert r.returncode == 1 and "disk full" in _one_line(r)

    r = run_cli(args)  # space again: the next writer rebuilds every recorded index, the sync completes
    assert r.returncode == 0, r.stderr
    con = sqlite3.connect(db)
    assert con.execute("SELECT count(*) FROM deferred_indexes").fetchone()[0] == 0
    assert con.execute("SELECT status FROM runs ORDER BY started_at DESC, rowid DESC").fetchone()[0] == "ok"
    con.close()
    assert recorded <= _indexes(db)


def test_disk_full_in_process_raises_once_and_records_the_run_failed(tmp_path: Path,
                                                                     fault_server: FaultServer) -> None:
    db = tmp_path / "t.db"
    store = Store(db)
    n = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count={n + 5}")
    with pytest.raises(StoreFault, match="disk full") as info:
        asyncio.run(sync(store, ofac_cfg(db, fault_server.base + "/lists/"), ["ofac_addresses"]))
    # Raised once: no second exception from the failure path (index rebuild, run log) on top of it.
    assert isinstance(info.value.__context__, sqlite3.Error) or info.value.__context__ is None, \
        repr(info.value.__context__)
    assert [r["status"] for r in store.runs()] == ["failed"]
    assert store.query("SELECT name FROM deferred_indexes")
    store.close()


@pytest.mark.parametrize("where", ["open", "write"])
def test_a_lock_file_that_cannot_be_written_is_one_line(tmp_path: Path, fault_server: FaultServer,
                                                        where: str) -> None:
    db = tmp_path / "t.db"
    Store(db).close()
    r = _faulty_cli(_sync_args(tmp_path, fault_server.base + "/lists/", db), FAULT_LOCK=where)
    assert r.returncode == 1
    line = _one_line(r)
    assert "disk full" in line and f"lock file {db}.lock" in line, line


def test_a_lock_path_that_is_not_a_file_is_one_line(tmp_path: Path, fault_server: FaultServer) -> None:
    db = tmp_path / "t.db"
    Store(db).close()
    (tmp_path / "t.db.lock").unlink(missing_ok=True)
    (tmp_path / "t.db.lock").mkdir()  # unwritable as a file, whoever runs the test (root too)
    r = run_cli(_sync_args(tmp_path, fault_server.base + "/lists/", db))
    assert r.returncode == 1
    line = _one_line(r)
    assert f"lock file {db}.lock" in line


# -- read-only ------------------------------------------------------------------------------------
def test_open_mode_follows_what_is_writable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "t.db"
    Store(db).close()
    assert open_mode(str(db)) == ("rw", "")
    assert open_mode(str(db), read_only=True) == ("ro", "store.read_only is set")
    real = os.access
    unwritable: set[str] = set()
    monkeypatch.setattr(os, "access", lambda p, m: False if m == os.W_OK and str(p) in unwritable else real(p, m))
    unwritable.add(str(db))
    assert open_mode(str(db)) == ("ro", "the file is not writable")
    unwritable.add(str(tmp_path))  # folder read-only too: SQLite cannot create the -shm beside it
    for f in tmp_path.glob("t.db-*"):
        f.unlink()
    assert open_mode(str(db))[0] == "immutable"
    (tmp_path / "t.db-shm").write_bytes(b"")  # ... unless one is there to open
    assert open_mode(str(db))[0] == "ro"


READS = [["runs"], ["runs", "--streams"], ["state", "show"], ["lists"], ["find", "Kowloon"],
         ["score", "--dry-run"]]
WRITES = [["sync", "ofac_addresses"], ["state", "reset", "--all"], ["score"], ["simulate", "--force", "--no-score"]]


def test_read_commands_work_and_write_commands_refuse_on_a_read_only_store(tmp_path: Path,
                                                                          synced_db: Path) -> None:
    db = tmp_path / "t.db"
    shutil.copy(synced_db, db)
    before = _digest(db)
    env = cli_env(TRACER_STORE__READ_ONLY="1")
    for cmd in READS:
        r = run_cli(["--db", str(db), "-q", *cmd], env=env)
        assert r.returncode in (0, 1) and "error" not in r.stderr, (cmd, r.stderr)
    for cmd in WRITES:
        r = run_cli(["--db", str(db), "-q", *cmd], env=env)
        assert r.returncode == 1, (cmd, r.stdout, r.stderr)
        line = _one_line(r)
        assert "read-only" in line and str(db) in line and "write access" in line, line
    assert _digest(db) == before


@contextlib.contextmanager
def _tmpfs(where: Path, size: str = "8m") -> Iterator[Path]:
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root")
    where.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                      capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def test_a_store_on_a_read_only_file_system(tmp_path: Path, synced_db: Path) -> None:
    with _tmpfs(tmp_path / "mnt") as mnt:
        shutil.copy(synced_db, mnt / "t.db")
        assert subprocess.run(["mount", "-o", "remount,ro", str(mnt)], capture_output=True).returncode == 0
        for cmd in READS[:3]:
            r = run_cli(["--db", str(mnt / "t.db"), "-q", *cmd])
            assert r.returncode == 0, (cmd, r.stderr)
        r = run_cli(["--db", str(mnt / "t.db"), "-q", "sync", "ofac_addresses"])
        assert r.returncode == 1 and "read-only file system" in _one_line(r)
        r = run_cli(["--db", str(mnt / "new.db"), "-q", "sync", "ofac_addresses"])
        assert r.returncode == 1 and "not writable" in _one_line(r)


def test_an_immutable_store_file(tmp_path: Path, synced_db: Path) -> None:
    db = tmp_path / "t.db"
    shutil.copy(synced_db, db)
    if subprocess.run(["chattr", "+i", str(db)], capture_output=True).returncode:
        pytest.skip("chattr +i needs root (CAP_LINUX_IMMUTABLE) and a file system that supports it")
    try:
        r = run_cli(["--db", str(db), "-q", "runs", "--json"])
        assert r.returncode == 0 and r.stdout.strip().startswith("["), r.stderr
        r = run_cli(["--db", str(db), "-q", "sync", "ofac_addresses"])
        assert r.returncode == 1 and "not writable" in _one_line(r)
    finally:
        subprocess.run(["chattr", "-i", str(db)], capture_output=True)


def test_disk_full_on_a_real_file_system(tmp_path: Path, fault_server: FaultServer) -> None:
    with _tmpfs(tmp_path / "mnt", size="6m") as mnt:
        db = mnt / "t.db"
        Store(db).close()
        (mnt / "fill").write_bytes(b"")
        with contextlib.suppress(OSError), open(mnt / "fill", "wb") as f:  # noqa: PTH123
            while True:
                f.write(b"\0" * 4096)
                f.flush()
        r = run_cli(_sync_args(tmp_path, fault_server.base + "/lists/", db))
        assert r.returncode == 1
        line = _one_line(r)
        assert "disk full" in line or "No space left" in line or "I/O error" in line, line
        (mnt / "fill").unlink()
        r = run_cli(_sync_args(tmp_path, fault_server.base + "/lists/", db))
        assert r.returncode == 0, r.stderr


# -- files that are not stores -------------------------------------------------------------------
def test_a_zero_byte_file_is_refused_not_replaced(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    db.write_bytes(b"")
    for cmd in (["runs"], ["sync", "ofac_addresses"], ["simulate", "--no-score"]):
        r = run_cli(["--db", str(db), "-q", *cmd])
        assert r.returncode == 2, (cmd, r.stderr)
        line = _one_line(r)
        assert str(db) in line and "empty file" in line and "delete it" in line
    assert db.stat().st_size == 0
    with pytest.raises(NotAStoreError, match="0 bytes"):
        Store(db)


def test_a_foreign_file_is_refused_not_replaced(tmp_path: Path) -> None:
    text = tmp_path / "notes.db"
    text.write_text("not a database\n" * 20)
    foreign = tmp_path / "shop.db"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    con.execute("INSERT INTO customers VALUES (1, 'x')")
    con.commit()
    con.close()
    for path, what in ((text, "not an SQLite database"), (foreign, "without tracer's tables")):
        before = _digest(path)
        for cmd in (["runs"], ["sync", "ofac_addresses"]):
            r = run_cli(["--db", str(path), "-q", *cmd])
            assert r.returncode == 2, (path, cmd, r.stderr)
            line = _one_line(r)
            assert str(path) in line and what in line, line
        assert _digest(path) == before
    con = sqlite3.connect(foreign)
    assert [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")] == ["customers"]
    con.close()


def test_a_missing_store_is_created_only_by_commands_that_create_stores(tmp_path: Path) -> None:
    db = tmp_path / "typo.db"
    r = run_cli(["--db", str(db), "-q", "runs"])
    assert r.returncode == 2 and "no tracer store at" in _one_line(r)
    assert not db.exists()
    with pytest.raises(NotAStoreError):
        Store(db, create=False)
    Store(db).close()  # the library default creates it
    assert run_cli(["--db", str(db), "-q", "runs", "--json"]).stdout.strip() == "[]"


def test_a_truncated_store_is_one_line(tmp_path: Path, synced_db: Path) -> None:
    db = tmp_path / "t.db"
    db.write_bytes(synced_db.read_bytes()[:30000])  # header intact, pages missing
    for cmd in (["runs", "--streams"], ["state", "show"], ["find", "x"], ["sync", "ofac_addresses"]):
        r = run_cli(["--db", str(db), "-q", *cmd])
        assert r.returncode in (1, 2), (cmd, r.stderr)
        line = _one_line(r)
        assert str(db) in line, line


def test_a_write_to_a_read_only_store_is_a_store_fault_in_the_library(synced_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    shutil.copy(synced_db, db)
    s = Store(db, read_only=True)
    assert s.runs()
    with pytest.raises(ReadOnlyStoreError, match="read-only"):
        s.start_run("x", "2026-01-01T00:00:00Z")
    with pytest.raises(ReadOnlyStoreError), s.lock("sync"):
        pass
    s.close()
