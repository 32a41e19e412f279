"""The Spark scoring engine: the graph-wide stages as Spark DataFrame jobs, the rules on what they leave.

``score_store(..., engine=Engine("spark"))`` builds the same :class:`~tracer.scoring.rules.Context`
as the networkx engine, without ever holding the whole payment graph in the driver:

1. **Export** the store to Parquet through the store's own reads (:mod:`tracer.scoring.parquet`), in
   bounded batches, numbered in read order (``seq``: the graph's insertion order).
2. **Spark** (:mod:`graphs.spark`) computes, over every edge: dust limits and valued assets, first
   fundings (dust left out) and the derived ``funded_by`` edges in networkx's order, hubs (tags,
   degree, behaviour), every clustering heuristic's links (common funder / payroll, deposit reuse,
   escrow third party, payouts; on the market side manifest hashes and synchronized first rentals,
   whose per-wallet and per-owner aggregates run there and whose small sequential judgements run on
   the driver by the networkx engine's own code), connected components of all links into actor
   clusters, exposure hop by hop with exact shares, and compute (GPU-hours to FLOP) per actor.
3. **The driver** holds only the part of the graph the per-subject rules read as edges: every edge
   that is not a payment (leases, GPUs, providers, locations, listings: the market side, 1/20 of the
   transfers in the benchmark worlds), the payments into the market side (a provider's payout
   wallet, an escrow account) and the payments of deployment owners.  What the rules read of the
   other payments arrives from Spark as small per-wallet facts, for the *relevant* wallets only (the
   market side's wallets, payees' payers, owners, subjects by role, and every member of an actor
   cluster holding one of them): each one's first funding, the times it paid (activity hours), and
   for exposed wallets its non-dust in- and outflow per asset (the totals exposure wording states).

4. **The rules and the combination** run as a Spark job (:func:`score_rules`): the driver cuts the
   context into one :class:`~tracer.scoring.bundles.Bundle` per actor (what the rules read about its
   subjects), streams them to Parquet, the executors score the bundles with the networkx engine's own
   rule functions and combination into Parquet, and the driver reads the answers back in batches for
   the store writer.

Same code, same order, so flags, levels, scores and evidence are equal; tests/test_spark_engine.py
checks it (tests/test_bundles.py checks that a bundle gives every rule the whole context's answer).
The driver's memory grows with the market side and the relevant wallets, not with the payment graph.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connectors.akash.parse import DENOM_SYMBOL
from graphs.build import EDGE_COLUMNS, FirstFunding, TracerGraph, build_graph, node_kind
from graphs.clusters import Clusters, Hub
from tracer.catalog import load_catalog, load_country_groups
from tracer.scoring import tables
from tracer.scoring.bundles import Scored
from tracer.scoring.rules import Context, Evidence, Params
from tracer.scoring.stages import hub_params

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

    from tracer.store.reads import Reads

DEFAULT_MASTER = "local[*]"


@dataclass(frozen=True)
class Engine:
    """Which engine scores (``[scoring] engine``) and, for Spark, where and how it runs.

    ``spark_master``: ``local[*]`` (this machine, every core), ``spark://host:7077``, ``yarn`` or
    ``k8s://...``; ``spark_conf``: any Spark setting, passed through (``spark.driver.memory``, ...);
    ``spark_workdir``: where the Parquet export goes (default: a temporary directory, removed after
    the run; on a cluster, a path every executor can read)."""

    name: str = "networkx"
    spark_master: str = DEFAULT_MASTER
    spark_conf: Mapping[str, Any] = field(default_factory=dict)
    spark_workdir: str | None = None


ENGINES = ("networkx", "spark")
ENGINE_KEYS = frozenset({"engine", "spark_master", "spark_conf", "spark_workdir"})


def engine_from_config(cfg: Mapping[str, Any] | None, name: str | None = None, master: str | None = None
                       ) -> Engine:
    """``[scoring] engine / spark_master / spark_conf / spark_workdir``, overridden by ``name`` and
    ``master`` (the command line); an unknown engine is a usage error."""
    sc = dict((cfg or {}).get("scoring", {}))
    engine = name or str(sc.get("engine", "networkx"))
    if engine not in ENGINES:
        from connectors.base import ConfigError

        raise ConfigError(f"unknown scoring engine {engine!r} (known: {', '.join(ENGINES)})")
    conf = sc.get("spark_conf", {}) or {}
    if not isinstance(conf, Mapping):
        from connectors.base import ConfigError

        raise ConfigError("[scoring] spark_conf must be a table of Spark settings, e.g. "
                          "spark_conf = { \"spark.driver.memory\" = \"4g\" }")
    workdir = sc.get("spark_workdir")
    return Engine(engine, str(master or sc.get("spark_master", DEFAULT_MASTER)),
                  {str(k): str(v) for k, v in conf.items()}, None if workdir in (None, "") else str(workdir))


@dataclass
class SparkRun:
    """What the Spark engine measured beside the context: whole-graph counts and per-stage seconds."""

    stats: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    scored: list[Scored] | None = None  # (subject, score, level, evidence) in subject order, when scored


def _batches(path: Path, columns: list[str], batch_rows: int = 200_000) -> Iterator[Any]:
    import pyarrow.parquet as pq

    yield from pq.ParquetFile(str(path)).iter_batches(batch_size=batch_rows, columns=columns)


def market_nodes(edges_path: Path) -> tuple[set[str], set[str]]:
    """Every endpoint of an edge that is not a payment, and the payout wallets (``payout_to`` targets):
    one streaming pass over the export's ids (memory: the market side's node ids)."""
    import pyarrow.compute as pc

    nodes: set[str] = set()
    payees: set[str] = set()
    for b in _batches(edges_path, ["kind", "src", "dst"]):
        market = b.filter(pc.not_equal(b.column("kind"), "paid"))
        nodes.update(market.column("src").to_pylist())
        nodes.update(market.column("dst").to_pylist())
        po = market.filter(pc.equal(market.column("kind"), "payout_to"))
        payees.update(po.column("dst").to_pylist())
    return nodes, payees


def driver_rows(edges_path: Path, into: Iterable[str], touching: Iterable[str]) -> Iterator[tuple[Any, ...]]:
    """The export's edges in store order that the driver keeps: every non-payment edge, each payment
    into a node of ``into`` and each payment with an end in ``touching``
    (:data:`graphs.build.EDGE_COLUMNS` tuples)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    dst_set = pa.array(sorted(set(into)), type=pa.string())
    any_set = pa.array(sorted(set(touching)), type=pa.string())
    cols = list(EDGE_COLUMNS)
    for b in _batches(edges_path, cols):
        src, dst = b.column("src"), b.column("dst")
        mask = pc.or_(pc.or_(pc.not_equal(b.column("kind"), "paid"), pc.is_in(dst, value_set=dst_set)),
                      pc.or_(pc.is_in(src, value_set=any_set), pc.is_in(dst, value_set=any_set)))
        part = b.filter(mask)
        yield from zip(*(part.column(c).to_pylist() for c in cols), strict=True)


