"""``open_store``: the ``db`` config value chooses the backend; anything else is one usage line."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tracer.cli import main
from tracer.store import Store, StoreBackend, StoreError, StoreUrlError, open_store, sqlite_path


def test_a_path_or_sqlite_url_opens_sqlite(tmp_path: Path) -> None:
    for db in (tmp_path / "a.db", str(tmp_path / "b.db"), f"sqlite:///{tmp_path / 'c.db'}"):
        s = open_store(db)
        assert isinstance(s, Store) and isinstance(s, StoreBackend)
        s.close()
    assert sorted(p.name for p in tmp_path.glob("*.db")) == ["a.db", "b.db", "c.db"]
    m = open_store("sqlite:///:memory:")
    assert m.path == ":memory:" and m.count("entities") == 0
    m.close()
    assert sqlite_path("sqlite:///rel/t.db") == "rel/t.db" and sqlite_path("postgresql://h/db") is None


def test_keywords_reach_the_backend(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no tracer store"):
        open_store(tmp_path / "missing.db", create=False)
    open_store(tmp_path / "t.db").close()
    ro = open_store(tmp_path / "t.db", read_only=True, keep_raw_max_bytes=5)
    assert ro.read_only and ro.keep_raw_max_bytes == 5
    ro.close()


def test_postgresql_urls_go_to_the_postgres_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []

    class FakePostgres:
        def __init__(self, url: str, **kw: Any) -> None:
            seen.append((url, kw))

    fake = types.ModuleType("tracer.store.postgres")
    fake.PostgresStore = FakePostgres  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tracer.store.postgres", fake)
    for url in ("postgresql://u@h/db", "postgres://u@h:5433/db"):
        assert isinstance(open_store(url, create=False), FakePostgres)
    assert seen == [("postgresql://u@h/db", {"create": False}), ("postgres://u@h:5433/db", {"create": False})]


def test_a_missing_postgres_backend_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tracer.store.postgres", None)  # import fails: not installed
    with pytest.raises(StoreError, match="^PostgreSQL backend not installed$"):
        open_store("postgresql://u@h/db")


def test_other_values_are_a_usage_error_naming_both_forms() -> None:
    for db in ("mysql://u@h/db", "sqlite://t.db", "", "sqlite:///"):
        with pytest.raises(StoreUrlError) as e:
            open_store(db)
        assert e.value.exit_code == 2
        assert "sqlite:///" in str(e.value) and "postgresql://" in str(e.value) and "\n" not in str(e.value)


def test_the_cli_opens_its_store_through_open_store(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["--db", "mysql://u@h/db", "runs"])
    assert r.exit_code == 2, r.output
    assert r.output.strip().startswith("error: db = 'mysql://u@h/db' names no store")
    Store(tmp_path / "t.db").close()
    r = CliRunner().invoke(main, ["--db", f"sqlite:///{tmp_path / 't.db'}", "runs", "--json"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["--db", f"sqlite:///{tmp_path / 'missing.db'}", "runs"])
    assert r.exit_code == 2 and "no tracer store" in r.output


def test_a_new_store_has_16_kib_pages_and_an_old_one_keeps_its_own(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """New stores get :data:`PAGE_SIZE` pages (faster first syncs, docs/evm.md); a store made with
    SQLite's 4 KiB default opens and migrates with its pages as they are, and its WAL checkpoint
    interval is the same 64 MB in its own pages."""
    from tracer.store import sqlite as mod
    from tracer.store.sqlite import PAGE_SIZE, WAL_AUTOCHECKPOINT_BYTES, Store

    new = Store(tmp_path / "new.db")
    assert new.db.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE == 16_384
    assert new.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == WAL_AUTOCHECKPOINT_BYTES // PAGE_SIZE
    new.close()
    old = tmp_path / "old.db"
    with monkeypatch.context() as m:  # a store made by a tracer before 16 KiB pages
        m.setattr(mod, "PAGE_SIZE", 4096)
        Store(old).close()
    store = Store(old)
    assert store.db.execute("PRAGMA page_size").fetchone()[0] == 4096
    assert store.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == WAL_AUTOCHECKPOINT_BYTES // 4096
    assert "edges" in store.db.table_names()
    store.close()
