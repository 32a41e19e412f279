"""The akash connector against the generated world on loopback: complete, idempotent, resumable, every
node shape (modern / legacy / no escrow), location layers kept apart, planted patterns arrive."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from akash_support import attrs, config, counts, served, sync_akash

from connectors.akash.connector import lease_gpu_hours
from connectors.akash.lcd import LeasesStream, VersionBook
from connectors.akash.parse import USDC_IBC
from connectors.base import Page
from tracer.demo import serve_parts
from tracer.store import Store
from tracer.world import DemoPart
from tracer.world.akash import SECONDS_PER_BLOCK, SYBIL_UNITS, build_world, planted

W = build_world()
LEASE_KEYS = {(le.owner, str(le.dseq), le.gseq, le.oseq, le.provider) for le in W.leases}
DEP_KEYS = {(d.owner, str(d.dseq)) for d in W.deployments}


def _lease_keys(st: Store) -> set[tuple[Any, ...]]:
    return {(r["owner"], r["dseq"], r["gseq"], r["oseq"], r["provider"])
            for r in st.query("SELECT owner, dseq, gseq, oseq, provider FROM akash_leases")}


async def _sync(tmp: Path, node: str = "modern", **over: Any) -> tuple[Store, Any]:
    st = Store(tmp / "t.db")
    async with served() as base:
        res = await sync_akash(st, tmp, config(base, node, **over))
    return st, res


async def test_sync_is_complete(tmp_path: Path) -> None:
    st, res = await _sync(tmp_path)
    assert res.status == "ok", res.errors
    assert _lease_keys(st) == LEASE_KEYS and len(LEASE_KEYS) > 100
    assert {(r["owner"], r["dseq"]) for r in st.query("SELECT owner, dseq FROM akash_deployments")} == DEP_KEYS
    assert {r["owner"] for r in st.query("SELECT owner FROM akash_providers")} == {p.owner for p in W.providers}
    assert st.count("akash_orders") == st.count("akash_bids") == len(W.leases)
    rented = st.query("SELECT src, dst FROM edges WHERE kind = 'rented'")
    assert {(r["src"], r["dst"]) for r in rented} == {
        (f"wallet:akash:{le.owner}", f"lease:akash:{le.owner}/{le.dseq}/{le.gseq}/{le.oseq}/{le.provider}")
        for le in W.leases}
    assert st.count("akash_escrow_payments") == len(W.leases)
    # several pages per LCD list stream (page size 20)
    pages = st.query("SELECT stream, count(*) n FROM raw_payloads WHERE url LIKE '%pagination.key%' GROUP BY stream")
    assert {r["stream"] for r in pages} >= {"akash.leases", "akash.deployments", "akash.bids"}
    versions = {r["module"]: r["version"] for r in st.query("SELECT module, version FROM akash_api_versions")}
    assert versions == {"market": "v1beta5", "deployment": "v1beta4", "escrow": "v1", "provider": "v1beta4",
                        "audit": "v1"}
    assert "rejected_inputs" not in st.table_names() or st.count("rejected_inputs") == 0


async def test_second_sync_adds_no_rows(tmp_path: Path) -> None:
    st, res = await _sync(tmp_path)
    first = counts(st)
    async with served() as base:
        res2 = await sync_akash(st, tmp_path, config(base))
    assert res.status == res2.status == "ok"
    assert counts(st) == first
    assert first["edges"] > 400 and first["observations"] > 250


async def test_resumes_from_saved_next_key(tmp_path: Path) -> None:
    st = Store(tmp_path / "t.db")
    streams = ["versions", "deployments", "leases"]
    async with served() as base:
        r1 = await sync_akash(st, tmp_path, config(base, max_pages=1, streams=streams))
        assert r1.status == "ok"
        state = st.get_state("akash.leases")
        assert state["complete"] is False and state["next_key"]
        assert st.count("akash_leases") == 20
        r2 = await sync_akash(st, tmp_path, config(base, streams=streams))
    assert r2.status == "ok"
    urls = [r["url"] for r in st.query("SELECT url FROM raw_payloads WHERE stream = 'akash.leases' AND run_id = ? "
                                       "ORDER BY rowid", [r2.run_id])]
    assert urls and all("pagination.key" in u for u in urls)  # run 2 never went back to page 1
    assert _lease_keys(st) == LEASE_KEYS
    assert st.get_state("akash.leases")["complete"] is True


async def test_legacy_node_old_shapes(tmp_path: Path) -> None:
    st, res = await _sync(tmp_path, "legacy")
    assert res.status == "ok", res.errors
    versions = {r["module"]: r["version"] for r in st.query("SELECT module, version FROM akash_api_versions")}
    assert versions == {"market": "v1beta4", "deployment": "v1beta3", "escrow": "v1beta3", "provider": "v1beta3",
                        "audit": "v1beta3"}
    assert _lease_keys(st) == LEASE_KEYS
    assert {r["shape"] for r in st.query("SELECT DISTINCT shape FROM akash_leases")} == {"v1beta4"}
    assert {r["shape"] for r in st.query("SELECT DISTINCT shape FROM akash_escrow_payments")} == {"v1beta3"}
    third = st.query("SELECT src, dst FROM edges WHERE kind = 'paid' AND json_extract(attrs, '$.third_party') = 1")
    p = planted()
    assert (f"wallet:akash:{p['escrow_payer']}", next(
        f"deployment:akash:{d.owner}/{d.dseq}" for d in W.deployments if d.owner == p["escrow_paid_tenants"][0]
        and len(d.deposits) > 1)) in {(r["src"], r["dst"]) for r in third}
    assert st.get_state("akash.funding")["mode"] == "events"  # SDK < 0.50 tx search
    funding = st.query("SELECT count(*) n FROM edges WHERE kind = 'paid' AND id LIKE 'edge:akash:transfer:%'")
    assert funding[0]["n"] == sum(len(t.outputs) for t in W.transfers)


async def test_node_without_escrow_is_reported_not_fatal(tmp_path: Path) -> None:
    st, res = await _sync(tmp_path, "noescrow")
    assert res.status == "ok", res.errors
    note = st.get_state("akash.escrow_accounts")["note"]
    assert "serves no escrow module version" in note and "v1: HTTP 501" in note and "v1beta3: HTTP 501" in note
    row = st.query("SELECT version, tried FROM akash_api_versions WHERE module = 'escrow'")[0]
    assert row["version"] is None and {t["status"] for t in json.loads(row["tried"])} == {501}
    assert _lease_keys(st) == LEASE_KEYS
    # deposits still arrive through the deployments' embedded escrow accounts
    assert st.query("SELECT count(*) n FROM edges WHERE kind = 'paid' AND dst LIKE 'deployment:%'")[0]["n"] >= len(
        W.deployments)


async def test_location_layers_stay_separate(tmp_path: Path) -> None:
    st, _ = await _sync(tmp_path)
    by = {p.seed: p.owner for p in W.providers}

    def layers(seed: str) -> dict[str, Any]:
        rows = st.query("SELECT value, attrs FROM observations WHERE subject = ? AND predicate = 'location'",
                        [f"provider:akash:{by[seed]}"])
        return {attrs(r)["layer"]: (r["value"], attrs(r).get("auditor"), attrs(r).get("unresolved")) for r in rows}

    assert layers("cn-shadow") == {"declared": ("US", None, None), "ip": ("CN", None, None)}
    assert layers("nl-ru") == {"declared": ("NL", None, None), "ip": ("RU", None, None),
                               "audited": ("RU", "akash1365yvmc4s7awdyj3n2sav7xfx76adc6dnmlx63", None)}
    assert layers("ru-1")["declared"][0] == "DE" and layers("ru-1")["ip"][0] == "RU"
    assert layers("by-1") == {"declared": (None, None, "Belarus"), "ip": ("BY", None, None)}
    assert layers("mo-1") == {"ip": ("MO", None, None)}
    ip = st.query("SELECT attrs FROM observations WHERE subject = ? AND predicate = 'location' "
                  "AND json_extract(attrs, '$.layer') = 'ip'", [f"provider:akash:{by['hk-1']}"])
    assert attrs(ip[0])["lat"] == "22.32" and attrs(ip[0])["region"] == "Kowloon"


async def test_planted_funding_and_sybils(tmp_path: Path) -> None:
    st, _ = await _sync(tmp_path)
    p = planted()
    into_listed = st.query("SELECT src, asset, amount, decimals, tx, attrs FROM edges WHERE kind = 'paid' AND dst = ?",
                           [f"wallet:akash:{p['listed_renter']}"])
    srcs = {r["src"]: r for r in into_listed}
    ibc = srcs[f"wallet:osmosis:{p['listed_funder_osmosis']}"]
    assert attrs(ibc)["via"] == "ibc" and attrs(ibc)["trace"] == "transfer/channel-9/uusdc"
    assert ibc["asset"].startswith("ibc/") and (ibc["amount"], ibc["decimals"]) == (str(250_000_000 * 10**18), 24)
    # the OFAC-listed EVM wallet itself, through Injective: inj1... is the same EVM key
    from tracer.world.ofac import listed_wallets

    assert p["listed_funder_evm"] in listed_wallets()
    inj = srcs[f"wallet:evm:{p['listed_funder_evm']}"]
    assert attrs(inj)["sender"] == p["listed_funder_injective"] and attrs(inj)["channel"] == "channel-35"
    assert (inj["amount"], inj["decimals"]) == (str(500_000_000 * 10**18), 24)  # Peggy USDT: 6 + 18
    bank = srcs[f"wallet:akash:{p['listed_funder']}"]
    assert (bank["asset"], bank["amount"], bank["decimals"]) == (USDC_IBC, str(1_000_000_000 * 10**18), 24)
    # the listed funder also tops up the listed renter's escrow (third-party deposit)
    dep = st.query("SELECT attrs FROM edges WHERE kind = 'paid' AND src = ? AND dst LIKE 'deployment:akash:%'",
                   [f"wallet:akash:{p['listed_funder']}"])
    assert dep and attrs(dep[0])["third_party"] is True
    for s in p["sybil_tenants"]:
        fund = st.query("SELECT src, attrs FROM edges WHERE kind = 'paid' AND dst = ?", [f"wallet:akash:{s}"])
        assert [(r["src"], attrs(r)["via"]) for r in fund] == [(f"wallet:akash:{p['sybil_funder']}", "bank-multisend")]
        gpu = st.query("SELECT e.dst, e.attrs FROM edges e JOIN edges r ON r.dst = e.src AND r.kind = 'rented' "
                       "WHERE e.kind = 'uses_gpu' AND r.src = ?", [f"wallet:akash:{s}"])
        assert [(g["dst"], attrs(g)["units"]) for g in gpu] == [("gpu:h100-sxm", SYBIL_UNITS)]
    authz = st.query("SELECT attrs FROM edges WHERE kind = 'paid' AND src = ? AND asset = ?",
                     [f"wallet:akash:{p['sybil_funder']}", USDC_IBC])
    assert len(authz) == 1  # the MsgExec-wrapped send


async def test_gpu_hours_from_heights_and_measured_block_time(tmp_path: Path) -> None:
    st, _ = await _sync(tmp_path, streams=["deployments", "leases"])
    closed = [le for le in W.leases if le.closed and any(
        g.gseq == le.gseq and g.gpu_units for d in W.deployments if d.dseq == le.dseq for g in d.groups)]
    assert closed
    for le in closed[:10]:
        d = next(d for d in W.deployments if d.dseq == le.dseq and d.owner == le.owner)
        g = d.groups[le.gseq - 1]
        units = g.gpu_units * g.count
        want = lease_gpu_hours(le.created, le.closed or 0, units, SECONDS_PER_BLOCK)
        assert want == (le.closed - le.created) * 6 * units / 3600
        row = st.query("SELECT value, attrs FROM observations WHERE predicate = 'gpu_hours' AND subject = ?",
                       [f"lease:akash:{le.owner}/{le.dseq}/{le.gseq}/{le.oseq}/{le.provider}"])
        assert row[0]["value"] == f"{want:.6f}" and attrs(row[0])["seconds_per_block"] == 6.0


def test_lease_gpu_hours_pure() -> None:
    assert lease_gpu_hours(100, 700, 8, 6.0) == 8.0
    assert lease_gpu_hours(100, 100, 8, 6.0) == 0.0
    with pytest.raises(ValueError):
        lease_gpu_hours(700, 100, 1, 6.0)
    with pytest.raises(ValueError):
        lease_gpu_hours(1, 2, 1, 0)


async def test_repeated_pagination_key_fails_the_stream(tmp_path: Path) -> None:
    async def looping(request: web.Request) -> web.Response:
        return web.json_response({"leases": [], "pagination": {"next_key": "c2FtZS1rZXk=", "total": "0"}})

    async def missing(request: web.Request) -> web.Response:
        return web.json_response({"code": 5, "message": "Not Found"}, status=404)

    part = DemoPart("loop", [web.get("/akash/market/v1beta5/leases/list", looping),
                             web.get("/{tail:.*}", missing)], lambda b: {})
    runner, base = await serve_parts([part])
    try:
        st = Store(tmp_path / "t.db")
        res = await sync_akash(st, tmp_path, {"lcd_url": f"{base}/loop", "console_url": f"{base}/loop",
                                              "streams": ["leases"], "limits": {"rate": 0, "max_retries": 0}})
    finally:
        await runner.cleanup()
    assert res.status == "failed"
    assert "seen twice" in res.errors[0] and "akash.leases" in res.errors[0]


def test_bad_bech32_is_rejected_not_stored() -> None:
    bad = "akash102kdwsssl6jf4frdcz50mua6j0h6d8wdhjh7nr"  # last checksum character changed
    item = {"lease": {"id": {"owner": bad, "dseq": "1", "gseq": 1, "oseq": 1, "provider": bad, "bseq": 0},
                      "state": "active", "price": {"denom": "uakt", "amount": "1.0"}, "created_at": "5"}}
    page = Page(body=b"{}", url="x", method="GET", data={"items": [item]}, state=None, meta={}, fetched_at="t")
    recs = list(LeasesStream({"lcd_url": "http://127.0.0.1:1"}, VersionBook()).transform(page))
    assert [r.table for r in recs] == ["rejected_inputs"]
    assert "not a valid akash address" in recs[0].row["reason"]


def test_demo_lists_akash() -> None:
    from tracer.demo import DEMO_PARTS

    assert "tracer.world.akash:demo_part" in DEMO_PARTS


async def test_start_height_and_configured_block_time(tmp_path: Path) -> None:
    cut = sorted(le.created for le in W.leases)[len(W.leases) // 2]
    st, res = await _sync(tmp_path, streams=["deployments", "leases"], start_heights={"leases": cut},
                          block_time_sample=0, seconds_per_block=5.0)
    assert res.status == "ok"
    assert _lease_keys(st) == {(le.owner, str(le.dseq), le.gseq, le.oseq, le.provider)
                               for le in W.leases if le.created >= cut}
    spb = {attrs(r)["seconds_per_block"] for r in st.query("SELECT attrs FROM observations WHERE predicate = 'gpu_hours'")}
    assert spb == {5.0}  # no sample block asked for: the configured average is used


def test_wallet_keeps_both_roles() -> None:
    from connectors.akash.parse import wallet_records

    a = W.providers[0].owner
    ids = {r.row["id"] for r in [*wallet_records(a, "t", "renter"), *wallet_records(a, "t", "provider")]
           if r.table == "observations"}
    assert len(ids) == 2


async def test_interrupted_funding_and_console_resume(tmp_path: Path) -> None:
    """A fatal answer mid-stream (403 after a few pages) leaves a state that the next run resumes from."""
    from tracer.world.akash import demo_part
    from tracer.world.akash_shapes import routes

    budget = {"console": 2, "tx": 5}

    def wrap(handler: Any) -> Any:
        async def h(request: web.Request) -> web.StreamResponse:
            kind = "tx" if "cosmos/tx" in request.path else "console" if "/console/v1/providers/" in request.path \
                else None
            if kind and budget[kind] <= 0:
                return web.json_response({"code": 7, "message": "forbidden"}, status=403)
            if kind:
                budget[kind] -= 1
            return await handler(request)
        return h

    part = DemoPart("akash", [web.get(r.path, wrap(r.handler)) for r in routes(W)], demo_part().config)
    runner, base = await serve_parts([part])
    st = Store(tmp_path / "t.db")
    try:
        conf = config(f"{base}/akash", console_page_size=3)
        r1 = await sync_akash(st, tmp_path, conf)
        failed = {s.stream for s in r1.streams if s.status == "failed"}
        assert failed == {"akash.console_deployments", "akash.funding"}
        cd = st.get_state("akash.console_deployments")
        assert cd["complete"] is False and cd["skip"] > 0  # 2 pages of 3 stored
        fs = st.get_state("akash.funding")
        assert fs["complete"] is False and fs["mode"] == "query" and len(fs["done"]) == 5
        budget.update(console=10**9, tx=10**9)
        r2 = await sync_akash(st, tmp_path, conf)
    finally:
        await runner.cleanup()
    assert r2.status == "ok", r2.errors
    urls = [r["url"] for r in st.query("SELECT url FROM raw_payloads WHERE stream = 'akash.console_deployments' "
                                       "AND run_id = ? ORDER BY rowid", [r2.run_id])]
    assert urls[0].endswith(f"/{cd['current']}/deployments/{cd['skip']}/3")  # resumed mid-provider
    assert not any(f"/{p}/" in u for p in cd["done"] for u in urls)
    asked = [r["url"] for r in st.query("SELECT url FROM raw_payloads WHERE stream = 'akash.funding' AND run_id = ?",
                                        [r2.run_id])]
    assert not any(t in u for t in fs["done"] for u in asked)  # finished tenants are not asked again
    funding = st.query("SELECT count(*) n FROM edges WHERE kind = 'paid' AND id LIKE 'edge:akash:transfer:%'")
    assert funding[0]["n"] == sum(len(t.outputs) for t in W.transfers)
    rented = st.query("SELECT count(*) n FROM edges WHERE kind = 'rented'")[0]["n"]
    assert rented == len(W.leases)


async def test_wildcard_orders_take_the_model_from_the_winning_bid(tmp_path: Path) -> None:
    from connectors.gpu_names import gpu_id

    wild = {(le.owner, le.dseq, le.gseq): le for le in W.leases for d in W.deployments
            if d.owner == le.owner and d.dseq == le.dseq and d.groups[le.gseq - 1].wildcard}
    assert len(wild) >= 5
    st, res = await _sync(tmp_path, streams=["deployments", "bids", "leases"])
    assert res.status == "ok"
    for (owner, dseq, gseq), le in wild.items():
        m, ram, iface = next(d for d in W.deployments if d.owner == owner and d.dseq == dseq).groups[gseq - 1].gpu_model
        want = gpu_id("akash", f"vendor/nvidia/model/{m}/ram/{ram}/interface/{iface}")
        lid = f"lease:akash:{owner}/{dseq}/{gseq}/{le.oseq}/{le.provider}"
        got = st.query("SELECT dst, attrs FROM edges WHERE kind = 'uses_gpu' AND src = ?", [lid])
        assert [(g["dst"], attrs(g)["model_raw"]) for g in got] == [(f"gpu:{want}", [m])]
    orders = st.query("SELECT count(*) n FROM akash_groups WHERE gpu_keys LIKE '%model/*%'")[0]["n"]
    assert orders == len(wild)  # the group itself still says "*": the model is the provider's offer
    (tmp_path / "nobids").mkdir()
    st2, _ = await _sync(tmp_path / "nobids", streams=["deployments", "leases"])
    unknown = st2.query("SELECT count(*) n FROM edges WHERE kind = 'uses_gpu' AND dst = 'gpu:unknown'")[0]["n"]
    assert unknown == len(wild)  # without bids the model stays unknown, never guessed


async def test_both_escrow_shapes_write_the_same_deposit_edges(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    new, _ = await _sync(tmp_path / "a", "modern", streams=["deployments"])
    old, _ = await _sync(tmp_path / "b", "legacy", streams=["deployments"])
    q = "SELECT id, src, dst, asset FROM edges WHERE kind = 'paid' ORDER BY id"
    assert new.query(q) == old.query(q) and len(new.query(q)) == sum(len(d.deposits) for d in W.deployments)
