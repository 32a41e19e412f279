"""Market-side clustering heuristics on Spark: the twins of :func:`graphs.clusters.manifest_links` and
:func:`graphs.clusters.sync_rental_links`, giving the same links in the same order.

Both heuristics are two steps: per wallet (or per owner and manifest hash) aggregates over the edges,
then a small sequential judgement.  The aggregates -- each wallet's first rental and whether it runs
on a controlled GPU, a Golem renter's first payment to a controlled provider's payee, deployment
times, freshness (earliest activity), lease ends, exclusivity, first funders and whether each is a
service -- run here as DataFrame jobs over every edge.  Only their results come to the driver, and the
judgement there is the networkx engine's own code (:func:`graphs.clusters.sync_rental_scan`,
:func:`graphs.clusters.manifest_hash_links`), so both engines decide by one implementation:

- synchronized rentals: one row per wallet whose first rental is on a controlled GPU (the renters
  of the market, not the payment graph), sorted on the driver by (time, node order) -- the scan is a
  two-pointer walk over that sorted list;
- manifest hashes: the deployment rows are grouped on the driver (the caller holds the deployments
  table there already) by the networkx code (:func:`graphs.clusters.shared_manifests`); the graph
  facts come back one row per deployment, per owner, per owner's first funder or per (owner,
  deployment) it rents -- bounded by the deployments and the owners' rentals, never by payments --
  and are folded per (hash, owner) as the networkx code reads the graph.

Inputs: ``edges`` with ``i`` (:func:`graphs.spark.links.link_graph`: node order and node kinds, as the
payment links read them), the *timed* frame (:data:`TIMED_SCHEMA`: every edge with its placed time
``t`` and, on ``uses_gpu`` edges, the lease hours ``h``; :func:`market_frame` +
:func:`timed_frame` from the Parquet export, :func:`timed_rows` from a networkx graph), the
first-funding frame (:func:`graphs.spark.funding.first_funding`) and hubs keyed by store id.

Order: networkx breaks ties in time by node ints, which are insertion order; the link graph's node
order ``o`` (:func:`graphs.spark.frames.node_order`) is that order, so ``(t, o, fact)`` sorts as
``(t, n, fact)`` does -- a wallet's first rental among rentals at the same second, and the group
scan's order of wallets starting at the same second.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connectors import facts, ids
from graphs.clusters import (
    DEFAULT_FLEET_ALPHA,
    DEFAULT_FLEET_MIN_OWNERS,
    DEFAULT_FRESH_S,
    DEFAULT_FUNDING_WINDOW_S,
    DEFAULT_MANIFEST_WINDOW_S,
    DEFAULT_MAX_BURSTS,
    DEFAULT_MAX_STAR,
    DEFAULT_SYNC_ALPHA,
    DEFAULT_SYNC_MIN_GROUP,
    DEFAULT_SYNC_WINDOW_S,
    Hub,
    Link,
    ManifestOwner,
    bursts,
    manifest_hash_links,
    shared_manifests,
    sync_rental_scan,
)
from graphs.spark.links import LinkGraph, _not_in, link_graph
from graphs.spark.load import _placed

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column, DataFrame, SparkSession

    from graphs.build import TracerGraph
    from graphs.timeline import BlockClock

# Every edge with its time: ``t`` epoch seconds or null (placed by the block clock as the graph places
# it), ``h`` the lease hours of a ``uses_gpu`` edge (null elsewhere or unknown).
TIMED_SCHEMA = "f string, k string, src string, dst string, t long, h double"
# Edge kinds that are no stored fact: earliest activity leaves them out (graphs.clusters.earliest_activity).
DERIVED_KINDS = ("funded_by", "same_actor")


def timed_rows(tg: TracerGraph) -> Iterator[tuple[str, str, str, str, int | None, float | None]]:
    """The timed frame's rows from a networkx graph (tests and the driver-side bridge)."""
    names = tg.ids
    for u, nbrs in tg.g._succ.items():
        for v, kd in nbrs.items():
            for d in kd.values():
                h = d.get("h") if d["k"] == "uses_gpu" else None
                yield (d["f"], d["k"], names[u], names[v], d["t"], None if h is None else float(h))


def _hours(kind: str | None, attrs: str | None) -> float | None:
    """``h`` of one stored edge: a ``uses_gpu`` edge's lease hours, read from its attrs exactly as
    :meth:`graphs.build.TracerGraph.add_edges` reads them (None elsewhere, or when not stated)."""
    if kind != "uses_gpu" or not attrs:
        return None
    at = json.loads(attrs)
    return facts.lease_hours(at) if isinstance(at, Mapping) else None


