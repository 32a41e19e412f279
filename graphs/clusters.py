"""Actor clusters on account-based chains: wallets (and providers) one actor controls.

Each heuristic emits :class:`Link` objects saying which heuristic joined two nodes, how strongly and
on which stored facts.  Hubs (tagged exchanges, bridges, mixers, very high-degree nodes) are cut
first: being funded by Binance is not evidence of a common owner.  Clusters are the connected
components of the links at or above a strength threshold.
"""

from __future__ import annotations

import hashlib
import math
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connectors import ids
from graphs.build import FirstFunding, TracerGraph, _rows

HUB_CATEGORIES = ("exchange", "bridge", "mixer", "service")
DEFAULT_MAX_DEGREE = 1000
DEFAULT_MAX_STAR = 100
DEFAULT_FRESH_S = 14 * 86400  # a wallet is fresh at an act when nothing it did is older than this before it
DEFAULT_SYNC_WINDOW_S = 3600  # synchronized first rentals start within this window of each other
DEFAULT_SYNC_MIN_GROUP = 3
SYNC_MIN_WINDOW_S = 300  # a group's own spread, below this, is judged as if it were 5 minutes
DEFAULT_SYNC_ALPHA = 0.01  # chance of seeing such a group among the background renters, all windows counted
DEFAULT_MANIFEST_WINDOW_S = 2 * 86400  # a private manifest's owners first deploy it within this window
DEFAULT_PAYROLL_MIN_PAYMENTS = 3
DEFAULT_MAX_BURSTS = 3  # a funder first-funding fresh wallets in more windows than this is a service
DEFAULT_FUNDING_WINDOW_S = 7 * 86400  # a star's first fundings fall within this window of its first one
DEFAULT_FLEET_MIN_OWNERS = 3  # a private manifest told by its owners' behaviour alone needs this many
DEFAULT_FLEET_ALPHA = 0.01  # chance that independent adopters' first deployments are that compact

# Strength of each heuristic (0..1); clusters use links >= DEFAULT_THRESHOLD.
STRENGTH = {
    "payout_to": 0.9,
    "shared_payout": 0.9,
    "deposit_reuse": 0.8,
    "escrow_third_party": 0.75,
    "common_funder": 0.7,
    "payroll": 0.6,
    "manifest_hash": 0.6,
    "sync_rentals": 0.6,
}
DEFAULT_THRESHOLD = 0.5
# Heuristics that say wallets *hide* being one actor (what scoring's concealment rule counts); the
# others (payout wallets, deposit addresses, payroll cadence) say one actor without hiding it.
COORDINATION = ("common_funder", "manifest_hash", "sync_rentals", "escrow_third_party")


def known(t: Any) -> bool:
    """A usable edge time: None is unknown (a height-only fact the block clock could not place); 0 is
    how graphs built before times were estimated spelled unknown."""
    return t is not None and t > 0


def earliest_activity(tg: TracerGraph, n: int) -> int | None:
    """The earliest known time of any stored fact on node ``n`` (derived edges excluded)."""
    best: int | None = None
    for edges in (tg.g.out_edges(n, data=True), tg.g.in_edges(n, data=True)):
        for _, _, d in edges:
            t = d["t"]
            if known(t) and d["k"] not in ("funded_by", "same_actor") and (best is None or t < best):
                best = t
    return best


def is_fresh(tg: TracerGraph, n: int, at: int, fresh_s: int = DEFAULT_FRESH_S) -> bool:
    """No known fact on the wallet is older than ``fresh_s`` before ``at`` (unknown times don't count)."""
    e = earliest_activity(tg, n)
    return e is None or e >= at - fresh_s


@dataclass(frozen=True)
class Hub:
    """Why a node is a hub (walks and clustering stop there): a tag or its degree."""

    node: str
    reason: str
    ref: str | None = None


@dataclass(frozen=True)
class Link:
    """Two nodes judged to be one actor by ``heuristic`` with ``strength``, on facts ``refs``."""

    a: str
    b: str
    heuristic: str
    strength: float
    refs: tuple[str, ...]
    detail: str = ""


