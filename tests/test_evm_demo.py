"""The EVM demo part: the planted funding paths arrive as exact edges, the oracle flags the listed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tracer.demo import serve_parts
from tracer.pipeline import sync
from tracer.store import Store
from tracer.world import evm_address
from tracer.world.evm import DemoChain, build_chains, demo_part
from tracer.world.ofac import listed_wallets


def w(seed: str) -> str:
    return f"wallet:evm:{evm_address(seed)}"


async def sync_demo(db: Path, chains: dict[str, DemoChain] | None = None, **over: Any) -> Store:
    part = demo_part(chains)
    runner, base = await serve_parts([part])
    try:
        cc = part.config(f"{base}/{part.name}")["evm"]
        for sec in cc["chains"].values():
            sec.update(over)
        store = Store(db)
        res = await sync(store, {"db": str(db), "connectors": {"evm": cc}}, ["evm"])
        assert res.status == "ok", res.errors
        return store
    finally:
        await runner.cleanup()


def paid(store: Store, src: str, dst: str) -> list[dict[str, Any]]:
    return store.query("SELECT * FROM edges WHERE kind='paid' AND src=? AND dst=?", [src, dst])


async def test_demo_paths_and_counts(tmp_path: Path) -> None:
    store = await sync_demo(tmp_path / "d.db")
    chains = build_chains()
    n_logs = {name: sum(len(v) for v in c.logs.values()) for name, c in chains.items()}
    # every generated ERC-20 log is one edge; the NFT apart; the malformed event skipped and counted
    assert store.count("edges") == n_logs["polygon"] + n_logs["ethereum"] - 1
    assert len(store.query("SELECT id FROM edges WHERE kind='nft_transfer'")) == 1
    assert store.get_state("evm.ethereum_transfers")["skipped_malformed"] == 1
    renter, funder, far = (f"wallet:evm:{x}" for x in listed_wallets())  # LISTED_SEEDS order
    assert paid(store, funder, w("evm-mule-1"))[0]["amount"] == str(480_000 * 10**6)
    assert paid(store, w("evm-mule-1"), w("golem-requestor-1"))[0]["chain"] == "polygon"
    assert len(paid(store, w("golem-requestor-1"), w("golem-payee-4090"))) == 16
    assert len(paid(store, renter, w("golem-payee-4090"))) == 24
    hop3 = paid(store, w("evm-mule-3"), w("golem-requestor-2"))
    assert hop3 and hop3[0]["decimals"] == 6 and hop3[0]["chain"] == "ethereum"
    glm = store.query("SELECT * FROM evm_tokens WHERE symbol='GLM'")
    assert glm and glm[0]["decimals"] == 18 and glm[0]["chain"] == "polygon"
    obs = store.query("SELECT subject, value, source FROM observations WHERE predicate='sanctioned'")
    assert {o["subject"] for o in obs} == {funder, far}  # the ones seen on the oracle's chain
    assert all(o["value"] == "chainalysis-oracle" for o in obs)
    e = paid(store, renter, w("golem-payee-4090"))[0]
    assert json.loads(e["attrs"])["contract"] == "0x0b220b82f3ea3b7f6d9a1d8ab58930c064a2b5bf"
    store.close()


async def test_demo_node_refuses_large_ranges_and_sync_splits(tmp_path: Path) -> None:
    """The demo node answers >10000 logs with Infura's refusal; a huge window must still end equal."""
    small = await sync_demo(tmp_path / "a.db")
    chains = build_chains()
    for c in chains.values():
        c.max_results = 200
    big = await sync_demo(tmp_path / "b.db", chains, window=100_000, max_window=100_000)
    assert all(c.refusals > 0 for c in chains.values())
    q = "SELECT id, amount, src, dst, block, time FROM edges WHERE kind='paid' ORDER BY id"
    assert big.query(q) == small.query(q)
    small.close()
    big.close()
