"""First fundings on Spark: what ``TracerGraph.first_in`` holds once dust is no funding.

:meth:`graphs.build.TracerGraph.ignore_dust_fundings` keeps a first funding that is not dust and
otherwise takes the first non-dust ``paid`` edge in (none: the node has no first funding).  Both
amount to one rule, which is what :func:`first_funding` computes in one aggregation: per receiving
node, the minimum over its non-dust incoming payments of (unknown time last, time, fact id) --
``graphs.build._before``.  Every node kind that receives a payment has one, as in networkx (leases
and deployments paid into escrow too); stages that want wallets only filter by node kind.

The derived ``funded_by`` edges (wallet -> its first funder) follow from the same frame
(:func:`with_funded_by`): networkx counts them in a node's degree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from graphs.spark.dust import with_non_dust

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

# Per receiving node ``w``: its first funder ``src``, the funding's time, amount text and length,
# asset key and fact id.
FIRST_FUNDING_SCHEMA = "w string, src string, t long, a string, al int, s string, f string"


def first_funding(paid: DataFrame, dust: Mapping[str, int]) -> DataFrame:
    """Per node ``w`` paid at least once above the dust limit, its first such payment
    (:data:`FIRST_FUNDING_SCHEMA`): ``tg.first_in`` after ``tg.ignore_dust_fundings(dust)``."""
    from pyspark.sql import functions as F

    order = F.struct(F.col("t").isNull().alias("tn"), F.coalesce(F.col("t"), F.lit(0)).alias("tc"),
                     "f", "src", "t", "a", "al", "s")
    best = (with_non_dust(paid, dust).where(F.col("nd"))
            .groupBy(F.col("dst").alias("w")).agg(F.min(order).alias("b")))
    return best.select("w", "b.src", "b.t", "b.a", "b.al", "b.s", "b.f")


def funded_by_edges(first: DataFrame) -> DataFrame:
    """The derived ``funded_by`` edges (``f``, ``k``, ``src``, ``dst``): each funded node to its first
    funder, on the funding's fact (``TracerGraph.derive_funded_by``)."""
    from pyspark.sql import functions as F

    return first.select("f", F.lit("funded_by").alias("k"), F.col("w").alias("src"), F.col("src").alias("dst"))


def with_funded_by(edges: DataFrame, first: DataFrame) -> DataFrame:
    """An ``edges`` frame (``f``, ``k``, ``src``, ``dst``) whose ``funded_by`` edges are the ones
    ``first`` derives: the graph's edges as hub detection sees them (any ``funded_by`` already in
    ``edges`` is dropped, as :meth:`~graphs.build.TracerGraph.ignore_dust_fundings` re-derives them)."""
    from pyspark.sql import functions as F

    return (edges.where(F.col("k") != "funded_by").select("f", "k", "src", "dst")
            .unionByName(funded_by_edges(first)))


def funded_by_ordered(paid: DataFrame, first: DataFrame, base: int) -> DataFrame:
    """The derived ``funded_by`` edges with ``i`` in the order networkx inserts them (``f, k, src, dst,
    i``); ``paid`` carries ``i`` (every paid edge's insertion sequence), ``base`` is the first free
    sequence number (the store's edge count plus the ``located_in`` edges).

    :class:`graphs.build.TracerGraph` records a first funding for every node a payment reaches, in
    the order of each node's first incoming payment (``first_in``'s keys), and ``derive_funded_by``
    adds the edges in that order; ``ignore_dust_fundings`` then removes those whose first payment is
    dust and adds their non-dust replacement after all of them, again in ``first_in`` order.  So a
    node whose first payment of all is its first non-dust one keeps rank ``base + r`` (``r`` its rank
    among all paid nodes); a replaced one gets ``base + N + r'`` (``r'`` its rank among the replaced
    ones that have a replacement).  Ties cannot happen: each node has one first incoming ``i``."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    order = F.struct(F.col("t").isNull().alias("tn"), F.coalesce(F.col("t"), F.lit(0)).alias("tc"), "f")
    firsts = paid.groupBy(F.col("dst").alias("w")).agg(F.min("i").alias("fo"), F.min(order).alias("b0"))
    n_all = firsts.count()
    ranked = firsts.withColumn("r", F.row_number().over(Window.orderBy("fo")) - 1)
    kept = first.join(ranked, "w")
    same = kept.where(F.col("b0.f") == F.col("f")).select(
        "f", "w", "src", (F.lit(base) + F.col("r")).cast("long").alias("i"))
    moved = kept.where(F.col("b0.f") != F.col("f"))
    moved = moved.select("f", "w", "src", (F.lit(base + n_all) - 1 + F.row_number().over(
        Window.orderBy("fo"))).cast("long").alias("i"))
    both = same.unionByName(moved)
    return both.select("f", F.lit("funded_by").alias("k"), F.col("w").alias("src"), F.col("src").alias("dst"), "i")