def find_hubs(tg: TracerGraph, tags: Iterable[tuple[str, str, str, str]] = (),
              max_degree: int = DEFAULT_MAX_DEGREE,
              categories: Iterable[str] = HUB_CATEGORIES, *, behaviour: bool = True,
              never: Iterable[str] = (), **behaviour_params: Any) -> dict[int, Hub]:
    """Hubs from ``tags`` rows (subject, category, label, observation id), node degree and behaviour.

    Tags win, then degree > ``max_degree``; then, if ``behaviour``, wallets that act like an
    exchange without a tag (:func:`graphs.hubs.behavioural_hubs`, which gets ``behaviour_params``:
    ``dust``, ``min_counterparties``, ...).  Wallets in ``never`` (the listed ones) are never made
    hubs by behaviour.
    """
    cats = set(categories)
    hubs: dict[int, Hub] = {}
    for subject, category, label, oid in tags:
        n = tg.get(subject)
        if n is not None and category in cats:
            hubs[n] = Hub(subject, f"tagged {category}: {label}", oid)
    if max_degree > 0:
        for n, d in tg.g.degree():
            if d > max_degree and n not in hubs and tg.kind(n) == "wallet":
                hubs[n] = Hub(tg.ids[n], f"degree {d} > {max_degree}")
    if behaviour:
        from graphs.hubs import behavioural_hubs  # graphs.hubs imports Hub from here

        hubs.update(behavioural_hubs(tg, hubs, never, **behaviour_params))
    return hubs


def bursts(times: Iterable[int], window_s: int) -> list[list[int]]:
    """Times (sorted) grouped into bursts: each burst holds the times within ``window_s`` of its first
    one -- not chained gap by gap, so a steady trickle over months is many bursts, not one."""
    groups: list[list[int]] = []
    for t in sorted(times):
        if not groups or t - groups[-1][0] > window_s:
            groups.append([])
        groups[-1].append(t)
    return groups


def common_funder_links(tg: TracerGraph, hubs: Mapping[int, Hub], window_s: int = DEFAULT_FUNDING_WINDOW_S,
                        min_group: int = 3, max_star: int = DEFAULT_MAX_STAR,
                        payroll_min_payments: int = DEFAULT_PAYROLL_MIN_PAYMENTS,
                        max_bursts: int = DEFAULT_MAX_BURSTS) -> list[Link]:
    """Fresh wallets first funded by one (non-hub) wallet within ``window_s`` of each other.

    A funder that first-funds more than ``max_star`` wallets behaves like an untagged exchange or
    faucet and is skipped (a Sybil farm that large needs other evidence, e.g. a tag).  A star's
    fundings all fall within ``window_s`` of its first one; a funder whose fresh first fundings fall
    in more than ``max_bursts`` (3) such windows keeps onboarding wallets over months -- a service
    (an untagged exchange, a faucet, a shop), not a burst -- and is skipped too.  Fresh: no
    payment with a known time left the wallet before its first funding (unknown times, e.g. Akash
    escrow deposits known only by height, do not count).  A group most of whose wallets the funder
    pays again and again on a regular cadence (:func:`regular_cadence`) is a payroll or treasury:
    its links are ``payroll`` (one organisation, same strength class) instead of ``common_funder``.
    A provider's payout wallet is not funded but paid: its first inflow is a customer's payment for
    compute, so a renter paying several providers first is not their common funder.
    """
    payees = tg.payees
    by_funder: dict[int, list[tuple[int, int, str]]] = defaultdict(list)
    for w, ff in tg.first_in.items():
        if ff.src in hubs or w in hubs or w in payees or tg.kind(w) != "wallet" or not known(ff.time):
            continue
        t0: int = ff.time  # type: ignore[assignment]  # known() checked
        # Fresh: nothing left the wallet before its first funding arrived.
        if any(d["k"] == "paid" and known(d["t"]) and d["t"] < t0 for _, d in tg.out_edges(w)):
            continue
        by_funder[ff.src].append((t0, w, ff.fact))
    links: list[Link] = []
    for funder, funded in by_funder.items():
        if not min_group <= len(funded) <= max_star:
            continue
        funded.sort()
        # One star = first fundings within window_s of the star's first (not chained gap by gap: a
        # funder paying a new wallet every few days for months is a service, not one burst).
        groups: list[list[tuple[int, int, str]]] = [[funded[0]]]
        for item in funded[1:]:
            if item[0] - groups[-1][0][0] > window_s:
                groups.append([])
            groups[-1].append(item)
        if len(groups) > max_bursts:  # first-funds new wallets burst after burst: a service, not a star
            continue
        pay_times: dict[int, list[int]] | None = None
        for group in groups:
            if len(group) < min_group:
                continue
            if pay_times is None:
                pay_times = defaultdict(list)
                for v, d in tg.out_edges(funder, "paid"):
                    if known(d["t"]):
                        pay_times[v].append(d["t"])
            regular = [w for _t, w, _f in group if regular_cadence(pay_times.get(w, []), payroll_min_payments)]
            if 2 * len(regular) >= len(group):
                for _t, w, fact in group:
                    links.append(Link(tg.ids[w], tg.ids[funder], "payroll", STRENGTH["payroll"], (fact,),
                                      f"one of {len(group)} wallets the same wallet pays on a regular cadence "
                                      f"({len(regular)} paid >= {payroll_min_payments} times at even intervals): "
                                      "payroll or treasury, one organisation not hiding it"))
                continue
            for _t, w, fact in group:
                links.append(Link(tg.ids[w], tg.ids[funder], "common_funder", STRENGTH["common_funder"],
                                  (fact,), f"one of {len(group)} fresh wallets funded within "
                                  f"{window_s // 3600} h by the same wallet"))
    return links


