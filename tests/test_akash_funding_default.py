"""A default-config Akash sync builds the funding graph: stored lease owners are followed (bounded)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from akash_support import FAST, served, sync_akash

from connectors.akash.connector import AkashConnector
from tracer.store import Store
from tracer.world.akash import build_world, planted


def _default_config(base: str, **over: Any) -> dict[str, Any]:
    """Only the endpoints (and fast test limits): everything else is the connector's default."""
    return {"lcd_url": f"{base}/lcd/modern", "console_url": f"{base}/console", "limits": FAST, **over}


def _funded(st: Store) -> set[str]:
    return {r["dst"] for r in st.query("SELECT DISTINCT dst FROM edges WHERE kind = 'paid' "
                                       "AND id LIKE 'edge:akash:transfer:%'")}


async def test_default_sync_follows_stored_tenants(tmp_path: Path) -> None:
    d = AkashConnector().default_config()
    assert d["follow_store_tenants"] is True and 100 <= d["funding_max_tenants"] <= 10_000
    st = Store(tmp_path / "t.db")
    async with served() as base:
        res = await sync_akash(st, tmp_path, _default_config(base))
    assert res.status == "ok", res.errors
    funded = _funded(st)
    sybils = {f"wallet:akash:{s}" for s in planted()["sybil_tenants"]}
    assert sybils <= funded
    owners = {f"wallet:akash:{le.owner}" for le in build_world().leases}
    assert len(funded & owners) >= 0.9 * len(owners)


async def test_funding_max_tenants_bounds_and_prefers_recent_tenants(tmp_path: Path) -> None:
    st = Store(tmp_path / "t.db")
    async with served() as base:
        res = await sync_akash(st, tmp_path, _default_config(base, funding_max_tenants=6))
    assert res.status == "ok", res.errors
    followed = {r["url"].split("recipient%3D'", 1)[1].split("'", 1)[0] for r in st.query(
        "SELECT url FROM raw_payloads WHERE stream = 'akash.funding' AND url LIKE '%recipient%'")}
    assert len(followed) == 6
    # the most recently active owners: every tenant with an open lease created last comes first
    last: dict[str, tuple[int, int]] = {}
    for le in build_world().leases:
        key = (1 if le.closed is None else 0, le.created)
        last[le.owner] = max(last.get(le.owner, key), key)
    expect = {o for o, _ in sorted(last.items(), key=lambda x: (-x[1][0], -x[1][1], x[0]))[:6]}
    assert followed == expect
