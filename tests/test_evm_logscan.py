"""The C decoder of eth_getLogs answers (connectors/evm/_logscan.c) against the Python one it speeds up.

The rule the C path lives by: for any answer, it either makes exactly the rows Python makes, or it
returns None and Python decides.  So every test here decodes the same bytes both ways, and a test
that expects the C path to answer (a plain answer) also checks that it did, so a C path that gave up
on everything could not pass.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors import ids
from connectors.evm import decode as D

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
RECORDED = (FIXTURES / "ethereum-etl/tests/resources/test_export_token_transfers_job/block_with_transfers"
            / "web3_response.eth_getFilterLogs_0x0.json")
T = D.TRANSFER_TOPIC
USDC, NFT, NEW = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48", "0x" + "7" * 40, "0x" + "9" * 40


needs_c = pytest.mark.skipif(D._logscan is None, reason="the C fast path is not built here (no C compiler)")


def spec(decimals: dict[str, int | None] | None = None) -> D.EdgeSpec:
    return D.EdgeSpec("ethereum", "evm:ethereum", ids.prefix("token", "ethereum"), ids.prefix("wallet", "evm"),
                      ids.evm_transfer_edge_prefix, {USDC: 6, NFT: None} if decimals is None else decimals)


def both(body: bytes, sp: D.EdgeSpec | None = None) -> tuple[D.LogsAnswer | None, Any]:
    """(what C answers, what Python answers or the exception it raises)."""
    sp = sp or spec()
    fast = D.fast_edge_rows(sp, body)
    try:
        slow: Any = D.python_edge_rows(sp, body)
    except Exception as e:  # noqa: BLE001 - the C path must then have left it to Python
        slow = e
    if fast is not None:
        assert slow == ("ok", fast), f"C and Python disagree on {body[:300]!r}"
    return fast, slow


def word(n: int) -> str:
    return "0x" + "0" * 24 + f"{n:040x}"


def log(block: int, li: int, *, src: int = 1, dst: int = 2, amount: int = 10**6, contract: str = USDC,
        stamp: int | None = 1_700_000_000, **extra: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "address": contract, "topics": [T, word(src), word(dst)], "data": f"0x{amount:064x}",
        "blockNumber": hex(block), "blockHash": f"0x{block * 7919:064x}", "transactionHash": f"0x{block * 100 + li:064x}",
        "transactionIndex": "0x0", "logIndex": hex(li), "removed": False}
    if stamp is not None:
        d["blockTimestamp"] = hex(stamp + 12 * block)
    d.update(extra)
    return d


def answer(logs: list[Any], **top: Any) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": 1, "result": logs, **top}, ensure_ascii=False).encode()


def test_the_c_decoder_is_built() -> None:
    """setup.py builds it on every install with a C compiler (``make setup`` installs gcc where it can;
    CI has one): a silent fallback to Python would cost ~3x the CPU and no other test would notice."""
    if D._logscan is None and not os.environ.get("CI") and not (shutil.which("cc") or shutil.which("gcc")):
        pytest.skip("no C compiler here: the EVM decoder's C fast path is not built (Python decodes)")
    assert D._logscan is not None


@needs_c
def test_a_plain_answer_is_made_in_c_and_equal() -> None:
    rng = random.Random()
    logs = [log(b, i, src=rng.getrandbits(160), dst=rng.getrandbits(20), amount=rng.getrandbits(rng.choice((1, 64, 65, 200, 256))))
            for b in range(100, 104) for i in range(rng.randint(1, 60))]
    logs.append(log(104, 0, contract=NFT, data="0x", topics=[T, word(5), word(6), "0x" + "f" * 64]))
    logs.append(log(104, 1, topics=["0x" + "1" * 64, word(1)]))  # another event: counted, not a row
    fast, _ = both(answer(logs))
    assert fast is not None and fast.rows is not None
    assert len(fast.rows) == len(logs) - 1 and fast.logs == len(logs)
    nft = fast.rows[-1]
    assert nft[1] == "nft_transfer" and nft[6] is None and f'"token_id":"{2**256 - 1}"' in nft[11]
    assert fast.contracts == frozenset({USDC})


@needs_c
def test_exact_amounts_at_the_limbs_edges() -> None:
    """The C path formats uint256 amounts itself: every 32- and 64-bit boundary, 0 and 2**256 - 1."""
    amounts = [0, 1, 9, 10, 10**9 - 1, 10**9, 2**32 - 1, 2**32, 2**64 - 1, 2**64, 10**19, 10**19 - 1, 2**128 - 1,
               2**128, 10**38, 2**192 + 1, 2**256 - 1, 10**77]
    fast, _ = both(answer([log(1, i, amount=a) for i, a in enumerate(amounts)]))
    assert fast is not None
    assert [r[6] for r in fast.rows or []] == [str(a) for a in amounts]


@pytest.mark.parametrize("why,logs,top", [
    ("no block time in the logs (a node before the 2025 Log schema)", [log(1, 0, stamp=None)], {}),
    ("a block's time in one of its logs only", [log(1, 0), log(1, 1, stamp=None)], {}),
    ("a token whose decimals are not known yet", [log(1, 0, contract=NEW)], {}),
    ("an escape in a field the decoder reads", [log(1, 0, transactionHash="0x\\u0041")], {}),
    ("a null where a string is", [log(1, 0, blockHash=None)], {}),
    ("a log without its block hash", [{k: v for k, v in log(1, 0).items() if k != "blockHash"}], {}),
    ("a JSON-RPC error", [], {"error": {"code": -32005, "message": "query returned more than 10000 results"}}),
    ("an amount Python reads with int() leniency", [log(1, 0, data="0x" + "0" * 31 + "_" + "1" * 32)], {}),
    ("a block number over 15 hex digits", [log(2**61, 0)], {}),
    ("a log that is not an object", [log(1, 0), 7], {}),
    ("a duplicate key", ["DUP"], {}),
    ("non-ASCII (UTF-8) in a field nobody reads", [log(1, 0, note="é")], {}),
    ("two times for one block", [log(1, 0), log(2, 0), log(1, 1, blockTimestamp="0x1")], {}),
])
def test_what_c_leaves_to_python(why: str, logs: list[Any], top: dict[str, Any]) -> None:
    body = answer(logs, **top)
    if logs == ["DUP"]:
        body = answer([log(1, 0)]).replace(b'"logIndex": "0x0"', b'"logIndex": "0x0", "logIndex": "0x5"')
    fast, slow = both(body)
    assert fast is None, why
    assert slow is not None


@needs_c
def test_recorded_answers() -> None:
    """A real eth_getLogs answer (ethereum-etl's recorded one, mainnet block 0x76250): as recorded it has
    no block times, so Python decodes it; with the ``blockTimestamp`` a 2025 node adds, C makes the rows."""
    if not RECORDED.exists():
        pytest.skip(f"{RECORDED} missing (../shared beside the checkout)")
    raw = json.loads(RECORDED.read_text())
    contracts = {lg["address"].lower() for lg in raw["result"]}
    sp = spec(dict.fromkeys(contracts, 18))
    fast, slow = both(RECORDED.read_bytes(), sp)
    assert fast is None and slow[0] == "ok"
    for lg in raw["result"]:
        lg["blockTimestamp"] = "0x5b3a1b2c"
    fast, slow = both(json.dumps(raw).encode(), sp)
    assert fast is not None and fast.rows and len(fast.rows) == len(raw["result"])


def _mutate(d: dict[str, Any], how: str, rng: random.Random) -> Any:
    """One way a log can differ from the plain case (each decides C's path or Python's)."""
    d = dict(d)
    if how == "upper_topic":
        d["topics"] = [d["topics"][0].upper(), *d["topics"][1:]]
    elif how == "upper_X":
        d["data"] = "0X" + d["data"][2:]
    elif how == "upper_address":
        d["address"] = "0x" + d["address"][2:].upper()
    elif how == "removed":
        d["removed"] = True
    elif how == "bad_word":
        d["topics"] = [T, "0x" + "1" * 64, d["topics"][2]]
    elif how == "short_word":
        d["topics"] = [T, d["topics"][1][:-2], d["topics"][2]]
    elif how == "four_topics_with_data":
        d["topics"] = [*d["topics"], word(9)]
    elif how == "no_topics":
        d["topics"] = []
    elif how == "missing_topics":
        del d["topics"]
    elif how == "short_data":
        d["data"] = "0x1234"
    elif how == "empty_data_erc20":
        d["data"] = ""
    elif how == "other_event":
        d["topics"] = ["0x" + "ab" * 32, *d["topics"][1:]]
    elif how == "nested_extra":
        d["extra"] = {"a": [1, 2.5e-3, -0, True, None, {"b": "\n\"x\u00e9"}], "c": ""}
    elif how == "missing_stamp":
        d.pop("blockTimestamp", None)
    elif how == "odd_stamp":
        d["blockTimestamp"] = rng.choice(["0x", "12", "0X5", "0xzz"])
    elif how == "missing_tx":
        del d["transactionHash"]
    elif how == "missing_address":
        del d["address"]
    elif how == "second_hash":
        d["blockHash"] = "0x" + "e" * 64
    elif how == "unknown_token":
        d["address"] = NEW
    elif how == "big_log_index":
        d["logIndex"] = hex(rng.choice([999_999, 1_000_000, 1_000_001, 2**40]))
    elif how == "short_hex":
        d["logIndex"] = "0x"
    elif how == "nft_bad_id":
        d["topics"] = [T, word(1), word(2), "0x" + "1" * 65]
        d["data"] = "0x"
    return d


MUTATIONS = ["upper_topic", "upper_X", "upper_address", "removed", "bad_word", "short_word", "four_topics_with_data",
             "no_topics", "missing_topics", "short_data", "empty_data_erc20", "other_event", "nested_extra",
             "missing_stamp", "odd_stamp", "missing_tx", "missing_address", "second_hash", "unknown_token",
             "big_log_index", "short_hex", "nft_bad_id"]


@needs_c
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32), muts=st.lists(st.sampled_from(MUTATIONS), max_size=4),
       spaces=st.sampled_from(["", " ", "\n  "]), order=st.booleans())
def test_generated_answers_agree(seed: int, muts: list[str], spaces: str, order: bool) -> None:
    """Random answers, a few logs mutated: C's rows are Python's whenever C answers."""
    rng = random.Random(seed)
    logs: list[Any] = []
    for b in sorted(rng.sample(range(1, 60), rng.randint(1, 5)), reverse=not order):
        for i in range(rng.randint(1, 6)):
            nft = rng.random() < 0.15
            d = log(b, i, src=rng.choice([1, 2, 3, rng.getrandbits(160)]), dst=rng.getrandbits(160),
                    amount=rng.getrandbits(rng.choice((8, 64, 256))), contract=NFT if nft else USDC)
            if nft:
                d.update(data="0x", topics=[*d["topics"], hex(rng.getrandbits(rng.choice((8, 256))))])
            logs.append(d)
    for m in muts:
        i = rng.randrange(len(logs))
        with contextlib.suppress(KeyError, IndexError):  # a mutation of what an earlier one removed
            logs[i] = _mutate(logs[i], m, rng)
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "result": logs}, indent=spaces or None).encode()
    fast, slow = both(body)
    if not muts and fast is None:
        pytest.fail("C left a plain answer to Python")


@needs_c
def test_rows_survive_the_answer() -> None:
    """The rows are Python objects of their own: the body they came from can go."""
    body = bytearray(answer([log(1, i) for i in range(50)]))
    fast = D.fast_edge_rows(spec(), bytes(body))
    assert fast is not None and fast.rows
    first = fast.rows[0]
    body[:] = b"x" * len(body)
    assert first[10] == f"0x{100:064x}" and first[2] == "wallet:evm:0x" + "0" * 39 + "1"


def test_a_token_first_seen_as_erc721_then_erc20_without_decimals() -> None:
    """Found by the generated answers: a contract whose first Transfer log in an answer is ERC-721
    shaped and a later one ERC-20 shaped, decimals unknown, made Python raise KeyError (the unknown
    decimals were checked only at the contract's first log).  Now its rows wait for the decimals."""
    nft = log(1, 0, contract=NEW, data="0x", topics=[T, word(1), word(2), "0x5"])
    body = answer([nft, log(1, 1, contract=NEW)])
    fast, slow = both(body)
    assert fast is None
    status, got = slow
    assert status == "ok" and got.rows is None and len(got.transfers) == 2


@needs_c
@pytest.mark.parametrize("li", [2**40, 65_535, 65_536])
def test_a_huge_log_index_is_formatted_not_cached(li: int) -> None:
    """Found by the generated answers: Python cached every log index's strings up to the largest one,
    so a node answering log index 2**40 made it build 2**40 strings (the test process was killed for
    memory).  Past the cache's bound each is formatted alone, the same in C."""
    fast, slow = both(answer([log(1, li)]))
    assert fast is not None and fast.rows
    assert fast.rows[0][0].endswith(f":{li:06d}") and fast.rows[0][11].endswith(f'"log_index":{li}}}')


@needs_c
def test_block_times_are_formatted_in_c_as_iso_time_does() -> None:
    """The C path writes block times itself (iso_time once per block in Python cost ~10 ms of a
    sparse sync): day, month, leap-day and century boundaries, random times up to 9999-12-31, and
    a later time (handed to iso_time, which refuses it: Python decides that answer)."""
    rng = random.Random(7)
    stamps = [0, 59, 86_399, 86_400, 951_782_399, 951_782_400, 951_868_799, 951_868_800, 4_107_542_400,
              1_700_000_000, 253_402_300_799] + [rng.randrange(0, 253_402_300_800) for _ in range(300)]
    logs = [log(100 + i, 0, stamp=None, blockTimestamp=hex(ts)) for i, ts in enumerate(stamps)]
    fast, _ = both(answer(logs))  # C's rows equal Python's
    assert fast is not None and fast.rows is not None
    assert [r[8] for r in fast.rows] == [D.iso_time(ts) for ts in stamps]
    assert fast.rows[0][8] == "1970-01-01T00:00:00Z" and fast.rows[10][8] == "9999-12-31T23:59:59Z"
    late, slow = both(answer([log(1, 0, stamp=None, blockTimestamp=hex(253_402_300_800))]))
    assert late is None and isinstance(slow, ValueError)  # left to Python, which raises it
