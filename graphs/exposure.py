"""Exposure to listed wallets, hop by hop, with the share of funds that came from them (a haircut).

Listed wallets start fully tainted.  At each hop, a wallet's taint is the fraction of its inflow
(per asset, exact :class:`fractions.Fraction` over integer amounts) that came from tainted wallets,
weighted by their taint; its exposure is the largest share over its assets (assets are never
converted into one another: tracer has no prices).  Time order counts: a payment made before the
payer first received tainted funds carries no taint.  Walks stop at hubs (tagged exchanges, bridges,
mixers, very high-degree nodes) and the result says which hub stopped which walk and why.
Direct outgoing exposure (paying a listed wallet) is reported separately.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction

from graphs.build import TracerGraph
from graphs.clusters import Hub

DEFAULT_HOPS = 3
DEFAULT_MIN_SHARE = Fraction(1, 100)


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
    incoming: dict[str, Exposure] = field(default_factory=dict)
    outgoing: dict[str, Exposure] = field(default_factory=dict)
    stops: list[HubStop] = field(default_factory=list)

    def stops_from(self, source: str) -> list[HubStop]:
        return [s for s in self.stops if s.source == source]


def _inflow_taint(tg: TracerGraph, v: int, taint: Mapping[int, Fraction], since: Mapping[int, int]
                  ) -> tuple[Fraction, str, int | None, str, int]:
    """(share, asset, best tainted predecessor, its edge's fact id, first tainted time) for ``v``.

    A payment from ``u`` carries taint only if it left ``u`` at or after ``u`` first received
    tainted funds (``since``); unknown times (0) always count.
    """
    total: dict[str, int] = defaultdict(int)
    dirty: dict[str, Fraction] = defaultdict(Fraction)
    best: dict[str, tuple[Fraction, int, str]] = {}
    first: dict[str, int] = {}
    for u, d in tg.in_edges(v, "paid"):
        a, asset, t = d["a"], d.get("s", ""), d["t"]
        total[asset] += a
        tu = taint.get(u)
        if tu and a and (not t or t >= since.get(u, 0)):
            contrib = tu * a
            dirty[asset] += contrib
            first[asset] = min(first.get(asset, t), t)
            if asset not in best or contrib > best[asset][0]:
                best[asset] = (contrib, u, d["f"])
    share, asset_best = Fraction(0), ""
    for asset, dsum in dirty.items():
        if total[asset]:
            s = dsum / total[asset]
            if s > share:
                share, asset_best = s, asset
    if not asset_best:
        return Fraction(0), "", None, "", 0
    _, u, fact = best[asset_best]
    return share, asset_best, u, fact, first[asset_best]


def exposure(tg: TracerGraph, listed: Iterable[str], hubs: Mapping[int, Hub], hops: int = DEFAULT_HOPS,
             min_share: Fraction = DEFAULT_MIN_SHARE) -> ExposureResult:
    """Incoming exposure within ``hops`` of the ``listed`` wallets, and direct outgoing exposure."""
    res = ExposureResult()
    taint: dict[int, Fraction] = {}
    since: dict[int, int] = {}  # when a wallet first received tainted funds (listed: always)
    pred: dict[int, tuple[int, str]] = {}
    origin: dict[int, int] = {}
    hop_of: dict[int, int] = {}
    frontier: list[int] = []
    for lid in listed:
        n = tg.get(lid)
        if n is None or n in hubs:
            continue
        taint[n], origin[n], hop_of[n] = Fraction(1), n, 0
        frontier.append(n)
    listed_nodes = set(frontier)

    def path_of(n: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
        nodes, facts = [n], []
        while n in pred:
            n, fact = pred[n]
            nodes.append(n)
            facts.append(fact)
        return tuple(tg.ids[x] for x in reversed(nodes)), tuple(reversed(facts))

    for h in range(1, hops + 1):
        candidates: dict[int, int] = {}
        for u in frontier:
            for v, d in tg.out_edges(u, "paid"):
                if v in hop_of:
                    continue
                if v in hubs:
                    hub = hubs[v]
                    res.stops.append(HubStop(hub.node, hub.reason, h, tg.ids[u], tg.ids[origin[u]], d["f"]))
                    hop_of[v] = h  # a hub is reported once, never expanded
                    continue
                candidates.setdefault(v, u)
        nxt: list[int] = []
        for v in sorted(candidates):
            share, asset, best_u, fact, t_first = _inflow_taint(tg, v, taint, since)
            if best_u is None or share < min_share:
                continue
            taint[v], pred[v], origin[v], hop_of[v] = share, (best_u, fact), origin[best_u], h
            since[v] = t_first
            nxt.append(v)
            path, refs = path_of(v)
            res.incoming[tg.ids[v]] = Exposure(tg.ids[v], tg.ids[origin[v]], h, share, asset, path, refs)
        frontier = nxt
        if not frontier:
            break

    # Direct outgoing: the share of a wallet's outflow (per asset) paid to listed wallets.
    payers: dict[int, int] = {}
    for n in listed_nodes:
        for u, _ in tg.in_edges(n, "paid"):
            if u not in hubs and u not in listed_nodes:
                payers.setdefault(u, n)
    for u in sorted(payers):
        total: dict[str, int] = defaultdict(int)
        to_listed: dict[str, int] = defaultdict(int)
        best: dict[str, tuple[int, int, str]] = {}
        for v, d in tg.out_edges(u, "paid"):
            asset = d.get("s", "")
            total[asset] += d["a"]
            if v in listed_nodes:
                to_listed[asset] += d["a"]
                if asset not in best or d["a"] > best[asset][0]:
                    best[asset] = (d["a"], v, d["f"])
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
