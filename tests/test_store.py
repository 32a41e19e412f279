"""The store: migrations recorded and applied to older files, newer files refused, uint256
amounts exact, one transaction per page, provenance that always resolves."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from faultserver import run_cli
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from connectors.base import Column, Page, Record, Rows, Table, check_uint256
from tracer.store import MIGRATIONS, SCHEMA_VERSION, Store, StoreError

AMOUNTS = Table("amounts", (Column("id"), Column("amount"), Column("decimals", "INTEGER"),
                            Column("first_seen"), Column("last_seen")),
                pk=("id",), keep_first_seen=("first_seen",))


def _page(body: bytes, state: dict[str, object] | None = None) -> Page:
    return Page(body=body, url="http://x/y", method="GET", data=None, state=state, fetched_at="2026-01-01T00:00:00Z")


def test_migrations_are_recorded(tmp_path: Path) -> None:
    s = Store(tmp_path / "t.db")
    rows = s.query("SELECT version, name, applied_at FROM migrations ORDER BY version")
    s.close()
    assert [r["version"] for r in rows] == [v for v, _, _ in MIGRATIONS] == list(range(1, SCHEMA_VERSION + 1))
    assert all(r["name"] and r["applied_at"] for r in rows)


def test_an_older_database_is_upgraded(tmp_path: Path) -> None:
    import sqlite_utils

    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)  # what tracer with only migration 1 wrote
    db.execute("CREATE TABLE migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)")
    MIGRATIONS[0][2](db)
    db.execute("INSERT INTO migrations VALUES (1, 'core', '2025-01-01')")
    db.execute("INSERT INTO runs (run_id, status) VALUES ('old-run', 'ok')")
    db.conn.commit()
    db.close()
    s = Store(path)
    versions = [r["version"] for r in s.query("SELECT version FROM migrations ORDER BY version")]
    idx = {r["name"] for r in s.query("SELECT name FROM sqlite_master WHERE type='index'")}
    runs = s.runs()
    s.close()
    assert versions == list(range(1, SCHEMA_VERSION + 1))
    assert "idx_raw_payloads_stream" in idx
    assert [r["run_id"] for r in runs] == ["old-run"]  # data kept


def test_old_evm_edge_ids_are_rewritten_in_chain_order(tmp_path: Path) -> None:
    import sqlite_utils

    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)  # a store written before migration 4
    db.execute("CREATE TABLE migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)")
    for v, name, fn in MIGRATIONS[:3]:
        fn(db)
        db.execute("INSERT INTO migrations VALUES (?, ?, '2026-01-01')", [v, name])
    tx = "0x" + "ab" * 32
    db.execute("INSERT INTO edges (id, kind, src, dst, chain, block, tx, attrs, source) VALUES "
               "(?, 'paid', 'wallet:evm:0x1', 'wallet:evm:0x2', 'polygon', 17173049, ?, ?, 'evm:polygon')",
               [f"evm:polygon:{tx}:7", tx, '{"contract":"0x3","log_index":7}'])
    db.execute("INSERT INTO edges (id, kind, src, dst, source) VALUES ('edge:golem:x', 'payout_to', 'a', 'b', "
               "'golem')")
    db.conn.commit()
    db.close()
    s = Store(path)
    ids = [r["id"] for r in s.query("SELECT id FROM edges ORDER BY id")]
    s.close()
    assert ids == ["edge:golem:x", "evm:polygon:000017173049:000007"]


def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    Store(path).close()
    con = sqlite3.connect(path)
    con.execute("INSERT INTO migrations VALUES (?, 'from the future', '2030-01-01')", [SCHEMA_VERSION + 1])
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="newer than this tracer"):
        Store(path)
    r = run_cli(["--db", str(path), "runs"])
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "upgrade tracer" in r.stderr


def test_a_file_that_is_not_a_database_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    r = run_cli(["--db", str(path), "runs"])
    assert r.returncode == 2 and "Traceback" not in r.stderr  # refused as not a store (issue 17)
    assert len(r.stderr.strip().splitlines()) == 1 and "junk.db" in r.stderr


_store = Store(":memory:")
_store.ensure_tables([AMOUNTS])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.one_of(st.integers(0, 2**256 - 1), st.integers(0, 2**64)), as_text=st.booleans())
@example(n=0, as_text=True)
@example(n=2**256 - 1, as_text=True)
@example(n=2**256 - 1, as_text=False)
@example(n=2**63, as_text=False)
def test_uint256_round_trips_exactly(n: int, as_text: bool) -> None:
    amount = check_uint256(str(n) if as_text else n)
    _store.write_page("t.s", _page(amount.encode()), [Record("amounts", {"id": "a", "amount": amount,
                                                                         "decimals": 18})], "r")
    [row] = _store.query("SELECT amount, typeof(amount) AS t FROM amounts WHERE id = 'a'")
    assert row["t"] == "text" and int(row["amount"]) == n and row["amount"] == str(n)


@given(n=st.one_of(st.integers(min_value=2**256), st.integers(max_value=-1)))
@example(n=2**256)
@example(n=-1)
def test_check_uint256_rejects_out_of_range(n: int) -> None:
    for v in (n, str(n)):
        with pytest.raises(ValueError):
            check_uint256(v)


@given(s=st.text(min_size=1, max_size=12).filter(lambda s: not (s.isascii() and s.isdigit())))
@example(s="1_000")
@example(s="+5")
@example(s=" 7")
@example(s="1e3")
@example(s="0x10")
def test_check_uint256_rejects_non_decimal_text(s: str) -> None:
    with pytest.raises(ValueError):
        check_uint256(s)


def test_check_uint256_rejects_bool_and_float() -> None:
    for v in (True, 1.0):
        with pytest.raises(ValueError):
            check_uint256(v)  # type: ignore[arg-type]


def test_a_big_int_in_an_integer_column_is_refused() -> None:
    s = Store(":memory:")
    s.ensure_tables([AMOUNTS])
    with pytest.raises(StoreError, match="decimal text"):
        s.write_page("t.s", _page(b"x"), [Record("amounts", {"id": "a", "decimals": 2**70})], "r")


def test_rows_batches_store_the_same_as_records(tmp_path: Path) -> None:
    a, b = Store(tmp_path / "a.db"), Store(tmp_path / "b.db")
    for s in (a, b):
        s.ensure_tables([AMOUNTS])
    cols = ("id", "amount", "decimals", "first_seen", "last_seen")
    tuples = [("x", str(2**255), 18, "T1", "T1"), ("y", "0", None, "T2", "T2")]
    na = a.write_page("t.s", _page(b"p", {"c": 1}), [Record("amounts", dict(zip(cols, t, strict=True)))
                                                       for t in tuples], "r")
    nb = b.write_page("t.s", _page(b"p", {"c": 1}), [Rows("amounts", cols, tuples)], "r")
    q = "SELECT * FROM amounts ORDER BY id"
    assert na == nb == 2
    assert a.query(q) == b.query(q) and a.query(q)[0]["amount"] == str(2**255)
    assert list(Rows("amounts", cols, tuples).records()) == [Record("amounts", dict(zip(cols, t, strict=True)))
                                                             for t in tuples]
    a.close()
    b.close()


@pytest.mark.parametrize("cell", [{"not": "a cell"}, 2**70])
def test_a_bad_cell_in_a_rows_batch_rolls_the_page_back(tmp_path: Path, cell: object) -> None:
    s = Store(tmp_path / "t.db")
    s.ensure_tables([AMOUNTS])
    s.write_page("t.s", _page(b"one", {"c": 1}), [Rows("amounts", ("id", "amount"), [("a", "1")])], "r")
    bad = Rows("amounts", ("id", "decimals"), [("b", 1), ("c", cell)])
    with pytest.raises(StoreError, match="amounts"):
        s.write_page("t.s", _page(b"two", {"c": 2}), [bad], "r")
    assert s.get_state("t.s") == {"c": 1}
    assert [r["id"] for r in s.query("SELECT id FROM amounts")] == ["a"]
    assert s.count("raw_payloads") == 1
    s.close()


def test_page_records_raw_and_state_are_one_transaction(tmp_path: Path) -> None:
    s = Store(tmp_path / "t.db")
    s.ensure_tables([AMOUNTS])
    s.write_page("t.s", _page(b"one", {"c": 1}), [Record("amounts", {"id": "a", "amount": "1"})], "r1")
    bad = [Record("amounts", {"id": "b", "amount": "2"}), Record("nowhere", {"id": "x"})]
    with pytest.raises(StoreError, match="undeclared table"):
        s.write_page("t.s", _page(b"two", {"c": 2}), bad, "r1")
    assert s.get_state("t.s") == {"c": 1}
    assert [r["id"] for r in s.query("SELECT id FROM amounts")] == ["a"]
    assert s.count("raw_payloads") == 1
    s.close()


def test_upserts_keep_first_seen_and_update_the_rest() -> None:
    s = Store(":memory:")
    s.ensure_tables([AMOUNTS])
    s.write_page("t.s", _page(b"1"), [Record("amounts", {"id": "a", "amount": "1", "first_seen": "T1",
                                                         "last_seen": "T1"})], "r1")
    s.write_page("t.s", _page(b"2"), [Record("amounts", {"id": "a", "amount": "5", "first_seen": "T2",
                                                         "last_seen": "T2"})], "r2")
    [row] = s.query("SELECT * FROM amounts")
    assert (row["amount"], row["first_seen"], row["last_seen"], row["run_id"]) == ("5", "T1", "T2", "r2")
    raw = s.raw_payload(row["raw_sha256"])
    assert raw is not None and raw["body"] == b"2"


def test_reset_state_by_connector_prefix() -> None:
    s = Store(":memory:")
    for name in ("a.x", "a.y", "ab.z"):
        s.write_page(name, _page(name.encode(), {"k": 1}), [], "r")
    assert s.reset_state(["a"]) == 2
    assert [r["stream"] for r in s.states()] == ["ab.z"]


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tracer.demo import run_demo

    out = tmp_path_factory.mktemp("demo")
    summary = asyncio.run(run_demo(out))
    assert summary["status"] == "ok", summary["errors"]
    return out / "tracer.db"


def _stream_tables() -> set[str]:
    """Tables that connector streams write (rule outputs like flags carry refs instead)."""
    from tracer import registry

    names = {"entities", "edges", "observations"}
    for conn in registry.connectors().values():
        for stream in conn.streams(conn.default_config()):
            names |= {t.name for t in stream.tables}
    return names


def test_every_derived_row_resolves_to_its_raw_payload(demo_db: Path) -> None:
    import hashlib
    import json

    import zstandard

    s = Store(demo_db)
    checked = 0
    for t in sorted(_stream_tables() & set(s.table_names())):
        n = s.count(t)
        missing = s.query(f'SELECT count(*) AS n FROM "{t}" x LEFT JOIN raw_payloads p '
                          f'ON p.sha256 = x.raw_sha256 WHERE p.sha256 IS NULL')[0]["n"]
        assert missing == 0, f"{t}: {missing} of {n} rows have no raw payload"
        checked += n
    assert checked > 1000
    # Rule outputs point at facts by id; every referenced fact resolves (and so has its payload).
    if "evidence" in s.table_names():
        facts = {r["id"] for r in s.query("SELECT id FROM edges UNION SELECT id FROM observations "
                                          "UNION SELECT id FROM entities")}
        refs = [ref for r in s.query("SELECT refs FROM evidence") for ref in json.loads(r["refs"] or "[]")]
        dangling = sorted(set(refs) - facts)
        assert not dangling, f"evidence refs without a stored fact: {dangling[:5]}"
    stored = s.query("SELECT sha256, body FROM raw_payloads WHERE body IS NOT NULL LIMIT 50")
    s.close()
    for r in stored:  # the stored body is the one the hash names
        assert hashlib.sha256(zstandard.ZstdDecompressor().decompress(r["body"])).hexdigest() == r["sha256"]
