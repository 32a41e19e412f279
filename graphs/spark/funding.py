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
