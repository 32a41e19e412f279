"""Compute accounting on Spark: GPU-hours -> FLOP per lease, summed per actor cluster.

The twin of :func:`graphs.compute.cluster_compute`.  Its answers are float sums, and float addition
is not associative: summing the same terms in another order (as a distributed ``sum`` does, partition
by partition) can differ in the last bits.  So nothing here uses Spark's ``sum``: each actor's rows
are collected with their input position ``i``, sorted by it, and folded left to right from ``0.0``
(``aggregate`` over the sorted array), which is exactly the order the networkx loop adds them in.
Each term is computed with the same operations in the same order (``hours * 3600.0 * peak * 1e12 *
utilisation``, IEEE-754 doubles on both sides), so the totals are bit-identical, not merely within
1e-9.  The lists (leases, refs) follow the same sorted order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from connectors import ids
from graphs.build import _rows
from graphs.compute import DEFAULT_UTILISATION, LEASE_COLUMNS, ComputeTotal

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column, DataFrame, SparkSession

LEASES_SCHEMA = "i long, lease string, renter string, gpu string, gpu_hours double, ref string"


def lease_frame(spark: SparkSession, rows: Iterable[Any]) -> DataFrame:
    """Lease rows (``graphs.compute.LEASE_COLUMNS``) as a frame, ``i`` their position (the summation order)."""
    out = []
    for i, (lease, renter, gpu, hours, ref) in enumerate(_rows(rows, LEASE_COLUMNS)):
        out.append((i, None if lease is None else str(lease), None if renter is None else str(renter),
                    None if gpu is None else str(gpu), None if hours is None else float(hours),
                    None if ref is None else str(ref)))
    return spark.createDataFrame(out, LEASES_SCHEMA)


def _fold(arr: Column, field: str) -> Column:
    """The left-to-right float sum of ``field`` over an array already sorted by position."""
    from pyspark.sql import functions as F

    return F.aggregate(arr, F.lit(0.0), lambda acc, x: acc + x[field])


def cluster_compute(spark: SparkSession, leases_df: DataFrame, peak_tflops: Mapping[str, float],
                    actor_df: DataFrame | None = None,
                    utilisation: float = DEFAULT_UTILISATION) -> dict[str, ComputeTotal]:
    """:func:`graphs.compute.cluster_compute` on Spark, equal to it (see the module docstring).

    ``leases_df``: columns ``lease, renter, gpu, gpu_hours, ref`` and ``i`` (the order; without it
    the frame's own row order, :func:`lease_frame` adds it).  ``actor_df``: ``(node, cluster)``, a
    renter's actor (renters not in it are their own actor), e.g. from
    :func:`graphs.spark.components.cluster_frame`.  ``peak_tflops``: catalog id -> dense peak.
    """
    from pyspark.sql import functions as F

    from graphs.spark.components import ordered

    df = ordered(leases_df).where(F.col("renter").isNotNull() & (F.col("renter") != "")
                                   & F.col("gpu_hours").isNotNull())
    df = df.withColumn("raw", F.coalesce(F.col("gpu"), F.lit("")))
    # GPU ids -> catalog ids and peaks on the driver: a few dozen models, whatever the lease count.
    raws = [r["raw"] for r in df.select("raw").distinct().collect()]
    gpus = [(raw, g, None if (p := peak_tflops.get(g)) is None else float(p))
            for raw in raws for g in [ids.gpu_catalog_id(raw)]]
    gdf = spark.createDataFrame(gpus, "raw string, g string, peak double")
    df = df.join(F.broadcast(gdf), "raw")
    if actor_df is not None:
        actors = actor_df.select(F.col("node").alias("renter"), F.col("cluster").alias("actor"))
        df = df.join(actors, "renter", "left").withColumn("actor", F.coalesce("actor", "renter"))
    else:
        df = df.withColumn("actor", F.col("renter"))
    flop = F.col("gpu_hours") * F.lit(3600.0) * F.col("peak") * F.lit(1e12) * F.lit(float(utilisation))
    df = df.withColumn("flop", F.when(F.col("peak").isNotNull(), flop)).localCheckpoint(eager=True)

    row = F.struct("i", "lease", "ref", "g", "gpu_hours", "flop")
    known = F.filter(F.array_sort(F.collect_list(row)), lambda x: x["flop"].isNotNull())
    per_actor = df.groupBy("actor").agg(F.array_sort(F.collect_list(row)).alias("rows"), known.alias("known"))
    per_actor = per_actor.select(
        "actor", _fold(F.col("known"), "flop").alias("flop"),
        F.transform("rows", lambda x: x["lease"]).alias("leases"),
        F.transform(F.filter("rows", lambda x: x["ref"].isNotNull() & (x["ref"] != "")),
                    lambda x: x["ref"]).alias("refs"),
        F.array_distinct(F.transform(F.filter("rows", lambda x: x["flop"].isNull()), lambda x: x["g"]))
        .alias("unknown"))
    hrow = F.array_sort(F.collect_list(F.struct("i", "gpu_hours")))
    per_gpu = df.groupBy("actor", "g").agg(_fold(hrow, "gpu_hours").alias("hours"), F.min("i").alias("first"))
    frow = F.array_sort(F.collect_list(F.struct("i", "flop")))
    per_member = (df.where(F.col("flop").isNotNull()).groupBy("actor", "renter")
                  .agg(_fold(frow, "flop").alias("flop"), F.min("i").alias("first")))

    out: dict[str, ComputeTotal] = {}
    for r in per_actor.collect():
        out[r["actor"]] = ComputeTotal(r["actor"], r["flop"], {}, list(r["leases"]), list(r["refs"]), {},
                                       set(r["unknown"]), utilisation)
    for r in per_gpu.orderBy("first").collect():  # dict order as networkx fills it (first use)
        out[r["actor"]].gpu_hours[r["g"]] = r["hours"]
    for r in per_member.orderBy("first").collect():
        out[r["actor"]].per_member[r["renter"]] = r["flop"]
    return out
