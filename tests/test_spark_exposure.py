"""graphs.spark.exposure: the Spark walk gives the networkx ExposureResult exactly (shares, paths, refs,
passive receipts, hub stops in order, outgoing) on the hand-built graphs of tests/test_graph_exposure*.py,
seeded random graphs full of ties, and simulator worlds scored end to end.

Each Spark call costs a few jobs (one action per hop), so the hand-built cases that share parameters
run as one graph: each case's node and fact ids get a suffix, so the cases stay disjoint components
and both engines see the same combined graph, dust limits and hubs."""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from test_graph_exposure import L, paid
from test_graph_exposure_amounts import USDC_POLYGON, glm, usdc

from graphs import exposure as nx_exposure
from graphs.build import TracerGraph, build_graph
from graphs.clusters import Hub, find_hubs
from graphs.dust import as_fraction, dust_limits, priced_assets
from graphs.spark import exposure as sp_exposure
from graphs.spark.frames import (
    EDGES_SEQ_SCHEMA,
    PAID_SCHEMA,
    PAID_SEQ_SCHEMA,
    edge_rows_seq,
    frame,
    paid_rows,
    paid_rows_seq,
    paid_with_order,
)
from tracer.scoring.rules import Params
from tracer.scoring.run import score_store
from tracer.scoring.stages import NetworkxStages
from tracer.simulate import build_world
from tracer.store import open_store

# A JVM and Spark jobs: minutes on this 2-core machine; run in CI (`make test`), skipped by -m 'not slow'.
pytestmark = pytest.mark.slow

EX = "wallet:evm:ex"


def suffixed(rows: Iterable[tuple], sfx: str) -> list[tuple]:
    """A case's rows as a disjoint component: node and fact ids get ``sfx`` (assets keep theirs)."""
    return [(r[0] + sfx, r[1], r[2] + sfx, r[3] + sfx, *r[4:]) for r in rows]


def spark_run(spark: Any, tg: TracerGraph, listed: Iterable[str], hubs: Mapping[int, Hub], hops: int,
              dust: Mapping[str, int], priced: set[str], held_factor: int,
              min_share: Fraction = nx_exposure.DEFAULT_MIN_SHARE) -> nx_exposure.ExposureResult:
    paid_f = frame(spark, paid_rows_seq(tg), PAID_SEQ_SCHEMA)
    return sp_exposure.exposure(paid_f, list(listed), {tg.ids[n]: h for n, h in hubs.items()}, hops, min_share,
                                dust, priced, held_factor, {tg.ids[n] for n in tg.payees})


def assert_same(got: nx_exposure.ExposureResult, want: nx_exposure.ExposureResult) -> None:
    """Field by field (a readable failure), then the whole result."""
    assert got.stops == want.stops
    assert got.outgoing == want.outgoing
    assert set(got.by_asset) == set(want.by_asset)
    for n, per in want.by_asset.items():
        assert got.by_asset[n] == per, n
    assert got.incoming == want.incoming
    assert got.passive == want.passive
    assert got == want


def compare(spark: Any, rows: list[tuple], listed: list[str], tags: list[tuple[str, str, str, str]] = (),  # type: ignore[assignment]
            hops: int = nx_exposure.DEFAULT_HOPS, held_factor: int = nx_exposure.DEFAULT_HELD_FACTOR,
            dust: Mapping[str, int] | None = None) -> nx_exposure.ExposureResult:
    tg = build_graph(rows)
    limits = dust_limits(tg) if dust is None else dust
    priced = priced_assets(tg)
    hubs = find_hubs(tg, tags, never=listed, dust=limits)
    want = nx_exposure.exposure(tg, listed, hubs, hops, dust=limits, priced=priced, held_factor=held_factor)
    got = spark_run(spark, tg, listed, hubs, hops, limits, priced, held_factor)
    assert_same(got, want)
    return want


