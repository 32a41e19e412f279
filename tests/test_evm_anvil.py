"""The EVM connector against a real anvil node: the store must equal the chain exactly."""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import os
import signal
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from evm_support import (
    ORACLE_SET_SEL,
    Anvil,
    FaultProxy,
    Sender,
    Workload,
    addr_word,
    anvil_path,
    balance_of,
    chain_transfers,
    deploy,
    evm_config,
    generate,
    rpc,
    rpc_batch,
    setup_chain,
    toml_of,
)
from faultserver import TRACER, cli_env, run_cli

from connectors.evm.connector import EvmConnector
from connectors.evm.decode import iso_time
from tracer import config as cfgmod
from tracer.pipeline import sync
from tracer.store import Store

pytestmark = pytest.mark.skipif(anvil_path() is None, reason="anvil not installed (make setup-node)")
N_TRANSFERS = 3000


@pytest.fixture(scope="module")
def chain() -> Iterator[tuple[Anvil, Workload]]:
    node = Anvil()
    try:
        w = setup_chain(node.url, node.accounts)
        generate(node.url, node.accounts, w, N_TRANSFERS, seed=7, per_block=100)
        yield node, w
    finally:
        node.stop()


async def sync_stats(store: Store, cfg: dict[str, Any]) -> tuple[Any, dict[str, int]]:
    """``sync`` of the config's EVM chain, and the transfers stream's stats (decoded in C, offloaded...)."""
    conn = EvmConnector()
    streams = conn.streams(cfgmod.connector_config(cfg, "evm", conn.default_config()))
    return await sync(store, cfg, plan=[(conn, streams)]), streams[0].stats


def fast_built() -> bool:
    """Whether the EVM decoder's C fast path is installed (it is wherever a C compiler was)."""
    from connectors.evm import decode

    return decode._logscan is not None


def tokens_of(w: Workload) -> list[str]:
    return [t for t in (w.token, w.nft, w.legacy) if t]


def edges(store: Store, kind: str = "paid") -> list[dict[str, Any]]:
    return store.query("SELECT * FROM edges WHERE kind = ? ORDER BY block, id", [kind])


def assert_store_equals_chain(store: Store, url: str, token: str) -> None:
    """Count, every (tx, log index), every amount, and each address's net flow == balanceOf."""
    logs = chain_transfers(url, token)
    want = {(lg["transactionHash"], int(lg["logIndex"], 16)): int(lg["data"], 16) for lg in logs}
    got_rows = [e for e in edges(store) if e["asset"].endswith(token)]
    got = {(e["tx"], json.loads(e["attrs"])["log_index"]): int(e["amount"]) for e in got_rows}
    assert len(got_rows) == len(logs)
    assert got == want
    net: dict[str, int] = defaultdict(int)
    for e in got_rows:
        net[e["src"].split(":")[-1]] -= int(e["amount"])
        net[e["dst"].split(":")[-1]] += int(e["amount"])
    zero = "0x" + "0" * 40
    holders = sorted(a for a in net if a != zero)
    bal = balance_of(url, token, holders)
    assert {a: net[a] for a in holders} == bal
    assert -net[zero] == sum(bal.values())  # everything minted is held somewhere


