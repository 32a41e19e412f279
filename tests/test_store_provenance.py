"""Which page a fact cites does not depend on the order or the number of times it was seen: a row's
``raw_sha256`` and ``run_id`` move only when its content changes (docs/foundation.md, "Provenance").
Re-seeing identical content keeps the page that first established it; ``last_seen`` still moves."""

from __future__ import annotations

import json
from typing import Any

import pytest

from connectors.base import EDGES, Column, Page, Record, Rows, Table
from tracer.store import Store

FACTS = Table("facts", (Column("id"), Column("value"), Column("n", "INTEGER"), Column("score", "REAL"),
                        Column("attrs"), Column("first_seen"), Column("last_seen")),
              pk=("id",), keep_first_seen=("first_seen",))


def _page(body: bytes, at: str) -> Page:
    return Page(body=body, url=f"http://x/{body.decode()}", method="GET", data=None, state=None, fetched_at=at)


def _fact(at: str, **over: Any) -> dict[str, Any]:
    return {"id": "f", "value": "v", "n": 1, "score": 1.0, "attrs": {"b": 1, "a": [1, 2]}, "first_seen": at,
            "last_seen": at, **over}


def _write(s: Store, body: bytes, at: str, run: str, fast: bool, **over: Any) -> None:
    row = _fact(at, **over)
    if fast:
        cells = tuple(json.dumps(v, sort_keys=True, separators=(",", ":")) if isinstance(v, dict) else v
                      for v in row.values())
        rec: Record | Rows = Rows("facts", tuple(row), [cells])
    else:
        rec = Record("facts", row)
    s.write_page("t.s", _page(body, at), [rec], run)


def _row(s: Store) -> dict[str, Any]:
    [row] = s.query("SELECT * FROM facts")
    raw = s.raw_payload(row["raw_sha256"])
    assert raw is not None
    return {**row, "body": raw["body"]}


@pytest.mark.parametrize("fast", [False, True], ids=["Record", "Rows"])
def test_identical_content_keeps_the_page_that_first_established_it(fast: bool) -> None:
    s = Store(":memory:")
    s.ensure_tables([FACTS])
    _write(s, b"A", "T1", "r1", fast)
    _write(s, b"B", "T2", "r2", fast)  # same fact, same content, seen again on another page
    row = _row(s)
    assert (row["body"], row["run_id"], row["first_seen"], row["last_seen"]) == (b"A", "r1", "T1", "T2")

    _write(s, b"C", "T3", "r3", fast, value="w")  # the content changed: the new page establishes it
    row = _row(s)
    assert (row["body"], row["run_id"], row["value"], row["first_seen"], row["last_seen"]) == (
        b"C", "r3", "w", "T1", "T3")

    _write(s, b"A", "T4", "r4", fast)  # back to the first content: the page that shows it now
    row = _row(s)
    assert (row["body"], row["run_id"], row["value"], row["last_seen"]) == (b"A", "r4", "v", "T4")


@pytest.mark.parametrize(("column", "value"), [("n", 2), ("n", None), ("score", 0.5), ("attrs", {"b": 2}),
                                               ("value", None)])
def test_any_content_column_moves_the_provenance(column: str, value: Any) -> None:
    s = Store(":memory:")
    s.ensure_tables([FACTS])
    _write(s, b"A", "T1", "r1", False)
    _write(s, b"B", "T1", "r2", False, **{column: value})
    assert _row(s)["body"] == b"B"


def test_equal_values_of_another_python_type_are_the_same_content() -> None:
    """1 and 1.0 in a REAL column, a dict in another key order: SQLite stores the same value."""
    s = Store(":memory:")
    s.ensure_tables([FACTS])
    _write(s, b"A", "T1", "r1", False)
    _write(s, b"B", "T2", "r2", False, score=1, attrs={"a": [1, 2], "b": 1})
    assert _row(s)["body"] == b"A"


def test_a_writer_of_fewer_columns_compares_only_those() -> None:
    """A stream that writes the fact without its label does not take over a labelled fact's page."""
    s = Store(":memory:")
    s.ensure_tables([FACTS])
    _write(s, b"A", "T1", "r1", False)
    s.write_page("t.s", _page(b"B", "T2"), [Record("facts", {"id": "f", "n": 1, "last_seen": "T2"})], "r2")
    row = _row(s)
    assert (row["body"], row["value"], row["last_seen"]) == (b"A", "v", "T2")


