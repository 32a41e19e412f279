"""The demo world synced into both store backends scores to the same flags and the same evidence.

Why: scoring reads every fact through the store's named reads, so a backend that returns rows in
another order, another type (REAL vs numeric, text vs int) or another collation would change scores
silently.  One :class:`pg_support.DemoWorld` (``tracer demo``'s generated world on loopback, so the
raw payload URLs are the same) is synced through every demo connector once into SQLite and once
into PostgreSQL with the clock pinned, each store is scored (``tracer.scoring.run.score_store``,
as the demo's scoring step does), and the results -- and every stored row -- must be equal.
Not marked slow: both syncs and scorings take ~12 s together (2 cores).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import NOW
from pg_support import DemoWorld, PgServer, assert_same_rows, rows_of, sync_into

from tracer.scoring import tables
from tracer.scoring.run import params_from_config, score_store
from tracer.store import StoreBackend, open_store
from tracer.world import evm_address

Result = dict[str, Any]


def _synced_and_scored(store: StoreBackend, connectors_cfg: dict[str, Any]) -> Result:
    """Sync the demo world into ``store``, score it as ``tracer demo`` does, and read back what
    scoring wrote (flags and evidence through the named reads), what it returned and every row."""
    sync_into(store, connectors_cfg, command="demo")
    res = score_store(store, params_from_config({"connectors": connectors_cfg}), now=NOW)
    flags = sorted(tables.read_flags(store), key=lambda f: f["subject"])
    evidence = sorted((e for f in flags for e in tables.read_evidence(store, subject=f["subject"])),
                      key=lambda e: e["id"])
    return {"returned": (res.flags, res.evidence, res.stats), "flags": flags, "evidence": evidence,
            "flag_rows": store.flag_rows(), "rows": rows_of(store)}


@pytest.fixture(scope="module")
def scored(pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Result]]:
    """{"sqlite": ..., "postgresql": ...}: the same world, synced and scored in each backend."""
    world = DemoWorld().start()
    url = pg_server.create_database()
    out: dict[str, Result] = {}
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("TRACER_NOW", NOW)
            cfg = world.config()
            dbs = {"sqlite": str(Path(tmp_path_factory.mktemp("backends")) / "demo.db"), "postgresql": url}
            for name, db in dbs.items():
                store = open_store(db)
                try:
                    out[name] = _synced_and_scored(store, cfg)
                finally:
                    store.close()
        yield out
    finally:
        world.stop()
        pg_server.drop_database(url)


def _flag_view(flags: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(f["subject"], f["score"], f["level"], json.dumps(f["reasons"], sort_keys=True)) for f in flags]


def test_the_demo_world_scores_to_identical_flags(scored: dict[str, Result]) -> None:
    sq, pg = scored["sqlite"], scored["postgresql"]
    assert len(sq["flags"]) > 10, "the demo world raised (almost) no flags: nothing was compared"
    assert _flag_view(pg["flags"]) == _flag_view(sq["flags"])
    assert pg["flags"] == sq["flags"]  # every column: cluster, rules_version, computed_at, first_seen
    assert pg["flag_rows"] == sq["flag_rows"]  # strongest first, ties by subject: the same order
    # The planted paths are flagged on both (the demo is not trivially equal: both empty).
    by_subject = {f["subject"]: f for f in pg["flags"]}
    assert by_subject[f"wallet:evm:{evm_address('listed-renter-1')}"]["level"] == "severe"


def test_the_demo_world_gives_identical_evidence(scored: dict[str, Result]) -> None:
    sq, pg = scored["sqlite"], scored["postgresql"]
    assert sq["evidence"], "no evidence to compare"
    assert len(pg["evidence"]) == len(sq["evidence"])
    for a, b in zip(pg["evidence"], sq["evidence"], strict=True):
        assert a == b, f"first differing evidence row\n{a}\n{b}"
    assert pg["returned"] == sq["returned"]  # what score_store computed, before it was stored


def test_the_demo_world_stores_identical_rows(scored: dict[str, Result]) -> None:
    """Every table, row for row (run ids and wall-clock columns aside): facts, provenance, stream
    state, the run log and the derived tables."""
    assert_same_rows(scored["postgresql"]["rows"], scored["sqlite"]["rows"])
