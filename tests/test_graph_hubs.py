"""graphs.hubs: exchanges recognised by behaviour (no tag), and the lawful shapes that are not hubs.

Root cause reproduced (issue 12): without an attribution tag, an exchange below the 1,000-edge cut
passed a listed depositor's taint to every customer.
"""

from __future__ import annotations

import random

from graphs.build import build_graph
from graphs.clusters import find_hubs
from graphs.exposure import exposure
from graphs.hubs import behavioural_hubs
from tracer.scoring import rules as R
from tracer.scoring.rules import Params
from tracer.scoring.run import params_from_config, score_store
from tracer.simulate import World
from tracer.store import Store

L = "wallet:evm:listed"
EX = "wallet:evm:ex"
GLM = "token:polygon:0x0b220b82f3ea3b7f6d9a1d8ab58930c064a2b5bf"
NOW = "2026-06-01T00:00:00Z"


class Rows(list):  # type: ignore[type-arg]
    def pay(self, src: str, dst: str, units: float, t: int, asset: str = "USDC", decimals: int = 6) -> None:
        self.append((f"p{len(self)}", "paid", src, dst, str(round(units * 10**6)) + "0" * (decimals - 6),
                     decimals, asset, t, None))


def exchange_world(customers: int = 100) -> tuple[Rows, list[str]]:
    """Customers deposit at an untagged exchange, a listed wallet deposits too, the exchange pays out."""
    rows, cs = Rows(), [f"wallet:evm:c{i}" for i in range(customers)]
    rows.pay("wallet:evm:l-src", L, 100_000, 1)
    rows.pay(L, EX, 60_000, 5)
    for i, c in enumerate(cs):
        rows.pay(f"wallet:evm:bank{i}", c, 1_500, 2)  # each customer has money of its own
        rows.pay(c, EX, 1_000, 10 + i)
    for i, c in enumerate(cs):
        rows.pay(EX, c, 900 + i, 1_000 + i)
    return rows, cs


def test_untagged_exchange_stops_walks_with_a_behavioural_reason() -> None:
    rows, cs = exchange_world()
    tg = build_graph(rows)
    hubs = find_hubs(tg, [])
    assert tg.index[EX] in hubs
    h = hubs[tg.index[EX]]
    assert h.reason == "behaves like an exchange: 101 distinct senders, 100 distinct receivers" and h.ref is None
    res = exposure(tg, [L], hubs)
    assert not any(c in res.incoming for c in cs) and EX not in res.incoming
    assert [(s.hub, s.hop, s.via) for s in res.stops] == [(EX, 1, L)]
    assert res.stops[0].reason.startswith("behaves like an exchange")


def test_untagged_exchange_via_deposit_addresses() -> None:
    """Deposit addresses (few senders each, forward >= 90 % to one node) mark that node as an exchange."""
    rows, n = Rows(), 12
    for i in range(n):
        c, d = f"wallet:evm:c{i}", f"wallet:evm:dep{i}"
        rows.pay(f"wallet:evm:bank{i}", c, 2_000, 1)
        rows.pay(c, d, 1_000, 10 + i)
        rows.pay(d, EX, 995, 20 + i)
        rows.pay(EX, c, 500, 100 + i)
    rows.pay(L, "wallet:evm:depL", 50_000, 5)
    rows.pay("wallet:evm:depL", EX, 50_000, 6)
    tg = build_graph(rows)
    h = find_hubs(tg, [])[tg.index[EX]]
    assert h.reason == ("behaves like an exchange: 13 deposit addresses forward >= 90% of what they receive "
                        "to it, 12 distinct receivers")
    res = exposure(tg, [L], find_hubs(tg, []))
    assert not any(f"wallet:evm:c{i}" in res.incoming for i in range(n))


def untagged_exchange_store() -> tuple[Store, list[str]]:
    w = World("t-untagged-exchange")
    ex, listed = w.wallet("exchange"), w.wallet("listed")
    w.listed(listed)
    w.pay(w.wallet("l-src"), listed, 200_000, 0.1)
    w.pay(listed, ex, 100_000, 0.5)
    p = w.provider("p", {"h100-sxm": 1}, "US")
    cs = [w.wallet(f"customer-{i}") for i in range(110)]
    for i, c in enumerate(cs):
        w.pay(w.wallet(f"bank-{i}"), c, 2_000, 0.2)
        w.pay(c, ex, 1_000, 0.3 + i / 1000)
        w.pay(ex, c, 800, 1 + i / 1000)
        w.rent(c, p, "h100-sxm", 10, 2 + i * 0.27, 100)  # unrelated customers rent at their own times
    store = Store(":memory:")
    w.write(store)
    return store, cs


def test_untagged_exchange_customers_are_not_flagged() -> None:
    store, cs = untagged_exchange_store()
    res = score_store(store, now=NOW)
    exposed = {f["subject"] for f in res.flags if any(r["rule"] == "exposure" for r in f["reasons"])}
    assert not exposed & set(cs)
    ctx = res.context
    assert ctx is not None and all(R.exposure(c, ctx) is None for c in cs)


def test_scoring_params_reach_hub_detection() -> None:
    """``hub_behaviour = false`` in [scoring] brings back the old leak (the customers get exposure)."""
    store, cs = untagged_exchange_store()
    res = score_store(store, params=params_from_config({"scoring": {"hub_behaviour": False}}), now=NOW)
    ctx = res.context
    assert ctx is not None and all(R.exposure(c, ctx) is not None for c in cs)
    res = score_store(store, params=Params(hub_min_counterparties=500), now=NOW)
    assert res.context is not None and R.exposure(cs[0], res.context) is not None


