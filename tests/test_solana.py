"""Solana SPL transfers (jsonParsed getTransaction, shaped per the Solana RPC docs) and Nosana
job/market accounts, replayed by loopback JSON-RPC nodes."""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path

import base58
import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st
from markets_support import attrs, data, routes_part, rows, run

from connectors import facts
from connectors.base import EDGES, ENTITIES, OBSERVATIONS, Page, Record
from connectors.solana import nosana as nos
from connectors.solana.config import MINTS, NOSANA_PROGRAM, NOSANA_RTX4090_MARKET
from connectors.solana.connector import SolanaConnector, spl_transfers, transfer_records
from tracer.store import Store
from tracer.world.markets import (
    ACTORS,
    SolanaNode,
    demo_part,
    nosana_accounts,
    solana_transactions,
    spl_transaction,
    token_account,
)

USDC, NOS = MINTS["USDC"], MINTS["NOS"]
# Incoming tokens land in the owner's token account, so that is the address to follow for them.
PROJECT_USDC = token_account(ACTORS["nosana-project"], USDC)


def _tx(name: str) -> dict:
    return json.loads(data(name))["result"]


def test_transfer_checked_owner_resolved_and_ata_setup_ignored() -> None:
    tx = _tx("solana_getTransaction_transferChecked.json")
    out = spl_transfers(tx)
    assert len(out) == 1
    r = out[0]
    keys = [k["pubkey"] for k in tx["transaction"]["message"]["accountKeys"]]
    assert (r["ix_path"], r["transfer_type"], r["mint"], r["value"], r["decimals"]) == ("3", "transferChecked", USDC,
                                                                                          "12500000010", 6)
    assert (r["source_owner"], r["destination_owner"]) == (keys[0], keys[3])  # payer -> receiver (not token accounts)
    assert r["block_slot"] == 298765432 and r["block_timestamp"] == "2024-11-05T13:12:25Z"
    assert spl_transfers(tx, {NOS}) == []


def test_cpi_plain_transfer_takes_mint_and_owners_from_balances() -> None:
    tx = _tx("solana_getTransaction_cpi_transfer.json")
    [r] = spl_transfers(tx, {NOS})
    bal = {b["accountIndex"]: b["owner"] for b in tx["meta"]["postTokenBalances"]}
    assert (r["ix_path"], r["transfer_type"], r["mint"], r["value"], r["decimals"]) == ("0.0", "transfer", NOS, "18000", 6)
    assert (r["source_owner"], r["destination_owner"]) == (bal[1], bal[2])
    assert r["owner_resolution"] == "balances/balances"


def test_failed_transaction_moves_nothing() -> None:
    assert spl_transfers(_tx("solana_getTransaction_failed.json")) == []


def _replay_node(calls: list[tuple[str, list]]) -> object:
    sigs = json.loads(data("solana_getSignaturesForAddress_usdc.json"))["result"]
    txs = {_tx(n)["transaction"]["signatures"][0]: _tx(n) for n in
           ("solana_getTransaction_transferChecked.json", "solana_getTransaction_failed.json")}

    async def rpc(request: web.Request) -> web.Response:
        body = await request.json()
        out = []
        for r in body if isinstance(body, list) else [body]:
            calls.append((r["method"], r["params"]))
            if r["method"] == "getSignaturesForAddress":
                res = sigs if r["params"][0] == USDC and "before" not in r["params"][1] else []
            else:
                assert r["params"][1] == {"encoding": "jsonParsed", "commitment": "finalized",
                                          "maxSupportedTransactionVersion": 0}
                res = txs[r["params"][0]]
            out.append({"jsonrpc": "2.0", "id": r["id"], "result": res})
        return web.json_response(out if isinstance(body, list) else out[0])
    return routes_part("sol", [web.post("/", rpc)], lambda base: {"solana": {
        "rpc_url": base + "/", "mints": {"USDC": USDC}, "skip_walking": [], "limits": {"rate": 0, "max_retries": 0}}})


