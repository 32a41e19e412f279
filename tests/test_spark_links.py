"""graphs.spark.links: the payment-scale clustering heuristics on Spark give the networkx links, in the
networkx order (cluster link lists and evidence follow it), on hand-built traps and simulator worlds."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from connectors import facts
from connectors.akash.parse import DENOM_SYMBOL
from graphs import clusters as nx_links
from graphs.build import TracerGraph, build_graph
from graphs.clusters import Hub, Link, find_hubs
from graphs.spark import links as sp_links
from graphs.spark.frames import EDGES_SEQ_SCHEMA, PAID_SCHEMA, edge_rows_seq, frame, paid_rows
from graphs.spark.funding import first_funding
from tracer.scoring import tables
from tracer.scoring.rules import Params
from tracer.scoring.stages import NetworkxStages
from tracer.simulate import build_world
from tracer.store import open_store

# A JVM and Spark jobs: minutes on this 2-core machine; run in CI (`make test`), skipped by -m 'not slow'.
pytestmark = pytest.mark.slow

DAY = 86400
USDC = "USDC/6"


def W(name: str) -> str:
    return f"wallet:evm:{name}"


def paid(fid: str, src: str, dst: str, t: int | None, amount: int = 100) -> tuple:
    return (fid, "paid", src, dst, str(amount), 6, "USDC", t, None)


def edge(fid: str, kind: str, src: str, dst: str, t: int | None = None) -> tuple:
    return (fid, kind, src, dst, None, None, None, t, None)


def traps() -> list[tuple]:
    """One graph with every heuristic and the orders a naive sort gets wrong."""
    fa, fb, lease, dep1 = W("zz-fund"), W("aa-fund"), "lease:akash:t/1/1/1/p", "deployment:akash:own/5"
    rows = [  # s3 and s2 enter the graph (and first_in) by dust, before s0/s1: node order != id order
        paid("dust1", W("duster"), W("s3"), 500, amount=1), paid("dust2", W("duster"), W("s2"), 501, amount=1),
        edge("o-l", "other", W("friend"), lease),  # friend's pair with the lease opens before friend2's
        paid("q1", "wallet:akash:own", W("shop"), 50),  # the deployment owner is a node of the graph
        edge("r1", "rented", W("t"), lease, 5), paid("e0", W("friend2"), lease, 6),
        paid("e1", W("friend"), lease, 7), paid("e2", W("friend"), lease, 8), paid("e3", W("t"), lease, 9),
        edge("r2", "rented", W("t2"), lease, 10), edge("r3", "rented", W("t"), lease, 11),
        paid("e4", W("ex"), lease, 12), paid("e5", W("payer1"), dep1, 13), paid("e6", "wallet:akash:own", "deployment:akash:own/7", 14),
        paid("e7", W("payer2"), "deployment:akash:ghost/6", 15),
    ]
    # Star of zz-fund with tied times (order by node, not id), a stale wallet, an unknown time, a payee,
    # a deployment and a late wallet (a second burst too small to count).
    rows += [paid("a1", fa, W("s1"), 1000), paid("a0", fa, W("s0"), 2000), paid("a2", fa, W("s2"), 1000),
             paid("a3", fa, W("s3"), 2000), paid("a4", W("old"), W("elsewhere"), 1200), paid("a5", fa, W("old"), 1500),
             paid("a6", fa, W("notime"), None), paid("a7", fa, W("payee"), 1600),
             edge("po0", "payout_to", "provider:akash:p0", W("payee")), paid("a8", fa, "deployment:akash:zz/1", 1700),
             paid("a9", fa, W("late"), 1000 + 30 * DAY)]
    # aa-fund: a second star, after zz-fund in first_in order though before it by id.
    rows += [paid(f"b{i}", fb, W(f"b{i}"), 3000 + i) for i in range(3)]
    # A treasury paying 3 staff monthly (payroll) and one paying 1 of 3 monthly (still a star).
    rows += [paid(f"pr{m}-{k}", W("treasury"), W(f"staff{m}"), 5000 + m * 60 + k * 30 * DAY)
             for m in range(3) for k in range(3)]
    rows += [paid(f"mx{m}", W("mixed"), W(f"mx{m}"), 6000 + m) for m in range(3)]
    rows += [paid(f"mx0-{k}", W("mixed"), W("mx0"), 6000 + k * 30 * DAY) for k in range(1, 4)]
    # A service: 4 bursts of 3 fresh wallets, 10 days apart (3 bursts are still stars); a faucet
    # first-funding more wallets than a star holds.
    rows += [paid(f"sv{b}-{i}", W("svc"), W(f"sv{b}-{i}"), 9000 + b * 10 * DAY + i) for b in range(4) for i in range(3)]
    rows += [paid(f"s3v{b}-{i}", W("svc3"), W(f"s3v{b}-{i}"), 9000 + b * 10 * DAY + i) for b in range(3) for i in range(3)]
    rows += [paid(f"fc{i}", W("faucet"), W(f"fc{i}"), 8000 + i) for i in range(101)]
    # An exchange funding fresh wallets is nobody's common funder.
    rows += [paid(f"xf{i}", W("ex"), W(f"xf{i}"), 7000 + i) for i in range(3)]
    # Deposit addresses: dep5 pays ex first; dep1 (a's pair opens with another edge kind, c pays twice,
    # the bridge is a hub); dep2 forwards to ex and ex2 (judged under ex2, first in the hubs' order);
    # dep3 forwards half elsewhere; dep4 has one sender.
    rows += [paid("d50", W("j"), W("dep5"), 100), paid("d51", W("k"), W("dep5"), 101),
             paid("d52", W("dep5"), W("ex"), 102),
             edge("d10", "other", W("a"), W("dep1")), paid("d11", W("b"), W("dep1"), 110),
             paid("d12", W("c"), W("dep1"), 111), paid("d13", W("a"), W("dep1"), 112),
             paid("d14", W("c"), W("dep1"), 113), paid("d15", W("bridge"), W("dep1"), 114),
             paid("d16", W("dep1"), W("ex"), 115), paid("d17", W("dep1"), W("ex"), 116),
             paid("d20", W("a"), W("dep2"), 120), paid("d21", W("d"), W("dep2"), 121),
             paid("d22", W("dep2"), W("ex"), 122), paid("d23", W("dep2"), W("ex2"), 123),
             paid("d30", W("g"), W("dep3"), 130), paid("d31", W("h"), W("dep3"), 131),
             paid("d32", W("dep3"), W("ex"), 132), paid("d33", W("dep3"), W("elsewhere"), 133),
             paid("d40", W("i"), W("dep4"), 140), paid("d41", W("dep4"), W("ex"), 141)]
    # Payout wallets: p2 enters before p1; p3 names pay2 twice; p1's payout to a hub does not count; a
    # wallet is no provider.
    rows += [edge("o2", "payout_to", "provider:akash:p2", W("pay")), edge("o1", "payout_to", "provider:akash:p1", W("pay")),
             edge("o3", "payout_to", "provider:akash:p3", W("pay2")), edge("o4", "payout_to", "provider:akash:p3", W("pay2")),
             edge("o5", "payout_to", "provider:akash:p1", W("ex")), edge("o6", "payout_to", W("shop"), W("pay"))]
    return rows


TAGS = [(W("ex2"), "exchange", "Ex Two", "t2"), (W("ex"), "exchange", "Ex", "t1"), (W("bridge"), "bridge", "Br", "t3")]


def by_id(tg: TracerGraph, hubs: Mapping[int, Hub]) -> dict[str, Hub]:
    return {tg.ids[n]: h for n, h in hubs.items()}


def compare(spark: Any, tg: TracerGraph, hubs: Mapping[int, Hub], dust: Mapping[str, int],
            check_first: bool = False) -> dict[str, list[Link]]:
    """Every heuristic on both engines (all four through ``payment_links``): equal lists, order
    included; returns networkx's links."""
    g = sp_links.link_graph(frame(spark, edge_rows_seq(tg), EDGES_SEQ_SCHEMA))
    paid_f = frame(spark, paid_rows(tg), PAID_SCHEMA).cache()
    first = first_funding(paid_f, dust).cache()
    if check_first:  # the input the common funder reads: tg.first_in once dust is no funding
        firsts = {r["w"]: (r["src"], r["t"], int(r["a"]), r["s"], r["f"]) for r in first.collect()}
        assert firsts == {tg.ids[w]: (tg.ids[ff.src], ff.time, ff.amount, ff.asset, ff.fact)
                       for w, ff in tg.first_in.items()}
    hs, payees = by_id(tg, hubs), {tg.ids[n] for n in tg.payees}
    out = {name: getattr(nx_links, name)(tg, hubs) for name in
           ("common_funder_links", "deposit_reuse_links", "escrow_third_party_links", "payout_links")}
    got = sp_links.payment_links(g, paid_f, first, hs, payees)
    groups = {"common_funder_links": ("common_funder", "payroll"), "deposit_reuse_links": ("deposit_reuse",),
              "escrow_third_party_links": ("escrow_third_party",), "payout_links": ("payout_to", "shared_payout")}
    for name, heuristics in groups.items():
        assert [lk for lk in got if lk.heuristic in heuristics] == out[name], name
    assert got == [lk for v in out.values() for lk in v]  # and all_links' order of the heuristics
    g.unpersist()
    paid_f.unpersist()
    first.unpersist()
    return out


