"""OFAC list formats on the real files in ../shared/fixtures: sdn.csv family, sdnList XML,
thomasgregg / ultrasoundmoney exports, snapshots and delisting."""

from __future__ import annotations

import json

import pytest
from lists_support import fixture, run_sources

from connectors.addresses import normalize
from connectors.lists.ofac import (
    ListsOfacConnector,
    merge_comments,
    parse_sdn_csv,
    parse_thomasgregg,
    parse_ultrasound,
    read_ofac_csv,
)
from connectors.lists.ofac_addresses import parse_list
from connectors.lists.ofac_xml import parse_sdn_xml
from tracer.store import Store


def _eth(snap) -> set[str]:  # type: ignore[no-untyped-def]
    return {normalize("evm", w) for p in snap.parties for a, w in p.wallets if a == "ETH"}


def _b10c(folder: str, asset: str = "ETH") -> set[str]:
    body = fixture("ofac-0xb10c", folder, f"sanctioned_addresses_{asset}.txt").read_bytes()
    return {normalize("evm", a) for a in parse_list(body, "txt")}


def test_sdn_csv_quirks_ctrl_z_crlf_nulls() -> None:
    body = fixture("ofac-sdn-csv", "sdn_2024-05-03.csv").read_bytes()
    assert body.endswith(b"\r\n\x1a") and b"-0- " in body
    rows = read_ofac_csv(body, 12)
    assert len(rows) == 14965  # SOURCE.md: 14,965 records; the Ctrl-Z line is not one
    assert all(len(r) == 12 for r in rows)
    assert not any(c.strip() == "-0-" for r in rows for c in r)
    cut = [r for r in rows if len(r[11]) == 1000]
    assert len(cut) == 18  # SOURCE.md: 18 remarks hit the 1000-character limit


def test_sdn_csv_eth_subset_of_0xb10c_nearest_date() -> None:
    main = fixture("ofac-sdn-csv", "sdn_2024-05-03.csv").read_bytes()
    b10c = _b10c("history_2024-05-02")
    alone = _eth(parse_sdn_csv({"main": main}))
    merged = _eth(parse_sdn_csv({"main": main,
                                 "comments": fixture("ofac-sdn-csv", "sdn_comments_2025-02-27.csv").read_bytes()}))
    print(f"ETH from sdn.csv alone {len(alone)}, with comments merged {len(merged)}, 0xB10C {len(b10c)}")
    assert len(alone) == 49  # the truncation bug SOURCE.md measured
    assert merged <= b10c
    assert merged == b10c  # all 150: the comments recover every one of the 101 truncated addresses
    # The 2023-12 comments file is older than the sdn.csv: it brings back exactly one address that was
    # on the list in 2023 (0xB10C 2023-05-24) and not in the 2024-05-02 list: a stale continuation.
    older = _eth(parse_sdn_csv({"main": main,
                                "comments": fixture("ofac-sdn-csv", "sdn_comments_2023-12-22.csv").read_bytes()}))
    extra = older - b10c
    assert extra == {"0x6acdfba02d390b97ac2b2d42a63e85293bcc160e"}
    assert extra <= _b10c("history_2023-05-24")


def test_merge_comments_only_extends_cut_remarks() -> None:
    remarks = {"1": "x" * 1000, "2": "short"}
    comments = b'1,"tail; Digital Currency Address - ETH 0xabc"\r\n2,"never glued"\r\n\x1a'
    assert merge_comments(remarks, comments) == 1
    assert remarks["1"].endswith("0xabc") and remarks["2"] == "short"


def test_moov_subset_family_aliases_addresses_wallets() -> None:
    d = fixture("ofac-sdn-csv", "moov-subset-2025")
    snap = parse_sdn_csv({k: (d / f).read_bytes() for k, f in
                          (("main", "sdn.csv"), ("comments", "sdn_comments.csv"), ("alt", "alt.csv"),
                           ("add", "add.csv"))})
    assert len(snap.parties) == 17
    by = {p.uid: p for p in snap.parties}
    hesa = by["11195"]
    assert "HESA TRADE CENTER" in hesa.aliases and "HESA" in hesa.aliases
    assert hesa.programmes == ["NPWMD", "IFSR", "IRAN-CON-ARMS-EO"]
    assert "Iran" in hesa.countries
    assert by["12685"].websites == ["www.gicdf.org"] and by["12685"].emails == ["info@gicdf.org"]
    suex = next(p for p in snap.parties if p.name.startswith("SUEX"))
    assert any(a == "ETH" for a, _ in suex.wallets) and any(a == "XBT" for a, _ in suex.wallets)


