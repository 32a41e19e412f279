"""What people read (issue 15, "Money and wording"): amounts in display units with symbols on every
surface, exposure stated as amounts and shares, listed parties named, no "at None".

Each test names the wrong output it reproduces; stores are real (SQLite through the store port), the
CLI runs through click, scoring through ``score_store``."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner
from investigate_support import IDS, T0, add_derived, build_world

from connectors import facts
from connectors.akash.parse import USDC_IBC, coin_amount
from connectors.base import Page, Record
from tracer import amounts
from tracer import queries as q
from tracer.cli import main
from tracer.export import graph_export
from tracer.scoring import rules as R
from tracer.scoring.run import score_store
from tracer.simulate import World
from tracer.store import Store, open_store

NOW = "2026-06-01T00:00:00Z"
VOUCHER = amounts.ibc_hash("transfer/channel-9/uusdc")  # USDC over another IBC path than USDC_IBC
LISTED_ENTRY = f"sanctioned: OFAC SDN, entry {IDS['E']} (Kowloon Compute Ltd)"


def test_exposure_states_amounts_and_the_share_of_the_whole_token() -> None:
    """Was "100.0% of inflow in ibc/2955... traces to listed ...": 500 USDC from the listed wallet came
    over one IBC path, 1,250 USDC from others over another; the wallet got 500 of 1,750 USDC.  The
    score (share of the denomination it is computed in) must not change, only what is written."""
    w = World("wording-ibc")
    src, r = w.wallet("listed", "akash"), w.wallet("renter", "akash")
    w.listed(src)
    w.pay(src, r, 500, 1, asset=(VOUCHER, 24))
    w.pay(w.wallet("clean", "akash"), r, 1_250, 1, asset=(USDC_IBC, 24))
    w.pay(r, w.wallet("shop", "akash"), 400, 2, asset=(VOUCHER, 24))  # moved on: it funded something
    store = Store(":memory:")
    w.write(store)
    res = score_store(store, now=NOW)
    assert res.context is not None
    e = R.exposure(r, res.context)
    assert e is not None and e.score == pytest.approx(0.9)  # 0.9 x (0.5 + 0.5 x 1): unchanged
    assert e.detail.startswith("500 of 1,750 USDC (28.6%) of its inflow")
    assert f"100.0% of the 500 received as {VOUCHER}" in e.detail
    assert e.detail.endswith(f"traces to listed {src} (OFAC SDN), 1 hop away")
    assert "% of inflow in" not in e.detail


def test_exposure_in_one_asset_and_outgoing() -> None:
    w = World("wording-one")
    src, mid, r = w.wallet("l"), w.wallet("m"), w.wallet("r")
    w.listed(src)
    w.pay(src, mid, 100, 1)
    w.pay(mid, r, 100, 2)
    w.pay(w.wallet("clean"), r, 100, 2)
    p = w.provider("p", {"h100-sxm": 1}, "US")
    w.rent(r, p, "h100-sxm", 1, 3, 150)
    payer = w.wallet("payer")
    w.pay(payer, src, 300, 1)
    w.pay(payer, w.wallet("other"), 900, 1)
    store = Store(":memory:")
    w.write(store)
    ctx = score_store(store, now=NOW).context
    assert ctx is not None
    e = R.exposure(r, ctx)
    # r got 100 USDC from mid (fully tainted) and 100 from a clean wallet: 100 of 200, 2 hops
    assert e is not None and e.detail == f"100 of 200 USDC (50.0%) of its inflow traces to listed {src} (OFAC SDN), " \
                                         "2 hops away"
    o = R.exposure(payer, ctx)
    assert o is not None and o.score == pytest.approx(0.5 * 0.25)
    assert o.detail == f"300 of 1,200 USDC (25.0%) of its outflow paid directly to listed {src} (OFAC SDN)"


def test_funding_names_the_listed_funder_with_label_and_level(tmp_path: Path) -> None:
    """Was: label and level empty for the OFAC-listed funder (an unscored wallet tied to an SDN entry)."""
    store = build_world(tmp_path / "case.db", derived=False)
    rows = q.funding(store, IDS["W"], hops=1)
    a = next(f for f in rows if f["funder"] == IDS["A"])
    assert (a["label"], a["level"], a["listed"]) == ("Kowloon Compute Ltd", "listed", LISTED_ENTRY)
    assert (a["display"], a["amount"], a["amount_base"]) == ("1,234.5 USDC", "1234.5", "1234500000")
    add_derived(store)
    a = next(f for f in q.funding(store, IDS["W"], hops=1) if f["funder"] == IDS["A"])
    assert a["level"] == "severe"  # a scored level wins over "listed"
    store.close()


def test_neighbours_path_and_node_name_listed_parties(tmp_path: Path) -> None:
    store = build_world(tmp_path / "case.db")
    nb = q.neighbours(store, IDS["W"])
    aw = next(e for e in nb["edges"] if e["id"] == "e:aw")
    assert aw["src_name"] == f"[{LISTED_ENTRY}]" and aw["display"] == "1,234.5 USDC"
    assert next(n for n in nb["nodes"] if n["id"] == IDS["A"])["listed"] == LISTED_ENTRY
    p = q.path(store, IDS["F"], IDS["W"])
    assert [(e["src_name"], e["dst_name"]) for e in p] == [("fresh funder", f"[{LISTED_ENTRY}]"),
                                                          (f"[{LISTED_ENTRY}]", None)]
    assert q.node(store, IDS["A"])["listed"] == LISTED_ENTRY
    store.close()


def test_cli_tables_show_display_amounts_and_listings(tmp_path: Path) -> None:
    """Rich read "[listed as ...]" as markup and printed nothing; amounts were base-unit decimals."""
    db = tmp_path / "cli.db"
    build_world(db).close()
    r = CliRunner().invoke(main, ["--db", str(db), "funding", IDS["W"], "--table"], env={"COLUMNS": "400"})
    assert r.exit_code == 0, r.output
    assert "1,234.5 USDC" in r.output and "Kowloon Compute Ltd" in r.output and "sanctioned: OFAC SDN," in r.output
    r = CliRunner().invoke(main, ["--db", str(db), "neighbours", IDS["W"], "--table"])
    assert r.exit_code == 0 and "[sanctioned: OFAC" in r.output  # the name in brackets survives (was eaten)
    r = CliRunner().invoke(main, ["--db", str(db), "neighbours", IDS["W"], "--csv"])
    rows = r.output.splitlines()
    assert rows[0].split(",")[:7] == ["hop", "kind", "src", "src_name", "dst", "dst_name", "display"]
    assert any("1234500000" in x and "1234.5" in x and "1,234.5 USDC" in x for x in rows)


def test_explain_says_who_before_why(tmp_path: Path) -> None:
    """An unlabelled listed wallet's only name is its listing: explain prints it under the score line
    (and a labelled subject its label), in the JSON too."""
    db = tmp_path / "cli.db"
    build_world(db).close()
    r = CliRunner().invoke(main, ["--db", str(db), "explain", IDS["A"]])
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[1] == f"  listed: {LISTED_ENTRY}" and "  name: " not in r.output
    r = CliRunner().invoke(main, ["--db", str(db), "explain", IDS["F"]])
    assert r.exit_code == 0 and r.output.splitlines()[1] == "  name: fresh funder" and "  listed: " not in r.output
    data = json.loads(CliRunner().invoke(main, ["--db", str(db), "explain", IDS["A"], "--json"]).output)
    assert (data["name"], data["listed"]) == (None, LISTED_ENTRY)


def _akash_store(path: Path) -> tuple[str, Store]:
    """A renter that deposits 2,106,000.754537 uakt into its deployment escrow (the issue's amount)."""
    renter = "wallet:akash:akash1hnhz93fxnjt4aazu68qcjgd0cjl9eyw3n7hlv4"
    dep = "deployment:akash:akash1hnhz93fxnjt4aazu68qcjgd0cjl9eyw3n7hlv4/20194399"
    denom, base, dec = coin_amount({"denom": "uakt", "amount": "2106000.754537"})
    recs: list[Record] = [
        facts.entity(renter, "test", T0, kind="wallet", chain="akash", address=renter.split(":")[2]),
        facts.edge("edge:test:deposit", "paid", renter, dep, "test", T0, chain="akash", asset=denom, amount=base,
                   decimals=dec, time=T0, tx="AB" * 32),
        facts.edge("edge:test:undated", "paid", renter, dep, "test", T0, chain=None, asset=USDC_IBC,
                   amount=str(5 * 10**24), decimals=24),
    ]
    store = open_store(path)
    store.write_page("test.akash", Page(b"{}", "http://127.0.0.1/akash.json", "GET", None, {}, fetched_at=T0),
                     recs, "run-test")
    return renter, store


def test_timeline_shows_akt_not_uakt(tmp_path: Path) -> None:
    """Was "2.106000754537 uakt" for 2,106,000.754537 uakt (2.106 AKT): the unit off by 10^6."""
    renter, store = _akash_store(tmp_path / "akash.db")
    store.close()
    r = CliRunner().invoke(main, ["--db", str(tmp_path / "akash.db"), "timeline", renter, "--json"])
    assert r.exit_code == 0, r.output
    ev = next(e for e in json.loads(r.output) if e["ref"] == "edge:test:deposit")
    assert (ev["display"], ev["amount"], ev["amount_base"], ev["asset"]) == (
        "2.106000754537 AKT", "2.106000754537", "2106000754537000000000000", "uakt")
    r = CliRunner().invoke(main, ["--db", str(tmp_path / "akash.db"), "timeline", renter, "--table"],
                           env={"COLUMNS": "300"})
    assert "2.106000754537 AKT" in r.output and "uakt" not in r.output


def test_explain_prints_display_amounts_and_never_at_none(tmp_path: Path) -> None:
    renter, store = _akash_store(tmp_path / "akash.db")
    add_derived(store, flags=[])
    with store.transaction():
        store.execute("INSERT INTO evidence (id, subject, rule, score, detail, refs, path, computed_at) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                      ["ev:akash", renter, "exposure", 0.5, "test", json.dumps(["edge:test:deposit",
                                                                                "edge:test:undated"]),
                       json.dumps([]), T0])
    store.close()
    r = CliRunner().invoke(main, ["--db", str(tmp_path / "akash.db"), "explain", renter])
    assert r.exit_code == 0, r.output
    assert f"paid {renter} -> " in r.output
    assert "2.106000754537 AKT at 2026-03-01T10:00:00Z" in r.output
    assert "5 USDC at unknown time" in r.output
    assert "None" not in r.output and "(decimals" not in r.output
    r = CliRunner().invoke(main, ["--db", str(tmp_path / "akash.db"), "explain", renter, "--json"])
    facts_ = {f["id"]: f for e in json.loads(r.output)["evidence"] for f in e["facts"]}
    assert facts_["edge:test:deposit"]["amount"] == "2106000754537000000000000"  # machines keep base units
    assert facts_["edge:test:deposit"]["display"] == "2.106000754537 AKT"


