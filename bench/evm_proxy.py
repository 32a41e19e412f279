"""A loopback JSON-RPC proxy that adds latency, for the EVM sync bench (a far, hosted node).

    .venv/bin/python bench/evm_proxy.py --upstream http://127.0.0.1:8545 --latency 0.05 [--max-range 10000]

Why a process of its own: the tools under test run as whole processes too, and a proxy sharing an
event loop with one of them would slow it.  Every POST waits ``--latency`` seconds, then goes to the
upstream over a pooled connection; bodies pass through untouched.  ``--max-range`` refuses any
``eth_getLogs`` spanning more blocks, with the error geth (publicnode) sends, so every tool is held
to the same range limit a hosted provider imposes.  ``GET /stats`` answers the requests seen, by
JSON-RPC method (a batch counts once, as ``batch``); ``GET /log`` each request's arrival and answer
times, method and ``eth_getLogs`` span (the critical path of a run, with bench/evm_timeline.py).  Prints its URL on the first line of stdout and
serves until SIGTERM/SIGINT (the bench stops it by its pid); ``--lifetime`` bounds it anyway.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import signal
import sys
import time
from typing import Any

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web


class Proxy:
    """Latency and a range limit in front of one upstream node."""

    def __init__(self, upstream: str, latency: float, max_range: int | None) -> None:
        self.upstream, self.latency, self.max_range = upstream, latency, max_range
        self.counts: collections.Counter[str] = collections.Counter()
        # [arrival time, answer time, method, eth_getLogs span] of each request since the last reset.
        self.events: list[list[Any]] = []
        self.session: ClientSession | None = None

    @staticmethod
    def _span(payload: Any) -> int | None:
        if not isinstance(payload, dict) or payload.get("method") != "eth_getLogs":
            return None
        f = (payload.get("params") or [{}])[0]
        return int(f.get("toBlock", "0x0"), 16) - int(f.get("fromBlock", "0x0"), 16) + 1

    def _refusal(self, payload: Any) -> dict[str, Any] | None:
        """geth's answer to a range over ``max_range`` blocks, or None when the request is allowed."""
        if self.max_range is None or not isinstance(payload, dict) or payload.get("method") != "eth_getLogs":
            return None
        span = self._span(payload)
        if span is None or span <= self.max_range:
            return None
        self.counts["refused"] += 1
        return {"jsonrpc": "2.0", "id": payload.get("id"),
                "error": {"code": -32000, "message": f"exceed maximum block range: {self.max_range}"}}

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        payload = json.loads(body)
        method = payload.get("method", "?") if isinstance(payload, dict) else f"batch[{len(payload)}]"
        self.counts[method if isinstance(payload, dict) else "batch"] += 1
        event = [time.time(), None, method, self._span(payload)]
        self.events.append(event)
        if self.latency:
            await asyncio.sleep(self.latency)
        refused = self._refusal(payload)
        if refused is not None:
            event[1] = time.time()
            return web.json_response(refused)
        assert self.session is not None
        async with self.session.post(self.upstream, data=body, headers={"Content-Type": "application/json"}) as r:
            out = await r.read()
            event[1] = time.time()
            return web.Response(body=out, status=r.status, content_type="application/json")

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(dict(self.counts))

    async def log(self, request: web.Request) -> web.Response:
        return web.json_response(self.events)

    async def reset(self, request: web.Request) -> web.Response:
        self.counts.clear()
        self.events.clear()
        return web.json_response({})


async def serve(upstream: str, latency: float, max_range: int | None, lifetime: float) -> None:
    proxy = Proxy(upstream, latency, max_range)
    proxy.session = ClientSession(connector=TCPConnector(limit=256), timeout=ClientTimeout(total=600))
    app = web.Application(client_max_size=1 << 30)
    app.router.add_post("/", proxy.handle)
    app.router.add_get("/stats", proxy.stats)
    app.router.add_get("/log", proxy.log)
    app.router.add_post("/reset", proxy.reset)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=512)
    await site.start()
    print(f"http://127.0.0.1:{runner.addresses[0][1]}/", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), lifetime)
    except TimeoutError:
        print("proxy: lifetime over", file=sys.stderr)
    finally:
        await runner.cleanup()
        await proxy.session.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--latency", type=float, default=0.05, help="seconds added to every request")
    ap.add_argument("--max-range", type=int, default=None, help="refuse eth_getLogs over this many blocks")
    ap.add_argument("--lifetime", type=float, default=7200, help="stop after this many seconds regardless")
    a = ap.parse_args()
    asyncio.run(serve(a.upstream, a.latency, a.max_range, a.lifetime))


if __name__ == "__main__":
    main()
