"""The store's read port for connectors (``connectors.base.StoredFacts``): every question answered
from stored rows, and empty (never an error) before the stream that writes a table has synced."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from connectors.akash.records import BIDS, GROUPS, LEASES, PROVIDERS
from connectors.base import REJECTED, Page, Record, StoredFacts
from connectors.evm.connector import EVM_BLOCKS, EVM_TOKENS
from connectors.lists.base import LIST_MEMBERS, LIST_SNAPSHOTS
from connectors.markets.vastai import OFFERS
from tracer.store import Store
from tracer.store.port import FactsPort

T0 = "2026-01-01T00:00:00Z"


def _write(store: Store, rows: list[Record], n: int = 0) -> None:
    store.write_page("test", Page(body=f"page {n}".encode(), url="test://", method="GET", data=None, state=None,
                                  fetched_at=T0), rows, "run-1")


@pytest.fixture()
def store() -> Any:
    s = Store(":memory:")
    yield s
    s.close()


def test_every_question_of_the_protocol_is_implemented() -> None:
    wanted = {n for n, _ in inspect.getmembers(StoredFacts, inspect.isfunction) if not n.startswith("_")}
    assert wanted  # the protocol lists its questions
    for name in wanted:
        mine = getattr(FactsPort, name, None)
        assert mine is not None, name
        assert list(inspect.signature(mine).parameters) == list(inspect.signature(getattr(StoredFacts, name))
                                                                .parameters), name


def test_an_unsynced_table_answers_empty(store: Store) -> None:
    assert store.evm_known_tokens("ethereum") == {}
    assert store.evm_block_hashes("ethereum", 0, 100) == []
    assert store.evm_transfer_wallets("ethereum", 0, 100, 10) == set()
    assert store.akash_provider_owners() == []
    assert store.akash_lease_owners(10) == []
    assert store.akash_group_gpus([("akash1a", "1")]) == {}
    assert store.akash_bid_gpus([("akash1a", "1")]) == {}
    assert store.list_latest_snapshot("ofac") is None
    assert store.list_members("ofac", "2026-01-01") == []
    assert store.open_listings("ofac") == []
    assert store.tag_totals("tags", "tags.files", actors=True) == {"tags": 0, "addresses": 0, "rejected": 0}
    assert store.vastai_machines(T0) == {}


def test_evm_questions(store: Store) -> None:
    store.ensure_tables([EVM_BLOCKS, EVM_TOKENS])
    _write(store, [
        Record("evm_tokens", {"chain": "ethereum", "address": "0xa", "decimals": 6, "status": "ok"}),
        Record("evm_tokens", {"chain": "ethereum", "address": "0xb", "decimals": None, "status": "error"}),
        Record("evm_tokens", {"chain": "base", "address": "0xc", "decimals": 18, "status": "ok"}),
        *[Record("evm_blocks", {"chain": "ethereum", "number": n, "hash": f"0x{n:x}"}) for n in (9, 10, 11, 12)],
        *[Record("edges", {"id": f"evm:ethereum:{b:012d}:{i:06d}", "kind": "paid", "src": f"wallet:evm:0xs{b}{i}",
                           "dst": f"wallet:evm:0xd{b}{i}"}) for b in (10, 11, 12) for i in (0, 1)],
        Record("edges", {"id": "evm:base:000000000011:000000", "kind": "paid", "src": "wallet:evm:0xbase",
                         "dst": "wallet:evm:0xbase2"}),
    ])
    assert store.evm_known_tokens("ethereum") == {"0xa": 6}
    assert store.evm_block_hashes("ethereum", 9, 11) == [(10, "0xa"), (11, "0xb")]
    # blocks (10, 12]: 11 and 12 only, this chain only
    assert store.evm_transfer_wallets("ethereum", 10, 12, 100) == {
        f"0x{p}{b}{i}" for p in "sd" for b in (11, 12) for i in (0, 1)}
    assert len(store.evm_transfer_wallets("ethereum", 0, 12, 3)) <= 4  # capped per transfer, as the run's own set
    assert store.evm_transfer_wallets("ethereum", 12, 12, 100) == set()


def test_akash_questions(store: Store) -> None:
    store.ensure_tables([PROVIDERS, GROUPS, BIDS, LEASES])
    _write(store, [
        Record("akash_providers", {"owner": "akash1p2"}), Record("akash_providers", {"owner": "akash1p1"}),
        Record("akash_groups", {"owner": "akash1t", "dseq": "5", "gseq": 1, "gpu_units": 2, "gpu_keys": "[\"a100\"]"}),
        Record("akash_groups", {"owner": "akash1t", "dseq": "6", "gseq": 1, "gpu_units": 1, "gpu_keys": None}),
        Record("akash_bids", {"owner": "akash1t", "dseq": "5", "gseq": 1, "oseq": 1, "provider": "akash1p1",
                              "bseq": 0, "gpu_units": 2, "gpu_keys": "[\"a100\"]"}),
        Record("akash_bids", {"owner": "akash1t", "dseq": "5", "gseq": 1, "oseq": 1, "provider": "akash1p2",
                              "bseq": 0, "gpu_units": 0, "gpu_keys": None}),
        Record("akash_leases", {"owner": "akash1old", "dseq": "1", "gseq": 1, "oseq": 1, "provider": "p",
                                "created_at": 100, "closed_on": 150}),
        Record("akash_leases", {"owner": "akash1new", "dseq": "2", "gseq": 1, "oseq": 1, "provider": "p",
                                "created_at": 300, "closed_on": 350}),
        Record("akash_leases", {"owner": "akash1open", "dseq": "3", "gseq": 1, "oseq": 1, "provider": "p",
                                "created_at": 50, "closed_on": None}),
    ])
    assert store.akash_provider_owners() == ["akash1p1", "akash1p2"]
    assert store.akash_lease_owners(10) == ["akash1open", "akash1new", "akash1old"]
    assert store.akash_lease_owners(1) == ["akash1open"]
    assert store.akash_group_gpus([("akash1t", "5")]) == {"akash1t/5/1": {"gpu_units": 2, "gpu_keys": "[\"a100\"]"}}
    assert store.akash_bid_gpus([("akash1t", "5"), ("akash1t", "6")]) == {
        "akash1t/5/1/1/akash1p1": {"gpu_units": 2, "gpu_keys": "[\"a100\"]"}}
    many = [("akash1t", str(n)) for n in range(1000)]  # more pairs than one statement may bind
    assert set(store.akash_group_gpus(many)) == {"akash1t/5/1", "akash1t/6/1"}


def test_list_questions(store: Store) -> None:
    store.ensure_tables([LIST_SNAPSHOTS, LIST_MEMBERS, REJECTED])
    _write(store, [
        Record("list_snapshots", {"source": "ofac", "snapshot": "2026-01-01"}),
        Record("list_snapshots", {"source": "ofac", "snapshot": "2026-02-01"}),
        Record("list_members", {"source": "ofac", "snapshot": "2026-02-01", "kind": "wallet", "key": "wallet:x",
                                "label": "X", "list_type": "sdn"}),
        Record("observations", {"id": "o1", "subject": "wallet:x", "predicate": "sanctioned", "source": "ofac",
                                "attrs": {"entity": "entity:ofac:1"}, "last_seen": "2026-02-01"}),
        Record("observations", {"id": "o2", "subject": "wallet:y", "predicate": "listed", "source": "ofac",
                                "attrs": None, "last_seen": "2026-01-01"}),
        Record("observations", {"id": "o3", "subject": "wallet:z", "predicate": "listed", "source": "ofac",
                                "valid_to": "2026-01-15", "last_seen": "2026-01-01"}),
        Record("observations", {"id": "t1", "subject": "wallet:a", "predicate": "tag", "source": "tags"}),
        Record("observations", {"id": "t2", "subject": "wallet:a", "predicate": "tag", "source": "tags"}),
        Record("entities", {"id": "actor:1", "kind": "actor", "source": "tags"}),
        Record("rejected_inputs", {"stream": "tags.files", "value": "v", "context": "c", "reason": "r"}),
    ])
    assert store.list_latest_snapshot("ofac") == "2026-02-01"
    assert store.list_latest_snapshot("un") is None
    assert store.list_members("ofac", "2026-02-01") == [
        {"kind": "wallet", "key": "wallet:x", "label": "X", "list_type": "sdn"}]
    assert [(r["id"], r["subject"], r["attrs"]) for r in store.open_listings("ofac")] == [
        ("o1", "wallet:x", {"entity": "entity:ofac:1"}), ("o2", "wallet:y", {})]
    assert [r["id"] for r in store.open_listings("ofac", ("sanctioned",))] == ["o1"]
    assert [r["id"] for r in store.open_listings("ofac", seen_before="2026-02-01")] == ["o2"]
    assert store.tag_totals("tags", "tags.files", actors=True) == {"tags": 3, "addresses": 1, "rejected": 1}
    assert store.tag_totals("tags", "tags.files", actors=False) == {"tags": 2, "addresses": 1, "rejected": 1}


def test_vastai_machines(store: Store) -> None:
    store.ensure_tables([OFFERS])
    _write(store, [
        Record("vastai_offers", {"snapshot": T0, "offer_id": 1, "machine_id": 7, "host_id": 3, "gpu_name": "A100",
                                 "num_gpus": 8, "country": "DE"}),
        Record("vastai_offers", {"snapshot": T0, "offer_id": 2, "machine_id": 7, "host_id": 3, "gpu_name": "A100",
                                 "num_gpus": 4, "country": "DE"}),
        Record("vastai_offers", {"snapshot": "later", "offer_id": 3, "machine_id": 9, "host_id": 4}),
    ])
    assert store.vastai_machines(T0) == {
        7: {"machine_id": 7, "host_id": 3, "gpu_name": "A100", "num_gpus": 8, "country": "DE"}}