async def test_sync_equals_chain(chain: tuple[Anvil, Workload], tmp_path: Path) -> None:
    node, w = chain
    store = Store(tmp_path / "t.db")
    res = await sync(store, evm_config(tmp_path / "t.db", "anvil", node.url, tokens_of(w)), ["evm"])
    assert res.status == "ok", res.errors
    assert_store_equals_chain(store, node.url, w.token)
    paid = edges(store)
    assert all(e["decimals"] == 18 and e["chain"] == "anvil" and e["asset"] == f"token:anvil:{w.token}"
               for e in paid)
    assert all(e["id"] == f"evm:anvil:{e['block']:012d}:{json.loads(e['attrs'])['log_index']:06d}" for e in paid)
    assert max(int(e["amount"]) for e in paid) > 2**64  # exact beyond int64, stored as text
    # ERC-721 (four topics) kept apart, never a payment; the malformed legacy event skipped, counted.
    nft = edges(store, "nft_transfer")
    assert len(nft) == 3 and all(e["amount"] is None and json.loads(e["attrs"])["token_id"] for e in nft)
    assert not [e for e in paid if e["asset"].endswith(w.nft or "-") or e["asset"].endswith(w.legacy or "-")]
    state = store.get_state("evm.anvil_transfers")
    head = int(rpc(node.url, "eth_blockNumber"), 16)
    assert state["cursor"] == head and state["skipped_malformed"] == 1
    # Times are the blocks' timestamps; the blocks table has a hash for every block with a transfer.
    blocks = {r["number"]: r for r in store.query("SELECT * FROM evm_blocks WHERE chain='anvil'")}
    assert {e["block"] for e in paid} <= set(blocks)
    heads = rpc_batch(node.url, [("eth_getBlockByNumber", [hex(n), False]) for n in sorted(blocks)])
    assert [(r["hash"], r["timestamp"]) for _, r in sorted(blocks.items())] == \
        [(h["hash"], int(h["timestamp"], 16)) for h in heads]
    assert {e["block"]: e["time"] for e in paid} == {e["block"]: iso_time(blocks[e["block"]]["timestamp"])
                                                     for e in paid}
    # anvil sends blockTimestamp in its logs: those blocks come from the logs (no parent hash),
    # the window ends without transfers from their headers.
    assert [n for n, r in blocks.items() if r["parent_hash"] is None]
    toks = {r["address"]: r for r in store.query("SELECT * FROM evm_tokens")}
    assert toks[w.token]["symbol"] == "TUSD" and toks[w.token]["decimals"] == 18
    # provenance: every edge points at the exact eth_getLogs answer it came from
    raw = store.raw_payload(paid[0]["raw_sha256"])
    assert raw is not None and raw["method"] == "POST eth_getLogs"
    store.close()


async def test_incremental_resume(chain: tuple[Anvil, Workload], tmp_path: Path) -> None:
    node, w = chain
    db = tmp_path / "t.db"
    store = Store(db)
    cfg = evm_config(db, "anvil", node.url, [w.token], window=5, max_window=5)
    assert (await sync(store, cfg, ["evm"])).status == "ok"
    before = store.count("edges")
    generate(node.url, node.accounts, w, 600, seed=11)
    res = await sync(store, cfg, ["evm"])
    assert res.status == "ok", res.errors
    assert store.count("edges") == before + 600
    assert_store_equals_chain(store, node.url, w.token)
    store.close()


async def test_an_incremental_run_is_two_round_trips_and_asks_nothing_past_the_head(tmp_path: Path) -> None:
    """A scheduled run after a completed one: the reorg check goes out with the head (not a round trip
    after it), and no eth_getLogs range is guessed past the head (they were all dropped, and some
    asked again on the node's error: requests of the provider's rate limit and credits, wasted)."""
    node = Anvil()
    try:
        w = setup_chain(node.url, node.accounts, with_nft=False)
        generate(node.url, node.accounts, w, 300, seed=5, per_block=30)
        rpc(node.url, "anvil_mine", [hex(2)])  # the 2 unconfirmed blocks: empty, so the store equals the chain
        proxy = FaultProxy(node.url, every=10**9, max_range=10**9, latency=0.2)
        url = await proxy.start()
        db = tmp_path / "t.db"
        store = Store(db)
        try:
            cfg = evm_config(db, "anvil", url, [w.token], window=64, max_window=4096, concurrency=8,
                             confirmations=2)
            assert (await sync(store, cfg, ["evm"])).status == "ok"
            cursor = store.get_state("evm.anvil_transfers")["cursor"]
            generate(node.url, node.accounts, w, 60, seed=6, per_block=20)  # 3 new blocks
            rpc(node.url, "anvil_mine", [hex(2)])
            head = int(rpc(node.url, "eth_blockNumber"), 16)
            proxy.events.clear()
            res = await sync(store, cfg, ["evm"])
        finally:
            await proxy.stop()
        assert res.status == "ok", res.errors
        assert_store_equals_chain(store, node.url, w.token)
        assert store.get_state("evm.anvil_transfers")["cursor"] == head - 2
        store.close()

        def method(payload: Any) -> str:
            return payload["method"] if isinstance(payload, dict) else "batch " + payload[0]["method"]

        asked = [p for e, p in proxy.events if e == "in"]
        ranges = [(int(p["params"][0]["fromBlock"], 16), int(p["params"][0]["toBlock"], 16))
                  for p in asked if method(p) == "eth_getLogs"]
        assert ranges == [(cursor + 1, head - 2)]
        # The reorg check (headers of stored blocks, at or below the cursor) arrived before the
        # head's answer left the proxy (which holds each answer 0.2 s): the same round trip.
        order = [(e, method(p), p) for e, p in proxy.events]
        head_out = next(i for i, (e, m, _) in enumerate(order) if e == "out" and m == "eth_blockNumber")
        checks = [i for i, (e, m, p) in enumerate(order) if e == "in" and m == "batch eth_getBlockByNumber"
                  and all(int(c["params"][0], 16) <= cursor for c in p)]
        assert checks and checks[0] < head_out
        assert len(asked) == 5  # head, chain id, reorg check; then the window and its end block's header
    finally:
        node.stop()


