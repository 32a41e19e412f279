"""Payment-scale clustering heuristics on Spark: the twins of :mod:`graphs.clusters`' link finders.

:func:`common_funder_links` (with payroll cadence, bursts, star size and freshness),
:func:`deposit_reuse_links`, :func:`escrow_third_party_links` and :func:`payout_links` return the same
:class:`~graphs.clusters.Link` lists as their networkx twins, in the same order: cluster link lists and
evidence follow that order.  networkx iterates nodes in insertion order and a node's edges by
neighbour (first edge of the pair) then edge; the ``edges`` frame's ``i`` column (its insertion
sequence, :data:`graphs.spark.frames.EDGES_SEQ_SCHEMA`) gives both back as sort keys
(:func:`~graphs.spark.frames.node_order`, :func:`~graphs.spark.frames.with_pair_order`), so the
heavy work (fundings per funder, freshness against outgoing payments, bursts, cadence, deposit
forwarding, escrow payers) runs as DataFrame jobs and grouped functions on executors; only the links
(with their sort keys) come back to the driver, which sorts them.

Inputs: ``edges`` (with ``i``), ``paid``, a first-funding frame (:func:`graphs.spark.funding.first_funding`: per wallet
``w`` its first non-dust incoming payment ``src``/``t``/``a``/``s``/``f``, what ``tg.first_in`` holds
after ``tg.ignore_dust_fundings``), the hubs keyed by store node id (in the networkx mapping's order:
deposit reuse walks the hubs in it) and the payees (store ids of ``payout_to`` targets).  Node kinds
come from :func:`graphs.build.node_kind` (``connectors.ids``) in a UDF, never from parsing here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from connectors import ids
from graphs.build import node_kind
from graphs.clusters import (
    DEFAULT_FUNDING_WINDOW_S,
    DEFAULT_MAX_BURSTS,
    DEFAULT_MAX_STAR,
    DEFAULT_PAYROLL_MIN_PAYMENTS,
    STRENGTH,
    Hub,
    Link,
    regular_cadence,
)
from graphs.spark.frames import with_pair_order

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa
    from pyspark.sql import Column, DataFrame

STARS_SCHEMA = "funder string, w string, f string, payroll boolean, size int, regular int, fo long, pos int"


def _kind(node_id: str) -> str:
    """A store id's node kind, exactly as :class:`graphs.build.TracerGraph` types its nodes."""
    return node_kind(node_id)


def _owner_wallet(node_id: str) -> str | None:
    """The owner wallet a deployment's id names (``connectors.ids``), None for other ids."""
    p = ids.try_parse(node_id)
    return (p.owner_wallet or None) if p is not None else None


@dataclass
class LinkGraph:
    """The ``edges`` frame prepared once for every heuristic, cached: ``edges`` with ``pk`` (pair
    order, :func:`~graphs.spark.frames.with_pair_order`) and ``nodes`` (``n``, node order ``o``,
    the ``i`` of its first ``paid`` edge in ``o_in``, node kind ``nk``).  :meth:`unpersist` releases both."""

    edges: DataFrame
    nodes: DataFrame  # n, o (node order), o_in (i of its first paid edge in: its place in first_in), nk

    def unpersist(self) -> None:
        self.edges.unpersist()
        self.nodes.unpersist()


def link_graph(edges: DataFrame) -> LinkGraph:
    """Prepare an ``edges`` frame with ``i`` (:data:`~graphs.spark.frames.EDGES_SEQ_SCHEMA`) for the
    heuristics: pair order, node order and node kinds are computed once, not per heuristic."""
    from pyspark.sql import functions as F

    if "i" not in edges.columns:
        raise ValueError("the links need the edges frame's insertion order: column i (frames.EDGES_SEQ_SCHEMA)")
    e = with_pair_order(edges.select("f", "k", "src", "dst", "i")).cache()
    # node_order's key, plus o_in, in one aggregation over both ends of every edge.
    ends = e.select(F.col("src").alias("n"), (F.col("i") * 2).alias("o"), F.lit(None).cast("long").alias("o_in")).union(
        e.select(F.col("dst").alias("n"), (F.col("i") * 2 + 1).alias("o"),
                 F.when(F.col("k") == "paid", F.col("i")).alias("o_in")))
    nodes = (ends.groupBy("n").agg(F.min("o").alias("o"), F.min("o_in").alias("o_in"))
             .withColumn("nk", F.udf(_kind, "string")(F.col("n"))).cache())
    return LinkGraph(e, nodes)


def _graph(g: LinkGraph | DataFrame) -> LinkGraph:
    return g if isinstance(g, LinkGraph) else link_graph(g)


def _not_in(col: str, nodes: Collection[str]) -> Column:
    """``col`` is none of ``nodes`` (hubs, payees: few), as a literal set in the plan (no job, no join)."""
    from pyspark.sql import functions as F

    return ~F.col(col).isin(list(nodes)) if nodes else F.lit(True)


