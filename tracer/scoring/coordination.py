"""Concealment of controlled capacity, per actor cluster (the work behind the ``concealment`` rule).

A cluster conceals controlled capacity when wallets in it are tied by *coordination* links
(``graphs.clusters.COORDINATION``: common fresh funder, shared private manifest, synchronized first
rentals, third-party escrow) and those coordinated renters together rent export-controlled GPUs at
a scale: peak concurrent GPUs over overlapping leases (3A090.a/.b, weighted by TPP against the
H100 SXM, so 8 L4s weigh about one H100) or GPU-hours.  The capacity is computed once per cluster
(``Context.once``).

A restricted link (a listed member, a name match, material exposure, renting from a provider in a
restricted place) raises a member only when it is in the member's *attribution group*: the part of
the cluster the member reaches through links other than synchronized timing alone
(``Context.attribution_groups``).  Timing coincidence is the weakest coordination signal: it may say
that wallets act together (concealment, medium), not that one wallet's listing or exposure is
another's.  So the finding is computed once per (cluster, group); each member's evidence only adds its
own path to the group's anchor.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from connectors import facts, ids
from graphs.clusters import COORDINATION, Link
from graphs.compute import Rental, peak_concurrent
from tracer.scoring.rules import TIMING_ONLY, link_tree, restricted_locations, tree_path

if TYPE_CHECKING:
    from tracer.scoring.rules import Context

REFERENCE_GPU = "h100-sxm"  # capacity is counted in H100-equivalents by TPP (the 3A090 measure)
BASE, BASE_RESTRICTED, STEP_AT_ONCE, STEP_HOURS, MAX_BUMP = 0.45, 0.7, 0.04, 0.02, 0.15
MAX_LINK_REFS, MAX_PEAK_REFS = 60, 40


@dataclass(frozen=True)
class Concealment:
    """A cluster's concealment finding: score, text, facts, and where each member's path leads."""

    score: float
    detail: str
    refs: tuple[str, ...]
    anchor: str  # the member every subject's path leads to (restricted member, else the funder/peer)
    tail: tuple[str, ...]  # path on from the anchor to the restricted thing (empty without one)


@dataclass(frozen=True)
class Capacity:
    """A cluster's coordinated controlled capacity (once per cluster): what every member shares."""

    bump: float  # the rise over the base score by capacity and GPU-hours
    detail: str
    refs: tuple[str, ...]
    anchor: str  # the funder of a common-funder star, else a coordination link's end
    renters: tuple[str, ...]  # the coordinated renters


@dataclass(frozen=True)
class Restricted:
    """A restricted link: its text and facts, the member it is about, the path on from that member."""

    text: str
    refs: tuple[str, ...]
    member: str
    tail: tuple[str, ...]


def gpu_weight(ctx: Context, gid: str) -> float:
    """H100-equivalents of one GPU by TPP for 3A090.a/.b parts; 0 for uncontrolled or unknown GPUs."""
    g = ctx.catalog.get(gid)
    ref = ctx.catalog.get(REFERENCE_GPU)
    if g is None or ref is None or g.eccn_3a090 not in ("a", "b") or not ref.tpp:
        return 0.0
    return float(g.tpp) / float(ref.tpp)


def gpu_tpp(ctx: Context, gid: str) -> float:
    """The catalog TPP of a GPU (0 when unknown)."""
    g = ctx.catalog.get(gid)
    return float(g.tpp) if g is not None and g.tpp else 0.0


