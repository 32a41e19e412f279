"""graphs.spark dust limits, first fundings and hubs equal the networkx stages on the same graphs.

Hand-built graphs (the shapes of tests/test_graph_hubs.py, one world per prefix in one graph, so one
Spark run judges them all) and simulator worlds scored by the networkx pipeline, whose graph is taken
at the moment hub detection saw it (dust fundings ignored, ``funded_by`` re-derived, no links yet).
Every hub kind -- tag, degree and the three behavioural shapes -- occurs and is asserted to.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
from test_graph_hubs import GLM, Rows, exchange_world

from connectors import ids
from graphs.build import TracerGraph, build_graph
from graphs.clusters import Hub, find_hubs
from graphs.dust import dust_limits
from graphs.spark import dust as sdust
from graphs.spark import funding as sfunding
from graphs.spark import hubs as shubs
from graphs.spark.frames import EDGES_SEQ_SCHEMA, PAID_SCHEMA, amount_text, edge_rows_seq, frame, paid_rows
from tracer.scoring.rules import Params
from tracer.scoring.run import score_store
from tracer.scoring.stages import NetworkxStages, hub_params
from tracer.simulate import World, build_world
from tracer.store import open_store

# A JVM and Spark jobs: minutes on this 2-core machine; run in CI (`make test`), skipped by -m 'not slow'.
pytestmark = pytest.mark.slow


def w(prefix: str, name: str) -> str:
    return ids.wallet_raw("evm", f"{prefix}-{name}")


def renamed(rows: Iterable[tuple[Any, ...]], prefix: str) -> Rows:
    """A builder's rows with every wallet and fact id moved under ``prefix`` (worlds share one graph)."""
    out = Rows()
    for fid, kind, src, dst, *rest in rows:
        s, d = ids.parse(src), ids.parse(dst)
        out.append((f"{prefix}-{fid}", kind, w(prefix, s.key), w(prefix, d.key), *rest))
    return out