def driver_graph(edges_path: Path, obs_rows: list[dict[str, Any]], into: Iterable[str], touching: Iterable[str],
                 clock: Any) -> TracerGraph:
    """The graph the rules read (:func:`driver_rows`), placed by the whole export's block clock (an
    estimate must not depend on which rows the driver keeps).  No first fundings: the kept payments
    do not say who funded whom first; :func:`set_first_fundings` gives the relevant wallets theirs."""
    tg = build_graph(driver_rows(edges_path, into, touching), obs_rows, derive=False,
                     graph=TracerGraph(clock=clock))
    tg.first_in.clear()
    return tg


def _frame_of(spark: SparkSession, values: Iterable[str], col: str) -> DataFrame:
    return spark.createDataFrame([(v,) for v in sorted(set(values))], f"{col} string")


def set_first_fundings(tg: TracerGraph, first: DataFrame, wallets: Iterable[str], spark: SparkSession) -> None:
    """Give ``wallets`` their first non-dust funding as the whole graph has it (``tg.first_in``)."""
    from pyspark.sql import functions as F

    todo = [w for w in wallets if (n := tg.get(w)) is None or n not in tg.first_in]
    if not todo:
        return
    rows = first.join(F.broadcast(_frame_of(spark, todo, "w")), "w").select("w", "src", "t", "a", "s", "f").collect()
    for r in sorted(rows, key=lambda r: r["w"]):
        tg.first_in[tg.node(r["w"])] = FirstFunding(tg.node(r["src"]), r["t"], int(r["a"]), r["s"], r["f"])