async def test_faults_same_rows(chain: tuple[Anvil, Workload], tmp_path: Path) -> None:
    """Errors, timeouts, 429/5xx, truncated bodies and range refusals mid-sync -> the clean rows."""
    node, w = chain
    clean, faulty = Store(tmp_path / "a.db"), Store(tmp_path / "b.db")
    assert (await sync(clean, evm_config(tmp_path / "a.db", "anvil", node.url, [w.token]), ["evm"])).status == "ok"
    proxy = FaultProxy(node.url, every=3, max_range=4)
    url = await proxy.start()
    try:
        cfg = evm_config(tmp_path / "b.db", "anvil", url, [w.token], window=32, max_window=64)
        res = await sync(faulty, cfg, ["evm"])
    finally:
        await proxy.stop()
    assert res.status == "ok", res.errors
    assert {k for k, v in proxy.counts.items() if v} >= set(FaultProxy.FAULTS) | {"range_refused"}
    q = "SELECT id, kind, src, dst, amount, decimals, time, block, tx, attrs FROM edges ORDER BY id"
    assert faulty.query(q) == clean.query(q)
    q = "SELECT chain, address, symbol, decimals, name, status FROM evm_tokens ORDER BY address"
    assert faulty.query(q) == clean.query(q)
    clean.close()
    faulty.close()


async def test_decoding_in_a_worker_process_gives_the_same_rows(chain: tuple[Anvil, Workload],
                                                                  tmp_path: Path) -> None:
    """Every answer parsed and decoded in Python in the worker process (garbled ones too) -> the chain
    exactly, and the same rows as the C scanner makes on the event loop."""
    node, w = chain
    proxy = FaultProxy(node.url, every=2, max_range=4, only="eth_getLogs")
    url = await proxy.start()
    db = tmp_path / "t.db"
    store = Store(db)
    try:
        cfg = evm_config(db, "anvil", url, tokens_of(w), window=32, max_window=64, decode_workers=1,
                         offload_bytes=0, native_decode=False)
        res, stats = await sync_stats(store, cfg)
    finally:
        await proxy.stop()
    assert res.status == "ok", res.errors
    assert stats["rpc_offloaded"] > 10
    assert proxy.counts["truncated"] > 0  # garbled getLogs bodies went through the worker, asked again
    assert_store_equals_chain(store, node.url, w.token)
    # The same chain decoded by the C scanner, on the event loop: the same rows.
    inline = Store(tmp_path / "inline.db")
    cfg = evm_config(tmp_path / "inline.db", "anvil", node.url, tokens_of(w), decode_workers=0)
    fast, stats = await sync_stats(inline, cfg)
    assert fast.status == "ok", fast.errors
    if fast_built():
        assert stats["rpc_decoded_fast"] > 0 and not stats["rpc_offloaded"]
    q = "SELECT id, kind, src, dst, amount, decimals, time, block, tx, attrs FROM edges ORDER BY id"
    assert store.query(q) == inline.query(q) and edges(store, "nft_transfer")  # ERC-721 kept apart too
    inline.close()
    store.close()


