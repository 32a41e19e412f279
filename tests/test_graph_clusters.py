"""graphs.clusters: each heuristic links what it should, records its name and strength and facts,
and never links through a hub."""

from __future__ import annotations

from graphs.build import build_graph
from graphs.clusters import (
    cluster_links,
    common_funder_links,
    deposit_reuse_links,
    escrow_third_party_links,
    find_hubs,
    manifest_links,
    payout_links,
)

DAY = 86400


def paid(i: int, src: str, dst: str, t: int, amount: int = 100) -> tuple:
    return (f"p{i}", "paid", src, dst, str(amount), 6, "USDC", t, None)


def test_common_funder_groups_fresh_wallets_in_window() -> None:
    rows = [paid(i, "wallet:evm:f", f"wallet:evm:s{i}", 1000 + i * 3600) for i in range(4)]
    rows.append(paid(9, "wallet:evm:f", "wallet:evm:late", 1000 + 30 * DAY))  # outside the window
    rows += [paid(10, "wallet:evm:x", "wallet:evm:old", 10), paid(11, "wallet:evm:old", "wallet:evm:y", 20),
             paid(12, "wallet:evm:f", "wallet:evm:old", 2000)]  # not fresh: first funded by x anyway
    tg = build_graph(rows)
    links = common_funder_links(tg, {}, window_s=7 * DAY, min_group=3)
    assert sorted(lk.a for lk in links) == [f"wallet:evm:s{i}" for i in range(4)]
    assert {lk.b for lk in links} == {"wallet:evm:f"} and {lk.heuristic for lk in links} == {"common_funder"}
    assert all(lk.refs and lk.refs[0].startswith("p") and 0 < lk.strength <= 1 for lk in links)
    cl = cluster_links(links)
    assert len(cl.members) == 1 and len(cl.peers("wallet:evm:s0")) == 5


def test_untagged_mass_funder_is_not_one_actor() -> None:
    rows = [paid(i, "wallet:evm:faucet", f"wallet:evm:s{i}", 1000 + i) for i in range(120)]
    tg = build_graph(rows)
    assert common_funder_links(tg, {}, max_star=100) == []
    assert len(common_funder_links(tg, {}, max_star=200)) == 120


def test_hub_funder_is_cut() -> None:
    rows = [paid(i, "wallet:evm:ex", f"wallet:evm:s{i}", 1000 + i) for i in range(5)]
    tg = build_graph(rows)
    hubs = find_hubs(tg, [("wallet:evm:ex", "exchange", "Big Exchange", "o1")])
    assert hubs[tg.index["wallet:evm:ex"]].reason == "tagged exchange: Big Exchange"
    assert common_funder_links(tg, hubs) == []
    # Degree alone makes a hub too.
    assert tg.index["wallet:evm:ex"] in find_hubs(tg, [], max_degree=3)


def test_deposit_address_reuse() -> None:
    ex, dep = "wallet:evm:ex", "wallet:evm:dep"
    rows = [paid(1, "wallet:evm:a", dep, 10), paid(2, "wallet:evm:b", dep, 20), paid(3, dep, ex, 30),
            paid(4, "wallet:evm:c", "wallet:evm:own", 10), paid(5, "wallet:evm:own", ex, 40)]
    tg = build_graph(rows)
    hubs = find_hubs(tg, [(ex, "exchange", "Ex", "o")])
    links = deposit_reuse_links(tg, hubs)
    assert sorted((lk.a, lk.b) for lk in links) == [("wallet:evm:a", dep), ("wallet:evm:b", dep)]
    assert cluster_links(links).cluster("wallet:evm:a") == cluster_links(links).cluster("wallet:evm:b")


def test_escrow_paid_by_third_party() -> None:
    lease = "lease:akash:t/1/1/1/p"
    rows = [("r1", "rented", "wallet:akash:t", lease, None, None, None, 5, None),
            paid(1, "wallet:akash:t", lease, 6), paid(2, "wallet:akash:friend", lease, 7)]
    tg = build_graph(rows)
    links = escrow_third_party_links(tg, {})
    assert [(lk.a, lk.b, lk.refs) for lk in links] == [("wallet:akash:friend", "wallet:akash:t", ("p2", "r1"))]


def test_shared_payout_and_manifest_hash() -> None:
    rows = [("o1", "payout_to", "provider:akash:p1", "wallet:akash:pay", None, None, None, 0, None),
            ("o2", "payout_to", "provider:akash:p2", "wallet:akash:pay", None, None, None, 0, None)]
    tg = build_graph(rows)
    cl = cluster_links(payout_links(tg, {}))
    assert cl.cluster("provider:akash:p1") == cl.cluster("provider:akash:p2") is not None
    deps = [{"id": f"deployment:akash:o{i}/1", "owner": f"wallet:akash:o{i}", "hash": "h1"} for i in range(2)]
    deps += [{"id": f"deployment:akash:t{i}/1", "owner": f"wallet:akash:t{i}", "hash": "template"} for i in range(20)]
    # Behaviour, not an owner count: o0/o1 deploy within minutes; the template's owners over 20 weeks.
    rows = [(f"r{d['owner']}", "rented", d["owner"], d["id"], None, None, None,
             1000 + (i * 7 * DAY if d["hash"] == "template" else i * 60), None) for i, d in enumerate(deps)]
    links = manifest_links(deps, build_graph(rows))
    assert [(lk.a, lk.b, lk.heuristic) for lk in links] == [("wallet:akash:o0", "wallet:akash:o1", "manifest_hash")]
    assert manifest_links(deps) == []  # no graph: nothing known about the owners, no link


def test_threshold_drops_weak_links() -> None:
    deps = [{"id": f"deployment:akash:o{i}/1", "owner": f"wallet:akash:o{i}", "hash": "h1"} for i in range(2)]
    rows = [(f"r{i}", "rented", d["owner"], d["id"], None, None, None, 1000 + i, None) for i, d in enumerate(deps)]
    links = manifest_links(deps, build_graph(rows))
    assert cluster_links(links, threshold=0.5).cluster("wallet:akash:o0") is not None
    assert cluster_links(links, threshold=0.65).cluster("wallet:akash:o0") is None
