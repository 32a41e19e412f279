"""Read the store, build the graph, cluster, trace exposure, account compute, score, write flags.

Each stage is a function over rows so another engine can replace one stage at a time:
``load_context`` (store -> Context), ``subjects`` (who is scored), ``score_subject`` (rules +
combine) and ``score_store`` (all of it, writing ``flags`` and ``evidence``).
"""

from __future__ import annotations

import csv
import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connectors import facts, ids
from connectors.akash.parse import DENOM_SYMBOL
from graphs.build import TracerGraph, build_graph
from graphs.compute import Rental
from tracer.catalog import load_catalog, load_country_groups
from tracer.scoring import tables
from tracer.scoring.combine import RULES_VERSION, combine
from tracer.scoring.rules import RULES, Context, Evidence, Params
from tracer.scoring.stages import LeaseRow, NetworkxStages, Stages

if TYPE_CHECKING:  # pragma: no cover
    from tracer.scoring.spark_engine import Engine
from tracer.store import StoreBackend


@dataclass
class ScoreResult:
    flags: list[dict[str, Any]]
    evidence: list[dict[str, Any]]
    timings: dict[str, float] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    context: Context | None = None


def _now() -> str:
    from tracer.config import now

    return now()


def params_from_config(cfg: dict[str, Any] | None) -> Params:
    """``[scoring]`` keys of the config override Params defaults (unknown keys are a usage error)."""
    from tracer.scoring.spark_engine import ENGINE_KEYS

    sc = {k: v for k, v in dict((cfg or {}).get("scoring", {})).items() if k not in ENGINE_KEYS}
    known = set(Params.__dataclass_fields__)
    bad = set(sc) - known
    if bad:
        from connectors.base import ConfigError

        raise ConfigError(f"unknown [scoring] keys: {', '.join(sorted(bad))} "
                          f"(known: {', '.join(sorted(known | ENGINE_KEYS))})")
    return Params(**sc)


def context_from_rows(edges: Iterable[Any], obs_rows: list[dict[str, Any]], deployment_rows: list[dict[str, Any]],
                      params: Params | None = None, timings: dict[str, float] | None = None,
                      tokens: Mapping[str, str] | None = None, stages: Stages | None = None) -> Context:
    """Build every derived structure rules read, from plain rows (no database access).

    ``tokens``: token id -> symbol (the store's token entities), so `USDC/6` thresholds match EVM
    transfers stored by contract; Akash denoms are known (``connectors.akash.parse.DENOM_SYMBOL``).
    ``stages``: the engine of the graph-wide stages (default: networkx, :mod:`tracer.scoring.stages`)."""
    p = params or Params()
    st: Stages = stages or NetworkxStages()
    t = timings if timings is not None else {}
    t0 = time.monotonic()
    tg: TracerGraph = build_graph(edges, obs_rows)
    t["build"] = time.monotonic() - t0

    seen = observed(tg, obs_rows)
    listed, tags = seen.listed, seen.tags

    t0 = time.monotonic()
    symbols = {**DENOM_SYMBOL, **dict(tokens or {})}
    dust = st.dust(tg, p, symbols)
    tg.ignore_dust_fundings(dust)  # a listed wallet's dust is nobody's first funding
    hubs = st.hubs(tg, tags, listed, dust, p)
    catalog = load_catalog()
    controlled = frozenset(g.id for g in catalog.gpus.values() if g.eccn_3a090 in ("a", "b"))
    links = st.links(tg, hubs, deployment_rows, controlled, p)
    tg.add_links(links)
    clusters = st.clusters(links, p.cluster_threshold)
    t["cluster"] = time.monotonic() - t0

    t0 = time.monotonic()
    exp = st.exposure(tg, list(listed), hubs, dust, st.priced(tg, p, symbols), p)
    t["exposure"] = time.monotonic() - t0

    gpus, rentals, payouts, lease_rows = lease_facts(tg, hubs, seen, p)
    peaks = {g.id: g.fp16_dense_tflops for g in catalog.gpus.values()}
    compute = st.compute(lease_rows, peaks, clusters, p.utilisation)
    return Context(tg, hubs, dict(listed), seen.label, dict(seen.obs), exp, clusters, compute, dict(gpus),
                   dict(payouts), catalog, load_country_groups(), p, rentals=dict(rentals), symbols=symbols,
                   dust=dict(dust))