def hand_built() -> tuple[Rows, list[tuple[str, str, str, str]], list[str], dict[str, str]]:
    """The shapes of tests/test_graph_hubs.py side by side: rows, tags, never, expected hub kinds."""
    rows = Rows()
    rows += renamed(exchange_world(100)[0], "big")    # shape 1, or degree with a low max_degree
    rows += renamed(exchange_world(30)[0], "small")   # shape 1 (31 senders, 30 receivers)
    rows += renamed(exchange_world(40)[0], "listed")  # would be shape 1, but listed: never a hub
    rows += renamed(exchange_world(3)[0], "tagged")   # below every threshold: a hub by its tag only
    p = "dep"  # shape 2: ten deposit addresses forward to one wallet, an eleventh forwards to two
    for i in range(10):
        c, d = w(p, f"c{i}"), w(p, f"dep{i}")
        rows.pay(w(p, f"bank{i}"), c, 2_000, 1)
        rows.pay(c, d, 1_000, 10 + i)
        rows.pay(d, w(p, "ex"), 995, 20 + i)
        rows.pay(w(p, "ex"), c, 500, 100 + i)
    # A deposit address forwarding >= 90 % to two wallets feeds the first of its neighbours (networkx
    # order), here the one whose id sorts after the exchange's: a smallest-id rule would say 11.
    rows.pay(w(p, "bank-t"), w(p, "c-t"), 2_000, 1)
    rows.pay(w(p, "c-t"), w(p, "dep-t"), 1_000, 10)
    rows.pay(w(p, "dep-t"), w(p, "zz-first"), 950, 30)
    rows.pay(w(p, "dep-t"), w(p, "ex"), 950, 31)
    p = "sybil"
    rows.pay(w(p, "bridge"), w(p, "f"), 100_000, 1)
    for i in range(60):
        rows.pay(w(p, "f"), w(p, f"s{i}"), 900, 10 + i)
        rows.pay(w(p, f"s{i}"), w(p, f"lease{i}"), 850, 200 + i)
        rows.pay(w(p, f"s{i}"), w(p, "f"), 40, 300 + i)
    p = "duster"
    for i in range(3):
        rows.pay(w(p, f"src{i}"), w(p, "l"), 10_000, 1)
    for i in range(300):
        rows.pay(w(p, "l"), w(p, f"v{i}"), 0.000001, 10 + i)
        rows.pay(w(p, f"v{i}"), w(p, f"x{i}"), 1, 400 + i)
    p = "golem"  # GLM: no configured minimum, the median rule decides its dust limit
    for i in range(80):
        rows.pay(w(p, f"req{i}"), w(p, "payee"), 30 + i, 10 + i, GLM, 18)
    rows.pay(w(p, "payee"), w(p, "owner"), 2_000, 500, GLM, 18)
    rows.pay(w(p, "payee"), w(p, "cex-deposit"), 1_000, 600, GLM, 18)
    rows.pay(w(p, "req0"), w(p, "payee"), 0, 700, GLM, 18)  # zero: always dust
    p = "payroll"
    for month in range(12):
        rows.pay(w(p, "company"), w(p, "treasury"), 200_000, month * 30 * 86400)
        for e in range(40):
            rows.pay(w(p, "treasury"), w(p, f"emp{e}"), 4_000, month * 30 * 86400 + 3600 + e)
    p = "hot"  # shape 3: one new customer a day for 60 days
    rows.pay(w(p, "l-src"), w(p, "l"), 100_000, 1)
    rows.pay(w(p, "l"), w(p, "hot"), 20_000, 2)
    for i in range(60):
        rows.pay(w(p, "hot"), w(p, f"c{i}"), 500, 86_400 * i + 3)
        rows.pay(w(p, f"c{i}"), w(p, f"lease{i}"), 400, 86_400 * i + 10)
    p = "burst"  # 60 fundings within two days: no distributor
    rows.pay(w(p, "bridge"), w(p, "star"), 100_000, 1)
    for i in range(60):
        rows.pay(w(p, "star"), w(p, f"s{i}"), 900, 3_000 * i)
    tags = [(w("tagged", "ex"), "exchange", "Small Exchange", "o1"), (w("tagged", "ex"), "mixer", "Later", "o2"),
            (w("golem", "owner"), "gambling", "not a hub category", "o3"), (w("nowhere", "x"), "exchange", "absent", "o4")]
    expect = {w("big", "ex"): "degree", w("small", "ex"): "shape 1", w("tagged", "ex"): "tag",
              w("dep", "ex"): "shape 2", w("hot", "hot"): "shape 3"}
    return rows, tags, [w("listed", "ex")], expect


def kind_of_hub(h: Hub) -> str:
    """Which rule made a hub, from its reason (the five kinds the test must see)."""
    if h.reason.startswith("tagged "):
        return "tag"
    if h.reason.startswith("degree "):
        return "degree"
    if "distinct senders" in h.reason:
        return "shape 1"
    if "deposit addresses" in h.reason:
        return "shape 2"
    assert "first funder of" in h.reason, h
    return "shape 3"


def frames(spark: Any, tg: TracerGraph) -> tuple[Any, Any]:
    """The graph's ``paid`` and ``edges`` (with ``i``) frames, one partition each: these graphs are
    small, and on a loaded two-core machine every task costs (shuffles still spread to four)."""
    return (frame(spark, paid_rows(tg), PAID_SCHEMA).coalesce(1),
            frame(spark, edge_rows_seq(tg), EDGES_SEQ_SCHEMA).coalesce(1))


def by_id(tg: TracerGraph, hubs: Mapping[int, Hub]) -> dict[str, Hub]:
    return {tg.ids[n]: h for n, h in hubs.items()}


def timed(name: str, t0: float) -> None:
    """Print a Spark step's wall time (``pytest -s`` shows them)."""
    print(f"\n[spark] {name}: {time.monotonic() - t0:.1f} s")


def test_hand_built_shapes_equal_networkx(spark: Any) -> None:
    rows, tags, never, expect = hand_built()
    tg = build_graph(rows)
    dust = dust_limits(tg)
    assert dust[f"{GLM}/18"] > 1  # the median rule set GLM's limit (USDC's is configured)
    tg.ignore_dust_fundings(dust)
    kw: dict[str, Any] = dict(tags=tags, max_degree=150, never=never, dust=dust)
    want = by_id(tg, find_hubs(tg, **kw))
    assert {n: kind_of_hub(want[n]) for n in expect} == expect and w("listed", "ex") not in want
    assert "11 deposit" not in want[w("dep", "ex")].reason  # the two-way forwarder fed zz-first
    paid, edges = frames(spark, tg)
    t0 = time.monotonic()
    assert sdust.dust_limits(paid) == dust
    got = shubs.find_hubs(edges, paid, **kw)
    timed("hand-built: dust + hubs", t0)
    assert list(got.items()) == list(want.items())  # same hubs, reasons, refs, and networkx's order


