"""Helpers for the Akash tests: serve the generated world on loopback and sync the akash connector."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tracer.demo import serve_parts
from tracer.pipeline import SyncResult, sync
from tracer.store import Store
from tracer.world.akash import demo_part

FAST = {"rate": 0, "concurrency": 8, "max_retries": 1, "backoff_base": 0.01, "backoff_max": 0.05, "timeout": 10}


@asynccontextmanager
async def served() -> AsyncIterator[str]:
    """The akash part on 127.0.0.1; yields its base URL (``.../akash``)."""
    part = demo_part()
    runner, base = await serve_parts([part])
    try:
        yield f"{base}/{part.name}"
    finally:
        await runner.cleanup()


def config(base: str, node: str = "modern", **over: Any) -> dict[str, Any]:
    """The demo config pointed at one LCD node, with fast retries and small pages."""
    c = demo_part().config(base)["akash"]
    return {**c, "lcd_url": f"{base}/lcd/{node}", "page_size": 20, "limits": FAST, **over}


async def sync_akash(store: Store, tmp: Path, conf: dict[str, Any], selectors: list[str] | None = None,
                     ) -> SyncResult:
    cfg = {"db": str(tmp / "t.db"), "connectors": {"akash": conf}}
    return await sync(store, cfg, selectors or ["akash"])


def counts(store: Store) -> dict[str, int]:
    names = ["entities", "edges", "observations", "akash_leases", "akash_deployments", "akash_providers",
             "akash_groups", "akash_escrow_accounts", "akash_escrow_payments", "akash_orders", "akash_bids"]
    have = set(store.table_names())
    return {t: store.count(t) for t in names if t in have}


def attrs(row: dict[str, Any]) -> dict[str, Any]:
    a = row.get("attrs")
    return json.loads(a) if isinstance(a, str) else (a or {})