def test_sdn_xml_consolidated_2018() -> None:
    snap = parse_sdn_xml({"main": fixture("ofac-consolidated-2018", "consolidated.xml").read_bytes()}, cons=True)
    assert snap.date == "2018-04-06"
    assert len(snap.parties) == 639  # Record_Count 639
    bm = next(p for p in snap.parties if p.uid == "4632")
    assert "CENTRAL BANK OF IRAN" in bm.aliases and bm.programmes == ["IRAN"] and "Iran" in bm.countries
    assert bm.entity_id == "entity:ofac-cons:4632"


def test_ultrasound_2026_subset_of_thomasgregg_2026() -> None:
    us = _eth(parse_ultrasound({"main": fixture("ofac-ultrasoundmoney", "data_2026-06-25.csv").read_bytes()}))
    tg = parse_thomasgregg({"main": fixture("ofac-thomasgregg",
                                            "sanctioned-addresses_sdn-2026-08-20.json").read_bytes()})
    tg_evm = set()
    for p in tg.parties:
        for _, w in p.wallets:
            if w.startswith("0x"):
                tg_evm.add(normalize("evm", w))
    assert len(us) == 97
    assert us <= tg_evm
    assert len(tg_evm) == 104 and len(tg_evm - us) == 7  # SOURCE.md: 7 more 0x addresses (later designations)


def test_thomasgregg_tornado_delisting_snapshots(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = fixture("ofac-thomasgregg", "sanctioned-addresses_sdn-03-20-2025.json")
    b = fixture("ofac-thomasgregg", "sanctioned-addresses_sdn-03-21-2025.json")
    store = Store(tmp_path / "t.db")
    conn = ListsOfacConnector()
    src = {"thomasgregg": {"url": str(a), "format": "thomasgregg_json", "source": "ofac-thomasgregg"}}
    run_sources(store, conn, src, monkeypatch, "2025-03-21T05:00:00Z")
    src["thomasgregg"]["url"] = str(b)
    run_sources(store, conn, src, monkeypatch, "2025-03-22T05:00:00Z")
    from tracer.lists import snapshot_diff

    diff = snapshot_diff(store, "ofac-thomasgregg")
    assert (diff["older"], diff["newer"]) == ("2025-03-20", "2025-03-21")
    removed = [r for r in diff["removed"] if r["kind"] == "address"]
    added = [r for r in diff["added"] if r["kind"] == "address"]
    assert len(removed) == 90 and added == []
    assert {r["label"] for r in removed} == {"TORNADO CASH"}
    # The delisted wallets' facts carry valid_to; the wallets still listed do not.
    ids = [r["key"] for r in removed]
    marks = ",".join("?" * len(ids))
    rows = store.query(f"SELECT subject, valid_to FROM observations WHERE predicate = 'sanctioned' "
                       f"AND subject IN ({marks})", ids)
    assert rows and all(r["valid_to"] == "2025-03-21" for r in rows)
    still = store.query("SELECT count(*) AS n FROM observations WHERE predicate='sanctioned' AND valid_to IS NULL "
                        "AND source='ofac-thomasgregg'")[0]["n"]
    assert still > 0
    tc = store.query("SELECT valid_to FROM observations WHERE predicate='listed' AND subject LIKE 'entity:ofac-sdn:%' "
                     "AND subject IN (SELECT dst FROM edges WHERE kind='listed_as' AND src=?)", [ids[0]])
    assert tc and tc[0]["valid_to"] == "2025-03-21"
    # the same through the CLI: `tracer lists --diff` and the summary row
    from click.testing import CliRunner

    from tracer.cli import main

    store.close()
    out = CliRunner().invoke(main, ["--db", str(tmp_path / "t.db"), "lists", "--diff", "ofac-thomasgregg", "--json"])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)
    assert sum(r["change"] == "removed" and r["kind"] == "address" for r in rows) == 90
    assert not any(r["change"] == "added" for r in rows)
    summary = json.loads(CliRunner().invoke(main, ["--db", str(tmp_path / "t.db"), "lists", "--json"]).output)
    assert summary[0]["snapshots"] == 2 and summary[0]["delisted"] == 91  # 90 wallets + the TORNADO CASH party


