"""Per-actor bundles: what the rules read about one actor, cut out of a scoring context.

Rules are pure functions of (subject, :class:`~tracer.scoring.rules.Context`), and everything a rule
reads about a subject lies within the subject's *actor*: its actor cluster (every member, its links,
its compute), or the subject alone when it is in no cluster.  A :class:`Bundle` holds exactly that
part of a context -- the members' observations, listings, exposure entries, GPUs, rentals, payout
wallets, payment times and flows, the few graph edges rules walk (a subject's rentals and payments,
the payout edges into what it paid, the members' rentals and first fundings) -- as plain picklable
data.  :func:`context_of` turns it back into a small :class:`Context` on which the same rules give
the same evidence as on the whole one, so a distributed engine can score bundles on its executors
(:func:`tracer.scoring.spark_engine.score_rules`) while the answers stay the networkx engine's.
tests/test_bundles.py checks the equality on every subject of simulator and demo worlds.

What the rules read of the context, and where a bundle takes it from (keep in step with rules.py and
coordination.py): ``tg`` (``_gpu_path``: the subject's ``rented`` and ``paid`` edges and the
``payout_to`` edges into the wallets it paid; ``_activity``: members' ``rented`` edges;
``_structuring``: members' first fundings), ``listed``/``listed_label`` (members, payout wallets,
exposure sources), ``obs``/``gpus`` (members and the providers they rent from), ``rentals``,
``payouts``, ``exposure``, ``clusters``, ``compute`` (the actor), ``paid_times`` and ``flows`` (filled
from the graph when the context has none), and the run-wide ``catalog``, ``groups``, ``params``,
``symbols`` and ``dust`` (:class:`Shared`, sent once).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from graphs.build import FirstFunding, TracerGraph
from graphs.clusters import Clusters, Link
from graphs.compute import ComputeTotal, Rental
from graphs.exposure import Exposure, ExposureResult
from tracer.catalog import Catalog, CountryGroups
from tracer.scoring.rules import Context, Evidence, Params, _flows

Edge = tuple[str, str, dict[str, Any]]
V = TypeVar("V")


@dataclass(frozen=True)
class Shared:
    """What every bundle of one run reads alike (sent to executors once)."""

    catalog: Catalog
    groups: CountryGroups
    params: Params
    symbols: dict[str, str]
    dust: dict[str, int] | None


@dataclass
class Bundle:
    """One actor's part of a context: its subjects and what rules read about them (module docstring)."""

    actor: str
    subjects: list[str]
    edges: list[Edge] = field(default_factory=list)
    first_in: list[tuple[str, str, int | None, int, str, str]] = field(default_factory=list)
    listed: dict[str, list[str]] = field(default_factory=dict)
    listed_label: dict[str, str] = field(default_factory=dict)
    obs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    incoming: dict[str, Exposure] = field(default_factory=dict)
    passive: dict[str, Exposure] = field(default_factory=dict)
    outgoing: dict[str, Exposure] = field(default_factory=dict)
    cluster: tuple[str, list[str], list[Link]] | None = None
    compute: dict[str, ComputeTotal] = field(default_factory=dict)
    gpus: dict[str, list[tuple[str, str, tuple[str, ...]]]] = field(default_factory=dict)
    payouts: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    rentals: dict[str, list[Rental]] = field(default_factory=dict)
    paid_times: dict[str, list[int]] = field(default_factory=dict)
    flows: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)


def shared_of(ctx: Context) -> Shared:
    """The run-wide part of a context."""
    return Shared(ctx.catalog, ctx.groups, ctx.params, dict(ctx.symbols), None if ctx.dust is None else dict(ctx.dust))


def by_actor(ctx: Context, subjects: Iterable[str]) -> dict[str, list[str]]:
    """Subjects grouped by actor (cluster id, or the subject itself), each group in subject order."""
    out: dict[str, list[str]] = {}
    for s in subjects:
        out.setdefault(ctx.actor(s), []).append(s)
    return out


def _times_out(tg: TracerGraph, n: int | None) -> list[int]:
    """The known times of a wallet's payments out in ``tg`` (what ``_activity`` counts)."""
    if n is None:
        return []
    return [d["t"] for _, d in tg.out_edges(n, "paid") if d["t"]]