# The hand-built graphs of tests/test_graph_exposure.py (held_factor=0 there), one component each.
def _arithmetic_cases() -> tuple[list[tuple], list[str], list[tuple[str, str, str, str]]]:
    cases: list[list[tuple]] = [
        [paid(1, L, "wallet:evm:m", 1), paid(2, "wallet:evm:clean", "wallet:evm:m", 2),
         paid(3, "wallet:evm:m", "wallet:evm:r", 3), paid(4, "wallet:evm:other", "wallet:evm:r", 3)],
        [paid(i, a, b, 10) for i, (a, b) in enumerate(zip([L] + [f"wallet:evm:h{i}" for i in range(1, 6)],
                                                          [f"wallet:evm:h{i}" for i in range(1, 6)], strict=False))],
        [paid(1, L, "wallet:evm:x", 1), paid(2, "wallet:evm:big", "wallet:evm:x", 10**6)],
        [paid(1, "wallet:evm:m", "wallet:evm:early", 10, t=100), paid(2, L, "wallet:evm:m", 10, t=200),
         paid(3, "wallet:evm:m", "wallet:evm:late", 10, t=300), paid(4, "wallet:evm:c", "wallet:evm:m", 10, t=50)],
        [paid(1, L, "wallet:evm:x", 1, "USDC"), paid(2, "wallet:evm:c", "wallet:evm:x", 10**9, "ETH")],
        [paid(1, L, EX, 10), paid(2, EX, "wallet:evm:user", 10), paid(3, L, "wallet:evm:a", 5),
         paid(4, "wallet:evm:a", EX, 5)],
        [paid(1, "wallet:evm:payer", L, 1), paid(2, "wallet:evm:payer", "wallet:evm:z", 3)],
        # tests/test_graph_exposure_amounts.py cases that run with held_factor=0
        [usdc(1, L, "wallet:evm:m", 100), glm(1, "wallet:evm:clean", "wallet:evm:m", 10_000),
         glm(2, "wallet:evm:m", "wallet:evm:r-glm", 500), usdc(2, "wallet:evm:m", "wallet:evm:r-usdc", 50)],
        [usdc(1, L, "wallet:evm:a", 300, t=10), usdc(2, "wallet:evm:c1", "wallet:evm:a", 100, t=11),
         usdc(3, "wallet:evm:a", "wallet:evm:b", 200, t=20), usdc(4, "wallet:evm:c2", "wallet:evm:b", 200, t=21),
         usdc(5, "wallet:evm:b", "wallet:evm:c", 100, t=30), usdc(6, "wallet:evm:c3", "wallet:evm:c", 300, t=31),
         glm(1, "wallet:evm:g", "wallet:evm:c", 1_000_000, t=5)],
        [usdc(1, L, "wallet:evm:r", 10)], [usdc(1, L, "wallet:evm:r", 9.99)],
    ]
    rows, listed, tags = [], [], []
    for k, case in enumerate(cases):
        rows += suffixed(case, f"-a{k}")
        listed.append(L + f"-a{k}")
        tags.append((EX + f"-a{k}", "exchange", "Ex 1", f"obs{k}"))
    return rows, listed, tags


def _amount_cases() -> tuple[list[tuple], list[str]]:
    """The graphs of tests/test_graph_exposure_amounts.py: dust, unpriced assets moved on or not, held
    receipts under and over 1,000 USDC, payout wallets, dust 'payments' out, per-asset paths."""
    r, payee, prov = "wallet:akash:renter", "wallet:evm:payee", "provider:golem:p"
    junk = "ibc/659B12CDFFBF0F80BA036DB626D1EBD5725674108630087F3AFC14675DDF5BF9"
    m, x, y = "wallet:evm:m", "wallet:evm:x", "wallet:evm:y"
    cases: list[list[tuple]] = [
        [usdc(1, L, r, 0.000001), glm(1, "wallet:evm:src", r, 5_000), glm(2, r, "wallet:evm:payee", 900)],
        [usdc(1, L, r, 0.000001, asset=USDC_POLYGON), glm(1, "wallet:evm:src", r, 5_000)],
        [glm(100 + i, f"wallet:evm:a{i}", f"wallet:evm:b{i}", 40 + i) for i in range(30)]
        + [glm(1, L, r, 0.000001), glm(2, L, "wallet:evm:r5", 5), glm(3, "wallet:evm:r5", "wallet:evm:py", 4)],
        [("j1", "paid", L, r, str(6578 * 10**18), 24, junk, 10, None),
         ("k1", "paid", "wallet:akash:exchange", r, str(500 * 10**24), 24, "uakt", 5, None),
         ("k2", "paid", r, "deployment:akash:x/1", str(300 * 10**24), 24, "uakt", 20, None)],
        [("j1", "paid", L, r, str(6578 * 10**18), 24, junk, 10, None),
         ("j2", "paid", r, "wallet:akash:other", str(6000 * 10**18), 24, junk, 30, None)],
        [usdc(1, L, r, 500)], [usdc(1, L, r, 1_000)],
        [usdc(1, "wallet:evm:payer", L, 0.000001), glm(1, "wallet:evm:payer", "wallet:evm:z", 300)],
        [usdc(1, "wallet:evm:payer", L, 100), usdc(2, "wallet:evm:payer", "wallet:evm:z", 300)],
        [usdc(1, L, x, 100), usdc(2, x, m, 100), usdc(3, "wallet:evm:c", m, 300),
         glm(1, L, y, 1_000), glm(2, y, m, 1_000), glm(3, "wallet:evm:c2", m, 1_000),
         glm(4, m, "wallet:evm:payee", 500)],
        [glm(1, L, payee, 700, t=10), glm(2, "wallet:evm:req", payee, 300, t=20),
         ("po", "payout_to", prov, payee, None, None, None, None, None)],
        [glm(1, L, payee, 700, t=10), glm(2, "wallet:evm:req", payee, 300, t=20)],
    ]
    rows, listed = [], []
    for k, case in enumerate(cases):
        rows += suffixed(case, f"-b{k}")
        listed.append(L + f"-b{k}")
    return rows, listed


