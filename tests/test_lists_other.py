"""CSL (2019 and 2025 formats), BIS DPL, UN consolidated XML and OpenSanctions FtM (entities and
the delta feed) on the real samples in ../shared/fixtures, through the real pipeline."""

from __future__ import annotations

import json

import pytest
from lists_support import fixture, run_sources

from connectors.lists.csl import ListsCslConnector, csl_list, parse_csl, parse_dpl
from connectors.lists.opensanctions import ListsOpensanctionsConnector, parse_entities, version_time
from connectors.lists.un import ListsUnConnector, parse_un
from tracer.lists import snapshot_diff
from tracer.store import Store


def test_csl_2025_and_2019_formats() -> None:
    new = parse_csl({"main": fixture("trade-gov-csl", "csl_consolidated_2025_subset.csv").read_bytes()})
    old = parse_csl({"main": fixture("trade-gov-csl", "csl_legacy_subset.csv").read_bytes()})
    assert len(new.parties) == 13 and len(old.parties) == 115
    types_new = {p.list_type for p in new.parties}
    assert {"Entity List", "Military End User", "Unverified List", "Denied Persons List",
            "Specially Designated Nationals"} <= types_new
    el_old = [p for p in old.parties if p.list_type == "Entity List"]
    assert len(el_old) == 22
    assert not any(p.sanctions for p in el_old)  # export control, not a sanctions programme
    sdn = next(p for p in new.parties if p.name == "RIM, Ryong Nam")
    assert sdn.sanctions and sdn.uid and "KP" in sdn.countries
    isn = next(p for p in new.parties if p.name.startswith("Sinobright"))
    assert isn.name == "Sinobright Import and Export Company"
    assert "successor" in isn.extra["name_as_published"]
    gui = next(p for p in old.parties if "New District Huawei" in p.name)
    assert "\u2019" in gui.name and "\x92" not in gui.name  # cp1252 mojibake repaired
    # the 2019 rows have no id: the uid hashes list, name, addresses and start date, so the five
    # "Gunther Migeotte" Entity List rows (different addresses) stay five parties
    assert len({p.uid for p in old.parties}) == 115
    assert sum(p.name == "Gunther Migeotte" for p in old.parties) == 5
    assert csl_list("Entity List (EL) - Bureau of Industry and Security") == ("Entity List", "EL")


def test_bis_dpl() -> None:
    snap = parse_dpl({"main": fixture("trade-gov-csl", "bis_dpl.txt").read_bytes()})
    assert len(snap.parties) == 546
    assert snap.date == "2019-06-24" or (snap.date or "").startswith("2019")  # not the "3017-08-22" typo
    ash = next(p for p in snap.parties if p.name == "I. ASH")
    assert ash.list_type == "Denied Persons List" and ash.extra["standard_order"] == "Y"
    assert ash.entity_id.startswith("entity:bis-dpl:")


def test_un_consolidated() -> None:
    snap = parse_un({"main": fixture("un-consolidated", "UN_consolidated.xml").read_bytes()})
    assert snap.date == "2026-02-27"
    ind = [p for p in snap.parties if p.party_type == "individual"]
    ent = [p for p in snap.parties if p.party_type == "entity"]
    assert (len(ind), len(ent)) == (730, 273)
    badege = next(p for p in ind if p.uid == "6907993")
    assert badege.name == "ERIC BADEGE" and badege.programmes == ["DRC"]
    assert badege.extra["listed_on"] == "2012-12-31"
    assert "Democratic Republic of the Congo" in badege.countries and "Rwanda" in badege.countries
    kaina = next(p for p in ind if p.name == "INNOCENT KAINA")
    assert "India Queen" in kaina.extra["weak_aliases"] and "India Queen" not in kaina.aliases  # QUALITY Low
    assert sum(len(p.extra["weak_aliases"]) for p in snap.parties) == 615
    dprk = [p for p in ent if p.programmes == ["DPRK"]]
    assert dprk and all(p.entity_id.startswith("entity:un:") for p in dprk)