def test_gexf_keeps_base_units_and_shows_display(tmp_path: Path) -> None:
    store = build_world(tmp_path / "case.db")
    graph_export(store, tmp_path / "g.gexf", "gexf")
    store.close()
    root = ET.parse(tmp_path / "g.gexf").getroot()
    ns = {"g": root.tag.split("}")[0][1:]}
    keys = {a.get("id"): a.get("title") for a in root.iterfind(".//g:attributes[@class='edge']/g:attribute", ns)}
    edges = [(e, {keys[v.get("for")]: v.get("value") for v in e.iterfind(".//g:attvalue", ns)})
             for e in root.iterfind(".//g:edge", ns)]
    edge, vals = next((e, v) for e, v in edges if v.get("networkx_key") == "e:aw")  # the multigraph key: the edge id
    assert (vals["amount_base"], vals["amount"], vals["symbol"]) == ("1234500000", "1234.5", "USDC")
    assert edge.get("label") == "1,234.5 USDC"
    nkeys = {a.get("id"): a.get("title") for a in root.iterfind(".//g:attributes[@class='node']/g:attribute", ns)}
    node = next(n for n in root.iterfind(".//g:node", ns) if n.get("id") == IDS["A"])
    nvals = {nkeys[v.get("for")]: v.get("value") for v in node.iterfind(".//g:attvalue", ns)}
    assert nvals["listed"] == LISTED_ENTRY and node.get("label") == "Kowloon Compute Ltd"  # was its bare id