@dataclass
class Observed:
    """What scoring reads from the observations (and the graph's ``listed_as`` edges)."""

    obs: dict[str, list[dict[str, Any]]]
    listed: dict[str, list[str]]
    label: dict[str, str]
    tags: list[tuple[str, str, str, str]]
    gpu_hours: dict[str, list[tuple[float, str | None, str]]]


def observed(tg: TracerGraph, obs_rows: list[dict[str, Any]]) -> Observed:
    """Observations by subject, listed wallets with their refs and labels, tags and GPU-hours.

    Wallets tied (``listed_as``) to a listed entity count as listed, with both facts as refs; every
    ``listed_as`` edge must be in ``tg``."""
    obs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    listed: dict[str, list[str]] = defaultdict(list)
    label: dict[str, str] = {}
    tags: list[tuple[str, str, str, str]] = []
    gpu_hours: dict[str, list[tuple[float, str | None, str]]] = defaultdict(list)
    listed_entities: dict[str, tuple[str, str]] = {}
    for o in obs_rows:
        at = o["attrs"]
        o = {**o, "attrs": json.loads(at) if isinstance(at, str) else (at or {})}
        pred = o["predicate"]
        if pred == "sanctioned":
            listed[o["subject"]].append(o["id"])
            label.setdefault(o["subject"], str(o["value"]))
        elif pred == "listed":
            listed_entities[o["subject"]] = (o["id"], str(o["value"]))
        elif pred == "tag":
            tags.append((o["subject"], facts.tag_category(o["attrs"]), str(o["value"]), o["id"]))
        elif pred == "gpu_hours":
            gpu_hours[o["subject"]].append((float(o["value"]), facts.gpu_hours_model(o["attrs"]), o["id"]))
        obs[o["subject"]].append(o)
    for u, v, d in tg.g.edges(data=True):
        if d["k"] == "listed_as" and tg.ids[v] in listed_entities:
            oid, lname = listed_entities[tg.ids[v]]
            listed[tg.ids[u]] += [d["f"], oid]
            label.setdefault(tg.ids[u], f"{lname} ({tg.ids[v]})")
    return Observed(obs, listed, label, tags, gpu_hours)


def lease_facts(tg: TracerGraph, hubs: Mapping[int, Any], seen: Observed, p: Params
                ) -> tuple[dict[str, list[tuple[str, str, tuple[str, ...]]]], dict[str, list[Rental]],
                           dict[str, list[tuple[str, str]]], list[LeaseRow]]:
    """GPUs per subject, rentals, payout wallets and the lease rows compute accounting sums: from the
    graph's provider and lease edges (every one must be in ``tg``) and payments to payees."""
    gpu_hours, obs = seen.gpu_hours, seen.obs
    # GPUs per subject and GPU-hours per lease (gpu_hours observation, else uses_gpu units x hours).
    gpus: dict[str, list[tuple[str, str, tuple[str, ...]]]] = defaultdict(list)
    rentals: dict[str, list[Rental]] = defaultdict(list)
    payouts: dict[str, list[tuple[str, str]]] = defaultdict(list)
    lease_rows: list[tuple[str, str, str, float, str]] = []
    for n, k in tg.g.nodes(data="k"):
        if k == "provider":
            for v, d in tg.out_edges(n):
                if d["k"] == "offers_gpu":
                    gpus[tg.ids[n]].append((ids.gpu_catalog_id(tg.ids[v]), "offers", (d["f"],)))
                elif d["k"] == "payout_to":
                    payouts[tg.ids[n]].append((tg.ids[v], d["f"]))
        elif k == "lease":
            lid = tg.ids[n]
            renters = [(tg.ids[u], d["f"]) for u, d in tg.in_edges(n, "rented")]
            uses = [(ids.gpu_catalog_id(tg.ids[v]), d) for v, d in tg.out_edges(n, "uses_gpu")]
            providers = [tg.ids[v] for v, _ in tg.out_edges(n, "leased_from")]
            for r, rf in renters:
                for gid, d in uses:
                    gpus[r].append((gid, "rents", (rf, d["f"])))
                rentals[r].extend(_rentals(tg, n, r, rf, uses, gpu_hours.get(lid, []), providers))
                if lid in gpu_hours:
                    for hours, hgid, oid in gpu_hours[lid]:
                        g = hgid or (uses[0][0] if uses else "")
                        lease_rows.append((lid, r, g, hours, oid))
                else:
                    for gid, d in uses:
                        if "h" in d:
                            lease_rows.append((lid, r, gid, d["h"] * d.get("u", 1), d["f"]))
            for pv in providers:
                for gid, d in uses:
                    gpus[pv].append((gid, "leased out", (d["f"],)))
    _payee_rentals(tg, hubs, obs, payouts, gpus, rentals, int(p.payment_window_hours * 3600),
                   int(p.payment_max_window_days * 86400))
    return gpus, rentals, payouts, lease_rows


