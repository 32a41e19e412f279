"""Actor clusters on Spark: connected components of the strong links by large-star / small-star.

The twin of :func:`graphs.clusters.cluster_links` (union-find in one process).  Union-find needs
every node in memory; the alternating *large-star* and *small-star* operations of Kiveris et al.
("Connected Components in MapReduce and Beyond", SoCC 2014) need only shuffles and per-node
aggregates over an edge list, converge in O(log^2 n) rounds (in practice a handful even on long paths: each round
roughly halves a path's diameter) and end with every component a star around its smallest node.

- large-star: every node ``u`` links each *larger* neighbour to ``m(u)``, the smallest of ``u`` and
  its neighbours;
- small-star: every node ``u`` links itself and each *smaller* neighbour to the smallest of them.

Both keep the components and shrink the edges towards the star; the edge set is a star forest
(every edge ``x -> p`` with ``p < x``, one ``p`` per ``x``, and no ``p`` with an edge of its own)
exactly when the algorithm has converged: each round's job also checks that on its input (an
observed metric, no job of its own), and the rounds are bounded.  Node ids are
compared as strings: Spark compares UTF-8 bytes, which orders like Python's code points, so the
root of a component is the same ``min(members)`` union-find's cluster id hashes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from graphs.clusters import Clusters, Link

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

DEFAULT_MAX_ROUNDS = 64  # log2-ish rounds suffice: 64 is far beyond any store's diameter
ROWS_PER_PARTITION = 1_000_000  # edges per partition in the rounds (tiny frames: one partition, no idle tasks)
LINKS_SCHEMA = "i long, a string, b string, heuristic string, strength double, refs array<string>, detail string"


class NotConverged(RuntimeError):
    """Connected components did not reach a star forest within the bound on rounds."""


def _round(e: DataFrame, parts: int) -> tuple[DataFrame, Any]:
    """One large-star then small-star round over the edges ``src > dst`` (duplicates allowed); also
    observes whether the *input* was already a star forest (the convergence check rides along in the
    same job).  Two shuffles, both by ``src``.

    Star forest, seen from each node's closed neighbourhood: no node has two smaller neighbours, and
    the smaller end of every edge has no smaller neighbour (it is a centre)."""
    from pyspark.sql import Observation, Window
    from pyspark.sql import functions as F

    src, dst = F.col("src"), F.col("dst")
    # deduplicated here, where the rows are already partitioned by src (no shuffle of its own)
    both = (e.select("src", "dst").union(e.select(dst.alias("src"), src.alias("dst")))
            .repartition(parts, "src").distinct())
    w = Window.partitionBy("src")
    b = (both.withColumn("m", F.least(F.min("dst").over(w), src))
         .withColumn("low", F.sum(F.when(dst < src, 1).otherwise(0)).over(w)))
    obs = Observation()
    b = b.observe(obs, F.sum(F.when(((dst > src) & (F.col("m") < src)) | (F.col("low") > 1), 1)
                             .otherwise(0)).alias("bad"))
    # large-star: every larger neighbour v of u now points to m(u) (v > u >= m(u), so v > m(u))
    large = b.where(dst > src).select(dst.alias("src"), F.col("m").alias("dst")).repartition(parts, "src")
    # small-star: u (with smaller neighbours N) points itself and N to min(N)
    j = large.withColumn("m", F.min("dst").over(Window.partitionBy("src")))
    pair = F.explode(F.array(F.struct(dst.alias("src"), F.col("m").alias("dst")),
                             F.struct(src.alias("src"), F.col("m").alias("dst")))).alias("e")
    out = j.select(pair).select("e.src", "e.dst").where(src != dst)  # duplicates: the next round drops them
    return out, obs


def components(edges: DataFrame, max_rounds: int = DEFAULT_MAX_ROUNDS,
               rows_per_partition: int = ROWS_PER_PARTITION) -> DataFrame:
    """``(node, root)`` for every node of ``edges`` (columns ``a``, ``b``): root = smallest node of its
    component (string order).  Self edges make a node its own component.

    Each round is one Spark job (checkpointed locally, so plans do not grow with the rounds).
    Raises :class:`NotConverged` after ``max_rounds`` rounds without a star forest (a bug, not a
    property of the input: the number of rounds grows as log^2 of the size)."""
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    nodes = edges.select(F.col("a").alias("node")).union(edges.select(F.col("b").alias("node"))) \
        .where(F.col("node").isNotNull()).distinct()
    seen = Observation()
    e = (edges.select(F.greatest("a", "b").alias("src"), F.least("a", "b").alias("dst"))
         .where(F.col("src") != F.col("dst")).distinct().observe(seen, F.count(F.lit(1)).alias("n"))
         .localCheckpoint(eager=True))
    n = int(seen.get["n"] or 0)
    parts = max(1, min(int(e.sparkSession.conf.get("spark.sql.shuffle.partitions") or 1),
                       -(-n // max(1, rows_per_partition))))
    converged = n == 0
    rounds = 0
    while not converged:
        if rounds == max_rounds:
            raise NotConverged(f"connected components: no star forest after {max_rounds} rounds")
        out, obs = _round(e, parts)
        out = out.localCheckpoint(eager=True)
        rounds += 1
        if obs.get["bad"]:
            e = out
        else:  # the round's input was a star forest already (the output is the same forest)
            converged = True
    roots = e.select(F.col("src").alias("node"), F.col("dst").alias("root")).distinct()
    return nodes.join(roots, "node", "left").select("node", F.coalesce("root", "node").alias("root"))


def links_frame(spark: SparkSession, links: Iterable[Link]) -> DataFrame:
    """Links as a DataFrame (:data:`LINKS_SCHEMA`); ``i`` is the position, which orders each cluster's links."""
    rows = [(i, lk.a, lk.b, lk.heuristic, float(lk.strength), list(lk.refs), lk.detail) for i, lk in enumerate(links)]
    return spark.createDataFrame(rows, LINKS_SCHEMA)


