"""Scoring rules: each a pure function (subject, read-only context) -> Evidence or None.

A rule's docstring is its user-facing description (``tracer rules`` prints them, docs are generated
from them).  Rules never touch the store: :mod:`tracer.scoring.run` reads the rows, builds the graph,
clusters and exposure once, and hands every rule the same read-only :class:`Context`.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connectors import facts, ids
from graphs.build import TracerGraph
from graphs.clusters import Clusters, Hub, Link
from graphs.compute import THRESHOLDS, ComputeTotal, Rental
from graphs.dust import USD_STABLECOIN_TOKENS
from graphs.exposure import ExposureResult
from tracer.catalog import Catalog, CountryGroups


@dataclass(frozen=True)
class Evidence:
    """One rule's finding about a subject: score in [0, 1], text, the facts (refs) and the path."""

    rule: str
    score: float
    detail: str
    refs: tuple[str, ...] = ()
    path: tuple[str, ...] = ()


# Links that say wallets act together but carry nothing of one wallet to another: a restricted
# member (listed, exposed, a name match, renting from a restricted place) counts for a subject only
# when the subject reaches it through other links (``Context.attribution_groups``).
TIMING_ONLY: frozenset[str] = frozenset({"sync_rentals"})


def threshold_for(thresholds: Mapping[str, int], asset_key: str,
                  symbols: Mapping[str, str] | None = None) -> int | None:
    """The funding threshold for an ``asset/decimals`` key: the key itself, the asset alone, else the
    asset's symbol (``symbols``: token id or denom -> symbol, from the store's token entities) as
    ``SYMBOL/decimals`` -- rescaled when the edge's decimals differ from the key's (Akash stores IBC
    USDC with 6 + 18 decimals) -- or the symbol alone."""
    lim = thresholds.get(asset_key)
    if lim is not None:
        return lim
    asset, _, dec = asset_key.rpartition("/")
    lim = thresholds.get(asset)
    if lim is not None:
        return lim
    sym = (symbols or {}).get(asset)
    if not sym:
        return None
    sym = sym.upper()
    for key, v in thresholds.items():
        ks, _, kd = key.rpartition("/")
        if ks.upper() == sym and kd.isdigit() and dec.isdigit():
            shift = int(dec) - int(kd)
            return v * 10**shift if shift >= 0 else v // 10**-shift
    return next((v for k, v in thresholds.items() if k.upper() == sym), None)