def _stars(window_s: int, min_group: int, max_star: int, payroll_min_payments: int, max_bursts: int,
           table: pa.Table, pays: pa.Table) -> pa.Table:
    """One funder's fresh first fundings -> its links' rows (grouped function on an executor).

    The networkx loop body of :func:`graphs.clusters.common_funder_links` for one funder: skip a
    star too small or too large (an untagged exchange or faucet), sort by
    (time, node order), cut into bursts from each burst's first funding, skip a service (too many
    bursts), tell payroll (regular cadence) from a star."""
    import pyarrow as pa

    rows = table.to_pylist()
    pay_times: dict[str, list[int]] = defaultdict(list)  # the funder's payments with a known time, per payee
    if pays.num_rows:
        for w, t in zip(pays.column("dst").to_pylist(), pays.column("t").to_pylist(), strict=True):
            pay_times[w].append(t)
    out: dict[str, list[Any]] = {k: [] for k in ("funder", "w", "f", "payroll", "size", "regular", "fo", "pos")}
    if min_group <= len(rows) <= max_star:
        fo = min(r["o_in"] for r in rows)
        funded = sorted(rows, key=lambda r: (r["t0"], r["o_w"]))
        groups: list[list[dict[str, Any]]] = [[funded[0]]]
        for item in funded[1:]:
            if item["t0"] - groups[-1][0]["t0"] > window_s:
                groups.append([])
            groups[-1].append(item)
        if len(groups) <= max_bursts:
            pos = 0
            for group in groups:
                if len(group) < min_group:
                    continue
                regular = sum(1 for r in group if regular_cadence(pay_times.get(r["w"], []), payroll_min_payments))
                for r in group:
                    for k, v in (("funder", r["funder"]), ("w", r["w"]), ("f", r["f"]),
                                 ("payroll", 2 * regular >= len(group)), ("size", len(group)),
                                 ("regular", regular), ("fo", fo), ("pos", pos)):
                        out[k].append(v)
                    pos += 1
    return pa.table(out, schema=pa.schema([("funder", pa.string()), ("w", pa.string()), ("f", pa.string()),
                                           ("payroll", pa.bool_()), ("size", pa.int32()),
                                           ("regular", pa.int32()), ("fo", pa.int64()), ("pos", pa.int32())]))


def common_funder_links(edges: LinkGraph | DataFrame, paid: DataFrame, first: DataFrame, hubs: Mapping[str, Hub],
                        payees: Collection[str], window_s: int = DEFAULT_FUNDING_WINDOW_S, min_group: int = 3,
                        max_star: int = DEFAULT_MAX_STAR,
                        payroll_min_payments: int = DEFAULT_PAYROLL_MIN_PAYMENTS,
                        max_bursts: int = DEFAULT_MAX_BURSTS) -> list[Link]:
    """:func:`graphs.clusters.common_funder_links` on frames: fresh wallets first funded by one
    (non-hub) wallet in a burst; ``payroll`` where most of the group is paid on a regular cadence.

    ``first``: the first-funding frame (:func:`graphs.spark.funding.first_funding`).  Order: funders by their first funded
    wallet in ``tg.first_in`` order (the wallet's first ``paid`` edge in), each funder's links by
    (funding time, node order), as networkx."""
    from pyspark.sql import functions as F

    g = _graph(edges)
    known = F.col("t").isNotNull() & (F.col("t") > 0)
    ff = (first.where(known & _not_in("src", hubs) & _not_in("w", hubs) & _not_in("w", payees))
          .join(g.nodes.where(F.col("nk") == "wallet").select(F.col("n").alias("w"), F.col("o").alias("o_w"), "o_in"),
                "w"))
    # Fresh: no payment with a known time left the wallet before its first funding arrived.
    out_first = paid.where(known).groupBy(F.col("src").alias("w")).agg(F.min("t").alias("mt"))
    cands = (ff.join(out_first, "w", "left").where(F.col("mt").isNull() | (F.col("mt") >= F.col("t")))
             .select("w", F.col("src").alias("funder"), F.col("t").alias("t0"), "f", "o_w", "o_in"))
    # Beside each funder's candidates, its payments to them with a known time (payroll cadence).
    pays = (paid.where(known).select("src", "dst", "t")
            .join(cands.select(F.col("funder").alias("src"), F.col("w").alias("dst")), ["src", "dst"], "left_semi"))
    stars = partial(_stars, window_s, min_group, max_star, payroll_min_payments, max_bursts)
    rows = (cands.groupBy("funder").cogroup(pays.groupBy("src"))
            # A lambda, not a partial: pyspark infers the function's form from its hints and fails on partials.
            .applyInArrow(lambda table, pays: stars(table, pays), STARS_SCHEMA)
            .collect())
    links: list[Link] = []
    for r in sorted(rows, key=lambda r: (r["fo"], r["pos"])):
        if r["payroll"]:
            links.append(Link(r["w"], r["funder"], "payroll", STRENGTH["payroll"], (r["f"],),
                              f"one of {r['size']} wallets the same wallet pays on a regular cadence "
                              f"({r['regular']} paid >= {payroll_min_payments} times at even intervals): "
                              "payroll or treasury, one organisation not hiding it"))
        else:
            links.append(Link(r["w"], r["funder"], "common_funder", STRENGTH["common_funder"], (r["f"],),
                              f"one of {r['size']} fresh wallets funded within {window_s // 3600} h by the "
                              "same wallet"))
    return links