def bundle_of(ctx: Context, actor: str, subjects: list[str]) -> Bundle:
    """The part of ``ctx`` the rules read about ``subjects`` (all of actor ``actor``)."""
    tg = ctx.tg
    cid = ctx.clusters.cluster(subjects[0])
    members: list[str] = list(ctx.clusters.members.get(cid, [])) if cid is not None else []
    people = list(dict.fromkeys([*subjects, *members]))
    b = Bundle(actor, list(subjects))
    if cid is not None:
        b.cluster = (cid, members, list(ctx.clusters.links.get(cid, [])))
    if actor in ctx.compute:
        b.compute[actor] = ctx.compute[actor]

    # Graph edges: the subjects' rentals and payments (with the payout edges into what they paid),
    # every member's rentals; each node's out-edges in the whole graph's order.
    subj = set(subjects)
    payees_done: set[int] = set()
    for x in people:
        n = tg.get(x)
        b.paid_times[x] = list(ctx.paid_times.get(x, ())) if ctx.paid_times is not None else _times_out(tg, n)
        if n is None:
            continue
        kinds = ("rented", "paid") if x in subj else ("rented",)
        for v, d in tg.out_edges(n):
            if d["k"] not in kinds:
                continue
            b.edges.append((x, tg.ids[v], d))
            if d["k"] == "paid" and v not in payees_done:
                payees_done.add(v)
                b.edges.extend((tg.ids[u], tg.ids[v], pd) for u, pd in tg.in_edges(v, "payout_to"))
        ff = tg.first_in.get(n)
        if ff is not None:
            b.first_in.append((x, tg.ids[ff.src], ff.time, ff.amount, ff.asset, ff.fact))

    # The people's own facts, and the providers they rent from (a restricted place, what it offers).
    _take(ctx.gpus, b.gpus, people)
    _take(ctx.rentals, b.rentals, people)
    _take(ctx.payouts, b.payouts, people)
    _take(ctx.obs, b.obs, people)
    providers = sorted({r.provider for x in people for r in ctx.rentals.get(x, ()) if r.provider})
    _take(ctx.gpus, b.gpus, providers)
    _take(ctx.obs, b.obs, providers)

    # Wallets whose listing and exposure count: the people and providers' payout wallets.
    wallets = list(dict.fromkeys([*people, *(w for x in people for w, _ in ctx.payouts.get(x, ()))]))
    exp = ctx.exposure
    sources: set[str] = set()
    for w in wallets:
        for src_map, dst_map in ((exp.incoming, b.incoming), (exp.passive, b.passive), (exp.outgoing, b.outgoing)):
            e = src_map.get(w)
            if e is not None:
                dst_map[w] = e
                sources.add(e.source)
        if w in exp.incoming or w in exp.passive:
            b.flows[(w, "in")] = _flows(ctx, w, "in")
        if w in exp.outgoing:
            b.flows[(w, "out")] = _flows(ctx, w, "out")
    for w in [*wallets, *sorted(sources)]:
        if w in ctx.listed:
            b.listed[w] = ctx.listed[w]
        if w in ctx.listed_label:
            b.listed_label[w] = ctx.listed_label[w]
    return b


def _take(src: Mapping[str, V], dst: dict[str, V], keys: Iterable[str]) -> None:
    for k in keys:
        if k in src:
            dst[k] = src[k]


def bundles(ctx: Context, subjects: Iterable[str]) -> Iterator[Bundle]:
    """One bundle per actor of ``subjects``, in the order of each actor's first subject."""
    for actor, subs in by_actor(ctx, subjects).items():
        yield bundle_of(ctx, actor, subs)


def context_of(b: Bundle, shared: Shared) -> Context:
    """A bundle as a :class:`Context` the unchanged rules read (module docstring)."""
    tg = TracerGraph()
    for a, c, d in b.edges:
        tg._add(tg.node(a), tg.node(c), dict(d))
    tg._touched()
    for w, src, t, amount, asset, fact in b.first_in:
        tg.first_in[tg.node(w)] = FirstFunding(tg.node(src), t, amount, asset, fact)
    if b.cluster is not None:
        cid, members, links = b.cluster
        clusters = Clusters({m: cid for m in members}, {cid: members}, {cid: links})
    else:
        clusters = Clusters({}, {}, {})
    exposure = ExposureResult(incoming=b.incoming, outgoing=b.outgoing, passive=b.passive)
    return Context(tg, {}, b.listed, b.listed_label, b.obs, exposure, clusters, b.compute, b.gpus, b.payouts,
                   shared.catalog, shared.groups, shared.params, rentals=b.rentals, symbols=shared.symbols,
                   dust=shared.dust, paid_times=b.paid_times, flows=b.flows)


Scored = tuple[str, float, str, list[Evidence]]


def score_bundle(b: Bundle, shared: Shared) -> list[Scored]:
    """Every rule on each of the bundle's subjects, combined: (subject, score, level, evidence)."""
    from tracer.scoring.run import score_subject

    ctx = context_of(b, shared)
    return [(s, *score_subject(s, ctx)) for s in b.subjects]