def cluster_capacity(cid: str, ctx: Context) -> Capacity | None:
    """The coordinated renters' controlled capacity, if it reaches a minimum (once per cluster)."""
    p = ctx.params
    links = [lk for lk in ctx.clusters.links.get(cid, []) if lk.heuristic in COORDINATION]
    if not links:
        return None
    coord = {x for lk in links for x in (lk.a, lk.b)}
    renters = sorted(w for w in coord if ctx.rentals.get(w))
    if len(renters) < p.concealment_min_wallets:
        return None
    used: list[Rental] = []
    rows = []
    hours = heq_hours = 0.0
    estimated = 0
    for w in renters:
        for r in ctx.rentals[w]:
            wt = gpu_weight(ctx, r.gpu)
            if wt <= 0:
                continue
            rows.append((r.start, r.end, r.units, wt, str(len(used)), r.gpu))
            used.append(r)
            hours += r.gpu_hours
            heq_hours += r.gpu_hours * wt
            estimated += r.estimated
    if not used:
        return None
    peak = peak_concurrent(rows)
    cap_ratio = peak.value / p.concealment_min_h100 if p.concealment_min_h100 > 0 else 0.0
    # Or a full training node: >= concealment_min_node_gpus GPUs at once at or above the 3A090 TPP line
    # (4800: the class of the 2022 rule, A100 and up), whatever their H100-equivalent weight.
    if p.concealment_min_node_gpus > 0:
        node_rows = [(a, b, u, 1.0, i, g) for a, b, u, _w, i, g in rows if gpu_tpp(ctx, g) >= p.concealment_node_tpp]
        if node_rows:
            cap_ratio = max(cap_ratio, peak_concurrent(node_rows).value / p.concealment_min_node_gpus)
    hour_ratio = heq_hours / p.concealment_min_gpu_hours if p.concealment_min_gpu_hours > 0 else 0.0
    if cap_ratio < 1 and hour_ratio < 1:
        return None
    bump = min(MAX_BUMP, STEP_AT_ONCE * math.log2(max(1.0, cap_ratio)) + STEP_HOURS * math.log2(max(1.0, hour_ratio)))

    heur = Counter(lk.heuristic for lk in links)
    how = ", ".join(f"{h} x{n}" for h, n in sorted(heur.items()))
    at = datetime.fromtimestamp(peak.at, UTC).strftime("%Y-%m-%d %H:%M UTC") if peak.at is not None else "?"
    mix = ", ".join(f"{n}x {g}" for g, n in sorted(peak.by_gpu.items()))
    detail = (f"{len(renters)} wallets acting as one ({how}) rent up to {peak.units} controlled GPUs at once "
              f"({mix or 'no known lease times'}; {peak.value:.1f} H100-equivalents by TPP, {at}) and "
              f"{hours:,.0f} controlled GPU-hours ({heq_hours:,.0f} H100-equivalent)")
    if estimated:
        detail += (f"; {estimated} rental(s) estimated from payments to a provider's payee (each payment taken "
                   f"to settle the provider's offered GPUs, an upper bound, since the requestor's previous "
                   f"payment to that payee within {p.payment_max_window_days:g} days, else over the "
                   f"{p.payment_window_hours:g} h before it)")
    link_refs = list(dict.fromkeys(r for lk in links for r in lk.refs))[:MAX_LINK_REFS]
    peak_refs = [f for i in peak.refs[:MAX_PEAK_REFS] for f in used[int(i)].refs]
    return Capacity(bump, detail, tuple(link_refs + peak_refs), _default_anchor(links), tuple(renters))


def subject_concealment(cid: str, subject: str, ctx: Context) -> Concealment | None:
    """The concealment finding for ``subject``: the cluster's capacity, raised by a restricted link
    only when that link is in the subject's attribution group (once per cluster and group)."""
    cap: Capacity | None = ctx.once(("concealment", cid), lambda: cluster_capacity(cid, ctx))
    if cap is None:
        return None
    group = ctx.attribution_groups(cid).get(subject, subject)
    return ctx.once(("concealment_group", cid, group),  # type: ignore[no-any-return]
                    lambda: _group_concealment(cid, group, cap, ctx))


def _group_concealment(cid: str, group: str, cap: Capacity, ctx: Context) -> Concealment:
    found: dict[str, Restricted] = ctx.once(("restricted", cid),
                                            lambda: _restricted_links(cid, list(cap.renters), ctx))
    own = found.get(group)
    if own is not None:
        return Concealment(round(BASE_RESTRICTED + cap.bump, 4), f"{cap.detail}; restricted link: {own.text}",
                           cap.refs + own.refs, own.member, own.tail)
    other = next(iter(found.values()), None)  # the strongest, from another group (own is None)
    note = (f"; {other.text}, linked only by synchronized timing: not counted" if other is not None
            else "; no restricted link found in the cluster")
    return Concealment(round(BASE + cap.bump, 4), cap.detail + note, cap.refs, cap.anchor, ())