def test_core_edges_keep_their_first_page_on_a_replay() -> None:
    s = Store(":memory:")
    cols = ("id", "kind", "src", "dst", "amount", "first_seen", "last_seen")
    for body, at, run in ((b"A", "T1", "r1"), (b"B", "T2", "r2")):
        s.write_page("t.s", _page(body, at), [Rows(EDGES.name, cols, [("e1", "paid", "a", "b", "5", at, at)])], run)
    [row] = s.query("SELECT raw_sha256, run_id, last_seen FROM edges")
    raw = s.raw_payload(row["raw_sha256"])
    assert raw is not None
    assert (raw["body"], row["run_id"], row["last_seen"]) == (b"A", "r1", "T2")


def test_every_row_of_a_big_page_carries_its_page_and_run() -> None:
    """The SQLite store binds a page's provenance once per multi-row statement (``?1``, ``?2``), not
    per row: rows in full statements, in the remainder, in two groups of columns and a replayed
    page with one changed row all come out citing the right page and run."""
    import hashlib

    from tracer.store.sqlite import MULTI_ROWS

    s = Store(":memory:")
    cols = ("id", "kind", "src", "dst", "amount")
    n = 2 * MULTI_ROWS + 5
    rows = [(f"e{i:04d}", "paid", f"a{i}", f"b{i}", str(i)) for i in range(n)]
    s.write_page("t.s", _page(b"A", "T1"), [Rows(EDGES.name, cols, rows),
                                            Rows(EDGES.name, cols[:3], [("x1", "paid", "a")]),
                                            Record(EDGES.name, {"id": "x2", "kind": "paid", "src": "c"})], "r1")
    sha_a = hashlib.sha256(b"A").hexdigest()
    got = {r["id"]: (r["raw_sha256"], r["run_id"], r["src"], r["amount"])
           for r in s.query("SELECT id, raw_sha256, run_id, src, amount FROM edges")}
    assert got == {**{f"e{i:04d}": (sha_a, "r1", f"a{i}", str(i)) for i in range(n)},
                   "x1": (sha_a, "r1", "a", None), "x2": (sha_a, "r1", "c", None)}
    changed = [*rows[:MULTI_ROWS + 1], ("e0065", "paid", "a65", "b65", "999"), *rows[MULTI_ROWS + 2:]]
    s.write_page("t.s", _page(b"B", "T2"), [Rows(EDGES.name, cols, changed)], "r2")
    moved = {r["id"]: (r["raw_sha256"], r["run_id"]) for r in s.query("SELECT id, raw_sha256, run_id FROM edges")
             if r["run_id"] != "r1"}
    assert moved == {"e0065": (hashlib.sha256(b"B").hexdigest(), "r2")}


def test_the_rows_after_the_full_statements_go_in_a_few_statements_in_order(tmp_path: Any) -> None:
    """A page's rows past its last full statement of MULTI_ROWS go in statements of 32, 16, ... 1
    rows (313 transfers: 4 full + 57 = 32 + 16 + 8 + 1), not one statement per row (each gave the
    GIL away and waited for it again), and a later row still updates an earlier one of its page."""
    from tracer.store.sqlite import MULTI_ROWS

    s = Store(tmp_path / "t.db")
    w = s.page_writer()
    assert w is not None
    inserts: list[str] = []
    w.conn.set_trace_callback(lambda sql: inserts.append(sql) if sql.startswith("INSERT INTO \"edges\"") else None)
    cols = ("id", "kind", "src", "dst", "amount")
    n = 4 * MULTI_ROWS + 57
    rows = [(f"e{i:04d}", "paid", f"a{i}", f"b{i}", str(i)) for i in range(n)]
    rows[-1] = ("e0300", "paid", "a300", "b300", "last")  # the same id as a row 12 before it
    try:
        w.write("t.s", _page(b"A", "T1"), [Rows(EDGES.name, cols, rows)], "r1")
        got = {r["id"]: r["amount"] for r in s.query("SELECT id, amount FROM edges")}
    finally:
        w.close()
        s.close()
    assert got == {**{f"e{i:04d}": str(i) for i in range(n - 1) if i != 300}, "e0300": "last"}
    sizes = [sql.count("'paid'") for sql in inserts]  # the statements as run, values bound
    assert sizes == [MULTI_ROWS] * 4 + [32, 16, 8, 1]
