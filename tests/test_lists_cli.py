"""``tracer lists`` and ``tracer screen`` on a store synced from the lists demo part (loopback)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from connectors.base import OBSERVATIONS, Page, Record
from tracer import config as cfgmod
from tracer import registry
from tracer.cli import main
from tracer.demo import serve_parts
from tracer.pipeline import sync
from tracer.store import Store
from tracer.world import fixtures_dir
from tracer.world.lists import CSL_PLANTED, SDN_PLANTED, demo_part
from tracer.world.ofac import listed_wallets

NAMES = ["lists_ofac", "lists_csl", "lists_un", "lists_opensanctions", "lists_tags"]


async def _sync_demo(db: Path) -> None:
    part = demo_part()
    runner, base = await serve_parts([part])
    try:
        cc = part.config(f"{base}/{part.name}")
        cfg: dict[str, Any] = {"db": str(db), "connectors": cc}
        plan = []
        for n in NAMES:
            conn = registry.get(n)
            plan.append((conn, conn.streams(cfgmod.connector_config(cfg, n, conn.default_config()))))
        store = Store(db)
        res = await sync(store, cfg, plan=plan)
        assert res.status == "ok", res.errors
        store.close()
    finally:
        await runner.cleanup()


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lists") / "t.db"
    mp = pytest.MonkeyPatch()
    mp.setenv("TRACER_NOW", "2026-02-01T00:00:00Z")
    try:
        asyncio.run(_sync_demo(path))
    finally:
        mp.undo()
    return path


def _run(db: Path, *args: str) -> Any:
    return CliRunner().invoke(main, ["--db", str(db), "-q", *args])


def test_lists_shows_each_source_with_snapshot_and_counts(db: Path) -> None:
    r = _run(db, "lists", "--json")
    assert r.exit_code == 0, r.output
    rows = {x["source"]: x for x in json.loads(r.output)}
    assert {"ofac-sdn-csv", "csl", "bis-dpl", "un-consolidated", "opensanctions", "graphsense"} <= set(rows)
    assert rows["ofac-sdn-csv"]["addresses"] >= len(SDN_PLANTED)
    assert rows["csl"]["entities"] >= len(CSL_PLANTED)
    if fixtures_dir():
        assert rows["un-consolidated"]["snapshot"] == "2026-02-27" and rows["un-consolidated"]["entities"] == 1003
        assert rows["opensanctions-delta"]["snapshots"] == 5
    aged = CliRunner().invoke(main, ["--db", str(db), "lists", "--json"], env={"TRACER_NOW": "2026-03-01T00:00:00Z"})
    ages = {x["source"]: x["age_days"] for x in json.loads(aged.stdout)}
    assert ages["ofac-sdn-csv"] == 28  # loaded (its snapshot: the load time) on 2026-02-01
    if fixtures_dir():
        assert ages["un-consolidated"] == 2 and ages["bis-dpl"] > 2400  # the recorded files' own dates
    csv_out = _run(db, "lists", "--csv")
    assert csv_out.exit_code == 0 and csv_out.output.splitlines()[0].startswith("source,kind,snapshot,loaded_at")


def test_lists_diff(db: Path) -> None:
    if not fixtures_dir():
        pytest.skip("the delta feed comes from the fixtures")
    r = _run(db, "lists", "--diff", "opensanctions-delta", "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert [x["key"] for x in rows if x["change"] == "added"] == ["entity:opensanctions:Q4365364"]
    bad = _run(db, "lists", "--diff", "no-such-source")
    assert bad.exit_code == 2 and "no snapshots" in bad.output


def test_screen_wallet_exact_with_evidence(db: Path) -> None:
    wallet = listed_wallets()[0]
    checksum = "0x" + wallet[2:].upper()  # all upper-case hex is a valid spelling: same wallet
    r = _run(db, "screen", checksum, "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    sdn = [x for x in rows if x["kind"] == "sanctioned" and x["source"] == "ofac-sdn-csv"]
    assert sdn and sdn[0]["label"] == SDN_PLANTED[0][1] and sdn[0]["uid"] == SDN_PLANTED[0][0]
    assert sdn[0]["list"] == "OFAC SDN" and sdn[0]["programme"] == [SDN_PLANTED[0][2]] and sdn[0]["raw_sha256"]
    assert any(x["kind"] == "tag" for x in rows)  # the demo TagPack tags it too
    assert any(x["source"] == "opensanctions" for x in rows)  # and the planted FtM CryptoWallet


def test_screen_name_fuzzy_and_no_match(db: Path) -> None:
    r = _run(db, "screen", "Volga GPU", "--json")
    assert r.exit_code == 0, r.output
    hit = json.loads(r.output)[0]
    assert hit["label"] == "Volga GPU Company" and hit["list"].startswith("Military End User") and hit["score"] >= 88
    miss = _run(db, "screen", "Thames Tensor")  # the planted decoy "Thames Tensile Holdings" must not match
    assert miss.exit_code == 1 and miss.stderr.startswith("no match (names at score 88 or more) in the loaded "
                                                          "sources, newest snapshots: ")
    assert "ofac-sdn-csv 20" in miss.stderr and len(miss.stderr.splitlines()) == 1  # each source, dated
    clean = _run(db, "screen", "0x" + "12" * 20)  # a wallet no list holds: no name threshold to speak of
    assert clean.exit_code == 1 and clean.stderr.startswith("no match in the loaded sources, newest snapshots: ")
    table = _run(db, "screen", "Kowloon Compute Ltd", "--table")
    assert table.exit_code == 0 and "Kowloon" in table.output
    csv_out = _run(db, "screen", "Kowloon Compute Ltd", "--csv")
    assert "Kowloon Computing Limited" in csv_out.output and "entity:csl:demo0002" in csv_out.output


def test_screen_usage_errors(db: Path) -> None:
    assert _run(db, "screen").exit_code == 2
    bad = _run(db, "screen", "--as", "address", "0x1234")
    assert bad.exit_code == 2 and "not a valid address" in bad.output
    # a lower-cased Tron address (as in the thomasgregg export) is refused with the reason, not screened
    low = _run(db, "screen", "tniq9axbp9ejuqhdhrwrfvaa8u3guqzh81")
    assert low.exit_code == 2 and "lower-cased" in low.output, low.output


def test_screen_all_stores_name_match(db: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "c.db"
    shutil.copy(db, copy)
    store = Store(copy)
    store.ensure_tables([OBSERVATIONS])
    rec = Record("observations", {"id": "obs:test:org", "subject": "provider:akash:akash1demo", "predicate": "organization",
                                  "value": "Shenzhen Render Farm", "confidence": 1.0, "source": "test"})
    run = store.start_run("test", "2026-02-01T00:00:00Z")
    store.write_page("test", Page(b"x", "test", "GET", None, None, fetched_at="2026-02-01T00:00:00Z"), [rec], run)
    store.close()
    r = _run(copy, "screen", "--all")
    assert r.exit_code == 0 and "stored 1 name_match" in r.output, r.output
    store = Store(copy)
    m = store.query("SELECT * FROM observations WHERE predicate = 'name_match'")
    assert len(m) == 1 and m[0]["subject"] == "provider:akash:akash1demo"
    attrs = json.loads(m[0]["attrs"])
    assert attrs["list_type"] == "Entity List" and attrs["score"] >= attrs["threshold"] == 88.0
    assert attrs["query"] == "Shenzhen Render Farm" and attrs["matched_field"] in ("name", "alias")
    assert m[0]["raw_sha256"]  # provenance: the derived page is stored


def test_screen_on_an_empty_store_says_what_to_do(tmp_path: Path) -> None:
    Store(tmp_path / "empty.db").close()  # read commands refuse a missing store (issue 17), not an empty one
    r = _run(tmp_path / "empty.db", "screen", "Volga GPU")
    assert r.exit_code == 1 and "no list is loaded yet" in r.output
    assert json.loads(_run(tmp_path / "empty.db", "lists", "--json").output) == []


def test_demo_screens_the_planted_provider_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole demo: the Akash providers whose organisations resemble planted Entity List / MEU
    names get name_match facts; the decoy does not (names in docs/lists.md)."""
    import csv

    from tracer.demo import run_demo

    monkeypatch.setenv("TRACER_NOW", "2026-02-01T00:00:00Z")
    summary = asyncio.run(run_demo(tmp_path / "demo"))
    assert summary["status"] == "ok", summary["errors"]
    rows = list(csv.DictReader(Path(summary["outputs"]["name_matches"]).read_text().splitlines()))
    by_query = {r["query"]: r for r in rows}
    wanted = {org for *_, org in CSL_PLANTED if org}
    assert wanted <= set(by_query), sorted(by_query)
    assert by_query["Volga GPU"]["list_type"] == "Military End User"
    assert not any("Thames" in r["label"] for r in rows)
