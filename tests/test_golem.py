"""Golem stats providers replayed on loopback; GLM paid edges -> requestor -> provider payments."""

from __future__ import annotations

import json
from pathlib import Path

from aiohttp import web
from markets_support import attrs, data, routes_part, rows, run

from connectors.markets.golem import GLM_POLYGON, MULTI_TRANSFER, golem_payments, node_gpus, node_payees

FX = "golem_v2_network_online.json"


def _part() -> object:
    async def online(request: web.Request) -> web.Response:
        return web.Response(body=data(FX), content_type="application/json")
    return routes_part("golem", [web.get("/v2/network/online", online)],
                       lambda base: {"golem": {"base_url": base, "limits": {"rate": 0, "max_retries": 0}}})


async def test_providers_payees_and_gpus(tmp_path: Path) -> None:
    store, res = await run(_part(), tmp_path, ["golem"])  # type: ignore[arg-type]
    assert res.status == "ok", res.errors
    assert store.count("golem_nodes") == 2  # the node without node_id is skipped
    gpu = rows(store, "SELECT * FROM edges WHERE kind='offers_gpu'")
    assert len(gpu) == 1 and gpu[0]["dst"] == "gpu:rtx-4090"
    assert attrs(gpu[0]) == {"count": 1, "raw_name": "NVIDIA GeForce RTX 4090", "runtime": "vm-nvidia"}
    pay = {(e["src"], e["dst"]): attrs(e)["platforms"] for e in rows(store, "SELECT * FROM edges WHERE kind='payout_to'")}
    gpu_node = gpu[0]["src"]
    # Mixed-case (EIP-55) payee normalised to one lower-case wallet; platforms merged per wallet.
    assert pay[(gpu_node, "wallet:evm:0x5b38da6a701c568545dcfcb03fcb875f56beddc4")] == [
        "erc20-mainnet-glm", "erc20-polygon-glm", "stats:wallet"]
    assert pay[(gpu_node, "wallet:evm:0xab8483f64d9c6d1ecf9b849ae677dd3315835cb2")] == ["erc20-polygon-glm"]
    # "not-an-address" on zksync is not turned into a wallet.
    assert not rows(store, "SELECT * FROM entities WHERE id LIKE 'wallet:evm:not%'")
    assert len(pay) == 3
    roles = rows(store, "SELECT * FROM observations WHERE predicate='role' AND value='provider_payee'")
    assert len(roles) == 3


def test_node_helpers_on_multi_gpu_keys() -> None:
    node = {"node_id": "0x1", "runtimes": {"vm-nvidia": {"properties": {
        "golem.!exp.gap-35.v1.inf.gpu.d0.model": "NVIDIA H100 80GB HBM3",
        "golem.!exp.gap-35.v1.inf.gpu.d1.model": "NVIDIA H100 80GB HBM3",
        "golem.com.payment.platform.erc20-polygon-glm.address": "0xabc"}}}}
    assert node_gpus(node) == [{"runtime": "vm-nvidia", "raw_name": "NVIDIA H100 80GB HBM3", "gpu_id": "h100-sxm",
                                "count": 2}]
    assert node_payees(node) == {"0xabc": {"erc20-polygon-glm"}}


def test_golem_payments_from_glm_paid_edges() -> None:
    glm = f"token:polygon:{GLM_POLYGON}"
    payee, prov = "wallet:evm:" + "ab" * 20, "provider:golem:0x01"
    edges = [
        {"id": "e1", "kind": "paid", "src": "wallet:evm:" + "11" * 20, "dst": payee, "asset": glm,
         "amount": "1500000000000000000", "decimals": 18, "tx": "0xt1", "time": "t1", "attrs": {}},
        {"id": "e2", "kind": "paid", "src": "wallet:evm:" + "22" * 20, "dst": payee, "asset": glm.upper().replace("TOKEN:POLYGON:", "token:polygon:"),
         "amount": "7", "decimals": 18, "tx": "0xt2", "time": "t2", "attrs": json.dumps({"tx_to": MULTI_TRANSFER})},
        {"id": "e3", "kind": "paid", "src": f"wallet:evm:{MULTI_TRANSFER}", "dst": payee, "asset": glm,
         "amount": "9", "decimals": 18, "tx": "0xt3", "time": "t3", "attrs": None},
        {"id": "e4", "kind": "paid", "src": "wallet:evm:" + "33" * 20, "dst": payee, "asset": "token:polygon:0xusdc",
         "amount": "5", "decimals": 6, "tx": "0xt4", "time": "t4"},
        {"id": "e5", "kind": "paid", "src": "wallet:evm:" + "44" * 20, "dst": "wallet:evm:" + "cd" * 20, "asset": glm,
         "amount": "5", "decimals": 18, "tx": "0xt5", "time": "t5"},
        {"id": "e6", "kind": "payout_to", "src": prov, "dst": payee},
    ]
    out = golem_payments(edges, {payee: prov})
    assert [(p["edge"], p["requestor"], p["provider"], p["batched"]) for p in out] == [
        ("e1", "wallet:evm:" + "11" * 20, prov, False),
        ("e2", "wallet:evm:" + "22" * 20, prov, True),
        ("e3", None, prov, True),
    ]
    assert out[0]["amount"] == "1500000000000000000" and out[0]["decimals"] == 18


async def test_demo_glm_transfers_become_requestor_to_provider(tmp_path: Path) -> None:
    """The EVM demo part pays the Golem payees of the markets part in GLM on Polygon; synced together,
    golem_payments names the planted listed renter as a requestor of the RTX 4090 provider."""
    from tracer.demo import serve_parts
    from tracer.pipeline import sync
    from tracer.store import Store
    from tracer.world import evm_address
    from tracer.world.evm import demo_part as evm_part
    from tracer.world.markets import demo_part as markets_part

    parts = [evm_part(), markets_part(real_vast=False)]
    runner, base = await serve_parts(parts)
    try:
        conns: dict = {}
        for p in parts:
            conns.update(p.config(f"{base}/{p.name}"))
        cfg = {"db": str(tmp_path / "t.db"), "connectors": {n: conns[n] for n in ("evm", "golem")}}
        store = Store(tmp_path / "t.db")
        res = await sync(store, cfg, ["evm", "golem"])
        assert res.status == "ok", res.errors
    finally:
        await runner.cleanup()
    edges = rows(store, "SELECT * FROM edges WHERE kind='paid'")
    payees = {r["dst"]: r["src"] for r in rows(store, "SELECT * FROM edges WHERE kind='payout_to'")}
    pays = golem_payments(edges, payees)
    gpu4090 = rows(store, "SELECT src FROM edges WHERE dst='gpu:rtx-4090' AND src LIKE 'provider:golem:%'")[0]["src"]
    renter = f"wallet:evm:{evm_address('listed-renter-1')}"
    mine = [p for p in pays if p["requestor"] == renter]
    assert mine and {p["provider"] for p in mine} == {gpu4090}
    assert all(p["asset"] == f"token:polygon:{GLM_POLYGON}" and int(p["amount"]) > 0 for p in pays)