def market_frame(spark: SparkSession, edges_parquet_path: Path | str, clock: BlockClock) -> DataFrame:
    """The stored edges that are not payments (the market side: rentals, GPUs, payouts, ...) in the
    timed frame's shape; ``clock`` from :func:`graphs.spark.load.block_clock` on the same export (the
    payments come timed already: :func:`timed_frame`)."""
    from pyspark.sql import functions as F

    bc = spark.sparkContext.broadcast(clock)
    place = F.udf(lambda time, chain, block: _placed(bc.value, time, chain, block), "long", useArrow=True)
    hours = F.udf(_hours, "double", useArrow=True)
    df = spark.read.parquet(str(edges_parquet_path)).where(F.col("kind") != "paid")
    return df.select(F.col("id").alias("f"), F.col("kind").alias("k"), "src", "dst",
                     place(F.col("time"), F.col("chain"), F.col("block")).alias("t"),
                     hours(F.col("kind"), F.col("attrs")).alias("h"))


def timed_frame(market: DataFrame, paid: DataFrame) -> DataFrame:
    """Every stored edge with its time: :func:`market_frame` plus the ``paid`` frame's payments."""
    from pyspark.sql import functions as F

    pays = paid.select("f", F.lit("paid").alias("k"), "src", "dst", "t", F.lit(None).cast("double").alias("h"))
    return market.select("f", "k", "src", "dst", "t", "h").unionByName(pays)


def _known() -> Column:
    """``graphs.clusters.known``: a usable time (unknown is null; 0 is how old graphs spelled unknown)."""
    from pyspark.sql import functions as F

    return F.col("t").isNotNull() & (F.col("t") > 0)


def earliest_activity(timed: DataFrame, nodes: DataFrame) -> DataFrame:
    """``(n, e)``: for each node of ``nodes`` (column ``n``) with a known time on any stored edge in or
    out, the earliest one (:func:`graphs.clusters.earliest_activity`); nodes without one are absent."""
    from pyspark.sql import functions as F

    tt = timed.where(_known() & ~F.col("k").isin(*DERIVED_KINDS))
    ends = tt.select(F.col("src").alias("n"), "t").union(tt.select(F.col("dst").alias("n"), "t"))
    return ends.join(nodes.select("n"), "n", "left_semi").groupBy("n").agg(F.min("t").alias("e"))


def _graph(edges: LinkGraph | DataFrame) -> LinkGraph:
    return edges if isinstance(edges, LinkGraph) else link_graph(edges)