def _rentals(tg: TracerGraph, lease: int, renter: str, rented_fact: str, uses: list[tuple[str, dict[str, Any]]],
             hours_obs: list[tuple[float, str | None, str]], providers: list[str]) -> list[Rental]:
    """One renter's rental of a lease per GPU model: start (the ``rented`` time), units, wall-clock end
    (uses_gpu ``hours``, else GPU-hours / units) and GPU-hours (``gpu_hours`` observation first)."""
    t = next((d["t"] for u, d in tg.in_edges(lease, "rented") if d["f"] == rented_fact), None)
    start = t if t is not None and t > 0 else None
    out = []
    for gid, d in uses:
        units = int(d.get("u") or 1)
        obs_h = [(h, oid) for h, hg, oid in hours_obs if not hg or hg == gid]
        total = sum(h for h, _ in obs_h) if obs_h else float(d.get("h") or 0.0) * units
        wall = float(d["h"]) if d.get("h") else (total / units if units else 0.0)
        end = start + int(wall * 3600) if start is not None and wall > 0 else None
        out.append(Rental(tg.ids[lease], renter, gid, units, start, end, total,
                          (rented_fact, d["f"], *(oid for _, oid in obs_h)), providers[0] if providers else None))
    return out


def _payee_rentals(tg: TracerGraph, hubs: Mapping[int, Any], obs: Mapping[str, list[dict[str, Any]]],
                   payouts: Mapping[str, list[tuple[str, str]]], gpus: dict[str, list[tuple[str, str, tuple[str, ...]]]],
                   rentals: dict[str, list[Rental]], window_s: int = 86400, max_window_s: int = 7 * 86400) -> None:
    """Requestors paying a provider's payee wallet (Golem: GLM to the payee) rent that provider's GPUs:
    the qualifier sees them, and each payment with a known time is an estimated rental (no lease facts
    exist for such markets).

    A payment settles usage *before* it (a Golem invoice or debit note pays for an agreement's work so
    far), so each payment is taken to cover the interval since the same requestor's previous payment
    to the same payee, when that was at most ``max_window_s`` (7 days) earlier, else the ``window_s``
    (24 h) before it.  Successive payments therefore tile one requestor's use of a node without
    overlapping (never counted twice at once), and coordinated requestors settling on their own
    schedules overlap while they run.  Units: the provider's offered GPUs of each model -- an upper
    bound on what one requestor used; GPU-hours: units x the window."""
    by_payee: dict[int, set[str]] = defaultdict(set)
    for prov, wallets in payouts.items():
        for w, _ in wallets:
            if (n := tg.get(w)) is not None:
                by_payee[n].add(prov)
    for s, rows in obs.items():
        for o in rows:
            if o["predicate"] == "role" and o["value"] == "provider_payee" and (n := tg.get(s)) is not None:
                payee_of = facts.payee_provider(o["attrs"])
                if payee_of and tg.get(payee_of) is not None:
                    by_payee[n].add(payee_of)
    for payee, provs in by_payee.items():
        if payee in hubs:
            continue
        offers = []
        for prov in sorted(provs):
            pn = tg.get(prov)
            if pn is not None:
                offers += [(prov, ids.gpu_catalog_id(tg.ids[g]), d)
                           for g, d in tg.out_edges(pn, "offers_gpu")]
        if not offers:
            continue
        seen: set[tuple[int, str, str]] = set()
        times: dict[int, list[tuple[int, str]]] = defaultdict(list)
        for u, d in tg.in_edges(payee, "paid"):
            if u in hubs or u in by_payee or tg.kind(u) != "wallet":
                continue
            renter = tg.ids[u]
            for prov, gid, od in offers:
                if (u, prov, gid) not in seen:
                    seen.add((u, prov, gid))
                    gpus[renter].append((gid, f"pays payee {tg.ids[payee]} of {prov}, which offers",
                                         (d["f"], od["f"])))
            t = d["t"]
            if t is not None and t > 0:
                times[u].append((int(t), d["f"]))
        for u, pays in times.items():
            renter = tg.ids[u]
            prev: int | None = None
            for t, fact in sorted(pays):
                start = prev if prev is not None and t - prev <= max_window_s else t - window_s
                prev = t
                if t <= start:  # paid at the same instant as the previous payment: nothing more to settle
                    continue
                for prov, gid, od in offers:
                    units = int(od.get("u") or 1)
                    rentals[renter].append(Rental(fact, renter, gid, units, start, t, units * (t - start) / 3600,
                                                  (fact, od["f"]), prov, estimated=True))