def test_tags_win_over_behaviour() -> None:
    rows, _ = exchange_world()
    tg = build_graph(rows)
    hubs = find_hubs(tg, [(EX, "exchange", "Big Exchange", "o1")])
    assert hubs[tg.index[EX]].reason == "tagged exchange: Big Exchange"
    # Below every behavioural threshold, a tag alone still makes a hub.
    small, _ = exchange_world(3)
    tg = build_graph(small)
    assert tg.index[EX] not in find_hubs(tg, [])
    assert tg.index[EX] in find_hubs(tg, [(EX, "exchange", "Small Exchange", "o2")])


def test_behaviour_can_be_switched_off_and_listed_wallets_are_never_behavioural_hubs() -> None:
    rows, _ = exchange_world()
    tg = build_graph(rows)
    assert tg.index[EX] not in find_hubs(tg, [], behaviour=False)
    assert tg.index[EX] not in find_hubs(tg, [], never=[EX])


# -- lawful and hostile shapes that are not hubs ------------------------------------------------------

def test_sybil_funder_is_not_a_hub() -> None:
    """Fan-out to fresh wallets, which send their leftovers back: the senders are its own wallets."""
    rows, f = Rows(), "wallet:evm:sybil-funder"
    rows.pay("wallet:evm:bridge", f, 100_000, 1)
    for i in range(60):
        s = f"wallet:evm:s{i}"
        rows.pay(f, s, 900, 10 + i)
        rows.pay(s, f"wallet:evm:lease{i}", 850, 200 + i)
        rows.pay(s, f, 40, 300 + i)
    tg = build_graph(rows)
    assert behavioural_hubs(tg) == {}
    assert tg.index[f] not in find_hubs(tg, [])


def test_listed_duster_is_not_a_hub() -> None:
    rows = Rows()
    for i in range(3):
        rows.pay(f"wallet:evm:src{i}", L, 10_000, 1)
    for i in range(300):
        rows.pay(L, f"wallet:evm:v{i}", 0.000001, 10 + i)
        rows.pay(f"wallet:evm:v{i}", f"wallet:evm:x{i}", 1, 400 + i)  # victims are ordinary wallets
    tg = build_graph(rows)
    assert tg.index[L] not in find_hubs(tg, [])


def test_golem_provider_payee_is_not_a_hub() -> None:
    """Fan-in from many requestors in GLM, pays out to a couple of wallets."""
    rows, payee = Rows(), "wallet:evm:payee"
    for i in range(80):
        rows.pay(f"wallet:evm:req{i}", payee, 30 + i, 10 + i, GLM, 18)
    rows.pay(payee, "wallet:evm:owner", 2_000, 500, GLM, 18)
    rows.pay(payee, "wallet:evm:cex-deposit", 1_000, 600, GLM, 18)
    tg = build_graph(rows)
    assert behavioural_hubs(tg) == {}


def test_payroll_treasury_is_not_a_hub() -> None:
    """One company funds a treasury that pays the same 40 people every month."""
    rows, tr = Rows(), "wallet:evm:treasury"
    for month in range(12):
        rows.pay("wallet:evm:company", tr, 200_000, month * 30 * 86400)
        for e in range(40):
            rows.pay(tr, f"wallet:evm:emp{e}", 4_000, month * 30 * 86400 + 3600 + e)
    tg = build_graph(rows)
    assert behavioural_hubs(tg) == {}


def test_busy_ordinary_wallets_are_not_hubs() -> None:
    """Wallets paying each other at random, ~26 distinct counterparties each way: none stands out."""
    rnd, rows = random.Random(7), Rows()
    ws = [f"wallet:evm:b{i}" for i in range(100)]
    for k in range(3_000):
        s, d = rnd.sample(ws, 2)
        rows.pay(s, d, rnd.randrange(20, 5_000), k)
    tg = build_graph(rows)
    assert behavioural_hubs(tg) == {}


def test_long_running_distributor_is_a_hub_even_when_its_inflow_is_unseen() -> None:
    """Issue 12 (Akash worlds): funding is crawled per followed wallet, so an untagged exchange's hot
    wallet shows mostly as the first funder of many tenants, day after day; a listed wallet's deposit
    into it made ~200 customers medium once material exposure counted. It is a hub by that shape."""
    rows, hot = Rows(), "wallet:evm:hot"
    rows.pay("wallet:evm:l-src", L, 100_000, 1)
    rows.pay(L, hot, 20_000, 2)
    customers = [f"wallet:evm:c{i}" for i in range(60)]
    for i, c in enumerate(customers):
        rows.pay(hot, c, 500, 86_400 * i + 3)  # one new customer a day for 60 days
        rows.pay(c, f"wallet:evm:lease{i}", 400, 86_400 * i + 10)
    tg = build_graph(rows)
    hubs = find_hubs(tg, [])
    assert tg.index[hot] in hubs and "first funder of 60 wallets on 60 different days" in hubs[tg.index[hot]].reason
    res = exposure(tg, [L], hubs)
    assert not set(customers) & set(res.incoming)
    assert [s.hub for s in res.stops] == [hot]
    # Switched off (distributor_min_days 0) the customers are exposed again: the shape is what stops it.
    off = find_hubs(tg, [], distributor_min_days=0)
    assert set(customers) <= set(exposure(tg, [L], off).incoming)


def test_burst_funder_is_not_a_distributor() -> None:
    """A Sybil operator funds its 60 wallets within two days: not a service, clustering must see it."""
    rows, f = Rows(), "wallet:evm:star"
    rows.pay("wallet:evm:bridge", f, 100_000, 1)
    for i in range(60):
        rows.pay(f, f"wallet:evm:s{i}", 900, 3_000 * i)  # 60 fundings over ~2 days
    tg = build_graph(rows)
    assert tg.index[f] not in find_hubs(tg, [])