def first_rentals(edges: LinkGraph | DataFrame, timed: DataFrame, hubs: Mapping[str, Hub],
                  controlled: Collection[str], fresh_s: int | None = None) -> list[tuple[int, str, str]]:
    """The first rentals :func:`graphs.clusters.sync_rental_links` scans, ``(time, wallet id, fact)``
    sorted by time then node order, computed per wallet as DataFrame jobs.

    Per wallet (not a hub, not a controlled provider's payee): its first rental, the minimum over
    its rentals with a known time of (time, lease node order, fact) -- dropped when that lease uses
    no controlled GPU (catalog ids in ``controlled``) -- or, with no such rental, its first payment
    to a controlled provider's payee (Golem); day-precision times (00:00:00 UTC) left out; fresh
    wallets only when ``fresh_s`` is given.  One row per renting wallet comes to the driver."""
    from pyspark.sql import functions as F

    g = _graph(edges)
    ctrl = {ids.gpu_catalog_id(c) for c in controlled}
    gpu_edges = timed.where(F.col("k").isin("uses_gpu", "offers_gpu"))
    # The GPU nodes the market names: a few hundred models whatever the edge count.
    ctrl_gpus = sorted(r["dst"] for r in gpu_edges.select("dst").distinct().collect()
                       if ids.gpu_catalog_id(r["dst"]) in ctrl)
    if not ctrl_gpus:  # no lease runs, and no provider offers, a controlled GPU: no first rental counts
        return []
    on_ctrl = F.col("dst").isin(ctrl_gpus)
    providers = (gpu_edges.where((F.col("k") == "offers_gpu") & on_ctrl).select("src").distinct()
                 .join(g.nodes.where(F.col("nk") == "provider").select(F.col("n").alias("src")), "src"))
    payees = (timed.where((F.col("k") == "payout_to") & _not_in("dst", hubs)).join(providers, "src", "left_semi")
              .select(F.col("dst").alias("src")).distinct())  # a few per provider
    ctrl_leases = gpu_edges.where((F.col("k") == "uses_gpu") & on_ctrl).select(F.col("src").alias("dst")).distinct()
    order = g.nodes.select(F.col("n").alias("dst"), F.col("o").alias("ov"))
    # Per renter (of any kind: the wallet filters below are per renter too), its first rental.
    rentals = (timed.where((F.col("k") == "rented") & _known()).join(order, "dst")
               .groupBy("src").agg(F.min(F.struct("t", "ov", "f", "dst")).alias("b"))
               .select("src", "b.t", "b.f", "b.dst"))
    rented = rentals.join(ctrl_leases, "dst", "left_semi").select("src", "t", "f")
    # Renters without a rental with a known time: their first payment to a controlled payee.
    pays = (timed.where((F.col("k") == "paid") & _known())
            .join(F.broadcast(payees.select(F.col("src").alias("dst"))), "dst", "left_semi")
            .join(rentals.select("src"), "src", "left_anti").join(order, "dst")
            .groupBy("src").agg(F.min(F.struct("t", "ov", "f")).alias("b")).select("src", "b.t", "b.f"))
    # Wallets only, neither hubs nor payees; a time at exactly 00:00:00 UTC is a date without a time
    # of day: it cannot say minutes apart.
    firsts = (rented.unionByName(pays).where((F.col("t") % 86400 != 0) & _not_in("src", hubs))
              .join(F.broadcast(payees), "src", "left_anti")
              .join(g.nodes.where(F.col("nk") == "wallet").select(F.col("n").alias("src"), "o"), "src"))
    rows = firsts.collect()
    if fresh_s is not None and rows:  # fresh: nothing the wallet did is older than fresh_s before it
        renters = timed.sparkSession.createDataFrame([(r["src"],) for r in rows], "n string")
        seen = {r["n"]: r["e"] for r in earliest_activity(timed, renters).collect()}
        rows = [r for r in rows if (e := seen.get(r["src"])) is None or e >= r["t"] - fresh_s]
    return [(r["t"], r["src"], r["f"]) for r in sorted(rows, key=lambda r: (r["t"], r["o"], r["f"]))]


def sync_rental_links_spark(edges: LinkGraph | DataFrame, timed: DataFrame, hubs: Mapping[str, Hub],
                            controlled: Collection[str], window_s: int = DEFAULT_SYNC_WINDOW_S,
                            min_group: int = DEFAULT_SYNC_MIN_GROUP, fresh_s: int | None = None,
                            alpha: float = DEFAULT_SYNC_ALPHA) -> list[Link]:
    """:func:`graphs.clusters.sync_rental_links` on frames: wallets whose first rentals, on controlled
    GPUs, start within ``window_s`` of each other beyond chance -- :func:`first_rentals` on executors,
    then the networkx engine's own scan (:func:`graphs.clusters.sync_rental_scan`) on the driver."""
    return sync_rental_scan(first_rentals(edges, timed, hubs, controlled, fresh_s), window_s, min_group, alpha)


def _lease_deployment(node_id: str) -> str | None:
    """The deployment a lease's id names (:func:`graphs.clusters._lease_deployment`), None for others."""
    nid = ids.try_parse(node_id)
    return nid.deployment if nid is not None and nid.kind == "lease" else None