@dataclass(frozen=True)
class Params:
    """Tunable thresholds (``[scoring]`` in the config file); defaults documented in docs/scoring.md."""

    hops: int = 3
    hop_decay: float = 0.9
    exposure_material_share: float = 0.1  # a share at or above this is material (>= medium in k hops)
    exposure_passive_max: float = 0.3  # cap for small held receipts (never moved on: maybe unsolicited)
    exposure_held_factor: int = 100  # a held receipt under this x the dust limit is small (1,000 USD)
    name_match_min: float = 0.7
    structuring_min_wallets: int = 5
    funding_window_days: int = 7
    cluster_threshold: float = 0.5
    hub_degree: int = 1000
    max_star: int = 100
    utilisation: float = 0.4
    # Concealment of controlled capacity (rule `concealment`) and the coordination heuristics behind it.
    concealment_min_h100: float = 8.0  # peak concurrent controlled GPUs, in H100-equivalents (TPP)
    concealment_min_gpu_hours: float = 5000.0  # or this many H100-equivalent GPU-hours
    concealment_min_node_gpus: int = 8  # or a training node: this many GPUs at once at/above the TPP line
    concealment_node_tpp: float = 4800.0  # the 3A090 TPP line (A100 and up)
    concealment_min_wallets: int = 2  # renting wallets among the coordinated ones
    concealment_exposure_share: float = 0.1  # exposure share that makes a restricted link
    fresh_days: int = 14  # a wallet is fresh at an act when nothing it did is older than this before it
    sync_window_minutes: int = 60  # synchronized first rentals start within this window
    sync_min_group: int = 3
    sync_alpha: float = 0.01  # chance-coincidence guard (Poisson, over all windows)
    manifest_window_days: float = 2.0  # a private manifest's owners first deploy it within this window
    payroll_min_payments: int = 3  # regular payments that make a funder a payroll, not a Sybil star
    # Golem (no leases): a payment to a provider's payee settles the offered GPUs since the requestor's
    # previous payment to that payee (if at most payment_max_window_days before), else over the
    # payment_window_hours before it.
    payment_window_hours: float = 24.0
    payment_max_window_days: float = 7.0
    # Per-wallet funding thresholds for structuring, in base units, keyed "ASSET/decimals".
    # Keys: "<asset>/<decimals>" or the asset alone (symbol or token id as connectors store it).
    funding_thresholds: dict[str, int] = field(default_factory=lambda: {
        "USDC/6": 10_000 * 10**6, "USDT/6": 10_000 * 10**6, "DAI/18": 10_000 * 10**18,
        **{t: 10_000 * 10**6 for t in USD_STABLECOIN_TOKENS}})  # token ids (6 decimals) as edges.asset
    layer_weights: dict[str, float] = field(default_factory=lambda: {
        "audited": 1.0, "ip": 0.9, "declared": 0.7})
    activity_zones: dict[str, float] = field(default_factory=lambda: {
        "UTC+8 (CN, HK, MO)": 8.0, "UTC+3 (RU, BY)": 3.0, "UTC+3:30 (IR)": 3.5, "UTC+9 (KP)": 9.0})
    activity_min_events: int = 10
    activity_min_share: float = 0.85
    # Exposure amounts (graphs/dust.py) and behavioural hubs (graphs/hubs.py); docs/scoring.md.
    exposure_min_share: float = 0.01  # a (wallet, asset) share under this carries no taint
    # Dust minimum per asset in display units, keyed "asset/decimals", asset or symbol (replaced as a
    # whole by the config); other assets: dust_median_share x their median transfer.
    dust_min_value: dict[str, str | float] = field(default_factory=lambda: {
        "USDC": "10", "USDT": "10", "DAI": "10", **{t: "10" for t in USD_STABLECOIN_TOKENS}})
    dust_median_share: float = 0.01
    dust_min_transfers: int = 20
    hub_behaviour: bool = True
    hub_min_counterparties: int = 25
    hub_median_factor: float = 5.0
    hub_min_deposits: int = 10
    hub_deposit_max_senders: int = 5
    hub_forward_share: float = 0.9
    hub_distributor_min_days: int = 10  # first funder of many wallets on this many days: a service


