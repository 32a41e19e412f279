"""One bad item never costs a page: reproductions, then a structure-aware fuzzer over every stream.

The reproductions pin the faults found by the issue-17 audit.  The fuzzer (below) takes the pages every
registered connector yields against its demo part (generated or real recorded bodies, as in
``tests/test_conformance.py``), mutates one item at a time with hypothesis and checks that
``transform`` (and ``page_meta``) raise nothing, that a refused item becomes ``rejected_inputs`` rows
only, and that every other item of the page still yields the records it yields unmutated.
"""

from __future__ import annotations

import functools
from importlib.metadata import entry_points
from typing import Any

import fuzz_support as fz
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.akash.lcd import LeasesStream, VersionBook
from connectors.base import Page, RunContext, records_of
from tracer import registry
from tracer.store import Store
from tracer.world.akash import akash_address

AT = "2026-01-02T03:04:05Z"


def _ctx() -> RunContext:
    """A context whose read port is a real, empty store (nothing synced before)."""
    return RunContext(http=None, config={}, now=AT, run_id="r", stored=Store(":memory:"))  # type: ignore[arg-type]


def _lease(n: int) -> dict[str, Any]:
    return {"lease": {"id": {"owner": akash_address(f"tenant-{n}"), "dseq": str(1000 + n), "gseq": 1, "oseq": 1,
                             "provider": akash_address("provider-1"), "bseq": 0},
                      "state": "active", "price": {"denom": "uakt", "amount": "1.5"}, "created_at": str(500 + n),
                      "closed_on": "0"}}


def _leases_page(items: list[Any]) -> tuple[LeasesStream, Page]:
    s = LeasesStream({"lcd_url": "http://lcd.invalid"}, VersionBook())
    meta = {"head": None, "seconds_per_block": 6.0, **s.page_meta(_ctx(), items)}  # what extract computes
    return s, Page(body=b"{}", url="http://lcd.invalid/leases", method="GET",
                   data={"items": items, "version": "v1beta5"}, state=None, meta=meta, fetched_at=AT)


def test_a_lease_without_id_is_one_rejection_and_the_rest_of_the_page_is_stored() -> None:
    bad = _lease(2)
    del bad["lease"]["id"]
    s, page = _leases_page([_lease(1), bad, _lease(3)])  # issue 17: TypeError '<' None vs str here
    recs = list(records_of(s.transform(page)))
    leases = sorted(r.row["dseq"] for r in recs if r.table == "akash_leases")
    assert leases == ["1001", "1003"]
    rejected = [r for r in recs if r.table == "rejected_inputs"]
    assert len(rejected) == 1 and "id" in rejected[0].row["reason"]


def test_a_lease_of_the_wrong_type_is_one_rejection() -> None:
    for bad in (None, "lease", 7, ["x"], {"lease": "x"}, {"lease": {"id": ["owner"]}},
                {"lease": {"id": {"owner": None, "dseq": {"x": 1}}}}):
        s, page = _leases_page([_lease(1), bad, _lease(3)])
        recs = list(records_of(s.transform(page)))
        assert sorted(r.row["dseq"] for r in recs if r.table == "akash_leases") == ["1001", "1003"], bad
        assert len([r for r in recs if r.table == "rejected_inputs"]) == 1, bad



def _page(data: Any, body: bytes = b"{}", method: str = "GET") -> Page:
    return Page(body=body, url="http://x.invalid/", method=method, data=data, state=None, fetched_at=AT)


def test_solana_signature_without_signature_is_rejected_and_the_cursor_uses_valid_entries() -> None:
    from connectors.solana.connector import TransfersStream, valid_signatures

    s = TransfersStream({"rpc_url": "http://rpc.invalid", "addresses": ["A"]})
    sigs = [{"signature": "s1", "slot": 1}, {"slot": 2}, None, {"signature": "s3", "slot": 3}, {"err": "x"}]
    recs = list(records_of(s.transform(_page({"address": "A", "signatures": sigs},
                                             method="rpc:getSignaturesForAddress"))))
    assert [r.row["signature"] for r in recs if r.table == "solana_signatures"] == ["s1", "s3"]
    assert len([r for r in recs if r.table == "rejected_inputs"]) == 3
    # head/before (the walk's cursors) come from well-formed entries: s1 and s3, never a malformed one
    assert [v["signature"] for v in valid_signatures(sigs)] == ["s1", "s3"]


