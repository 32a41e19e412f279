"""The EVM sync bench's own parts (bench/evm_*.py): what makes its comparisons trustworthy.

Why test a bench: its verdict ("tracer vs cryo") rests on every tool having returned the same
transfers (the digest), on the sparse chain being sparse, and on the proxy adding its latency and
refusing ranges the way providers do.  Small chains, loopback only, a few seconds.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
from aiohttp import web

from connectors.evm.rpc import range_error
from connectors.http import JsonRpcError

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))  # the bench scripts import each other by name


def _bench(name: str) -> ModuleType:
    """A bench/ script as a module, loaded by its path (scripts, not an installed distribution)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


evm_tools = _bench("evm_tools")
evm_node, evm_proxy, evm_sync = _bench("evm_node"), _bench("evm_proxy"), _bench("evm_sync")
TRANSFER_TOPIC, digest = evm_tools.TRANSFER_TOPIC, evm_tools.digest


def test_digest_is_order_free_and_exact_to_the_wei() -> None:
    a, b = ("0xAB" + "0" * 62, 3, 10**24 + 1), ("0x" + "cd" * 32, 0, 1)
    assert digest([a, b]) == digest([b, (a[0].lower(), 3, 10**24 + 1)])  # order and hex case do not matter
    assert digest([a, b])[0] == 2
    assert digest([a, b]) != digest([(a[0], 3, 10**24), b])  # one wei less: another digest
    assert digest([a, b]) != digest([(a[0], 4, a[2]), b])  # another log index: another digest


def test_the_sparse_chain_is_sparse_with_bursts_and_the_same_every_time() -> None:
    plan = evm_node.schedule(200_000, seed=7)
    assert plan == evm_node.schedule(200_000, seed=7)
    blocks = sum(gap + len(group) for gap, group in plan)
    transfers = sum(sum(group) for _, group in plan)
    assert 199_000 < blocks <= 200_000
    assert 20 <= blocks / transfers <= 50, blocks / transfers
    bursts = [g for _, g in plan if len(g) > 1]
    assert len(bursts) >= 20 and max(sum(g) for g in bursts) >= 20


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/"


async def _post(s: aiohttp.ClientSession, url: str, method: str, params: list[Any]) -> tuple[dict[str, Any], float]:
    t = time.perf_counter()
    async with s.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}) as r:
        return json.loads(await r.read()), time.perf_counter() - t


def test_proxy_adds_latency_refuses_long_ranges_like_geth_and_the_node_serves_filters() -> None:
    chain = evm_node.build(3000, seed=7)

    async def node(request: web.Request) -> web.Response:
        return web.json_response(chain.answer(json.loads(await request.read())))

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/", node)
        node_runner, node_url = await _serve(app)
        proxy = evm_proxy.Proxy(node_url, latency=0.05, max_range=500)
        proxy.session = aiohttp.ClientSession()
        papp = web.Application()
        papp.router.add_post("/", proxy.handle)
        proxy_runner, url = await _serve(papp)
        try:
            async with aiohttp.ClientSession() as s:
                f = {"fromBlock": hex(0), "toBlock": hex(499), "address": evm_node.TOKEN, "topics": [TRANSFER_TOPIC]}
                got, dt = await _post(s, url, "eth_getLogs", [f])
                direct, _ = await _post(s, node_url, "eth_getLogs", [f])
                assert dt >= 0.05 and got == direct and got["result"]
                assert all(lg["blockTimestamp"] and int(lg["blockNumber"], 16) <= 499 for lg in got["result"])
                refused, _ = await _post(s, url, "eth_getLogs", [{**f, "toBlock": hex(500)}])
                err = refused["error"]
                assert err["message"] == "exceed maximum block range: 500"
                assert range_error(JsonRpcError(err["code"], err["message"])) is not None  # tracer splits on it
                fid = (await _post(s, url, "eth_newFilter", [f]))[0]["result"]
                assert (await _post(s, url, "eth_getFilterLogs", [fid]))[0]["result"] == direct["result"]
                assert (await _post(s, url, "eth_uninstallFilter", [fid]))[0]["result"] is True
                assert proxy.counts["eth_getLogs"] == 2 and proxy.counts["refused"] == 1
        finally:
            await proxy_runner.cleanup()
            await proxy.session.close()
            await node_runner.cleanup()

    asyncio.run(main())


def test_tracer_extraction_and_the_raw_extractor_agree_on_the_sparse_node() -> None:
    """Both bench processes against bench/evm_node.py behind bench/evm_proxy.py: same transfers."""
    node = evm_sync.Server("evm_node.py", ["--blocks", "6000"], info=True)
    proxy = evm_sync.Server("evm_proxy.py", ["--upstream", node.url, "--latency", "0.01", "--max-range", "1000"])
    try:
        meta = node.info
        assert meta["head"] == 5999 and meta["transfers"] > 100
        cfg = evm_sync.tracer_config(Path("unused.db"), proxy.url, meta, {"max_window": 1000})
        n1, d1, _ = evm_sync._child(evm_sync.PY, "extract", {"config": cfg}, timeout=120)
        n2, d2, _ = evm_sync._child(evm_sync.PY, "raw", {"url": proxy.url, "token": meta["token"], "start": 0,
                                                          "end": meta["head"], "window": 1000, "concurrency": 4},
                                    timeout=120)
        assert (n1, d1) == (n2, d2) and n1 == meta["transfers"]
        assert proxy.stats().get("refused", 0) == 0  # tracer kept to the range limit it was given
    finally:
        proxy.stop()
        node.stop()


def test_the_no_latency_run_goes_straight_to_the_node_and_agrees() -> None:
    """The sparse chain's ``tracer sync, no latency`` row: the same transfers as through the proxy,
    none of its requests seen by the proxy, and the row left out when the node's URL is not given."""
    node = evm_sync.Server("evm_node.py", ["--blocks", "6000"], info=True)
    proxy = evm_sync.Server("evm_proxy.py", ["--upstream", node.url, "--latency", "0.01", "--max-range", "1000"])
    try:
        meta = node.info
        tools = [evm_sync.E2E, evm_sync.E2E_NOLAT]
        extra = {"max_window": 1000, "window": 1000}
        times, n = evm_sync.suite("sparse", proxy.url, meta, tools, 1, 0, 120, extra, {}, {}, 1000, proxy,
                                  requests=4, node_url=node.url)
        assert n == meta["transfers"] and all(len(v) == 1 for v in times.values())  # suite checked the digests
        assert set(times) == set(tools)
        proxy.stats(reset=True)
        times, n = evm_sync.suite("sparse", proxy.url, meta, [evm_sync.E2E_NOLAT], 1, 0, 120, extra, {}, {}, 1000,
                                  proxy, requests=4, node_url=node.url)
        assert n == meta["transfers"] and proxy.stats() == {}
        times, _ = evm_sync.suite("sparse", proxy.url, meta, tools, 1, 0, 120, extra, {}, {}, 1000, proxy, requests=4)
        assert set(times) == {evm_sync.E2E}
        assert proxy.stats().get("eth_getLogs", 0) > 0
        lines = evm_sync.report("sparse", n, {evm_sync.E2E: [0.5], evm_sync.E2E_NOLAT: [0.4], evm_sync.CRYO: [0.2]})
        assert "tracer sync, no latency / cryo: **0.50x**" in lines[-1]
    finally:
        proxy.stop()
        node.stop()