def _default_anchor(links: list[Link]) -> str:
    """The funder of a common-funder star (its hub), else the first coordination link's end."""
    for lk in links:
        if lk.heuristic == "common_funder":
            return lk.b
    return min(links, key=lambda lk: (lk.heuristic, lk.a, lk.b)).a


def _restricted_links(cid: str, renters: list[str], ctx: Context) -> dict[str, Restricted]:
    """The strongest restricted link of each attribution group of the cluster: group -> link, in the
    order found, the strongest kind first (a listed member, a name match, exposure, a renter renting from a provider
    in a restricted place).  One pass per kind over the members: linear in the cluster."""
    p = ctx.params
    members = ctx.clusters.members.get(cid, [])
    groups = ctx.attribution_groups(cid)
    found: dict[str, Restricted] = {}

    def add(m: str, r: Restricted) -> None:
        found.setdefault(groups.get(m, m), r)

    for m in members:
        if m in ctx.listed:
            add(m, Restricted(f"listed wallet {m} ({ctx.listed_label.get(m, 'listed')})", tuple(ctx.listed[m]), m, ()))
    for m in members:
        if groups.get(m, m) in found:
            continue
        for o in ctx.obs.get(m, []):
            if o["predicate"] != "name_match":
                continue
            nm = facts.name_match(o["value"], o.get("confidence"), o["attrs"])
            if nm.score >= p.name_match_min:
                add(m, Restricted(f"{m} matches listed party {nm.entity} at {nm.score:.2f}", (o["id"],), m,
                                  (nm.entity,)))
                break
    for m in members:
        if groups.get(m, m) in found:
            continue
        for e, how in ((ctx.exposure.incoming.get(m), "of inflow from"), (ctx.exposure.outgoing.get(m), "paid to")):
            if e is not None and float(e.share) >= p.concealment_exposure_share:
                tail = tuple(x for x in reversed(e.path) if x != m)
                add(m, Restricted(f"{m}: {float(e.share):.1%} {how} listed {e.source}, {e.hop} hop(s)",
                                  e.refs + tuple(ctx.listed.get(e.source, [])), m, tail))
                break
    seen: dict[str, tuple[str, str, str] | None] = {}
    for w in renters:
        if groups.get(w, w) in found:
            continue
        for r in ctx.rentals.get(w, []):
            if not r.provider or gpu_weight(ctx, r.gpu) <= 0:
                continue
            if r.provider not in seen:
                seen[r.provider] = _restricted_place(r.provider, ctx)
            place = seen[r.provider]
            if place is not None:
                text, oid, iso = place
                via = (r.lease,) if ids.kind_of(r.lease) == "lease" else ()  # Golem: a payment, no lease
                add(w, Restricted(f"{w} rents {r.gpu} from {r.provider}, {text}", (*r.refs, oid), w,
                                  (*via, r.provider, ids.jurisdiction(iso))))
                break
    return found


def _restricted_place(provider: str, ctx: Context) -> tuple[str, str, str] | None:
    """A provider located in D:1/D:4/D:5/Macau that offers controlled GPUs: (text, observation, ISO2)."""
    if not any(gpu_weight(ctx, g) > 0 for g, rel, _ in ctx.gpus.get(provider, []) if rel == "offers"):
        return None
    best: tuple[float, str, str, str] | None = None
    for o, group, gw, layer, lw in restricted_locations(provider, ctx):
        w = gw * lw
        if best is None or w > best[0]:
            best = (w, f"{layer} location {o['value']} in {group}, offering controlled GPUs", o["id"], str(o["value"]))
    return None if best is None else best[1:]


def subject_path(ctx: Context, cid: str, subject: str, c: Concealment) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The subject's chain of clustering links to the finding's anchor, then on to the restricted
    thing.  The chain avoids timing-only links where it can (to a restricted member it always can:
    that is why the member counts).  BFS trees from the anchor are built once per cluster, so each
    member's path is O(depth)."""
    tree = link_tree(ctx, cid, c.anchor, TIMING_ONLY)
    if subject not in tree:
        tree = link_tree(ctx, cid, c.anchor)
    if subject not in tree:  # not connected to the anchor (cannot happen inside one cluster)
        return (subject,), ()
    nodes, refs = tree_path(tree, subject)
    return nodes + c.tail, refs
