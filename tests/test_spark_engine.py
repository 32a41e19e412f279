"""The Spark scoring engine against the networkx engine on the same stores: equal flags, levels, scores
(to 1e-9), evidence (ids, details, refs, paths) and clusters, on the demo world, simulator worlds and
randomized detection-quality worlds (Akash and Polygon/Golem, synced through the real connectors).

One shared local[2] session (tests/spark_support.py); the worlds are small, so the time is Spark's
per-job overhead, about a minute per world on this 2-core machine: each run draws one randomized
world per family (a fresh seed each run, printed on failure) rather than many."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tracer.scoring.run import ScoreResult, score_store
from tracer.scoring.spark_engine import Engine, engine_from_config
from tracer.simulate import build_world
from tracer.store import StoreBackend, open_store

pytestmark = pytest.mark.slow

NOW = "2030-01-01T00:00:00Z"
ROOT = Path(__file__).resolve().parents[1]


def assert_same(store: StoreBackend, session: Any) -> tuple[ScoreResult, ScoreResult]:
    """Score ``store`` with both engines (nothing written) and assert every answer equal."""
    nx = score_store(store, write=False, now=NOW)
    sp = score_store(store, write=False, now=NOW, engine=Engine("spark"), spark=session)
    assert [f["subject"] for f in sp.flags] == [f["subject"] for f in nx.flags]
    for a, b in zip(nx.flags, sp.flags, strict=True):
        assert abs(a["score"] - b["score"]) <= 1e-9, (a["subject"], a["score"], b["score"])
        assert (a["level"], a["cluster"], a["reasons"]) == (b["level"], b["cluster"], b["reasons"]), a["subject"]
    keys = ("id", "subject", "rule", "detail", "refs", "path")
    assert [tuple(e[k] for k in keys) for e in sp.evidence] == [tuple(e[k] for k in keys) for e in nx.evidence]
    for a, b in zip(nx.evidence, sp.evidence, strict=True):
        assert abs(a["score"] - b["score"]) <= 1e-9, a["id"]
    cx, cs = nx.context, sp.context
    assert cx is not None and cs is not None
    assert cs.clusters.members == cx.clusters.members and cs.clusters.of == cx.clusters.of
    assert cs.clusters.links == cx.clusters.links  # every heuristic's links, in order
    for part in ("incoming", "outgoing", "passive", "by_asset", "stops"):
        assert getattr(cs.exposure, part) == getattr(cx.exposure, part), part
    assert cs.compute == cx.compute
    assert sp.stats["hubs"] == nx.stats["hubs"] and sp.stats["edges"] == nx.stats["edges"]
    assert sp.stats["engine"] == "spark" and nx.stats["engine"] == "networkx"
    # the rules ran as a Spark job over per-actor bundles (fewer bundles than subjects: clusters share one)
    assert 0 < sp.stats["rule_bundles"] <= sp.stats["rule_subjects"] and sp.stats["rule_bytes"] > 0
    assert "rules" in sp.timings
    return nx, sp


def test_simulator_world_equal(spark: Any, tmp_path: Path) -> None:
    """A simulator world (planted patterns, decoys, hubs, background) with a fresh seed and size."""
    seed, background = f"spark-engine-{random.randrange(10**6)}", random.choice((60, 120))
    store = open_store(tmp_path / "sim.db")
    build_world(seed, background).write(store)
    nx, sp = assert_same(store, spark)
    store.close()
    assert len(nx.flags) >= 10 and any(f["level"] in ("high", "severe") for f in nx.flags), seed
    # the driver held part of the graph only: background payments between unrelated wallets stay in Spark
    assert sp.stats["driver_edges"] < nx.stats["edges"], seed


def test_demo_world_through_the_cli(spark: Any, tmp_path: Path) -> None:
    """The demo store (every connector synced from loopback), scored by `tracer score --engine spark`
    (in-process on the shared session: a second JVM would cost a minute here): the flags and evidence
    it writes are the networkx engine's."""
    from click.testing import CliRunner

    from tracer.cli import main
    from tracer.demo import run_demo
    from tracer.scoring import tables

    summary = asyncio.run(run_demo(tmp_path))
    assert summary["status"] == "ok", summary["errors"][:3]
    db = tmp_path / "tracer.db"
    store = open_store(db)
    want = score_store(store, write=False)
    store.close()
    r = CliRunner().invoke(main, ["--db", str(db), "score", "--engine", "spark", "--spark-master", "local[2]"])
    assert r.exit_code == 0, (r.output, r.exception)
    assert "spark engine (local[2])" in r.output and "Traceback" not in r.output
    assert "spark engine: exposure, hop by hop (" in r.output  # each stage said as it starts
    assert "spark engine: rules and scores, per actor (" in r.output and " actor bundles (" in r.output
    store = open_store(db)
    got_flags = tables.read_flags(store)
    # every subject with evidence (a qualifier alone is evidence without a flag)
    got_ev = [e for x in sorted({e["subject"] for e in want.evidence}) for e in tables.read_evidence(store, subject=x)]
    store.close()
    key = lambda f: (f["subject"], f["level"], round(float(f["score"]), 9), f["cluster"], f["reasons"])  # noqa: E731
    assert sorted(map(key, got_flags)) == sorted(map(key, want.flags)) and any(
        f["level"] == "severe" for f in got_flags)
    ekey = lambda e: (e["id"], e["subject"], e["rule"], e["detail"], list(e["refs"]), list(e["path"]))  # noqa: E731
    assert sorted(map(ekey, got_ev)) == sorted(map(ekey, want.evidence))