def test_opensanctions_entities() -> None:
    base = ("opensanctions-ftm", "yente", "tests", "fixtures", "dataset")
    t1 = parse_entities({"main": fixture(*base, "t1", "entities.ftm.json").read_bytes()})
    assert {p.party_type for p in t1.parties} <= {"person", "organization"}
    assert len(t1.parties) == 6  # 4 Person + 2 Organization; the Address is not a party
    tob = next(p for p in t1.parties if p.uid == "NK-2GdmHtZTeNXjNVrBGEXZNj")
    assert "ofac-32733" in tob.extra["referents"] and "by" in tob.countries
    assert any("Интер" in a for a in tob.aliases)
    zala = parse_entities({"main": fixture(*base, "zala", "entities.ftm.json").read_bytes()})
    assert len(zala.parties) == 14  # target Company 8 + Person 6; not the 3 non-target companies or links


def test_opensanctions_wallet_holder(tmp_path) -> None:
    lines = [
        {"id": "os-1", "schema": "Organization", "caption": "Garantex", "target": True,
         "properties": {"name": ["Garantex"], "topics": ["sanction"]}},
        {"id": "cw-1", "schema": "CryptoWallet", "properties": {
            "publicKey": ["0x7F367cC41522cE07553e823bf3be79A889DEbe1B"], "currencySymbol": ["ETH"],
            "holder": ["os-1"]}},
    ]
    snap = parse_entities({"main": "\n".join(json.dumps(x) for x in lines).encode()})
    assert snap.parties[0].wallets == [("ETH", "0x7F367cC41522cE07553e823bf3be79A889DEbe1B")]