def paid_times(paid: DataFrame, wallets: Iterable[str], spark: SparkSession) -> dict[str, list[int]]:
    """Per wallet, the known times (non-zero) of its payments out: what the activity-hours rule reads."""
    from pyspark.sql import functions as F

    out: dict[str, list[int]] = {}
    pays = paid.where(F.col("t").isNotNull() & (F.col("t") != 0)).select("src", "t")
    for r in pays.join(F.broadcast(_frame_of(spark, wallets, "src")), "src").collect():
        out.setdefault(r["src"], []).append(int(r["t"]))
    return out


def paid_flows(paid: DataFrame, dust: Mapping[str, int], wallets: Iterable[str], spark: SparkSession
               ) -> dict[tuple[str, str], dict[str, int]]:
    """Per (wallet, "in" / "out"), its non-dust paid volume per asset key (exact integers)."""
    from pyspark.sql import functions as F

    from graphs.spark.dust import with_non_dust

    nd = with_non_dust(paid, dust).where(F.col("nd"))
    ws = _frame_of(spark, wallets, "w")
    out: dict[tuple[str, str], dict[str, int]] = {}
    for way, col in (("in", "dst"), ("out", "src")):
        rows = nd.join(F.broadcast(ws), nd[col] == ws["w"]).select("w", "s", "a").collect()
        for r in rows:
            per = out.setdefault((r["w"], way), {})
            per[r["s"]] = per.get(r["s"], 0) + int(r["a"])
    return out


def _ids(rows: Iterable[Any], col: str) -> set[str]:
    return {r[col] for r in rows}


def _hubs_on(tg: TracerGraph, hubs: Mapping[str, Hub]) -> dict[int, Hub]:
    """Hubs keyed by the driver graph's nodes (a hub the driver does not hold is not read there)."""
    return {n: h for k, h in hubs.items() if (n := tg.get(k)) is not None}


