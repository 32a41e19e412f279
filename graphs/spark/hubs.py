"""Hubs on Spark: the twin of :func:`graphs.clusters.find_hubs` (tags, degree) with
:func:`graphs.hubs.behavioural_hubs` (its three shapes) over the ``edges`` and ``paid`` frames.

The work runs as DataFrame aggregations and joins; two collects bring back only small things: first
the tagged subjects present, the high-degree wallets and the histograms of distinct counterparties
(the medians behind the thresholds), then the wallets that pass a shape.  Rules and reasons are
applied on the driver in networkx's precedence (tags, degree, shape 1, shape 3, shape 2), so the
answer -- store node id -> :class:`~graphs.clusters.Hub` -- equals networkx's on the same graph:

- degree: ``in + out`` over every row of ``edges`` (a self-loop counts twice, as networkx does); the
  frame must hold the graph as hub detection sees it, derived ``funded_by`` edges included
  (:func:`graphs.spark.funding.with_funded_by`);
- distinct counterparties, source keys (who first funded a sender: :func:`first_funding`, dust
  excluded, as ``tg.first_in`` after ``ignore_dust_fundings``), distributor days: group-bys;
- deposit forwarding (shape 2): each deposit-like wallet's in- and outflows meet in one grouped
  function (:func:`_forward_target`), which sums them per asset as Python ints and compares
  ``sent x den >= num x received`` exactly; the medians' factor is a float in networkx and is
  applied to the same numbers with the same float arithmetic here.

Order: with the ``edges`` frame's insertion sequence ``i`` (:data:`graphs.spark.frames.EDGES_SEQ_SCHEMA`)
the mapping comes back in networkx's order (tags in row order, then each kind by node order), and a
deposit wallet that forwards enough to two targets feeds the first of its neighbours, as networkx
does.  Without ``i`` nodes are ordered by store id, and that tie goes to the smallest store id.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from fractions import Fraction
from functools import partial
from typing import TYPE_CHECKING, Any

from graphs.build import node_kind
from graphs.clusters import DEFAULT_MAX_DEGREE, DEFAULT_MAX_STAR, HUB_CATEGORIES, Hub
from graphs.dust import as_fraction
from graphs.hubs import (
    DEFAULT_DEPOSIT_MAX_SENDERS,
    DEFAULT_DISTRIBUTOR_MIN_DAYS,
    DEFAULT_FORWARD_SHARE,
    DEFAULT_MEDIAN_FACTOR,
    DEFAULT_MIN_COUNTERPARTIES,
    DEFAULT_MIN_DEPOSITS,
)
from graphs.spark.dust import dust_limits, non_dust
from graphs.spark.funding import first_funding

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa
    from pyspark.sql import DataFrame

_PRECEDENCE = {1: 0, 3: 1, 2: 2}  # networkx finds shape 1, then 3 (distributors), then 2 (deposits)


def _kind(node_id: str) -> str:
    """A store id's node kind, exactly as :class:`graphs.build.TracerGraph` types its nodes."""
    return node_kind(node_id)


def _lower_median(hist: Mapping[int, int]) -> int:
    """The lower median of values given as value -> count (``graphs.hubs._lower_median``)."""
    n = sum(hist.values())
    if not n:
        return 0
    k, cum = (n - 1) // 2, 0
    for x in sorted(hist):
        cum += hist[x]
        if cum > k:
            return x
    raise AssertionError("unreachable: the counts sum to n")


# A deposit-like wallet's rows for :func:`_forward_target`: ``r`` 0 a payment in (``v`` the sender),
# 1 a payment out (``v`` the receiver), 2 any edge out (``i`` its insertion sequence: neighbour order).
_FLOWS = "n string, r int, v string, s string, a string, i long"
_FEEDERS = "n string, v string, u string"