def test_traps_equal_networkx_in_order(spark: Any) -> None:
    tg = build_graph(traps())
    dust = {USDC: 10}
    tg.ignore_dust_fundings(dust)
    hubs = find_hubs(tg, TAGS, behaviour=False)
    got = compare(spark, tg, hubs, dust, check_first=True)
    # The traps hold: each is a link (or its absence) the test can lose.
    cf = got["common_funder_links"]
    assert [(lk.a, lk.heuristic) for lk in cf if lk.b == W("zz-fund")] == [
        (W("s2"), "common_funder"), (W("s1"), "common_funder"), (W("s3"), "common_funder"), (W("s0"), "common_funder")]
    assert [lk.b for lk in cf].index(W("zz-fund")) < [lk.b for lk in cf].index(W("aa-fund"))
    assert {lk.a for lk in cf if lk.heuristic == "payroll"} == {W(f"staff{m}") for m in range(3)}
    assert {lk.a for lk in cf if lk.b == W("mixed")} == {W(f"mx{m}") for m in range(3)}
    assert not any(lk.b in (W("svc"), W("ex"), W("faucet")) for lk in cf)
    assert len([lk for lk in cf if lk.b == W("svc3")]) == 9
    assert [(lk.a, lk.b, lk.refs, lk.detail.rsplit(" ", 1)[-1]) for lk in got["deposit_reuse_links"]] == [
        (W("a"), W("dep2"), ("d20",), W("ex2")), (W("d"), W("dep2"), ("d21",), W("ex2")),
        (W("j"), W("dep5"), ("d50",), W("ex")), (W("k"), W("dep5"), ("d51",), W("ex")),
        (W("a"), W("dep1"), ("d13",), W("ex")), (W("b"), W("dep1"), ("d11",), W("ex")),
        (W("c"), W("dep1"), ("d12",), W("ex"))]
    assert [(lk.a, lk.b, lk.refs) for lk in got["escrow_third_party_links"]] == [
        (W("friend"), W("t"), ("e1", "r3")), (W("friend"), W("t2"), ("e1", "r2")),
        (W("friend"), W("t"), ("e2", "r3")), (W("friend"), W("t2"), ("e2", "r2")),
        (W("friend2"), W("t"), ("e0", "r3")), (W("friend2"), W("t2"), ("e0", "r2")),
        (W("payer1"), "wallet:akash:own", ("e5", "deployment:akash:own/5"))]
    assert [(lk.a, lk.b, lk.heuristic) for lk in got["payout_links"]] == [
        ("provider:akash:p0", W("payee"), "payout_to"), ("provider:akash:p2", W("pay"), "payout_to"),
        ("provider:akash:p1", W("pay"), "payout_to"), ("provider:akash:p3", W("pay2"), "payout_to"),
        ("provider:akash:p3", W("pay2"), "payout_to"), ("provider:akash:p2", "provider:akash:p1", "shared_payout"),
        ("provider:akash:p3", "provider:akash:p3", "shared_payout")]


