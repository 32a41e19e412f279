"""OFAC advanced XML: a small file built from real sdn.csv rows, validated against the real XSD,
parsed in both namespaces, and loaded through the pipeline."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from lists_support import fixture, run_sources

from connectors.addresses import normalize
from connectors.lists.ofac import ListsOfacConnector, parse_sdn_csv
from connectors.lists.ofac_xml import parse_advanced_xml
from tracer.store import Store

DATA = Path(__file__).parent / "data" / "lists"
sys.path.insert(0, str(DATA))
from build_sdn_advanced import NS_CURRENT, NS_OLD, build, moov_parties, swap_namespace  # noqa: E402

XML = DATA / "sdn_advanced_small.xml"


def _xsd():  # type: ignore[no-untyped-def]
    xmlschema = pytest.importorskip("xmlschema")
    return xmlschema.XMLSchema(str(fixture("ofac-consolidated-2018", "sdn_advanced.xsd")))


def test_fixture_is_rebuilt_identically_from_real_rows() -> None:
    fx = fixture("ofac-sdn-csv", "moov-subset-2025").parents[1]
    assert build(moov_parties(fx)) == XML.read_bytes()


def test_valid_against_real_xsd_and_validation_has_teeth() -> None:
    xs = _xsd()
    doc = swap_namespace(XML.read_bytes(), NS_CURRENT, NS_OLD).decode()
    assert list(xs.iter_errors(doc)) == []
    # a dangling FeatureTypeID (keyref) and a missing required attribute are both caught
    broken = doc.replace('FeatureTypeID="300"', 'FeatureTypeID="999"', 1)
    assert broken != doc and list(xs.iter_errors(broken))
    assert list(xs.iter_errors(doc.replace(' ReliabilityID="1"', "", 1)))


@pytest.mark.parametrize("ns", [NS_CURRENT, NS_OLD])
def test_parse_both_namespaces_matches_csv(ns: str) -> None:
    d = fixture("ofac-sdn-csv", "moov-subset-2025")
    csv_snap = parse_sdn_csv({"main": (d / "sdn.csv").read_bytes(), "comments": (d / "sdn_comments.csv").read_bytes(),
                              "alt": (d / "alt.csv").read_bytes(), "add": (d / "add.csv").read_bytes()})
    snap = parse_advanced_xml({"main": swap_namespace(XML.read_bytes(), NS_CURRENT, ns)})
    assert snap.date == "2025-05-16"
    by_csv = {p.uid: p for p in csv_snap.parties}
    assert {p.uid for p in snap.parties} == set(by_csv)
    for p in snap.parties:
        c = by_csv[p.uid]
        assert p.name == c.name
        assert sorted(p.programmes) == sorted(c.programmes)
        assert sorted(p.wallets) == sorted(c.wallets)
        assert set(c.aliases) <= set(p.aliases)
    suex = next(p for p in snap.parties if p.name.startswith("SUEX"))
    assert {a for a, _ in suex.wallets} >= {"XBT", "ETH"}


def test_advanced_xml_through_pipeline(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path / "a.db")
    run_sources(store, ListsOfacConnector(), {"adv": {"url": str(XML), "format": "advanced_xml",
                                                      "source": "ofac-sdn-advanced"}}, monkeypatch,
                "2025-05-17T00:00:00Z")
    snap = store.query("SELECT * FROM list_snapshots")[0]
    assert snap["snapshot"] == "2025-05-16" and snap["entities"] == 17
    listed = store.query("SELECT attrs FROM observations WHERE predicate = 'listed'")
    assert {json.loads(r["attrs"])["listed_on"] for r in listed} == {"2025-05-16"}  # the EntryEvent date
    suex = store.query("SELECT id FROM entities WHERE kind = 'listed_entity' AND label LIKE 'SUEX%'")[0]["id"]
    wallets = store.query("SELECT src FROM edges WHERE kind = 'listed_as' AND dst = ?", [suex])
    assert wallets
    eth = [w["src"] for w in wallets if w["src"].startswith("wallet:evm:")]
    assert eth and all(w == f"wallet:evm:{normalize('evm', w.split(':')[2])}" for w in eth)