def ordered(links: DataFrame) -> DataFrame:
    """``links`` with an ``i`` order column: kept when present, else the DataFrame's own row order."""
    if "i" in links.columns:
        return links
    from pyspark.sql.types import LongType, StructField, StructType

    schema = StructType([*links.schema.fields, StructField("i", LongType(), False)])
    return links.sparkSession.createDataFrame(links.rdd.zipWithIndex().map(lambda ri: (*ri[0], ri[1])), schema)


def cluster_frame(links: DataFrame, threshold: float) -> DataFrame:
    """``(node, root, cluster)`` for every node of a link at or above ``threshold``: the clusters as a
    frame for the next stages (compute, rules) to join on.  ``cluster`` is
    ``"cluster:" + sha256(root)[:16]``, as :func:`graphs.clusters.cluster_links` names it."""
    from pyspark.sql import functions as F

    kept = links.where(~(F.col("strength") < F.lit(float(threshold))))
    comp = components(kept.select("a", "b"))
    return comp.withColumn("cluster", F.concat(F.lit("cluster:"), F.substring(F.sha2(F.col("root"), 256), 1, 16)))


def cluster_links(spark: SparkSession, links: Iterable[Link] | DataFrame, threshold: float) -> Clusters:
    """:func:`graphs.clusters.cluster_links` on Spark: the same ``of``, sorted ``members`` and per-cluster
    links in input order.

    ``links``: :class:`Link` objects (returned as given) or a DataFrame with columns ``a, b,
    heuristic, strength, refs, detail`` and optionally ``i`` (the order; without it the frame's own
    row order).  Links below ``threshold`` are dropped.
    """
    from pyspark.sql import DataFrame
    from pyspark.sql import functions as F

    if isinstance(links, DataFrame):
        df = ordered(links).where(~(F.col("strength") < F.lit(float(threshold))))
    else:
        given = [lk for lk in links if not lk.strength < threshold]  # as union-find drops them
        df = links_frame(spark, given)
    of: dict[str, str] = {}
    groups: dict[str, list[str]] = defaultdict(list)
    for r in cluster_frame(df, threshold).select("node", "cluster").collect():
        of[r["node"]] = r["cluster"]
        groups[r["cluster"]].append(r["node"])
    members = {c: sorted(ms) for c, ms in groups.items()}
    if isinstance(links, DataFrame):  # the kept links themselves, in order (the result holds them all)
        given = [Link(r["a"], r["b"], r["heuristic"], r["strength"], tuple(r["refs"] or ()), r["detail"] or "")
                 for r in df.orderBy("i").select("a", "b", "heuristic", "strength", "refs", "detail").collect()]
    by_cluster: dict[str, list[Link]] = defaultdict(list)
    for lk in given:
        by_cluster[of[lk.a]].append(lk)
    return Clusters(of, members, dict(by_cluster))
