"""graphs.exposure: exact haircut shares hop by hop, k-hop limit, hubs stop walks and are reported."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from graphs.build import build_graph
from graphs.clusters import find_hubs
from graphs.exposure import exposure

# held_factor=0: these tests check the walk's arithmetic; small held receipts (which
# ExposureResult.passive keeps apart) are tested in tests/test_graph_exposure_amounts.py.

L = "wallet:evm:listed"
# Amounts below are in units of 100 USDC: every one is above the stablecoin dust minimum (10 USDC;
# graphs/dust.py). They were base units (0.000001 USDC) before dust existed; the shares are the same.
UNIT = 100 * 10**6


def paid(i: int, src: str, dst: str, amount: int, asset: str = "USDC", t: int = 0) -> tuple:
    return (f"p{i}", "paid", src, dst, str(amount * UNIT), 6, asset, t, None)


def test_haircut_is_exact_fraction() -> None:
    rows = [paid(1, L, "wallet:evm:m", 1), paid(2, "wallet:evm:clean", "wallet:evm:m", 2),
            paid(3, "wallet:evm:m", "wallet:evm:r", 3), paid(4, "wallet:evm:other", "wallet:evm:r", 3)]
    tg = build_graph(rows)
    res = exposure(tg, [L], {}, held_factor=0)
    assert res.incoming["wallet:evm:m"].share == Fraction(1, 3)
    r = res.incoming["wallet:evm:r"]
    assert r.share == Fraction(1, 6) and r.hop == 2 and r.source == L
    assert r.path == (L, "wallet:evm:m", "wallet:evm:r") and r.refs == ("p1", "p3")


def test_k_hops_limit_and_min_share() -> None:
    chain = [L] + [f"wallet:evm:h{i}" for i in range(1, 6)]
    tg = build_graph([paid(i, a, b, 10) for i, (a, b) in enumerate(zip(chain, chain[1:], strict=False))])
    res = exposure(tg, [L], {}, hops=3, held_factor=0)
    assert sorted(e.hop for e in res.incoming.values()) == [1, 2, 3]
    assert exposure(tg, [L], {}, hops=5, held_factor=0).incoming["wallet:evm:h5"].hop == 5
    tg2 = build_graph([paid(1, L, "wallet:evm:x", 1), paid(2, "wallet:evm:big", "wallet:evm:x", 10**6)])
    assert "wallet:evm:x" not in exposure(tg2, [L], {}, held_factor=0).incoming  # share below 1%


def test_payment_before_taint_arrived_is_clean() -> None:
    rows = [paid(1, "wallet:evm:m", "wallet:evm:early", 10, t=100), paid(2, L, "wallet:evm:m", 10, t=200),
            paid(3, "wallet:evm:m", "wallet:evm:late", 10, t=300), paid(4, "wallet:evm:c", "wallet:evm:m", 10, t=50)]
    res = exposure(build_graph(rows), [L], {}, held_factor=0)
    assert res.incoming["wallet:evm:m"].share == Fraction(1, 2)
    assert "wallet:evm:early" not in res.incoming  # paid before m received anything from L
    assert res.incoming["wallet:evm:late"].share == Fraction(1, 2)


def test_assets_are_not_mixed() -> None:
    tg = build_graph([paid(1, L, "wallet:evm:x", 1, "USDC"), paid(2, "wallet:evm:c", "wallet:evm:x", 10**9, "ETH")])
    e = exposure(tg, [L], {}, held_factor=0).incoming["wallet:evm:x"]
    assert e.share == 1 and e.asset == "USDC/6"


def test_walk_stops_at_hub_and_says_so() -> None:
    ex = "wallet:evm:ex"
    rows = [paid(1, L, ex, 10), paid(2, ex, "wallet:evm:user", 10), paid(3, L, "wallet:evm:a", 5), paid(4, "wallet:evm:a", ex, 5)]
    tg = build_graph(rows)
    hubs = find_hubs(tg, [(ex, "exchange", "Ex 1", "obs1")])
    res = exposure(tg, [L], hubs, held_factor=0)
    assert "wallet:evm:user" not in res.incoming and ex not in res.incoming
    assert len(res.stops) == 1
    s = res.stops[0]
    assert (s.hub, s.hop, s.via, s.source, s.ref) == (ex, 1, L, L, "p1") and "exchange" in s.reason


def test_direct_outgoing_exposure() -> None:
    tg = build_graph([paid(1, "wallet:evm:payer", L, 1), paid(2, "wallet:evm:payer", "wallet:evm:z", 3)])
    o = exposure(tg, [L], {}, held_factor=0).outgoing["wallet:evm:payer"]
    assert o.share == Fraction(1, 4) and o.refs == ("p1",)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6), st.integers(1, 10**30)), min_size=1, max_size=25))
def test_shares_are_fractions_in_unit_interval(edges: list[tuple[int, int, int]]) -> None:
    rows = [paid(i, f"wallet:evm:{a}" if a else L, f"wallet:evm:{b}" if b else L, amt)
            for i, (a, b, amt) in enumerate(edges) if a != b]
    res = exposure(build_graph(rows), [L], {}, hops=4, held_factor=0)
    for e in list(res.incoming.values()) + list(res.outgoing.values()):
        assert isinstance(e.share, Fraction) and 0 < e.share <= 1
        assert e.source == L and len(e.refs) == len(e.path) - 1
    for e in res.incoming.values():
        assert e.path[0] == L and e.path[-1] == e.node and 1 <= e.hop <= 4
    for e in res.outgoing.values():
        assert e.path == (e.node, L)
