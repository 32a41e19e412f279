"""EVM sync benchmark: one anvil chain, ethereum-etl vs tracer, side by side in one run.

    .venv/bin/python bench/evm_sync.py                    # 200k transfers (generated once, cached)
    .venv/bin/python bench/evm_sync.py --transfers 50000  # a smaller chain
    .venv/bin/python bench/evm_sync.py --skip-etl         # tracer only
    .venv/bin/python bench/evm_sync.py --repeat 5 --etl-repeat 3

The chain is generated once (automine off, batched eth_sendTransaction, evm_mine) and cached with
anvil ``--dump-state`` under bench/out/ (gitignored); later runs ``--load-state`` it in ~1 s.  Then,
against the same node: ethereum-etl ``export_token_transfers`` (its own venv bench/out/etl-venv:
``pip install ethereum-etl parsimonious==0.9.0``), ``tracer sync`` into a fresh SQLite file (end to
end), and tracer's extraction alone (extract + transform, no store), each ``--repeat`` times
(median; ethereum-etl ``--etl-repeat`` times).  Prints every run, transfers/s of each and the
ratios (targets: end to end >= 10x ethereum-etl, extraction >= 25x).  Bounded: fixed-size
chain, every subprocess has a timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

OUT = ROOT / "bench" / "out"
ETL_VENV = OUT / "etl-venv"


def chain(n: int, per_block: int) -> tuple[Any, dict[str, Any]]:
    """A running anvil holding ``n`` transfers (from the cache, or generated and cached)."""
    from evm_support import Anvil, generate, setup_chain

    state, meta_path = OUT / f"evm-chain-{n}.json", OUT / f"evm-chain-{n}.meta.json"
    if state.exists() and meta_path.exists():
        t = time.monotonic()
        node = Anvil(load_state=state)
        print(f"loaded cached chain {state.name} in {time.monotonic() - t:.1f}s")
        return node, json.loads(meta_path.read_text())
    OUT.mkdir(parents=True, exist_ok=True)
    node = Anvil(dump_state=state)
    t = time.monotonic()
    w = setup_chain(node.url, node.accounts, with_nft=False)
    generate(node.url, node.accounts, w, n, seed=42, per_block=per_block, n_recipients=2000)
    dt = time.monotonic() - t
    print(f"generated {n} transfers in {dt:.1f}s ({n / dt:,.0f}/s)")
    from evm_support import rpc

    meta = {"token": w.token, "head": int(rpc(node.url, "eth_blockNumber"), 16), "transfers": n}
    node.stop(timeout=600)  # anvil writes --dump-state on exit (minutes for 200k transfers)
    meta_path.write_text(json.dumps(meta))
    return Anvil(load_state=state), meta


def run_etl(url: str, meta: dict[str, Any], timeout: float) -> tuple[int, float] | None:
    from eth_utils import to_checksum_address

    exe = ETL_VENV / "bin" / "ethereumetl"
    if not exe.exists():
        print(f"ethereum-etl not installed: python -m venv {ETL_VENV} && "
              f"{ETL_VENV}/bin/pip install ethereum-etl parsimonious==0.9.0")
        return None
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "tt.csv"
        cmd = [str(exe), "export_token_transfers", "--start-block", "0", "--end-block", str(meta["head"]),
               "--provider-uri", url, "--output", str(out), "--batch-size", "100", "--max-workers", "4",
               "--tokens", to_checksum_address(meta["token"])]
        t = time.monotonic()
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        dt = time.monotonic() - t
        if r.returncode != 0:
            print("ethereum-etl failed:", r.stderr[-800:])
            return None
        rows = sum(1 for _ in out.open()) - 1
    return rows, dt


def tracer_cfg(db: Path, url: str, meta: dict[str, Any], window: int | None) -> dict[str, Any]:
    """The chain's section: the connector's defaults (adaptive window), or a fixed ``window``."""
    sec: dict[str, Any] = {"chain_id": 31337, "rpc_url": url, "tokens": [meta["token"]], "start_block": 0,
                           "confirmations": 0}
    if window:
        sec.update(window=window, max_window=window, target_logs=0)
    return {"db": str(db), "connectors": {"evm": {
        "chains": {"ethereum": {"enabled": False}, "polygon": {"enabled": False}, "bench": sec},
        "limits": {"concurrency": 8, "rate": 0, "timeout": 120}}}}


async def run_tracer(url: str, meta: dict[str, Any], window: int | None) -> tuple[int, float]:
    from tracer.pipeline import sync
    from tracer.store import Store

    with tempfile.TemporaryDirectory() as d:
        db = Path(d) / "bench.db"
        store = Store(db)
        t = time.monotonic()
        res = await sync(store, tracer_cfg(db, url, meta, window), ["evm"])
        if res.status != "ok":
            raise SystemExit(f"tracer sync failed: {res.errors}")
        n = store.count("edges")
        store.close()  # counted: closing checkpoints what is left of the WAL into the database
        dt = time.monotonic() - t
    return n, dt


async def run_extract(url: str, meta: dict[str, Any], window: int | None) -> tuple[int, float]:
    """extract + transform of the same stream with no store (what the connector alone costs)."""
    from connectors.base import Rows, RunContext
    from connectors.evm.connector import EvmConnector
    from connectors.http import HostLimits, HttpClient, open_session
    from tracer import config as cfgmod

    conn = EvmConnector()
    c = cfgmod.connector_config(tracer_cfg(Path("x"), url, meta, window), "evm", conn.default_config())
    stream = conn.streams(c)[0]
    n = 0
    t = time.monotonic()
    async with open_session() as session:
        http = HttpClient(session, default_limits=HostLimits(concurrency=8, timeout=120))
        ctx = RunContext(http=http, config=c, now=cfgmod.now(), run_id="bench")
        async for page in stream.extract(ctx, {}):
            n += sum(len(r) if isinstance(r, Rows) else 1 for r in stream.transform(page) if r.table == "edges")
    return n, time.monotonic() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--transfers", type=int, default=200_000)
    ap.add_argument("--per-block", type=int, default=500)
    ap.add_argument("--window", type=int, default=None,
                    help="a fixed tracer eth_getLogs window in blocks (default: the connector's adaptive "
                         "window, which settles near target_logs=5000 logs per answer)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each tracer measurement (the median is used)")
    ap.add_argument("--etl-repeat", type=int, default=1, help="runs of ethereum-etl (~40 s each at 200k)")
    ap.add_argument("--skip-etl", action="store_true")
    ap.add_argument("--timeout", type=float, default=900)
    a = ap.parse_args()
    node, meta = chain(a.transfers, a.per_block)
    try:
        n = meta["transfers"]
        print(f"chain: {n} transfers in blocks 0..{meta['head']} at {node.url}")
        results: dict[str, tuple[int, float]] = {}
        runs: dict[str, list[float]] = {}

        def median(name: str, fn: Any, times: int) -> None:
            got = [fn() for _ in range(max(1, times))]
            got = [g for g in got if g is not None]
            if not got:
                return
            runs[name] = sorted(dt for _, dt in got)
            results[name] = (min(n for n, _ in got), statistics.median(runs[name]))

        median("tracer extraction (no store)", lambda: asyncio.run(run_extract(node.url, meta, a.window)), a.repeat)
        median("tracer sync -> SQLite (end to end)", lambda: asyncio.run(run_tracer(node.url, meta, a.window)),
               a.repeat)
        if not a.skip_etl:
            median("ethereum-etl export_token_transfers", lambda: run_etl(node.url, meta, a.timeout), a.etl_repeat)
        for name, dts in runs.items():
            print(f"{name}: runs {', '.join(f'{d:.2f}s' for d in dts)} (median used)")
        for name, (rows, dt) in results.items():
            print(f"{name:40s} {rows:>8} transfers {dt:7.2f}s {rows / dt:>10,.0f}/s")
            if rows < n:
                print(f"  !! {name} returned {rows} of {n} transfers")
        base = results.get("ethereum-etl export_token_transfers")
        if base:
            b = base[0] / base[1]
            for name, (rows, dt) in results.items():
                if not name.startswith("ethereum-etl"):
                    print(f"ratio {name}: {rows / dt / b:.1f}x ethereum-etl")
    finally:
        node.stop()


if __name__ == "__main__":
    main()
