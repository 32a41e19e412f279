"""Which raw page an EVM transfer cites does not depend on timing, concurrency or interruptions.

Why: an edge's ``raw_sha256`` is its evidence (``tracer explain`` walks down to that answer), and
issue 17 requires that the page which established a fact be the same whatever the interruptions.
The ``eth_getLogs`` windows adapt to the chain (log density, empty stretches, the node's range
refusals); these tests sync one anvil chain of uneven density several ways -- different
concurrency, answers delayed at random through a loopback proxy, runs killed midway (HTTP 401
from the proxy) and resumed -- and require the same (row -> raw page) maps and the same final state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from evm_support import (
    MINT_SEL,
    Anvil,
    FaultProxy,
    Sender,
    Workload,
    addr_word,
    anvil_path,
    chain_transfers,
    deploy,
    evm_config,
    generate,
    rpc,
    setup_chain,
    uint_word,
)

from tracer.pipeline import sync
from tracer.store import Store, StoreFault

pytestmark = pytest.mark.skipif(anvil_path() is None, reason="anvil not installed (make setup-node)")
STREAM = "evm.anvil_transfers"
# Small enough that the window adapts on this chain (dense blocks shrink it, empty stretches grow it),
# and the proxy refuses ranges over 32 blocks the way Infura refuses big answers: windows split too.
ADAPTIVE = {"window": 16, "max_window": 64, "target_logs": 40}
REFUSE_OVER = 32


@pytest.fixture(scope="module")
def uneven() -> Iterator[tuple[Anvil, list[str]]]:
    """Dense blocks, sparse stretches, long empty ones, and a second token that appears late."""
    node = Anvil()
    try:
        url, acc = node.url, node.accounts
        w = setup_chain(url, acc)
        generate(url, acc, w, 600, seed=1, per_block=100)
        rpc(url, "anvil_mine", [hex(300)])
        generate(url, acc, w, 240, seed=2, per_block=4)
        rpc(url, "anvil_mine", [hex(150)])
        late = Workload(token=deploy(url, acc[0], "TestToken", ["string", "string", "uint8"], ["Late", "LATE", 6]),
                        recipients=w.recipients)
        Sender(url, acc).send([(acc[0], late.token, MINT_SEL + addr_word(a) + uint_word(10**30)) for a in acc])
        generate(url, acc, late, 300, seed=3, per_block=30)
        rpc(url, "anvil_mine", [hex(40)])
        generate(url, acc, w, 120, seed=4, per_block=1)
        tokens = [t for t in (w.token, w.nft, w.legacy, late.token) if t]
        assert len(chain_transfers(url, late.token)) == 10 + 300  # mints, then every transfer went through
        yield node, tokens
    finally:
        node.stop()


def provenance(store: Store) -> dict[str, Any]:
    """Every row of the stream with the raw page it cites, and the stream's final state."""
    return {
        "edges": {r["id"]: r["raw_sha256"] for r in store.query("SELECT id, raw_sha256 FROM edges")},
        "blocks": {r["number"]: (r["hash"], r["raw_sha256"])
                   for r in store.query("SELECT number, hash, raw_sha256 FROM evm_blocks")},
        "tokens": {r["address"]: r["raw_sha256"] for r in store.query("SELECT address, raw_sha256 FROM evm_tokens")},
        "pages": sorted(r["sha256"] for r in store.query("SELECT sha256 FROM raw_payloads WHERE stream = ?",
                                                          [STREAM])),
        "state": store.get_state(STREAM),
    }


async def _sync(db: Path, url: str, tokens: list[str], **over: Any) -> tuple[str, list[str]]:
    store = Store(db)
    try:
        res = await sync(store, evm_config(db, "anvil", url, tokens, **{**ADAPTIVE, **over}), ["evm"])
        return res.status, res.errors
    finally:
        store.close()


def _read(db: Path) -> dict[str, Any]:
    store = Store(db)
    try:
        return provenance(store)
    finally:
        store.close()


