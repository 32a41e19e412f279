"""Kept raw bodies (``raw_payloads.body``): zstd frames that read back byte for byte on both backends,
and a body an older store kept as zlib still reads back (issue 16 moved the codec; stores are never
rewritten for it)."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard

from connectors.base import EDGES, Page, Rows
from tracer.store import open_store
from tracer.store.base import ZSTD_MAGIC, compress_body, unpack_body

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
# A recorded marketplace answer (vast.ai's search of 2024-11-05, 3.8 MB): JSON like the ones kept.
OFFERS = FIXTURES / "vastai-offers" / "search_offers_raw_2024-11-05_full_marketplace.json"


def _answer() -> bytes:
    return OFFERS.read_bytes()[:1_500_000]


def _page(body: bytes) -> Page:
    return Page(body=body, url="http://x/offers", method="GET", data=None, state=None,
                fetched_at="2026-12-01T00:00:00Z")


def test_a_kept_body_is_one_zstd_frame_of_the_answer(db_factory: Callable[..., str]) -> None:
    body = _answer()
    store = open_store(db_factory())
    try:
        store.ensure_tables([EDGES])
        store.write_page("t.s", _page(body), [Rows(EDGES.name, ("id", "kind"), [("e1", "paid")])], "r1")
        [row] = store.query("SELECT sha256, bytes, body FROM raw_payloads")
        blob = bytes(row["body"])
        assert blob[:4] == ZSTD_MAGIC
        # read by zstd itself, not by our reader: what another tool finds in the store
        assert zstandard.ZstdDecompressor().decompress(blob) == body
        assert row["sha256"] == hashlib.sha256(body).hexdigest() and row["bytes"] == len(body)
        assert len(blob) < len(zlib.compress(body, 1))  # the reason for the change, on a real answer
        raw = store.raw_payload(row["sha256"])
        assert raw is not None and raw["body"] == body
    finally:
        store.close()


def test_a_body_an_older_store_kept_as_zlib_still_reads_back(db_factory: Callable[..., str]) -> None:
    body = _answer()[:20_000]
    sha = hashlib.sha256(body).hexdigest()
    store = open_store(db_factory())
    try:
        store.ensure_tables([EDGES])
        store.write_page("t.s", _page(b"{}"), [], "r1")  # the bookkeeping tables made as a sync makes them
        store.execute("INSERT INTO raw_payloads (sha256, stream, url, method, fetched_at, run_id, bytes, body) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                      [sha, "t.s", "http://x/old", "GET", "2025-01-01T00:00:00Z", "r0", len(body),
                       zlib.compress(body, 1)])
        raw = store.raw_payload(sha)
        assert raw is not None and raw["body"] == body
    finally:
        store.close()


@pytest.mark.parametrize("body", [b"", b"x", b'{"jsonrpc":"2.0","id":1,"result":[]}', bytes(range(256)) * 400])
def test_compress_and_unpack_are_inverse_whatever_the_bytes(body: bytes) -> None:
    blob = compress_body(body)
    assert blob[:4] == ZSTD_MAGIC and unpack_body(blob) == body
    assert unpack_body(zlib.compress(body, 1)) == body


def test_a_blob_neither_codec_made_is_an_error_not_a_wrong_body() -> None:
    with pytest.raises((zlib.error, zstandard.ZstdError)):
        unpack_body(b"not a body")
    with pytest.raises((zlib.error, zstandard.ZstdError)):
        unpack_body(ZSTD_MAGIC + b"truncated")
