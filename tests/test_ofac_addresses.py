"""The OFAC address-list connector: URLs with keys, local folders, JSON lists, rejected inputs,
first-seen / last-seen and delisting across two loads."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import demo_assets, ofac_cfg
from faultserver import FaultServer

from connectors.lists.ofac_addresses import OfacAddressesConnector, list_url, parse_list
from tracer.pipeline import sync
from tracer.store import Store
from tracer.world import fixtures_dir
from tracer.world.ofac import demo_files, listed_wallets

S = "ofac_addresses.addresses"


def _sync(db: Path, cfg: dict[str, Any]) -> Any:
    store = Store(db)
    try:
        return asyncio.run(sync(store, cfg, ["ofac_addresses"]))
    finally:
        store.close()


def test_list_url_keeps_a_query_and_joins_paths() -> None:
    assert list_url("https://h/x/", "ETH") == "https://h/x/sanctioned_addresses_ETH.txt"
    assert list_url("https://h/x", "ETH", "json") == "https://h/x/sanctioned_addresses_ETH.json"
    assert list_url("https://h/x/?apikey=k", "XBT") == "https://h/x/sanctioned_addresses_XBT.txt?apikey=k"
    assert list_url("/data/lists", "ETH") == "/data/lists/sanctioned_addresses_ETH.txt"


def test_probes_one_per_configured_asset() -> None:
    c = OfacAddressesConnector()
    probes = c.probes({"base_url": "https://h/", "assets": ["eth", "XBT"]})
    assert [p.name for p in probes] == ["ETH list", "XBT list"]
    assert probes[1].url == "https://h/sanctioned_addresses_XBT.txt"


def test_txt_and_json_variants_parse_the_same() -> None:
    files = demo_files()
    for a in demo_assets():
        txt = parse_list(files[f"sanctioned_addresses_{a}.txt"], "txt")
        assert txt == parse_list(files[f"sanctioned_addresses_{a}.json"], "json")
    with pytest.raises(ValueError):
        parse_list(b'{"a": 1}', "json")


def test_json_and_txt_syncs_store_the_same_rows(tmp_path: Path, fault_server: FaultServer,
                                                pinned_now: str) -> None:
    from faultserver import snapshot

    snaps = []
    for fmt in ("txt", "json"):
        db = tmp_path / f"{fmt}.db"
        assert _sync(db, ofac_cfg(db, fault_server.base + "/lists/", fmt)).status == "ok"
        s = snapshot(db, ignore=["raw_sha256"])  # the bodies differ, the facts must not
        snaps.append({t: rows for t, rows in s.items() if t not in ("raw_payloads", "stream_state")})
    assert snaps[0] == snaps[1]
    assert listed_wallets()[0] in {r[0].split(":")[-1] for r in snaps[0]["entities"]}


@pytest.mark.skipif(fixtures_dir() is None, reason="needs ../shared/fixtures/ofac-0xb10c")
def test_sync_from_a_local_folder(tmp_path: Path, pinned_now: str) -> None:
    fx = fixtures_dir()
    assert fx is not None
    folder = fx / "ofac-0xb10c" / "history_2022-09-03"
    db = tmp_path / "t.db"
    cfg = {"db": str(db), "connectors": {"ofac_addresses": {"base_url": str(folder), "assets": ["ETH", "XBT"]}}}
    assert _sync(db, cfg).status == "ok"
    s = Store(db)
    n_eth = s.query("SELECT count(*) AS n FROM observations WHERE json_extract(attrs,'$.asset')='ETH'")[0]["n"]
    urls = {r["url"] for r in s.query("SELECT url FROM raw_payloads WHERE method='GET'")}
    s.close()
    lines = [x for x in (folder / "sanctioned_addresses_ETH.txt").read_text().splitlines() if x.strip()]
    assert n_eth == len(lines) == 68  # SOURCE.md: 68 ETH addresses on 2022-09-03
    assert str(folder / "sanctioned_addresses_ETH.txt") in urls


def test_bad_inputs_are_rejected_with_a_reason_not_matched(tmp_path: Path, pinned_now: str) -> None:
    good = "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"  # a valid base58check address (bitcoin wiki)
    srv = FaultServer(files={"sanctioned_addresses_XBT.txt": f"{good}\n{good.lower()}\n".encode()})
    srv.start()
    try:
        db = tmp_path / "t.db"
        cfg = ofac_cfg(db, srv.base + "/l/")
        cfg["connectors"]["ofac_addresses"]["assets"] = ["XBT"]
        assert _sync(db, cfg).status == "ok"
    finally:
        srv.stop()
    s = Store(db)
    ents = [r["address"] for r in s.query("SELECT address FROM entities")]
    rej = s.query("SELECT value, reason FROM rejected_inputs")
    s.close()
    assert ents == [good]
    assert [r["value"] for r in rej] == [good.lower()] and rej[0]["reason"]


def test_first_seen_last_seen_and_delisting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = demo_files()
    eth = [a for a in files["sanctioned_addresses_ETH.txt"].decode().splitlines() if a]
    dropped = eth[:3]
    srv = FaultServer(files=dict(files))
    srv.start()
    db = tmp_path / "t.db"
    cfg = ofac_cfg(db, srv.base + "/l/")
    try:
        monkeypatch.setenv("TRACER_NOW", "2026-01-01T00:00:00Z")
        assert _sync(db, cfg).status == "ok"
        srv.files["sanctioned_addresses_ETH.txt"] = ("\n".join(eth[3:]) + "\n").encode()
        monkeypatch.setenv("TRACER_NOW", "2026-02-01T00:00:00Z")
        assert _sync(db, cfg).status == "ok"
    finally:
        srv.stop()
    s = Store(db)
    obs = s.query("SELECT id, first_seen, last_seen, valid_to, attrs FROM observations")
    s.close()
    delisted = {json.loads(o["attrs"])["as_published"] for o in obs if o["valid_to"]}
    assert delisted == set(dropped)
    for o in obs:
        assert o["first_seen"] == "2026-01-01T00:00:00Z"
        if o["valid_to"]:
            assert o["valid_to"] == "2026-02-01T00:00:00Z" and o["last_seen"] == "2026-01-01T00:00:00Z"
        else:
            assert o["last_seen"] == "2026-02-01T00:00:00Z"
