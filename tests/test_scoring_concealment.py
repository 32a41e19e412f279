"""Concealment of controlled capacity (issue 12): wallets that act as one (common fresh funder, shared
private manifest, synchronized first rentals, third-party escrow) renting export-controlled GPUs are a
flag in their own right, high with a restricted link; lawful look-alikes (payroll, template users,
one large renter, uncontrolled GPUs, exchange customers) stay below medium.  Also: Golem requestors
get the controlled-GPU qualifier from the payee they pay, and `USDC/6` thresholds match EVM tokens."""

from __future__ import annotations

from typing import Any

from connectors import facts, ids
from tracer.scoring import rules as R
from tracer.scoring import tables
from tracer.scoring.rules import Params
from tracer.scoring.run import score_store
from tracer.simulate import SOURCE, World, _t
from tracer.store import Store

NOW = "2026-06-01T00:00:00Z"
ORDER = ["none", "low", "medium", "high", "severe"]


def scored(w: World, params: Params | None = None) -> dict[str, Any]:
    store = Store(":memory:")
    w.write(store)
    res = score_store(store, params=params, now=NOW)
    return {"res": res, "ctx": res.context, "flags": {f["subject"]: f for f in res.flags}, "store": store}


def level(out: dict[str, Any], s: str) -> str:
    f = out["flags"].get(s)
    return f["level"] if f else "none"


def at_least(out: dict[str, Any], s: str, lvl: str) -> bool:
    return ORDER.index(level(out, s)) >= ORDER.index(lvl)


def deployment(w: World, owner: str, dseq: int, manifest: str, day: float | None) -> str:
    """An Akash deployment entity (manifest hash) and the owner's escrow deposit into it.

    ``day=None`` writes the deposit with no time, as height-only Akash escrow facts arrive."""
    addr = ids.parse(owner).key
    dep = ids.deployment("akash", addr, dseq)
    w.add("market", facts.entity(dep, SOURCE, _t(0), kind="deployment", chain="akash", address=addr,
                                 label=f"{addr}/{dseq}", attrs={"manifest_hash": manifest, "state": "active"},
                                 last_seen=_t(30)))
    w.n += 1
    w.add("transfers", facts.edge(f"edge:sim:deposit:{w.n}", "paid", owner, dep, SOURCE, _t(31), chain="akash",
                                  asset="uakt", amount=5_000_000, decimals=6,
                                  time=None if day is None else _t(day)))
    return dep


def akash_star(w: World, n: int, provider: str, gpu: str = "h100-sxm", listed_member: bool = False) -> list[str]:
    """A fresh funder's Sybil star on Akash: n wallets funded within hours, each renting 8 GPUs for 10
    days from day 2 (leases overlap), escrow deposits with no time (height only)."""
    ex = w.wallet("exchange", "akash")
    w.tag(ex, "Exchange", "exchange")
    funder = w.wallet("star-funder", "akash")
    w.pay(ex, funder, 30_000, 0.2)
    star = []
    for i in range(n):
        s = w.wallet(f"star-{i}", "akash")
        w.pay(funder, s, 1_000, 1 + i * 0.05)  # under the funding threshold even together
        deployment(w, s, 100 + i, f"own-manifest-{i}", None)
        w.rent(s, provider, gpu, 8 * 24 * 10, 2 + i * 0.3, 500, units=8)
        star.append(s)
    if listed_member:
        w.listed(star[0])
    return star


def concealment_of(out: dict[str, Any], s: str) -> Any:
    return R.concealment(s, out["ctx"])


# ---- positives ---------------------------------------------------------------------------------
def test_akash_sybil_star_is_concealment_medium() -> None:
    w = World("c-star")
    p = w.provider("us", {"h100-sxm": 64}, "US", ("audited",))
    star = akash_star(w, 6, p)
    out = scored(w)
    for s in star:
        assert at_least(out, s, "medium"), (s, level(out, s))
        assert level(out, s) == "medium"  # coordination alone: medium; high needs a restricted link
    e = concealment_of(out, star[2])
    assert e is not None and 0.4 <= e.score < 0.7
    assert "common_funder" in e.detail and "48 controlled GPUs at once" in e.detail and "GPU-hours" in e.detail
    assert e.path[0] == star[2] and len(e.path) >= 2
    assert e.refs and all(tables.fact_exists(out["store"], r) for r in e.refs)