def context_from_spark(store: Reads, params: Params, now: str, engine: Engine,
                       spark: SparkSession | None = None, progress: Callable[[str], None] | None = None,
                       score: bool = False) -> tuple[Context, SparkRun]:
    """The scoring context built by the Spark engine (module docstring); ``spark``: a running session
    (default: :func:`graphs.spark.frames.session` with the engine's master and settings);
    ``progress``: called with each stage's name as it starts (minutes on a big store); ``score``:
    also run the rules and the combination on Spark, per actor (:func:`score_rules`, ``run.scored``)."""
    from graphs.spark import dust as sp_dust
    from graphs.spark import exposure as sp_exposure
    from graphs.spark import hubs as sp_hubs
    from graphs.spark import links as sp_links
    from graphs.spark import market_links as sp_market
    from graphs.spark.components import cluster_links
    from graphs.spark.compute import cluster_compute, lease_frame
    from graphs.spark.frames import paid_with_order, session
    from graphs.spark.funding import first_funding, funded_by_ordered
    from graphs.spark.load import block_clock, edges_frame, paid_frame
    from tracer.scoring.parquet import export_store

    p = params
    run = SparkRun()
    t = run.timings

    def say(stage: str) -> None:
        if progress is not None:
            progress(stage)

    if spark is None:
        from graphs.spark.frames import require

        require()  # no Java or pyspark: one line, before saying anything is starting
        say(f"starting Spark ({engine.spark_master})")
        spark = session(engine.spark_master, engine.spark_conf)
    work = Path(engine.spark_workdir) if engine.spark_workdir else Path(tempfile.mkdtemp(prefix="tracer-spark-"))
    cached: list[Any] = []
    releases: list[Callable[[], None]] = []  # cached by the stages themselves (the link graph)

    def keep(df: DataFrame) -> DataFrame:
        cached.append(df.persist())
        return df

    try:
        say("exporting the store to Parquet")
        t0 = time.monotonic()
        paths = export_store(store, work, now=now)
        obs_rows = tables.observations(store, now)
        deployment_rows = tables.deployments(store)
        symbols = {**DENOM_SYMBOL, **tables.token_symbols(store)}
        clock = block_clock(paths["edges"], paths["observations"])
        t["export"] = time.monotonic() - t0

        say("loading payments, dust limits, first fundings")
        t0 = time.monotonic()
        paid = keep(paid_frame(spark, paths["edges"], clock, ordered=True))
        edges = edges_frame(spark, paths["edges"], paths["observations"], ordered=True)
        base = edges.count()
        dust = sp_dust.dust_limits(paid, p.dust_min_value, p.dust_median_share, p.dust_min_transfers, symbols)
        priced = sp_dust.priced_assets(paid, p.dust_min_value, symbols)
        first = keep(first_funding(paid, dust))
        edges_all = keep(edges.unionByName(funded_by_ordered(paid, first, base)))
        t["load"] = time.monotonic() - t0

        # The market side and who is relevant: the driver's graph.
        say("the driver's part of the graph")
        t0 = time.monotonic()
        market, payees = market_nodes(paths["edges"])
        roles = {o["subject"] for o in obs_rows if o["predicate"] == "role"}
        payees |= {o["subject"] for o in obs_rows if o["predicate"] == "role" and o["value"] == "provider_payee"}
        owners = {str(d["owner"]) for d in deployment_rows if d.get("owner")}
        from pyspark.sql import functions as F

        payers = _ids(paid.join(F.broadcast(_frame_of(spark, payees, "dst")), "dst").select("src").distinct()
                      .collect(), "src") if payees else set()
        relevant0 = market | roles | owners | payers | payees
        into = payees | {n for n in market if node_kind(n) != "wallet"}
        tg = driver_graph(paths["edges"], obs_rows, into, owners, clock)
        set_first_fundings(tg, first, sorted(w for w in relevant0 if node_kind(w) == "wallet"), spark)
        from tracer.scoring.run import observed

        seen = observed(tg, obs_rows)
        listed = list(seen.listed)
        t["driver_graph"] = time.monotonic() - t0

        say("hubs")
        t0 = time.monotonic()
        hubs = sp_hubs.find_hubs(edges_all, paid, seen.tags, p.hub_degree, behaviour=p.hub_behaviour,
                                 never=seen.listed, dust=dust, first=first, **hub_params(p))
        t["hubs"] = time.monotonic() - t0

        say("clustering links into actors")
        t0 = time.monotonic()
        payouts_to = {tg.ids[n] for n in tg.payees}
        g = sp_links.link_graph(edges_all)
        releases.append(g.unpersist)
        links = sp_links.payment_links(g, paid, first, hubs, payouts_to, p.funding_window_days * 86400,
                                       max_star=p.max_star, payroll_min_payments=p.payroll_min_payments)
        # The market side (manifest hashes, synchronized first rentals): every edge with its time.
        timed = sp_market.timed_frame(keep(sp_market.market_frame(spark, paths["edges"], clock)), paid)
        catalog = load_catalog()
        controlled = frozenset(gp.id for gp in catalog.gpus.values() if gp.eccn_3a090 in ("a", "b"))
        links += sp_market.market_links(deployment_rows, g, timed, first, hubs, controlled,
                                        funding_window_s=p.funding_window_days * 86400, max_star=p.max_star,
                                        fresh_s=p.fresh_days * 86400,
                                        manifest_window_s=int(p.manifest_window_days * 86400),
                                        sync_window_s=p.sync_window_minutes * 60, sync_min_group=p.sync_min_group,
                                        sync_alpha=p.sync_alpha)
        clusters: Clusters = cluster_links(spark, links, p.cluster_threshold)
        t["cluster"] = time.monotonic() - t0

        # Every member of an actor cluster that holds a relevant wallet: what rules read of them.
        say("facts of the relevant wallets")
        t0 = time.monotonic()
        touched = {clusters.of[w] for w in relevant0 if w in clusters.of}
        relevant = relevant0 | {m for c in touched for m in clusters.members[c]}
        wallets = sorted(w for w in relevant if node_kind(w) == "wallet")
        set_first_fundings(tg, first, wallets, spark)
        out_times = paid_times(paid, wallets, spark)
        tg.add_links(lk for lk in links if tg.get(lk.a) is not None and tg.get(lk.b) is not None)
        hubs_d = _hubs_on(tg, hubs)
        t["driver_graph"] += time.monotonic() - t0

        say("exposure, hop by hop")
        t0 = time.monotonic()
        paid_o = keep(paid_with_order(paid, edges_all))
        exp = sp_exposure.exposure(paid_o, listed, hubs, p.hops, p.exposure_min_share, dust, priced,
                                   p.exposure_held_factor, payouts_to)
        exposed = {w for w in relevant0 if w in exp.incoming or w in exp.passive or w in exp.outgoing}
        flows = paid_flows(paid, dust, exposed, spark) if exposed else {}
        t["exposure"] = time.monotonic() - t0

        say("compute per actor")
        t0 = time.monotonic()
        from tracer.scoring.run import lease_facts

        gpus, rentals, payouts, lease_rows = lease_facts(tg, hubs_d, seen, p)
        peaks = {gp.id: gp.fp16_dense_tflops for gp in catalog.gpus.values()}
        renters = {r[1] for r in lease_rows}
        actors = [(n, c) for n, c in clusters.of.items() if n in renters]
        actor_df = spark.createDataFrame(actors, "node string, cluster string")
        compute = cluster_compute(spark, lease_frame(spark, lease_rows), peaks, actor_df, p.utilisation)
        t["compute"] = time.monotonic() - t0

        n_edges = base + first.count() + len(links)
        run.stats = {"edges": n_edges, "hubs": len(hubs), "driver_nodes": tg.g.number_of_nodes(),
                     "driver_edges": tg.g.number_of_edges(), "relevant_wallets": len(wallets),
                     "driver_paid_times": sum(len(v) for v in out_times.values()),
                     "spark_master": spark.sparkContext.master}
        ctx = Context(tg, hubs_d, dict(seen.listed), seen.label, dict(seen.obs), exp, clusters, compute,
                      dict(gpus), dict(payouts), catalog, load_country_groups(), p, rentals=dict(rentals),
                      symbols=symbols, dust=dict(dust), paid_times=out_times, flows=flows)
        if score:
            say("rules and scores, per actor")
            t0 = time.monotonic()
            run.scored = score_rules(spark, ctx, work, run.stats)
            t["rules"] = time.monotonic() - t0
        return ctx, run
    finally:
        for df in cached:
            df.unpersist()
        for release in releases:
            release()
        if not engine.spark_workdir:
            shutil.rmtree(work, ignore_errors=True)


