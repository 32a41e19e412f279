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
