"""The Spark engine's input: the ``paid`` and ``edges`` frames (:mod:`graphs.spark.frames`) from the
store's Parquet export (``tracer.scoring.parquet.export_store``: edges in ``graphs.build.EDGE_COLUMNS``,
observations as scoring reads them).

Times are placed exactly as :class:`graphs.build.TracerGraph` places them: ``to_epoch(time)``, and for
an edge with a block and no time the estimate of a per-chain :class:`graphs.timeline.BlockClock`.
The clock samples its anchors in arrival order, so it is built on the driver by one streaming pass
over the edges in the export's (the store's) order, after the ``block_time`` observations, as
``build_graph`` feeds it (:func:`block_clock`); it holds a few thousand anchors per chain whatever the
edge count, and is broadcast to the executors, whose UDF calls ``clock.estimate``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from connectors import ids
from graphs.build import to_epoch
from graphs.timeline import BlockClock

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column, DataFrame, SparkSession

DEFAULT_BATCH_ROWS = 200_000


def block_clock(edges_path: Path | str, observations_path: Path | str | None = None,
                batch_rows: int = DEFAULT_BATCH_ROWS) -> BlockClock:
    """The block clock ``build_graph`` builds from the same rows: ``block_time`` observations first,
    then every edge with a chain, a block and a time, in file order (one streaming pass: memory is
    one batch plus the clock's sampled anchors)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    clock = BlockClock()
    if observations_path is not None:
        obs = pq.ParquetFile(str(observations_path))
        for batch in obs.iter_batches(batch_size=batch_rows, columns=["subject", "predicate", "value", "attrs"]):
            batch = batch.filter(pc.equal(batch.column("predicate"), "block_time"))
            for o in batch.to_pylist():
                clock.add_observation(o["subject"], o["value"], o["attrs"])
    edges = pq.ParquetFile(str(edges_path))
    for batch in edges.iter_batches(batch_size=batch_rows, columns=["time", "chain", "block"]):
        chain, block, time = batch.column("chain"), batch.column("block"), batch.column("time")
        keep = pc.and_(pc.and_(pc.is_valid(block), pc.not_equal(pc.fill_null(chain, ""), "")),
                       pc.not_equal(pc.fill_null(time, ""), ""))
        part = batch.filter(keep)
        for c, b, t in zip(part.column("chain").to_pylist(), part.column("block").to_pylist(),
                           part.column("time").to_pylist(), strict=True):
            clock.add(c, b, to_epoch(t))
    for c in clock.chains():  # fit every chain once here, not once per executor
        clock.estimate(c, 0)
    return clock


def _placed(clock: BlockClock, time: str | None, chain: str | None, block: int | None) -> int | None:
    """``t`` of one edge, as TracerGraph.add_edges then place_by_block give it (None: unknown)."""
    t = to_epoch(time)
    if t is None and block is not None and chain:
        return clock.estimate(chain, block)
    return t


def amount_text(col: Column) -> Column:
    """Canonical decimal text of a stored amount (``int(amount)`` as text; missing or empty is ``0``)."""
    from pyspark.sql import functions as F

    stripped = F.regexp_replace(col, "^0+", "")
    return F.when(col.isNull() | (col == ""), F.lit("0")).when(stripped == "", F.lit("0")).otherwise(stripped)


def asset_key(asset: Column, decimals: Column) -> Column:
    """``asset/decimals`` exactly as :meth:`graphs.build.TracerGraph.asset_key` spells it."""
    from pyspark.sql import functions as F

    return F.concat(F.coalesce(asset, F.lit("")), F.lit("/"), F.coalesce(decimals.cast("string"), F.lit("")))


def paid_frame(spark: SparkSession, edges_parquet_path: Path | str, clock: BlockClock,
               ordered: bool = False) -> DataFrame:
    """The ``paid`` frame (:data:`graphs.spark.frames.PAID_SCHEMA`) of the exported edges; ``clock``
    from :func:`block_clock` on the same export.  ``ordered``: with ``i``, the edge's insertion
    sequence (the export's ``seq``: see :data:`graphs.spark.frames.EDGES_SEQ_SCHEMA`)."""
    from pyspark.sql import functions as F

    bc = spark.sparkContext.broadcast(clock)
    # Arrow batches between the JVM and the Python workers (not row pickling): the UDF is per row anyway
    place = F.udf(lambda time, chain, block: _placed(bc.value, time, chain, block), "long", useArrow=True)
    df = spark.read.parquet(str(edges_parquet_path)).where(F.col("kind") == "paid")
    a = amount_text(F.col("amount"))
    order = [F.col("seq").alias("i")] if ordered else []
    return df.select(F.col("id").alias("f"), "src", "dst", a.alias("a"), F.length(a).cast("int").alias("al"),
                     asset_key(F.col("asset"), F.col("decimals")).alias("s"),
                     place(F.col("time"), F.col("chain"), F.col("block")).alias("t"), *order)


def edges_frame(spark: SparkSession, edges_parquet_path: Path | str,
                observations_parquet_path: Path | str | None = None, ordered: bool = False) -> DataFrame:
    """The ``edges`` frame (``f, k, src, dst``): every stored edge, plus the ``located_in`` edge of each
    ``location`` observation (to ``jurisdiction:<ISO2>``, as ``TracerGraph.add_observations`` adds it).

    Derived edges are not here: ``funded_by`` follows first fundings after dust is known, and
    ``same_actor`` the clustering links; the stages that derive them add them.

    ``ordered``: with ``i``, the insertion sequence ``build_graph`` gives them: the store's edges in
    their order (the export's ``seq``), then the ``located_in`` edges in observation order."""
    import pyarrow.parquet as pq
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    order = [F.col("seq").alias("i")] if ordered else []
    edges = spark.read.parquet(str(edges_parquet_path)).select(
        F.col("id").alias("f"), F.col("kind").alias("k"), "src", "dst", *order)
    if observations_parquet_path is None:
        return edges
    loc = spark.read.parquet(str(observations_parquet_path)).where(
        (F.col("predicate") == "location") & F.col("value").isNotNull() & (F.col("value") != ""))
    # jurisdiction ids made on the driver: a few hundred countries at most, whatever the row count
    values = [r["value"] for r in loc.select("value").distinct().collect()]
    juris = spark.createDataFrame([(v, ids.jurisdiction(v)) for v in values], "value string, dst string")
    loc_order = []
    if ordered:  # after every store edge, in observation order (one ordered pass over location rows)
        n_edges = pq.ParquetFile(str(edges_parquet_path)).metadata.num_rows
        rank = F.row_number().over(Window.orderBy("seq")) - 1 + F.lit(n_edges)
        loc_order = [rank.cast("long").alias("i")]
    located = loc.join(F.broadcast(juris), "value").select(
        F.col("id").alias("f"), F.lit("located_in").alias("k"), F.col("subject").alias("src"), "dst", *loc_order)
    return edges.unionByName(located)