def test_thomasgregg_lowercased_base58_rejected_not_matched(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = fixture("ofac-thomasgregg", "sanctioned-addresses_sdn-2026-08-20.json")
    data = json.loads(path.read_bytes())
    tron = [a for a, v in data["addresses"].items() if v["type"].endswith("TRX")]
    assert tron and all(a.startswith("t") for a in tron)  # lower-cased by the exporter
    store = Store(tmp_path / "t.db")
    run_sources(store, ListsOfacConnector(), {"tg": {"url": str(path), "format": "thomasgregg_json",
                                                     "source": "ofac-thomasgregg"}}, monkeypatch, "2026-08-22T05:00:00Z")
    rej = {r["value"]: r["reason"] for r in store.query("SELECT value, reason FROM rejected_inputs")}
    assert set(tron) <= set(rej)
    assert "lower-cased" in rej[tron[0]]
    wallets = {r["address"] for r in store.query("SELECT address FROM entities WHERE kind='wallet'")}
    assert not set(tron) & wallets
    assert not any(w.startswith("wallet:tron:") for w in
                   (r["id"] for r in store.query("SELECT id FROM entities WHERE kind='wallet'")))
    evm = [r for r in store.query("SELECT id FROM entities WHERE id LIKE 'wallet:evm:%'")]
    assert len(evm) == 104  # every 0x address survives lower-casing
    bech32 = store.query("SELECT count(*) AS n FROM entities WHERE id LIKE 'wallet:bitcoin:bc1%'")[0]["n"]
    assert bech32 > 0  # bech32 is case-insensitive: lower-case bc1... addresses are valid and kept
    snap = store.query("SELECT * FROM list_snapshots")[0]
    print(f"thomasgregg 2026-08-20: {snap['addresses']} wallets kept, {snap['rejected']} rejected")
    assert snap["snapshot"] == "2026-08-20" and snap["rejected"] >= len(tron)
    assert snap["addresses"] + snap["rejected"] >= 961  # every published address is either kept or rejected


def test_sdn_csv_family_pipeline_and_unchanged_reload(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    main = fixture("ofac-sdn-csv", "sdn_2024-05-03.csv")
    src = {"sdn_csv": {"url": str(main), "format": "sdn_csv", "source": "ofac-sdn-csv",
                       "side": {"comments": str(fixture("ofac-sdn-csv", "sdn_comments_2025-02-27.csv"))}}}
    store = Store(tmp_path / "s.db")
    conn = ListsOfacConnector()
    run_sources(store, conn, src, monkeypatch, "2024-05-04T00:00:00Z")
    snap = store.query("SELECT * FROM list_snapshots")
    assert len(snap) == 1 and snap[0]["entities"] == 14965 and snap[0]["snapshot"] == "2024-05-04T00:00:00Z"
    eth = store.query("SELECT count(DISTINCT subject) AS n FROM observations WHERE predicate = 'sanctioned' "
                      "AND json_extract(attrs, '$.asset') = 'ETH'")
    assert eth[0]["n"] == 150  # = the 0xB10C list of 2024-05-02
    multi = store.query("SELECT attrs FROM edges WHERE kind = 'listed_as' AND json_array_length(attrs, '$.assets') > 1")
    assert multi  # one edge per (wallet, party), every asset it is listed under kept
    lazarus = store.query("SELECT e.label, e.attrs FROM entities e WHERE e.kind = 'listed_entity' "
                          "AND e.label = 'LAZARUS GROUP'")
    assert lazarus and "DPRK3" in json.loads(lazarus[0]["attrs"])["programmes"]
    raw = store.query("SELECT url FROM raw_payloads WHERE stream = 'lists_ofac.sdn_csv'")
    assert any(r["url"].endswith("sdn_comments_2025-02-27.csv") for r in raw)  # side file kept as provenance
    # the same bytes a day later: no second snapshot, nothing delisted
    run_sources(store, conn, src, monkeypatch, "2024-05-05T00:00:00Z")
    assert store.count("list_snapshots") == 1
    assert store.query("SELECT count(*) AS n FROM observations WHERE valid_to IS NOT NULL")[0]["n"] == 0


def test_ultrasound_date_added_becomes_listed_on(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = fixture("ofac-ultrasoundmoney", "data_2024-08-20_with_date_added_incl_tornado.csv")
    store = Store(tmp_path / "u.db")
    run_sources(store, ListsOfacConnector(), {"us": {"url": str(path), "format": "ultrasound_csv", "source": "us"}},
                monkeypatch, "2024-08-21T00:00:00Z")
    row = store.query("SELECT attrs FROM observations WHERE predicate = 'sanctioned' AND subject = "
                      "'wallet:evm:0x8576acc5c05d6ce88f4e49bf65bdf0c62f91353c'")
    assert json.loads(row[0]["attrs"])["listed_on"] == "2020-09-10"
