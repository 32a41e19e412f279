"""Scoring on the demo world synced through the real connectors from loopback servers: the demo's
planted paths come out as flags, and every fact a flag cites traces back to a raw payload fetched
from 127.0.0.1 (or derived from one)."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import pytest

from tracer.scoring import tables
from tracer.store import open_store
from tracer.world import evm_address

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    from tracer.demo import DEMO_STEPS, run_demo

    if "tracer.scoring.run:demo_step" not in DEMO_STEPS:
        pytest.fail("scoring demo step not registered in DEMO_STEPS")
    out = tmp_path_factory.mktemp("demo")
    summary = asyncio.run(run_demo(out))
    return out, summary


def test_demo_writes_flags_csv(demo) -> None:
    out, summary = demo
    assert summary["outputs"]["flags"] == str(out / "flags.csv")
    rows = list(csv.DictReader((out / "flags.csv").read_text().splitlines()))
    assert rows and all(r["rules_version"] for r in rows)


def test_demo_planted_paths_are_flagged(demo) -> None:
    out, summary = demo
    assert summary["status"] == "ok", summary["errors"][:3]
    store = open_store(out / "tracer.db")  # tracer demo writes SQLite
    flags = {f["subject"]: f for f in tables.read_flags(store)}
    w = lambda seed: f"wallet:evm:{evm_address(seed)}"  # noqa: E731
    order = ["low", "medium", "high", "severe"]
    assert flags[w("listed-renter-1")]["level"] == "severe"
    r1, r2 = flags.get(w("golem-requestor-1")), flags.get(w("golem-requestor-2"))
    assert r1 and order.index(r1["level"]) >= order.index("high"), r1
    assert r2 and order.index(r2["level"]) >= order.index("medium"), r2
    ev = tables.read_evidence(store, subject=w("golem-requestor-1"))
    exp = next(e for e in ev if e["rule"] == "exposure")
    assert exp["path"][0] == w("listed-funder-1") and len(exp["path"]) == 3
    # Every cited fact is stored and carries a raw payload fetched from loopback or derived.
    for f in list(flags)[:60]:
        for e in tables.read_evidence(store, subject=f):
            for ref in e["refs"]:
                fact = tables.fact(store, ref)
                assert fact is not None and fact["raw_sha256"], ref
                assert (fact["raw_url"] or "").startswith(("http://127.0.0.1:", "derive:")), (ref, fact["raw_url"])
                assert store.raw_payload(fact["raw_sha256"]) is not None
