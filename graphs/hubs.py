"""Hubs recognised by behaviour, without an attribution tag: wallets that act like an exchange.

An exchange (or any custodial service) mixes the funds of many unrelated customers: taint that
enters it must stop there, or every customer it pays looks exposed.  Tags say so when present
(:func:`graphs.clusters.find_hubs` applies them first and they win); without one, a wallet is a hub
when it shows either shape (``paid`` edges only; dust - :mod:`graphs.dust` - makes no counterparty):

1. **Many unrelated counterparties both ways**: at least ``min_counterparties`` (25) distinct
   senders *and* as many distinct receivers, and at least ``median_factor`` (5) times the median
   number of distinct senders (receivers) of the graph's wallets, so that in a busy graph only
   wallets that stand out count.  Senders are counted once per funding source: a sender first
   funded by the wallet itself is its own (a Sybil funder's wallets sending their leftovers back)
   and does not count, and senders first funded by the same wallet count once (one actor fanning
   in through many wallets), unless that funder is a tagged hub or first-funds more than
   ``max_star`` wallets (an exchange or faucet: its customers are unrelated).
2. **Deposit-address forwarding**: at least ``min_deposits`` (10) wallets that each receive from
   at most ``deposit_max_senders`` (5) senders and forward at least ``forward_share`` (90 %) of what
   they receive (per asset) to this wallet, whose senders come from at least ``min_deposits``
   funding sources (counted as above), while this wallet pays at least ``min_deposits`` distinct
   receivers (a sink passes no taint on, so it needs no stop).
3. **A long-running distributor**: the first funder of at least as many wallets as shape 1 asks
   receivers (``min_counterparties``, or ``median_factor`` x the median), on at least
   ``distributor_min_days`` (10) different days.  An exchange's withdrawal wallet or a faucet
   funds new wallets day after day; where the crawl sees only its outflows (Akash: funding is read
   per followed wallet, so an exchange's own inflow may be unseen) this is the shape that shows.
   A Sybil funder funds its star in a burst, so it is not one; nor is a listed wallet (``never``).

Not hubs, by construction: a Sybil funder or a listed wallet dusting many wallets (fan-out only), a
Golem provider's payee (fan-in from requestors, a couple of outs), a payroll treasury (one funder,
a few dozen outs), ordinary wallets in a busy background.  Wallets in ``never`` (the listed wallets)
are never made hubs by behaviour.  Known limits: behaviour can be imitated - a wallet that trades
with enough unrelated wallets both ways stops walks (the stop is reported with its reason, so an
investigator sees it); and an exchange whose depositors were all first funded by itself is not
recognised by shape 1.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from fractions import Fraction
from typing import Any

from graphs.build import TracerGraph
from graphs.clusters import DEFAULT_MAX_STAR, Hub
from graphs.dust import as_fraction, dust_limits

DEFAULT_MIN_COUNTERPARTIES = 25
DEFAULT_MEDIAN_FACTOR = 5.0
DEFAULT_MIN_DEPOSITS = 10
DEFAULT_DEPOSIT_MAX_SENDERS = 5
DEFAULT_FORWARD_SHARE = Fraction(9, 10)
DEFAULT_DISTRIBUTOR_MIN_DAYS = 10


def _lower_median(xs: list[int]) -> int:
    if not xs:
        return 0
    xs.sort()
    return xs[(len(xs) - 1) // 2]


def behavioural_hubs(tg: TracerGraph, known: Mapping[int, Hub] | None = None, never: Iterable[str] = (),
                     dust: Mapping[str, int] | None = None,
                     min_counterparties: int = DEFAULT_MIN_COUNTERPARTIES,
                     median_factor: float = DEFAULT_MEDIAN_FACTOR, min_deposits: int = DEFAULT_MIN_DEPOSITS,
                     deposit_max_senders: int = DEFAULT_DEPOSIT_MAX_SENDERS,
                     forward_share: Fraction | float = DEFAULT_FORWARD_SHARE,
                     max_star: int = DEFAULT_MAX_STAR,
                     distributor_min_days: int = DEFAULT_DISTRIBUTOR_MIN_DAYS) -> dict[int, Hub]:
    """Wallets that behave like an exchange (not already in ``known``, not in ``never``), with why."""
    known = known or {}
    forward_share = as_fraction(forward_share)
    limits = dust_limits(tg) if dust is None else dust
    skip = {n for n in (tg.get(x) for x in never) if n is not None} | set(known)
    funder = {w: ff.src for w, ff in tg.first_in.items()}
    n_funded = Counter(funder.values())

    # Raw adjacency dicts ({neighbour: {key: data}}): networkx's views cost more than the work here.
    succ: Mapping[int, Mapping[int, Mapping[int, Mapping[str, Any]]]] = tg.g._succ
    pred: Mapping[int, Mapping[int, Mapping[int, Mapping[str, Any]]]] = tg.g._pred
    lim = limits.get

    def payments(n: int, out: bool) -> Iterator[tuple[int, Mapping[str, Any]]]:
        """``n``'s paid edges above the dust limit (out: to receivers; else: from senders)."""
        for m, kd in (succ if out else pred)[n].items():
            if m != n:
                for d in kd.values():
                    if d["k"] == "paid" and d["a"] >= lim(d.get("s", ""), 1):
                        yield m, d

    def distinct(adj: Mapping[int, Mapping[int, Mapping[str, Any]]], n: int) -> int:
        c = 0
        for m, kd in adj.items():
            if m != n:
                for d in kd.values():
                    if d["k"] == "paid" and d["a"] >= limits.get(d["s"], 1):
                        c += 1
                        break
        return c

    def source_key(u: int, hub: int) -> int | None:
        """Who a sender's money came from (None: from ``hub`` itself)."""
        f = funder.get(u)
        if f == hub:
            return None
        if f is None or f in known or n_funded[f] > max_star:
            return u
        return f

    # Distinct counterparties of every wallet (one pass over the edges), then deposit-like wallets.
    n_in: dict[int, int] = {}
    n_out: dict[int, int] = {}
    for n, k in tg.g.nodes(data="k"):
        if k == "wallet":
            n_out[n], n_in[n] = distinct(succ[n], n), distinct(pred[n], n)
    num, den = forward_share.numerator, forward_share.denominator
    feeders: dict[int, list[int]] = defaultdict(list)  # forwarding target -> deposit-like wallets
    for n, nin in n_in.items():
        if not 1 <= nin <= deposit_max_senders or not n_out[n]:
            continue
        # A forwarding target needs min_deposits feeders, hence as many distinct senders: skip
        # wallets that pay no such wallet (most of a busy background) before summing amounts.
        if not any(n_in.get(v, 0) >= min_deposits for v in succ[n] if v != n):
            continue
        received: dict[str, int] = defaultdict(int)
        for _, d in payments(n, False):
            received[d.get("s", "")] += d["a"]
        outs: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for v, d in payments(n, True):
            outs[v][d.get("s", "")] += d["a"]
        for v, sent in outs.items():
            if all(sent.get(a, 0) * den >= num * x for a, x in received.items()):
                feeders[v].append(n)
                break
    thr_in = max(min_counterparties, math.ceil(median_factor * _lower_median([x for x in n_in.values() if x])))
    thr_out = max(min_counterparties, math.ceil(median_factor * _lower_median([x for x in n_out.values() if x])))

    hubs: dict[int, Hub] = {}
    for n in sorted(n_in):
        if n in skip or n_in[n] < thr_in or n_out[n] < thr_out:
            continue
        keys = {source_key(u, n) for u, _ in payments(n, False)} - {None}
        if len(keys) >= thr_in:
            hubs[n] = Hub(tg.ids[n], f"behaves like an exchange: {len(keys)} distinct senders, "
                                     f"{n_out[n]} distinct receivers")
    days: dict[int, set[int]] = defaultdict(set)
    wallets_funded: Counter[int] = Counter()
    for w, ff in tg.first_in.items():
        if tg.kind(w) == "wallet" and ff.time is not None and ff.amount >= lim(ff.asset, 1):
            days[ff.src].add(ff.time // 86400)
            wallets_funded[ff.src] += 1
    for n in sorted(days):
        if n in skip or n in hubs or tg.kind(n) != "wallet" or distributor_min_days <= 0:
            continue
        if wallets_funded[n] >= thr_out and len(days[n]) >= distributor_min_days:
            hubs[n] = Hub(tg.ids[n], f"behaves like an exchange: first funder of {wallets_funded[n]} wallets "
                                     f"on {len(days[n])} different days")
    for t in sorted(feeders):
        deps = feeders[t]
        if t in skip or t in hubs or len(deps) < min_deposits or n_out.get(t, 0) < min_deposits:
            continue
        keys = {source_key(u, t) for d in deps for u, _ in payments(d, False)} - {None}
        if len(keys) >= min_deposits:
            hubs[t] = Hub(tg.ids[t], f"behaves like an exchange: {len(deps)} deposit addresses forward >= "
                                     f"{float(forward_share):.0%} of what they receive to it, "
                                     f"{n_out[t]} distinct receivers")
    return hubs