def subjects(ctx: Context) -> list[str]:
    """Who gets scored: renters (wallets with a rental or role=renter) and providers."""
    tg = ctx.tg
    out: set[str] = set()
    for n, k in tg.g.nodes(data="k"):
        if k == "provider" or (k == "wallet" and any(True for _ in tg.out_edges(n, "rented"))):
            out.add(tg.ids[n])
    payees: set[int] = set()
    for s, rows in ctx.obs.items():
        for o in rows:
            if o["predicate"] == "role" and o["value"] in ("renter", "provider"):
                out.add(s)
            elif o["predicate"] == "role" and o["value"] == "provider_payee" and (n := tg.get(s)) is not None:
                payees.add(n)
    for wallets in ctx.payouts.values():
        payees.update(n for w, _ in wallets if (n := tg.get(w)) is not None)
    # Payers of a provider's payout wallet rent compute (Golem requestors pay payees in GLM).
    for n in payees:
        for u, _ in tg.in_edges(n, "paid"):
            if u not in ctx.hubs and u not in payees and tg.kind(u) == "wallet":
                out.add(tg.ids[u])
    return sorted(out)


def score_subject(subject: str, ctx: Context) -> tuple[float, str, list[Evidence]]:
    """Every rule on one subject, combined; evidence with score 0 is dropped."""
    ev = []
    for fn, _ in RULES:
        e = fn(subject, ctx)
        if e is not None and e.score > 0:
            ev.append(Evidence(e.rule, round(min(1.0, e.score), 4), e.detail, e.refs, e.path))
    score, level = combine(ev)
    return score, level, ev