def test_akash_sybil_star_renting_from_cn_provider_is_high() -> None:
    w = World("c-star-cn")
    p = w.provider("sz", {"h100-sxm": 64}, "CN", ("audited",))
    star = akash_star(w, 5, p)
    out = scored(w)
    for s in star:
        assert at_least(out, s, "high"), (s, level(out, s))
    e = concealment_of(out, star[1])
    assert e is not None and e.score >= 0.7 and "CN" in e.detail and "D:5" in e.detail
    assert p in e.path and "jurisdiction:CN" in e.path


def test_akash_sybil_star_with_listed_member_is_high() -> None:
    w = World("c-star-listed")
    p = w.provider("us", {"h100-sxm": 64}, "US", ("audited",))
    star = akash_star(w, 4, p, listed_member=True)
    out = scored(w)
    for s in star:
        assert at_least(out, s, "high"), (s, level(out, s))
    e = concealment_of(out, star[3])
    assert e is not None and e.score >= 0.7 and star[0] in e.detail and star[0] in e.path


def test_shared_private_manifest_across_fresh_wallets_is_flagged() -> None:
    w = World("c-manifest")
    ex = w.wallet("exchange", "akash")
    w.tag(ex, "Exchange", "exchange")
    p = w.provider("us", {"h100-sxm": 64}, "US", ("audited",))
    owners = []
    for i in range(4):  # funded by an exchange (no common funder): only the manifest ties them
        o = w.wallet(f"m-{i}", "akash")
        w.pay(ex, o, 2_000, 1 + i * 0.01)
        deployment(w, o, 7, "f00d" * 16, 3 + i * 0.02)
        w.rent(o, p, "h100-sxm", 8 * 24 * 5, 3 + i * 0.02 + 0.01, 400, units=8)
        owners.append(o)
    out = scored(w)
    links = [lk for lks in out["ctx"].clusters.links.values() for lk in lks if lk.heuristic == "manifest_hash"]
    assert links and {lk.a for lk in links} | {lk.b for lk in links} == set(owners)
    for o in owners:
        assert at_least(out, o, "medium"), (o, level(out, o))
    e = concealment_of(out, owners[0])
    assert e is not None and "manifest_hash" in e.detail


def test_synchronized_first_rentals_are_flagged_among_background() -> None:
    w = World("c-sync")
    ex = w.wallet("exchange")
    w.tag(ex, "Exchange", "exchange")
    p = w.provider("us", {"h100-sxm": 64}, "US", ("audited",))
    p2 = w.provider("us2", {"h100-sxm": 64}, "US", ("audited",))
    sync = []
    for i in range(4):  # funded days apart by an exchange, first rentals within 20 minutes
        s = w.wallet(f"sync-{i}")
        w.pay(ex, s, 2_000, 1 + i * 1.5)
        w.rent(s, p if i % 2 else p2, "h100-sxm", 8 * 24 * 4, 10 + 3 / 24 + i * 5 / 1440, 400, units=8)
        sync.append(s)
    bg = []
    for i in range(60):
        b = w.wallet(f"bg-{i}")
        day = w.rnd.uniform(0, 30)
        w.pay(ex, b, 1_000, day)
        w.rent(b, p, "h100-sxm", 8 * 24, day + w.rnd.uniform(0.1, 2), 100, units=8)
        bg.append(b)
    out = scored(w)
    links = [lk for lks in out["ctx"].clusters.links.values() for lk in lks if lk.heuristic == "sync_rentals"]
    assert {lk.a for lk in links} | {lk.b for lk in links} == set(sync)
    for s in sync:
        assert at_least(out, s, "medium"), (s, level(out, s))
    e = concealment_of(out, sync[0])
    assert e is not None and "sync_rentals" in e.detail
    assert not any(at_least(out, b, "medium") for b in bg)


