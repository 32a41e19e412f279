"""Golem capacity from payments (issue 12, independent worlds).

On Golem there are no leases: a requestor rents by paying the provider's payee wallet in GLM, and a
payment settles an agreement's usage over a period *before* it.  Each payment is an estimated rental
of the provider's offered controlled GPUs (an upper bound per requestor) over the interval since the
requestor's previous payment to that payee (at most ``payment_max_window_days``), else over the
``payment_window_hours`` (24 h) before it; GPU-hours come from that window.  Repeated payments tile
(no double counting), coordinated requestors settling on their own schedules overlap, one large
lawful requestor stays one wallet, and paying a popular host links nobody."""

from __future__ import annotations

import hashlib
from typing import Any

from test_scoring_concealment import at_least, level, scored

from connectors import facts, ids
from tracer.scoring import rules as R
from tracer.scoring.rules import Params
from tracer.simulate import SOURCE, World, _t

GLM = ("token:polygon:0x0b220b82f3ea3b7f6d9a1d8ab58930c064a2b5bf", 18)
DAY = 86400


def golem_host(w: World, name: str, gpu: str = "h100-sxm", count: int = 8) -> tuple[str, str]:
    """A Golem node (provider) offering ``count`` GPUs, with its payee wallet: (payee, provider id)."""
    payee = w.wallet(f"payee:{name}")
    node = "0x" + hashlib.sha256(f"{w.seed}:{name}".encode()).hexdigest()[:40]
    pid = ids.provider("golem", node)
    w.add("market", facts.entity(pid, SOURCE, _t(0), kind="provider", address=node, label=name,
                                 attrs={"market": "golem"}, last_seen=_t(30)))
    w.edge("payout_to", pid, payee)
    w.edge("offers_gpu", pid, f"gpu:{gpu}", count=count)
    w.obs(payee, "role", "provider_payee", part="market", provider=pid)
    return payee, pid


def background(w: World, ex: str, hosts: list[str], n: int = 40) -> list[str]:
    """Unrelated requestors, funded by an exchange on their own days, paying hosts now and then."""
    bg = []
    for i in range(n):
        b = w.wallet(f"bg-{i}")
        day = w.rnd.uniform(0, 40)
        w.pay(ex, b, 2_000, day, asset=GLM)
        for k in range(w.rnd.randint(1, 4)):
            w.pay(b, w.rnd.choice(hosts), 40, day + 0.1 + k * w.rnd.uniform(0.5, 6), asset=GLM)
        bg.append(b)
    return bg


def conc(out: dict[str, Any], s: str) -> Any:
    return R.concealment(s, out["ctx"])


def test_each_payment_is_a_rental_since_the_previous_one_to_that_payee() -> None:
    w = World("g-windows")
    payee, pid = golem_host(w, "h", count=8)
    req = w.wallet("req")
    w.pay(w.wallet("src"), req, 50_000, 1, asset=GLM)
    for day in (5, 7, 37):  # two days after the first; then 30 days later (too long to be one rental)
        w.pay(req, payee, 1_000, day, 6, asset=GLM)
    out = scored(w)
    rs = sorted(out["ctx"].rentals[req], key=lambda r: r.end)
    t5 = rs[0].end
    assert [(r.start, r.end) for r in rs] == [(t5 - DAY, t5), (t5, t5 + 2 * DAY), (t5 + 31 * DAY, t5 + 32 * DAY)]
    assert all(r.estimated and r.units == 8 and r.provider == pid for r in rs)
    assert [r.gpu_hours for r in rs] == [8 * 24.0, 8 * 48.0, 8 * 24.0]
    # The assumed periods are parameters.
    out2 = scored(w, Params(payment_window_hours=6, payment_max_window_days=1))
    rs2 = sorted(out2["ctx"].rentals[req], key=lambda r: r.end)
    assert [r.end - r.start for r in rs2] == [6 * 3600] * 3


def test_once_paying_star_is_concealment_with_the_estimate_named() -> None:
    """6 fresh wallets funded by one fresh funder within 40 minutes, each paying once 11,000 GLM to
    an H100 payee within a day."""
    w = World("g-once-star")
    ex = w.wallet("exchange")
    w.tag(ex, "Exchange", "exchange")
    hosts = [golem_host(w, f"h100-{i}", count=2)[0] for i in range(6)]
    funder = w.wallet("funder")
    w.pay(ex, funder, 80_000, 5.0, asset=GLM)
    star = []
    for i in range(6):
        s = w.wallet(f"star-{i}")
        w.pay(funder, s, 11_200, 5.01 + i * 0.0045, asset=GLM)
        w.pay(s, hosts[i], 11_000, 5.1 + i * 0.15, asset=GLM)
        star.append(s)
    background(w, ex, [golem_host(w, f"bg-{i}", count=1)[0] for i in range(4)])
    out = scored(w)
    for s in star:
        assert at_least(out, s, "medium"), (s, level(out, s))
    e = conc(out, star[0])
    assert e is not None and "common_funder" in e.detail and "12 controlled GPUs at once" in e.detail
    assert "6 rental(s) estimated from payments to a provider's payee" in e.detail
    assert "24 h before it" in e.detail and "upper bound" in e.detail
    assert "288 controlled GPU-hours" in e.detail  # 6 payments x 2 GPUs x 24 h


