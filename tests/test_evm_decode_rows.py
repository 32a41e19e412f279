"""Edge rows made by the decoder (issue 16) equal the rows the connector makes from Transfer tuples.

Why: ``decode_edge_rows`` builds the ``edges`` rows in the same pass that decodes the logs (in the
decode worker for big answers); the connector's ``_transfer_records`` still builds them from Transfer
tuples when the decoder cannot (a block's time missing from its logs, a token's decimals not yet
known).  Whichever path a page takes, the stored rows must be the same, to the character.
"""

from __future__ import annotations

import pickle
from typing import Any

import orjson
import pytest

from connectors import ids
from connectors.base import Rows
from connectors.evm.connector import TransfersStream
from connectors.evm.decode import (
    TRANSFER_TOPIC,
    EdgeSpec,
    LogsAnswer,
    decode_edge_rows,
    decode_logs_answer,
    iso_time,
)

A = "0x" + "00" * 12 + "11" * 20
B = "0x" + "00" * 12 + "2A" * 20
TOKEN = "0xAbC0000000000000000000000000000000000001"
NFT = "0xdef0000000000000000000000000000000000002"


def log(block: int, li: int, topics: list[str], data: str, address: str = TOKEN, **kw: Any) -> dict[str, Any]:
    return {"address": address, "topics": topics, "data": data, "blockNumber": hex(block),
            "blockHash": "0x" + f"{block:02x}" * 32, "transactionHash": "0x" + f"{li:02x}" * 32,
            "logIndex": hex(li), "blockTimestamp": hex(1_700_000_000 + block), **kw}


def answer(logs: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": 1, "result": logs})


def spec(decimals: dict[str, int | None]) -> EdgeSpec:
    return EdgeSpec("eth", "evm:eth", ids.prefix("token", "eth"), ids.prefix("wallet", "evm"),
                    ids.evm_transfer_edge_prefix, decimals)


def sample() -> list[dict[str, Any]]:
    big = "0x" + "ff" * 32  # 2**256 - 1: exact, as decimal text
    return [log(7, 0, [TRANSFER_TOPIC, A, B], big),
            log(7, 1, [TRANSFER_TOPIC, B, A], "0x" + "00" * 31 + "05"),
            log(7, 2, [TRANSFER_TOPIC, A, B, "0x" + "00" * 31 + "09"], "0x", address=NFT),  # ERC-721
            log(7, 3, [TRANSFER_TOPIC], "0x" + "00" * 96),  # malformed
            log(7, 4, [TRANSFER_TOPIC, A, B], big, removed=True),  # not canonical
            log(9, 12, [TRANSFER_TOPIC, B, B], "0x" + "00" * 31 + "01")]


def via_transfers(body: bytes, decimals: dict[str, int | None]) -> list[tuple[Any, ...]]:
    """The rows ``transform`` makes from Transfer tuples (the path before issue 16)."""
    _, (transfers, _, _, stamps) = decode_logs_answer(body, plain=True)
    stream = TransfersStream("eth", {"tokens": "all"})
    data = {"transfers": transfers, "times": {b: iso_time(ts) for b, ts in stamps.items()}, "decimals": decimals}
    return [r for out in stream._transfer_records(data) if isinstance(out, Rows) for r in out.rows]


def test_decoded_rows_equal_the_transform_of_the_transfers() -> None:
    body = answer(sample())
    decs = {TOKEN.lower(): 6}
    status, got = decode_edge_rows(spec(decs), body)
    assert status == "ok" and isinstance(got, LogsAnswer) and got.transfers is None
    assert got.rows == via_transfers(body, decs)
    assert got.rows[0][6] == str(2**256 - 1) and got.rows[0][7] == 6  # exact amount, the token's decimals
    assert got.rows[2][1] == "nft_transfer" and got.rows[2][6] is None
    assert got.malformed == 1 and got.logs == 6 and got.contracts == frozenset({TOKEN.lower()})
    assert got.hashes == {7: "0x" + "07" * 32, 9: "0x" + "09" * 32} and got.twice is None
    assert got.decimals == decs
    # what the worker sends back is what it made
    assert pickle.loads(pickle.dumps(got)) == got


@pytest.mark.parametrize("case", ["no decimals yet", "no block time"])
def test_without_what_a_row_needs_the_transfers_come_back(case: str) -> None:
    logs = sample()
    if case == "no block time":
        del logs[1]["blockTimestamp"]  # one log of block 7 without it: the block's header gives its time
    status, got = decode_edge_rows(spec({} if case == "no decimals yet" else {TOKEN.lower(): 6}), answer(logs))
    assert status == "ok" and got.rows is None
    assert got.transfers == decode_logs_answer(answer(logs), plain=True)[1][0]
    assert got.stamps[7] == (None if case == "no block time" else 1_700_000_007)


def test_two_hashes_for_one_block_are_reported() -> None:
    logs = sample()
    logs[1]["blockHash"] = "0x" + "ee" * 32
    assert decode_edge_rows(spec({TOKEN.lower(): 6}), answer(logs))[1].twice == 7


def test_answers_that_are_not_logs_keep_their_status() -> None:
    s = spec({})
    assert decode_edge_rows(s, b"{")[0] == "invalid"
    assert decode_edge_rows(s, b"[1]")[0] == "not-rpc"
    assert decode_edge_rows(s, b'{"jsonrpc": "2.0", "id": 1, "result": null}')[1].result == "NoneType"
    err = {"code": -32000, "message": "query returned more than 10000 results"}
    assert decode_edge_rows(s, orjson.dumps({"jsonrpc": "2.0", "id": 1, "error": err})) == ("error", err)
