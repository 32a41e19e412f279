"""Per-actor bundles give every rule the same answer as the whole context (tracer/scoring/bundles.py).

The Spark engine scores bundles on its executors; if a bundle left out something a rule reads, a
subject's evidence would silently change there.  These tests score every subject of several worlds
both ways -- the whole context, and its bundle after a pickle round trip (what an executor gets) --
and compare the rows written: flags, levels, scores, reasons, evidence ids, details, refs and paths."""

from __future__ import annotations

import asyncio
import pickle
import random
from pathlib import Path

import pytest

from tracer.scoring.bundles import Bundle, bundles, score_bundle, shared_of
from tracer.scoring.run import result_rows, score_context, score_store, subjects
from tracer.simulate import World, build_world
from tracer.store import StoreBackend, open_store

NOW = "2030-01-01T00:00:00Z"


def assert_bundles_equal(store: StoreBackend) -> int:
    """Score ``store``'s context whole and by pickled bundles; assert equal rows; return #flags."""
    res = score_store(store, write=False, now=NOW)
    ctx = res.context
    assert ctx is not None
    want = score_context(ctx, NOW)
    shared = pickle.loads(pickle.dumps(shared_of(ctx)))
    subs = subjects(ctx)
    scored = {}
    n_bundles = 0
    for b in bundles(ctx, subs):
        got: Bundle = pickle.loads(pickle.dumps(b))
        n_bundles += 1
        for row in score_bundle(got, shared):
            scored[row[0]] = row
    assert sorted(scored) == subs
    got_rows = result_rows((scored[s] for s in subs), NOW, ctx.clusters.cluster)
    assert got_rows[0] == want[0]
    assert got_rows[1] == want[1]
    assert n_bundles <= len(subs)
    return len(want[0])


@pytest.mark.parametrize("background", [60, 150])
def test_simulator_worlds(tmp_path: Path, background: int) -> None:
    """Simulator worlds (planted clusters, concealment, structuring, exposure, decoys), a fresh seed
    each run (in the failure message)."""
    seed = f"bundles-{random.randrange(10**6)}"
    store = open_store(tmp_path / "sim.db")
    build_world(seed, background).write(store)
    try:
        n = assert_bundles_equal(store)
    finally:
        store.close()
    assert n >= 10, seed


def test_quality_worlds(tmp_path: Path) -> None:
    """Randomized detection-quality worlds of both families (Akash; Polygon/Golem, whose rentals are
    payments to a provider's payee), synced through the real connectors."""
    from tracer.evaluate import sync_scenario
    from tracer.lists import screen_stored_facts
    from tracer.world.scenario import KINDS, draw_scenario

    for kind in KINDS:
        seed = random.randrange(1000, 10**6)
        store, res = asyncio.run(sync_scenario(draw_scenario(seed, kind), tmp_path / f"{kind}.db"))
        try:
            assert res.status in ("ok", "partial"), res.errors[:3]
            screen_stored_facts(store)
            assert assert_bundles_equal(store) > 0, (kind, seed)
        finally:
            store.close()


def test_planted_rules_world(tmp_path: Path) -> None:
    """Rules whose inputs come from other actors: structuring crossing the funding threshold (the
    members' first fundings), a Sybil star renting H100s from a provider audited in CN (the provider's
    location and offers, a restricted link of concealment), a listed payout wallet, exposure."""
    w = World(f"bundles-planted-{random.randrange(10**6)}")
    f = w.wallet("funder")
    p = w.provider("p", {"rtx-4080": 8}, "US")
    for i in range(6):
        s = w.wallet(f"s{i}")
        w.pay(f, s, 9_000, 1 + i * 0.1)  # 54,000 together: over the 10,000 threshold
        w.rent(s, p, "rtx-4080", 10, 2, 10)
    cn = w.provider("sz", {"h100-sxm": 64}, "CN", ("audited",))
    f2 = w.wallet("funder2")
    for i in range(5):
        s = w.wallet(f"c{i}")
        w.pay(f2, s, 1_000, 3 + i * 0.05)
        w.rent(s, cn, "h100-sxm", 8 * 24 * 10, 4 + i * 0.3, 500, units=8)
    pay = w.wallet("payout")
    w.listed(pay)
    w.provider("listed-payout", {"h100-sxm": 8}, "US", payout=pay)
    src, mid = w.wallet("listed-src"), w.wallet("mid")
    w.listed(src)
    w.pay(src, mid, 5_000, 1)
    w.pay(mid, w.wallet("c0"), 900, 2)
    store = open_store(tmp_path / "planted.db")
    w.write(store)
    try:
        res = score_store(store, write=False, now=NOW)
        rules = {e["rule"] for e in res.evidence}
        assert {"structuring", "concealment", "restricted_location", "listed_wallet", "exposure"} <= rules, rules
        assert any("funding >= threshold" in e["detail"] for e in res.evidence if e["rule"] == "structuring")
        assert any("CN" in e["detail"] for e in res.evidence if e["rule"] == "concealment")
        assert_bundles_equal(store)
    finally:
        store.close()