@pytest.mark.parametrize("native", [False, True])
async def test_ctrl_c_with_a_decode_worker_prints_one_line(chain: tuple[Anvil, Workload], tmp_path: Path,
                                                           native: bool) -> None:
    """Ctrl-C reaches the whole foreground process group, worker included: still one line, exit
    130, no traceback; the next run resumes to the chain exactly.  ``native=False``: the worker decodes
    every answer; True: the C decoder does, and the worker starts only for the first answers (their
    token's decimals are not known yet), so the Ctrl-C may reach it while it starts (it used to
    print "Fatal Python error: init_import_site")."""
    node, w = chain
    proxy = FaultProxy(node.url, every=10**9, max_range=10**9, latency=0.1)
    url = await proxy.start()
    db = tmp_path / "t.db"
    cfg = tmp_path / "evm.toml"
    cfg.write_text(toml_of(evm_config(db, "anvil", url, [w.token], window=4, max_window=4, concurrency=2,
                                      decode_workers=1, offload_bytes=0, native_decode=native)))
    try:
        child = await asyncio.create_subprocess_exec(
            TRACER, "--config", str(cfg), "sync", "evm", stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=cli_env(), start_new_session=True)
        for _ in range(300):  # until the worker has decoded a few answers (bounded: 30 s)
            if proxy.getlogs >= 4:
                break
            await asyncio.sleep(0.1)
        assert proxy.getlogs >= 4
        os.killpg(child.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        _, err_b = await asyncio.wait_for(child.communicate(), 60)
    finally:
        await proxy.stop()
    err = err_b.decode()
    assert child.returncode == 130, err
    # stderr is no terminal: the live view's per-stream lines (evm.<chain>_transfers ...), then one line
    lines = err.strip().splitlines()
    own = [ln for ln in lines if not ln.startswith("evm.")]
    assert "Traceback" not in err and own == [lines[-1]] and lines[-1].startswith("interrupted: "), err
    assert any(ln.startswith("evm.") and " interrupted: " in ln for ln in lines), err  # the stream says so
    cfg.write_text(cfg.read_text().replace(url, node.url))  # the proxy is gone: resume at the node
    r = await asyncio.to_thread(run_cli, ["-q", "--config", str(cfg), "sync", "evm"])
    assert r.returncode == 0, r.stderr
    store = Store(db)
    assert_store_equals_chain(store, node.url, w.token)
    store.close()


async def test_reorg_rewinds_to_canonical(tmp_path: Path) -> None:
    node = Anvil()
    try:
        w = setup_chain(node.url, node.accounts, with_nft=False)
        generate(node.url, node.accounts, w, 400, seed=1, per_block=50)
        snap = rpc(node.url, "evm_snapshot")
        generate(node.url, node.accounts, w, 300, seed=2, per_block=50)  # 6 blocks to be orphaned
        db = tmp_path / "t.db"
        store = Store(db)
        cfg = evm_config(db, "anvil", node.url, [w.token], reorg_depth=32)
        assert (await sync(store, cfg, ["evm"])).status == "ok"
        orphaned = {e["tx"] for e in edges(store)} - {lg["transactionHash"] for lg in chain_transfers(node.url, w.token)}
        assert not orphaned  # not orphaned yet
        before = {e["tx"] for e in edges(store)}
        assert rpc(node.url, "evm_revert", [snap]) is True
        generate(node.url, node.accounts, w, 350, seed=3, per_block=50)  # 7 different blocks, same heights
        res = await sync(store, cfg, ["evm"])
        assert res.status == "ok", res.errors
        now = {e["tx"] for e in edges(store)}
        assert before - now, "the orphaned transfers must be gone"
        assert_store_equals_chain(store, node.url, w.token)
        blocks = store.query("SELECT number, hash FROM evm_blocks WHERE chain='anvil'")
        for b in blocks:
            assert rpc(node.url, "eth_getBlockByNumber", [hex(b["number"]), False])["hash"] == b["hash"]
        store.close()
    finally:
        node.stop()


async def test_sanctions_oracle(chain: tuple[Anvil, Workload], tmp_path: Path) -> None:
    node, w = chain
    oracle = deploy(node.url, node.accounts[0], "TestOracle")
    target = w.recipients[0]
    Sender(node.url, node.accounts).send([(node.accounts[0], oracle, ORACLE_SET_SEL + addr_word(target)
                                           + "1".rjust(64, "0"))])
    db = tmp_path / "t.db"
    store = Store(db)
    cfg = evm_config(db, "anvil", node.url, [w.token], check_sanctions=True, sanctions_oracle=oracle)
    assert (await sync(store, cfg, ["evm"])).status == "ok"
    obs = store.query("SELECT * FROM observations WHERE predicate = 'sanctioned'")
    assert [o["subject"] for o in obs] == [f"wallet:evm:{target}"]
    assert obs[0]["value"] == "chainalysis-oracle" and obs[0]["source"] == f"chainalysis-oracle:anvil:{oracle}"
    store.close()


@pytest.mark.parametrize("broken", ["reverts", "no-code"])
async def test_oracle_failures_are_recorded_and_asked_again(chain: tuple[Anvil, Workload], tmp_path: Path,
                                                            caplog: pytest.LogCaptureFixture, broken: str) -> None:
    """An oracle call that fails at the block and at latest (a revert; an address without code, whose
    empty answer is no bool) is no "not sanctioned": one rejected_inputs row per wallet, a warning with
    the count, and the block range kept for the next run, which drops the rows once it gets answers."""
    node, w = chain
    oracle = "0x" + ("5a" if broken == "reverts" else "5b") * 20
    if broken == "reverts":
        rpc(node.url, "anvil_setCode", [oracle, "0x60006000fd"])  # PUSH1 0 PUSH1 0 REVERT: every call reverts
    db = tmp_path / "t.db"
    store = Store(db)
    cfg = evm_config(db, "anvil", node.url, [w.token], check_sanctions=True, sanctions_oracle=oracle)
    caplog.set_level(logging.WARNING, "tracer.evm")
    res = await sync(store, cfg, ["evm"])
    assert res.status == "ok", res.errors
    src = f"chainalysis-oracle:anvil:{oracle}"
    wallets = {e[k].split(":")[-1] for e in edges(store) for k in ("src", "dst")}
    rej = store.query("SELECT * FROM rejected_inputs WHERE context = ?", [src])
    assert sorted(json.loads(r["value"]) for r in rej) == sorted(wallets)
    assert all(r["stream"] == "evm.anvil_transfers" and r["raw_sha256"] for r in rej)
    why = "isSanctioned failed at block" if broken == "reverts" else "answered '0x', not one ABI bool"
    assert all(why in r["reason"] for r in rej), rej[0]["reason"]
    assert not store.query("SELECT * FROM observations WHERE predicate = 'sanctioned'")
    state = store.get_state("evm.anvil_transfers")
    assert state["sanctions_unchecked"] == len(wallets) and state["sanctions_from"] == -1
    assert f"{len(wallets)} of {len(wallets)} wallets not checked by the sanctions oracle" in caplog.text
    # The oracle works again (its code, and one listed wallet): the next run asks about the same wallets.
    good = deploy(node.url, node.accounts[0], "TestOracle")
    rpc(node.url, "anvil_setCode", [oracle, rpc(node.url, "eth_getCode", [good, "latest"])])
    target = w.recipients[1]
    Sender(node.url, node.accounts).send([(node.accounts[0], oracle, ORACLE_SET_SEL + addr_word(target)
                                           + "1".rjust(64, "0"))])
    res = await sync(store, cfg, ["evm"])
    assert res.status == "ok", res.errors
    assert not store.query("SELECT * FROM rejected_inputs WHERE context = ?", [src])
    obs = store.query("SELECT subject FROM observations WHERE predicate = 'sanctioned'")
    assert [o["subject"] for o in obs] == [f"wallet:evm:{target}"]
    state = store.get_state("evm.anvil_transfers")
    assert "sanctions_from" not in state and "sanctions_unchecked" not in state
    store.close()


async def test_wrong_chain_id_fails_with_one_line(chain: tuple[Anvil, Workload], tmp_path: Path) -> None:
    node, w = chain
    store = Store(tmp_path / "t.db")
    res = await sync(store, evm_config(tmp_path / "t.db", "anvil", node.url, [w.token], chain_id=1), ["evm"])
    assert res.status == "failed"
    assert res.errors == ["evm.anvil_transfers: evm chain anvil: the node at rpc_url is chain id 31337, "
                          "configured chain_id is 1"]
    assert store.count("edges") == 0
    store.close()


async def test_run_dies_midway_then_resumes_exactly(chain: tuple[Anvil, Workload], tmp_path: Path) -> None:
    """A run that dies after some windows keeps what it stored; the next run resumes at its cursor."""
    node, w = chain
    db = tmp_path / "t.db"
    store = Store(db)
    proxy = FaultProxy(node.url, every=10**9, max_range=10**9, fail_after=12)
    url = await proxy.start()
    try:
        res = await sync(store, evm_config(db, "anvil", url, [w.token], window=2, max_window=2, concurrency=1), ["evm"])
    finally:
        await proxy.stop()
    assert res.status == "failed" and "HTTP 401" in res.errors[0]
    partial = store.count("edges")
    cursor = store.get_state("evm.anvil_transfers")["cursor"]
    assert 0 < partial < N_TRANSFERS and cursor >= max(e["block"] for e in edges(store))
    res = await sync(store, evm_config(db, "anvil", node.url, [w.token]), ["evm"])
    assert res.status == "ok", res.errors
    assert_store_equals_chain(store, node.url, w.token)
    store.close()


async def test_an_answer_over_the_body_limit_is_split_like_a_refused_range(chain: tuple[Anvil, Workload],
                                                                           tmp_path: Path) -> None:
    """A window whose answer is larger than ``limits.max_body_bytes`` is cut into smaller ranges, as a
    node's "range too large" refusal is.  Before, the sync failed for good: an empty window sends the
    plan to the top rung, and if the blocks after it are dense, that window's answer passes the limit
    (found with 1-block first windows on the 200k-transfer bench chain: 126 MB against 32 MB), and a
    rerun resumed into the same window."""
    node, w = chain
    db = tmp_path / "t.db"
    cfg = evm_config(db, "anvil", node.url, tokens_of(w), window=64, max_window=64, target_logs=0)
    per_block = collections.Counter(lg["blockNumber"] for lg in chain_transfers(node.url, w.token))
    # ~650 bytes a log: a limit that two blocks' answers fit, far below a 64-block window's
    cfg["connectors"]["evm"]["limits"]["max_body_bytes"] = 2 * 1000 * max(per_block.values())
    store = Store(db)
    res, stats = await sync_stats(store, cfg)
    assert res.status == "ok", res.errors
    assert stats["splits"] > 0
    assert_store_equals_chain(store, node.url, w.token)
    store.close()


async def test_answers_before_their_tokens_decimals(chain: tuple[Anvil, Workload], tmp_path: Path) -> None:
    """The first answers come back before the tokens' metadata (slow batches): the C decoder makes their
    rows with the decimals unknown, and they are made again from the same bytes once the metadata is in
    (no worker process), so every stored row has the token's decimals."""
    if not fast_built():
        pytest.skip("the C fast path is not built here (no C compiler)")
    node, w = chain
    proxy = FaultProxy(node.url, every=10**9, max_range=10**9)
    proxy.slow_batches = 0.5
    url = await proxy.start()
    db = tmp_path / "t.db"
    store = Store(db)
    try:
        cfg = evm_config(db, "anvil", url, [w.token], window=16, max_window=16, decode_workers=1)
        res, st = await sync_stats(store, cfg)
    finally:
        await proxy.stop()
    assert res.status == "ok", res.errors
    assert st["rows_remade"] > 0 and st["rpc_decoded_fast"] > 0 and not st["rpc_offloaded"]
    assert {e["decimals"] for e in edges(store)} == {18}
    assert_store_equals_chain(store, node.url, w.token)
    store.close()