def test_hand_built_graphs_equal_networkx(spark: Any) -> None:
    """Every hand-built graph of tests/test_graph_exposure*.py in one Spark call (default held_factor:
    the small held receipts go to ``passive``, the rest as pinned there)."""
    rows, listed, tags = _arithmetic_cases()
    more, more_listed = _amount_cases()
    want = compare(spark, rows + more, listed + more_listed, tags, hops=4)
    # the cases' own pins hold on the combined graph (it is their networkx answer)
    by = {n: {a: e.share for a, e in per.items()} for n, per in want.by_asset.items()}
    assert by["wallet:evm:r-a0"]["USDC/6"] == Fraction(1, 6) and by["wallet:evm:c-a8"]["USDC/6"] == Fraction(3, 32)
    assert "wallet:evm:h5-a1" not in by and want.by_asset["wallet:evm:h4-a1"]["USDC/6"].hop == 4
    assert [s.hub for s in want.stops] == [EX + "-a5"] and "wallet:evm:early-a3" not in by
    r, payee = "wallet:akash:renter", "wallet:evm:payee"
    assert want.passive[r + "-b5"].share == 1 and r + "-b5" not in want.incoming and r + "-b6" in want.incoming
    assert r + "-b4" in want.incoming and r + "-b3" not in by and r + "-b0" not in by
    assert want.incoming[payee + "-b10"].share == Fraction(7, 10) and payee + "-b11" not in by
    assert want.outgoing["wallet:evm:payer-b8"].share == Fraction(1, 4) and "wallet:evm:payer-b7" not in want.outgoing
    assert by["wallet:evm:m-b9"]["USDC/6"] == Fraction(1, 4)


def at(row: tuple, t: int | None) -> tuple:
    """``row`` with time ``t`` (None: unknown)."""
    return (*row[:7], t, *row[8:])


def _random_case(rnd: random.Random, k: int) -> tuple[list[tuple], list[str], list[tuple[str, str, str, str]]]:
    """A small graph full of ties: equal amounts, equal times, unknown times, parallel edges, two
    assets (USDC valued, a token by median), dust, several listed wallets, hubs met from many sides,
    a listed hub, payout wallets and pairs whose first edge is of another kind."""
    ws = [f"wallet:evm:w{i}" for i in range(14)]
    lst = ["wallet:evm:l0", "wallet:evm:l1", "wallet:evm:l2"]
    hubs = ["wallet:evm:hub0", "wallet:evm:hub1"]
    nodes = ws + lst + hubs
    rows: list[tuple] = []
    for j in range(70):
        u, v = rnd.sample(nodes, 2)
        if rnd.random() < 0.3:
            u = rnd.choice(lst)
        t = rnd.choice([None, 10, 20, 20, 30, 40, 50])
        if rnd.random() < 0.12:  # another kind first between the pair: its place in networkx's order
            rows.append((f"x{j}", "payout_to", u, v, None, None, None, t, None))
        if rnd.random() < 0.6:
            rows.append(at(usdc(j, u, v, rnd.choice([5, 20, 20, 100, 100, 300])), t))
        else:
            rows.append(at(glm(j, u, v, rnd.choice([0.001, 10, 10, 40, 40, 200])), t))
        if rnd.random() < 0.15:  # a parallel edge, same amount: a tie in the same pair
            rows.append(at(usdc(100 + j, u, v, 100), t))
    tags = [(h, "exchange", f"Ex {h}", f"o{h}") for h in hubs] + [(lst[2], "exchange", "Listed ex", "olx")]
    sfx = f"-c{k}"
    return (suffixed(rows, sfx), [n + sfx for n in lst], [(s + sfx, c, lab, o + sfx) for s, c, lab, o in tags])