async def test_replayed_rpc_to_paid_edges(tmp_path: Path) -> None:
    calls: list[tuple[str, list]] = []
    store, res = await run(_replay_node(calls), tmp_path, ["solana"])  # type: ignore[arg-type]
    assert res.status == "ok", res.errors
    assert store.count("solana_signatures") == 2
    # The failed signature is never fetched; the one transfer becomes one paid edge between owners.
    assert [c[1][0] for c in calls if c[0] == "getTransaction"] == [_tx("solana_getTransaction_transferChecked.json")[
        "transaction"]["signatures"][0]]
    [e] = rows(store, "SELECT * FROM edges WHERE kind='paid'")
    assert (e["asset"], e["amount"], e["decimals"], e["chain"]) == (f"token:solana:{USDC}", "12500000010", 6, "solana")
    assert e["src"].startswith("wallet:solana:") and attrs(e)["type"] == "transferChecked"
    state = rows(store, "SELECT state FROM stream_state WHERE stream='solana.transfers'")[0]["state"]
    assert json.loads(state)["newest"][USDC] == json.loads(data("solana_getSignaturesForAddress_usdc.json"))["result"][0]["signature"]


def _world_part(node: SolanaNode, fail_after: list[int] | None = None) -> object:
    async def rpc(request: web.Request) -> web.Response:
        body = await request.json()
        if fail_after is not None and any(r["method"] == "getTransaction" for r in (body if isinstance(body, list) else [body])):
            fail_after[0] -= 1
            if fail_after[0] < 0:
                return web.Response(status=503)
        reqs = body if isinstance(body, list) else [body]
        out = [{"jsonrpc": "2.0", "id": r["id"], "result": node.call(r["method"], r["params"])} for r in reqs]
        return web.json_response(out if isinstance(body, list) else out[0])
    return routes_part("sol", [web.post("/", rpc)], lambda base: {"solana": {
        "rpc_url": base + "/", "page_size": 2, "batch_size": 1, "addresses": [PROJECT_USDC],
        "limits": {"rate": 0, "max_retries": 0}}})


def _transfers(store) -> set[tuple]:  # type: ignore[no-untyped-def]
    return {(r["tx_signature"], r["ix_path"], r["value"]) for r in rows(store, "SELECT * FROM solana_token_transfers")}


async def test_paging_incremental_and_resume_after_failure(tmp_path: Path) -> None:
    txs = solana_transactions() + [
        spl_transaction(f"usdc-{i}", 290_000_600 + i, [{"src": ACTORS["funder-usdc"], "dst": ACTORS["nosana-project"],
                                                        "mint": USDC, "amount": 1000 + i}]) for i in range(3)]
    # One uninterrupted walk over the project's USDC account (paged 2 signatures at a time).
    full, res = await run(_world_part(SolanaNode(txs, [])), tmp_path / "a", ["solana"])  # type: ignore[arg-type]
    assert res.status == "ok", res.errors
    want = _transfers(full)
    assert len(want) == 4 and full.count("solana_signatures") == 5  # 4 USDC in, 1 failed (never fetched)
    # A walk that dies after one transaction batch, then resumes: same rows, no refetch of the head.
    (tmp_path / "b").mkdir()
    budget = [1]
    st, res = await run(_world_part(SolanaNode(txs, []), budget), tmp_path / "b", ["solana"])  # type: ignore[arg-type]
    assert res.status == "failed" and len(_transfers(st)) == 1
    pending = json.loads(rows(st, "SELECT state FROM stream_state")[0]["state"])["pending"]
    assert pending[PROJECT_USDC]["before"]
    node = SolanaNode(txs, [])
    st, res = await run(_world_part(node), tmp_path / "b", ["solana"], store=st)  # type: ignore[arg-type]
    assert res.status == "ok", res.errors
    assert _transfers(st) == want
    assert node.calls.count("getTransaction") == 3  # only the transactions not fetched before the failure
    # Incremental: a new transfer arrives; the next run asks only for signatures newer than the cursor.
    newer = spl_transaction("late-usdc", 290_000_900, [{"src": ACTORS["funder-usdc"], "dst": ACTORS["nosana-project"],
                                                        "mint": USDC, "amount": 42}])
    node = SolanaNode([*txs, newer], [])
    st, res = await run(_world_part(node), tmp_path / "b", ["solana"], store=st)  # type: ignore[arg-type]
    assert res.status == "ok", res.errors
    assert node.calls.count("getTransaction") == 1
    assert len(_transfers(st)) == 5


