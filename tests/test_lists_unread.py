"""One malformed entry of a snapshot list costs that entry only, and never delists anything (issue 17).

Each test loads a real recorded list file (../shared/fixtures), then the same file with one entry
corrupted the way a broken export or a damaged download does it (a field dropped, nulled or retyped,
invalid UTF-8), through the real pipeline into a real store.  Before the fix each of these either failed
the whole stream (KeyError, XMLSyntaxError, UnicodeDecodeError, TypeError...) or silently skipped the
entry, so the next snapshot "delisted" it.  Now: one ``rejected_inputs`` row (reason; context = the
entry's key when readable and the sha256 of its raw form; ``raw_sha256`` = the page), every other entry
stored, and the newer snapshot keeps the previous membership of what it could not read (docs/lists.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from lists_support import BAD, csv_lines, fixture, mutate_csv, run_sources

from connectors.lists.csl import ListsCslConnector
from connectors.lists.ofac import ListsOfacConnector
from connectors.lists.opensanctions import ListsOpensanctionsConnector
from connectors.lists.un import ListsUnConnector
from tracer.store import Store

DAY1, DAY2 = "2026-01-01", "2026-01-02"


def _two_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, conn: Any, cfg: dict[str, Any], clean: bytes,
               bad: bytes, side: dict[str, str] | None = None) -> Store:
    """Load ``clean`` as the DAY1 snapshot and ``bad`` as DAY2 (the same list with one entry broken)."""
    store = Store(tmp_path / "s.db")
    for day, body in ((DAY1, clean), (DAY2, bad)):
        f = tmp_path / f"{day}-{cfg['format']}"
        f.write_bytes(body)
        src = {"s": {**cfg, "url": str(f), "as_of": day, **({"side": side} if side else {})}}
        run_sources(store, conn, src, monkeypatch, f"{day}T05:00:00Z")  # asserts status ok: no failed stream
    return store


def _kept(store: Store, source: str, stream: str) -> dict[str, Any]:
    """Assert nothing left the list and one unread-entry rejection was recorded; returns that row."""
    members = {s: {(r["kind"], r["key"]) for r in store.query(
        "SELECT kind, key FROM list_members WHERE source = ? AND snapshot = ?", [source, s])} for s in (DAY1, DAY2)}
    assert members[DAY1] and members[DAY2] == members[DAY1]
    assert store.query("SELECT id FROM observations WHERE valid_to IS NOT NULL") == []  # nothing delisted
    snaps = {r["snapshot"]: r for r in store.query("SELECT * FROM list_snapshots WHERE source = ?", [source])}
    assert snaps[DAY2]["entities"] == snaps[DAY1]["entities"]
    assert snaps[DAY2]["addresses"] == snaps[DAY1]["addresses"]
    assert snaps[DAY2]["rejected"] == snaps[DAY1]["rejected"] + 1
    rows = store.query("SELECT * FROM rejected_inputs WHERE stream = ? AND context LIKE '%sha256:%'", [stream])
    assert len(rows) == 1, rows
    row = rows[0]
    assert row["reason"] and row["value"] and row["first_seen"] == f"{DAY2}T05:00:00Z"
    pages = {r["sha256"] for r in store.query("SELECT sha256 FROM raw_payloads WHERE stream = ?", [stream])}
    assert row["raw_sha256"] in pages  # the page it came from
    return row


def test_sdn_csv_row_with_a_field_dropped_is_kept_listed_with_its_wallets(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: ``read_ofac_csv`` skipped rows with fewer than 12 cells, so the party and its wallets left the
    newer snapshot and their ``listed``/``sanctioned`` facts got ``valid_to``."""
    main = fixture("ofac-sdn-csv", "sdn_2024-05-03.csv").read_bytes()
    comments = str(fixture("ofac-sdn-csv", "sdn_comments_2025-02-27.csv"))
    line = next(i for i, x in enumerate(csv_lines(main)) if b"Digital Currency Address - ETH" in x)
    ent = csv_lines(main)[line].split(b",", 1)[0].decode()
    store = _two_loads(tmp_path, monkeypatch, ListsOfacConnector(), {"format": "sdn_csv", "source": "sdn"},
                       main, mutate_csv(main, line, "drop", 2), side={"comments": comments})
    row = _kept(store, "sdn", "lists_ofac.s")
    assert row["context"].startswith(f"entity:ofac-sdn:{ent} sha256:") and "11 fields, not 12" in row["reason"]
    wallets = [r["src"] for r in store.query("SELECT src FROM edges WHERE kind = 'listed_as' AND dst = ?",
                                             [f"entity:ofac-sdn:{ent}"])]
    assert wallets  # a party with ETH wallets: they stay members of the newer snapshot (checked by _kept)
    # its facts were not re-stated by the load that could not read it: last_seen stays at the clean load
    seen = store.query("SELECT last_seen FROM observations WHERE subject = ?", [f"entity:ofac-sdn:{ent}"])
    assert [r["last_seen"] for r in seen] == [f"{DAY1}T05:00:00Z"]


