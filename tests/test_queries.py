"""Investigator queries: the pure walks (graphs.queries) and the store-backed functions (tracer.queries),
the latter on both store backends (``db_factory``: SQLite and PostgreSQL)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from investigate_support import IDS, TX, build_world

from graphs import queries as gq
from tracer import queries as q
from tracer.cli import main


def E(eid: str, src: str, dst: str, kind: str = "paid", amount: str = "1", t: str = "2026-01-01") -> dict:
    return {"id": eid, "src": src, "dst": dst, "kind": kind, "amount": amount, "decimals": 0, "asset": "ETH",
            "time": t}


CHAIN = [E("1", "a", "b"), E("2", "b", "c"), E("3", "c", "d"), E("4", "d", "e"), E("5", "x", "b", "rented"),
         E("6", "hub", "c"), E("7", "hub", "z"), E("8", "z", "e")]


def test_neighbourhood_depth_and_kinds() -> None:
    f = gq.rows_fetch(CHAIN)
    g1 = gq.neighbourhood(f, "b", depth=1)
    assert g1.nodes == {"b": 0, "a": 1, "c": 1, "x": 1}
    assert gq.neighbourhood(f, "b", depth=1, kinds=["paid"]).nodes.keys() == {"b", "a", "c"}
    assert gq.neighbourhood(f, "b", depth=2, direction="out").nodes == {"b": 0, "c": 1, "d": 2}
    capped = gq.neighbourhood(f, "b", depth=3, max_nodes=3)
    assert len(capped.nodes) == 3 and capped.truncated
    with pytest.raises(ValueError):
        gq.neighbourhood(f, "b", direction="sideways")


def test_hubs_are_reached_not_expanded() -> None:
    f = gq.rows_fetch(CHAIN)
    def is_hub(ns):
        return {n: "exchange" for n in ns if n == "hub"}
    g = gq.neighbourhood(f, "c", depth=3, is_hub=is_hub)
    assert "hub" in g.nodes and g.hubs == {"hub": "exchange"}
    assert g.nodes["z"] == 3  # reached only the long way round (c-d-e-z), not through the hub
    assert gq.neighbourhood(f, "c", depth=2, is_hub=is_hub).nodes.get("z") is None


def test_shortest_path_avoids_hubs() -> None:
    f = gq.rows_fetch(CHAIN)
    p = gq.shortest_path(f, "a", "e")
    assert [e["id"] for e in p] == ["1", "2", "3", "4"]
    via_hub = gq.shortest_path(f, "c", "z")
    assert [e["id"] for e in via_hub] == ["6", "7"]
    def is_hub(ns):
        return {n: "x" for n in ns if n == "hub"}
    assert [e["id"] for e in gq.shortest_path(f, "c", "z", is_hub=is_hub)] == ["3", "4", "8"]
    assert gq.shortest_path(f, "a", "e", max_depth=3) is None
    assert gq.shortest_path(f, "a", "a") == []


def test_funding_sums_exact_amounts_per_hop() -> None:
    big = str(2**200)
    rows = [E("1", "f", "s", amount=big), E("2", "f", "s", amount="5", t="2025-12-01"), E("3", "g", "f", amount="7")]
    out = gq.funding_sources(gq.rows_fetch(rows), "s", hops=2)
    assert [(x.id, x.hop, x.amount, x.payments) for x in out] == [("f", 1, 2**200 + 5, 2), ("g", 2, 7, 1)]
    assert out[0].first_time == "2025-12-01"


def test_amount_text_is_exact() -> None:
    assert gq.amount_text("1500000", 6) == "1.5"
    assert gq.amount_text(str(10**30 + 1), 18) == "1000000000000.000000000000000001"
    assert gq.amount_text("0", 18) == "0"
    assert gq.amount_text(None, 6) is None


@pytest.fixture()
def store(db_factory):
    s = build_world(db_factory("case.db"))
    yield s
    s.close()


def test_find_by_name_address_and_id(store) -> None:
    by_name = q.find(store, "kowloon")
    assert by_name[0]["id"] == IDS["E"] and by_name[0]["match"] == "label"
    addr = IDS["A"].split(":")[2]
    hit = q.find(store, addr.upper().replace("0X", "0x"))
    assert hit[0]["id"] == IDS["A"] and hit[0]["level"] == "severe"
    assert q.find(store, IDS["L"])[0]["id"] == IDS["L"]  # an id known only from edges
    assert q.find(store, "'; DROP TABLE edges; --") == []
    assert store.count("edges") > 0
    assert q.find(store, "100%") == [] and q.find(store, "_") == []  # LIKE wildcards are literal
    with pytest.raises(q.QueryError):
        q.find(store, "  ")


def test_neighbours_draws_flags_and_stops_at_exchange(store) -> None:
    r = q.neighbours(store, IDS["F"], depth=2)
    ids = {n["id"]: n for n in r["nodes"]}
    assert ids[IDS["A"]]["level"] == "severe" and ids[IDS["A"]]["hop"] == 1
    assert ids[IDS["X"]]["hub"] == "exchange: BigExchange"
    assert IDS["B1"] not in ids  # the exchange is not expanded
    assert IDS["L"] in ids and ids[IDS["L"]]["hop"] == 2
    paid = next(e for e in r["edges"] if e["id"] == "e:fa")
    assert paid["value"] == "2500" and paid["amount"] == "2500000000"
    only_paid = q.neighbours(store, IDS["A"], kinds=["paid"])
    assert {e["kind"] for e in only_paid["edges"]} == {"paid"}


def test_bad_arguments_are_query_errors(store) -> None:
    for bad in ("", "nocolon", "wallet:evm:0x1' OR 1=1 --", "x" * 400, "wallet:evm:\x00"):
        with pytest.raises(q.QueryError) as ei:
            q.neighbours(store, bad)
        assert ei.value.status == 400
    with pytest.raises(q.QueryError) as ei:
        q.neighbours(store, "wallet:evm:0x" + "0" * 40)
    assert ei.value.status == 404
    for depth in (0, 99, "two", None, True):
        with pytest.raises(q.QueryError):
            q.neighbours(store, IDS["A"], depth=depth)
    with pytest.raises(q.QueryError):
        q.neighbours(store, IDS["A"], kinds=["paid; DROP"])


def test_path_funding_exposure_cluster_timeline(store) -> None:
    p = q.path(store, IDS["F2"], IDS["W"])
    assert [e["id"] for e in p] == ["e:f2f", "e:fa", "e:aw"]
    assert q.path(store, IDS["B1"], IDS["A"]) == []  # only through the exchange: not a path
    fund = q.funding(store, IDS["A"], hops=2)
    assert [(f["hop"], f["funder"], f["amount"]) for f in fund] == [
        (1, IDS["F"], "2500"), (2, IDS["F2"], "7000"), (2, IDS["X"], "5000")]
    assert fund[2]["hub"] == "exchange: BigExchange"
    exp = q.exposure(store, IDS["F2"], hops=3)
    hit = exp["hits"][0]
    assert (hit["id"], hit["hop"], hit["direction"], hit["path"]) == (IDS["A"], 2, "outflow", ["e:f2f", "e:fa"])
    assert hit["reason"].startswith("sanctioned")
    direct = q.exposure(store, IDS["F"], hops=1)["hits"]
    assert [(h["id"], h["share"]) for h in direct] == [(IDS["A"], "2,500 of 2,500 USDC (100.0%)")]
    cl = q.cluster(store, IDS["A3"])
    assert {m["id"] for m in cl["members"]} == {IDS["A"], IDS["A2"], IDS["A3"]}
    assert {json.loads(x["why"])["heuristic"] for x in cl["links"]} == {"common_funder", "manifest_hash"}
    tl = q.timeline(store, IDS["A"])
    times = [ev["time"] for ev in tl]
    assert times == sorted(times)
    assert [ev["ref"] for ev in tl] == ["e:fa", "e:listed", "e:sa1", "obs:ofac:A", "e:rent", "e:aw", "e:aw-fee"]
    assert tl[3]["event"] == "sanctioned" and tl[0]["direction"] == "in" and tl[5]["amount"] == "1234.5"


def test_node_and_edge_details(store) -> None:
    n = q.node(store, IDS["A"])
    assert n["flag"]["level"] == "severe" and n["flag"]["reasons"][0]["rule"] == "listed_wallet"
    assert [e["rule"] for e in n["evidence"]] == ["listed_wallet", "gpu_class"]
    e = q.edge(store, "e:aw")
    assert e["edge"]["tx"] == TX and e["edge"]["value"] == "1234.5"
    assert e["provenance"]["url"] == "http://127.0.0.1/test/case.json"
    assert [s["id"] for s in e["same_tx"]] == ["e:aw-fee"]
    with pytest.raises(q.QueryError):
        q.edge(store, "e:none")


def test_cli_commands(db_factory) -> None:
    db = db_factory("cli.db")
    build_world(db).close()
    r = CliRunner().invoke(main, ["--db", str(db), "find", "kowloon", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)[0]["id"] == IDS["E"]
    r = CliRunner().invoke(main, ["--db", str(db), "find", "no such party", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout) == []
    assert r.stderr.startswith("nothing matches 'no such party': find looks at whole ids and addresses"), r.stderr
    r = CliRunner().invoke(main, ["--db", str(db), "funding", IDS["E"], "--json"])  # the wrong question
    assert r.exit_code == 0 and json.loads(r.stdout) == []
    assert r.stderr.strip() == (f"{IDS['E']} is not a wallet (kind entity): funding follows payments into wallets; "
                                "tracer neighbours shows its edges")
    r = CliRunner().invoke(main, ["--db", str(db), "funding", IDS["F2"], "--csv"])  # a wallet nobody paid
    assert r.exit_code == 0 and r.stdout.count("\n") == 1  # the header only
    assert r.stderr.startswith(f"no payment into {IDS['F2']} is stored: ")
    r = CliRunner().invoke(main, ["--db", str(db), "neighbours", IDS["F2"], "--kind", "rented", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout) == []
    assert r.stderr.strip() == f"no stored rented edge touches {IDS['F2']} (the --kind/--direction filters apply)"
    r = CliRunner().invoke(main, ["--db", str(db), "neighbours", IDS["A"], "--kind", "paid", "--csv"])
    assert r.exit_code == 0 and "e:aw" in r.output and r.output.startswith("hop,")
    r = CliRunner().invoke(main, ["--db", str(db), "funding", IDS["A"], "--hops", "2", "--json"])
    assert [x["funder"] for x in json.loads(r.output)][0] == IDS["F"]
    for cmd in (["path", IDS["F"], IDS["W"]], ["exposure", IDS["F2"]], ["cluster", IDS["A"]], ["timeline", IDS["A"]]):
        r = CliRunner().invoke(main, ["--db", str(db), *cmd, "--table"])
        assert r.exit_code == 0, (cmd, r.output)
    r = CliRunner().invoke(main, ["--db", str(db), "neighbours", "bogus"])
    assert r.exit_code == 2 and "not a tracer id" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["--db", str(db), "neighbours", "wallet:evm:0xdead", "--depth", "9"])
    assert r.exit_code == 2 and "depth" in r.output


def test_an_exposure_answer_never_reads_as_no_risk(store, db_factory) -> None:
    """A listed subject with no listed party around it, and an empty answer, say so (an empty table
    for a sanctioned wallet read as "nothing to see")."""
    a = q.exposure(store, IDS["A"])
    assert a["hits"] == [] and a["listed"] == "sanctioned: OFAC SDN, entry entity:ofac:41234 (Kowloon Compute Ltd)"
    assert a["notes"] == [
        f"{IDS['A']} is itself sanctioned: OFAC SDN, entry entity:ofac:41234 (Kowloon Compute Ltd)",
        "no sanctioned, listed or high-flagged party within 3 payments either way; the walk stopped at 1 hub "
        "(exchanges, bridges, mixers and services are not crossed)"]
    f = q.exposure(store, IDS["F"])
    assert f["hits"] and f["listed"] is None and f["notes"] == []
    db = db_factory("unscored.db")
    build_world(db, derived=False).close()  # synced, never scored: no flags table
    r = CliRunner().invoke(main, ["--db", str(db), "exposure", IDS["B1"], "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout) == []  # the machine format is unchanged
    assert r.stderr.strip().splitlines() == [
        "no sanctioned, listed or high-flagged party within 3 payments either way; the walk stopped at 1 hub "
        "(exchanges, bridges, mixers and services are not crossed); the store has not been scored yet, so only "
        "listed parties count (run tracer score)"]
    r = CliRunner().invoke(main, ["--db", str(db), "exposure", IDS["A"], "--table"])
    assert r.exit_code == 0 and f"{IDS['A']} is itself sanctioned: OFAC SDN" in r.stderr


def test_proportional_exposure_uses_the_graph_layer(store) -> None:
    # F2 (7000) and the exchange (5000) paid F; F paid A (listed). F2 -> F -> A: F's outflow to A is
    # 2500 of 2500 = 100% direct outgoing exposure; W received 1234.5 from A = all of W's inflow.
    out = q.exposure(store, IDS["F"], hops=2)["proportional"]
    assert [(p["direction"], p["source"], p["share_exact"]) for p in out] == [("outflow", IDS["A"], "1/1")]
    w = q.exposure(store, IDS["W"], hops=2)["proportional"]
    assert [(p["direction"], p["source"], p["hop"], p["share_exact"], p["refs"]) for p in w] == [
        ("inflow", IDS["A"], 1, "1/1", ["e:aw"])]


def test_budget_drops_the_widest_fan_out_first() -> None:
    # prov -> gpu (shared by 50 providers) and prov <- lease <- renter: with room for 6 nodes the
    # renter (one edge away from a narrow node) must win over the 50 providers behind the gpu.
    rows = [E("pg", "prov", "gpu")] + [E(f"g{i}", f"p{i}", "gpu") for i in range(50)] + [
        E("lp", "lease", "prov"), E("r", "renter", "lease")]
    g = gq.neighbourhood(gq.rows_fetch(rows), "prov", depth=2, max_nodes=6)
    assert list(g.nodes)[:3] == ["prov", "gpu", "lease"]
    assert "renter" in g.nodes and len(g.nodes) == 6 and g.truncated


def test_gpu_model_nodes_are_not_expanded(store) -> None:
    r = q.neighbours(store, IDS["L"], depth=2)
    gpu = next(n for n in r["nodes"] if n["id"] == IDS["G"])
    assert gpu["hub"].startswith("shared gpu node")
    assert q.neighbours(store, IDS["G"])["nodes"][0]["hub"] is None  # the start itself is expanded


def test_neighbours_marks_listed_nodes(store) -> None:
    nodes = {n["id"]: n for n in q.neighbours(store, IDS["F"])["nodes"]}
    assert nodes[IDS["A"]]["listed"] == "sanctioned: OFAC SDN, entry entity:ofac:41234 (Kowloon Compute Ltd)"
    assert nodes[IDS["F2"]]["listed"] is None and nodes[IDS["F"]]["listed"] is None  # F's flag is not a listing


def test_a_wallet_on_two_lists_is_named_with_both_in_one_order(store) -> None:
    """A wallet on OFAC SDN and on OpenSanctions, each tying it to its own entry: both lists and both
    entries named, in one order whatever order the store returns them (the demo's flag queue named only
    the OpenSanctions entry beside a reason that said "listed: OFAC SDN")."""
    from connectors.base import Page, Record

    os_entry = "entity:opensanctions:kowloon"
    t = "2026-03-01T00:00:00Z"
    meta = {"confidence": 1.0, "observed_at": t, "valid_to": None, "source": "test-os", "first_seen": t,
            "last_seen": t}
    # Ids that sort before the OFAC facts', so a store returning rows by id gives these first.
    recs = [
        Record("entities", {"id": os_entry, "kind": "entity", "chain": None, "address": None,
                            "label": "Kowloon Compute Limited", "attrs": {}, "source": "test-os", "first_seen": t,
                            "last_seen": t}),
        Record("observations", {"id": "obs:a-os:A", "subject": IDS["A"], "predicate": "sanctioned",
                                "value": "OpenSanctions", "attrs": {}, **meta}),
        Record("observations", {"id": "obs:a-os:E", "subject": os_entry, "predicate": "listed",
                                "value": "OpenSanctions", "attrs": {}, **meta}),
        Record("edges", {"id": "e:a-listed-os", "kind": "listed_as", "src": IDS["A"], "dst": os_entry,
                         "chain": None, "asset": None, "amount": None, "decimals": None, "time": t, "block": None,
                         "tx": None, "attrs": {}, "source": "test-os", "first_seen": t, "last_seen": t}),
    ]
    store.write_page("test.os", Page(b"os", "http://127.0.0.1/test/os.json", "GET", None, {"done": True},
                                     fetched_at=t), recs, "run-os")
    assert q.listings(store, [IDS["A"], os_entry, IDS["E"]]) == {
        IDS["A"]: "sanctioned: OFAC SDN and OpenSanctions, entries entity:ofac:41234 (Kowloon Compute Ltd) and "
                  f"{os_entry} (Kowloon Compute Limited)",
        os_entry: "listed: OpenSanctions", IDS["E"]: "listed: OFAC SDN"}
    nodes = {n["id"]: n for n in q.neighbours(store, IDS["F"])["nodes"]}
    assert nodes[IDS["A"]]["listed"] == q.listings(store, [IDS["A"]])[IDS["A"]]


def test_listed_name_is_the_first_entrys_name() -> None:
    assert q.listed_name("sanctioned: OFAC SDN, entry entity:ofac:1 (Kowloon Compute Ltd)") == "Kowloon Compute Ltd"
    assert q.listed_name("listed as OFAC SDN entry entity:ofac:1 (Kowloon (HK) Ltd) and UN entry entity:un:2 "
                         "(Other)") == "Kowloon (HK) Ltd"
    assert q.listed_name("sanctioned: A and B, entries entity:a:1 (One), entity:b:2 (Two) and 3 more") == "One"
    assert q.listed_name("sanctioned: OFAC SDN") == "sanctioned: OFAC SDN"
    assert q.listed_name(None) is None


def test_a_wallet_tied_to_entries_of_two_lists_names_each_entry_with_its_list(db_factory) -> None:
    """No own fact, two ``listed_as`` entries: "listed as <list> entry <id> (<name>)" for each."""
    from connectors.base import Page, Record
    from tracer.store import open_store

    store = open_store(db_factory("tied.db"))
    t = "2026-03-01T00:00:00Z"
    meta = {"confidence": 1.0, "observed_at": t, "valid_to": None, "source": "t", "first_seen": t, "last_seen": t}
    edge = {"chain": None, "asset": None, "amount": None, "decimals": None, "time": t, "block": None, "tx": None,
            "attrs": {}, "source": "t", "first_seen": t, "last_seen": t}
    w = "wallet:evm:0x" + "11" * 20
    recs = [
        Record("entities", {"id": "entity:ofac:1", "kind": "entity", "chain": None, "address": None,
                            "label": "Orion Grid", "attrs": {}, "source": "t", "first_seen": t, "last_seen": t}),
        Record("observations", {"id": "o1", "subject": "entity:ofac:1", "predicate": "listed", "value": "OFAC SDN",
                                "attrs": {}, **meta}),
        Record("observations", {"id": "o2", "subject": "entity:csl:9", "predicate": "listed",
                                "value": "BIS Entity List", "attrs": {}, **meta}),
        Record("edges", {"id": "e1", "kind": "listed_as", "src": w, "dst": "entity:ofac:1", **edge}),
        Record("edges", {"id": "e2", "kind": "listed_as", "src": w, "dst": "entity:csl:9", **edge}),
    ]
    store.write_page("t.s", Page(b"t", "http://127.0.0.1/t.json", "GET", None, {"done": True}, fetched_at=t),
                     recs, "r")
    assert q.listings(store, [w]) == {
        w: "listed as BIS Entity List entry entity:csl:9 and OFAC SDN entry entity:ofac:1 (Orion Grid)"}
    store.close()


def test_cluster_includes_the_scoring_cluster(store) -> None:
    from investigate_support import FLAGS, add_derived, flag_rows

    from connectors.base import Column, Table

    store.ensure_tables([Table(FLAGS.name, FLAGS.columns + (Column("cluster"),), pk=FLAGS.pk)])
    rows = [{**r, "cluster": "cluster:abc" if r["subject"] in (IDS["A"], IDS["P"]) else None} for r in flag_rows()]
    add_derived(store, rows)
    cl = q.cluster(store, IDS["A"])
    via = {m["id"]: m["via"] for m in cl["members"]}
    assert cl["cluster"] == "cluster:abc"
    assert via[IDS["P"]] == "scoring cluster:abc" and via[IDS["A2"]] == "same_actor" and IDS["F"] not in via