def _job_bytes(market: str, node: str, payer: str, project: str, price: int, state: int, t_end: int, t_start: int,
               timeout: int | None) -> bytes:
    """A JobAccount written by hand at the Borsh-packed offsets (independent of nosana.encode)."""
    b = bytes.fromhex("5b10a2052dd27d41") + b"\x01" * 32 + b"\x00" * 32
    b += base58.b58decode(market) + base58.b58decode(node) + base58.b58decode(payer)
    b += struct.pack("<Q", price) + base58.b58decode(project) + struct.pack("<B", state)
    b += struct.pack("<qq", t_end, t_start) + (struct.pack("<q", timeout) if timeout is not None else b"")
    return b + b"\x00" * 7  # Anchor allocates 8 + size_of::<JobAccount>() (aligned) bytes


def test_job_layout_offsets_and_payment() -> None:
    a = ACTORS
    raw = _job_bytes(NOSANA_RTX4090_MARKET, a["nosana-node-4090"], a["render-operator"], a["nosana-project"], 7, 2,
                     1_000_900, 1_000_000, 600)
    assert raw[72:104] == base58.b58decode(NOSANA_RTX4090_MARKET)  # the memcmp offset the stream filters on
    j = nos.decode(nos.JOB_LAYOUT, raw, "JobAccount")
    assert (j["market"], j["node"], j["payer"], j["project"]) == (NOSANA_RTX4090_MARKET, a["nosana-node-4090"],
                                                                  a["render-operator"], a["nosana-project"])
    assert (j["price"], j["state"], j["time_end"], j["time_start"], j["timeout"]) == (7, 2, 1_000_900, 1_000_000, 600)
    assert nos.job_payment(j) == 7 * 600  # ran 900 s, capped at the 600 s timeout
    assert nos.ipfs_cid(j["ipfs_job"]).startswith("Qm") and nos.ipfs_cid(j["ipfs_result"]) is None
    old = nos.decode(nos.JOB_LAYOUT, _job_bytes(NOSANA_RTX4090_MARKET, a["nosana-node-4090"], a["render-operator"],
                                                a["nosana-project"], 5, 2, 9, 1, None)[:-7], "JobAccount")
    assert old["timeout"] is None and nos.job_payment(old) == 5
    assert nos.job_payment({**j, "state": 1}) is None
    assert nos.JOB_DISC.hex() == "5b10a2052dd27d41" and nos.MARKET_DISC.hex() == "c94ebbe1f0c6c9fb"


def test_market_layout_u128_and_queue() -> None:
    q = [ACTORS["nosana-node-4090"], ACTORS["io-rewards"]]
    raw = (bytes.fromhex("c94ebbe1f0c6c9fb") + base58.b58decode(ACTORS["treasury-nos"]) + struct.pack("<qQq", 86400, 10, 7200)
           + b"\x04" + base58.b58decode(ACTORS["funder-usdc"]) + b"\xfe" + base58.b58decode(ACTORS["render-emitter"])
           + (10**20).to_bytes(16, "little") + b"\x01" + struct.pack("<I", 2) + b"".join(base58.b58decode(x) for x in q))
    m = nos.decode(nos.MARKET_LAYOUT, raw + b"\x00" * 64, "MarketAccount")
    assert (m["job_price"], m["job_timeout"], m["job_type"], m["vault_bump"]) == (10, 7200, 4, 254)
    assert m["node_xnos_minimum"] == 10**20 and m["queue_type"] == 1 and m["queue"] == q
    with pytest.raises(Exception, match="claims"):
        nos.decode(nos.MARKET_LAYOUT, raw[:-40], "MarketAccount")


async def test_nosana_jobs_from_program_accounts(tmp_path: Path) -> None:
    part = demo_part(real_vast=False)
    store, res = await run(part, tmp_path, ["nosana"])
    assert res.status == "ok", res.errors
    # Only jobs of the configured (RTX 4090) market are fetched: memcmp on JobAccount.market.
    jobs = {r["state_name"]: r for r in rows(store, "SELECT * FROM nosana_jobs")}
    assert set(jobs) == {"done", "running"} and all(j["gpu_id"] == "rtx-4090" for j in jobs.values())
    project, node = ACTORS["nosana-project"], ACTORS["nosana-node-4090"]
    [paid] = rows(store, "SELECT * FROM edges WHERE kind='paid'")
    assert (paid["src"], paid["dst"], paid["amount"], paid["decimals"], paid["asset"]) == (
        f"wallet:solana:{project}", f"wallet:solana:{node}", "18000", 6, f"token:solana:{NOS}")
    kinds = sorted(r["kind"] for r in rows(store, "SELECT kind FROM edges"))
    assert kinds == ["leased_from", "leased_from", "paid", "payout_to", "rented", "rented", "uses_gpu", "uses_gpu"]
    [m] = rows(store, "SELECT * FROM nosana_markets")
    assert m["address"] == NOSANA_RTX4090_MARKET and m["gpu_id"] == "rtx-4090" and m["queue_len"] == 1
    assert rows(store, "SELECT value FROM observations WHERE subject=?", [f"wallet:solana:{project}"])[0]["value"] == "renter"
    assert len(nosana_accounts()) == 4


