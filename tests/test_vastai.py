"""Vast.ai offers: the real 2024-11-05 marketplace snapshot through a loopback replay server,
exact prices, country codes, entities/edges/observations, and supply changes between snapshots."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from aiohttp import web
from markets_support import attrs, real, routes_part, rows, run

from connectors.markets.vastai import country_of, parse_offers, supply_changes
from tracer.world.markets import planted_vast_offers, vast_body

FIXTURE = ("vastai-offers", "search_offers_raw_2024-11-05_full_marketplace.json")


def _part(body_of):  # type: ignore[no-untyped-def]
    seen: list[dict] = []

    async def bundles(request: web.Request) -> web.Response:
        seen.append(await request.json())
        return web.Response(body=body_of(), content_type="application/json")

    part = routes_part("vast", [web.post("/api/v0/bundles/", bundles)],
                       lambda base: {"vastai": {"base_url": f"{base}/api/v0", "limit": 3000,
                                                "limits": {"rate": 0, "max_retries": 0}}})
    return part, seen


@pytest.mark.parametrize("label,cc", [("Ontario, CA", "CA"), (", RU", "RU"), ("Belarus, BY", "BY"),
                                      ("Irkutsk Oblast, RU", "RU"), ("", None), (None, None),
                                      ("Somewhere", None), ("Texas, USA", None)])
def test_country_from_geolocation(label: str | None, cc: str | None) -> None:
    assert country_of(label) == cc


def test_prices_keep_their_exact_text() -> None:
    body = b'{"offers": [{"id": 1, "dph_total": 0.16805555555555554, "num_gpus": 2, "dph_base": 1}]}'
    o = parse_offers(body)[0]
    assert o["dph_total"] == "0.16805555555555554" and o["dph_base"] == 1 and o["num_gpus"] == 2


async def test_real_snapshot_loads_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = real(*FIXTURE).read_bytes()
    monkeypatch.setenv("TRACER_NOW", "2024-11-05T12:00:00Z")
    part, seen = _part(lambda: vast_body(real=True, planted=False))
    store, res = await run(part, tmp_path, ["vastai"])
    assert res.status == "ok", res.errors
    assert seen[0]["limit"] == 3000 and "verified" not in seen[0]  # verified and unverified offers
    assert store.count("vastai_offers") == 1396
    by_cc = rows(store, "SELECT country, COUNT(*) AS n FROM vastai_offers GROUP BY country")
    cc = {r["country"]: r["n"] for r in by_cc}
    assert cc["RU"] + cc["BY"] == 15 and cc["RU"] == 12 and cc["BY"] == 3
    assert cc["US"] == 338 and cc["CN"] == 62 and cc["HK"] == 17 and None not in cc
    snap = rows(store, "SELECT * FROM vastai_snapshots")[0]
    assert (snap["offers"], snap["machines"], snap["hosts"]) == (1396, 949, 368)
    assert store.count("entities") == 949 + 368
    # Exact money: every stored dph_total is the literal text of the raw file, summed as Decimal.
    texts = re.findall(rb'"dph_total": ([0-9.eE+-]+)', raw)
    assert len(texts) == 1396
    stored = [r["dph_total"] for r in rows(store, "SELECT dph_total FROM vastai_offers")]
    assert sorted(stored) == sorted(t.decode() for t in texts)
    assert sum(map(Decimal, stored)) == sum(Decimal(t.decode()) for t in texts)
    # Russian and Belarusian machines carry an IP-layer location observation attributed to Vast.
    obs = rows(store, "SELECT * FROM observations WHERE predicate='location' AND value IN ('RU','BY') "
                      "AND subject LIKE 'machine:%'")
    assert obs and all(attrs(o)["layer"] == "ip" and attrs(o)["derived_by"] == "vastai" for o in obs)
    ru_machines = rows(store, "SELECT COUNT(DISTINCT machine_id) AS n FROM vastai_offers WHERE country IN ('RU','BY')")
    assert len(obs) == ru_machines[0]["n"]
    # H100 supply: machine and host offers_gpu edges with counts (NVL files under h100-pcie).
    h100 = rows(store, "SELECT * FROM edges WHERE kind='offers_gpu' AND dst LIKE 'gpu:h100%' AND src LIKE 'machine:%'")
    assert h100 and all(attrs(e)["count"] >= 1 for e in h100)
    raw_h100 = {o["machine_id"] for o in parse_offers(raw) if str(o["gpu_name"]).startswith("H100")}
    assert {int(e["src"].split(":")[-1]) for e in h100} == raw_h100
    assert store.count("raw_payloads") >= 1


async def test_machine_count_is_largest_offer_and_host_sums(tmp_path: Path) -> None:
    part, _ = _part(lambda: vast_body(real=False, planted=True))
    store, res = await run(part, tmp_path, ["vastai"])
    assert res.status == "ok", res.errors
    m = rows(store, "SELECT * FROM edges WHERE id='edge:vastai:offers_gpu:machine:990101:h100-sxm'")[0]
    assert attrs(m)["count"] == 8
    h = rows(store, "SELECT * FROM edges WHERE src='provider:vastai:990001' AND kind='offers_gpu'")[0]
    assert h["dst"] == "gpu:h100-sxm" and attrs(h)["count"] == 8 and attrs(h)["machines"] == 1
    loc = rows(store, "SELECT value FROM observations WHERE subject='provider:vastai:990001'")
    assert [r["value"] for r in loc] == ["CN"]
    assert rows(store, "SELECT dph_total FROM vastai_offers WHERE offer_id=99010108")[0]["dph_total"] == "19.2"


async def test_snapshots_show_appearing_and_disappearing_supply(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    planted = planted_vast_offers()
    other = {**planted[0], "id": 5, "machine_id": 77, "host_id": 7, "geolocation": "Texas, US"}
    current = {"offers": [other]}

    def body() -> bytes:
        import json
        return json.dumps(current).encode()

    part, _ = _part(body)
    monkeypatch.setenv("TRACER_NOW", "2026-01-01T00:00:00Z")
    store, res = await run(part, tmp_path, ["vastai"])
    assert res.status == "ok" and store.count("vastai_supply_changes") == 0
    current["offers"] = planted  # machine 77 leaves, machine 990101 arrives
    monkeypatch.setenv("TRACER_NOW", "2026-01-02T00:00:00Z")
    store, res = await run(part, tmp_path, ["vastai"], store=store)
    assert res.status == "ok", res.errors
    ch = {(r["machine_id"], r["change"], r["prev_snapshot"]) for r in rows(store, "SELECT * FROM vastai_supply_changes")}
    assert ch == {(990101, "appeared", "2026-01-01T00:00:00Z"), (77, "disappeared", "2026-01-01T00:00:00Z")}
    assert [r["snapshot"] for r in rows(store, "SELECT snapshot FROM vastai_snapshots ORDER BY 1")] == [
        "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"]
    # The machine that left keeps its history: first and last seen on the first snapshot.
    gone = rows(store, "SELECT first_seen, last_seen FROM entities WHERE id='machine:vastai:77'")[0]
    assert gone == {"first_seen": "2026-01-01T00:00:00Z", "last_seen": "2026-01-01T00:00:00Z"}


def test_supply_changes_pure() -> None:
    d = supply_changes([{"machine_id": 1}, {"machine_id": 2}], [{"machine_id": 2}, {"machine_id": 3}])
    assert d == {"appeared": [3], "disappeared": [1], "kept": [2]}


def test_docs_print_no_public_ip() -> None:
    raw = real(*FIXTURE).read_bytes()
    ips = {o["public_ipaddr"] for o in parse_offers(raw) if o.get("public_ipaddr")}
    doc = (Path(__file__).resolve().parents[1] / "docs" / "markets.md")
    text = doc.read_text()
    assert ips and not [ip for ip in ips if ip in text]


async def test_local_cli_raw_file_as_source(tmp_path: Path) -> None:
    path = real(*FIXTURE)
    part, _ = _part(lambda: b"{}")
    store, res = await run(part, tmp_path, ["vastai"], {"vastai": {"base_url": str(path)}})
    assert res.status == "ok", res.errors
    assert store.count("vastai_offers") == 1396
