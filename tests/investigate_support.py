"""A small case world for the investigator tests: rows in the core tables exactly as connectors
write them (through ``write_page``), plus ``flags``/``evidence`` rows in the documented columns
(docs/architecture.md) as the scoring step writes them.  Built in any backend (``open_store``).

    exchange X (tag exchange) --paid--> funder F --paid--> renter A (OFAC-listed, listed_as entity E)
    benign B1..B4 --paid--> X              A --rented--> lease L --leased_from--> provider P
    A --paid (tx T)--> P's payout wallet W  L --uses_gpu--> gpu:h100-sxm   P --payout_to--> W
    A --same_actor-- A2 --same_actor-- A3  F2 --paid--> F (2 hops back from A)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from connectors.base import Page, Record
from tracer.scoring.tables import EVIDENCE, FLAGS  # the columns scoring writes, not a copy of them
from tracer.store import StoreBackend, open_store
from tracer.world import evm_address

T0 = "2026-03-01T10:00:00Z"


def w(seed: str) -> str:
    return f"wallet:evm:{evm_address(seed)}"


IDS: dict[str, str] = {
    "A": w("case-renter"), "A2": w("case-renter-2"), "A3": w("case-renter-3"), "F": w("case-funder"),
    "F2": w("case-funder-2"), "X": w("case-exchange"), "W": "wallet:akash:akash1payoutpayoutpayoutpayoutpayo0x",
    "P": "provider:akash:akash1providerproviderprovider0001", "L": "lease:akash:akash1renter/42/1/1",
    "E": "entity:ofac:41234", "G": "gpu:h100-sxm",
    **{f"B{i}": w(f"case-benign-{i}") for i in range(1, 5)},
}
TX = "0x" + "ab" * 32


def _edge(eid: str, kind: str, src: str, dst: str, t: str, amount: int | None = None,
          tx: str | None = None, block: int | None = None, attrs: dict[str, Any] | None = None) -> Record:
    return Record("edges", {
        "id": eid, "kind": kind, "src": IDS.get(src, src), "dst": IDS.get(dst, dst),
        "chain": "ethereum" if amount is not None else None, "asset": "USDC" if amount is not None else None,
        "amount": str(amount) if amount is not None else None, "decimals": 6 if amount is not None else None,
        "time": t, "block": block, "tx": tx, "attrs": attrs or {}, "source": "test", "first_seen": t,
        "last_seen": t})


def _entity(key: str, kind: str, label: str | None, address: str | None = None, chain: str | None = None) -> Record:
    return Record("entities", {"id": IDS[key], "kind": kind, "chain": chain, "address": address, "label": label,
                               "attrs": {}, "source": "test", "first_seen": T0, "last_seen": T0})


def _obs(oid: str, subject: str, predicate: str, value: str, attrs: dict[str, Any] | None = None,
         t: str = T0) -> Record:
    return Record("observations", {"id": oid, "subject": IDS.get(subject, subject), "predicate": predicate,
                                   "value": value, "confidence": 1.0, "observed_at": t, "valid_to": None,
                                   "attrs": attrs or {}, "source": "test", "first_seen": t, "last_seen": t})


def records() -> list[Record]:
    recs = [
        _entity("A", "wallet", None, IDS["A"].split(":")[2], "evm"),
        _entity("A2", "wallet", None, IDS["A2"].split(":")[2], "evm"),
        _entity("F", "wallet", "fresh funder", IDS["F"].split(":")[2], "evm"),
        _entity("X", "wallet", "BigExchange hot wallet", IDS["X"].split(":")[2], "evm"),
        _entity("P", "provider", "gpu-farm.example", "akash1providerproviderprovider0001", "akash"),
        _entity("E", "entity", "Kowloon Compute Ltd"),
        _entity("G", "gpu", "NVIDIA H100 SXM"),
        _obs("obs:ofac:A", "A", "sanctioned", "OFAC SDN", {"asset": "ETH"}),
        _obs("obs:list:E", "E", "listed", "OFAC SDN", {"programme": "CYBER2"}),
        _obs("obs:org:E", "E", "organization", "Kowloon Compute Ltd"),
        _obs("obs:tag:X", "X", "tag", "BigExchange", {"category": "exchange"}),
        _obs("obs:loc:P", "P", "location", "HK", {"layer": "declared"}, "2026-03-02T00:00:00Z"),
        _edge("e:listed", "listed_as", "A", "E", T0),
        _edge("e:f2f", "paid", "F2", "F", "2026-02-20T00:00:00Z", 7_000_000_000, "0x" + "02" * 32, 90),
        _edge("e:xf", "paid", "X", "F", "2026-02-25T00:00:00Z", 5_000_000_000, "0x" + "01" * 32, 100),
        _edge("e:fa", "paid", "F", "A", "2026-02-28T12:00:00Z", 2_500_000_000, "0x" + "03" * 32, 110),
        _edge("e:aw", "paid", "A", "W", "2026-03-05T09:30:00Z", 1_234_500_000, TX, 120),
        _edge("e:aw-fee", "paid", "A", "X", "2026-03-05T09:30:00Z", 500_000, TX, 120),
        _edge("e:rent", "rented", "A", "L", "2026-03-05T09:00:00Z"),
        _edge("e:lease", "leased_from", "L", "P", "2026-03-05T09:00:00Z"),
        _edge("e:gpu", "uses_gpu", "L", "G", "2026-03-05T09:00:00Z", attrs={"units": 8}),
        _edge("e:payout", "payout_to", "P", "W", T0),
        _edge("e:sa1", "same_actor", "A", "A2", T0, attrs={"heuristic": "common_funder", "strength": 0.9}),
        _edge("e:sa2", "same_actor", "A2", "A3", T0, attrs={"heuristic": "manifest_hash", "strength": 0.8}),
    ]
    for i in range(1, 5):
        recs.append(_edge(f"e:b{i}", "paid", f"B{i}", "X", f"2026-02-1{i}T00:00:00Z", i * 1_000_000, f"0x{i:064x}",
                          80 + i))
    return recs


def flag_rows() -> list[dict[str, Any]]:
    return [
        {"subject": IDS["A"], "score": 0.95, "level": "severe", "rules_version": "test-1", "computed_at": T0,
         "reasons": json.dumps([{"rule": "listed_wallet", "score": 0.95, "detail": "on OFAC SDN (ETH)"},
                                {"rule": "gpu_class", "score": 0.4, "detail": "rented 8x H100 SXM (3A090.a)"}]),
         "first_seen": "2026-03-01T10:00:00Z", "last_seen": "2026-03-06T00:00:00Z"},
        {"subject": IDS["F"], "score": 0.55, "level": "medium", "rules_version": "test-1", "computed_at": T0,
         "reasons": json.dumps([{"rule": "exposure", "score": 0.55, "detail": "paid a listed wallet 1 hop"}]),
         "first_seen": "2026-03-01T10:00:00Z", "last_seen": "2026-03-06T00:00:00Z"},
        {"subject": IDS["P"], "score": 0.72, "level": "high", "rules_version": "test-1", "computed_at": T0,
         "reasons": json.dumps([{"rule": "jurisdiction", "score": 0.7, "detail": "declared location HK (D:5)"}]),
         "first_seen": "2026-03-02T00:00:00Z", "last_seen": "2026-03-06T00:00:00Z"},
        {"subject": IDS["E"], "score": 0.9, "level": "severe", "rules_version": "test-1", "computed_at": T0,
         "reasons": json.dumps([{"rule": "listed_entity", "score": 0.9, "detail": "OFAC SDN entity"}]),
         "first_seen": "2026-03-01T10:00:00Z", "last_seen": "2026-03-06T00:00:00Z"},
    ]


def evidence_rows() -> list[dict[str, Any]]:
    return [
        {"id": "ev:1", "subject": IDS["A"], "rule": "listed_wallet", "score": 0.95,
         "detail": "wallet is on the OFAC SDN list (ETH)", "refs": json.dumps(["obs:ofac:A"]),
         "path": json.dumps([]), "computed_at": T0},
        {"id": "ev:2", "subject": IDS["A"], "rule": "gpu_class", "score": 0.4,
         "detail": "rented 8x H100 SXM (3A090.a) from provider in HK",
         "refs": json.dumps(["e:rent", "e:gpu"]), "path": json.dumps([IDS["A"], IDS["L"], IDS["G"]]),
         "computed_at": T0},
        {"id": "ev:3", "subject": IDS["F"], "rule": "exposure", "score": 0.55, "detail": "paid a listed wallet",
         "refs": json.dumps(["e:fa"]), "path": json.dumps([IDS["F"], IDS["A"]]), "computed_at": T0},
    ]


def add_derived(store: StoreBackend, flags: list[dict[str, Any]] | None = None) -> None:
    """Write flags/evidence rows in the documented columns (test setup only): flags replaced
    wholesale, evidence rows replaced by id, in one transaction of the store's portable writes."""
    store.ensure_tables([FLAGS, EVIDENCE])
    with store.transaction():
        store.execute("DELETE FROM flags")
        for table, key, rows in (("flags", "subject", flag_rows() if flags is None else flags),
                                 ("evidence", "id", evidence_rows())):
            for r in rows:
                cols = ", ".join(r)
                store.execute(f"DELETE FROM {table} WHERE {key} = ?", [r[key]])
                store.execute(f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' for _ in r)})", list(r.values()))


def build_world(path: Path | str, derived: bool = True) -> StoreBackend:
    """A store holding the case world (``path``: any ``db`` value), written as one page of a test source."""
    store = open_store(path)
    body = json.dumps({"world": "case"}).encode()
    store.write_page("test.case", Page(body, "http://127.0.0.1/test/case.json", "GET", None, {"done": True},
                                       fetched_at=T0), records(), "run-test")
    if derived:
        add_derived(store)
    return store
