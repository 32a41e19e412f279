"""Every real recorded mainnet response in getblock-docs-2026/ parses exactly (one test per file).

The files are read in place from ../shared/fixtures (never copied); each test skips with the reason
when they are absent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connectors.akash.lcd import (
    AuditStream,
    BidsStream,
    DeploymentsStream,
    LeasesStream,
    OrdersStream,
    ProvidersStream,
    VersionBook,
)
from connectors.akash.parse import USDC_IBC, coin_amount, dec_scaled
from connectors.akash.records import funding_records, lease_records
from connectors.base import Page, Record
from tracer.world import fixtures_dir

AT = "2026-11-24T00:00:00Z"
CFG = {"lcd_url": "http://127.0.0.1:1", "page_size": 100}


def real(name: str) -> Path:
    fx = fixtures_dir()
    p = fx / "akash-rest" / "getblock-docs-2026" / name if fx else None
    if p is None or not p.exists():
        pytest.skip(f"real fixture akash-rest/getblock-docs-2026/{name} not present (set TRACER_FIXTURES)")
    return p


def transform(stream_cls: Any, name: str, list_key: str | None = None,
              meta: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[Record]]:
    body = real(name).read_bytes()
    data = json.loads(body)
    items = data[list_key] if list_key else [data]
    page = Page(body=body, url="file", method="GET", data={"items": items}, state=None, meta=meta or {},
                fetched_at=AT)
    return data, list(stream_cls(CFG, VersionBook()).transform(page))


def by(records: list[Record], table: str, **eq: Any) -> list[dict[str, Any]]:
    return [dict(r.row) for r in records if r.table == table and all(r.row.get(k) == v for k, v in eq.items())]


def test_leases_list_v1beta5() -> None:
    data, recs = transform(LeasesStream, "market_v1beta5_leases_list.json", "leases",
                           {"groups": {}, "head": 25_880_690 + 600, "seconds_per_block": 6.0})
    assert data["pagination"]["next_key"].startswith("qpP0Sw")
    (lease,) = by(recs, "akash_leases")
    assert lease["owner"] == "akash102kdwsssl6jf4frdcz50mua6j0h6d8wdhjh7nq"
    assert lease["provider"] == "akash19zzh7whjt4vfwxd5wtj3tjtyatnpntfhldshd8"
    assert (lease["dseq"], lease["gseq"], lease["oseq"], lease["bseq"]) == ("25880666", 1, 1, 0)
    assert (lease["price_amount"], lease["price_denom"]) == ("4.826603000000000000", "uact")
    assert (lease["created_at"], lease["closed_on"], lease["shape"]) == (25880690, None, "v1beta5")
    assert lease["reason"] == "lease_closed_invalid" and lease["state"] == "active"
    key = "akash102kdwsssl6jf4frdcz50mua6j0h6d8wdhjh7nq/25880666/1/1/akash19zzh7whjt4vfwxd5wtj3tjtyatnpntfhldshd8"
    (rented,) = by(recs, "edges", kind="rented")
    assert (rented["src"], rented["dst"], rented["block"]) == (
        "wallet:akash:akash102kdwsssl6jf4frdcz50mua6j0h6d8wdhjh7nq", f"lease:akash:{key}", 25880690)
    (lf,) = by(recs, "edges", kind="leased_from")
    assert lf["dst"] == "provider:akash:akash19zzh7whjt4vfwxd5wtj3tjtyatnpntfhldshd8"
    (pay,) = by(recs, "akash_escrow_payments")
    assert pay["xid"] == "akash102kdwsssl6jf4frdcz50mua6j0h6d8wdhjh7nq/25880666"
    assert pay["payment"] == "1/1/akash19zzh7whjt4vfwxd5wtj3tjtyatnpntfhldshd8"
    assert pay["withdrawn"] == "13780746 uact" and pay["rate"] == "4.826603000000000000 uact"
    assert by(recs, "observations", predicate="role", value="renter")
    assert not by(recs, "rejected_inputs")


def test_leases_info_same_lease() -> None:
    _, recs = transform(LeasesStream, "market_v1beta5_leases_info.json", None, {"groups": {}})
    (lease,) = by(recs, "akash_leases")
    assert lease["dseq"] == "25880666" and lease["price_denom"] == "uact"
    assert lease["owner"] == "akash102kdwsssl6jf4frdcz50mua6j0h6d8wdhjh7nq"


def test_deployments_list_v1beta4() -> None:
    data, recs = transform(DeploymentsStream, "deployment_v1beta4_deployments_list.json", "deployments")
    (dep,) = by(recs, "akash_deployments")
    assert (dep["owner"], dep["dseq"]) == ("akash100dwtg4hqnd240x583spjwnk4kanp559xwtvmg", "16122570")
    assert dep["hash"] == "bLTCo5xFV2obtovLJ/rUZDHLkzAbB8vlXpF2iJGKpaY=" and dep["created_at"] == 16122572
    (grp,) = by(recs, "akash_groups")
    assert (grp["gseq"], grp["name"], grp["gpu_units"], grp["prices"]) == (1, "dcloud", 0, ["584.635140000000000000 uact"])
    (acc,) = by(recs, "akash_escrow_accounts")
    assert acc["funds"] == ["292317.570000000000000000 uact"] and acc["transferred"] == ["0.000000000000000000 uakt"]
    (paid,) = by(recs, "edges", kind="paid")
    assert paid["src"] == "wallet:akash:akash100dwtg4hqnd240x583spjwnk4kanp559xwtvmg"
    assert paid["dst"] == "deployment:akash:akash100dwtg4hqnd240x583spjwnk4kanp559xwtvmg/16122570"
    # 292317.57 uact exactly, scaled by 10^18 with decimals 6 + 18.
    assert (paid["asset"], paid["amount"], paid["decimals"]) == ("uact", "292317570000000000000000", 24)
    assert paid["attrs"]["third_party"] is False and paid["attrs"]["amount_text"] == "292317.570000000000000000"


def test_bids_list_usdc_ibc() -> None:
    _, recs = transform(BidsStream, "market_v1beta5_bids_list.json", "bids")
    (bid,) = by(recs, "akash_bids")
    assert bid["owner"] == "akash1008l639687lnkcscsrha36n5zdt3qzz30yzc67"
    assert bid["provider"] == "akash13va9yxc8a7wlc882g72uj4g2fscj93hdk0uycp"
    assert (bid["dseq"], bid["bseq"], bid["state"]) == ("22804430", 0, "open")
    assert (bid["price_amount"], bid["price_denom"]) == ("2.526488000000000000", USDC_IBC)
    (acc,) = by(recs, "akash_escrow_accounts")
    assert acc["scope"] == "bid" and acc["owner"] == "akash13va9yxc8a7wlc882g72uj4g2fscj93hdk0uycp"
    assert acc["funds"] == ["500000.000000000000000000 uakt"]
    assert not by(recs, "edges", kind="paid")  # a provider's bid collateral is not renter funding


def test_orders_list_gpu_wildcard_and_auditor() -> None:
    _, recs = transform(OrdersStream, "market_v1beta5_orders_list.json", "orders")
    (o,) = by(recs, "akash_orders")
    assert (o["owner"], o["dseq"], o["gpu_units"]) == ("akash1000dryw6pj53kxt6fe8admaue5lvjf8jjprqqh", "20805457", 1)
    assert o["gpu_keys"] == ["vendor/nvidia/model/*"]
    assert o["signed_by"]["all_of"] == ["akash1365yvmc4s7awdyj3n2sav7xfx76adc6dnmlx63"]
    assert o["prices"] == [f"10000.000000000000000000 {USDC_IBC}"]


def test_provider_owner_v1beta4() -> None:
    body = real("provider_v1beta4_providers_owner.json").read_bytes()
    data = json.loads(body)  # /providers/{owner} wraps the provider object in "provider"
    page = Page(body=body, url="file", method="GET", data={"items": [data["provider"]]}, state=None, fetched_at=AT)
    recs = list(ProvidersStream(CFG, VersionBook()).transform(page))
    (p,) = by(recs, "akash_providers")
    assert p["owner"] == "akash1qpy7waukp7nxlcxmwjcgtmyzu2auk3p5dc3gg6"
    assert p["host_uri"] == "https://provider.forgeelectronics.uk:8443"
    assert p["email"] == "REDACTED@example.invalid" and p["website"] is None
    assert p["attributes"] == [{"key": "host", "value": "akash"}]
    (payout,) = by(recs, "edges", kind="payout_to")
    assert payout["src"] == "provider:akash:akash1qpy7waukp7nxlcxmwjcgtmyzu2auk3p5dc3gg6"
    assert payout["dst"] == "wallet:akash:akash1qpy7waukp7nxlcxmwjcgtmyzu2auk3p5dc3gg6"
    (host,) = by(recs, "observations", predicate="host_uri")
    assert host["value"] == "https://provider.forgeelectronics.uk:8443"
    assert not by(recs, "observations", predicate="location")  # no country attribute declared


def test_audit_attributes_v1() -> None:
    _, recs = transform(AuditStream, "audit_v1_attributes_list.json", "providers")
    (a,) = by(recs, "akash_audited_attributes")
    assert a == {**a, "owner": "akash1pvskd94jtkph9vgqpf6ecg2as8pvck9w5a7wga",
                 "auditor": "akash1365yvmc4s7awdyj3n2sav7xfx76adc6dnmlx63", "key": "capabilities/cpu", "value": "amd"}


def test_tx_by_hash_envelope() -> None:
    data = json.loads(real("cosmos_tx_v1beta1_txs_hash.json").read_bytes())
    txr = data["tx_response"]
    assert (txr["height"], txr["txhash"][:8], txr["timestamp"]) == ("28742282", "84CA9097", "2026-09-22T18:08:00Z")
    # A wasm price update is not a transfer into a tenant: no funding edge, and nothing rejected.
    recs = list(funding_records(txr, {"akash1qafvet3v5nlkqdrlrkayy0eenq80aprqvj6nap"}, AT))
    assert recs == []
    assert coin_amount(txr["tx"]["auth_info"]["fee"]["amount"][0]) == ("uakt", str(10586 * 10**18), 24)


def test_old_lease_shape_lands_on_same_ids() -> None:
    """The older v1beta3/v1beta4 ``lease_id`` shape of the recorded lease gives the same rows."""
    data = json.loads(real("market_v1beta5_leases_info.json").read_bytes())
    new = data["lease"]
    old = {"lease_id": {k: v for k, v in new["id"].items() if k != "bseq"}, "state": new["state"],
           "price": new["price"], "created_at": new["created_at"], "closed_on": new["closed_on"]}
    a = {(r.table, r.row.get("id")) for r in lease_records({"lease": new}, None, None, 6.0, AT)}
    b = {(r.table, r.row.get("id")) for r in lease_records({"lease": old}, None, None, 6.0, AT)}
    assert a == b


def test_dec_amounts_exact() -> None:
    assert dec_scaled("4.826603000000000000") == 4_826_603 * 10**12
    assert dec_scaled("13780746") == 13_780_746 * 10**18
    with pytest.raises(ValueError):
        dec_scaled("1e5")
    with pytest.raises(ValueError):
        dec_scaled("0.0000000000000000001")  # 19 fractional digits: not a Cosmos Dec


def test_denom_exponents() -> None:
    from connectors.akash.parse import denom_exponent

    assert [denom_exponent(d) for d in ("uakt", "uact", USDC_IBC, "ibc/FFFF")] == [6, 6, 6, 0]
    assert denom_exponent("ibc/AB", "transfer/channel-9/uusdc") == 6
    assert denom_exponent("ibc/AB", "transfer/channel-35/peggy0xdAC17F958D2ee523a2206206994597C13D831ec7") == 6
    assert denom_exponent("ibc/AB", "transfer/channel-35/inj") == 18
