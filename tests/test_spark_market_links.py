"""graphs.spark.market_links: the manifest-hash and synchronized-rental heuristics on Spark give the
networkx links element by element (order, strengths, refs, detail text) on hand-made traps, random
tie-heavy worlds and a simulator world read through the Parquet export as the engine reads it."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors import facts, ids
from connectors.akash.parse import DENOM_SYMBOL
from graphs.build import TracerGraph, build_graph
from graphs.clusters import (
    Hub,
    Link,
    ManifestOwner,
    find_hubs,
    manifest_hash_links,
    manifest_links,
    sync_rental_links,
    sync_rental_scan,
)
from graphs.spark import market_links as sp
from graphs.spark.frames import EDGES_SEQ_SCHEMA, PAID_SCHEMA, edge_rows_seq, frame, paid_rows
from graphs.spark.funding import first_funding
from graphs.spark.links import LinkGraph, link_graph

# A JVM and Spark jobs: run in CI (`make test`), skipped by -m 'not slow'.
pytestmark = pytest.mark.slow

DAY = 86400
H100, A100, RTX = "gpu:h100-sxm", "gpu:a100", "gpu:rtx-4080"
CONTROLLED = frozenset({"h100-sxm", "a100"})
USDC = "USDC/6"


def W(name: str) -> str:
    return f"wallet:akash:{name}"


def L(owner: str, dseq: int | str, prov: str = "p") -> str:
    return f"lease:akash:{owner}/{dseq}/1/1/{prov}"


def D(owner: str, dseq: int | str) -> str:
    return f"deployment:akash:{owner}/{dseq}"


def paid(fid: str, src: str, dst: str, t: int | None, amount: int = 100) -> tuple:
    return (fid, "paid", src, dst, str(amount), 6, "USDC", t, None)


def edge(fid: str, kind: str, src: str, dst: str, t: int | None = None, attrs: dict | None = None) -> tuple:
    return (fid, kind, src, dst, None, None, None, t, None if attrs is None else json.dumps(attrs))


def lease_rows(fid: str, owner: str, lease: str, t: int | None, gpu: str = H100, hours: float | None = 24) -> list[tuple]:
    at = {"units": 8} if hours is None else {"units": 8, "hours": hours}
    return [edge(fid, "rented", owner, lease, t), edge(f"u-{fid}", "uses_gpu", lease, gpu, t, at)]


class Frames:
    """A networkx graph (dust limit 10 USDC, ``ex`` an exchange) and the frames both heuristics read."""

    def __init__(self, spark: Any, rows: list[tuple]) -> None:
        self.tg = tg = build_graph(rows)
        dust = {USDC: 10}
        tg.ignore_dust_fundings(dust)
        self.hubs = find_hubs(tg, [(W("ex"), "exchange", "Ex", "t1")], behaviour=False)
        self.hub_ids = {tg.ids[n]: h for n, h in self.hubs.items()}
        self.g: LinkGraph = link_graph(frame(spark, edge_rows_seq(tg), EDGES_SEQ_SCHEMA))
        self.timed = frame(spark, sp.timed_rows(tg), sp.TIMED_SCHEMA).cache()
        self.first = first_funding(frame(spark, paid_rows(tg), PAID_SCHEMA), dust).cache()

    def close(self) -> None:
        self.g.unpersist()
        self.timed.unpersist()
        self.first.unpersist()


def by_id(tg: TracerGraph, hubs: dict[int, Hub]) -> dict[str, Hub]:
    return {tg.ids[n]: h for n, h in hubs.items()}


def same(got: list[Link], want: list[Link], why: Any = None) -> None:
    """Equal element by element (the first difference named, with ``why``: a seed)."""
    for k, (a, b) in enumerate(zip(got, want, strict=False)):
        assert a == b, (why, k, a, b)
    assert len(got) == len(want), (why, len(got), len(want))


# -- synchronized first rentals ------------------------------------------------------------------------
def sync_traps() -> list[tuple]:
    """Background renters (a base rate), then one group full of orders a naive engine gets wrong."""
    rows: list[tuple] = []
    for i in range(40):  # first rentals over 30 days at 07:00-ish: the background
        rows += lease_rows(f"bg{i}", W(f"bg{i}"), L(f"bg{i}", 1), 20 * DAY + i * 18 * 3600 + 7 * 3600)
    T = 40 * DAY + 3 * 3600
    # Three wallets start in the same second, entering the graph in the reverse of their id order.
    for name in ("zz", "mm", "aa"):
        rows += lease_rows(f"r-{name}", W(name), L(name, 1), T)
    # Two leases rented in one second: the first inserted (not the smallest id) is the first rental.
    rows += lease_rows("tw-x", W("tw"), L("tw", 9), T + 60, gpu=RTX)  # uncontrolled, inserted first
    rows += lease_rows("tw-y", W("tw"), L("tw", 1), T + 60)  # controlled, smaller id: not the first
    rows += lease_rows("tv-x", W("tv"), L("tv", 9), T + 60)  # controlled, inserted first: the first
    rows += lease_rows("tv-y", W("tv"), L("tv", 1), T + 60, gpu=RTX)
    # One lease rented twice in one second: the smaller fact is the first rental.
    rows += [edge("tf-b", "rented", W("tf"), L("tf", 1), T + 120), edge("tf-a", "rented", W("tf"), L("tf", 1), T + 120),
             edge("u-tf", "uses_gpu", L("tf", 1), H100, T, {"units": 8, "hours": 5})]
    # Day precision: the first rental at 00:00:00 leaves the wallet out (no fallback to a later one).
    rows += lease_rows("dp-0", W("dp"), L("dp", 1), 40 * DAY) + lease_rows("dp-1", W("dp"), L("dp", 2), T + 30)
    # Unknown times (None, and 0 as old graphs spelled it) are no first rental.
    rows += lease_rows("un-0", W("unk"), L("unk", 1), None) + lease_rows("un-1", W("unk"), L("unk", 2), 0)
    rows += lease_rows("un-2", W("unk"), L("unk", 3), T + 240)
    rows += lease_rows("hub-r", W("ex"), L("ex", 1), T + 90)  # an exchange renting: a hub, left out
    # Golem: renting is paying a controlled provider's payee.
    rows += [edge("o-g", "offers_gpu", "provider:golem:gp", H100, None, {"count": 8}),
             edge("po-g", "payout_to", "provider:golem:gp", W("gpay")),
             edge("o-g2", "offers_gpu", "provider:golem:gp2", RTX, None, {"count": 8}),
             edge("po-g2", "payout_to", "provider:golem:gp2", W("gpay2")),
             edge("o-g3", "offers_gpu", "provider:golem:gp3", A100, None, {"count": 8}),
             edge("po-g3", "payout_to", "provider:golem:gp3", W("ex")),  # a hub payee: paying it is no rental
             edge("o-w", "offers_gpu", W("notprov"), H100), edge("po-w", "payout_to", W("notprov"), W("wpay"))]
    rows += [paid("g1", W("golem1"), W("gpay"), T + 300), paid("g2b", W("golem2"), W("gpay"), T + 300),
             paid("g2a", W("golem2"), W("gpay"), T + 300), paid("g2c", W("golem2"), W("gpay"), T + 200 + DAY),
             paid("g3", W("golem3"), W("gpay2"), T + 310), paid("g5", W("golem5"), W("ex"), T + 320),
             paid("g6", W("golem6"), W("wpay"), T + 330)]
    rows += lease_rows("g4", W("golem4"), L("golem4", 1), T + 400, gpu=RTX) + [paid("g4p", W("golem4"), W("gpay"), T + 301)]
    rows += lease_rows("gp-r", W("gpay"), L("gpay", 1), T + 302)  # the payee renting: left out
    # A wallet active long before its first rental: not fresh at 14 days.
    rows += [paid("old-p", W("old"), W("shop"), T - 30 * DAY)] + lease_rows("old-r", W("old"), L("old", 1), T + 500)
    return rows


@pytest.fixture(scope="module")
def traps(spark: Any) -> Iterator[Frames]:
    """One graph holding both heuristics' traps (the manifest owners rent uncontrolled GPUs only, so
    they add no first rental), its frames made once for both tests."""
    f = Frames(spark, sync_traps() + manifest_traps()[0])
    yield f
    f.close()


def test_sync_rental_traps_equal_networkx(traps: Frames) -> None:
    f, tg, hubs = traps, traps.tg, traps.hubs
    # Spark's part (the first rentals) once per freshness; the scan's parameters on its result.
    fresh = {None: sp.first_rentals(f.g, f.timed, f.hub_ids, CONTROLLED),
             14 * DAY: sp.first_rentals(f.g, f.timed, f.hub_ids, CONTROLLED, 14 * DAY)}
    assert sp.sync_rental_links_spark(f.g, f.timed, f.hub_ids, frozenset({"l4"})) == []
    assert sync_rental_links(tg, hubs, frozenset({"l4"})) == []
    got: list[list[Link]] = []
    for kw in ({}, {"min_group": 2, "alpha": 1.0}, {"window_s": 120, "alpha": 0.5}):
        for fresh_s, firsts in fresh.items():
            want = sync_rental_links(tg, hubs, CONTROLLED, fresh_s=fresh_s, **kw)
            same(sync_rental_scan(firsts, **kw), want)
            got.append(want)
    # The traps held: each is a link (or its absence) the test can lose.
    links = got[0]
    members = [links[0].a] + [lk.b for lk in links]
    assert members[:3] == [W("zz"), W("mm"), W("aa")], members
    assert W("tv") in members and W("tw") not in members and W("dp") not in members and W("ex") not in members
    assert W("golem1") in members and W("golem2") in members and W("golem4") not in members
    assert not {W("golem3"), W("golem5"), W("golem6"), W("gpay")} & set(members)
    refs = {lk.b: lk.refs[1] for lk in links}
    assert refs[W("tf")] == "tf-a" and refs[W("golem2")] == "g2a" and refs[W("unk")] == "un-2"
    assert refs[W("tv")] == "tv-x"
    assert W("old") in members and W("old") not in {lk.b for lk in got[1]} | {lk.a for lk in got[1]}


# -- manifest hashes ----------------------------------------------------------------------------------
def manifest_traps() -> tuple[list[tuple], list[dict[str, Any]]]:
    rows: list[tuple] = []
    deps: list[dict[str, Any]] = []

    def dep(owner: str, dseq: int, h: str | None) -> None:
        deps.append({"id": D(owner, dseq), "owner": W(owner), "hash": h})

    # Listed first: hash "zz-tie", 4 owners funded 2 and 2 by two wallets -- the funder of the first
    # owner (by id) wins the tie, not the smaller id.
    for k, (o, fu) in enumerate((("t1", "fz"), ("t2", "fa"), ("t3", "fz"), ("t4", "fa"))):
        rows.append(paid(f"tf{k}", W(fu), W(o), 1000 + k))
        rows += lease_rows(f"tr{k}", W(o), L(o, 1), 5000 + k * 40 * DAY, gpu=RTX)
        dep(o, 1, "zz-tie")
    # A fresh burst (different funders, first deployments within hours), deployment rented directly.
    for k in range(3):
        o = f"b{k}"
        rows.append(paid(f"bf{k}", W(f"bsrc{k}"), W(o), 60 * DAY + k))
        rows.append(edge(f"bd{k}", "rented", W(o), D(o, 1), 60 * DAY + 3600 * (k + 1)))
        dep(o, 1, "burst")
    # A template: unrelated, spread over months, old wallets; one funded by a hub, one by a service.
    for k in range(4):
        o = f"tp{k}"
        rows.append(paid(f"tpf{k}", W("ex") if k == 0 else W(f"tsrc{k}"), W(o), 10 * DAY))
        rows += lease_rows(f"tpr{k}", W(o), L(o, 1), 100 * DAY + k * 20 * DAY, gpu=RTX)
        dep(o, 1, "template")
    # A service funder: first-funds 4 wallets in 4 bursts (more than 3), 3 of them deploying one hash.
    for b in range(4):
        rows.append(paid(f"sv{b}0", W("svc"), W(f"sv{b}0"), 1000 + b * 10 * DAY))
    for b in range(3):
        rows += lease_rows(f"svr{b}", W(f"sv{b}0"), L(f"sv{b}0", 1), 200 * DAY + b * 30 * DAY, gpu=RTX)
        dep(f"sv{b}0", 1, "svc-hash")
    # A fleet: separate old funders, adoption over ~10 days, running together for months, nothing else.
    for k in range(5):
        o = f"fl{k}"
        start = 100 * DAY + k * int(2.5 * DAY)
        rows.append(paid(f"flf{k}", W(f"flsrc{k}"), W(o), start - (5 + 4 * k) * DAY))
        rows += lease_rows(f"flr{k}", W(o), L(o, 1), start, gpu=RTX, hours=120 * 24)
        rows.append(edge(f"flu{k}", "uses_gpu", L(o, 1), RTX, start, {"units": 1, "hours": 0}))
        dep(o, 1, "fleet")
    # Fleets that are not: a hashless deployment, an unknown lease end, a lease of another deployment.
    for variant in ("hashless", "nohours", "other"):
        for k in range(4):
            o = f"{variant[:2]}{k}"
            start = 300 * DAY + k * 2 * DAY
            rows.append(paid(f"{o}f", W(f"{o}src"), W(o), start - (5 + 4 * k) * DAY))
            rows += lease_rows(f"{o}r", W(o), L(o, 1), start, gpu=RTX,
                              hours=None if variant == "nohours" and k == 2 else 90 * 24)
            dep(o, 1, f"fleet-{variant}")
            if k == 1 and variant == "hashless":
                dep(o, 2, None)
            if k == 1 and variant == "other":
                rows += lease_rows(f"{o}x", W(o), L(o, 7), start + DAY, gpu=RTX)
    # An owner that is no node of the graph (its deployment paid into by a friend), beside a node owner.
    rows.append(paid("ghost-e", W("friend"), D("ghost", 1), 400 * DAY + 60))
    rows.append(edge("gh-r", "rented", W("gh2"), D("gh2", 1), 400 * DAY + 120))
    dep("ghost", 1, "ghosts")
    dep("gh2", 1, "ghosts")
    dep("gh2", 2, "ghosts")
    dep("loner", 1, "only-one")  # one owner: no link
    return rows, deps


def judged(owners: list[tuple[str, list[ManifestOwner]]], **kw: Any) -> list[Link]:
    """The links of Spark's per-hash owners under the judgement's parameters (``window_s``, fleet)."""
    return [lk for h, os in owners for lk in manifest_hash_links(h, os, **kw)]


def test_manifest_traps_equal_networkx(traps: Frames) -> None:
    f, tg, hubs, deps = traps, traps.tg, traps.hubs, manifest_traps()[1]
    other = {"max_bursts": 10, "fresh_s": 400 * DAY, "max_owners": 4}
    # Spark's part (the owners of each shared hash) once per aggregation parameters; the judgement's
    # parameters on its result.
    owners = sp.manifest_owners(deps, f.g, f.timed, f.first, f.hub_ids)
    owners2 = sp.manifest_owners(deps, f.g, f.timed, f.first, f.hub_ids, **other)
    links = manifest_links(deps, tg, hubs)
    same(judged(owners), links)
    loose = {"fleet_alpha": 1.0, "window_s": 400 * DAY}
    same(judged(owners, **loose), manifest_links(deps, tg, hubs, **loose))
    same(judged(owners2), manifest_links(deps, tg, hubs, **other))
    same(judged(owners2, **loose), manifest_links(deps, tg, hubs, **other, **loose))
    # The traps held.
    by_hash: dict[str, Link] = {}
    for lk in links:
        by_hash.setdefault(lk.detail.split()[4], lk)
    assert list(by_hash) == ["zz-tie", "burst", "fleet", "ghosts"], list(by_hash)
    assert by_hash["zz-tie"].detail.endswith(f"mostly first funded by {W('fz')}")
    assert "a fleet" in by_hash["fleet"].detail and "within" in by_hash["burst"].detail
    assert by_hash["zz-tie"].refs == (D("t1", 1), D("t2", 1))
    assert {lk.detail.split()[4] for lk in manifest_links(deps, tg, hubs, **loose)} == {
        "zz-tie", "burst", "fleet", "fleet-hashless", "fleet-nohours", "fleet-other", "ghosts"}
    # 10 bursts allowed make svc a funder (not a service); 4 owners at most drop the 5-owner fleet.
    assert [lk.detail.split()[4] for lk in manifest_links(deps, tg, hubs, **other)] == [
        "zz-tie"] * 3 + ["burst"] * 2 + ["svc-hash"] * 2 + ["ghosts"]
    assert manifest_links(deps, tg, hubs, **other)[-2].detail.endswith(f"first funded by {W('svc')}")


# -- random tie-heavy worlds --------------------------------------------------------------------------
def random_world(seed: int) -> tuple[list[tuple], list[dict[str, Any]]]:
    """A small market whose times come from a coarse grid (ties everywhere), random hours, hubs,
    payees, funders shared or not, hashes shared or not: both heuristics on every path at once."""
    rnd = random.Random(seed)
    names = [f"{rnd.choice('zyxabc')}{k}" for k in range(16)]
    rnd.shuffle(names)
    grid = [None, 0, 5 * DAY, 5 * DAY + 60, 5 * DAY + 120, 5 * DAY + 3600, 6 * DAY, 6 * DAY + 7, 9 * DAY + 30,
            40 * DAY + 5]
    funders = ["fund1", "fund2", "ex", *names[:3]]
    rows: list[tuple] = []
    deps: list[dict[str, Any]] = []
    for p in range(4):
        prov = f"provider:akash:pv{p}"
        for gpu in rnd.sample([H100, A100, RTX], rnd.randint(1, 2)):
            rows.append(edge(f"of{p}{gpu}", "offers_gpu", prov, gpu, None, {"count": 8}))
        rows.append(edge(f"po{p}", "payout_to", prov, W(rnd.choice(["ex", f"pay{p}", "pay0"]))))
    for k in range(100):
        o = rnd.choice(names)
        r = rnd.random()
        t = rnd.choice(grid)
        if r < 0.4:
            lease = L(o, rnd.choice([1, 1, 2, 3]), f"pv{rnd.randrange(4)}")
            rows.append(edge(f"r{k}", "rented", W(o), lease, t))
            if rnd.random() < 0.8:
                rows.append(edge(f"u{k}", "uses_gpu", lease, rnd.choice([H100, A100, RTX]), t,
                                 {"units": 8, "hours": rnd.choice([0, 2.5, 2400, 2400])} if rnd.random() < 0.9 else {}))
        elif r < 0.5:
            rows.append(edge(f"d{k}", "rented", W(o), D(o, rnd.randint(1, 3)), t))
        elif r < 0.75:
            rows.append(paid(f"p{k}", W(rnd.choice(funders)), W(o), t, rnd.choice([1, 500, 5000])))
        elif r < 0.9:
            rows.append(paid(f"g{k}", W(o), W(f"pay{rnd.randrange(4)}"), t))
        else:
            rows.append(paid(f"e{k}", W(rnd.choice(names)), D(o, rnd.randint(1, 3)), t))
    for o in names:
        for dseq in range(1, 4):
            if rnd.random() < (0.8 if dseq == 1 else 0.2):
                deps.append({"id": D(o, dseq), "owner": W(o), "hash": rnd.choice(["h1", "h1", "h2", "", None])})
    for i in range(rnd.randint(2, 4)):  # would-be fleets: one lease each, sometimes another or no hours
        o = f"q{rnd.choice('zyxabc')}{i}"
        rows.append(paid(f"qf{i}", W(f"qsrc{i % 2}"), W(o), rnd.choice(grid[2:])))
        rows += lease_rows(f"q{i}", W(o), L(o, 1), rnd.choice(grid[2:]), hours=rnd.choice([2400, 2400, 2400, None]))
        if rnd.random() < 0.2:
            rows += lease_rows(f"qx{i}", W(o), L(o, 2), rnd.choice(grid))
        deps.append({"id": D(o, 1), "owner": W(o), "hash": "hq"})
    rnd.shuffle(deps)
    return rows, deps


def test_random_tie_worlds_equal_networkx(spark: Any) -> None:
    seed = random.randrange(10**6)
    rows, deps = random_world(seed)
    f = Frames(spark, rows)
    tg, hubs = f.tg, f.hubs
    try:
        firsts = sp.first_rentals(f.g, f.timed, f.hub_ids, CONTROLLED)
        owners = sp.manifest_owners(deps, f.g, f.timed, f.first, f.hub_ids, fresh_s=3 * DAY)
    finally:
        f.close()
    for kw in ({}, {"min_group": 2, "alpha": 1.0}):
        assert sync_rental_scan(firsts, **kw) == sync_rental_links(tg, hubs, CONTROLLED, **kw), (seed, kw)
    # Each of networkx's paths alone: the fresh burst; one funder and the fleet (no burst is tight
    # under a negative window).
    for kw2 in ({}, {"fleet_alpha": 1.0, "window_s": 30 * DAY}, {"window_s": -1, "fleet_alpha": 1.0, "fleet_min_owners": 2}):
        assert judged(owners, **kw2) == manifest_links(deps, tg, hubs, fresh_s=3 * DAY, **kw2), (seed, kw2)


# -- a simulator world, read as the engine reads it ---------------------------------------------------
def test_simulator_world_through_parquet_equals_networkx(spark: Any, tmp_path: Path) -> None:
    """The engine's path: the store exported to Parquet, frames loaded with the block clock, first
    fundings after dust, the funded_by edges in networkx order, the engine's parameters; a planted
    synchronized group and a private fleet so that both heuristics link something."""
    from graphs.spark import dust as sp_dust
    from graphs.spark.funding import funded_by_ordered
    from graphs.spark.load import block_clock, edges_frame, paid_frame
    from tracer.scoring import tables
    from tracer.scoring.parquet import export_store
    from tracer.scoring.rules import Params
    from tracer.scoring.run import observed
    from tracer.scoring.stages import NetworkxStages
    from tracer.simulate import build_world
    from tracer.store import open_store

    seed = f"market-{random.randrange(10**6)}"
    w = build_world(seed, 40)
    pv = w.provider("sync-dc", {"h100-sxm": 64}, "US")
    synced = [w.wallet(f"sync-{i}", "akash") for i in range(5)]
    for i, s in enumerate(synced):  # five wallets starting H100 rentals within minutes, two in one second
        w.pay(w.wallet("sync-src"), s, 3_000, 9, hour=1)
        w.rent(s, pv, "h100-sxm", 100, 12, 200, hour=3 + max(i - 1, 0) / 60)
    for i in range(4):  # a fleet: one hash, four owners a day apart, leases of it running 2000 h
        o = w.wallet(f"fleet-{i}", "akash")
        key = ids.parse(o).key
        dep = ids.deployment("akash", key, 7)
        w.add("market", facts.entity(dep, "simulate", "2026-03-02T00:00:00Z", kind="deployment", chain="akash",
                                     attrs={"manifest_hash": "ab" * 32}))
        w.pay(w.wallet(f"fleet-src-{i}"), o, 1_000, 1 + i, hour=5)
        lease = ids.lease("akash", ids.akash_lease_key(key, 7, 1, 1, "prov"))
        w.edge("rented", o, lease, 2 + i)
        w.edge("uses_gpu", lease, ids.gpu("a100"), 2 + i, units=8, hours=2000)
    store = open_store(tmp_path / "sim.db")
    w.write(store)
    now, p = "2100-01-01T00:00:00Z", Params()
    obs = tables.observations(store, now)
    deployment_rows = tables.deployments(store)
    symbols = {**DENOM_SYMBOL, **tables.token_symbols(store)}
    tg = build_graph(tables.iter_edges(store), obs)
    st = NetworkxStages()
    dust = st.dust(tg, p, symbols)
    tg.ignore_dust_fundings(dust)
    seen = observed(tg, obs)
    hubs = st.hubs(tg, seen.tags, seen.listed, dust, p)
    want = [lk for lk in st.links(tg, hubs, deployment_rows, CONTROLLED, p)
            if lk.heuristic in ("manifest_hash", "sync_rentals")]
    assert any("a fleet" in lk.detail for lk in want), seed
    assert {lk.b for lk in want if lk.heuristic == "sync_rentals"} >= set(synced[2:]), seed

    paths = export_store(store, tmp_path / "pq", now=now)
    clock = block_clock(paths["edges"], paths["observations"])
    paid_f = paid_frame(spark, paths["edges"], clock, ordered=True).cache()
    edges = edges_frame(spark, paths["edges"], paths["observations"], ordered=True)
    first = first_funding(paid_f, sp_dust.dust_limits(paid_f, p.dust_min_value, p.dust_median_share,
                                                      p.dust_min_transfers, symbols)).cache()
    g = link_graph(edges.unionByName(funded_by_ordered(paid_f, first, edges.count())))
    market = sp.market_frame(spark, paths["edges"], clock).cache()
    try:
        got = sp.market_links(deployment_rows, g, sp.timed_frame(market, paid_f), first, by_id(tg, hubs), CONTROLLED,
                              funding_window_s=p.funding_window_days * DAY, max_star=p.max_star,
                              fresh_s=p.fresh_days * DAY, manifest_window_s=int(p.manifest_window_days * DAY),
                              sync_window_s=p.sync_window_minutes * 60, sync_min_group=p.sync_min_group,
                              sync_alpha=p.sync_alpha)
    finally:
        for df in (paid_f, first, market):
            df.unpersist()
        g.unpersist()
    same(got, want, seed)