def test_star_settling_every_two_days_on_staggered_schedules_overlaps() -> None:
    """Four wallets of one funder, each renting a 2x H100 node and settling every 48 h, wallet i 12 h
    after wallet i-1: with a fixed day before each payment only two were ever counted at once."""
    w = World("g-staggered")
    ex = w.wallet("exchange")
    w.tag(ex, "Exchange", "exchange")
    funder = w.wallet("funder")
    w.pay(ex, funder, 50_000, 1.0, asset=GLM)
    star = []
    for i in range(4):
        payee, _ = golem_host(w, f"node-{i}", count=2)
        s = w.wallet(f"s-{i}")
        w.pay(funder, s, 5_000, 1.02 + i * 0.01, asset=GLM)
        for k in range(5):
            w.pay(s, payee, 300, 3 + 2 * k + i * 0.5, 5, asset=GLM)
        star.append(s)
    out = scored(w)
    for s in star:
        assert at_least(out, s, "medium"), (s, level(out, s))
    e = conc(out, star[1])
    assert e is not None and "8 controlled GPUs at once" in e.detail and "since the requestor's previous" in e.detail


def test_synchronized_requestors_paying_h100_hosts_are_linked_and_flagged() -> None:
    w = World("g-sync")
    ex = w.wallet("exchange")
    w.tag(ex, "Exchange", "exchange")
    hosts = [golem_host(w, f"h100x8-{i}", count=8)[0] for i in range(3)]
    reqs = []
    for i in range(3):  # funded days apart by an exchange; first payments within 14 minutes
        r = w.wallet(f"req-{i}")
        w.pay(ex, r, 20_000, 1 + i * 2, asset=GLM)
        first = 12 + 3 / 24 + i * 7 / 1440
        for k in range(4):
            w.pay(r, hosts[i], 2_000, first + k * (1.5 + 0.3 * i), asset=GLM)
        reqs.append(r)
    bg = background(w, ex, [golem_host(w, f"bg-{i}", count=1)[0] for i in range(4)])
    out = scored(w)
    ctx = out["ctx"]
    sync = {x for lks in ctx.clusters.links.values() for lk in lks if lk.heuristic == "sync_rentals"
            for x in (lk.a, lk.b)}
    assert set(reqs) <= sync and len({ctx.clusters.cluster(r) for r in reqs}) == 1
    for r in reqs:
        assert at_least(out, r, "medium"), (r, level(out, r))
    e = conc(out, reqs[0])
    assert e is not None and "sync_rentals" in e.detail and "24 controlled GPUs at once" in e.detail
    assert not any(at_least(out, b, "medium") for b in bg)


def test_weekly_lawful_payer_and_customers_of_a_popular_host_stay_below_medium() -> None:
    w = World("g-lawful")
    ex = w.wallet("exchange")
    w.tag(ex, "Exchange", "exchange")
    payee, _ = golem_host(w, "big-node", count=8)
    lab = w.wallet("lab")
    w.pay(ex, lab, 2_000_000, 0.5, asset=GLM)
    for week in range(22):  # five months, every week, the same payee
        w.pay(lab, payee, 20_000, 1 + 7 * week, 10, asset=GLM)
    customers = []
    for i in range(12):  # unrelated requestors of the same popular host, each on its own schedule
        c = w.wallet(f"cust-{i}")
        day = 2 + i * 9.3
        w.pay(ex, c, 3_000, day, asset=GLM)
        for k in range(3):
            w.pay(c, payee, 500, day + 1 + k * 2.2, 13 + i % 7, asset=GLM)
        customers.append(c)
    out = scored(w)
    ctx = out["ctx"]
    assert not at_least(out, lab, "medium"), out["flags"].get(lab)
    assert ctx.clusters.cluster(lab) is None and conc(out, lab) is None
    rs = ctx.rentals[lab]  # windows tile: never more than the node's 8 GPUs at once for one payer
    assert all(a.end <= b.start for a, b in zip(sorted(rs, key=lambda r: r.start), sorted(rs, key=lambda r: r.start)[1:],
                                                 strict=False))
    assert sum(r.gpu_hours for r in rs) == 8 * 24 + 21 * 8 * 24 * 7
    for c in customers:
        assert not at_least(out, c, "medium"), (c, out["flags"].get(c))
        assert ctx.clusters.cluster(c) is None