# ---- decoys ------------------------------------------------------------------------------------
def test_payroll_treasury_stays_below_medium() -> None:
    w = World("c-payroll")
    ex = w.wallet("exchange")
    w.tag(ex, "Exchange", "exchange")
    treasury = w.wallet("treasury")
    w.pay(ex, treasury, 500_000, 0.1)
    p = w.provider("us", {"h100-sxm": 64}, "US", ("audited",))
    staff = []
    for m in range(4):
        r = w.wallet(f"staff-{m}")
        for month in range(3):  # a regular monthly cadence
            w.pay(treasury, r, 4_000, 1 + 30 * month + m * 0.01)
        w.rent(r, p, "h100-sxm", 8 * 24 * 10, 5 + m, 2_000, units=8)
        staff.append(r)
    out = scored(w)
    for r in staff:
        assert not at_least(out, r, "medium"), (r, out["flags"].get(r))


def test_team_renting_uncontrolled_gpus_stays_below_medium() -> None:
    w = World("c-uncontrolled")
    funder = w.wallet("team-funder")
    w.pay(w.wallet("founder"), funder, 20_000, 0.1)
    p = w.provider("de", {"rtx-4080": 64, "l4": 64}, "DE", ("declared",))
    team = []
    for i in range(5):
        s = w.wallet(f"team-{i}")
        w.pay(funder, s, 900, 1 + i * 0.05)
        w.rent(s, p, "rtx-4080" if i % 2 else "l4", 8 * 24 * 10, 2 + i * 0.01, 300, units=8)
        team.append(s)
    out = scored(w)
    for s in team:
        assert not at_least(out, s, "medium"), (s, out["flags"].get(s))


def test_one_large_lawful_renter_and_exchange_customers_stay_below_medium() -> None:
    w = World("c-lawful")
    ex = w.wallet("exchange")
    w.tag(ex, "Exchange", "exchange")
    p = w.provider("us", {"h100-sxm": 512}, "US", ("audited",))
    big = w.wallet("big-lab")
    w.pay(ex, big, 2_000_000, 0.5)
    w.rent(big, p, "h100-sxm", 800_000, 1, 1_600_000, units=256)
    customers = []
    for i in range(8):  # fresh exchange customers funded within an hour: a hub is not a common owner
        c = w.wallet(f"customer-{i}")
        w.pay(ex, c, 3_000, 2 + i / 200)
        w.rent(c, p, "h100-sxm", 8 * 24 * 3, 3 + i, 500, units=8)
        customers.append(c)
    out = scored(w)
    assert not at_least(out, big, "medium"), out["flags"].get(big)
    for c in customers:
        assert not at_least(out, c, "medium"), (c, out["flags"].get(c))
        assert out["ctx"].clusters.cluster(c) is None


# ---- Golem payee GPUs, stablecoin symbols ------------------------------------------------------------
def test_golem_requestor_paying_h100_payee_gets_controlled_gpu() -> None:
    w = World("c-golem")
    payee = w.wallet("payee")
    node = "0x" + "ab" * 20
    pid = ids.provider("golem", node)
    w.add("market", facts.entity(pid, SOURCE, _t(0), kind="provider", address=node, label="node",
                                 attrs={"market": "golem"}, last_seen=_t(30)))
    w.edge("payout_to", pid, payee)
    offers = w.edge("offers_gpu", pid, "gpu:h100-sxm", count=4)
    w.obs(payee, "role", "provider_payee", part="market", provider=pid)
    req = w.wallet("requestor")
    w.pay(w.wallet("src"), req, 1_000, 1)
    pay = w.pay(req, payee, 50, 2, asset=("token:polygon:0x0b220b82f3ea3b7f6d9a1d8ab58930c064a2b5bf", 18))
    out = scored(w)
    e = R.controlled_gpu(req, out["ctx"])
    assert e is not None and e.score == 0.3 and "H100" in e.detail
    assert pay in e.refs and offers in e.refs and payee in e.path and pid in e.path