def test_quality_world_equal(spark: Any, tmp_path: Path) -> None:
    """A randomized detection-quality world (Akash or Polygon/Golem, drawn each run), synced through
    the real connectors."""
    from tracer.evaluate import sync_scenario
    from tracer.lists import screen_stored_facts
    from tracer.world.scenario import KINDS, draw_scenario

    seed, kind = random.randrange(1000, 10**6), random.choice(KINDS)
    store, res = asyncio.run(sync_scenario(draw_scenario(seed, kind), tmp_path / f"{kind}.db"))
    try:
        assert res.status in ("ok", "partial"), res.errors[:3]
        screen_stored_facts(store)
        nx, _ = assert_same(store, spark)
        assert nx.flags, (kind, seed)
    finally:
        store.close()


def test_engine_config() -> None:
    """``[scoring] engine`` and Spark settings; unknown engines and malformed settings are usage errors."""
    from connectors.base import ConfigError

    assert engine_from_config({}) == Engine()
    e = engine_from_config({"scoring": {"engine": "spark", "spark_master": "spark://head:7077",
                                        "spark_conf": {"spark.driver.memory": "4g"}, "hops": 2}})
    assert (e.name, e.spark_master, dict(e.spark_conf)) == ("spark", "spark://head:7077",
                                                           {"spark.driver.memory": "4g"})
    assert engine_from_config({"scoring": {"engine": "spark"}}, "networkx").name == "networkx"
    assert engine_from_config({"scoring": {"engine": "spark"}}, None, "local[1]").spark_master == "local[1]"
    with pytest.raises(ConfigError, match="unknown scoring engine 'graphx'"):
        engine_from_config({"scoring": {"engine": "graphx"}})
    with pytest.raises(ConfigError, match="spark_conf must be a table"):
        engine_from_config({"scoring": {"spark_conf": "spark.driver.memory=4g"}})


def _cli(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).parent / "tracer"), *args], capture_output=True, text=True,
                          timeout=300,
                          cwd=ROOT, env={**os.environ, **(env or {})})


def test_cli_without_java_is_one_line(tmp_path: Path) -> None:
    """No Java: `tracer score --engine spark` says what to install in one line (exit 1, no traceback),
    and the default engine still scores."""
    db = tmp_path / "w.db"
    store = open_store(db)
    build_world("spark-cli", 10).write(store)
    store.close()
    bare = tmp_path / "bin"
    bare.mkdir()
    no_java = {"JAVA_HOME": str(tmp_path / "nojava"), "PATH": f"{bare}:{Path(sys.executable).parent}"}
    r = _cli(["--db", str(db), "score", "--engine", "spark", "--dry-run"], no_java)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr and r.stderr.strip().splitlines() == [
        "error: the Spark engine needs Java 17 or newer: apt-get install openjdk-17-jre-headless (or set "
        "JAVA_HOME); the default engine (networkx) needs no Java"]
    ok = _cli(["--db", str(db), "score", "--dry-run"], no_java)
    assert ok.returncode == 0 and "flags" in ok.stderr, ok.stderr
    bad = _cli(["--db", str(db), "score", "--engine", "graphx"])
    assert bad.returncode == 2 and "'graphx' is not one of 'networkx', 'spark'" in bad.stderr
    lone = _cli(["--db", str(db), "score", "--spark-master", "local[1]", "--dry-run"])
    assert lone.returncode == 2 and "--spark-master needs --engine spark" in lone.stderr