def deposit_reuse_links(edges: LinkGraph | DataFrame, hubs: Mapping[str, Hub], exchange_reason: str = "exchange",
                        max_senders: int = 50, min_forward_share: float = 0.9) -> list[Link]:
    """:func:`graphs.clusters.deposit_reuse_links` on frames: wallets sending to the same deposit
    address (a non-hub forwarding >= ``min_forward_share`` of its payments to exchange hubs).

    Each deposit address is judged once, under the first exchange hub (in ``hubs`` order) it pays;
    links follow (hub, the address's place among the hub's payers, the sender's among its payers)."""
    from pyspark.sql import functions as F

    g = _graph(edges)
    ex = [n for n, h in hubs.items() if exchange_reason in h.reason]
    if not ex:
        return []
    rank = {n: r for r, n in enumerate(hubs)}
    p = g.edges.where(F.col("k") == "paid").select("f", "src", "dst", "i", "pk")
    to_ex = F.col("dst").isin(ex)
    # Deposit candidates: non-hub payers of an exchange hub, each under its first hub (rank, then its
    # place among the hub's payers), with the share of their payments that go to exchange hubs.
    first_hub = F.struct(F.element_at(F.create_map(*[F.lit(x) for n in ex for x in (n, rank[n])]), F.col("dst"))
                         .alias("hr"), "pk", "i", F.col("dst").alias("h"))
    kept = (p.where(_not_in("src", hubs)).groupBy(F.col("src").alias("d"))
            .agg(F.min(F.when(to_ex, first_hub)).alias("at"), F.count("*").alias("n"),
                 F.sum(F.when(to_ex, 1).otherwise(0)).alias("to_ex"))
            .where(F.col("at").isNotNull() & (F.col("to_ex") / F.col("n") >= min_forward_share)))
    # Their non-hub senders, each with the fact of its first payment in; 2..max_senders of them.
    senders = (p.where(_not_in("src", hubs)).join(kept.select(F.col("d").alias("dst")), "dst", "left_semi")
               .groupBy("dst", "src").agg(F.min(F.struct("pk", "i", "f")).alias("first"))
               .groupBy(F.col("dst").alias("d"))
               .agg(F.collect_list(F.struct("src", "first")).alias("ss"), F.count("*").alias("ns"))
               .where((F.col("ns") >= 2) & (F.col("ns") <= max_senders)))
    rows = senders.join(kept.select("d", "at"), "d").collect()
    out: list[tuple[tuple[Any, ...], Link]] = []
    for r in rows:
        hub = hubs[r["at"]["h"]]
        for x in r["ss"]:
            out.append(((r["at"]["hr"], r["at"]["pk"], r["at"]["i"], x["first"]["pk"], x["first"]["i"]),
                        Link(x["src"], r["d"], "deposit_reuse", STRENGTH["deposit_reuse"], (x["first"]["f"],),
                             f"sends to deposit address shared by {r['ns']} wallets, which forwards to {hub.node}")))
    return [lk for _o, lk in sorted(out, key=lambda x: x[0])]


ESCROW_SCHEMA = "n string, p string, pf string, r string, rf string, owner boolean, o array<long>"