def test_gpa_item_shape() -> None:
    item = nosana_accounts()[1]
    assert item["account"]["owner"] == NOSANA_PROGRAM and item["account"]["data"][1] == "base64"
    assert len(base64.b64decode(item["account"]["data"][0])) == item["account"]["space"] == 240


async def test_bounded_walk_continues_backwards_next_run(tmp_path: Path) -> None:
    txs = solana_transactions() + [
        spl_transaction(f"usdc-{i}", 290_000_600 + i, [{"src": ACTORS["funder-usdc"], "dst": ACTORS["nosana-project"],
                                                        "mint": USDC, "amount": 1000 + i}]) for i in range(3)]
    node = SolanaNode(txs, [])
    part = _world_part(node)
    over = {"solana": {"max_signatures": 2, "batch_size": 5}}
    st, res = await run(part, tmp_path, ["solana"], over)  # type: ignore[arg-type]
    assert res.status == "ok" and len(_transfers(st)) == 2  # the two newest only
    state = json.loads(rows(st, "SELECT state FROM stream_state")[0]["state"])
    assert PROJECT_USDC not in state["newest"] and state["pending"][PROJECT_USDC]["before"]
    for _ in range(3):
        st, res = await run(part, tmp_path, ["solana"], over, store=st)  # type: ignore[arg-type]
        assert res.status == "ok", res.errors
    assert len(_transfers(st)) == 4
    state = json.loads(rows(st, "SELECT state FROM stream_state")[0]["state"])
    newest_sig = max(txs, key=lambda t: t["slot"] if PROJECT_USDC in str(t) else 0)["transaction"]["signatures"][0]
    assert state["newest"][PROJECT_USDC] == newest_sig and not state["pending"]
    assert node.calls.count("getTransaction") == 4  # each successful transaction fetched exactly once


async def test_nosana_all_markets(tmp_path: Path) -> None:
    store, res = await run(demo_part(real_vast=False), tmp_path, ["nosana"], {"nosana": {"all_markets": True}})
    assert res.status == "ok", res.errors
    jobs = {r["address"]: r for r in rows(store, "SELECT * FROM nosana_jobs")}
    assert len(jobs) == 3
    other = [j for j in jobs.values() if j["market"] != NOSANA_RTX4090_MARKET]
    assert len(other) == 1 and other[0]["gpu_id"] is None and other[0]["paid"] == str(2 * 60)
    assert len(rows(store, "SELECT * FROM edges WHERE kind='uses_gpu'")) == 2  # no GPU class for the other market


_key = st.binary(min_size=32, max_size=32).map(lambda b: base58.b58encode(b).decode())


@settings(max_examples=60, deadline=None)
@given(market=_key, node=_key, payer=_key, project=_key, price=st.integers(0, 2**64 - 1),
       state=st.integers(0, 3), t_end=st.integers(-(2**63), 2**63 - 1), t_start=st.integers(-(2**63), 2**63 - 1),
       timeout=st.integers(-(2**63), 2**63 - 1))
def test_job_roundtrip_full_ranges(market: str, node: str, payer: str, project: str, price: int, state: int,
                                   t_end: int, t_start: int, timeout: int) -> None:
    vals = {"market": market, "node": node, "payer": payer, "project": project, "price": price, "state": state,
            "time_end": t_end, "time_start": t_start, "timeout": timeout, "ipfs_job": b"\x07" * 32, "ipfs_result": b""}
    j = nos.decode(nos.JOB_LAYOUT, nos.encode(nos.JOB_LAYOUT, vals, nos.JOB_DISC, 240), "JobAccount")
    assert {k: j[k] for k in vals if k not in ("ipfs_job", "ipfs_result")} == {
        k: v for k, v in vals.items() if k not in ("ipfs_job", "ipfs_result")}
    # Paid only for a finished job (state 2) run by a node: the price per second times the seconds it
    # ran (end - start, none when the end is before the start), at most the timeout (none when negative).
    ran = max(0, t_end - t_start)
    billed = max(0, min(ran, timeout))
    expected = price * billed if state == 2 and node != nos.SYSTEM_PROGRAM else None
    paid = nos.job_payment(j)
    assert paid == expected and (paid is None or isinstance(paid, int))


