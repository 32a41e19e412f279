"""Akash sync throughput on a generated world served on loopback (one process, no internet).

    .venv/bin/python bench/akash_sync.py                 # 2000 tenants (~5k leases)
    .venv/bin/python bench/akash_sync.py --tenants 500 --node legacy

Prints leases/s and records/s of a full ``tracer`` sync (every akash stream, page size 100) into a
fresh SQLite file, then a second (idempotent) sync. The loopback server shares the CPU with the
client, so the numbers are a lower bound; on a shared machine they are noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


async def main(tenants: int, node: str) -> None:
    from tracer.demo import serve_parts
    from tracer.pipeline import sync
    from tracer.store import Store
    from tracer.world import DemoPart
    from tracer.world.akash import build_world
    from tracer.world.akash_shapes import routes

    w = build_world("akash-bench", tenants)
    part = DemoPart("akash", routes(w), lambda b: {})
    runner, base = await serve_parts([part])
    try:
        with tempfile.TemporaryDirectory() as tmp:
            st = Store(Path(tmp) / "t.db")
            conf = {"lcd_url": f"{base}/akash/lcd/{node}", "console_url": f"{base}/akash/console", "page_size": 100,
                    "follow_store_tenants": True, "funding_max_tenants": 100_000,
                    "limits": {"rate": 0, "concurrency": 8, "timeout": 60}}
            cfg = {"db": str(Path(tmp) / "t.db"), "connectors": {"akash": conf}}
            for label in ("first sync", "second sync"):
                t0 = time.perf_counter()
                res = await sync(st, cfg, ["akash"])
                dt = time.perf_counter() - t0
                print(f"{label}: {res.status} in {dt:.2f}s; {len(w.leases)} leases -> {len(w.leases) / dt:.0f} "
                      f"leases/s, {res.records} records -> {res.records / dt:.0f} records/s")
                rows = st.query("SELECT stream, pages, records, (julianday(ended_at) - julianday(started_at)) "
                                "* 86400 AS s FROM run_streams WHERE run_id = ? ORDER BY s DESC LIMIT 4", [res.run_id])
                print("  slowest:", ", ".join(f"{r['stream']} {r['s']:.0f}s/{r['pages']}p" for r in rows))
            print({t: st.count(t) for t in ("entities", "edges", "observations", "akash_leases")})
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tenants", type=int, default=2000)
    ap.add_argument("--node", choices=["modern", "legacy", "noescrow"], default="modern")
    a = ap.parse_args()
    asyncio.run(main(a.tenants, a.node))