@dataclass
class Context:
    """Everything rules may read, built once per scoring run (never mutated by rules)."""

    tg: TracerGraph
    hubs: dict[int, Hub]
    listed: dict[str, list[str]]  # wallet id -> refs (observation / edge ids) that make it listed
    listed_label: dict[str, str]
    obs: dict[str, list[dict[str, Any]]]  # subject -> observation rows (attrs parsed)
    exposure: ExposureResult
    clusters: Clusters
    compute: dict[str, ComputeTotal]  # actor (cluster id or subject) -> compute
    gpus: dict[str, list[tuple[str, str, tuple[str, ...]]]]  # subject -> (gpu id, relation, fact ids)
    payouts: dict[str, list[tuple[str, str]]]  # provider -> (wallet id, fact id)
    catalog: Catalog
    groups: CountryGroups
    params: Params = field(default_factory=Params)
    memo: dict[Any, Any] = field(default_factory=dict)  # per-cluster results, so big clusters stay linear
    rentals: dict[str, list[Rental]] = field(default_factory=dict)  # renter -> its rentals (concurrency)
    symbols: dict[str, str] = field(default_factory=dict)  # asset (token id, denom) -> symbol
    dust: dict[str, int] | None = None  # the dust limits the run used (asset key -> smallest non-dust)
    # An engine whose ``tg`` holds part of the payments (tracer.scoring.spark_engine) gives what rules
    # read of the rest per wallet: the known times of its payments out, its non-dust flows per asset.
    paid_times: dict[str, list[int]] | None = None
    flows: dict[tuple[str, str], dict[str, int]] | None = None

    def once(self, key: Any, fn: Callable[[], Any]) -> Any:
        """Compute a per-cluster value once per run (rules stay pure: same inputs, same value)."""
        if key not in self.memo:
            self.memo[key] = fn()
        return self.memo[key]

    def attribution_groups(self, cid: str) -> dict[str, str]:
        """The cluster's members grouped by its links other than timing-only ones (``TIMING_ONLY``):
        member -> a representative of its group.  Whatever one wallet is (listed, exposed, a name
        match, renting from a restricted place) is imputed only within its group: a synchronized
        first rental says wallets act together, not that they are one another.  Once per cluster
        (union-find over its links: linear)."""
        def build() -> dict[str, str]:
            parent: dict[str, str] = {m: m for m in self.clusters.members.get(cid, [])}

            def find(x: str) -> str:
                root = x
                while parent.setdefault(root, root) != root:
                    root = parent[root]
                while parent[x] != root:
                    parent[x], x = root, parent[x]
                return root

            for lk in self.clusters.links.get(cid, []):
                if lk.heuristic not in TIMING_ONLY:
                    ra, rb = find(lk.a), find(lk.b)
                    if ra != rb:
                        parent[max(ra, rb)] = min(ra, rb)
            return {m: find(m) for m in parent}

        return self.once(("attribution_groups", cid), build)  # type: ignore[no-any-return]

    def attributable(self, subject: str, member: str) -> bool:
        """``member`` is the subject, or in its cluster reached through links other than timing alone."""
        if subject == member:
            return True
        cid = self.clusters.cluster(subject)
        if cid is None or self.clusters.cluster(member) != cid:
            return False
        groups = self.attribution_groups(cid)
        return groups.get(subject, subject) == groups.get(member, member)

    def listed_peers(self, subject: str) -> list[str]:
        """Listed wallets of the subject's actor cluster that the subject reaches through links other
        than synchronized timing alone (:meth:`attribution_groups`; computed once per group)."""
        cid = self.clusters.cluster(subject)
        if cid is None:
            return []
        groups = self.attribution_groups(cid)

        def by_group() -> dict[str, list[str]]:
            out: dict[str, list[str]] = {}
            for m in self.clusters.members[cid]:
                if m in self.listed:
                    out.setdefault(groups.get(m, m), []).append(m)
            return out

        listed: dict[str, list[str]] = self.once(("listed_peers", cid), by_group)
        return listed.get(groups.get(subject, subject), [])

    def actor(self, subject: str) -> str:
        return self.clusters.cluster(subject) or subject

    def wallets_of(self, subject: str) -> list[tuple[str, tuple[str, ...]]]:
        """The subject's own wallets: itself, or a provider's payout wallets (with the payout fact)."""
        if ids.kind_of(subject) == "provider":
            return [(w, (f,)) for w, f in self.payouts.get(subject, [])]
        return [(subject, ())]


RuleFn = Callable[[str, Context], Evidence | None]
RULES: list[tuple[RuleFn, str]] = []


def rule(kind: str) -> Callable[[RuleFn], RuleFn]:
    """Register a rule as ``main`` (can raise a score alone) or ``qualifier`` (only amplifies)."""
    def deco(fn: RuleFn) -> RuleFn:
        RULES.append((fn, kind))
        return fn
    return deco


def link_tree(ctx: Context, cid: str, root: str, skip: frozenset[str] = frozenset()
              ) -> dict[str, tuple[str, Link] | None]:
    """A BFS tree of the cluster's links (heuristics in ``skip`` left out) from ``root``: node ->
    (its parent towards the root, the link), once per (cluster, root, skip).  The adjacency is built
    once per (cluster, skip) and a tree only visits the root's component, so trees rooted in many
    small components of one big cluster stay linear together."""
    def adjacency() -> dict[str, list[tuple[str, Link]]]:
        adj: dict[str, list[tuple[str, Link]]] = {}
        for lk in ctx.clusters.links.get(cid, []):
            if lk.heuristic not in skip:
                adj.setdefault(lk.a, []).append((lk.b, lk))
                adj.setdefault(lk.b, []).append((lk.a, lk))
        return adj

    def build() -> dict[str, tuple[str, Link] | None]:
        adj: dict[str, list[tuple[str, Link]]] = ctx.once(("adj", cid, skip), adjacency)
        parent: dict[str, tuple[str, Link] | None] = {root: None}
        q = deque([root])
        while q:
            x = q.popleft()
            for y, lk in adj.get(x, []):
                if y not in parent:
                    parent[y] = (x, lk)
                    q.append(y)
        return parent

    return ctx.once(("link_tree", cid, root, skip), build)  # type: ignore[no-any-return]