@pytest.fixture(scope="module")
def clean(uneven: tuple[Anvil, list[str]], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One sequential run (concurrency 1) through a proxy that adds no delay: the reference."""
    node, tokens = uneven
    db = tmp_path_factory.mktemp("clean") / "t.db"
    proxy = FaultProxy(node.url, every=10**9, max_range=REFUSE_OVER)

    async def run() -> None:
        url = await proxy.start()
        try:
            assert await _sync(db, url, tokens, concurrency=1) == ("ok", [])
        finally:
            await proxy.stop()

    asyncio.run(run())
    assert proxy.counts.get("range_refused", 0) > 0  # the chain makes windows split
    return _read(db)


def test_the_chain_makes_windows_adapt(uneven: tuple[Anvil, list[str]], clean: dict[str, Any]) -> None:
    """The premise: windows of many sizes, edges on many pages, a token found late."""
    node, tokens = uneven
    # every Transfer log but the legacy token's one (another layout: skipped, counted)
    assert len(clean["edges"]) == sum(len(chain_transfers(node.url, t)) for t in tokens if t != tokens[2])
    assert len(set(clean["edges"].values())) >= 10
    assert len(clean["tokens"]) == 2 and clean["state"]["skipped_malformed"] == 3  # one legacy event a batch


@pytest.mark.parametrize("concurrency,jitter", [(4, 0.0), (8, 0.04), (3, 0.02)])
async def test_concurrency_and_timing_do_not_change_provenance(
        uneven: tuple[Anvil, list[str]], clean: dict[str, Any], tmp_path: Path, concurrency: int,
        jitter: float) -> None:
    node, tokens = uneven
    proxy = FaultProxy(node.url, every=10**9, max_range=REFUSE_OVER, jitter=jitter, seed=concurrency)
    url = await proxy.start()
    try:
        assert await _sync(tmp_path / "t.db", url, tokens, concurrency=concurrency) == ("ok", [])
    finally:
        await proxy.stop()
    got = _read(tmp_path / "t.db")
    for k in ("edges", "blocks", "tokens", "pages", "state"):
        assert got[k] == clean[k], k


@pytest.mark.parametrize("fail_after", [25, 50, 90])
async def test_killed_then_resumed_cites_the_same_pages(
        uneven: tuple[Anvil, list[str]], clean: dict[str, Any], tmp_path: Path, fail_after: int) -> None:
    """A run that dies after ``fail_after`` requests (every later one is refused with HTTP 401), then a
    resume with another concurrency: the same rows cite the same pages as the uninterrupted run."""
    node, tokens = uneven
    db = tmp_path / "t.db"
    proxy = FaultProxy(node.url, every=10**9, max_range=REFUSE_OVER, fail_after=fail_after, jitter=0.02,
                       seed=fail_after)
    url = await proxy.start()
    try:
        status, errors = await _sync(db, url, tokens, concurrency=6)
    finally:
        await proxy.stop()
    assert status == "failed" and "HTTP 401" in errors[0], errors
    partial = _read(db)
    assert 0 < len(partial["edges"]) < len(clean["edges"])
    proxy = FaultProxy(node.url, every=10**9, max_range=REFUSE_OVER)
    url = await proxy.start()
    try:
        assert await _sync(db, url, tokens, concurrency=2) == ("ok", [])
    finally:
        await proxy.stop()
    got = _read(db)
    for k in ("edges", "blocks", "tokens", "pages", "state"):
        assert got[k] == clean[k], k


async def test_a_full_disk_under_the_writer_thread_keeps_a_prefix_and_the_resume_heals(
        uneven: tuple[Anvil, list[str]], clean: dict[str, Any], tmp_path: Path) -> None:
    """Pages are stored on a writer thread while the next windows are fetched (issue 16): a write
    that fails (SQLITE_FULL) stops the run with the store fault, no later page is stored after it
    (what is stored is a prefix of the clean run's pages, every row citing a stored page), and a
    resume with room again ends exactly as the clean run."""
    node, tokens = uneven
    db = tmp_path / "t.db"
    store = Store(db)
    n = store.db.execute("PRAGMA page_count").fetchone()[0]
    ps = store.db.execute("PRAGMA page_size").fetchone()[0]
    # full midway (all of it: ~1 MB); the writer's connection too
    store.db.execute(f"PRAGMA max_page_count={n + 150 * 4096 // ps}")
    proxy = FaultProxy(node.url, every=10**9, max_range=REFUSE_OVER)
    url = await proxy.start()
    try:
        with pytest.raises(StoreFault, match="disk full"):
            await sync(store, evm_config(db, "anvil", url, tokens, **{**ADAPTIVE, "concurrency": 4}), ["evm"])
        assert [r["status"] for r in store.runs()] == ["failed"]
    finally:
        store.close()
        await proxy.stop()
    partial = _read(db)
    assert 0 < len(partial["edges"]) < len(clean["edges"])
    assert set(partial["pages"]) < set(clean["pages"])
    assert set(partial["edges"].values()) <= set(partial["pages"])
    assert all(clean["edges"][e] == sha for e, sha in partial["edges"].items())
    cursor = partial["state"]["cursor"]
    assert all(clean["blocks"][b] == v for b, v in partial["blocks"].items() if b <= cursor)
    proxy = FaultProxy(node.url, every=10**9, max_range=REFUSE_OVER)
    url = await proxy.start()
    try:
        assert await _sync(db, url, tokens, concurrency=2) == ("ok", [])
    finally:
        await proxy.stop()
    got = _read(db)
    for k in ("edges", "blocks", "tokens", "pages", "state"):
        assert got[k] == clean[k], k