def test_random_graphs_with_ties_equal_networkx(spark: Any) -> None:
    rnd = random.Random(14)
    rows, listed, tags = [], [], []
    for k in range(6):
        r, lst, tg_ = _random_case(rnd, k)
        rows += r
        listed += lst
        tags += tg_
    want = compare(spark, rows, listed, tags, hops=4)
    # the graphs exercise what the order columns are for: several stops and exposures per hop
    assert len(want.stops) >= 6 and len(want.incoming) >= 20 and want.outgoing and want.passive


def test_without_order_columns_same_shares(spark: Any) -> None:
    """A ``paid`` frame without ``i``/``pk``/``so`` (a stand-in order, documented): the same wallets,
    shares, hops and assets; only which of equal candidates is reported may differ."""
    rows, listed, tags = _arithmetic_cases()
    tg = build_graph(rows)
    hubs = find_hubs(tg, tags, never=listed, dust=dust_limits(tg))
    want = nx_exposure.exposure(tg, listed, hubs, 2, held_factor=0)
    got = sp_exposure.exposure(frame(spark, paid_rows(tg), PAID_SCHEMA), listed,
                               {tg.ids[n]: h for n, h in hubs.items()}, 2, nx_exposure.DEFAULT_MIN_SHARE,
                               dust_limits(tg), priced_assets(tg), 0, ())
    key = {n: (e.share, e.hop, e.asset) for n, e in want.incoming.items()}
    assert {n: (e.share, e.hop, e.asset) for n, e in got.incoming.items()} == key
    assert [s.hub for s in got.stops] == [s.hub for s in want.stops]


def test_paid_order_from_a_loaders_frames(spark: Any) -> None:
    """frames.paid_with_order (a loader's ``paid`` with ``i`` plus its ``edges``) gives the order columns
    paid_rows_seq reads from networkx: the same ``pk``, and ``so`` in the same node order."""
    rows, _, _ = _random_case(random.Random(3), 0)
    tg = build_graph(rows)
    seq = list(paid_rows_seq(tg))
    bare = frame(spark, [r[:8] for r in seq], PAID_SCHEMA + ", i long")
    got = {r.i: (r.pk, r.so) for r in paid_with_order(bare, frame(spark, edge_rows_seq(tg), EDGES_SEQ_SCHEMA))
           .select("i", "pk", "so").collect()}
    assert {r[7]: r[8] for r in seq} == {i: pk for i, (pk, _) in got.items()}
    by_node = sorted({r[9]: got[r[7]][1] for r in seq}.items())  # networkx node order -> loader's key
    assert [o for _, o in by_node] == sorted(o for _, o in by_node)


class Recording(NetworkxStages):
    """The networkx stages, keeping the arguments (and the answer) of the exposure stage."""

    def exposure(self, tg: TracerGraph, listed: Iterable[str], hubs: Mapping[int, Any], dust: Mapping[str, int],
                 priced: set[str], p: Params) -> nx_exposure.ExposureResult:
        res = super().exposure(tg, listed, hubs, dust, priced, p)
        self.args = (tg, list(listed), dict(hubs), dict(dust), set(priced), p, res)
        return res


@pytest.mark.parametrize("seed,background", [("spark-exposure-2", 160)])  # more worlds: test_spark_engine
def test_simulator_world_equals_networkx(spark: Any, tmp_path: Path, seed: str, background: int) -> None:
    store = open_store(str(tmp_path / "w.sqlite"))
    build_world(seed, background).write(store)
    rec = Recording()
    score_store(store, write=False, now="2026-06-01T00:00:00Z", stages=rec)
    tg, listed, hubs, dust, priced, p, want = rec.args
    assert want.incoming and want.stops and want.by_asset  # the world exercises the walk and its stops
    t0 = time.monotonic()
    got = spark_run(spark, tg, listed, hubs, p.hops, dust, priced, p.exposure_held_factor,
                    min_share=as_fraction(p.exposure_min_share))
    print(f"spark exposure on {seed}: {time.monotonic() - t0:.1f} s")
    assert_same(got, want)
