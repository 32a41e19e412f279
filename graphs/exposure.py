"""Exposure to listed wallets, hop by hop, with the share of funds that came from them (a haircut).

Listed wallets start fully tainted in every asset.  Taint is kept per (wallet, asset) all the way
down the walk: a wallet's taint in asset X is the fraction of its X inflow (exact
:class:`fractions.Fraction` over integer amounts) that came from wallets tainted in X, weighted by
their X taint; a payment in X carries the payer's taint in X only.  Assets are never converted into
one another (tracer has no prices): a share computed in USDC never taints GLM payments.  A wallet's
reported exposure is its largest share over its assets (``ExposureResult.by_asset`` has every asset
with its own path and facts).  A swap, bridge or chain hop changes the asset or the chain, so it
ends the walk in that asset: chain hops are a known gap unless a link in the graph says otherwise.

Amounts count: a transfer under its asset's dust limit (:mod:`graphs.dust`) carries no taint and is
left out of the totals, and a share under ``min_share`` (1 %) taints nothing in that asset.  Time
order counts: a payment made before the payer first received tainted funds in that asset carries no
taint; an unknown time (``None``) always counts.  In an asset tracer cannot value (no configured
dust minimum: anything but the USD stablecoins by default), a wallet is exposed only if it moved
that asset on afterwards (a provider's payout wallet excepted: its income pays for compute it
delivered): receiving a token it never uses is what dusting with unpriced tokens and spam airdrops
look like, and such a receipt funds nothing.  In a valued asset (a stablecoin above its dust
limit) a held receipt under ``held_factor`` (100) x the dust limit - 1,000 USD for stablecoins -
is kept apart in ``ExposureResult.passive``: worth showing, but it may be unsolicited (Tornado
Cash sent 0.1 ETH, not dust, to famous wallets) and funded nothing.  A larger held receipt is a
relationship with the listed party and counts in ``incoming``.  Each hop is computed from the taint of the
previous hops only, so the result does not depend on node ids.  Walks stop at hubs (tagged
exchanges, bridges, mixers, exchanges recognised by behaviour, very high-degree nodes) and the
result says which hub stopped which walk and why.  Direct outgoing exposure (paying a listed wallet)
is reported separately.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction

from graphs.build import TracerGraph
from graphs.clusters import Hub
from graphs.dust import as_fraction, dust_limits, priced_assets

DEFAULT_HOPS = 3
DEFAULT_MIN_SHARE = Fraction(1, 100)
DEFAULT_HELD_FACTOR = 100  # x the dust limit: 1,000 USD for stablecoins


@dataclass(frozen=True)
class Exposure:
    """``node`` got ``share`` of its inflow (in ``asset``) from ``source`` ``hop`` hops away."""

    node: str
    source: str
    hop: int
    share: Fraction
    asset: str
    path: tuple[str, ...]  # node ids from the listed source to this node
    refs: tuple[str, ...]  # edge fact ids along the path


@dataclass(frozen=True)
class HubStop:
    """A walk that reached ``hub`` at ``hop`` (coming from ``via``) and stopped there."""

    hub: str
    reason: str
    hop: int
    via: str
    source: str
    ref: str | None


@dataclass
class ExposureResult:
    incoming: dict[str, Exposure] = field(default_factory=dict)  # node -> its best asset
    outgoing: dict[str, Exposure] = field(default_factory=dict)
    stops: list[HubStop] = field(default_factory=list)
    by_asset: dict[str, dict[str, Exposure]] = field(default_factory=dict)  # node -> asset -> exposure
    # node -> its best exposure in a valued asset it received and never moved on (not in ``incoming``)
    passive: dict[str, Exposure] = field(default_factory=dict)

    def stops_from(self, source: str) -> list[HubStop]:
        return [s for s in self.stops if s.source == source]


# share, best tainted payer, its fact id, first tainted time, tainted amount (base units)
Taint = tuple[Fraction, int, str, int | None, Fraction]


def _inflow_taint(tg: TracerGraph, v: int, assets: Iterable[str], taint: Mapping[int, Mapping[str, Fraction]],
                  since: Mapping[tuple[int, str], int | None], listed: set[int],
                  limits: Mapping[str, int]) -> dict[str, Taint]:
    """For each of ``assets``: ``v``'s tainted share of its inflow in that asset (dust left out).

    A payment from ``u`` in asset X carries ``u``'s taint in X (1 for a listed wallet) if it left
    ``u`` at or after ``u`` first received tainted X (``since``); an unknown time counts.  The first
    tainted time is None (unknown) when any tainted inflow has no time.
    """
    want = set(assets)
    total: dict[str, int] = defaultdict(int)
    dirty: dict[str, Fraction] = defaultdict(Fraction)
    best: dict[str, tuple[Fraction, int, str]] = {}
    first: dict[str, int | None] = {}
    for u, d in tg.in_edges(v, "paid"):
        asset, a, t = d.get("s", ""), d["a"], d["t"]
        if asset not in want or a < limits.get(asset, 1):
            continue  # another asset, or dust: counts for nothing
        total[asset] += a
        tu = Fraction(1) if u in listed else taint.get(u, {}).get(asset)
        if not tu:
            continue
        su = since.get((u, asset))
        if t is not None and su is not None and t < su:
            continue  # left u before u received anything tainted in this asset
        contrib = tu * a
        dirty[asset] += contrib
        if asset not in first:
            first[asset] = t
        elif first[asset] is not None:
            first[asset] = None if t is None else min(t, first[asset])  # type: ignore[type-var]
        if asset not in best or contrib > best[asset][0]:
            best[asset] = (contrib, u, d["f"])
    out: dict[str, Taint] = {}
    for asset, dsum in dirty.items():
        _, u, fact = best[asset]
        out[asset] = (dsum / total[asset], u, fact, first[asset], dsum)
    return out


def exposure(tg: TracerGraph, listed: Iterable[str], hubs: Mapping[int, Hub], hops: int = DEFAULT_HOPS,
             min_share: Fraction | float = DEFAULT_MIN_SHARE, dust: Mapping[str, int] | None = None,
             priced: Collection[str] | None = None, held_factor: int = DEFAULT_HELD_FACTOR) -> ExposureResult:
    """Incoming exposure within ``hops`` of the ``listed`` wallets, and direct outgoing exposure.

    ``dust``: per asset key, the smallest amount that is not dust (:func:`graphs.dust.dust_limits`;
    default: computed with its defaults; an asset missing from the mapping has no minimum).
    ``priced``: asset keys with a configured value minimum (:func:`graphs.dust.priced_assets`,
    default: with its defaults); in other assets a wallet must move the asset on to be exposed.
    ``held_factor``: a valued asset received, never moved on and under ``held_factor`` x its dust
    limit goes to ``ExposureResult.passive`` instead of ``incoming``.
    """
    limits = dust_limits(tg) if dust is None else dust
    valued = priced_assets(tg) if priced is None else set(priced)
    # A provider's payout wallet is paid for compute it delivers: its income is never a passive receipt.
    payees = tg.payees

    def moved_on(v: int, asset: str, since_t: int | None) -> bool:
        """``v`` paid out non-dust ``asset`` at or after ``since_t`` (unknown times count)."""
        for _, d in tg.out_edges(v, "paid"):
            if d.get("s", "") == asset and d["a"] >= limits.get(asset, 1) and (
                    d["t"] is None or since_t is None or d["t"] >= since_t):
                return True
        return False
    min_share = as_fraction(min_share)
    res = ExposureResult()
    taint: dict[int, dict[str, Fraction]] = defaultdict(dict)
    since: dict[tuple[int, str], int | None] = {}  # first tainted inflow per (wallet, asset); None: unknown
    pred: dict[tuple[int, str], tuple[int, str]] = {}
    origin: dict[tuple[int, str], int] = {}
    listed_nodes: set[int] = set()
    for lid in listed:
        n = tg.get(lid)
        if n is not None and n not in hubs:
            listed_nodes.add(n)
    stopped: set[int] = set()
    # The frontier: (wallet, asset) pairs tainted at the previous hop; None = every asset (listed).
    frontier: list[tuple[int, str | None]] = [(n, None) for n in sorted(listed_nodes)]

    def path_of(n: int, asset: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        nodes, facts = [n], []
        while (n, asset) in pred:
            n, fact = pred[(n, asset)]
            nodes.append(n)
            facts.append(fact)
        return tuple(tg.ids[x] for x in reversed(nodes)), tuple(reversed(facts))

    def src_of(u: int, asset: str) -> int:
        return u if u in listed_nodes else origin[(u, asset)]

    for h in range(1, hops + 1):
        candidates: dict[int, set[str]] = defaultdict(set)
        for u, fasset in frontier:
            for v, d in tg.out_edges(u, "paid"):
                asset = d.get("s", "")
                if (fasset is not None and asset != fasset) or d["a"] < limits.get(asset, 1):
                    continue  # a payment in another asset carries none of this taint; dust carries none
                if v in listed_nodes or asset in taint.get(v, {}):
                    continue
                if v in hubs:
                    if v not in stopped:  # a hub is reported once, never expanded
                        stopped.add(v)
                        hub = hubs[v]
                        res.stops.append(HubStop(hub.node, hub.reason, h, tg.ids[u], tg.ids[src_of(u, asset)],
                                                 d["f"]))
                    continue
                candidates[v].add(asset)
        # Every candidate from the taint of earlier hops only, then applied together.
        found = [(v, _inflow_taint(tg, v, candidates[v], taint, since, listed_nodes, limits))
                 for v in sorted(candidates)]
        nxt: list[tuple[int, str | None]] = []
        for v, per_asset in found:
            vid = tg.ids[v]
            for asset, (share, best_u, fact, t_first, amount) in sorted(per_asset.items()):
                if share < min_share:
                    continue  # under the share minimum: no taint in this asset
                held = v not in payees and not moved_on(v, asset, t_first)
                if held and asset not in valued:
                    continue  # a passive receipt of an unpriced asset: funds nothing, taints nothing
                # A held receipt of a valued asset under held_factor x its dust limit (1,000 USD for
                # stablecoins) may be an unsolicited gift: kept apart.  A larger one is a relationship.
                passive = held and amount < held_factor * limits.get(asset, 1)
                taint[v][asset], since[(v, asset)] = share, t_first
                pred[(v, asset)], origin[(v, asset)] = (best_u, fact), src_of(best_u, asset)
                nxt.append((v, asset))
                path, refs = path_of(v, asset)
                e = Exposure(vid, tg.ids[origin[(v, asset)]], h, share, asset, path, refs)
                res.by_asset.setdefault(vid, {})[asset] = e
                # Held, never moved on: reported apart (it may be unsolicited and funded nothing).
                into = res.passive if passive else res.incoming
                cur = into.get(vid)
                if cur is None or share > cur.share:
                    into[vid] = e
        frontier = nxt
        if not frontier:
            break

    # Direct outgoing: the share of a wallet's outflow (per asset, dust left out) paid to listed wallets.
    payers: set[int] = set()
    for n in listed_nodes:
        for u, _ in tg.in_edges(n, "paid"):
            if u not in hubs and u not in listed_nodes:
                payers.add(u)
    for u in sorted(payers):
        total: dict[str, int] = defaultdict(int)
        to_listed: dict[str, int] = defaultdict(int)
        best: dict[str, tuple[int, int, str]] = {}
        for v, d in tg.out_edges(u, "paid"):
            asset, a = d.get("s", ""), d["a"]
            if a < limits.get(asset, 1):
                continue
            total[asset] += a
            if v in listed_nodes:
                to_listed[asset] += a
                if asset not in best or a > best[asset][0]:
                    best[asset] = (a, v, d["f"])
        cands = [(Fraction(x, total[a]), a) for a, x in to_listed.items() if total[a] and x]
        if not cands:
            continue
        share, asset = max(cands)
        if share < min_share:
            continue
        _, v, fact = best[asset]
        res.outgoing[tg.ids[u]] = Exposure(tg.ids[u], tg.ids[v], 1, share, asset,
                                           (tg.ids[u], tg.ids[v]), (fact,))
    return res