def score_rules(spark: SparkSession, ctx: Context, work: Path, stats: dict[str, Any] | None = None,
                batch_rows: int = 1000, batch_bytes: int = 64 << 20) -> list[Scored]:
    """Every rule and the combination as one Spark job: each actor's :class:`~tracer.scoring.bundles.Bundle`
    (what the rules read about its subjects) is written to Parquet in ``work`` in batches, the bundles
    are spread over the executors by actor, each executor scores its bundles with the unchanged rules
    and writes its answers to Parquet in ``work``, and the driver reads them back in batches, in
    subject order.

    The run-wide part (catalog, country groups, parameters, symbols, dust limits) is broadcast once.
    On a cluster ``work`` must be readable by every executor (``spark_workdir``)."""
    import pickle

    import pyarrow as pa
    import pyarrow.parquet as pq

    from tracer.scoring.bundles import bundles, shared_of
    from tracer.scoring.run import subjects

    t0 = time.monotonic()
    subs = subjects(ctx)
    path = work / "bundles.parquet"
    # large_binary: one actor cluster's bundle may be big, and a batch must not hit 32-bit offsets.
    schema = pa.schema([("actor", pa.string()), ("bundle", pa.large_binary())])
    n_bundles = n_bytes = 0
    with pq.ParquetWriter(str(path), schema) as out:
        buf: list[tuple[str, bytes]] = []
        held = 0

        def flush() -> None:
            if buf:
                out.write_table(pa.Table.from_pylist(
                    [{"actor": a, "bundle": blob} for a, blob in buf], schema))
                buf.clear()

        for b in bundles(ctx, subs):
            blob = pickle.dumps(b, protocol=pickle.HIGHEST_PROTOCOL)
            buf.append((b.actor, blob))
            n_bundles += 1
            n_bytes += len(blob)
            held += len(blob)
            if len(buf) >= batch_rows or held >= batch_bytes:
                flush()
                held = 0
        flush()
    if stats is not None:
        stats.update({"rule_subjects": len(subs), "rule_bundles": n_bundles, "rule_bytes": n_bytes,
                      "rule_cut_s": round(time.monotonic() - t0, 2)})
    if not subs:
        return []
    shared = spark.sparkContext.broadcast(pickle.dumps(shared_of(ctx), protocol=pickle.HIGHEST_PROTOCOL))
    parts = max(1, min(n_bundles, spark.sparkContext.defaultParallelism * 4))
    frame = spark.read.parquet(str(path)).repartition(parts, "actor")
    got: dict[str, Scored] = {}
    # Arrow batches to the Python workers of at most ~256 bundles: a batch of big clusters' bundles
    # must stay far below Arrow's 2 GB per-batch column limit (the session's setting is put back).
    key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    before = spark.conf.get(key, None)
    spark.conf.set(key, "256")
    scored = work / "scored.parquet"
    try:
        # Written by the executors, every partition at once (``toLocalIterator`` would run one
        # partition's job after another), then read back here in batches.
        t1 = time.monotonic()
        frame.mapInPandas(_score_partition(shared), SCORED_SCHEMA).write.mode("overwrite").parquet(str(scored))
        if stats is not None:
            stats["rule_job_s"] = round(time.monotonic() - t1, 2)
        for part in sorted(scored.glob("*.parquet")):
            for batch in pq.ParquetFile(str(part)).iter_batches(batch_size=10_000):
                cols = batch.to_pydict()
                for subject, score, level, evidence in zip(cols["subject"], cols["score"], cols["level"],
                                                           cols["evidence"], strict=True):
                    ev = [Evidence(rule, sc, detail, tuple(refs), tuple(path)) for rule, sc, detail, refs, path
                          in json.loads(evidence)]
                    got[subject] = (subject, float(score), level, ev)
    finally:
        shared.unpersist()
        if before is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, before)
    missing = [s for s in subs if s not in got]
    if missing:  # an executor lost a bundle: never write a partial scoring
        raise RuntimeError(f"the Spark rules job returned no answer for {len(missing)} subject(s), e.g. {missing[0]}")
    return [got[s] for s in subs]


SCORED_SCHEMA = "subject string, score double, level string, evidence string"


def _score_partition(shared: Any) -> Callable[[Iterator[Any]], Iterator[Any]]:
    """The executors' side of :func:`score_rules`: pickled bundles in, one row per subject out (the
    evidence as JSON: floats round-trip exactly through ``json``)."""
    def run(frames: Iterator[Any]) -> Iterator[Any]:
        import pickle

        import pandas as pd

        from tracer.scoring.bundles import score_bundle

        ctx_shared = pickle.loads(shared.value)
        for pdf in frames:
            rows = []
            for blob in pdf["bundle"]:
                for s, score, level, ev in score_bundle(pickle.loads(blob), ctx_shared):
                    rows.append((s, float(score), level, json.dumps(
                        [[e.rule, e.score, e.detail, list(e.refs), list(e.path)] for e in ev])))
            if rows:
                yield pd.DataFrame(rows, columns=["subject", "score", "level", "evidence"])
    return run