def _escrow(hubs: frozenset[str], table: pa.Table) -> pa.Table:
    """One lease's or deployment's ``paid``/``rented`` edges in -> its third-party payers' rows
    (grouped function on an executor): the networkx loop body of
    :func:`graphs.clusters.escrow_third_party_links`, edges taken in adjacency order ``(pk, i)``.
    A deployment nobody rents falls back to its owner (``owner`` true: the caller keeps the row only
    if the owner is a node of the graph)."""
    import pyarrow as pa

    rows = sorted(table.to_pylist(), key=lambda r: (r["pk"], r["i"]))
    out: dict[str, list[Any]] = {k: [] for k in ("n", "p", "pf", "r", "rf", "owner", "o")}
    if rows:
        n, nk, o = rows[0]["dst"], rows[0]["nk"], rows[0]["o"]
        renters: dict[str, tuple[str, tuple[int, int]]] = {}
        for r in rows:
            if r["k"] == "rented":
                pos = renters[r["src"]][1] if r["src"] in renters else (r["pk"], r["i"])
                renters[r["src"]] = (r["f"], pos)  # position of the first, fact of the last (a dict's overwrite)
        owner = False
        if not renters and nk == "deployment":
            w = _owner_wallet(n)
            if w:
                renters[w], owner = (n, (0, 0)), True
        for r in rows:
            if r["k"] != "paid" or r["src"] in hubs or r["src"] in renters:
                continue
            for rw, (rf, pos) in renters.items():
                for k, v in (("n", n), ("p", r["src"]), ("pf", r["f"]), ("r", rw), ("rf", rf), ("owner", owner),
                             ("o", [o, r["pk"], r["i"], pos[0], pos[1]])):
                    out[k].append(v)
    return pa.table(out, schema=pa.schema([("n", pa.string()), ("p", pa.string()), ("pf", pa.string()),
                                           ("r", pa.string()), ("rf", pa.string()), ("owner", pa.bool_()),
                                           ("o", pa.list_(pa.int64()))]))


def escrow_third_party_links(edges: LinkGraph | DataFrame, hubs: Mapping[str, Hub]) -> list[Link]:
    """:func:`graphs.clusters.escrow_third_party_links` on frames: a (non-hub) wallet paying the
    escrow of a lease or deployment someone else rents (a deployment nobody rents: its owner).

    Order: escrow nodes in node order, their payments in adjacency order, renters in theirs."""
    from pyspark.sql import functions as F

    g = _graph(edges)
    escrow = g.nodes.where(F.col("nk").isin("lease", "deployment")).select(F.col("n").alias("dst"), "nk", "o")
    fn = partial(_escrow, frozenset(hubs))
    rows = (g.edges.where(F.col("k").isin("paid", "rented")).join(escrow, "dst")
            .select("dst", "nk", "o", "k", "src", "f", "pk", "i")
            .groupBy("dst")
            .applyInArrow(lambda table: fn(table), ESCROW_SCHEMA)  # a lambda: see common_funder_links
            # An owner stands in for renters only when it is a node of the graph (networkx: tg.get).
            .join(g.nodes.select(F.col("n").alias("r"), F.lit(True).alias("node")), "r", "left")
            .where(~F.col("owner") | F.col("node").isNotNull())
            .collect())
    return [Link(r["p"], r["r"], "escrow_third_party", STRENGTH["escrow_third_party"], (r["pf"], r["rf"]),
                 f"paid escrow of {r['n']} rented by another wallet")
            for r in sorted(rows, key=lambda r: tuple(r["o"]))]


def payout_links(edges: LinkGraph | DataFrame, hubs: Mapping[str, Hub]) -> list[Link]:
    """:func:`graphs.clusters.payout_links` on frames: a provider and its (non-hub) payout wallets;
    providers sharing a payout wallet join through the first of them (driver side, over the links)."""
    from pyspark.sql import functions as F

    g = _graph(edges)
    po = (g.edges.where((F.col("k") == "payout_to") & _not_in("dst", hubs))
          .join(g.nodes.where(F.col("nk") == "provider").select(F.col("n").alias("src"), "o"), "src"))
    rows = po.select("src", "dst", "f", F.struct("o", "pk", "i").alias("o")).collect()
    links: list[Link] = []
    by_wallet: dict[str, list[str]] = defaultdict(list)
    for r in sorted(rows, key=lambda r: tuple(r["o"])):
        by_wallet[r["dst"]].append(r["src"])
        links.append(Link(r["src"], r["dst"], "payout_to", STRENGTH["payout_to"], (r["f"],),
                          "provider pays out to this wallet"))
    for w, provs in by_wallet.items():
        for p in provs[1:]:
            links.append(Link(provs[0], p, "shared_payout", STRENGTH["shared_payout"], (),
                              f"providers share payout wallet {w}"))
    return links


def payment_links(edges: LinkGraph | DataFrame, paid: DataFrame, first: DataFrame, hubs: Mapping[str, Hub],
                  payees: Collection[str], window_s: int = DEFAULT_FUNDING_WINDOW_S, min_group: int = 3,
                  max_star: int = DEFAULT_MAX_STAR,
                  payroll_min_payments: int = DEFAULT_PAYROLL_MIN_PAYMENTS) -> list[Link]:
    """The payment-scale part of :func:`graphs.clusters.all_links`, in its order: common funder (and
    payroll), deposit reuse, third-party escrow, payout wallets; the edges are prepared once."""
    g = _graph(edges)
    return (common_funder_links(g, paid, first, hubs, payees, window_s, min_group, max_star, payroll_min_payments)
            + deposit_reuse_links(g, hubs) + escrow_third_party_links(g, hubs) + payout_links(g, hubs))