def regular_cadence(times: Iterable[int], min_payments: int = DEFAULT_PAYROLL_MIN_PAYMENTS,
                    min_interval_s: int = 86400, tolerance: float = 0.35) -> bool:
    """Payments at even intervals: >= ``min_payments``, median interval >= a day, every interval
    within ``tolerance`` (35 %) of the median -- how salaries and allowances look, not a Sybil top-up."""
    ts = sorted(times)
    if len(ts) < max(2, min_payments):
        return False
    gaps = sorted(b - a for a, b in zip(ts, ts[1:], strict=False))
    med = gaps[len(gaps) // 2]
    return med >= min_interval_s and all(abs(g - med) <= tolerance * med for g in gaps)


def deposit_reuse_links(tg: TracerGraph, hubs: Mapping[int, Hub], exchange_reason: str = "exchange",
                        max_senders: int = 50, min_forward_share: float = 0.9) -> list[Link]:
    """Wallets sending to the same exchange deposit address (one that forwards to an exchange)."""
    links: list[Link] = []
    seen: set[int] = set()
    for h, hub in hubs.items():
        if exchange_reason not in hub.reason:
            continue
        for d, _ in tg.in_edges(h, "paid"):
            if d in hubs or d in seen:
                continue
            seen.add(d)
            outs = [(v, e) for v, e in tg.out_edges(d, "paid")]
            to_ex = sum(1 for v, _ in outs if v in hubs and exchange_reason in hubs[v].reason)
            if not outs or to_ex / len(outs) < min_forward_share:
                continue
            senders: dict[int, str] = {}
            for s, e in tg.in_edges(d, "paid"):
                if s not in hubs:
                    senders.setdefault(s, e["f"])
            if not 2 <= len(senders) <= max_senders:
                continue
            for s, fact in senders.items():
                links.append(Link(tg.ids[s], tg.ids[d], "deposit_reuse", STRENGTH["deposit_reuse"], (fact,),
                                  f"sends to deposit address shared by {len(senders)} wallets, which "
                                  f"forwards to {hub.node}"))
    return links


def escrow_third_party_links(tg: TracerGraph, hubs: Mapping[int, Hub]) -> list[Link]:
    """A wallet paying the escrow of someone else's lease/deployment (authz-style funding)."""
    links: list[Link] = []
    for n, k in tg.g.nodes(data="k"):
        if k not in ("lease", "deployment"):
            continue
        renters = {u: d["f"] for u, d in tg.in_edges(n, "rented")}
        if not renters and k == "deployment":
            nid = tg.parsed(n)
            owner = nid.owner_wallet if nid is not None else None
            o = tg.get(owner) if owner else None
            if o is not None:
                renters[o] = tg.ids[n]
        for p, d in tg.in_edges(n, "paid"):
            if p in hubs or p in renters:
                continue
            for r, rfact in renters.items():
                links.append(Link(tg.ids[p], tg.ids[r], "escrow_third_party", STRENGTH["escrow_third_party"],
                                  (d["f"], rfact), f"paid escrow of {tg.ids[n]} rented by another wallet"))
    return links


def payout_links(tg: TracerGraph, hubs: Mapping[int, Hub]) -> list[Link]:
    """A provider and its payout wallets; providers sharing a payout wallet join through it."""
    links: list[Link] = []
    by_wallet: dict[int, list[int]] = defaultdict(list)
    for n, k in tg.g.nodes(data="k"):
        if k != "provider":
            continue
        for w, d in tg.out_edges(n, "payout_to"):
            if w in hubs:
                continue
            by_wallet[w].append(n)
            links.append(Link(tg.ids[n], tg.ids[w], "payout_to", STRENGTH["payout_to"], (d["f"],),
                              "provider pays out to this wallet"))
    for w, provs in by_wallet.items():
        if len(provs) > 1:
            for p in provs[1:]:
                links.append(Link(tg.ids[provs[0]], tg.ids[p], "shared_payout", STRENGTH["shared_payout"],
                                  (), f"providers share payout wallet {tg.ids[w]}"))
    return links


def deployment_time(tg: TracerGraph, dep_id: str, owner: int | None) -> int | None:
    """When a deployment started: the earliest known time of a rental or escrow deposit into it, or of
    the owner's rental of one of its leases (a lease whose id names the deployment)."""
    times: list[int] = []
    n = tg.get(dep_id)
    if n is not None:
        times += [d["t"] for _, d in tg.in_edges(n) if d["k"] in ("rented", "paid") and known(d["t"])]
    if owner is not None:
        times += [d["t"] for v, d in tg.out_edges(owner, "rented")
                  if known(d["t"]) and _lease_deployment(tg, v) == dep_id]
    return min(times) if times else None


def _lease_deployment(tg: TracerGraph, v: int) -> str | None:
    """The deployment id a lease node's id names (``lease:<chain>:<owner>/<dseq>/...`` ->
    ``deployment:<chain>:<owner>/<dseq>``); None for other nodes."""
    nid = tg.parsed(v)
    return nid.deployment if nid is not None and nid.kind == "lease" else None


def range_chance(k: int, ratio: float) -> float:
    """P(the range of k independent uniform times on [0, T] is <= ratio x T): how likely k unrelated
    adopters spread over a life T would all start within ``ratio`` of it."""
    if k < 2 or ratio >= 1:
        return 1.0
    r = max(0.0, ratio)
    return k * r ** (k - 1) - (k - 1) * r ** k


def manifest_links(deployments: object, tg: TracerGraph | None = None, hubs: Mapping[int, Hub] | None = None,
                   window_s: int = DEFAULT_MANIFEST_WINDOW_S, fresh_s: int = DEFAULT_FRESH_S,
                   max_owners: int | None = None, funding_window_s: int = DEFAULT_FUNDING_WINDOW_S,
                   max_bursts: int = DEFAULT_MAX_BURSTS, max_star: int = DEFAULT_MAX_STAR,
                   fleet_min_owners: int = DEFAULT_FLEET_MIN_OWNERS,
                   fleet_alpha: float = DEFAULT_FLEET_ALPHA,
                   fundings: Iterable[FirstFunding] | None = None) -> list[Link]:
    """Owners deploying the identical manifest hash (rows: deployment id, owner wallet id, hash), when
    the owners' behaviour says the manifest is private rather than a public template.

    Not an owner count: a hash is *private* when its owners act as one --

    1. **one funder**: most of them (at least half, at least 2) first funded by one non-hub wallet
       that is not a service (it first-funds at most ``max_star`` wallets, in at most ``max_bursts``
       bursts of ``funding_window_s`` -- the judgement :func:`common_funder_links` makes: an
       untagged exchange or faucet onboards wallets burst after burst, week after week) and most
       of whose first-funded wallets they are;
    2. **a fresh burst**: every owner's first deployment of it within ``window_s`` (2 days) of the
       others while most owners are fresh (nothing they did is older than ``fresh_s`` before it);
    3. **a fleet** (at least ``fleet_min_owners``, 3): the owners' adoption is compact for the hash's
       life and their number -- if k unrelated owners adopted it independently at any time over its
       observed life T (first deployment to the last known end of one of its leases), the chance
       that all k would start within the spread actually seen is <= ``fleet_alpha`` (0.01; the
       chance of k uniform times having a range <= s/T, :func:`range_chance`) -- *and* their
       deployments of it all run at the same time (one moment when every owner's is active; lease
       ends must be known) -- *and* each owner does nothing else on the market (every deployment and
       lease it has is of this hash).  A template's users come and go over its life, each on its
       own schedule, and have their own other deployments.

    A *template* is used by unrelated owners: different funders (or a service funding many), first
    deployments spread over its life, not running as one fleet, wallets with their own history.
    Without the graph (no times, no funders) nothing is known about the owners and no link is made.
    ``max_owners`` is an optional hard cap (default none).  ``fundings``: the first fundings a funder's
    count and bursts are judged on (default ``tg.first_in``; an engine whose ``tg`` holds only the
    owners' part of the graph passes every first funding made by the owners' first funders).
    """
    if tg is None:
        return []
    hub_set = hubs or {}
    funded_times: dict[int, list[int]] = defaultdict(list)
    first_funded: Counter[int] = Counter()
    for ffd in (tg.first_in.values() if fundings is None else fundings):
        first_funded[ffd.src] += 1
        if known(ffd.time):
            funded_times[ffd.src].append(ffd.time)  # type: ignore[arg-type]  # known() checked
    service: dict[int, bool] = {}

    def is_service(f: int) -> bool:
        if f not in service:
            service[f] = (first_funded[f] > max_star
                          or len(bursts(funded_times.get(f, []), funding_window_s)) > max_bursts)
        return service[f]

    out: list[Link] = []
    for h, owners in shared_manifests(deployments, max_owners):
        judged: list[ManifestOwner] = []
        for o, deps, only in owners:
            n = tg.get(o)
            ts = [t for dep in deps if (t := deployment_time(tg, dep, n)) is not None]
            start = min(ts) if ts else None
            end, own = _deployments_end(tg, n, set(deps))
            ff = tg.first_in.get(n) if n is not None else None
            funder = ff.src if ff is not None and ff.src not in hub_set else None
            judged.append(ManifestOwner(
                o, tuple(deps), start, start is not None and (n is None or is_fresh(tg, n, start, fresh_s)), end,
                own and only, None if funder is None else tg.ids[funder],
                0 if funder is None else first_funded[funder], funder is not None and is_service(funder)))
        out += manifest_hash_links(h, judged, window_s, fleet_min_owners, fleet_alpha)
    return out


def shared_manifests(deployments: object, max_owners: int | None = None
                     ) -> list[tuple[str, list[tuple[str, list[str], bool]]]]:
    """The deployment rows (id, owner, hash) grouped as :func:`manifest_links` judges them: each hash
    two owners or more deploy (at most ``max_owners``), in the order of its first row, with its owners
    sorted by id, each with its deployments of it (sorted) and whether it deploys no other hash (nor
    a deployment without one).  Pure, so both engines group the rows by the same code."""
    by_hash: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    hashes_of: dict[str, set[str]] = defaultdict(set)
    for dep, owner, h in _rows(deployments, ("id", "owner", "hash")):
        if owner:
            hashes_of[str(owner)].add(str(h) if h else "")
        if h and owner:
            by_hash[str(h)][str(owner)].append(str(dep))
    return [(h, [(o, deps, hashes_of[o] == {h}) for o, deps in sorted((o, sorted(ds)) for o, ds in owners.items())])
            for h, owners in by_hash.items() if len(owners) >= 2 and (max_owners is None or len(owners) <= max_owners)]


@dataclass(frozen=True)
class ManifestOwner:
    """One owner of a shared manifest hash as :func:`manifest_hash_links` judges it: what each engine
    (networkx here, Spark in :mod:`graphs.spark.market_links`) aggregates per (hash, owner)."""

    owner: str  # its store id
    deps: tuple[str, ...]  # its deployments of the hash, sorted
    start: int | None  # its first deployment of the hash (:func:`deployment_time`), None if unknown
    fresh: bool  # started while fresh (:func:`is_fresh`; an owner that is no node is fresh); False without start
    end: int | None  # when its deployments of the hash last ran (:func:`_deployments_end`), None if unknown
    exclusive: bool  # every lease it rents is of these deployments and it deploys no other hash
    funder: str | None  # its first funder's store id, unless none or a hub
    funder_funded: int  # how many first fundings that funder made (0 without funder)
    funder_service: bool  # that funder onboards wallets like a service (too many, or in too many bursts)


def manifest_hash_links(h: str, owners: Sequence[ManifestOwner], window_s: int = DEFAULT_MANIFEST_WINDOW_S,
                        fleet_min_owners: int = DEFAULT_FLEET_MIN_OWNERS,
                        fleet_alpha: float = DEFAULT_FLEET_ALPHA) -> list[Link]:
    """The judgement of :func:`manifest_links` on one hash shared by ``owners`` (sorted by id): one
    funder, a fresh burst or a fleet -- links from the first owner to each other, or none.  Pure, so
    the networkx and Spark engines decide by the same code on their own aggregates."""
    starts = [r.start for r in owners if r.start is not None]
    ends = [r.end for r in owners]
    fresh = sum(1 for r in owners if r.start is not None and r.fresh)
    exclusive = all(r.exclusive for r in owners)
    funders: Counter[str] = Counter(r.funder for r in owners if r.funder is not None)
    judged = {r.funder: (r.funder_funded, r.funder_service) for r in owners if r.funder is not None}
    half = max(2, math.ceil(len(owners) / 2))
    top = funders.most_common(1)
    # A common funder counts when it is no service and the wallets it first-funded are mostly
    # these owners: an (untagged) exchange funds many customers, of whom a template's users are a few.
    common = (bool(top) and top[0][1] >= half and 2 * top[0][1] >= judged[top[0][0]][0]
              and not judged[top[0][0]][1])
    span = max(starts) - min(starts) if len(starts) >= 2 else None
    tight = span is not None and len(starts) >= half and span <= window_s and 2 * fresh >= len(starts)
    fleet_p: float | None = None
    if not (common or tight) and exclusive and span is not None and len(owners) >= fleet_min_owners \
            and len(starts) == len(owners) and all(e is not None for e in ends):
        known_ends = [e for e in ends if e is not None]
        life = max(known_ends) - min(starts)
        if max(starts) < min(known_ends) and life > 0:  # all running at once
            p = range_chance(len(starts), span / life)
            fleet_p = p if p <= fleet_alpha else None
    if not (common or tight or fleet_p is not None):
        return []
    if common:
        why = f"mostly first funded by {top[0][0]}"
    elif tight:
        why = f"first deployed within {(span or 0) / 3600:.1f} h by fresh wallets"
    else:
        why = (f"a fleet: first deployed within {(span or 0) / 86400:.1f} days of a "
               f"{(max(e for e in ends if e is not None) - min(starts)) / 86400:.0f}-day life (chance for "
               f"unrelated owners ~{fleet_p:.1g}), all running at once, owners deploying nothing else")
    first = owners[0]
    return [Link(first.owner, r.owner, "manifest_hash", STRENGTH["manifest_hash"], (first.deps[0], r.deps[0]),
                 f"identical private deployment manifest {h[:16]} across {len(owners)} owners, {why}")
            for r in owners[1:]]


def _deployments_end(tg: TracerGraph, owner: int | None, deps: set[str]) -> tuple[int | None, bool]:
    """When the owner's deployments ``deps`` last ran (the latest end of their leases: rental time +
    ``uses_gpu`` hours; None if a lease's end is unknown or there is none) and whether every lease
    the owner rents belongs to ``deps``."""
    if owner is None:
        return None, False
    end: int | None = None
    unknown = False
    own = True
    seen = False
    for v, d in tg.out_edges(owner, "rented"):
        if (_lease_deployment(tg, v) or tg.ids[v]) not in deps:  # a lease's deployment, or a deployment
            own = False
            continue
        seen = True
        hours = [float(u["h"]) for _, u in tg.out_edges(v, "uses_gpu") if u.get("h")]
        if not known(d["t"]) or not hours:
            unknown = True
            continue
        e = int(d["t"] + max(hours) * 3600)
        end = e if end is None or e > end else end
    return (None if unknown or not seen else end), own


def poisson_tail(mu: float, k: int) -> float:
    """P(X >= k) for X ~ Poisson(mu), summed term by term (exact enough for tiny tails)."""
    if k <= 0:
        return 1.0
    if mu <= 0:
        return 0.0
    total, i = 0.0, k
    while True:
        term = math.exp(-mu + i * math.log(mu) - math.lgamma(i + 1))
        total += term
        i += 1
        if (term < 1e-18 * total and i > mu) or i > k + 10_000:
            return min(1.0, total)


def sync_rental_links(tg: TracerGraph, hubs: Mapping[int, Hub], controlled: Collection[str],
                      window_s: int = DEFAULT_SYNC_WINDOW_S, min_group: int = DEFAULT_SYNC_MIN_GROUP,
                      fresh_s: int | None = None, alpha: float = DEFAULT_SYNC_ALPHA) -> list[Link]:
    """Wallets whose first rentals, on controlled GPUs (ids in ``controlled``), start within
    ``window_s`` (1 h) of each other.  A wallet without leases rents by paying a provider's payee
    (Golem): its first payment to the payee of a provider offering controlled GPUs is its first rental.

    Freshness is not required (``fresh_s`` None; pass seconds to require it): what is synchronized is
    each wallet's *first* rental, whenever the wallet was funded -- an operator funding wallets over
    weeks and starting them together is as coordinated as one funding them that morning, and a new
    wallet is no less likely than an old one to start by coincidence.  The chance test below is the
    guard against coincidence, and every first rental (not only fresh wallets') sets its base rate.

    Guard against chance: a group of k first rentals spread over w (its own spread, at least 5 min)
    is kept only if k >= ``min_group`` (3) and the Poisson chance of k or more in one window of w,
    times the T / w windows of the span T looked at, is <= ``alpha`` (0.01).  The expected count mu
    is the larger of the overall rate (N first rentals over T, times w) and the rate of the *other*
    first rentals at the same time of day over the span's days -- rentals clump by time of day (daily
    jobs, schedulers), and a group at an hour when renters usually start is not coordination.  Many
    background renters therefore need a bigger or tighter group.  Unknown rental times, and times at
    exactly 00:00:00 UTC (a date without a time of day), are left out.
    """
    ctrl = {ids.gpu_catalog_id(c) for c in controlled}
    # Payee wallets of providers offering controlled GPUs: paying one is renting there (Golem).
    ctrl_payees: set[int] = set()
    for n, k in tg.g.nodes(data="k"):
        if k == "provider" and any(ids.gpu_catalog_id(tg.ids[g]) in ctrl
                                   for g, _ in tg.out_edges(n, "offers_gpu")):
            ctrl_payees.update(w for w, _ in tg.out_edges(n, "payout_to") if w not in hubs)
    firsts: list[tuple[int, int, str]] = []
    succ = tg.g._succ  # raw adjacency: one pass over each wallet's out-edges (networkx views cost more)
    for n, k in tg.g.nodes(data="k"):
        if k != "wallet" or n in hubs or n in ctrl_payees:
            continue
        rentals: list[tuple[int, int, str]] = []
        pays: list[tuple[int, int, str]] = []
        for v, kd in succ[n].items():
            for d in kd.values():
                if not known(d["t"]):
                    continue
                if d["k"] == "rented":
                    rentals.append((d["t"], v, d["f"]))
                elif d["k"] == "paid" and v in ctrl_payees:
                    pays.append((d["t"], v, d["f"]))
        if rentals:
            t, lease, fact = min(rentals)
            if not any(ids.gpu_catalog_id(tg.ids[g]) in ctrl for g, _ in tg.out_edges(lease, "uses_gpu")):
                continue
        else:
            if not pays:
                continue
            t, _payee, fact = min(pays)
        # A time at exactly 00:00:00 UTC is a date without a time of day (day precision): it cannot
        # say whether rentals were minutes apart.
        if t % 86400 and (fresh_s is None or is_fresh(tg, n, t, fresh_s)):
            firsts.append((t, n, fact))
    firsts.sort()
    return sync_rental_scan([(t, tg.ids[n], fact) for t, n, fact in firsts], window_s, min_group, alpha)


def sync_rental_scan(firsts: Sequence[tuple[int, str, str]], window_s: int = DEFAULT_SYNC_WINDOW_S,
                     min_group: int = DEFAULT_SYNC_MIN_GROUP, alpha: float = DEFAULT_SYNC_ALPHA) -> list[Link]:
    """The group scan of :func:`sync_rental_links` over the first rentals ``(time, wallet id, fact)``,
    sorted by time then the graph's node order: the chance-guarded groups as links.  Pure, so the
    networkx and Spark engines judge the groups by the same code."""
    if len(firsts) < min_group:
        return []
    span = max(firsts[-1][0] - firsts[0][0], window_s)
    rate = len(firsts) / span
    tods = sorted(t % 86400 for t, _, _ in firsts)
    days = max(1.0, span / 86400)
    # Smallest group that could pass at all (the most lenient window): prunes chance groups cheaply.
    w_min = min(SYNC_MIN_WINDOW_S, window_s)
    k_min = min_group
    while k_min <= len(firsts) and (span / w_min) * poisson_tail(rate * w_min, k_min) > alpha:
        k_min += 1
    links: list[Link] = []
    i = j = 0
    while i < len(firsts):
        j = max(j, i)  # the window's end only moves forward (two pointers: linear in the first rentals)
        while j + 1 < len(firsts) and firsts[j + 1][0] - firsts[i][0] <= window_s:
            j += 1
        group = firsts[i:j + 1]
        p = 1.0
        if len(group) >= k_min:
            w = max(group[-1][0] - group[0][0], w_min)
            same_hour = (_in_tod_band(tods, group[0][0] % 86400, w) - len(group)) / days
            mu = max(rate * w, same_hour)
            # No more first rentals than expected (then mu >= min_group >= 3): the tail is > 0.4 and
            # span/w >= 1, so p > alpha for any sane alpha -- skip the sum.
            if len(group) > mu or alpha >= 0.4:
                p = (span / w) * poisson_tail(mu, len(group))
        if p <= alpha:
            _t0, a, fa = group[0]
            for _t, b, fb in group[1:]:
                links.append(Link(a, b, "sync_rentals", STRENGTH["sync_rentals"], (fa, fb),
                                  f"first rentals of {len(group)} wallets on controlled GPUs within "
                                  f"{(group[-1][0] - group[0][0]) / 60:.0f} min (chance among {len(firsts)} "
                                  f"first rentals ~{p:.1g})"))
            i = j + 1
        else:
            i += 1
    return links


def _in_tod_band(tods: list[int], lo: int, width: int) -> int:
    """How many times of day (sorted seconds since midnight) fall in [lo, lo + width], wrapping."""
    hi = lo + width
    n = bisect_right(tods, min(hi, 86399)) - bisect_left(tods, lo)
    if hi >= 86400:
        n += bisect_right(tods, hi - 86400)
    return n


@dataclass
class Clusters:
    """Connected components of the strong links: node id -> cluster id, and each cluster's links."""

    of: dict[str, str]
    members: dict[str, list[str]]
    links: dict[str, list[Link]]

    def cluster(self, node_id: str) -> str | None:
        return self.of.get(node_id)

    def peers(self, node_id: str) -> list[str]:
        c = self.of.get(node_id)
        return self.members[c] if c else [node_id]


def cluster_links(links: Iterable[Link], threshold: float = DEFAULT_THRESHOLD) -> Clusters:
    """Union-find over links with strength >= threshold; cluster ids are stable hashes of members."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:
            parent[x], x = root, parent[x]
        return root

    kept: list[Link] = []
    for lk in links:
        if lk.strength < threshold:
            continue
        kept.append(lk)
        ra, rb = find(lk.a), find(lk.b)
        parent.setdefault(lk.a, lk.a)
        parent.setdefault(lk.b, lk.b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[str, list[str]] = defaultdict(list)
    for x in parent:
        groups[find(x)].append(x)
    of: dict[str, str] = {}
    members: dict[str, list[str]] = {}
    root_cid: dict[str, str] = {}
    for root, ms in groups.items():
        ms.sort()
        cid = "cluster:" + hashlib.sha256(ms[0].encode()).hexdigest()[:16]
        root_cid[root] = cid
        members[cid] = ms
        for m in ms:
            of[m] = cid
    by_cluster: dict[str, list[Link]] = defaultdict(list)
    for lk in kept:
        by_cluster[root_cid[find(lk.a)]].append(lk)
    return Clusters(of, members, dict(by_cluster))


def all_links(tg: TracerGraph, hubs: Mapping[int, Hub], deployments: object = (),
              window_s: int = DEFAULT_FUNDING_WINDOW_S, min_group: int = 3, max_star: int = DEFAULT_MAX_STAR,
              controlled: Collection[str] = (), sync_window_s: int = DEFAULT_SYNC_WINDOW_S,
              sync_min_group: int = DEFAULT_SYNC_MIN_GROUP, sync_alpha: float = DEFAULT_SYNC_ALPHA,
              fresh_s: int = DEFAULT_FRESH_S, manifest_window_s: int = DEFAULT_MANIFEST_WINDOW_S,
              payroll_min_payments: int = DEFAULT_PAYROLL_MIN_PAYMENTS) -> list[Link]:
    """Every heuristic's links (the input of :func:`cluster_links`); ``controlled`` GPU ids enable
    :func:`sync_rental_links`."""
    links = (common_funder_links(tg, hubs, window_s, min_group, max_star, payroll_min_payments)
             + deposit_reuse_links(tg, hubs) + escrow_third_party_links(tg, hubs) + payout_links(tg, hubs)
             + manifest_links(deployments, tg, hubs, manifest_window_s, fresh_s, funding_window_s=window_s,
                              max_star=max_star))
    if controlled:
        links += sync_rental_links(tg, hubs, controlled, sync_window_s, sync_min_group, None, sync_alpha)
    return links