def score_context(ctx: Context, computed_at: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Flags and evidence rows for every subject with non-zero evidence."""
    return result_rows(((s, *score_subject(s, ctx)) for s in subjects(ctx)), computed_at, ctx.clusters.cluster)


def result_rows(scored: Iterable[tuple[str, float, str, list[Evidence]]], computed_at: str,
                cluster_of: Callable[[str], str | None]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Flags and evidence rows from each subject's (subject, score, level, evidence), in subject order:
    one function for every engine, so the rows they write cannot drift apart."""
    flags: list[dict[str, Any]] = []
    evidence: list[dict[str, Any]] = []
    for s, score, level, ev in scored:
        if not ev:
            continue
        for e in ev:
            eid = "ev:" + hashlib.sha256(f"{s}|{e.rule}|{e.detail}".encode()).hexdigest()[:16]
            evidence.append({"id": eid, "subject": s, "rule": e.rule, "score": e.score, "detail": e.detail,
                             "refs": list(dict.fromkeys(e.refs)), "path": list(e.path),
                             "rules_version": RULES_VERSION, "computed_at": computed_at})
        if score > 0:
            top = sorted(ev, key=lambda e: -e.score)[:3]
            flags.append({"subject": s, "score": score, "level": level, "rules_version": RULES_VERSION,
                          "computed_at": computed_at, "cluster": cluster_of(s),
                          "reasons": [{"rule": e.rule, "score": e.score, "detail": e.detail} for e in top]})
    flags.sort(key=lambda f: (-f["score"], f["subject"]))
    return flags, evidence


def score_store(store: StoreBackend, params: Params | None = None, write: bool = True, now: str | None = None,
                stages: Stages | None = None, engine: Engine | None = None, spark: Any = None,
                progress: Callable[[str], None] | None = None) -> ScoreResult:
    """The whole scoring run over a store; writes ``flags``, ``evidence`` and the flagged subjects' actor
    clusters (with the change log) unless ``write`` is False.

    ``stages``: the engine of the graph-wide stages (default: networkx, :mod:`tracer.scoring.stages`);
    ``engine``: ``Engine("spark", ...)`` runs them on Spark (:mod:`tracer.scoring.spark_engine`;
    ``spark``: a running session to use; ``progress``: told each Spark stage as it starts)."""
    now = now or _now()
    p = params or Params()
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    spark_stats: dict[str, Any] = {}
    if engine is not None and engine.name == "spark":
        from tracer.scoring.spark_engine import context_from_spark

        ctx, run = context_from_spark(store, p, now, engine, spark, progress, score=True)
        timings.update(run.timings)
        spark_stats = run.stats
        assert run.scored is not None
        t1 = time.monotonic()
        flags, evidence = result_rows(run.scored, now, ctx.clusters.cluster)
    else:
        obs_rows = tables.observations(store, now)
        ctx = context_from_rows(tables.iter_edges(store), obs_rows, tables.deployments(store), p, timings,
                                tables.token_symbols(store), stages)
        t1 = time.monotonic()
        flags, evidence = score_context(ctx, now)
    timings["score"] = time.monotonic() - t1
    if write:
        t2 = time.monotonic()
        tables.write_results(store, flags, evidence, computed_at=now, clusters=ctx.clusters)
        timings["write"] = time.monotonic() - t2
    timings["total"] = time.monotonic() - t0
    stats = {"engine": engine.name if engine is not None else "networkx", "nodes": ctx.tg.g.number_of_nodes(),
             "edges": ctx.tg.g.number_of_edges(), "clusters": len(ctx.clusters.members), "hubs": len(ctx.hubs),
             "flags": len(flags), "evidence": len(evidence), "hub_stops": len(ctx.exposure.stops), **spark_stats}
    return ScoreResult(flags, evidence, timings, stats, ctx)


def write_flags_csv(flags: list[dict[str, Any]], path: Path) -> None:
    """Flags as CSV sorted by subject (diffable), top reasons as JSON in one column."""
    with path.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["subject", "score", "level", "cluster", "rules_version", "reasons"])
        for fl in sorted(flags, key=lambda x: x["subject"]):
            w.writerow([fl["subject"], fl["score"], fl["level"], fl.get("cluster") or "", fl["rules_version"],
                        json.dumps(fl["reasons"], sort_keys=True)])


def demo_step(store: StoreBackend, cfg: dict[str, Any], out_dir: Path) -> dict[str, str]:
    """DEMO_STEPS entry: score the demo store and write ``flags.csv`` beside it."""
    res = score_store(store, params_from_config(cfg))
    path = Path(out_dir) / "flags.csv"
    write_flags_csv(res.flags, path)
    return {"flags": str(path)}