def manifest_owners(deployments: object, edges: LinkGraph | DataFrame, timed: DataFrame, first: DataFrame,
                    hubs: Mapping[str, Hub], fresh_s: int = DEFAULT_FRESH_S, max_owners: int | None = None,
                    funding_window_s: int = DEFAULT_FUNDING_WINDOW_S, max_bursts: int = DEFAULT_MAX_BURSTS,
                    max_star: int = DEFAULT_MAX_STAR) -> list[tuple[str, list[ManifestOwner]]]:
    """Each manifest hash two owners or more deploy (at most ``max_owners``), in the order of its first
    row, with its owners (sorted by id) as :func:`graphs.clusters.manifest_hash_links` judges them.

    ``deployments``: rows (deployment id, owner wallet id, hash), as the networkx twin takes them: the
    deployments table, which the engine holds on the driver anyway, grouped by the networkx code
    (:func:`graphs.clusters.shared_manifests`).  The graph facts are aggregated over every edge as
    DataFrame jobs, each returning at most one row per owner or per deployment of these hashes:

    - per deployment, its earliest rental or escrow deposit;
    - per owner and deployment it rents (a lease's deployment, else the node rented): how many
      rentals, the earliest with a known time of a lease of it, whether a lease's end is unknown
      (no known time, no stated hours) and the latest end (rental time + its GPUs' longest hours);
    - per owner: whether it is a node of the graph and the earliest known time of any stored fact on
      it (freshness, ``fresh_s``), its first funder (not a hub), and per such funder how many first
      fundings it made and, when at most ``max_star``, their known times (its bursts of
      ``funding_window_s``: more than ``max_bursts`` make it a service).

    The driver folds them per (hash, owner) exactly as :func:`graphs.clusters.deployment_time` and
    ``_deployments_end`` read the graph."""
    from pyspark.sql import functions as F

    shared = shared_manifests(deployments, max_owners)
    if not shared:
        return []
    g = _graph(edges)
    spark = timed.sparkSession
    owner_ids = sorted({o for _h, owners in shared for o, _deps, _only in owners})
    dep_ids = sorted({d for _h, owners in shared for _o, deps, _only in owners for d in deps})
    owners_f = spark.createDataFrame([(o,) for o in owner_ids], "owner string")
    known = _known()
    # Deployment time, part 1: rentals of and escrow deposits into the deployment nodes.
    into = {r["dst"]: r["t"] for r in (
        timed.where(F.col("k").isin("rented", "paid") & known)
        .join(spark.createDataFrame([(d,) for d in dep_ids], "dst string"), "dst", "left_semi")
        .groupBy("dst").agg(F.min("t").alias("t")).collect())}
    # The owners' rentals per deployment they are of; a lease's GPUs' longest stated hours (0 and
    # unknown hours do not count) give its end.
    hours = (timed.where((F.col("k") == "uses_gpu") & F.col("h").isNotNull() & (F.col("h") != 0))
             .groupBy(F.col("src").alias("v")).agg(F.max("h").alias("hmax")))
    lease_dep = F.udf(_lease_deployment, "string")
    rented = (timed.where(F.col("k") == "rented").join(owners_f.select(F.col("owner").alias("src")), "src", "left_semi")
              .select(F.col("src").alias("owner"), F.col("dst").alias("v"), "t", lease_dep(F.col("dst")).alias("ld"))
              .join(hours, "v", "left"))
    end = (F.col("t").cast("double") + F.col("hmax") * 3600.0).cast("long")
    # Its rentals of anything else are counted in one group per owner (dep null): they only tell
    # whether it rents anything else.
    own_deps = spark.createDataFrame(sorted({(o, d) for _h, owners in shared for o, deps, _only in owners
                                             for d in deps}), "owner string, dep string")
    rented = rented.withColumn("dep", F.coalesce("ld", "v")).join(
        own_deps.withColumn("mine", F.lit(True)), ["owner", "dep"], "left")
    rents: dict[str, dict[str | None, Any]] = defaultdict(dict)
    for r in rented.groupBy("owner", F.when(F.col("mine"), F.col("dep")).alias("dep")).agg(
            F.count("*").alias("n"),
            # Deployment time, part 2: the owner's rentals of the deployment's leases.
            F.min(F.when(F.col("ld").isNotNull() & known, F.col("t"))).alias("tb"),
            F.max(~known | F.col("hmax").isNull()).alias("unknown"), F.max(end).alias("end")).collect():
        rents[r["owner"]][r["dep"]] = r
    # Per owner: a node of the graph or not, and its earliest activity (derived edges left out).
    facts_t = timed.where(known & ~F.col("k").isin(*DERIVED_KINDS))
    ends = (facts_t.select(F.col("src").alias("n"), "t").union(facts_t.select(F.col("dst").alias("n"), "t"))
            .union(g.nodes.select("n", F.lit(None).cast("long").alias("t"))))
    earliest = {r["n"]: r["e"] for r in ends.join(owners_f.select(F.col("owner").alias("n")), "n", "left_semi")
                .groupBy("n").agg(F.min("t").alias("e")).collect()}
    # First funders (not hubs), how many first fundings each made and, when not too many, their times.
    funders = (first.join(owners_f.select(F.col("owner").alias("w")), "w", "left_semi").where(_not_in("src", hubs))
               .select("w", "src"))
    counts = (first.join(funders.select("src").distinct(), "src", "left_semi")
              .groupBy("src").agg(F.count("*").alias("n")))
    few = (first.where(known).join(counts.where(F.col("n") <= max_star).select("src"), "src", "left_semi")
           .groupBy("src").agg(F.collect_list("t").alias("ts")))
    funder: dict[str, str] = {}
    funded: dict[str, tuple[int, bool]] = {}
    for c in funders.join(counts, "src").join(few, "src", "left").collect():
        funder[c["w"]] = c["src"]
        funded[c["src"]] = (int(c["n"]), c["n"] > max_star or len(bursts(c["ts"] or [], funding_window_s)) > max_bursts)
    out: list[tuple[str, list[ManifestOwner]]] = []
    for h, owners in shared:
        judged: list[ManifestOwner] = []
        for o, deps, only in owners:
            mine = [x for d in set(deps) if (x := rents[o].get(d)) is not None]
            ts = [t for t in [into.get(d) for d in deps] + [x["tb"] for x in mine] if t is not None]
            start = min(ts) if ts else None
            e = earliest.get(o)
            node = o in earliest
            unknown = any(x["unknown"] for x in mine)
            end_t = max((x["end"] for x in mine if x["end"] is not None), default=None)
            # Rents nothing but these deployments, deploys nothing else.
            exclusive = node and sum(x["n"] for x in rents[o].values()) == sum(x["n"] for x in mine) and only
            f = funder.get(o)
            n_funded, service = funded.get(f, (0, False)) if f is not None else (0, False)
            judged.append(ManifestOwner(o, tuple(deps), start, start is not None and (e is None or e >= start - fresh_s),
                                        None if not node or unknown or not mine else end_t, exclusive, f, n_funded,
                                        service))
        out.append((h, judged))
    return out