def test_forward_target_takes_the_first_neighbour_and_exact_shares() -> None:
    """The grouped function of shape 2 (no Spark): networkx's neighbour order decides between two
    receivers (store id without it), and the share is exact at uint256 scale."""
    import pyarrow as pa

    def run(rows: list[tuple[Any, ...]], num: int = 9, den: int = 10) -> list[tuple[str, str, str]]:
        t = pa.table({k: [r[i] for r in rows] for i, k in enumerate(("n", "r", "v", "s", "a", "i"))},
                     schema=pa.schema([("n", pa.string()), ("r", pa.int32()), ("v", pa.string()), ("s", pa.string()),
                                       ("a", pa.string()), ("i", pa.int64())]))
        out = shubs._forward_target(num, den, t).to_pylist()
        return [(r["n"], r["v"], r["u"]) for r in out]

    big = 10**70
    flows = [("d", 0, "u1", "X/18", str(big), None), ("d", 0, "u2", "X/18", str(big), None),
             ("d", 1, "zz", "X/18", str(big * 2 * 9 // 10), None), ("d", 1, "aa", "X/18", str(big * 2), None)]
    assert run(flows) == [("d", "aa", "u1"), ("d", "aa", "u2")]  # no order: smallest id
    order = [("d", 2, "zz", None, None, 5), ("d", 2, "aa", None, None, 7), ("d", 2, "aa", None, None, 3)]
    assert run(flows + order) == [("d", "aa", "u1"), ("d", "aa", "u2")]  # aa's first edge (3) is first
    order[2] = ("d", 2, "aa", None, None, 6)
    assert run(flows + order) == [("d", "zz", "u1"), ("d", "zz", "u2")]  # zz's (5) is first: exactly 90 %
    short = [flows[0], flows[1], ("d", 1, "zz", "X/18", str(big * 2 * 9 // 10 - 1), None)]
    assert run(short) == []  # one base unit under 90 % of 2e70: a float would not see it
    assert run(flows[:2] + [("d", 1, "aa", "Y/6", str(big * 2), None)]) == []  # every asset received counts


class Recorder(NetworkxStages):
    """The networkx stages, keeping the graph as hub detection saw it and its answers."""

    def __init__(self, variants: Mapping[str, Mapping[str, Any]]) -> None:
        self.variants = variants
        self.seen: dict[str, Any] = {}

    def dust(self, tg: TracerGraph, p: Params, symbols: Mapping[str, str]) -> dict[str, int]:
        self.seen["symbols"] = dict(symbols)
        self.seen["priced"] = self.priced(tg, p, symbols)
        return super().dust(tg, p, symbols)

    def hubs(self, tg: TracerGraph, tags: list[tuple[str, str, str, str]], listed: Mapping[str, Any],
             dust: Mapping[str, int], p: Params) -> dict[int, Hub]:
        out = super().hubs(tg, tags, listed, dust, p)
        s = self.seen
        s.update(tg=copy.deepcopy(tg), tags=list(tags), never=list(listed), dust=dict(dust), p=p,
                 hubs={"pipeline": by_id(tg, out)})
        for name, v in self.variants.items():
            v = dict(v)
            s["hubs"][name] = by_id(tg, find_hubs(tg, v.pop("tags", tags), v.pop("max_degree", p.hub_degree),
                                                  never=listed, dust=dust, **{**hub_params(p), **v}))
        return out


def plant(world: World) -> dict[str, str]:
    """Untagged services the pipeline's defaults must find (shapes 1, 2 and 3), into a simulator world."""
    ex, dep_ex, faucet = world.wallet("untagged-ex"), world.wallet("deposit-ex"), world.wallet("faucet")
    for i in range(40):
        c = world.wallet(f"u-customer-{i}")
        world.pay(world.wallet(f"u-bank-{i}"), c, 2_000, 0.2)
        world.pay(c, ex, 1_000, 1 + i / 100)
        world.pay(ex, c, 700 + i, 3 + i / 100)
    for i in range(12):
        c, d = world.wallet(f"d-customer-{i}"), world.wallet(f"deposit-{i}")
        world.pay(world.wallet(f"d-bank-{i}"), c, 3_000, 0.3)
        world.pay(c, d, 1_000, 2 + i / 10)
        world.pay(d, dep_ex, 990, 3 + i / 10)
        world.pay(dep_ex, c, 400, 5 + i / 10)
    world.pay(world.wallet("faucet-src"), faucet, 100_000, 0.1)
    for i in range(30):
        world.pay(faucet, world.wallet(f"f-user-{i}"), 50, i, hour=(i * 7) % 24)
    return {ex: "shape 1", dep_ex: "shape 2", faucet: "shape 3"}


# Hub parameters beside the pipeline's: no tags, a degree cut the busier exchange passes, tiny
# minimums and a median factor that sets the thresholds: the other exchange shows shape 3 and single
# deposit addresses shape 2.
SENSITIVE: dict[str, Any] = {"tags": [], "max_degree": 150, "min_counterparties": 1, "median_factor": 2.5,
                             "min_deposits": 1, "distributor_min_days": 3}


@pytest.mark.parametrize("seed, background, planted", [("spark-hubs-b", 250, True)])  # more: test_spark_engine
def test_simulator_worlds_equal_networkx(spark: Any, tmp_path: Path, seed: str, background: int,
                                         planted: bool) -> None:
    """World a with the sensitive parameters, world b (untagged services planted) with the pipeline's."""
    world = build_world(seed, background)
    expect = plant(world) if planted else {}
    store = open_store(tmp_path / "w.sqlite")
    world.write(store)
    rec = Recorder({} if planted else {"sensitive": SENSITIVE})
    score_store(store, write=False, stages=rec)
    s = rec.seen
    tg, p = s["tg"], s["p"]
    name = "pipeline" if planted else "sensitive"
    want = s["hubs"][name]
    kinds = {kind_of_hub(h) for h in want.values()}
    if planted:
        assert {n: kind_of_hub(want[n]) for n in expect} == expect and "tag" in kinds
    else:
        assert {"degree", "shape 2", "shape 3"} <= kinds
    paid, edges = frames(spark, tg)
    t0 = time.monotonic()
    got_dust = sdust.dust_limits(paid, p.dust_min_value, p.dust_median_share, p.dust_min_transfers, s["symbols"])
    assert got_dust == s["dust"]
    assert sdust.priced_assets(paid, p.dust_min_value, s["symbols"]) == s["priced"]
    timed(f"{seed}: dust", t0)
    first = sfunding.first_funding(paid, got_dust).cache()
    v = dict(SENSITIVE if not planted else {})
    t0 = time.monotonic()
    got = shubs.find_hubs(edges, paid, v.pop("tags", s["tags"]), v.pop("max_degree", p.hub_degree),
                          behaviour=p.hub_behaviour, never=s["never"], dust=got_dust, first=first,
                          **{**hub_params(p), **v})
    timed(f"{seed}: hubs", t0)
    assert list(got.items()) == list(want.items())
    if planted:  # the first fundings and the funded_by edges hub detection counted
        t0 = time.monotonic()
        ff = {r["w"]: (r["src"], r["t"], r["a"], r["s"], r["f"]) for r in first.collect()}
        assert ff == {tg.ids[v]: (tg.ids[f.src], f.time, amount_text(f.amount), f.asset, f.fact)
                      for v, f in tg.first_in.items()}
        stored = frame(spark, ((f, k, a, b) for f, k, a, b, _i in edge_rows_seq(tg) if k != "funded_by"),
                       "f string, k string, src string, dst string")
        derived = sorted(tuple(r) for r in sfunding.with_funded_by(stored, first).collect())
        assert derived == sorted((f, k, a, b) for f, k, a, b, _i in edge_rows_seq(tg))
        timed(f"{seed}: first fundings + funded_by", t0)
    first.unpersist()