def _forward_target(num: int, den: int, table: pa.Table) -> pa.Table:
    """One deposit-like wallet's non-dust payments in and out (:data:`_FLOWS`) -> its senders, each
    with the first receiver (networkx's neighbour order: first edge of the pair; else store id) it
    forwards at least ``num/den`` of what it received to, in every asset; none when no receiver does.
    A grouped function on an executor: sums are Python ints, the share a cross-multiplication."""
    import pyarrow as pa

    received: dict[str, int] = {}
    outs: dict[str, dict[str, int]] = {}
    first: dict[str, int] = {}
    senders: set[str] = set()
    n = None
    for r in table.to_pylist():
        n, v = r["n"], r["v"]
        if r["r"] == 2:
            first[v] = min(first.get(v, r["i"]), r["i"])
        elif r["r"] == 1:
            sent = outs.setdefault(v, {})
            sent[r["s"]] = sent.get(r["s"], 0) + int(r["a"])
        else:
            senders.add(v)
            received[r["s"]] = received.get(r["s"], 0) + int(r["a"])
    target = next((v for v in sorted(outs, key=lambda v: (first.get(v, 0), v))
                   if all(outs[v].get(a, 0) * den >= num * x for a, x in received.items())), None)
    us = sorted(senders) if target is not None else []
    return pa.table({"n": [n] * len(us), "v": [target] * len(us), "u": us},
                    schema=pa.schema([("n", pa.string()), ("v", pa.string()), ("u", pa.string())]))