def manifest_links_spark(deployments: object, edges: LinkGraph | DataFrame, timed: DataFrame, first: DataFrame,
                         hubs: Mapping[str, Hub], window_s: int = DEFAULT_MANIFEST_WINDOW_S,
                         fresh_s: int = DEFAULT_FRESH_S, max_owners: int | None = None,
                         funding_window_s: int = DEFAULT_FUNDING_WINDOW_S, max_bursts: int = DEFAULT_MAX_BURSTS,
                         max_star: int = DEFAULT_MAX_STAR, fleet_min_owners: int = DEFAULT_FLEET_MIN_OWNERS,
                         fleet_alpha: float = DEFAULT_FLEET_ALPHA) -> list[Link]:
    """:func:`graphs.clusters.manifest_links` on frames: owners deploying one manifest hash when they act
    as one (one funder, a fresh burst, a fleet) -- :func:`manifest_owners` on executors, then the
    networkx engine's own judgement (:func:`graphs.clusters.manifest_hash_links`) per hash."""
    owners = manifest_owners(deployments, edges, timed, first, hubs, fresh_s, max_owners, funding_window_s,
                             max_bursts, max_star)
    return [lk for h, judged in owners for lk in manifest_hash_links(h, judged, window_s, fleet_min_owners, fleet_alpha)]


def market_links(deployments: object, edges: LinkGraph | DataFrame, timed: DataFrame, first: DataFrame,
                 hubs: Mapping[str, Hub], controlled: Collection[str] = (), *,
                 funding_window_s: int = DEFAULT_FUNDING_WINDOW_S, max_star: int = DEFAULT_MAX_STAR,
                 fresh_s: int = DEFAULT_FRESH_S, manifest_window_s: int = DEFAULT_MANIFEST_WINDOW_S,
                 sync_window_s: int = DEFAULT_SYNC_WINDOW_S, sync_min_group: int = DEFAULT_SYNC_MIN_GROUP,
                 sync_alpha: float = DEFAULT_SYNC_ALPHA) -> list[Link]:
    """The market part of :func:`graphs.clusters.all_links`, in its order and with its parameters:
    manifest hashes, then (when ``controlled`` names GPUs) synchronized first rentals."""
    g = _graph(edges)
    links = manifest_links_spark(deployments, g, timed, first, hubs, manifest_window_s, fresh_s,
                                 funding_window_s=funding_window_s, max_star=max_star)
    if controlled:
        links += sync_rental_links_spark(g, timed, hubs, controlled, sync_window_s, sync_min_group, None, sync_alpha)
    return links
