"""The Akash funding stream follows funders back hop by hop (``funding_hops``), breadth-first, bounded
by ``funding_max_tenants`` wallets and ``funding_max_pages`` pages per wallet, and resumes mid-walk."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp import web
from akash_support import FAST, sync_akash

from connectors.akash.connector import AkashConnector
from tracer.demo import serve_parts
from tracer.store import Store
from tracer.world import DemoPart
from tracer.world.akash import Transfer, World, akash_address, bech32_address, build_world, planted
from tracer.world.akash_shapes import routes

ORIGIN = akash_address("hops-origin")        # funds the funder: hop 4, never followed by default
FUNDER = akash_address("hops-listed-funder")  # listed-ish: the source an investigator wants to reach
MULE1 = akash_address("hops-mule-1")
MULE2 = akash_address("hops-mule-2")
TENANT = akash_address("hops-tenant")
OTHER = akash_address("hops-other-tenant")   # a second tenant, also funded by mule2 (found twice)
AUTHZ = akash_address("hops-authz-granter")  # pays mule2 through authz MsgExec
MULTI = akash_address("hops-multisend")      # pays mule2 in a MsgMultiSend
OSMO = bech32_address("osmo", "hops-osmo")   # an IBC sender into mule1: on another chain, not followed
HOT = akash_address("hops-hot-wallet")       # many small sends into the tenant (page cap)


def _send(sender: str, to: str, h: int, kind: str = "send", amount: str = "1000000",
          ibc: dict[str, Any] | None = None) -> Transfer:
    txh = hashlib.sha256(f"{sender}{to}{h}".encode()).hexdigest().upper()
    return Transfer(txh, h, kind, sender,
                    [(to, ("uakt" if kind != "ibc" else "uusdc", amount))], ibc or {})


def chain_world(hot_sends: int = 0) -> World:
    """origin -> funder -> mule1 -> mule2 -> tenant (bank sends), plus side funders of mule2/mule1."""
    ts = [_send(ORIGIN, FUNDER, 100), _send(FUNDER, MULE1, 200), _send(MULE1, MULE2, 300),
          _send(MULE2, TENANT, 400), _send(MULE2, OTHER, 410),
          _send(AUTHZ, MULE2, 310, "authz"),
          Transfer("AB" * 32, 320, "multisend", MULTI, [(MULE2, ("uakt", "5")), (OTHER, ("uakt", "6"))]),
          _send(OSMO, MULE1, 210, "ibc", "250000000",
                {"source_channel": "channel-1", "destination_channel": "channel-9", "base": "transfer/channel-9/uusdc"}),
          _send(ORIGIN, AUTHZ, 150), _send(ORIGIN, MULTI, 160)]
    ts += [_send(HOT, TENANT, 500 + i, amount=str(1000 + i)) for i in range(hot_sends)]
    return World([], [], [], ts, {})


@asynccontextmanager
async def serve(w: World, budget: dict[str, int] | None = None, log: list[str] | None = None,
                ) -> AsyncIterator[str]:
    """The world's LCD on loopback.  With a budget, tx searches beyond it answer 403 (a fatal stop);
    ``log`` gets the recipient of every answered tx-search page (raw_payloads keep one row per body)."""

    def wrap(handler: Any) -> Any:
        async def h(request: web.Request) -> web.StreamResponse:
            if budget is not None and "cosmos/tx" in request.path:
                if budget["tx"] <= 0:
                    return web.json_response({"code": 7, "message": "forbidden"}, status=403)
                budget["tx"] -= 1
            resp = await handler(request)
            if log is not None and "cosmos/tx" in request.path and resp.status == 200:
                q = request.query.get("query") or request.query.get("events") or ""
                log.append(q.split("'")[1])
            return resp
        return h

    part = DemoPart("akash", [web.get(r.path, wrap(r.handler)) for r in routes(w)], lambda b: {})
    runner, base = await serve_parts([part])
    try:
        yield f"{base}/akash"
    finally:
        await runner.cleanup()


def _conf(base: str, node: str = "modern", **over: Any) -> dict[str, Any]:
    return {"lcd_url": f"{base}/lcd/{node}", "console_url": f"{base}/console", "limits": FAST,
            "streams": ["funding"], "tenants": [TENANT, OTHER], "follow_store_tenants": False, **over}


def _paid(st: Store) -> set[tuple[str, str]]:
    return {(r["src"].split(":", 2)[2], r["dst"].split(":", 2)[2]) for r in st.query(
        "SELECT src, dst FROM edges WHERE kind = 'paid' AND id LIKE 'edge:akash:transfer:%'")}


def _content(st: Store) -> list[tuple[Any, ...]]:
    rows = st.query("SELECT id, kind, src, dst, asset, amount, decimals, time, block, tx, attrs FROM edges "
                    "ORDER BY id")
    ents = st.query("SELECT id FROM entities UNION ALL SELECT id FROM observations ORDER BY id")
    return [tuple(r.values()) for r in rows] + [tuple(r.values()) for r in ents]


async def test_default_follows_three_hops_back(tmp_path: Path) -> None:
    d = AkashConnector().default_config()
    assert d["funding_hops"] == 3 and d["funding_max_pages"] >= 1
    st, asked = Store(tmp_path / "t.db"), list[str]()
    async with serve(chain_world(), log=asked) as base:
        res = await sync_akash(st, tmp_path, _conf(base))
    assert res.status == "ok", res.errors
    paid = _paid(st)
    # hop 1 (into the tenants), hop 2 (into mule2, found through the tenant), hop 3 (into mule1)
    assert {(MULE2, TENANT), (MULE1, MULE2), (FUNDER, MULE1)} <= paid
    assert (ORIGIN, FUNDER) not in paid  # the funder is hop 4
    assert paid == {(MULE2, TENANT), (MULE2, OTHER), (MULTI, OTHER), (MULE1, MULE2), (AUTHZ, MULE2),
                    (MULTI, MULE2), (FUNDER, MULE1), (OSMO, MULE1), (ORIGIN, MULTI), (ORIGIN, AUTHZ)}
    # breadth-first, each wallet once (mule2 is found by both tenants, multi by OTHER and mule2),
    # senders in the order their txs arrive; the osmo IBC sender lives on another chain: not asked
    assert asked == [TENANT, OTHER, MULE2, MULTI, MULE1, AUTHZ, ORIGIN]
    fs = st.get_state("akash.funding")
    assert fs["complete"] is True and fs["followed"] == 7 and fs["capped"] == [] and fs["dropped"] == 0


async def test_one_hop_is_todays_behaviour(tmp_path: Path) -> None:
    st, asked = Store(tmp_path / "t.db"), list[str]()
    async with serve(chain_world(), log=asked) as base:
        res = await sync_akash(st, tmp_path, _conf(base, funding_hops=1, tenants=[TENANT]))
    assert res.status == "ok", res.errors
    assert _paid(st) == {(MULE2, TENANT)}
    assert asked == [TENANT]


async def test_two_hops(tmp_path: Path) -> None:
    st, asked = Store(tmp_path / "t.db"), list[str]()
    async with serve(chain_world(), log=asked) as base:
        res = await sync_akash(st, tmp_path, _conf(base, funding_hops=2, tenants=[TENANT]))
    assert res.status == "ok", res.errors
    assert _paid(st) == {(MULE2, TENANT), (MULE1, MULE2), (AUTHZ, MULE2), (MULTI, MULE2)}


async def test_max_tenants_bounds_every_followed_wallet(tmp_path: Path) -> None:
    st, asked = Store(tmp_path / "t.db"), list[str]()
    async with serve(chain_world(), log=asked) as base:
        res = await sync_akash(st, tmp_path, _conf(base, funding_max_tenants=3))
    assert res.status == "ok", res.errors
    assert set(asked) == {TENANT, OTHER, MULE2}  # breadth-first within the bound
    fs = st.get_state("akash.funding")
    assert fs["followed"] == 3 and fs["dropped"] >= 1


async def test_page_cap_stops_a_hot_wallet(tmp_path: Path) -> None:
    st, asked = Store(tmp_path / "t.db"), list[str]()
    async with serve(chain_world(hot_sends=9), log=asked) as base:  # the tenant: 10 incoming txs
        res = await sync_akash(st, tmp_path, _conf(base, tenants=[TENANT], funding_page_size=2,
                                                   funding_max_pages=3, funding_hops=2))
    assert res.status == "ok", res.errors
    into = st.query("SELECT count(*) n FROM edges WHERE kind = 'paid' AND dst = ?", [f"wallet:akash:{TENANT}"])
    assert into[0]["n"] == 6  # 3 pages of 2, then the cap
    assert asked.count(TENANT) == 3
    fs = st.get_state("akash.funding")
    assert fs["complete"] is True and fs["capped"] == [TENANT]
    # senders seen on the pages read are still followed
    assert MULE2 in asked and HOT in asked


async def _uninterrupted(tmp: Path, node: str, **over: Any) -> tuple[list[tuple[Any, ...]], dict[str, Any], int]:
    budget = {"tx": 10**9}
    st = Store(tmp / "full.db")
    async with serve(chain_world(hot_sends=3), budget) as base:
        res = await sync_akash(st, tmp, {**_conf(base, node, **over)})
    assert res.status == "ok", res.errors
    return _content(st), st.get_state("akash.funding"), 10**9 - budget["tx"]


async def test_killed_after_any_page_resumes_to_the_same_content(tmp_path: Path) -> None:
    over = {"funding_page_size": 1, "funding_max_pages": 3}
    for node in ("modern", "legacy"):
        want, want_state, calls = await _uninterrupted(tmp_path / node, node, **over)
        assert calls > 10
        for k in range(1, calls):
            tmp = tmp_path / f"{node}-{k}"
            tmp.mkdir(parents=True)
            budget = {"tx": k}
            st = Store(tmp / "t.db")
            async with serve(chain_world(hot_sends=3), budget) as base:
                conf = _conf(base, node, **over)
                r1 = await sync_akash(st, tmp, conf)
                assert r1.status != "ok"
                mid = st.get_state("akash.funding")
                if mid:  # a page was committed: the walk's queue is part of that state
                    assert mid["complete"] is False and "queue" in mid
                    assert len(json.dumps(mid)) < 4000
                budget["tx"] = 10**9
                r2 = await sync_akash(st, tmp, conf)
            assert r2.status == "ok", (node, k, r2.errors)
            assert _content(st) == want, (node, k)
            end = st.get_state("akash.funding")
            assert {**end, "node": None} == {**want_state, "node": None}, (node, k)
            st.close()


async def test_real_world_follows_funders_of_tenants(tmp_path: Path) -> None:
    """In the Akash world the exchange hot wallet and the planted funders are followed at hop 2."""
    p = planted()
    st, asked = Store(tmp_path / "t.db"), list[str]()
    async with serve(build_world(), log=asked) as base:
        res = await sync_akash(st, tmp_path, {"lcd_url": f"{base}/lcd/modern", "console_url": f"{base}/console",
                                              "limits": FAST})
    assert res.status == "ok", res.errors
    assert len(asked) == len(set(asked))
    assert {p["sybil_funder"], p["listed_funder"], akash_address("akash-exchange-hot-wallet")} <= set(asked)
    assert p["listed_funder_osmosis"] not in asked
