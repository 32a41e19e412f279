"""Two data gaps the crash test found (issue 17), reproduced in-process.

- EVM: a run stopped after storing transfer pages but before its end-of-run ``check_sanctions``
  (here: the node fails, mid-walk or at the oracle) must not lose the check: the resumed run asks
  the oracle about the stored pages' wallets too, and ends with a clean run's ``sanctioned`` rows.
- Akash funding: the stub of an IBC funder whose id another chain owns (Injective ``inj1...`` ->
  ``wallet:evm:0x...``) carries the id's chain, and does not overwrite the owning connector's row
  (OFAC): whichever writes first, the stored row is the same, provenance included.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from connectors.addresses import _convertbits, bech32_encode
from connectors.akash.records import funding_records
from connectors.base import ENTITIES, Page, Record
from connectors.lists.ofac_addresses import SOURCE as OFAC_SOURCE
from tracer.demo import serve_parts
from tracer.pipeline import sync
from tracer.store import Store
from tracer.world import evm_address
from tracer.world.akash import akash_address
from tracer.world.evm import DemoChain, build_chains, demo_part

SANCTIONED = ("SELECT id, subject, predicate, value, attrs, source, raw_sha256 FROM observations "
              "WHERE predicate = 'sanctioned' ORDER BY id")


async def _sync_evm(db: Path, chains: dict[str, DemoChain], limits: dict[str, Any] | None = None,
                    **over: Any) -> str:
    """One EVM sync of the demo chains served on loopback (``limits``: HTTP limits to change, ``over``:
    chain settings); its status."""
    part = demo_part(chains)
    runner, base = await serve_parts([part])
    try:
        cc = part.config(f"{base}/{part.name}")["evm"]
        cc["limits"] = {**cc.get("limits", {}), **(limits or {})}
        for sec in cc["chains"].values():
            sec.update({"window": 5, "max_window": 5, "min_window": 5, "target_logs": 0, **over})
        store = Store(db)
        try:
            res = await sync(store, {"db": str(db), "connectors": {"evm": cc}}, ["evm"])
        finally:
            store.close()
        return str(res.status)
    finally:
        await runner.cleanup()


def _sanctioned(db: Path) -> list[dict[str, Any]]:
    store = Store(db)
    try:
        return store.query(SANCTIONED)
    finally:
        store.close()


@pytest.mark.parametrize("fail", ["mid_logs", "oracle"])
async def test_evm_sanctions_check_covers_pages_stored_before_a_resume(tmp_path: Path, fail: str) -> None:
    assert await _sync_evm(tmp_path / "clean.db", build_chains()) == "ok"
    clean = _sanctioned(tmp_path / "clean.db")
    assert len(clean) == 2

    chains = build_chains()
    eth = chains["ethereum"]
    answer = eth.answer
    # the walk stops after the blocks that pay the oracle's listed wallets (so they are stored)
    stop_at = max(n for n, logs in eth.logs.items() for lg in logs
                  if {"0x" + t[-40:] for t in lg["topics"][1:3]} & eth.sanctioned)
    assert stop_at + 5 < eth.head - eth.confirmations

    def failing(c: dict[str, Any]) -> dict[str, Any]:
        p = c.get("params") or []
        if fail == "mid_logs" and c.get("method") == "eth_getLogs" and int(p[0]["fromBlock"], 16) > stop_at:
            return {"jsonrpc": "2.0", "id": c.get("id"), "error": {"code": -32000, "message": "node down"}}
        if fail == "oracle" and c.get("method") == "eth_call" and str(p[0].get("data", "")).startswith("0xdf592f7d"):
            raise RuntimeError("node down")  # an HTTP 500: the batch fails (an error answer counts as "no")
        return answer(c)

    eth.answer = failing  # type: ignore[method-assign]
    db = tmp_path / "resumed.db"
    # The failure is permanent: retried at once, not with the default backoff (6 tries, 0.5 s
    # doubling with jitter: 8-24 s of this test in the suite).
    assert await _sync_evm(db, chains, {"max_retries": 1, "backoff_base": 0.01, "backoff_max": 0.02},
                           rpc_retries=0) != "ok"
    eth.answer = answer  # type: ignore[method-assign]
    assert await _sync_evm(db, chains) == "ok"
    assert _sanctioned(db) == clean
    store = Store(db)
    try:
        assert "sanctions_from" not in store.get_state("evm.ethereum_transfers")
    finally:
        store.close()


AT = "2026-04-17T00:00:00Z"
EVM = evm_address("listed-funder-1")
TENANT = akash_address("listed-renter-1")


def _ibc_tx(sender: str) -> dict[str, Any]:
    data = {"denom": "uusdc", "amount": "5", "sender": sender, "receiver": TENANT}
    packet = {"source_port": "transfer", "source_channel": "channel-122", "destination_port": "transfer",
              "destination_channel": "channel-35", "data": base64.b64encode(json.dumps(data).encode()).decode()}
    return {"code": 0, "txhash": "AB" * 32, "height": "100", "timestamp": AT,
            "tx": {"body": {"messages": [{"@type": "/ibc.core.channel.v1.MsgRecvPacket", "packet": packet}]}}}


def _funder_rows(sender: str) -> list[dict[str, Any]]:
    recs = list(funding_records(_ibc_tx(sender), {TENANT}, AT))
    (e,) = [r for r in recs if r.table == "edges"]
    return [dict(r.row) for r in recs if r.table == "entities" and r.row["id"] == e.row["src"]]


def test_akash_ibc_funder_stub_takes_the_chain_of_its_id() -> None:
    inj = bech32_encode("inj", _convertbits(bytes.fromhex(EVM[2:]), 8, 5, True))
    (row,) = _funder_rows(inj)
    assert (row["id"], row["kind"], row["chain"], row["address"]) == (f"wallet:evm:{EVM}", "wallet", "evm", EVM)
    osmo = bech32_encode("osmo", _convertbits(bytes.fromhex(EVM[2:]), 8, 5, True))
    (row,) = _funder_rows(osmo)
    assert (row["id"], row["chain"]) == (f"wallet:osmosis:{osmo}", "osmosis")


def test_akash_funder_stub_never_overwrites_the_owners_row() -> None:
    inj = bech32_encode("inj", _convertbits(bytes.fromhex(EVM[2:]), 8, 5, True))
    (stub,) = _funder_rows(inj)
    owner = {"id": f"wallet:evm:{EVM}", "kind": "wallet", "chain": "evm", "address": EVM, "source": OFAC_SOURCE,
             "first_seen": AT, "last_seen": AT}

    def page(body: bytes) -> Page:
        return Page(body=body, url="http://x/y", method="GET", data=None, state=None, fetched_at=AT)

    rows = []
    for order in ((owner, stub), (stub, owner)):
        store = Store(":memory:")
        store.ensure_tables([ENTITIES])
        for i, r in enumerate(order):
            store.write_page("s", page(b"ofac" if r is owner else b"akash"), [Record("entities", r)], f"r{i}")
        rows.append(store.query("SELECT id, kind, chain, address, label, attrs, source, first_seen, last_seen, "
                                "raw_sha256 FROM entities"))
        store.close()
    assert rows[0] == rows[1]
    assert rows[0][0]["source"] == OFAC_SOURCE and rows[0][0]["chain"] == "evm"
