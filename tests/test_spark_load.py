"""The Spark engine's input: the store's Parquet export, and the ``paid`` / ``edges`` frames loaded from
it equal the networkx graph score_store builds (times placed by the same block clock)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from akash_support import config, served, sync_akash

from graphs.build import EDGE_COLUMNS
from graphs.spark.frames import edge_rows, paid_rows
from graphs.spark.load import block_clock, edges_frame, paid_frame
from tracer.scoring import tables
from tracer.scoring.parquet import export_store
from tracer.scoring.run import score_store
from tracer.simulate import build_world
from tracer.store import StoreBackend, open_store

# A JVM and Spark jobs: minutes on this 2-core machine; run in CI (`make test`), skipped by -m 'not slow'.
pytestmark = pytest.mark.slow

NOW = "2030-01-01T00:00:00Z"


def _frames_equal_graph(spark: Any, store: StoreBackend, out: Path) -> dict[str, int]:
    """Export in small batches, load both frames, compare with the graph score_store built."""
    tg = score_store(store, write=False, now=NOW).context.tg  # type: ignore[union-attr]
    paths = export_store(store, out, now=NOW, batch_rows=37)
    assert set(paths) == {"edges", "observations", "deployments", "tokens"}
    # the export holds exactly the rows scoring reads, amounts as text
    edges = pq.read_table(paths["edges"])
    assert edges.schema.names == [*EDGE_COLUMNS, "seq"] and str(edges.schema.field("amount").type) == "string"
    assert pq.ParquetFile(paths["edges"]).metadata.num_row_groups == -(-edges.num_rows // 37)
    stored = [tuple(r) for r in tables.iter_edges(store)]
    exported = [tuple(r[c] for c in EDGE_COLUMNS) for r in edges.to_pylist()]
    assert exported == stored
    assert [r["seq"] for r in edges.to_pylist()] == list(range(len(stored)))
    obs = pq.read_table(paths["observations"]).to_pylist()
    assert [o["id"] for o in obs] == [o["id"] for o in tables.observations(store, NOW)]
    assert pq.read_table(paths["deployments"]).to_pylist() == tables.deployments(store)
    assert {r["id"]: r["symbol"] for r in pq.read_table(paths["tokens"]).to_pylist()} == tables.token_symbols(store)

    clock = block_clock(paths["edges"], paths["observations"], batch_rows=41)
    got = Counter(tuple(r) for r in paid_frame(spark, paths["edges"], clock).collect())
    want = Counter(paid_rows(tg))
    assert got == want
    derived = ("funded_by", "same_actor")
    got_e = Counter(tuple(r) for r in edges_frame(spark, paths["edges"], paths["observations"]).collect())
    assert got_e == Counter(r for r in edge_rows(tg) if r[1] not in derived)
    placed = sum(1 for _, _, d in tg.g.edges(data=True) if d["k"] == "paid" and d.get("te"))
    unknown = sum(1 for _, _, d in tg.g.edges(data=True) if d["k"] == "paid" and d["t"] is None)
    return {"paid": sum(want.values()), "placed": placed, "unknown": unknown,
            "located_in": sum(1 for r in got_e if r[1] == "located_in")}


def test_simulator_world_frames(spark: Any, tmp_path: Path) -> None:
    store = open_store(tmp_path / "sim.db")
    build_world("spark-load", 60).write(store)
    n = _frames_equal_graph(spark, store, tmp_path / "pq")
    store.close()
    assert n["paid"] >= 100 and n["located_in"] >= 5


async def test_akash_world_height_only_facts(spark: Any, tmp_path: Path) -> None:
    """Escrow deposits and leases carry a height and no time: the loader's clock places them as the
    graph's does (and leaves unplaceable ones unknown)."""
    store = open_store(tmp_path / "t.db")
    async with served() as base:
        res = await sync_akash(store, tmp_path, config(base))  # type: ignore[arg-type]
    assert res.status == "ok", res.errors
    n = _frames_equal_graph(spark, store, tmp_path / "pq")
    store.close()
    assert n["placed"] >= 50 and n["paid"] > n["placed"]