def link_path(ctx: Context, a: str, b: str, skip: frozenset[str] = frozenset()
              ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Nodes and fact ids of the shortest chain of clustering links from ``a`` to ``b`` (links of
    the heuristics in ``skip`` left out); empty when there is none.  The BFS tree is rooted at ``b``
    and built once, so many subjects' paths to one member stay linear."""
    cid = ctx.clusters.cluster(a)
    if cid is None or cid != ctx.clusters.cluster(b):
        return (), ()
    tree = link_tree(ctx, cid, b, skip)
    if a not in tree:
        return (), ()
    return tree_path(tree, a)


def tree_path(tree: dict[str, tuple[str, Link] | None], start: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Nodes and fact ids from ``start`` up a :func:`link_tree` to its root."""
    nodes: list[str] = [start]
    refs: list[str] = []
    cur = start
    while (step := tree[cur]) is not None:
        cur, lk = step
        nodes.append(cur)
        refs.extend(lk.refs)
    return tuple(nodes), tuple(refs)


# ---- main rules ------------------------------------------------------------------------------
@rule("main")
def listed_wallet(subject: str, ctx: Context) -> Evidence | None:
    """The actor's own wallet is on a sanctions list (OFAC SDN digital-currency address, or a wallet
    linked to a listed entity). Own wallet: 1.0; a provider's payout wallet: 0.95; another wallet of
    the same actor cluster: 0.8, with the chain of clustering links as the path -- only when that
    chain holds links other than synchronized first rentals (timing alone says wallets act
    together, not that one's listing is the other's)."""
    for w, via in ctx.wallets_of(subject):
        if w in ctx.listed:
            own = w == subject
            return Evidence("listed_wallet", 1.0 if own else 0.95,
                            f"{'wallet' if own else 'payout wallet ' + w} is listed: {ctx.listed_label[w]}",
                            via + tuple(ctx.listed[w]), (subject,) if own else (subject, w))
    for peer in ctx.listed_peers(subject):
        if peer != subject:
            path, refs = link_path(ctx, subject, peer, TIMING_ONLY)
            return Evidence("listed_wallet", 0.8,
                            f"same actor cluster as listed wallet {peer} ({ctx.listed_label[peer]})",
                            refs + tuple(ctx.listed[peer]), path)
    return None


@rule("main")
def exposure(subject: str, ctx: Context) -> Evidence | None:
    """Funds came from a listed wallet within k hops (default 3). A material share (>= 10 % of the
    wallet's inflow in one asset, exact, traceable to the listed source) scores 0.9 x 0.9^(hop-1)
    x (0.5 + 0.5 x share): at least medium within 3 hops, high at 1 hop from about 56 %; a smaller
    share scores 0.9 x 0.9^(hop-1) x share (low). Stablecoins received and never moved on, under
    1,000 (possibly unsolicited), score 0.3 at most. Paying a listed wallet directly scores 0.5 x share of outflow. Dust carries no taint; assets are never mixed; walks stop at exchanges, bridges and
    mixers (tagged or recognised by behaviour) and very high-degree wallets."""
    best: Evidence | None = None
    p = ctx.params
    for w, via in ctx.wallets_of(subject):
        for e, held in ((ctx.exposure.incoming.get(w), False), (ctx.exposure.passive.get(w), True)):
            if e is None:
                continue
            share = float(e.share)
            base = 0.9 * p.hop_decay ** (e.hop - 1)
            s = base * (0.5 + 0.5 * share) if share >= p.exposure_material_share else base * share
            text = exposure_text(ctx, w, subject, e, "in")
            if held:  # received and never moved on: may be unsolicited, funded nothing
                s = min(s, p.exposure_passive_max)
                text += "; received, under 1,000 and never moved on (possibly unsolicited): low at most"
            ev = Evidence("exposure", s, text, via + e.refs + tuple(ctx.listed.get(e.source, [])), e.path)
            if best is None or ev.score > best.score:
                best = ev
        o = ctx.exposure.outgoing.get(w)
        if o is not None:
            s = 0.5 * float(o.share)
            ev = Evidence("exposure", s, exposure_text(ctx, w, subject, o, "out"),
                          via + o.refs + tuple(ctx.listed.get(o.source, [])), o.path)
            if best is None or ev.score > best.score:
                best = ev
    return best


def asset_name(ctx: Context, key: str) -> str:
    """An ``asset/decimals`` key as people read it: the symbol when known (token entities, Akash
    denoms, IBC vouchers through their trace), else a short id that says what it is."""
    from tracer import amounts

    asset = key.rpartition("/")[0] if key.rpartition("/")[2].isdigit() else key
    return amounts.asset_label(asset, ctx.symbols)


def _split_key(key: str) -> tuple[str, int | None]:
    asset, _, dec = key.rpartition("/")
    return (asset, int(dec)) if dec.isdigit() else (key, None)


def _flows(ctx: Context, w: str, way: str) -> dict[str, int]:
    """``w``'s paid volume per asset key, one way, dust left out as exposure leaves it out (the
    totals the exposure shares are fractions of).  Wording only: the score never reads this."""
    from graphs.dust import dust_limits

    if ctx.flows is not None:
        return dict(ctx.flows.get((w, way), {}))
    p = ctx.params
    # The run's limits (an engine whose tg holds part of the graph cannot recompute them from it).
    limits: dict[str, int] = ctx.dust if ctx.dust is not None else ctx.once(("wording_dust",), lambda: dust_limits(
        ctx.tg, p.dust_min_value, p.dust_median_share, p.dust_min_transfers, ctx.symbols))
    n = ctx.tg.get(w)
    out: dict[str, int] = {}
    if n is None:
        return out
    for _, d in (ctx.tg.in_edges(n, "paid") if way == "in" else ctx.tg.out_edges(n, "paid")):
        key = d.get("s", "")
        if d["a"] >= limits.get(key, 1):
            out[key] = out.get(key, 0) + d["a"]
    return out


def exposure_text(ctx: Context, w: str, subject: str, e: Any, way: str) -> str:
    """``500 of 1,750 USDC (28.6%) of its inflow traces to listed X (OFAC SDN), 1 hop away``.

    The share is the exposure's, exact, of the wallet's inflow (``way`` "in") or outflow ("out") in
    the asset it is computed in.  When the wallet also received the same token under another
    denomination (USDC over two IBC paths), the whole of that token is stated first, and the share
    the score uses follows: "100 % of inflow in ibc" must not read as all of the wallet's money."""
    from fractions import Fraction

    from tracer import amounts

    asset, dec = _split_key(e.asset)
    flows = _flows(ctx, w, way)
    total = flows.get(e.asset, 0)
    part = Fraction(e.share) * total
    who = "its" if w == subject else f"payout wallet {w}'s"
    flow = "inflow" if way == "in" else "outflow"
    label = ctx.listed_label.get(e.source, "listed")
    sym = amounts.symbol_of(asset, None)  # trusted tables only: a token's own symbol() may be anyone's
    same = {k: v for k, v in flows.items() if sym and (ka := _split_key(k)) and ka[1] == dec
            and amounts.symbol_of(ka[0], None) == sym}
    if len(same) > 1 and total:
        text = (f"{amounts.part_of_total(part, sum(same.values()), asset, dec, ctx.symbols)} of {who} {flow}"
                f" (all {sym}; {amounts.share_text(part, total)} of the {amounts.number(total, dec)} received"
                f" as {asset})")
    elif total:
        text = f"{amounts.part_of_total(part, total, asset, dec, ctx.symbols)} of {who} {flow}"
    else:  # the exposure's totals cannot be rebuilt here: the share alone, still exact
        text = f"{amounts.share_text(Fraction(e.share), 1)} of {who} {flow} in {asset_name(ctx, e.asset)}"
    if way == "in":
        hops = f"{e.hop} hop" + ("s" if e.hop != 1 else "")
        return f"{text} traces to listed {e.source} ({label}), {hops} away"
    return f"{text} paid directly to listed {e.source} ({label})"


@rule("main")
def name_match(subject: str, ctx: Context) -> Evidence | None:
    """The actor's organization/name matches a listed party (Entity List, SDN, CSL) in a screening
    result (`name_match` observation) with match score >= 0.7 (0-100 scores count as percent).
    Score = 0.9 x match score."""
    best: Evidence | None = None
    for o in ctx.obs.get(subject, []):
        if o["predicate"] != "name_match":
            continue
        nm = facts.name_match(o["value"], o.get("confidence"), o["attrs"])
        if nm.score < ctx.params.name_match_min:
            continue
        ev = Evidence("name_match", 0.9 * nm.score, f"name {nm.query!r} matches {nm.list_type} entry "
                      f"{nm.entity} ({nm.label}) at {nm.score:.2f}", (o["id"],), (subject, nm.entity))
        if best is None or ev.score > best.score:
            best = ev
    return best


def _controlled(subject: str, ctx: Context) -> list[tuple[str, str, tuple[str, ...]]]:
    out = []
    for gid, rel, fact in ctx.gpus.get(subject, []):
        g = ctx.catalog.get(gid)
        if g is not None and g.controlled:
            out.append((gid, rel, fact))
    return out


def restricted_locations(subject: str, ctx: Context) -> Iterator[tuple[dict[str, Any], str, float, str, float]]:
    """The subject's location observations in a restricted country group: (observation, group,
    group weight, evidence layer, layer weight) -- what `restricted_location` and concealment read."""
    for o in ctx.obs.get(subject, []):
        if o["predicate"] != "location" or not o["value"]:
            continue
        gw, group = ctx.groups.weight(str(o["value"]))
        if group:
            layer = facts.location_layer(o["attrs"])
            yield o, group, gw, layer, ctx.params.layer_weights.get(layer, 0.5)


@rule("main")
def restricted_location(subject: str, ctx: Context) -> Evidence | None:
    """Located in Country Group D:1, D:4, D:5 or Macau (EAR Supplement No. 1 to Part 740), weighted
    by evidence layer (audited 1.0, IP geolocation 0.9, self-declared 0.7) and group (D:5/Macau 1.0,
    D:1 0.7, D:4 0.6). Offering or renting 3A090.a GPUs there: 0.85 x weights; otherwise 0.35 x
    weights (a location alone is low)."""
    ctrl = _controlled(subject, ctx)
    base = 0.85 if ctrl else 0.35
    best: Evidence | None = None
    for o, group, gw, layer, lw in restricted_locations(subject, ctx):
        what = f", offers/rents 3A090.a {', '.join(sorted({g for g, _, _ in ctrl}))}" if ctrl else ""
        ev = Evidence("restricted_location", base * gw * lw,
                      f"{layer} location {o['value']} is in {group} ({ctx.groups.as_of} rule){what}",
                      (o["id"],) + tuple(f for _, _, fs in ctrl[:5] for f in fs),
                      (subject, ids.jurisdiction(str(o["value"]))))
        if best is None or ev.score > best.score:
            best = ev
    return best


@rule("main")
def compute_volume(subject: str, ctx: Context) -> Evidence | None:
    """The actor cluster rented enough GPU time to train a frontier-scale model: FLOP = GPU-hours x
    dense FP16 peak x utilisation (0.4, stated) reaches 10^24 (0.2), 10^25 (0.35) or 10^26 (0.5)."""
    actor = ctx.actor(subject)
    tot = ctx.compute.get(actor)
    if tot is None or not tot.crossed:
        return None
    score = {THRESHOLDS[0]: 0.2, THRESHOLDS[1]: 0.35, THRESHOLDS[2]: 0.5}[max(tot.crossed)]
    hours = ", ".join(f"{g} {h:,.0f} h" for g, h in sorted(tot.gpu_hours.items()))
    who = f"cluster of {len(ctx.clusters.peers(subject))}" if actor != subject else "actor"
    return Evidence("compute_volume", score, f"{who} rented {tot.flop:.2e} FLOP (>= {max(tot.crossed):.0e}; "
                    f"{hours}; utilisation {tot.utilisation})", tuple(tot.refs[:50]), (subject, actor))


@rule("main")
def concealment(subject: str, ctx: Context) -> Evidence | None:
    """Concealment of controlled capacity: wallets that act as one -- fresh wallets of one funder,
    a shared private deployment manifest, synchronized first rentals, escrow paid by a third party --
    rent export-controlled GPUs (3A090.a/.b) together: at least 8 H100-equivalents at once (peak
    concurrent GPUs over overlapping leases, weighted by TPP; on Golem each payment to a provider's
    payee counts its offered GPUs, an upper bound, since the requestor's previous payment to that payee
    within 7 days, else over the 24 h before it), a training node's 8 GPUs at once at or above TPP 4800
    (A100 and up), or 5,000 H100-equivalent GPU-hours.
    Score 0.45 (medium) plus 0.04 per doubling of the concurrent capacity and 0.02 per doubling of
    the GPU-hours over those minimums, at most 0.6; with a restricted link in the cluster (a listed
    wallet, exposure >= 10 %, a name match, renting from a provider in D:1/D:4/D:5/Macau offering
    controlled GPUs) 0.7 (high) up to 0.85 -- counted only for wallets that reach it through links
    other than synchronized first rentals alone (timing says wallets act together, not that one's
    listing or exposure is the other's). Payroll cadence, deposit addresses and payout wallets do not
    count."""
    from tracer.scoring.coordination import subject_concealment, subject_path

    if ids.kind_of(subject) == "provider":
        return None
    cid = ctx.clusters.cluster(subject)
    if cid is None:
        return None
    c = subject_concealment(cid, subject, ctx)
    if c is None:
        return None
    path, link_refs = subject_path(ctx, cid, subject, c)
    return Evidence("concealment", c.score, c.detail, link_refs + c.refs, path)


@rule("main")
def structuring(subject: str, ctx: Context) -> Evidence | None:
    """Many fresh wallets (>= 5) funded by one wallet within the funding window, each under every
    single threshold (compute < 10^24 FLOP, stablecoin funding < 10,000) while together they cross
    one: splitting to stay under thresholds. Score 0.5, up to 0.6 as the total reaches 10x the
    threshold. When concealment also fires on the cluster (same coordination), structuring adds 0.2
    on top of it (never leaving the pair below structuring alone)."""
    cid = ctx.clusters.cluster(subject)
    if cid is None:
        return None
    return ctx.once(("structuring", cid), lambda: _structuring(cid, ctx))  # type: ignore[no-any-return]


def _structuring(cid: str, ctx: Context) -> Evidence | None:
    p = ctx.params
    by_funder: dict[str, list[Link]] = {}
    for lk in ctx.clusters.links.get(cid, []):
        if lk.heuristic == "common_funder":
            by_funder.setdefault(lk.b, []).append(lk)
    tot = ctx.compute.get(cid)
    per = tot.per_member if tot else {}
    for funder, lks in sorted(by_funder.items()):
        if len(lks) < p.structuring_min_wallets:
            continue
        wallets = [lk.a for lk in lks]
        if any(per.get(w, 0.0) >= THRESHOLDS[0] for w in wallets):
            continue
        sums: dict[str, int] = {}
        under = True
        for w in wallets:
            n = ctx.tg.get(w)
            ff = ctx.tg.first_in.get(n) if n is not None else None
            if ff is None:
                continue
            lim = threshold_for(p.funding_thresholds, ff.asset, ctx.symbols)
            if lim is not None:
                under &= ff.amount < lim
                sums[ff.asset] = sums.get(ff.asset, 0) + ff.amount
        over: dict[str, float] = {}
        for a, total in sums.items():
            lim = threshold_for(p.funding_thresholds, a, ctx.symbols)
            if lim and total >= lim:
                over[a] = total / lim
        compute_total = sum(per.get(w, 0.0) for w in wallets)
        crossed_compute = compute_total >= THRESHOLDS[0]
        if not (under and (over or crossed_compute)):
            continue
        names = [f"{ctx.symbols[a.rpartition('/')[0]]} ({a})" if a.rpartition("/")[0] in ctx.symbols else a
                 for a in sorted(over)]
        what = ("compute >= 1e24 FLOP" if crossed_compute else "") + (
            (" and " if crossed_compute and over else "") +
            ("funding >= threshold in " + ", ".join(names) if over else ""))
        factor = max([*over.values(), compute_total / THRESHOLDS[0] if crossed_compute else 1.0])
        score = 0.5 + 0.1 * min(1.0, math.log10(max(1.0, factor)))
        note = ""
        conc = _conc(cid, funder, ctx)  # the star's own finding (the funder's attribution group)
        if conc is not None:
            score = max(0.2, 1 - (1 - score) / (1 - conc.score))
            note = "; the same coordination is counted by concealment, structuring adds the split under thresholds"
        refs = tuple(r for lk in lks for r in lk.refs)
        return Evidence("structuring", round(score, 4), f"{len(wallets)} fresh wallets funded by {funder}, each "
                        f"under every single threshold, together {what} ({factor:.1f}x){note}", refs,
                        (funder, *sorted(wallets)[:20]))
    return None


def _conc(cid: str, member: str, ctx: Context) -> Any:
    from tracer.scoring.coordination import subject_concealment

    return subject_concealment(cid, member, ctx)


# ---- qualifiers -------------------------------------------------------------------------------
def _gpu_path(ctx: Context, subject: str, facts: tuple[str, ...], gid: str) -> tuple[str, ...]:
    """subject -> lease -> gpu when the GPU comes through a lease (the rented edge's target);
    subject -> payee -> provider -> gpu when it comes through a payment to a provider's payee."""
    n = ctx.tg.get(subject)
    if n is not None:
        for v, d in ctx.tg.out_edges(n, "rented"):
            if d["f"] in facts:
                return (subject, ctx.tg.ids[v], ids.gpu(gid))
        for v, d in ctx.tg.out_edges(n, "paid"):
            if d["f"] in facts:
                provs = [ctx.tg.ids[u] for u, _ in ctx.tg.in_edges(v, "payout_to")]
                return (subject, ctx.tg.ids[v], *provs[:1], ids.gpu(gid))
    return (subject, ids.gpu(gid))


@rule("qualifier")
def controlled_gpu(subject: str, ctx: Context) -> Evidence | None:
    """Qualifier: the actor rents or offers GPUs classed 3A090.a (0.3) or 3A090.b (0.1) in the dated
    GPU catalog (TPP and performance density). Alone it never flags: most such renters are lawful."""
    best: Evidence | None = None
    for gid, rel, fact in ctx.gpus.get(subject, []):
        g = ctx.catalog.get(gid)
        if g is None or g.eccn_3a090 == "none":
            continue
        s = 0.3 if g.eccn_3a090 == "a" else 0.1
        ev = Evidence("controlled_gpu", s, f"{rel} {g.name}: TPP {g.tpp}, PD {g.pd}, 3A090.{g.eccn_3a090} "
                      f"(catalog {ctx.catalog.as_of})", fact, _gpu_path(ctx, subject, fact, gid))
        if best is None or ev.score > best.score:
            best = ev
    return best


@rule("qualifier")
def activity_time(subject: str, ctx: Context) -> Evidence | None:
    """Weak qualifier (0.1): >= 85% of the actor cluster's payments and rentals (at least 10) fall in
    09:00-18:00 local time of one restricted-region time zone. Circumstantial only."""
    e: Evidence | None = ctx.once(("activity", ctx.actor(subject)), lambda: _activity(subject, ctx))
    return None if e is None else Evidence(e.rule, e.score, e.detail, e.refs, (subject,))


def _activity(subject: str, ctx: Context) -> Evidence | None:
    p = ctx.params
    times: list[int] = []
    for m in ctx.clusters.peers(subject):
        n = ctx.tg.get(m)
        if ctx.paid_times is not None:  # payments from the engine's per-wallet times, rentals from the graph
            times.extend(ctx.paid_times.get(m, ()))
            if n is not None:
                times.extend(d["t"] for _, d in ctx.tg.out_edges(n, "rented") if d["t"])
        elif n is not None:
            times.extend(d["t"] for _, d in ctx.tg.out_edges(n) if d["k"] in ("paid", "rented") and d["t"])
    if len(times) < p.activity_min_events:
        return None
    for zone, off in p.activity_zones.items():
        hours = [((t + off * 3600) % 86400) / 3600 for t in times]
        share = sum(1 for h in hours if 9 <= h < 18) / len(hours)
        if share >= p.activity_min_share:
            first = datetime.fromtimestamp(min(times), UTC).date()
            return Evidence("activity_time", 0.1, f"{share:.0%} of {len(times)} events since {first} in "
                            f"office hours of {zone}", (), (subject,))
    return None


def rules_doc() -> list[dict[str, str]]:
    """Name, kind and description of every rule (what ``tracer rules`` prints)."""
    out = []
    for fn, kind in RULES:
        doc = " ".join((fn.__doc__ or "").split())
        out.append({"rule": fn.__name__, "kind": kind, "description": doc})
    return out