def test_burn_and_mint_rows_without_edges() -> None:
    from connectors.solana.connector import transfer_records
    tx = _tx("solana_getTransaction_transferChecked.json")
    keys = [k["pubkey"] for k in tx["transaction"]["message"]["accountKeys"]]
    tk = tx["transaction"]["message"]["instructions"][3]["programId"]
    tx["transaction"]["message"]["instructions"] += [
        {"parsed": {"info": {"account": keys[1], "authority": keys[0], "mint": USDC,
                             "tokenAmount": {"amount": "5", "decimals": 6, "uiAmount": 5e-06, "uiAmountString": "0.000005"}},
                    "type": "burnChecked"}, "program": "spl-token", "programId": tk, "stackHeight": None},
        {"parsed": {"info": {"account": keys[2], "amount": "7", "mint": USDC, "mintAuthority": keys[3]},
                    "type": "mintTo"}, "program": "spl-token", "programId": tk, "stackHeight": None}]
    out = {r["transfer_type"]: r for r in spl_transfers(tx)}
    assert set(out) == {"transferChecked", "burnChecked", "mintTo"}
    burn, mint = out["burnChecked"], out["mintTo"]
    assert (burn["source_owner"], burn["destination"], burn["value"], burn["ix_path"]) == (keys[0], None, "5", "4")
    assert (mint["source"], mint["destination_owner"], mint["value"], mint["decimals"]) == (None, keys[3], "7", 6)
    for r in (burn, mint):
        recs = list(transfer_records(r))
        assert [x.table for x in recs] == ["solana_token_transfers", "entities"]
    assert [x.table for x in transfer_records(out["transferChecked"])][-1] == "edges"


def _write(store: Store, stream: str, records: list[Record], at: str) -> None:
    """One page of ``records`` through the store's real write path."""
    run_id = store.start_run("test", at)
    store.write_page(stream, Page(f"{stream}@{at}".encode(), stream, "GET", None, None, fetched_at=at), records, run_id)


def test_a_solana_or_nosana_wallet_row_keeps_a_label_another_source_gave(tmp_path: Path) -> None:
    """A transfer or job touching a wallet must not blank the label a tag list gave it (re-sync included)."""
    tx = _tx("solana_getTransaction_transferChecked.json")
    [row] = spl_transfers(tx)
    a = ACTORS
    jobs = nos.JobsStream({"rpc_url": "http://node", "program_id": NOSANA_PROGRAM,
                           "markets": {NOSANA_RTX4090_MARKET: "rtx-4090"}, "nos_mint": NOS})
    job = nos.decode(nos.JOB_LAYOUT, _job_bytes(NOSANA_RTX4090_MARKET, a["nosana-node-4090"], a["render-operator"],
                                                a["nosana-project"], 7, 2, 1_000_900, 1_000_000, 600), "JobAccount")
    touched = {"solana.transfers": (row["source_owner"], list(transfer_records(row))),
               "nosana.jobs": (a["nosana-node-4090"], list(jobs._job("JobAcct1111", job, "2024-11-05T13:12:25Z")))}
    for stream, (wallet, records) in touched.items():
        store = Store(tmp_path / f"{stream}.db")
        store.ensure_tables([ENTITIES, EDGES, OBSERVATIONS, *SolanaConnector().streams(
            SolanaConnector().default_config())[0].tables, *jobs.tables])
        wid = f"wallet:solana:{wallet}"
        _write(store, "tags.test", [facts.wallet_of(wid, "tags-test", "2024-01-01T00:00:00Z", label="Exchange hot wallet",
                                                    attrs={"category": "exchange"})], "2024-01-01T00:00:00Z")
        for at in ("2024-11-05T13:12:26Z", "2024-11-06T00:00:00Z"):  # first sync and a re-sync
            _write(store, stream, records, at)
        [ent] = rows(store, "SELECT * FROM entities WHERE id=?", [wid])
        assert (ent["label"], attrs(ent)) == ("Exchange hot wallet", {"category": "exchange"}), stream
        assert (ent["kind"], ent["chain"], ent["address"]) == ("wallet", "solana", wallet), stream
        store.close()
