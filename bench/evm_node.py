"""A generated sparse EVM chain served as a JSON-RPC node on loopback, for the EVM sync bench.

    .venv/bin/python bench/evm_node.py --blocks 200000 --seed 7

Why not anvil: anvil's cost per mined block grows with the chain's length (measured here: 1,000
empty blocks on a fresh node 1.3 s, 2,000 more after 4,000 blocks 27 s), so a 200k-block chain
would take hours to make.  This node answers in geth's shapes (``tracer.world.evm.DemoChain``:
hex quantities, 32-byte topics, lean headers, batch arrays), with ``blockTimestamp`` in every log
as geth >= 1.16 sends it, and the filter methods ethereum-etl uses (``eth_newFilter``,
``eth_getFilterLogs``, ``eth_uninstallFilter``).  The schedule is :func:`schedule`: a gap of 1-80
empty blocks then one block with one transfer; 1% of the time a burst of 3-10 consecutive blocks of
1-8 transfers each (~32 blocks per transfer on average).  Prints its URL, then a JSON line with the
token, head and transfer count; serves until SIGTERM/SIGINT or ``--lifetime``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import web  # noqa: E402

from tracer.world.evm import T0, DemoChain  # noqa: E402

TOKEN = "0x" + "5a" * 20


def schedule(blocks: int, seed: int) -> list[tuple[int, list[int]]]:
    """(empty blocks before, transfers in each block of the group) until ``blocks`` blocks."""
    r = random.Random(seed)
    out: list[tuple[int, list[int]]] = []
    pos = 0
    while True:
        gap = r.randint(1, 80)
        group = [r.randint(1, 8) for _ in range(r.randint(3, 10))] if r.random() < 0.01 else [1]
        if pos + gap + len(group) > blocks:
            return out
        out.append((gap, group))
        pos += gap + len(group)


class SparseChain(DemoChain):
    """A DemoChain with ``blockTimestamp`` in its logs and geth's log filters."""

    filters: dict[str, dict[str, Any]]
    made: int = 0

    def answer(self, c: dict[str, Any]) -> dict[str, Any]:
        m, p, base = c.get("method"), c.get("params") or [], {"jsonrpc": "2.0", "id": c.get("id")}
        if m == "eth_newFilter":
            self.made += 1
            fid = hex(self.made)
            self.filters[fid] = p[0]
            return {**base, "result": fid}
        if m in ("eth_getFilterLogs", "eth_getFilterChanges"):
            f = self.filters.get(p[0])
            return {**base, **self._get_logs(f)} if f is not None else \
                {**base, "error": {"code": -32000, "message": "filter not found"}}
        if m == "eth_uninstallFilter":
            return {**base, "result": self.filters.pop(p[0], None) is not None}
        return super().answer(c)


def build(blocks: int, seed: int) -> SparseChain:
    chain = SparseChain("sparse", 31337, 0, 12, {TOKEN: ("SPRS", 18, "Sparse Dollar")}, 0)
    chain.filters = {}
    r = random.Random(seed + 1)
    wallets = ["0x" + r.randbytes(20).hex() for _ in range(500)]
    pos = 0
    for gap, group in schedule(blocks, seed):
        pos += gap
        for k in group:
            for _ in range(k):
                chain.transfer(pos, TOKEN, r.choice(wallets), r.choice(wallets),
                               r.choice([1, r.randrange(10**6), r.randrange(10**24)]))
            pos += 1
    for n, logs in chain.logs.items():
        for lg in logs:
            lg["blockTimestamp"] = hex(T0 + n * chain.block_time)
    chain.last = blocks - 1  # the head: every block exists, most are empty
    return chain


async def serve(chain: SparseChain, lifetime: float) -> None:
    async def handle(request: web.Request) -> web.Response:
        payload = json.loads(await request.read())
        out = [chain.answer(c) for c in payload] if isinstance(payload, list) else chain.answer(payload)
        return web.json_response(out)

    app = web.Application(client_max_size=1 << 26)
    app.router.add_post("/", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=512)
    await site.start()
    n = sum(len(v) for v in chain.logs.values())
    print(f"http://127.0.0.1:{runner.addresses[0][1]}/", flush=True)
    print(json.dumps({"token": TOKEN, "head": chain.head, "transfers": n, "blocks": chain.head + 1}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), lifetime)
    except TimeoutError:
        print("node: lifetime over", file=sys.stderr)
    finally:
        await runner.cleanup()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--blocks", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--lifetime", type=float, default=7200)
    a = ap.parse_args()
    asyncio.run(serve(build(a.blocks, a.seed), a.lifetime))


if __name__ == "__main__":
    main()