def world_graph(tmp: Path, seed: str, background: int, extras: bool) -> tuple[TracerGraph, dict[int, Hub], dict[str, int]]:
    """A simulator world through the store, built as tracer.scoring.run.context_from_rows does up to
    the links: graph, dust limits, dust-free first fundings, hubs."""
    w = build_world(seed, background)
    if extras:  # payroll and a shared payout wallet, which the scenario does not plant
        treasury = w.wallet("treasury")
        for m in range(3):
            staff = w.wallet(f"staff-{m}")
            for k in range(3):
                w.pay(treasury, staff, 2500, 3 + 30 * k, 9 + m)
        shared = w.wallet("shared-payout", "akash")
        w.provider("twin-a", {"a100": 8}, "DE", payout=shared)
        w.provider("twin-b", {"a100": 8}, "DE", payout=shared)
    store = open_store(tmp / f"{seed}.db")
    w.write(store)
    obs = tables.observations(store, "2100-01-01T00:00:00Z")
    tg = build_graph(tables.iter_edges(store), obs)
    p, st = Params(), NetworkxStages()
    dust = st.dust(tg, p, {**DENOM_SYMBOL, **tables.token_symbols(store)})
    tg.ignore_dust_fundings(dust)
    tags = []
    for o in obs:
        if o["predicate"] == "tag":
            at = json.loads(o["attrs"]) if isinstance(o["attrs"], str) else (o["attrs"] or {})
            tags.append((o["subject"], facts.tag_category(at), str(o["value"]), o["id"]))
    listed = {o["subject"]: [o["id"]] for o in obs if o["predicate"] == "sanctioned"}
    return tg, st.hubs(tg, tags, listed, dust, p), dust


def test_simulator_worlds_equal_networkx(spark: Any, tmp_path: Path) -> None:
    seen: Counter[str] = Counter()
    for seed, background, extras in (("tracer-sim", 200, False), ("links-b", 40, True)):
        tg, hubs, dust = world_graph(tmp_path, seed, background, extras)
        for links in compare(spark, tg, hubs, dust).values():
            seen.update(lk.heuristic for lk in links)
    # Every heuristic fired in some world, so equality above compared real links.
    assert {"common_funder", "payroll", "deposit_reuse", "escrow_third_party", "payout_to",
            "shared_payout"} <= {h for h, n in seen.items() if n}, seen