def find_hubs(edges: DataFrame, paid: DataFrame, tags: Iterable[tuple[str, str, str, str]] = (),
              max_degree: int = DEFAULT_MAX_DEGREE, categories: Iterable[str] = HUB_CATEGORIES, *,
              behaviour: bool = True, never: Iterable[str] = (), dust: Mapping[str, int] | None = None,
              first: DataFrame | None = None,
              min_counterparties: int = DEFAULT_MIN_COUNTERPARTIES,
              median_factor: float = DEFAULT_MEDIAN_FACTOR, min_deposits: int = DEFAULT_MIN_DEPOSITS,
              deposit_max_senders: int = DEFAULT_DEPOSIT_MAX_SENDERS,
              forward_share: Fraction | float = DEFAULT_FORWARD_SHARE,
              max_star: int = DEFAULT_MAX_STAR,
              distributor_min_days: int = DEFAULT_DISTRIBUTOR_MIN_DAYS) -> dict[str, Hub]:
    """:func:`graphs.clusters.find_hubs` on frames, keyed by store node id: tags win, then degree >
    ``max_degree`` (wallets), then (``behaviour``) wallets that act like an exchange, never those in
    ``never``.  ``dust``: the limits (default :func:`graphs.spark.dust.dust_limits`); ``first``: the
    first-funding frame (default :func:`graphs.spark.funding.first_funding` with ``dust``)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    limits = dust_limits(paid) if dust is None else dict(dust)
    cats = set(categories)
    tag_rows = list(tags)
    ordered = "i" in edges.columns

    # Nodes (every endpoint of an edge, as networkx holds them): order key, degree (in + out, a
    # self-loop twice), kind.
    o_src, o_dst = (F.col("i") * 2, F.col("i") * 2 + 1) if ordered else (F.lit(0).cast("long"),) * 2
    ends = edges.select(F.col("src").alias("n"), o_src.alias("o")).unionAll(
        edges.select(F.col("dst").alias("n"), o_dst.alias("o")))
    nodes = (ends.groupBy("n").agg(F.min("o").alias("o"), F.count("*").alias("deg"))
             .withColumn("k", F.udf(_kind, "string")(F.col("n"))).cache())

    # Distinct counterparties over non-dust payments (a self-payment is none), per wallet.
    pay = paid.where(non_dust(limits) & (F.col("src") != F.col("dst"))).select("src", "dst", "s", "a").cache()
    sides = pay.select("src", "dst").distinct().select(F.explode(F.array(
        F.struct(F.col("dst").alias("n"), F.lit(1).alias("i"), F.lit(0).alias("x")),
        F.struct(F.col("src").alias("n"), F.lit(0).alias("i"), F.lit(1).alias("x")))).alias("e"))
    counts = sides.groupBy("e.n").agg(F.sum("e.i").cast("long").alias("nin"), F.sum("e.x").cast("long").alias("nout"))
    w = (nodes.where(F.col("k") == "wallet").select("n", "o").join(counts, "n", "left")
         .fillna(0, ["nin", "nout"]).cache())

    # Collect 1: tagged subjects present, high-degree wallets, counterparty histograms.
    want_tags = sorted({s for s, c, _l, _o in tag_rows if c in cats})
    zero = F.lit(0).cast("long")
    parts = [nodes.where(F.col("n").isin(want_tags)).select(F.lit("t").alias("w"), "n", "o", zero.alias("x"),
                                                             zero.alias("c"))]
    if max_degree > 0:
        parts.append(nodes.where((F.col("deg") > max_degree) & (F.col("k") == "wallet")).select(
            F.lit("d").alias("w"), "n", "o", F.col("deg").alias("x"), zero.alias("c")))
    if behaviour:
        hist = (w.select(F.explode(F.array(F.struct(F.lit("nin").alias("w"), F.col("nin").alias("x")),
                                           F.struct(F.lit("nout").alias("w"), F.col("nout").alias("x")))).alias("e"))
                .where(F.col("e.x") > 0).groupBy("e.w", "e.x").agg(F.count("*").alias("c")))
        parts.append(hist.select("w", F.lit(None).cast("string").alias("n"), zero.alias("o"), "x", "c"))
    first_rows = _union(parts).collect()

    present = {r["n"] for r in first_rows if r["w"] == "t"}
    hubs: dict[str, Hub] = {}
    for subject, category, label, oid in tag_rows:
        if subject in present and category in cats:
            hubs[subject] = Hub(subject, f"tagged {category}: {label}", oid)
    for r in sorted((r for r in first_rows if r["w"] == "d"), key=lambda r: (r["o"], r["n"])):
        if r["n"] not in hubs:
            hubs[r["n"]] = Hub(r["n"], f"degree {r['x']} > {max_degree}")
    if not behaviour:
        _release(nodes, pay, w)
        return hubs

    hist_of = {side: {r["x"]: r["c"] for r in first_rows if r["w"] == side} for side in ("nin", "nout")}
    thr_in = max(min_counterparties, math.ceil(median_factor * _lower_median(hist_of["nin"])))
    thr_out = max(min_counterparties, math.ceil(median_factor * _lower_median(hist_of["nout"])))
    share = as_fraction(forward_share)
    known = sorted(hubs)
    skip = sorted(set(hubs) | set(never))
    ff = first if first is not None else first_funding(paid, limits)

    # Who a sender's money came from (source_key): per funded node its funder ``fu`` and whether it is
    # its own source (first funded by a known hub or by a service of more than max_star wallets).
    nfu = F.count("*").over(Window.partitionBy("src"))
    src_of = ff.select(F.col("w").alias("u"), F.col("src").alias("fu"),
                       (F.col("src").isin(known) | (nfu > max_star)).alias("own"))

    # Shape 1 candidates (many distinct senders and receivers) and their senders; a row without a
    # sender keeps a candidate that has none (when the thresholds are 0).
    cand1 = F.broadcast(w.where((F.col("nin") >= thr_in) & (F.col("nout") >= thr_out) & ~F.col("n").isin(skip))
                        .select(F.col("n").alias("h"), "o", "nout"))
    pairs = [pay.join(cand1.withColumnRenamed("h", "dst"), "dst").select(
                 F.lit(1).alias("shape"), F.col("dst").alias("h"), F.col("src").alias("u"),
                 F.lit(None).cast("string").alias("n"), "o", "nout"),
             cand1.select(F.lit(1).alias("shape"), "h", F.lit(None).cast("string").alias("u"),
                          F.lit(None).cast("string").alias("n"), "o", "nout")]

    # Shape 2: deposit-like wallets (few senders) that pay a possible target meet their flows in a
    # grouped function, which names each one's forwarding target; the targets' deposits' senders.
    if min_deposits > 0:  # a target pays min_deposits receivers: a wallet
        tcounts = w
    else:
        tcounts = nodes.select("n", "o").join(w.select("n", "nin", "nout"), "n", "left").fillna(0, ["nin", "nout"])
    targets = tcounts.where((F.col("nin") >= min_deposits) & (F.col("nout") >= min_deposits)
                            & ~F.col("n").isin(skip)).select("n", "o", "nout")
    deposits = (w.where((F.col("nin") >= 1) & (F.col("nin") <= deposit_max_senders) & (F.col("nout") > 0))
                .select("n")
                .join(pay.join(targets.select(F.col("n").alias("dst")), "dst").select(F.col("src").alias("n")),
                      "n", "left_semi"))
    null_s, null_i = F.lit(None).cast("string"), F.lit(None).cast("long")
    flows = [pay.select(F.col("dst").alias("n"), F.lit(0).alias("r"), F.col("src").alias("v"), "s", "a",
                        null_i.alias("i")),
             pay.select(F.col("src").alias("n"), F.lit(1).alias("r"), F.col("dst").alias("v"), "s", "a",
                        null_i.alias("i"))]
    if ordered:
        flows.append(edges.select(F.col("src").alias("n"), F.lit(2).alias("r"), F.col("dst").alias("v"),
                                  null_s.alias("s"), null_s.alias("a"), "i"))
    forward = _arrow_fn(partial(_forward_target, share.numerator, share.denominator))
    feeders = (_union(flows).join(deposits, "n", "left_semi").groupBy("n").applyInArrow(forward, _FEEDERS)
               .join(targets.withColumnRenamed("n", "v"), "v"))
    pairs.append(feeders.select(F.lit(2).alias("shape"), F.col("v").alias("h"), "u", "n", "o", "nout"))

    # Per candidate: distinct funding sources of its senders (None, its own wallets, not counted) and
    # distinct deposit addresses, in one aggregation.
    key = (F.when(F.col("fu") == F.col("h"), null_s)
           .when(F.col("own") | F.col("fu").isNull(), F.col("u")).otherwise(F.col("fu")))
    found = (_union(pairs).join(src_of, "u", "left")
             .groupBy("shape", "h", "o", "nout")
             .agg(F.countDistinct(key).alias("keys"), F.countDistinct("n").alias("deps"))
             .where(((F.col("shape") == 1) & (F.col("keys") >= thr_in))
                    | ((F.col("shape") == 2) & (F.col("keys") >= min_deposits) & (F.col("deps") >= min_deposits)
                       & (F.col("deps") > 0))))
    none = F.lit(None).cast("long")
    parts = [found.select("shape", F.col("h").alias("n"), "o", "keys", "nout", "deps", none.alias("funded"),
                          none.alias("days"))]

    # Shape 3: first funder of many wallets on many days.
    if distributor_min_days > 0:
        day = F.expr("(t - pmod(t, 86400)) div 86400")
        funded = (ff.where(F.col("t").isNotNull() & non_dust(limits) & (F.udf(_kind, "string")(F.col("w")) == "wallet"))
                  .groupBy(F.col("src").alias("n")).agg(F.count("*").alias("funded"),
                                                          F.countDistinct(day).alias("days"))
                  .where((F.col("funded") >= thr_out) & (F.col("days") >= distributor_min_days)
                         & ~F.col("n").isin(skip)))
        parts.append(nodes.where(F.col("k") == "wallet").join(F.broadcast(funded), "n").select(
            F.lit(3).alias("shape"), "n", "o", none.alias("keys"), none.alias("nout"), none.alias("deps"),
            "funded", "days"))

    # Collect 2: the wallets that show a shape; precedence as networkx (1, then 3, then 2).
    rows = sorted(_union(parts).collect(), key=lambda r: (_PRECEDENCE[r["shape"]], r["o"], r["n"]))
    for r in rows:
        n = r["n"]
        if n in hubs:
            continue
        if r["shape"] == 1:
            why = f"{r['keys']} distinct senders, {r['nout']} distinct receivers"
        elif r["shape"] == 3:
            why = f"first funder of {r['funded']} wallets on {r['days']} different days"
        else:
            why = (f"{r['deps']} deposit addresses forward >= {float(share):.0%} of what they receive to it, "
                   f"{r['nout']} distinct receivers")
        hubs[n] = Hub(n, f"behaves like an exchange: {why}")
    _release(nodes, pay, w)
    return hubs


def _arrow_fn(fn: Callable[[pa.Table], pa.Table]) -> Callable[[pa.Table], pa.Table]:
    """``fn`` with real ``pyarrow.Table`` annotations: pyspark infers a grouped function's kind from
    them and cannot read a ``partial``'s (or string annotations naming a lazily imported module)."""
    import pyarrow as pa

    def table_fn(table: pa.Table) -> pa.Table:
        return fn(table)

    table_fn.__annotations__ = {"table": pa.Table, "return": pa.Table}
    return table_fn


def _union(parts: list[DataFrame]) -> DataFrame:
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out


def _release(*frames: Any) -> None:
    """Drop the frames this call cached (the session outlives it)."""
    for f in frames:
        f.unpersist()