@pytest.mark.parametrize("how", ["uid dropped", "entity retyped"])
def test_thomasgregg_entry_malformed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    """Before: ``e["uid"]`` raised KeyError and the whole stream failed ("not a thomasgregg_json file");
    a non-text entity name went through as a list."""
    body = fixture("ofac-thomasgregg", "sanctioned-addresses_sdn-03-21-2025.json").read_bytes()
    doc = json.loads(body)
    addr = next(a for a, v in doc["addresses"].items() if a.startswith("0x"))
    bad = json.loads(body)
    entry = bad["addresses"][addr]["entries"][0]
    if how == "uid dropped":
        del entry["uid"]
    else:
        entry["entity"] = [entry["entity"]]
    store = _two_loads(tmp_path, monkeypatch, ListsOfacConnector(), {"format": "thomasgregg_json", "source": "tg"},
                       body, json.dumps(bad).encode())
    row = _kept(store, "tg", "lists_ofac.s")
    if how == "uid dropped":  # no key: the snapshot is partial, every previous member kept
        assert row["context"].startswith("entry sha256:") and "nothing delisted" in row["reason"]
    else:
        assert row["context"].startswith(f"entity:ofac-sdn:{entry['uid']} sha256:")


def test_thomasgregg_real_delisting_still_delists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The carry-forward keeps what could not be read, not what really left: 03-20 -> 03-21 still ends the
    90 Tornado Cash wallets, also when another entry of the newer file is broken."""
    a = fixture("ofac-thomasgregg", "sanctioned-addresses_sdn-03-20-2025.json").read_bytes()
    b = json.loads(fixture("ofac-thomasgregg", "sanctioned-addresses_sdn-03-21-2025.json").read_bytes())
    addr = next(x for x in b["addresses"] if x.startswith("0x"))
    b["addresses"][addr]["entries"][0]["program"] = 7  # retyped, its uid still readable
    store = _two_loads(tmp_path, monkeypatch, ListsOfacConnector(), {"format": "thomasgregg_json", "source": "tg"},
                       a, json.dumps(b).encode())
    ended = store.query("SELECT DISTINCT subject FROM observations WHERE predicate = 'sanctioned' "
                        "AND valid_to IS NOT NULL")
    assert len(ended) == 90


def test_un_entry_with_invalid_utf8(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: lxml refused the whole document (``XMLSyntaxError: Invalid bytes in character encoding``)."""
    body = fixture("un-consolidated", "UN_consolidated.xml").read_bytes()
    at = body.index(b"<FIRST_NAME>", body.index(b"<INDIVIDUAL>") + 5000) + len(b"<FIRST_NAME>")
    dataid = body[body.rindex(b"<DATAID>", 0, at) + 8: body.index(b"</DATAID>", body.rindex(b"<DATAID>", 0, at))]
    store = _two_loads(tmp_path, monkeypatch, ListsUnConnector(), {"format": "un_xml", "source": "un"},
                       body, body[:at] + BAD + body[at:])
    row = _kept(store, "un", "lists_un.s")
    assert row["context"].startswith(f"entity:un:{dataid.decode()} sha256:") and "UTF-8" in row["reason"]
    assert store.query("SELECT entities FROM list_snapshots WHERE snapshot = ?", [DAY2])[0]["entities"] == 1003


