"""The processes bench/evm_sync.py times, each run whole: ``python bench/evm_tools.py MODE JSON``.

Why a file of its own: every tool is measured as the process a user starts (interpreter, imports,
requests, exit), so each mode imports only what it needs -- ``cryo`` runs under cryo's own venv,
which has nothing but cryo.  A mode that keeps its transfers in memory (``raw``, ``extract``) prints,
as its last stdout line, JSON with ``t_end`` (``time.time()`` when the extraction ended: the digest
it computes afterwards is not timed), ``n`` and ``digest``; ``cryo`` prints ``t_end`` only (its
parquet files are read by the bench after the process ended).

Modes (JSON: the arguments):
- ``raw``: a minimal async extractor -- eth_getLogs over fixed windows, ``concurrency`` in flight,
  orjson, count.  The floor of what a Python client can do against the node.
- ``extract``: tracer's extraction alone (the connector's extract + transform, no store).
- ``cryo``: ``cryo.freeze("erc20_transfers", ...)`` into ``out`` (parquet).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Iterable
from typing import Any

TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"


def digest(rows: Iterable[tuple[str, int, int]]) -> tuple[int, str]:
    """(count, sha256) of the sorted ``tx,log_index,amount`` lines: equal across tools means the same
    transfers, to the wei (tx lower-case 0x hex, both numbers decimal)."""
    lines = sorted(f"{tx.lower()},{li},{amount}" for tx, li, amount in rows)
    return len(lines), hashlib.sha256("\n".join(lines).encode()).hexdigest()


def run_raw(a: dict[str, Any]) -> dict[str, Any]:
    """eth_getLogs of the Transfer topic over ``[start, end]`` in ``window``-block requests."""
    import asyncio

    import aiohttp
    import orjson

    url, token, start, end = a["url"], a["token"], int(a["start"]), int(a["end"])
    window, conc = int(a["window"]), int(a["concurrency"])
    ranges = [(s, min(end, s + window - 1)) for s in range(start, end + 1, window)]
    results: list[Any] = []

    async def main() -> None:
        sem = asyncio.Semaphore(conc)
        conn = aiohttp.TCPConnector(limit=conc)
        async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=600)) as s:
            async def one(i: int, lo: int, hi: int) -> None:
                body = orjson.dumps({"jsonrpc": "2.0", "id": i, "method": "eth_getLogs", "params": [
                    {"fromBlock": hex(lo), "toBlock": hex(hi), "address": token, "topics": [TRANSFER_TOPIC]}]})
                async with sem, s.post(url, data=body, headers={"Content-Type": "application/json"}) as r:
                    d = orjson.loads(await r.read())
                if "result" not in d:
                    raise SystemExit(f"raw extractor: {lo}..{hi}: {d.get('error')}")
                results.append(d["result"])

            await asyncio.gather(*(one(i, lo, hi) for i, (lo, hi) in enumerate(ranges)))

    asyncio.run(main())
    t_end = time.time()
    n, dg = digest((lg["transactionHash"], int(lg["logIndex"], 16), int(lg["data"], 16))
                   for res in results for lg in res if len(lg["topics"]) == 3 and len(lg["data"]) == 66)
    return {"t_end": t_end, "n": n, "digest": dg, "requests": len(ranges)}


def run_extract(a: dict[str, Any]) -> dict[str, Any]:
    """tracer's connector: extract + transform of the configured chain, no store."""
    import asyncio

    from connectors.base import Rows, RunContext
    from connectors.evm.connector import EvmConnector
    from connectors.http import HostLimits, HttpClient, open_session
    from tracer import config as cfgmod

    conn = EvmConnector()
    c = cfgmod.connector_config(a["config"], "evm", conn.default_config())
    stream = conn.streams(c)[0]
    lim = HostLimits.from_config(c.get("limits"), "connectors.evm.limits")
    kept: list[tuple[Any, ...]] = []

    async def main() -> None:
        async with open_session() as session:
            http = HttpClient(session, default_limits=lim)
            ctx = RunContext(http=http, config=c, now=cfgmod.now(), run_id="bench")
            async for page in stream.extract(ctx, {}):
                for r in stream.transform(page):
                    if isinstance(r, Rows) and r.table == "edges":
                        kept.extend(r.rows)

    asyncio.run(main())
    t_end = time.time()
    n, dg = digest((row[10], json.loads(row[11])["log_index"], int(row[6])) for row in kept if row[1] == "paid")
    return {"t_end": t_end, "n": n, "digest": dg}


def run_cryo(a: dict[str, Any]) -> dict[str, Any]:
    """cryo's Python API, its parquet output in ``out`` (read by the bench)."""
    import cryo  # type: ignore[import-not-found]

    cryo.freeze("erc20_transfers", rpc=a["url"], blocks=[f"{a['start']}:{int(a['end']) + 1}"],
                output_dir=a["out"], contract=[a["token"]], verbose=False, **a.get("settings", {}))
    return {"t_end": time.time()}


MODES = {"raw": run_raw, "extract": run_extract, "cryo": run_cryo}

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in MODES:
        raise SystemExit(f"usage: evm_tools.py {{{','.join(MODES)}}} JSON")
    if sys.argv[1] == "extract":
        from pathlib import Path

        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    print(json.dumps(MODES[sys.argv[1]](json.loads(sys.argv[2]))), flush=True)
