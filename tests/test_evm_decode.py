"""Pure parts of the EVM connector: log classification, ABI strings, provider refusals, config."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.base import ConfigError, records_of
from connectors.evm.connector import EvmConnector, chain_settings, rewind_deletes
from connectors.evm.decode import (
    TRANSFER_TOPIC,
    classify,
    decode_logs_answer,
    decode_string,
    decode_transfers,
)
from connectors.evm.rpc import WindowPlan, Windows, parse_answer, range_error
from connectors.http import HttpError, JsonRpcError

A = "0x" + "00" * 12 + "11" * 20
B = "0x" + "00" * 12 + "22" * 20


def log(topics: list[str], data: str, **kw: str) -> dict[str, object]:
    return {"address": "0xAbC0000000000000000000000000000000000001", "topics": topics, "data": data,
            "blockNumber": "0x10", "blockHash": "0x" + "ab" * 32, "transactionHash": "0x" + "cd" * 32,
            "logIndex": "0x3", **kw}


def test_classify_keeps_erc721_apart_and_rejects_other_layouts() -> None:
    word = "0x" + "00" * 31 + "05"
    assert classify(log([TRANSFER_TOPIC, A, B], word)) == "erc20"
    assert classify(log([TRANSFER_TOPIC, A, B, word], "0x")) == "erc721"
    assert classify(log([TRANSFER_TOPIC], "0x" + "00" * 96)) == "malformed"  # nothing indexed
    assert classify(log([TRANSFER_TOPIC, A, B], word + "00" * 32)) == "malformed"  # extra data
    assert classify(log([TRANSFER_TOPIC, A, B, word], word)) == "malformed"
    assert classify(log(["0x" + "11" * 32, A, B], word)) == "other"


def test_decode_exact_uint256_and_removed_and_bad_address_topics() -> None:
    big = 2**256 - 1
    ts, bad = decode_transfers([log([TRANSFER_TOPIC, A, B], "0x" + "ff" * 32),
                                log([TRANSFER_TOPIC, A, B], "0x" + "00" * 32, removed=True),  # type: ignore[arg-type]
                                log([TRANSFER_TOPIC, "0x" + "ff" * 32, B], "0x" + "00" * 32)])
    assert [t.value for t in ts] == [big] and ts[0].src == "0x" + "11" * 20 and ts[0].log_index == 3
    assert ts[0].contract == "0xabc0000000000000000000000000000000000001"
    assert bad == 1  # the non-address topic; a removed log is not malformed, just not canonical


def test_the_worker_decoding_equals_the_inline_one() -> None:
    import orjson

    logs = [log([TRANSFER_TOPIC, A, B], "0x" + "00" * 31 + f"{i:02x}", logIndex=hex(i)) for i in range(5)]
    logs.append(log([TRANSFER_TOPIC, A, B, "0x" + "00" * 31 + "07"], "0x"))  # ERC-721
    logs.append(log([TRANSFER_TOPIC], "0x" + "00" * 96))  # malformed
    body = orjson.dumps({"jsonrpc": "2.0", "id": 1, "result": logs})
    named, bad = decode_transfers(logs)
    st, (plain, bad2, n, stamps) = decode_logs_answer(body, plain=True)
    assert st == "ok" and n == 7 and bad == bad2 == 1 and len(named) == 6
    assert [type(t) for t in plain] == [tuple] * 6 and plain == [tuple(t) for t in named]
    assert pickle.loads(pickle.dumps(plain)) == plain
    assert decode_logs_answer(body[:50])[0] == "invalid"  # a truncated body: asked again by the caller
    assert decode_logs_answer(b"[1, 2]")[0] == decode_logs_answer(b'{"id": 1}')[0] == "not-rpc"  # given up
    assert [parse_answer(b)[0] for b in (b'{"result": 5}', b'{"result": 5', b"[]", b'{"error": {"code": 1}}')] \
        == ["ok", "invalid", "not-rpc", "error"]
    err = {"code": -32005, "message": "query returned more than 10000 results"}
    assert decode_logs_answer(orjson.dumps({"jsonrpc": "2.0", "id": 1, "error": err})) == ("error", err)
    assert decode_logs_answer(b'{"jsonrpc": "2.0", "id": 1, "result": null}') == ("ok", (None, 0, "NoneType", {}))
    assert stamps == {16: None}  # these logs carry no blockTimestamp: the header is fetched


_WORD = st.integers(0, 2**256 - 1).map(lambda n: "0x" + f"{n:064x}")
_ADDR_TOPIC = st.integers(0, 2**160 - 1).map(lambda n: "0x" + "00" * 12 + f"{n:040x}")
_LOG = st.fixed_dictionaries({
    "topics": st.one_of(
        st.tuples(st.just(TRANSFER_TOPIC), _ADDR_TOPIC, _ADDR_TOPIC).map(list),
        st.tuples(st.just(TRANSFER_TOPIC), _ADDR_TOPIC, _ADDR_TOPIC, _WORD).map(list),
        st.tuples(st.just(TRANSFER_TOPIC), st.integers(2**160, 2**256 - 1).map(lambda n: "0x" + f"{n:064x}"),
                  _ADDR_TOPIC).map(list),  # not an address topic
        st.tuples(st.sampled_from([TRANSFER_TOPIC, TRANSFER_TOPIC.upper().replace("0X", "0x"), "0x" + "11" * 32]),
                  _ADDR_TOPIC).map(list),
        st.just([])),
    "data": st.one_of(_WORD, st.just("0x"), _WORD.map(lambda w: w + "00" * 32)),
    "removed": st.booleans(),
    "logIndex": st.integers(0, 5000).map(hex),
    "blockNumber": st.integers(0, 3).map(hex),
})


@settings(max_examples=150, deadline=None)
@given(st.lists(_LOG, max_size=25))
def test_the_fast_decoder_agrees_with_classify(raw: list[dict[str, object]]) -> None:
    import orjson

    logs = [log(**x) for x in raw]  # type: ignore[arg-type]
    body = orjson.dumps({"jsonrpc": "2.0", "id": 1, "result": logs})
    status, (transfers, bad, n, _) = decode_logs_answer(body)
    assert status == "ok" and n == len(logs)

    def address_topics(lg: dict[str, object]) -> bool:
        return all(str(t).startswith("0x" + "00" * 12) for t in lg["topics"][1:3])  # type: ignore[index]

    kinds = [classify(lg) for lg in logs]
    want = [(k, int(lg["logIndex"], 16)) for k, lg in zip(kinds, logs, strict=True)  # type: ignore[arg-type]
            if k in ("erc20", "erc721") and not lg["removed"] and address_topics(lg)]
    assert [(t.kind, t.log_index) for t in transfers] == want
    assert bad == sum(1 for k, lg in zip(kinds, logs, strict=True)
                      if k == "malformed" or (k in ("erc20", "erc721") and not lg["removed"] and not address_topics(lg)))
    assert decode_transfers(logs) == (transfers, bad)  # the dict entry point: the same rules


def test_block_timestamps_from_logs_only_when_every_log_has_the_same() -> None:
    def at(block: int, ts: str | None, i: int) -> dict[str, object]:
        extra = {"blockTimestamp": ts} if ts is not None else {}
        return log([TRANSFER_TOPIC, A, B], "0x" + "00" * 32, blockNumber=hex(block), logIndex=hex(i), **extra)

    stamps: dict[int, int | None] = {}
    ts, _ = decode_transfers([at(1, "0x10", 0), at(1, "0x10", 1), at(2, "0x20", 2), at(2, None, 3),
                              at(3, "0x30", 4), at(4, "0x40", 5), at(3, "0x31", 6)], stamps=stamps)
    assert len(ts) == 7
    assert stamps == {1: 0x10, 2: None, 3: None, 4: 0x40}  # 2: a log without it; 3: two values


def test_decode_string_variants() -> None:
    abi = "0x" + (32).to_bytes(32, "big").hex() + (4).to_bytes(32, "big").hex() + b"GLM\xc3".hex().ljust(64, "0")
    assert decode_string(abi) == (None, "invalid")  # not UTF-8
    ok = "0x" + (32).to_bytes(32, "big").hex() + (3).to_bytes(32, "big").hex() + b"GLM".hex().ljust(64, "0")
    assert decode_string(ok) == ("GLM", "string")
    assert decode_string("0x" + b"MKR".hex().ljust(64, "0")) == ("MKR", "bytes32")
    assert decode_string("0x") == (None, "empty")
    assert decode_string(None) == (None, "empty")


@pytest.mark.parametrize("msg", [
    "query returned more than 10000 results",
    "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range and no limit on "
    "the response size, or you can request any block range with a cap of 10K logs in the response. Based on "
    "your parameters, this block range should work: [0x10, 0x2f]",
    "eth_getLogs is limited to a 10,000 range",
    "exceed maximum block range: 50000",
    "block range is too wide",
    "Block range limit exceeded.",
    "query exceeds max results 20000, retry with the range 1-2",
    "response size exceeded",
])
def test_range_refusals_of_real_providers(msg: str) -> None:
    assert range_error(JsonRpcError(-32005, msg)) is not None


def test_not_range_errors_and_suggestion() -> None:
    assert range_error(JsonRpcError(-32000, "header not found")) is None
    assert range_error(JsonRpcError(-32603, "internal error")) is None
    assert range_error(HttpError("POST x -> HTTP 413: too large", 413)) is not None
    r = range_error(JsonRpcError(-32602, "Log response size exceeded. ... this block range should work: [0x10, 0x2f]"))
    assert r is not None and r.suggested_end == 0x2F


def test_windows_are_aligned_and_split_into_aligned_pieces() -> None:
    ws = Windows(2000)
    assert ws.ladder == [1, 3, 7, 15, 31, 62, 125, 250, 500, 1000, 2000]
    assert ws.rung(20) == 15 and ws.rung(5000) == 2000
    p = WindowPlan(1000)
    assert ws.end(p, 2000, 10**9) == 2999 and ws.end(p, 2500, 10**9) == 2999  # ends on the size's grid
    assert ws.end(p, 2500, 2600) == 2600  # the head cuts it
    assert ws.cut(1000) == 500 and ws.pieces(2000, 2999, 500) == [(2000, 2499), (2500, 2999)]
    assert ws.cut(125) == 62 and ws.pieces(0, 124, 62) == [(0, 61), (62, 123), (124, 124)]
    assert ws.cut(1000, suggested=40) == 31  # the node's suggested range, on the ladder
    assert Windows(64, min_size=8).rungs == [8, 16, 32, 64] and Windows(64, min_size=8).rung(3) == 8


def test_window_halves_then_grows_back() -> None:
    ws = Windows(2000, grow_after=2)
    p = ws.step(WindowPlan(1000), 1000, None, refused=1000)
    assert p == WindowPlan(500, 0, True)
    p = ws.step(p, 500, None)
    assert p.size == 500
    p = ws.step(p, 500, None)
    assert p == WindowPlan(1000, 0, False)
    assert ws.step(p, 700, None) == p  # a window the head cut short does not count toward growth
    assert ws.step(p, 1000, None, refused=31).size == 15  # below the smallest refused range


def test_window_settles_on_the_log_target() -> None:
    ws = Windows(2048, grow_after=2, target=5000)
    p = ws.step(WindowPlan(128), 128, 64_000)  # a dense chain: 500 logs a block
    assert p.size == 8
    for logs in (4_000, 7_000, 2_600, 4_000, 4_000, 4_000):  # about the target: it stays (no churn)
        p = ws.step(p, 8, logs)
        assert p.size == 8
    # The chain got sparse: straight to the rung that holds about the target at that density
    # (500 logs in 8 blocks: 80 blocks), not one rung a window (issue 16: sparse chains).
    p = ws.step(p, 8, 500)
    assert p == WindowPlan(64, 0, False)
    p = ws.step(p, 64, 1000)  # 320 blocks would hold the target
    assert p.size == 256
    assert ws.step(p, 256, 6000).size == 256 and ws.step(p, 256, 8000).size == 128  # down only past 1.5x
    p = ws.step(p, 256, 0)  # an empty range: the top rung at once
    assert p.size == 2048
    for _ in range(5):
        p = ws.step(p, p.size, 0)
    assert p.size == 2048
    p = ws.step(p, 2048, None, refused=2048)  # refusals still win
    assert p.size == 1024
    p = ws.step(p, 1024, 0)
    assert p.size == 1024  # after a refusal, growth waits for grow_after successes
    p = ws.step(p, 1024, 0)
    assert p.size == 2048
    off = Windows(2048, grow_after=1)
    assert off.step(WindowPlan(128), 128, 64_000).size == 256  # without a target only refusals shrink it


def test_window_plan_is_a_function_of_the_results_in_order() -> None:
    """What makes pages deterministic: the same results in the same order give the same windows,
    and the plan round-trips through the stream state (a resumed run plans like a clean one)."""
    ws = Windows(64, target=40)
    results = [(0, None), (613, None), (0, None), (0, 12), (128, None), (32, None), (4, None)]
    runs = []
    for _ in range(2):
        p, a, out = ws.start({}, 16), 0, []
        for logs, refused in results:
            b = ws.end(p, a, 10**6)
            out.append((a, b, p.size))
            p = ws.start(ws.step(p, b - a + 1, logs, refused).as_state(), 16)
            a = b + 1
        runs.append(out)
    assert runs[0] == runs[1]
    # An empty first window jumps to the top rung (64: 16..63 ends on its grid); 613 logs in 48 blocks
    # then drop it to the rung that holds about 40 (2 blocks).
    assert [(a, b) for a, b, _ in runs[0][:3]] == [(0, 15), (16, 63), (64, 65)]
    assert all((b + 1) % size == 0 for _, b, size in runs[0])  # every window ends on its size's grid


def test_config_validation_and_secrets() -> None:
    c = EvmConnector().default_config()
    s = chain_settings(c)
    assert set(s) == {"ethereum", "polygon"} and s["ethereum"]["rpc_url"].startswith("https://")
    c["chains"]["ethereum"]["rpc_url"] = "https://mainnet.infura.io/v3/0123456789abcdef0123456789abcdef"
    c["chains"]["polygon"]["rpc_url"] = "https://x.quiknode.pro/abcdefabcdefabcdefabcdef1234/"
    sec = EvmConnector().secrets(c)
    assert "0123456789abcdef0123456789abcdef" in sec and "abcdefabcdefabcdefabcdef1234" in sec
    with pytest.raises(ConfigError, match="tokens"):
        chain_settings({"chains": {"x": {"rpc_url": "http://h", "tokens": ["nope"]}}})
    with pytest.raises(ConfigError, match="rpc_url"):
        chain_settings({"chains": {"x": {"tokens": "all"}}})
    assert chain_settings({"chains": {"x": {"rpc_url": "http://h", "enabled": False}}}) == {}


def test_rewind_deletes_cover_every_block_and_table() -> None:
    d = rewind_deletes("polygon", 10, 11)
    assert {(x.table, x.where.get("kind"), x.where.get("block", x.where.get("number"))) for x in d} == {
        ("edges", "paid", 10), ("edges", "nft_transfer", 10), ("evm_blocks", None, 10),
        ("edges", "paid", 11), ("edges", "nft_transfer", 11), ("evm_blocks", None, 11)}


def test_transfer_edge_ids_sort_by_block_and_parse_back() -> None:
    from connectors import ids

    eid = ids.evm_transfer_edge("polygon", 12, 3)
    assert eid == "evm:polygon:000000000012:000003"
    assert ids.parse_evm_transfer_edge(eid) == ("polygon", 12, 3)
    with pytest.raises(ids.IdError):
        ids.parse_evm_transfer_edge("wallet:evm:0x" + "11" * 20)
    lo, hi = ids.evm_transfer_edge_range("polygon", 11, 13)  # blocks 12 and 13
    inside = [ids.evm_transfer_edge("polygon", b, li) for b in (12, 13) for li in (0, 999_999)]
    outside = [ids.evm_transfer_edge("polygon", 11, 999_999), ids.evm_transfer_edge("polygon", 14, 0),
               ids.evm_transfer_edge("polygonzk", 12, 0)]
    assert all(lo <= i < hi for i in inside) and not any(lo <= i < hi for i in outside)


def test_hot_path_rows_use_the_id_layout() -> None:
    from connectors import ids
    from connectors.evm.config import chain_defaults
    from connectors.evm.connector import TransfersStream

    s = TransfersStream.for_chain("anvil", {**chain_defaults(), "rpc_url": "http://h", "tokens": "all"})
    assert s.name == "evm.anvil_transfers" and type(s).name == "evm.anvil_transfers"
    c, a, b = "0x" + "ab" * 20, "0x" + "11" * 20, "0x" + "22" * 20
    d = {"transfers": [("erc20", c, a, b, 5, 7, "0xh", "0xt", 0), ("erc721", c, b, a, 9, 8, "0xh", "0xu", 2)],
         "times": {7: "2026-01-01T00:00:00Z", 8: "2026-01-01T00:00:12Z"}, "decimals": {c: 18}}
    rows = [r.row for r in records_of(s._transfer_records(d))]
    assert [r["id"] for r in rows] == [ids.evm_transfer_edge("anvil", 7, 0),
                                       ids.evm_transfer_edge("anvil", 8, 2)]
    assert rows[0]["src"] == ids.wallet("evm", a) and rows[0]["asset"] == ids.token("anvil", c)


def test_sanctions_oracle_call_is_web3_abi() -> None:
    from connectors.evm.decode import decode_sanctioned, sanctions_call_data

    w = "0x" + "ab" * 20
    assert sanctions_call_data(w) == "0xdf592f7d" + "00" * 12 + "ab" * 20  # isSanctioned(address)
    assert decode_sanctioned("0x" + "00" * 31 + "01") is True
    assert decode_sanctioned("0x" + "00" * 32) is False
    for bad in ("0x" + "00" * 31 + "02", "0x" + "00" * 33, "0x", None, "nothex"):
        assert decode_sanctioned(bad) is None, bad


def test_iso_time_is_datetimes_format_at_every_second_it_takes() -> None:
    """The per-day cache and arithmetic of ``iso_time`` give what ``datetime.strftime`` gives: day
    and year boundaries, leap days, random seconds up to 9999-12-31, and past it the same error."""
    import random
    from datetime import UTC, datetime

    from connectors.evm.decode import iso_time

    def ref(t: int) -> str:
        return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    rng = random.Random(16)
    edges = [0, 1, 59, 60, 3599, 3600, 86_399, 86_400, 951_782_399, 951_782_400, 951_868_800,  # 2000-02-29
             1_700_000_000, 253_402_300_799]
    for t in edges + [rng.randrange(0, 253_402_300_800) for _ in range(20_000)] + [rng.randrange(1_600_000_000, 1_800_000_000)
                                                                                 for _ in range(20_000)]:
        assert iso_time(t) == ref(t), t
    assert iso_time(1_700_000_000) == "2023-11-14T22:13:20Z"
    with pytest.raises(ValueError, match="out of range"):
        iso_time(253_402_300_800)


def test_a_pages_block_times_from_the_logs_are_made_when_read() -> None:
    """``_Times``: the headers' times as given, the logs' stamps formatted at the first read (most
    pages' rows carry their times, so most are never read), an unknown block a KeyError."""
    from connectors.evm.connector import _Times
    from connectors.evm.decode import iso_time

    t = _Times({5: "2026-01-01T00:00:00Z"}, {7: 1_700_000_000, 8: 1_700_000_012})
    assert dict(t) == {5: "2026-01-01T00:00:00Z"}  # nothing made yet
    assert t[7] == iso_time(1_700_000_000) == "2023-11-14T22:13:20Z" and t[5] == "2026-01-01T00:00:00Z"
    assert dict(t) == {5: "2026-01-01T00:00:00Z", 7: "2023-11-14T22:13:20Z"}
    with pytest.raises(KeyError):
        t[9]
