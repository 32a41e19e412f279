"""Attribution tags on the real GraphSense / etherscan-labels / Forta files, through the pipeline."""

from __future__ import annotations

import json

import pytest
from lists_support import fixture

from connectors.lists.tags import (
    ListsTagsConnector,
    category_from_text,
    parse_forta,
    parse_scan_accounts,
    parse_scan_combined,
    parse_tagpack,
    tag_records,
)
from tracer.pipeline import sync
from tracer.store import Store


def test_tagpack_header_inheritance_and_confidence() -> None:
    body = fixture("graphsense-tagpacks", "packs", "tornado_cash.yaml").read_bytes()
    tags = parse_tagpack(body, "packs/tornado_cash.yaml")
    assert len(tags) >= 39
    t = tags[0]
    assert (t.label, t.asset, t.category, t.source_category) == ("tornado.cash", "ETH", "mixer", "mixing_service")
    assert t.confidence == 1.0 and t.attrs["confidence_name"] == "authority_data" and t.attrs["actor"] == "tornado"
    binance = parse_tagpack(fixture("graphsense-tagpacks", "packs", "exchange-wallets-binance.yaml").read_bytes(), "b")
    assert {t.category for t in binance} == {"exchange"}
    assert {t.asset for t in binance} >= {"BTC", "ETH"}  # item-level currency overrides


def test_tagpack_unquoted_hex_address_stays_a_string() -> None:
    pack = b"title: t\ncategory: exchange\ncurrency: ETH\nconfidence: web_crawl\nlabel: x\ntags:\n" \
           b"- address: 0x00000000219ab540356cBB839Cbe05303d7705Fa\n"
    t = parse_tagpack(pack, "inline")[0]
    assert t.address == "0x00000000219ab540356cBB839Cbe05303d7705Fa"  # not an int, leading zeros kept
    recs, n, rej = tag_records("t", "s", [t], "2026-01-01T00:00:00Z")
    assert n == 1 and rej == 0
    assert recs[0].row["id"] == "wallet:evm:0x00000000219ab540356cbb839cbe05303d7705fa"


def test_usdt_blacklist_context_and_ofac_pack() -> None:
    tags = parse_tagpack(fixture("graphsense-tagpacks", "packs", "usdt_blacklist.yaml").read_bytes(), "u")
    assert len(tags) == 774 and json.loads(tags[0].attrs["context"])["transaction"].startswith("0x")
    ofac = parse_tagpack(fixture("graphsense-tagpacks", "packs", "ofac.yaml").read_bytes(), "o")
    assert len(ofac) == 572
    recs, wallets, rejected = tag_records("graphsense", "s", ofac, "2026-01-01T00:00:00Z")
    assert (wallets, rejected) == (568, 4)
    reasons = " | ".join(r.row["reason"] for r in recs if r.table == "rejected_inputs")
    # real defects of the scraped pack, refused with the reason instead of being matched:
    assert reasons.count("must be 95 or 106 characters, got 67") == 2  # two truncated Monero addresses
    assert "64 hex digits is a key or transaction id" in reasons  # a hash filed as an XMR address
    assert "it looks like a tron address" in reasons  # a Tron address filed under BTC


def test_scan_and_forta_formats() -> None:
    combined = parse_scan_combined(fixture("etherscan-labels", "data", "etherscan", "combined",
                                           "combinedAllLabels.json").read_bytes(),
                                   "data/etherscan/combined/combinedAllLabels.json")
    assert len(combined) == 29945
    kucoin = next(t for t in combined if t.address == "0x689c56aef474df92d44a1b70850f808488f9769c")
    assert kucoin.label == "KuCoin 2" and kucoin.category == "exchange"
    bsc = parse_scan_combined(fixture("etherscan-labels", "data", "bscscan", "combined",
                                      "combinedAllLabels.json").read_bytes(), "data/bscscan/combined/x.json")
    assert bsc[0].chain == "bsc"
    ofac = parse_scan_accounts(fixture("etherscan-labels", "data", "etherscan", "accounts",
                                       "ofac-sanctions-lists.csv").read_bytes(), "accounts/ofac-sanctions-lists.csv")
    assert len(ofac) == 72 and {t.category for t in ofac} == {"sanctioned"}
    phish = parse_forta(fixture("forta-labelled", "labels", "1", "phishing_scams.csv").read_bytes(),
                        "labels/1/phishing_scams.csv")
    assert len(phish) == 6726 and {t.category for t in phish} == {"phishing"}
    mal = parse_forta(fixture("forta-labelled", "labels", "1", "malicious_smart_contracts.csv").read_bytes(),
                      "labels/1/malicious_smart_contracts.csv")
    assert {t.attrs["role"] for t in mal} == {"contract", "creator"}
    assert {"hack", "phishing"} <= {t.category for t in mal}


def test_category_rules() -> None:
    assert category_from_text("tornado-cash") == "mixer"
    assert category_from_text("Binance 14") == "exchange"
    assert category_from_text("Wormhole: Portal Token Bridge") == "bridge"
    assert category_from_text("airdrop-hunter") == "other"


def test_tags_pipeline_and_summary(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    monkeypatch.setenv("TRACER_NOW", "2026-03-01T00:00:00Z")
    gs = fixture("graphsense-tagpacks")
    conn = ListsTagsConnector()
    cfg_c = {"sources": {
        "graphsense": {"format": "graphsense_tagpack", "base_url": str(gs), "source": "graphsense",
                       "files": ["packs/tornado_cash.yaml", "packs/exchange-wallets-binance.yaml"]},
        "forta": {"format": "forta_csv", "base_url": str(fixture("forta-labelled")), "source": "forta",
                  "files": ["labels/1/malicious_smart_contracts.csv"]}}}
    store = Store(tmp_path / "t.db")
    res = asyncio.run(sync(store, {"connectors": {}}, plan=[(conn, conn.streams(cfg_c))]))
    assert res.status == "ok", res.errors
    rows = {r["source"]: r for r in store.query("SELECT * FROM tag_sources")}
    distinct, rejected = set(), 0
    for f in ("tornado_cash.yaml", "exchange-wallets-binance.yaml"):
        recs, _, rej = tag_records("graphsense", "s", parse_tagpack(
            fixture("graphsense-tagpacks", "packs", f).read_bytes(), f), "x")
        distinct |= {r.row["id"] for r in recs if r.table == "observations"}
        rejected += rej
    assert rows["graphsense"]["files"] == 2
    # a (wallet, label) pair listed twice in a pack is one fact; BEP2 / unsupported currencies are rejected
    assert (rows["graphsense"]["tags"], rows["graphsense"]["rejected"]) == (len(distinct), rejected) == (97, 25)
    tc = store.query("SELECT value, confidence, attrs FROM observations WHERE predicate = 'tag' AND subject = "
                     "'wallet:evm:0x8589427373d6d84e98730d7795d8f6f8731fda16'")
    assert tc and tc[0]["value"] == "tornado.cash" and json.loads(tc[0]["attrs"])["category"] == "mixer"
    hubs = store.query("SELECT count(*) AS n FROM observations WHERE predicate = 'tag' "
                       "AND json_extract(attrs, '$.category') = 'exchange'")[0]["n"]
    assert hubs > 0
