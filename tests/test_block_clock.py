"""Time: nothing reaches the graph at 1970. Facts with a block height and no time are placed by a
per-chain block clock (anchors from stored facts that carry both), marked estimated; facts with
neither have an unknown time (None), never 0."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from akash_support import config, served, sync_akash
from hypothesis import given, settings
from hypothesis import strategies as st

from graphs.build import build_graph, to_epoch
from graphs.clusters import common_funder_links
from tracer.scoring import tables
from tracer.store import Store
from tracer.world.akash import block_unix, planted

NOW = "2030-01-01T00:00:00Z"


def _edges_by_fact(tg: Any) -> dict[str, dict[str, Any]]:
    return {d["f"]: d for _, _, d in tg.g.edges(data=True) if d["k"] not in ("funded_by", "same_actor")}


async def test_akash_deposits_are_placed_by_block_and_sybils_are_fresh(tmp_path: Path) -> None:
    """The 1970 deposit: escrow deposits carry a height but no time; they must land after the funding."""
    st_ = Store(tmp_path / "t.db")
    async with served() as base:
        res = await sync_akash(st_, tmp_path, config(base))
    assert res.status == "ok", res.errors
    # the graph exactly as scoring builds it from the store
    tg = build_graph(tables.iter_edges(st_), tables.observations(st_, NOW))
    by_fact = _edges_by_fact(tg)
    deposits = st_.query("SELECT id, block, time FROM edges WHERE id LIKE 'edge:akash:deposit:%'")
    assert deposits and all(r["time"] is None for r in deposits)
    placed = [r for r in deposits if r["block"] is not None]
    assert len(placed) > 50
    for r in placed:
        d = by_fact[r["id"]]
        assert d["t"] is not None and d.get("te") is True, r
        assert abs(d["t"] - block_unix(r["block"])) <= 60, (r, d["t"], block_unix(r["block"]))
    for r in deposits:
        if r["block"] is None:
            assert by_fact[r["id"]]["t"] is None  # unknown, not 1970
    assert all(d["t"] != 0 for d in by_fact.values())

    p = planted()
    sybils = [f"wallet:akash:{s}" for s in p["sybil_tenants"]]
    funder = f"wallet:akash:{p['sybil_funder']}"
    for s in sybils:
        n = tg.index[s]
        ff = tg.first_in[n]
        assert tg.ids[ff.src] == funder and ff.time is not None
        outs = [d for _, d in tg.out_edges(n, "paid")]
        assert outs and all(d["t"] is not None and d["t"] > ff.time for d in outs)  # fresh
    links = common_funder_links(tg, {}, 7 * 86400, min_group=3)
    linked = {lk.a for lk in links if lk.b == funder}
    assert linked >= set(sybils)


async def test_lcd_block_time_is_stored_as_an_anchor(tmp_path: Path) -> None:
    """The leases stream stores what it measured (head, its time, seconds per block) on ``chain:akash``."""
    st_ = Store(tmp_path / "t.db")
    async with served() as base:
        res = await sync_akash(st_, tmp_path, config(base, streams=["versions", "deployments", "leases"]))
    assert res.status == "ok", res.errors
    rows = st_.query("SELECT subject, value, attrs FROM observations WHERE predicate = 'block_time'")
    assert rows and rows[0]["subject"] == "chain:akash"
    anchors = tables.block_anchors(st_, ["akash"])
    assert anchors and all(c == "akash" for c, _, _ in anchors)
    assert all(t == block_unix(b) for _, b, t in anchors)
    # no funding stream ran: the lease edges (height, no time) are still placed by the LCD anchor
    tg = build_graph(tables.iter_edges(st_), tables.observations(st_, NOW))
    leases = st_.query("SELECT id, block FROM edges WHERE kind = 'rented' AND block IS NOT NULL")
    by_fact = _edges_by_fact(tg)
    assert leases and all(abs(by_fact[r["id"]]["t"] - block_unix(r["block"])) <= 60 for r in leases)


def test_to_epoch_none_is_unknown() -> None:
    assert to_epoch(None) is None and to_epoch("") is None
    assert to_epoch(0) == 0 and to_epoch("1970-01-01T00:00:00Z") == 0


# -- property: no graph edge has time 0 unless its source row said so -------------------------------
CHAINS = ["akash", "osmosis", "evm", None]
_time = st.one_of(st.none(), st.just(""), st.just(0), st.integers(1, 2_000_000_000),
                  st.integers(1_600_000_000, 1_800_000_000).map(lambda t: f"{t}"))
_row = st.tuples(st.sampled_from(["paid", "rented", "uses_gpu", "payout_to"]), st.integers(0, 6),
                 st.integers(0, 6), _time, st.sampled_from(CHAINS), st.one_of(st.none(), st.integers(0, 5_000_000)))


@settings(max_examples=200, deadline=None)
@given(st.lists(_row, max_size=60))
def test_no_edge_at_1970_unless_the_source_said_so(rows: list[tuple[Any, ...]]) -> None:
    full = [(f"e{i}", k, f"wallet:x:{a}", f"wallet:x:{b}", "1", 0, "uakt", t, None, chain, blk)
            for i, (k, a, b, t, chain, blk) in enumerate(rows)]
    tg = build_graph(full)
    src = {r[0]: r for r in full}
    est: dict[Any, list[tuple[int, int]]] = {}
    for _, _, d in tg.g.edges(data=True):
        if d["k"] != "funded_by":
            r = src[d["f"]]
            if d["t"] == 0:
                assert r[7] in (0, "0"), r
            if r[7] not in (None, ""):
                assert d["t"] == to_epoch(r[7]) and not d.get("te")
            elif d["t"] is not None:
                assert d.get("te") is True and r[10] is not None and r[9] is not None and d["t"] > 0
                est.setdefault(r[9], []).append((r[10], d["t"]))
    for pts in est.values():  # estimated times are monotone in block height per chain
        pts.sort()
        assert all(t1 <= t2 for (_, t1), (_, t2) in zip(pts, pts[1:], strict=False)), pts
    for n, ff in tg.first_in.items():  # known times order before unknown ones
        if ff.time is None:
            assert all(d["t"] is None for _, d in tg.in_edges(n, "paid"))


async def test_timeline_and_explain_facts_say_the_time_is_estimated(tmp_path: Path) -> None:
    from tracer import queries as q

    st_ = Store(tmp_path / "t.db")
    async with served() as base:
        res = await sync_akash(st_, tmp_path, config(base))
    assert res.status == "ok", res.errors
    s = f"wallet:akash:{planted()['sybil_tenants'][0]}"
    tl = q.timeline(st_, s)
    paid = [ev for ev in tl if ev["event"] == "paid"]
    assert [ev["direction"] for ev in paid] == ["in", "out"]  # funded first, then the escrow deposit
    assert paid[0]["time_basis"] == "recorded"
    assert paid[1]["time_basis"].startswith("time estimated from akash block height") and "6.00 s/block" in \
        paid[1]["time_basis"]
    dep = st_.query("SELECT id, block FROM edges WHERE src = ? AND id LIKE 'edge:akash:deposit:%'", [s])[0]
    from graphs.timeline import iso

    assert paid[1]["time"] == iso(block_unix(dep["block"]))
    f = tables.fact(st_, dep["id"])
    assert f is not None and f["time"] is None and f["time_estimated"] == iso(block_unix(dep["block"]))
    assert "block height" in f["time_note"]


def test_block_clock_interpolates_extrapolates_and_stays_bounded() -> None:
    from graphs.timeline import BlockClock

    c = BlockClock([("a", 100, 1_000), ("a", 200, 2_000), ("a", 300, 2_500)])
    assert c.estimate("a", 150) == 1_500 and c.estimate("a", 300) == 2_500
    assert c.estimate("a", 400) == 3_250  # local rate of the last anchors: (2500-1000)/200 = 7.5 s/block
    assert c.estimate("b", 150) is None and c.estimate("a", None) is None
    early = BlockClock([("a", 1_000, 100), ("a", 1_100, 700)])
    assert early.estimate("a", 0) is None  # extrapolated to before 1970: unknown, not 0 or negative
    bad = BlockClock([("a", 1, 5_000), ("a", 2, 1_000), ("a", 3, 3_000)])  # out of order anchors
    est = [bad.estimate("a", b) for b in (1, 2, 3)]
    assert est == sorted(est)
    one = BlockClock([("a", 1_000, 10_000)])
    assert one.estimate("a", 1_010) is None  # one anchor and no rate: cannot tell
    one.add_rate("a", 6.0)
    assert one.estimate("a", 1_010) == 10_060 and "6.00 s/block" in one.note("a", 1_010)
    big = BlockClock(max_anchors=64)
    for b in range(0, 1_000_000, 7):
        big.add("evm", b, 1_600_000_000 + 2 * b)
    assert len(big.anchors("evm")) <= 66 and big.estimate("evm", 500_001) == 1_600_000_000 + 1_000_002