def test_csl_row_with_its_name_nulled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: a row without a name was skipped (``continue``), so the newer snapshot delisted it."""
    body = fixture("trade-gov-csl", "csl_consolidated_2025_subset.csv").read_bytes()
    header = csv_lines(body)[0].decode().strip().split(",")
    store = _two_loads(tmp_path, monkeypatch, ListsCslConnector(), {"format": "csl_csv", "source": "csl"},
                       body, mutate_csv(body, 3, "null", header.index("name")))
    row = _kept(store, "csl", "lists_csl.s")
    assert row["context"].startswith("entity:csl:") and "without a name" in row["reason"]


def test_opensanctions_entity_line_cut(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: one line that is not JSON failed the load ("not a ftm_json file (JSONDecodeError)")."""
    path = fixture("opensanctions-ftm", "yente", "tests", "fixtures", "dataset", "t1", "entities.ftm.json")
    lines = path.read_bytes().splitlines(keepends=True)
    i = next(i for i, x in enumerate(lines) if b'"Person"' in x)
    bad = b"".join(lines[:i] + [lines[i][: len(lines[i]) // 2] + b"\n"] + lines[i + 1:])
    store = _two_loads(tmp_path, monkeypatch, ListsOpensanctionsConnector(),
                       {"format": "ftm_json", "source": "os"}, path.read_bytes(), bad)
    row = _kept(store, "os", "lists_opensanctions.s")
    assert "JSONDecodeError" in row["reason"]


def test_sdn_xml_entry_without_uid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: an sdnEntry whose uid was emptied was stored as ``entity:ofac-cons:`` (an empty uid) and the
    real party was delisted by the newer snapshot."""
    body = fixture("ofac-consolidated-2018", "consolidated.xml").read_bytes()
    at = body.index(b"<uid>", body.index(b"<sdnEntry>", 20_000))  # the entry's own uid (ids and akas have one too)
    end = body.index(b"</uid>", at)
    store = _two_loads(tmp_path, monkeypatch, ListsOfacConnector(), {"format": "cons_xml", "source": "cons"},
                       body, body[:at + 5] + body[end:])
    row = _kept(store, "cons", "lists_ofac.s")
    assert "numeric uid" in row["reason"]
    assert not store.query("SELECT id FROM entities WHERE id = 'entity:ofac-cons:'")


def test_advanced_xml_wallet_feature_without_its_type(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: a digital-currency Feature whose FeatureTypeID was dropped was read as no feature, so the
    wallet left the newer snapshot and its ``sanctioned`` fact got ``valid_to``."""
    from test_lists_advanced import XML

    body = Path(XML).read_bytes()
    dca_types = _dca_feature_types(body)
    at = next(body.index(f'FeatureTypeID="{t}"'.encode()) for t in dca_types if f'FeatureTypeID="{t}"'.encode() in body)
    fixed = body[body.rindex(b'FixedRef="', 0, at) + 10: body.index(b'"', body.rindex(b'FixedRef="', 0, at) + 10)]
    bad = body[:at] + body[body.index(b'"', at + len(b'FeatureTypeID="')) + 1:]
    store = _two_loads(tmp_path, monkeypatch, ListsOfacConnector(), {"format": "advanced_xml", "source": "adv"},
                       body, bad)
    row = _kept(store, "adv", "lists_ofac.s")
    assert row["context"].startswith(f"entity:ofac-sdn:{fixed.decode()} sha256:")
    assert "FeatureTypeID" in row["reason"]


def _dca_feature_types(body: bytes) -> list[str]:
    from lxml import etree

    root = etree.fromstring(body)
    return [e.get("ID") for e in root.iter() if isinstance(e.tag, str) and etree.QName(e).localname == "FeatureType"
            and (e.text or "").startswith("Digital Currency Address - ")]


def test_0xb10c_line_with_invalid_utf8(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: ``body.decode("utf-8")`` of the whole list raised in ``transform`` and the stream failed."""
    import asyncio

    from connectors.lists.ofac_addresses import OfacAddressesConnector
    from tracer.pipeline import sync

    src = fixture("ofac-0xb10c", "latest")
    folder = tmp_path / "lists"
    folder.mkdir()
    eth = (src / "sanctioned_addresses_ETH.txt").read_bytes()
    (folder / "sanctioned_addresses_XBT.txt").write_bytes((src / "sanctioned_addresses_XBT.txt").read_bytes())
    conn = OfacAddressesConnector()
    cfg = {**conn.default_config(), "base_url": str(folder), "assets": ["ETH", "XBT"]}
    store = Store(tmp_path / "a.db")
    lines = eth.splitlines(keepends=True)
    for day, body in ((DAY1, eth), (DAY2, b"".join(lines[:5] + [lines[5][:9] + BAD + lines[5][9:]] + lines[6:]))):
        (folder / "sanctioned_addresses_ETH.txt").write_bytes(body)
        monkeypatch.setenv("TRACER_NOW", f"{day}T05:00:00Z")
        res = asyncio.run(sync(store, {"db": store.path, "connectors": {conn.name: cfg}},
                               plan=[(conn, conn.streams(cfg))]))
        assert res.status == "ok", res.errors
    assert store.query("SELECT id FROM observations WHERE valid_to IS NOT NULL") == []  # the broken line: not delisted
    fresh = store.query("SELECT count(*) AS n FROM observations WHERE last_seen = ?", [f"{DAY2}T05:00:00Z"])[0]["n"]
    total = store.query("SELECT count(*) AS n FROM observations")[0]["n"]
    assert fresh == total - 1  # every other address re-read
    rows = store.query("SELECT * FROM rejected_inputs WHERE context LIKE 'ETH sha256:%'")
    assert len(rows) == 1 and "UTF-8" in rows[0]["reason"]


def test_tagpack_item_that_is_not_a_mapping_and_forta_row_with_invalid_utf8(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: ``{**header, **item}`` raised TypeError for a scalar item, and one invalid UTF-8 byte in a
    Forta CSV refused the whole file: the stream failed either way."""
    import asyncio

    from connectors.lists.tags import ListsTagsConnector
    from tracer.pipeline import sync

    pack = fixture("graphsense-tagpacks", "packs", "tornado_cash.yaml").read_bytes()
    forta = fixture("forta-labelled", "labels", "1", "phishing_scams.csv").read_bytes()
    (tmp_path / "packs").mkdir()
    (tmp_path / "labels").mkdir()

    def load(name: str, pack_body: bytes, forta_body: bytes) -> dict[str, dict[str, Any]]:
        (tmp_path / "packs" / "p.yaml").write_bytes(pack_body)
        (tmp_path / "labels" / "f.csv").write_bytes(forta_body)
        conn = ListsTagsConnector()
        cfg = {"sources": {
            "gs": {"format": "graphsense_tagpack", "base_url": str(tmp_path), "source": "gs", "files": ["packs/p.yaml"]},
            "fo": {"format": "forta_csv", "base_url": str(tmp_path), "source": "fo", "files": ["labels/f.csv"]}}}
        store = Store(tmp_path / f"{name}.db")
        monkeypatch.setenv("TRACER_NOW", "2026-03-01T00:00:00Z")
        res = asyncio.run(sync(store, {"connectors": {}}, plan=[(conn, conn.streams(cfg))]))
        assert res.status == "ok", res.errors
        out = {r["source"]: r for r in store.query("SELECT * FROM tag_sources")}
        out["unread"] = {r["stream"]: r for r in store.query(
            "SELECT * FROM rejected_inputs WHERE context LIKE '%sha256:%'")}
        store.close()
        return out

    bad_pack = pack.replace(b"\n- address:", b"\n- just a string\n- address:", 1)
    assert bad_pack != pack
    clean, bad = load("clean", pack, forta), load("bad", bad_pack, mutate_csv(forta, 7, "bad_utf8", 1))
    assert bad["gs"]["tags"] == clean["gs"]["tags"] and bad["fo"]["tags"] == clean["fo"]["tags"] - 1
    assert set(bad["unread"]) == {"lists_tags.gs", "lists_tags.fo"} and not clean["unread"]
    assert "not a mapping" in bad["unread"]["lists_tags.gs"]["reason"]
    assert "UTF-8" in bad["unread"]["lists_tags.fo"]["reason"]
