"""What changed between scoring runs (issue 15): each scoring write logs the flags that are new, that
left and that moved level against the flags it replaces, in the same transaction; ``tracer changes``,
``/api/changes`` and ``tracer explain`` read that log.  On both backends (``db_factory``)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from investigate_support import IDS, build_world

from tracer import queries as q
from tracer.changes import MAX_LISTED, history_line
from tracer.cli import main
from tracer.scoring.tables import write_results
from tracer.store import SCHEMA_VERSION, StoreBackend, open_store
from tracer.store.flag_history import diff_flags

T1, T2, T3 = "2026-04-01T06:00:00Z", "2026-04-02T06:00:00Z", "2026-04-03T06:00:00Z"
A, P, X, F, E = IDS["A"], IDS["P"], IDS["X"], IDS["F"], IDS["E"]


def flag(subject: str, score: float, level: str, at: str) -> dict[str, Any]:
    """A flag as scoring hands it to ``write_results`` (tracer.scoring.run.score_context)."""
    return {"subject": subject, "score": score, "level": level, "rules_version": "test-1", "computed_at": at,
            "cluster": None, "reasons": [{"rule": "r", "score": score, "detail": f"{level} because of r"}]}


def evidence(flags: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"id": f"ev:{f['subject']}", "subject": f["subject"], "rule": "r", "score": f["score"],
             "detail": "d", "refs": [], "path": [], "rules_version": "test-1", "computed_at": f["computed_at"]}
            for f in flags]


def first(at: str = T1) -> list[dict[str, Any]]:
    return [flag(A, 0.5, "medium", at), flag(P, 0.8, "high", at), flag(X, 0.75, "high", at), flag(F, 0.2, "low", at)]


def second(at: str = T2) -> list[dict[str, Any]]:
    """A up (medium -> severe), P down (high -> low), X left, F unchanged level (score moved), E new."""
    return [flag(A, 0.95, "severe", at), flag(P, 0.3, "low", at), flag(F, 0.25, "low", at),
            flag(E, 0.45, "medium", at)]


def write(store: StoreBackend, flags: list[dict[str, Any]]) -> dict[str, Any]:
    return write_results(store, flags, evidence(flags))


def changed(store: StoreBackend, seq: int) -> list[tuple[Any, ...]]:
    return [(r["subject"], r["change"], r["old_level"], r["new_level"], r["old_score"], r["new_score"])
            for r in store.flag_changes_of_run(seq)]


def test_two_runs_log_new_left_up_down_and_nothing_else(db_factory: Callable[..., str]) -> None:
    store = build_world(db_factory(), derived=False)
    try:
        r1 = write(store, first())
        assert (r1["seq"], r1["previous_at"], r1["flags"], r1["n_new"], r1["n_left"]) == (1, None, 4, 4, 0)
        assert {c[1] for c in changed(store, 1)} == {"new"}  # the first run: every flag enters
        r2 = write(store, second())
        assert (r2["seq"], r2["computed_at"], r2["previous_at"]) == (2, T2, T1)
        assert (r2["n_new"], r2["n_left"], r2["n_up"], r2["n_down"], r2["flags"]) == (1, 1, 1, 1, 4)
        assert sorted(changed(store, 2)) == sorted([
            (A, "up", "medium", "severe", 0.5, 0.95),
            (P, "down", "high", "low", 0.8, 0.3),
            (X, "left", "high", None, 0.75, None),
            (E, "new", None, "medium", None, 0.45),
        ])  # F moved 0.2 -> 0.25 within low: not a change
        assert store.flag_row(X) is None and store.flag_of(F)["score"] == 0.25  # type: ignore[index]

        # The same results again: a run is logged (the previous run is known), no change is.
        r3 = write(store, second(T3))
        assert (r3["seq"], r3["previous_at"], r3["n_new"], r3["n_left"], r3["n_up"], r3["n_down"]) == \
            (3, T2, 0, 0, 0, 0)
        assert changed(store, 3) == []
        assert [r["seq"] for r in store.scoring_run_rows(5)] == [3, 2, 1]
        assert [(h["change"], h["new_level"]) for h in store.flag_history(A)] == [("new", "medium"), ("up", "severe")]
        assert [(h["change"], h["old_level"]) for h in store.flag_history(X)] == [("new", None), ("left", "high")]
    finally:
        store.close()


def test_changes_reports_each_list_with_last_level_and_names(db_factory: Callable[..., str]) -> None:
    store = build_world(db_factory(), derived=False)
    try:
        write(store, first())
        c = q.changes(store)
        assert (c["previous"], c["tracked"], c["first_run_flags"], c["new_flags"]) == (False, True, 4, [])
        assert c["why_empty"] == "first scoring run of this store: nothing earlier to compare with"
        write(store, second())
        c = q.changes(store)
        assert (c["scored_at"], c["previous"], c["previous_at"], c["why_empty"]) == (T2, True, T1, None)
        assert c["counts"] == {"new": 1, "left": 1, "up": 1, "down": 1} and c["truncated"] is False
        assert [(f["subject"], f["level"], f["score"]) for f in c["new_flags"]] == [(E, "medium", 0.45)]
        assert c["new_flags"][0]["reasons"] == ["medium because of r"]
        left = c["left_flags"]
        assert [(f["subject"], f["level"], f["score"], f["name"]) for f in left] == \
            [(X, "high", 0.75, "BigExchange hot wallet")]  # the entity stays: its name is still known
        assert [(f["subject"], f["old_level"], f["level"], f["old_score"], f["score"]) for f in c["level_up"]] == \
            [(A, "medium", "severe", 0.5, 0.95)]
        assert [(f["subject"], f["old_level"], f["level"], f["name"]) for f in c["level_down"]] == \
            [(P, "high", "low", "gpu-farm.example")]
        assert "sanctioned: OFAC SDN" in c["level_up"][0]["name"]  # a listed party says which list
        write(store, second(T3))
        c = q.changes(store)
        assert c["previous_at"] == T2 and not any(c["counts"].values())
        assert c["why_empty"].startswith(f"nothing changed since the previous scoring run ({T2})")
    finally:
        store.close()


def test_a_run_that_flags_nothing_logs_every_flag_as_left(tmp_path: Path) -> None:
    store = build_world(tmp_path / "s.db", derived=False)
    try:
        write(store, first())
        run = write_results(store, [], [], computed_at=T2)
        assert (run["computed_at"], run["previous_at"], run["n_left"], run["flags"]) == (T2, T1, 4, 0)
        c = q.changes(store)
        assert c["scored_at"] == T2 and [f["subject"] for f in c["left_flags"]] == [P, X, A, F]  # high first
    finally:
        store.close()


def test_diff_ranks_levels_by_their_order_and_unknown_ones_by_score() -> None:
    old = {"a": ("low", 0.1), "b": ("severe", 0.95), "c": ("odd", 0.3), "d": ("high", 0.8)}
    new = [{"subject": "a", "level": "high", "score": 0.7}, {"subject": "b", "level": "high", "score": 0.8},
           {"subject": "c", "level": "weird", "score": 0.2}, {"subject": "d", "level": "high", "score": 0.7}]
    assert [(s, ch) for s, ch, *_ in diff_flags(old, new)] == [("a", "up"), ("b", "down"), ("c", "down")]


def test_history_line_words_each_step() -> None:
    rows: list[dict[str, Any]] = [{"change": "new", "old_level": None, "new_level": "medium", "computed_at": T1},
                                  {"change": "up", "old_level": "medium", "new_level": "severe", "computed_at": T2},
                                  {"change": "left", "old_level": "severe", "new_level": None, "computed_at": T3}]
    assert history_line(rows) == "medium (2026-04-01) -> severe (2026-04-02) -> not flagged (2026-04-03)"
    same_day = [dict(rows[0]), {**rows[1], "computed_at": "2026-04-01T18:00:00Z"}]
    assert history_line(same_day) == "medium (2026-04-01T06:00:00Z) -> severe (2026-04-01T18:00:00Z)"
    assert history_line(rows[1:]) == "medium -> severe (2026-04-02) -> not flagged (2026-04-03)"
    assert history_line([]) is None


def _cli(db: str, *args: str) -> Any:
    return CliRunner().invoke(main, ["--db", db, *args])


def test_changes_and_explain_commands_say_it_in_words(db_factory: Callable[..., str]) -> None:
    db = db_factory()
    store = build_world(db, derived=False)
    try:
        r = _cli(db, "changes")
        assert r.exit_code == 0 and "no scoring run yet" in r.output, r.output
        write(store, first())
        r = _cli(db, "changes")
        assert r.exit_code == 0 and f"latest scoring {T1}: first scoring run of this store" in r.output, r.output
        write(store, second())
    finally:
        store.close()
    r = _cli(db, "changes", "--runs", "1")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == (f"latest scoring {T2}, against the previous one of {T1}: 1 new, 1 no longer flagged, "
                        "1 level up, 1 level down")
    assert lines[lines.index("new flags (1):") + 1].startswith(f"  medium 0.45  {E} (Kowloon Compute Ltd")
    assert lines[lines.index("no longer flagged (1):") + 1] == f"  {X} (BigExchange hot wallet): was high (0.75)"
    up = lines[lines.index("level up (1):") + 1]
    assert up.startswith(f"  {A} (") and up.endswith("): medium -> severe (0.5 -> 0.95)")
    assert lines[lines.index("level down (1):") + 1] == f"  {P} (gpu-farm.example): high -> low (0.8 -> 0.3)"
    r = _cli(db, "explain", A)
    assert r.exit_code == 0 and "  level history: medium (2026-04-01) -> severe (2026-04-02)" in r.output, r.output
    r = _cli(db, "explain", X)  # no longer flagged: the history says when it left
    assert r.exit_code == 0, r.output
    assert r.output.splitlines() == [f"{X}: no flag in the latest scoring",
                                     "  level history: high (2026-04-01) -> not flagged (2026-04-02)"]
    assert _cli(db, "changes", "--runs", "0").exit_code == 2


def test_score_prints_what_changed_since_the_previous_scoring(tmp_path: Path) -> None:
    db = str(tmp_path / "sim.db")
    assert _cli(db, "simulate", "--no-score").exit_code == 0
    r = _cli(db, "score", "--json")
    assert r.exit_code == 0 and "since the previous scoring" not in r.stderr, r.stderr
    r = _cli(db, "score", "--json")  # the same store, scored again: a run with no change
    assert r.exit_code == 0, r.stderr
    assert "0 new, 0 no longer flagged, 0 level up, 0 level down (tracer changes lists them)" in r.stderr


def test_a_v5_store_upgrades_and_compares_with_the_flags_it_had(tmp_path: Path) -> None:
    """A store scored before migration 6 (flags, no log) gets the tables when opened for writing; its
    next scoring compares with the flags it already held, at their time."""
    db = tmp_path / "old.db"
    store = build_world(db, derived=False)
    write(store, first())
    store.close()
    con = sqlite3.connect(db)
    con.executescript("DROP TABLE flag_changes; DROP TABLE scoring_runs; DELETE FROM migrations WHERE version = 6;")
    con.close()
    store = open_store(db, create=False)
    try:
        assert store.has_table("flag_changes") and store.has_table("scoring_runs")
        assert [r["version"] for r in store.query("SELECT version FROM migrations ORDER BY version")][-1] == \
            SCHEMA_VERSION
        c = q.changes(store)  # nothing logged yet: only "new" is known, from first_seen
        assert (c["tracked"], c["scored_at"], c["previous"], c["first_run_flags"]) == (False, T1, False, 4)
        run = write(store, second())
        assert (run["seq"], run["previous_at"], run["n_new"], run["n_left"], run["n_up"], run["n_down"]) == \
            (1, T1, 1, 1, 1, 1)
        c = q.changes(store)
        assert c["tracked"] and c["previous_at"] == T1 and [f["subject"] for f in c["left_flags"]] == [X]
    finally:
        store.close()


def test_the_log_travels_with_tracer_migrate(tmp_path: Path, pg_url: str) -> None:
    from tracer.store.migrate import copy_store

    src = build_world(tmp_path / "s.db", derived=False)
    pg = open_store(pg_url)
    back = open_store(tmp_path / "back.db")
    try:
        write(src, first())
        write(src, second())
        copied = copy_store(src, pg)
        assert copied["flag_changes"] == 8 and copied["scoring_runs"] == 2
        assert pg.scoring_run_rows(5) == src.scoring_run_rows(5) and changed(pg, 2) == changed(src, 2)
        copy_store(pg, back)
        assert q.changes(back)["counts"] == q.changes(src)["counts"] == {"new": 1, "left": 1, "up": 1, "down": 1}
        run = write(pg, second(T3))  # the copy logs on from where the source stopped
        assert (run["seq"], run["previous_at"]) == (3, T2)
    finally:
        for s in (src, pg, back):
            s.close()


def test_thirty_thousand_flags_rescore_in_one_pass(tmp_path: Path) -> None:
    """A 30k-flag store rescored: one read of the old flags and one insert per change, not per flag."""
    import time

    store = open_store(tmp_path / "big.db")
    try:
        base = [flag(f"wallet:evm:0x{i:040x}", 0.5, "medium", T1) for i in range(30_000)]
        write_results(store, base, [])
        moved = [{**f, "computed_at": T2} for f in base]
        for f in moved[:10]:
            f.update(score=0.95, level="severe")
        t0 = time.monotonic()
        run = write_results(store, moved[:-5], [])
        took = time.monotonic() - t0
        assert (run["n_up"], run["n_left"], run["n_new"], run["n_down"]) == (10, 5, 0, 0)
        assert store.count("flag_changes") == 30_000 + 15  # the first run's entries, then only the changes
        assert took < 30, took  # generous: the whole write, flags and evidence included
        assert len(q.changes(store)["level_up"]) == 10 <= MAX_LISTED
    finally:
        store.close()


def test_flags_lists_the_case_queue_severe_first_with_counts_of_every_level(db_factory: Callable[..., str]) -> None:
    """`tracer flags`: the landing view in a terminal; machine formats carry the same rows."""
    db = db_factory()
    store = build_world(db, derived=False)
    try:
        r = _cli(db, "flags", "--table")
        assert r.exit_code == 0 and "no scoring run yet" in r.output, r.output
        write(store, first())
        write(store, second())
    finally:
        store.close()
    r = _cli(db, "flags", "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    # medium and above by default: A severe, then E medium (new this run); P and F are low
    assert [(x["level"], x["subject"], x["new"]) for x in rows] == [("severe", A, ""), ("medium", E, "new")]
    assert rows[1]["name"].startswith("Kowloon Compute Ltd") and rows[0]["reason"] == "severe because of r"
    r = _cli(db, "flags", "--min-level", "low", "--csv")
    assert r.exit_code == 0 and [ln.split(",")[0] for ln in r.output.splitlines()[1:]] == ["severe", "medium", "low", "low"]
    r = _cli(db, "flags", "--table")
    assert r.output.splitlines()[0] == "flagged by the latest scoring: 1 severe, 0 high, 1 medium, 2 low", r.output
    r = _cli(db, "flags", "--min-level", "severe", "--limit", "0")
    assert r.exit_code == 2 and "limit" in r.output, r.output