def test_opensanctions_delta_feed(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    t2 = fixture("opensanctions-ftm", "yente", "tests", "fixtures", "dataset", "t2")
    store = Store(tmp_path / "d.db")
    run_sources(store, ListsOpensanctionsConnector(),
                {"delta": {"url": str(t2 / "delta.json"), "format": "ftm_delta", "source": "os-delta",
                           "versions_base": str(t2)}}, monkeypatch, "2024-05-29T00:00:00Z")
    snaps = [r["snapshot"] for r in store.query("SELECT snapshot FROM list_snapshots ORDER BY snapshot")]
    assert len(snaps) == 5 and snaps[0] == version_time("20240527134702-zbn")
    # NK-500Poltergeist was ADDed in 20240528014702-pfh and DELeted in 20240528074703-npf
    d = snapshot_diff(store, "os-delta", version_time("20240528014702-pfh"), version_time("20240528074703-npf"))
    assert [r["key"] for r in d["removed"]] == ["entity:opensanctions:NK-500Poltergeist"]
    obs = store.query("SELECT valid_to FROM observations WHERE subject = 'entity:opensanctions:NK-500Poltergeist' "
                      "AND predicate = 'listed'")
    assert obs[0]["valid_to"] == version_time("20240528074703-npf")
    # the MOD renamed NK-2T3S8Hu29ktYnKSTgQp2wL; the newest label wins, the entity stays listed
    e = store.query("SELECT label FROM entities WHERE id = 'entity:opensanctions:NK-2T3S8Hu29ktYnKSTgQp2wL'")
    assert e[0]["label"] == "Foobar Foobargroup"
    last = snapshot_diff(store, "os-delta")
    assert {r["key"] for r in last["added"]} == {"entity:opensanctions:Q4365364"}
    # resumable: a second sync applies nothing new
    run_sources(store, ListsOpensanctionsConnector(),
                {"delta": {"url": str(t2 / "delta.json"), "format": "ftm_delta", "source": "os-delta",
                           "versions_base": str(t2)}})
    assert store.count("list_snapshots") == 5


def test_csl_un_pipeline_and_snapshot_counts(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path / "c.db")
    run_sources(store, ListsCslConnector(), {
        "csl": {"url": str(fixture("trade-gov-csl", "csl_consolidated_2025_subset.csv")), "format": "csl_csv",
                "source": "csl", "as_of": "2025-06-25"},
        "dpl": {"url": str(fixture("trade-gov-csl", "bis_dpl.txt")), "format": "dpl_txt", "source": "bis-dpl"}},
        monkeypatch, "2026-01-01T00:00:00Z")
    run_sources(store, ListsUnConnector(), {"un": {"url": str(fixture("un-consolidated", "UN_consolidated.xml")),
                                                   "format": "un_xml", "source": "un-consolidated"}})
    rows = {r["source"]: r for r in store.query("SELECT * FROM list_snapshots")}
    assert rows["csl"]["entities"] == 13 and rows["csl"]["snapshot"] == "2025-06-25"
    assert rows["un-consolidated"]["entities"] == 1003 and rows["un-consolidated"]["snapshot"] == "2026-02-27"
    el = store.query("SELECT e.label, o.value FROM entities e JOIN observations o ON o.subject = e.id "
                     "WHERE o.predicate = 'listed' AND o.value = 'Entity List'")
    assert len(el) == 1


def test_wrong_format_fails_the_stream_with_one_line(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from tracer.pipeline import sync

    conn = ListsCslConnector()
    cfg_c = {"sources": {"csl": {"url": str(fixture("un-consolidated", "UN_consolidated.xml")), "format": "csl_csv",
                                 "source": "csl"}}}
    store = Store(tmp_path / "w.db")
    res = asyncio.run(sync(store, {"connectors": {}}, plan=[(conn, conn.streams(cfg_c))]))
    assert res.status == "failed"
    assert "not a csl file" in res.errors[0] and "\n" not in res.errors[0]
    assert store.count("list_snapshots") == 0


def test_party_delisted_while_its_wallet_stays_listed_for_another(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from connectors.lists.ofac import ListsOfacConnector

    wallet = "0x8589427373d6d84e98730d7795d8f6f8731fda16"
    day1 = {"metadata": {"sdnListDate": "01/01/2026"}, "addresses": {wallet: {
        "type": "Digital Currency Address - ETH", "entries": [
            {"entity": "A", "program": "CYBER2", "type": "Digital Currency Address - ETH", "uid": "1", "akas": []},
            {"entity": "B", "program": "CYBER2", "type": "Digital Currency Address - ETH", "uid": "2", "akas": []}]}}}
    day2 = json.loads(json.dumps(day1))
    day2["metadata"]["sdnListDate"] = "01/02/2026"
    day2["addresses"][wallet]["entries"].pop()  # B is delisted, A still lists the wallet
    store = Store(tmp_path / "p.db")
    for i, d in enumerate((day1, day2)):
        f = tmp_path / f"d{i}.json"
        f.write_text(json.dumps(d))
        run_sources(store, ListsOfacConnector(), {"tg": {"url": str(f), "format": "thomasgregg_json",
                                                         "source": "tg"}}, monkeypatch, f"2026-01-0{i + 2}T00:00:00Z")
    rows = {json.loads(r["attrs"])["uid"]: r["valid_to"] for r in store.query(
        "SELECT attrs, valid_to FROM observations WHERE predicate = 'sanctioned'")}
    assert rows == {"1": None, "2": "2026-01-02"}


def test_corrected_file_with_same_date_replaces_the_snapshot(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from connectors.lists.ofac import ListsOfacConnector

    def doc(uids: list[str]) -> str:
        return json.dumps({"metadata": {"sdnListDate": "01/01/2026"}, "addresses": {
            f"0x{int(u):040x}": {"type": "Digital Currency Address - ETH", "entries": [
                {"entity": f"P{u}", "program": "CYBER2", "uid": u, "akas": []}]} for u in uids}})

    store = Store(tmp_path / "c.db")
    for i, uids in enumerate((["1", "2"], ["1"])):  # the republished file drops party 2, same list date
        f = tmp_path / f"f{i}.json"
        f.write_text(doc(uids))
        run_sources(store, ListsOfacConnector(), {"tg": {"url": str(f), "format": "thomasgregg_json",
                                                         "source": "tg"}}, monkeypatch, f"2026-01-0{i + 2}T00:00:00Z")
    members = {r["key"] for r in store.query("SELECT key FROM list_members WHERE kind = 'entity'")}
    assert members == {"entity:ofac-sdn:1"}
    gone = store.query("SELECT valid_to FROM observations WHERE subject = 'entity:ofac-sdn:2' AND predicate = 'listed'")
    assert gone[0]["valid_to"] == "2026-01-01"