def test_vastai_offer_with_an_odd_machine_id_is_rejected_not_the_snapshot() -> None:
    import json

    from connectors.markets.vastai import OffersStream

    offers = [{"id": 1, "host_id": 10, "machine_id": 100, "gpu_name": "RTX 4090", "num_gpus": 2},
              {"id": 2, "host_id": 10, "machine_id": "100b", "gpu_name": "RTX 4090", "num_gpus": 1},  # sorted with ints
              {"id": 3, "host_id": 11, "machine_id": 101, "gpu_name": "RTX 4090", "num_gpus": "4"},  # max(int, str)
              {"id": 4, "host_id": 12, "machine_id": 102, "gpu_name": "RTX 4090", "num_gpus": 1}]
    s = OffersStream({"base_url": "http://vast.invalid"})
    recs = list(records_of(s.transform(_page({"snapshot": AT, "query": {}}, json.dumps({"offers": offers}).encode(),
                                             "POST"))))
    assert sorted(r.row["offer_id"] for r in recs if r.table == "vastai_offers") == [1, 4]
    assert len([r for r in recs if r.table == "rejected_inputs"]) == 2
    assert [r.row["offers"] for r in recs if r.table == "vastai_snapshots"] == [2]


def test_clore_server_with_a_huge_id_is_rejected_and_its_host_totals_leave_it_out() -> None:
    import json

    from connectors.markets.clore import ServersStream

    servers = [{"id": 1, "owner": 7, "specs": {"gpu": "1x NVIDIA GeForce RTX 3080", "net": {"cc": "DE"}}},
               {"id": 2**64, "owner": 7, "specs": {"gpu": "1x NVIDIA GeForce RTX 3080"}},
               {"id": 3, "owner": 7, "specs": "not an object"}]
    s = ServersStream({"base_url": "http://clore.invalid"})
    recs = list(records_of(s.transform(_page({"snapshot": AT}, json.dumps({"servers": servers, "code": 0}).encode()))))
    assert [r.row["server_id"] for r in recs if r.table == "clore_servers"] == [1]
    assert len([r for r in recs if r.table == "rejected_inputs"]) == 2
    host = [r.row for r in recs if r.table == "entities" and r.row["id"] == "provider:clore:7"]
    assert host[0]["attrs"]["servers"] == 1


def test_opensanctions_delta_op_without_entity_is_one_rejection() -> None:
    from connectors.lists.opensanctions import DeltaStream

    person = {"id": "p1", "schema": "Person", "caption": "A Person", "properties": {"name": ["A Person"]}}
    ops = [{"op": "ADD", "entity": person}, {"op": "DEL"}, {"op": "ADD", "entity": {"id": None}}, "x"]
    s = DeltaStream("lists_opensanctions", "delta", "http://os.invalid/delta.json", "opensanctions-delta")
    recs = list(records_of(s.transform(_page({"ops": ops, "version": "20240527134702-zbn", "members": [],
                                              "stale": [], "load_at": AT}))))
    assert any(r.table == "entities" and r.row["id"] == "entity:opensanctions:p1" for r in recs)
    assert len([r for r in recs if r.table == "rejected_inputs"]) == 3


# -- the fuzzer -------------------------------------------------------------------------------------
REGISTERED = sorted(ep.name for ep in entry_points(group=registry.GROUP))
EXAMPLES = 25  # per stream: the whole file stays well under a minute on 2 cores (bench/fuzz.py: many more)


@functools.cache
def _targets() -> dict[str, list[fz.Target]]:
    return fz.targets(REGISTERED)


# Streams with no page of JSON items to mutate: snapshot lists parse whole files, entry by entry (a bad
# entry is one rejected_inputs row and delists nothing; fuzzed by tests/test_fuzz_lists.py), and
# akash.versions is tracer's own probe page.
NOT_FUZZED = frozenset({
    "akash.versions", "lists_csl.csl", "lists_ofac.sdn_csv", "lists_tags.etherscan", "lists_tags.forta",
    "lists_tags.graphsense", "lists_tags.graphsense_actors", "lists_un.un", "ofac_addresses.addresses"})


def _streams() -> list[str]:
    return sorted(s.name for n in REGISTERED for s in registry.get(n).streams(registry.get(n).default_config()))


def test_every_registered_stream_is_fuzzed_or_has_no_item_list() -> None:
    got = _targets()
    assert set(got) >= {"akash.leases", "akash.deployments", "clore.servers", "vastai.offers", "golem.providers"}
    assert sum(1 for v in got.values() if v) >= 15, {k: len(v) for k, v in got.items()}
    # A new stream must be fuzzed, or be listed above with the reason.
    assert {s for s in _streams() if not got.get(s)} == NOT_FUZZED


@pytest.mark.timeout(120)
@pytest.mark.parametrize("stream", [s for s in _streams() if s not in NOT_FUZZED])
def test_one_mutated_item_never_costs_the_page(stream: str) -> None:
    pages = _targets().get(stream) or []
    assert pages, f"{stream}: no page with an item list in its demo part (list it in NOT_FUZZED with the reason)"

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def prop(data: st.DataObject) -> None:
        t = pages[data.draw(st.integers(0, len(pages) - 1))]
        fz.example(t, data.draw, st)

    prop()