def test_usdc_symbol_threshold_matches_polygon_token_transfers() -> None:
    token = "token:polygon:0x00000000000000000000000000000000000000c1"  # a USDC deployed on a test chain
    w = World("c-usdc")
    w.add("entities", facts.entity(token, SOURCE, _t(0), kind="token", chain="polygon",
                                   address=ids.parse(token).key, label="USDC",
                                   attrs={"name": "USD Coin", "decimals": 6}))
    funder = w.wallet("funder")
    w.pay(w.wallet("origin"), funder, 50_000, 0.1, asset=(token, 6))
    p = w.provider("de", {"rtx-4080": 64}, "DE", ("declared",))
    ws = []
    for i in range(6):  # 9,000 each (under 10,000), 54,000 together
        s = w.wallet(f"s{i}")
        w.pay(funder, s, 9_000, 1 + i * 0.05, asset=(token, 6))
        w.rent(s, p, "rtx-4080", 10, 3 + i, 10)
        ws.append(s)
    params = Params(funding_thresholds={"USDC/6": 10_000 * 10**6})
    out = scored(w, params)
    e = R.structuring(ws[0], out["ctx"])
    assert e is not None and "USDC" in e.detail
    assert R.threshold_for({"USDC/6": 10}, f"{token}/6", {token: "USDC"}) == 10
    # The same symbol at another precision (Akash stores IBC USDC with 6 + 18 decimals) is rescaled.
    assert R.threshold_for({"USDC/6": 10}, "ibc/X/24", {"ibc/X": "USDC"}) == 10 * 10**18
    assert R.threshold_for({"USDC/6": 10}, "token:polygon:0xother/6", {}) is None


def test_a_training_node_of_a100s_counts_as_controlled_capacity() -> None:
    """Tuning worlds: a 6-wallet star renting 4x A100 each at once (24 A100, ~7.6 H100-equivalents by
    TPP, under 8) scored nothing. 8 or more GPUs at or above the TPP 4800 line at once is a training
    node whatever their H100 weight; L4s (TPP ~1,900) are not."""
    def star(gpu: str) -> tuple[dict[str, Any], list[str]]:
        w = World(f"c-node-{gpu}")
        p = w.provider("host", {gpu: 64}, "US")
        ex = w.wallet("exchange", "akash")
        w.tag(ex, "Exchange", "exchange")
        funder = w.wallet("star-funder", "akash")
        w.pay(ex, funder, 30_000, 0.2)
        wallets = []
        for i in range(6):
            s = w.wallet(f"star-{i}", "akash")
            w.pay(funder, s, 1_000, 1 + i * 0.05)
            w.rent(s, p, gpu, 4 * 24 * 2, 2 + i * 0.01, 100, units=4)  # 2 days, all overlapping
            wallets.append(s)
        return scored(w), wallets

    out, wallets = star("a100")
    assert all(at_least(out, s, "medium") for s in wallets)
    ev = concealment_of(out, wallets[0])
    assert ev is not None and "24 controlled GPUs at once" in ev.detail
    w_out, l4 = star("l4")
    assert not any(at_least(w_out, s, "medium") for s in l4)
    # Without the node criterion the same A100 star falls under the H100-equivalent minimum.
    w2 = World("c-node-off")
    p2 = w2.provider("host", {"a100": 64}, "US")
    f2 = w2.wallet("star-funder", "akash")
    w2.pay(w2.wallet("src", "akash"), f2, 30_000, 0.2)
    off = []
    for i in range(6):
        s = w2.wallet(f"star-{i}", "akash")
        w2.pay(f2, s, 1_000, 1 + i * 0.05)
        w2.rent(s, p2, "a100", 4 * 24 * 2, 2 + i * 0.01, 100, units=4)
        off.append(s)
    res = scored(w2, Params(concealment_min_node_gpus=0))
    assert concealment_of(res, off[0]) is None
