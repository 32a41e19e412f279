"""Compute accounting on Spark equals graphs.compute.cluster_compute: same FLOP (bit for bit: the
sums are folded in the networkx loop's order), GPU-hours, lease and ref lists, unknown GPUs."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from connectors import ids
from graphs.compute import ComputeTotal
from graphs.compute import cluster_compute as nx_cluster_compute
from graphs.spark.compute import cluster_compute, lease_frame
from tracer.catalog import load_catalog
from tracer.scoring.rules import Context
from tracer.scoring.run import score_store
from tracer.simulate import build_world
from tracer.store import open_store

# A JVM and Spark jobs: minutes on this 2-core machine; run in CI (`make test`), skipped by -m 'not slow'.
pytestmark = pytest.mark.slow

NOW = "2026-06-01T00:00:00Z"


def lease_rows(ctx: Context) -> list[tuple[str, str, str, float, str]]:
    """The lease rows context_from_rows hands to cluster_compute (its loop over lease nodes)."""
    tg = ctx.tg
    gpu_hours: dict[str, list[tuple[float, str | None, str]]] = {}
    for s, obs in ctx.obs.items():
        for o in obs:
            if o["predicate"] == "gpu_hours":
                g = o["attrs"].get("gpu")
                gpu_hours.setdefault(s, []).append((float(o["value"]), ids.gpu_catalog_id(str(g)) if g else None,
                                                    o["id"]))
    rows: list[tuple[str, str, str, float, str]] = []
    for n, k in tg.g.nodes(data="k"):
        if k != "lease":
            continue
        lid = tg.ids[n]
        renters = [(tg.ids[u], d["f"]) for u, d in tg.in_edges(n, "rented")]
        uses = [(ids.gpu_catalog_id(tg.ids[v]), d) for v, d in tg.out_edges(n, "uses_gpu")]
        for r, _rf in renters:
            if lid in gpu_hours:
                for hours, hgid, oid in gpu_hours[lid]:
                    rows.append((lid, r, hgid or (uses[0][0] if uses else ""), hours, oid))
            else:
                for gid, d in uses:
                    if "h" in d:
                        rows.append((lid, r, gid, d["h"] * d.get("u", 1), d["f"]))
    return rows


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Context:
    path: Path = tmp_path_factory.mktemp("spark_compute") / "sim.db"
    store = open_store(path)
    build_world("spark-compute", 80).write(store)
    ctx = score_store(store, write=False, now=NOW).context
    store.close()
    assert ctx is not None
    return ctx


def _peaks() -> dict[str, float]:
    return {g.id: g.fp16_dense_tflops for g in load_catalog().gpus.values()}


def _same(got: dict[str, ComputeTotal], want: dict[str, ComputeTotal]) -> None:
    assert set(got) == set(want)
    for a, w in want.items():
        g = got[a]
        assert math.isclose(g.flop, w.flop, rel_tol=1e-9, abs_tol=0.0), a
        assert g.flop == w.flop, a  # the same fold order: bit for bit
        assert g.gpu_hours == w.gpu_hours and list(g.gpu_hours) == list(w.gpu_hours), a
        assert g.per_member == w.per_member and list(g.per_member) == list(w.per_member), a
        assert (g.leases, g.refs, g.unknown_gpus, g.utilisation) == (w.leases, w.refs, w.unknown_gpus,
                                                                       w.utilisation), a
    assert got == want


def test_simulator_world_compute_equals_networkx(spark: Any, world: Context) -> None:
    ctx = world
    rows = lease_rows(ctx)
    assert len(rows) >= 20
    peaks = _peaks()
    want = nx_cluster_compute(rows, peaks, lambda r: ctx.clusters.cluster(r) or r, ctx.params.utilisation)
    assert want == ctx.compute  # the rows above are the ones score_store summed
    assert any(len(t.leases) > 1 for t in want.values())  # clusters sum several leases
    actors = spark.createDataFrame(sorted(ctx.clusters.of.items()), "node string, cluster string")
    got = cluster_compute(spark, lease_frame(spark, rows), peaks, actors, ctx.params.utilisation)
    _same(got, want)


def test_edge_rows_and_summation_order(spark: Any) -> None:
    """Unknown GPUs, missing renters and hours, empty refs, and terms whose float sum depends on order."""
    peaks = {"h100-sxm": 989.4, "a100": 312.0, "odd": 0.1}
    # 0.1-scale hours in an order where left-to-right differs from other orders in the last bits
    hours = [0.1, 1e8, 0.3, -1e8, 0.7, 1e-3, 2.2, 3.3e5, 0.2]
    assert sum(hours) != math.fsum(hours) or sum(reversed(hours)) != sum(hours)
    rows: list[tuple[Any, ...]] = []
    for i, h in enumerate(hours):
        rows.append((f"lease:sim:{i}", f"wallet:evm:0x{i % 3:040x}", ["gpu:odd", "gpu:h100-sxm", "a100"][i % 3], h,
                     f"edge:sim:{i}" if i % 4 else ""))
    rows += [("lease:sim:x", "", "gpu:a100", 5.0, "edge:x"), ("lease:sim:y", None, "gpu:a100", 5.0, "edge:y"),
             ("lease:sim:z", "wallet:evm:0xz", "gpu:a100", None, "edge:z"),
             ("lease:sim:u", "wallet:evm:0xu", "gpu:mystery", 7.5, None),
             ("lease:sim:n", "wallet:evm:0xu", None, 2.0, "edge:n"),
             ("lease:sim:w", "wallet:evm:0xw", "gpu:odd", 0.3, "edge:w")]
    actor = {f"wallet:evm:0x{i:040x}": "cluster:one" for i in range(2)}
    want = nx_cluster_compute(rows, peaks, actor, 0.37)
    actors = spark.createDataFrame(sorted(actor.items()), "node string, cluster string")
    # the frame without its order column, spread over partitions: its row order is the order
    frame = lease_frame(spark, rows).drop("i").coalesce(3)
    got = cluster_compute(spark, frame, peaks, actors, 0.37)
    _same(got, want)
    assert got["wallet:evm:0xu"].unknown_gpus == {"mystery", ""} and got["wallet:evm:0xu"].flop == 0.0
    assert got["wallet:evm:0xu"].per_member == {} and got["wallet:evm:0xu"].refs == ["edge:n"]
    assert "wallet:evm:0xz" not in got and "" not in got
    assert got["cluster:one"].leases == [f"lease:sim:{i}" for i in range(len(hours)) if i % 3 < 2]
