"""Akash objects (LCD and Console, every known shape) -> entities, edges, observations, own tables.

Each function takes one parsed object and the page's fetch time and yields records; ids are chosen
so that the LCD and the Console describing the same lease/provider write the same rows.  Location is
never collapsed: the declared ``country`` attribute, each auditor's signed copy and the Console's IP
geolocation are separate ``location`` observations told apart by ``attrs.layer``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

from connectors import facts, ids
from connectors.addresses import COSMOS_HRPS, AddressError, _convertbits, bech32_decode
from connectors.akash.parse import (
    CHAIN,
    SOURCE,
    GpuRequest,
    ParseError,
    _bad,
    addr,
    b64json,
    coin_amount,
    coin_text,
    deposit_edge,
    group_gpu,
    height,
    lease_gpu_hours,
    lease_id,
    wallet,
    wallet_records,
)
from connectors.base import Column, Record, Table
from connectors.gpu_names import gpu_id
from connectors.lists.ofac_addresses import REJECTED

_T = Column
PROVIDERS = Table("akash_providers", (
    _T("owner"), _T("host_uri"), _T("email"), _T("website"), _T("attributes"), _T("name"), _T("ip_country_code"),
    _T("ip_region"), _T("ip_lat"), _T("ip_lon"), _T("uptime_1d", "REAL"), _T("uptime_7d", "REAL"),
    _T("uptime_30d", "REAL"), _T("is_online", "INTEGER"), _T("is_audited", "INTEGER"), _T("gpu_models"),
    _T("console_attributes"), _T("first_seen"), _T("last_seen")), pk=("owner",), keep_first_seen=("first_seen",))
AUDITED = Table("akash_audited_attributes", (
    _T("owner"), _T("auditor"), _T("key"), _T("value"), _T("first_seen"), _T("last_seen")),
    pk=("owner", "auditor", "key"), keep_first_seen=("first_seen",))
DEPLOYMENTS = Table("akash_deployments", (
    _T("owner"), _T("dseq"), _T("state"), _T("created_at", "INTEGER"), _T("hash"), _T("shape"),
    _T("first_seen"), _T("last_seen")), pk=("owner", "dseq"), keep_first_seen=("first_seen",))
GROUPS = Table("akash_groups", (
    _T("owner"), _T("dseq"), _T("gseq", "INTEGER"), _T("state"), _T("name"), _T("gpu_units", "INTEGER"),
    _T("gpu_keys"), _T("gpu_model"), _T("prices"), _T("created_at", "INTEGER"), _T("first_seen"),
    _T("last_seen")), pk=("owner", "dseq", "gseq"), keep_first_seen=("first_seen",))
ORDERS = Table("akash_orders", (
    _T("owner"), _T("dseq"), _T("gseq", "INTEGER"), _T("oseq", "INTEGER"), _T("state"), _T("gpu_units", "INTEGER"),
    _T("gpu_keys"), _T("signed_by"), _T("prices"), _T("created_at", "INTEGER"), _T("first_seen"),
    _T("last_seen")), pk=("owner", "dseq", "gseq", "oseq"), keep_first_seen=("first_seen",))
BIDS = Table("akash_bids", (
    _T("owner"), _T("dseq"), _T("gseq", "INTEGER"), _T("oseq", "INTEGER"), _T("provider"), _T("bseq", "INTEGER"),
    _T("state"), _T("price_amount"), _T("price_denom"), _T("gpu_units", "INTEGER"), _T("gpu_keys"),
    _T("created_at", "INTEGER"), _T("first_seen"), _T("last_seen")),
    pk=("owner", "dseq", "gseq", "oseq", "provider", "bseq"), keep_first_seen=("first_seen",))
LEASES = Table("akash_leases", (
    _T("owner"), _T("dseq"), _T("gseq", "INTEGER"), _T("oseq", "INTEGER"), _T("provider"), _T("bseq", "INTEGER"),
    _T("state"), _T("price_amount"), _T("price_denom"), _T("created_at", "INTEGER"), _T("closed_on", "INTEGER"),
    _T("reason"), _T("shape"), _T("gpu_units", "INTEGER"), _T("gpu_model"), _T("gpu_hours"), _T("first_seen"),
    _T("last_seen")), pk=("owner", "dseq", "gseq", "oseq", "provider"), keep_first_seen=("first_seen",),
    indexes=(("provider",),))
ESCROW_ACCOUNTS = Table("akash_escrow_accounts", (
    _T("scope"), _T("xid"), _T("owner"), _T("state"), _T("funds"), _T("deposits"), _T("transferred"),
    _T("settled_at", "INTEGER"), _T("shape"), _T("first_seen"), _T("last_seen")), pk=("scope", "xid"),
    keep_first_seen=("first_seen",))
ESCROW_PAYMENTS = Table("akash_escrow_payments", (
    _T("scope"), _T("xid"), _T("payment"), _T("owner"), _T("state"), _T("rate"), _T("balance"),
    _T("withdrawn"), _T("shape"), _T("first_seen"), _T("last_seen")), pk=("scope", "xid", "payment"),
    keep_first_seen=("first_seen",))
API_VERSIONS = Table("akash_api_versions", (
    _T("node"), _T("module"), _T("version"), _T("tried"), _T("checked_at")), pk=("node", "module"))
__all__ = ["REJECTED"]

DECLARED, AUDITED_C, IP = 0.5, 0.8, 0.7


def _iso2(v: str) -> tuple[str | None, str]:
    s = (v or "").strip()
    return (s.upper(), s) if len(s) == 2 and s.isalpha() else (None, s)


def _locations(subject: str, attrs: list[Mapping[str, Any]], at: str, layer: str, conf: float,
               auditor: str | None = None) -> Iterator[Record]:
    """The ``location`` (and ``location_region``) a provider's attributes declare, or one auditor signed."""
    kv = {str(a.get("key")): str(a.get("value") or "") for a in attrs}
    extra: dict[str, Any] = {"auditor": auditor} if auditor else {}
    key = f"{layer}:{auditor}" if auditor else layer
    if kv.get("country"):
        iso, raw = _iso2(kv["country"])
        if iso:
            yield facts.location(subject, iso, SOURCE, at, layer=layer, confidence=conf, key=key, **extra,
                                 city=kv.get("city") or None, region=kv.get("location-region") or None)
        else:
            yield facts.location(subject, None, SOURCE, at, layer=layer, confidence=conf, key=key, **extra,
                                 unresolved=raw)
    region = kv.get("location-region") or kv.get("region")
    if region:
        yield facts.observation(subject, "location_region", region, SOURCE, at, confidence=conf, key=key,
                                attrs={"layer": layer, **extra})


def provider_records(p: Mapping[str, Any], at: str) -> Iterator[Record]:
    """An on-chain provider (provider v1beta3/v1beta4): identity, payout wallet, declared facts."""
    owner = addr(p["owner"])
    pid = ids.provider(CHAIN, owner)
    attrs = [a for a in p.get("attributes") or [] if isinstance(a, Mapping)]
    kv = {str(a.get("key")): str(a.get("value") or "") for a in attrs}
    info = p.get("info") or {}
    host_uri = str(p.get("host_uri") or "")
    yield facts.entity(pid, SOURCE, at, chain=CHAIN, address=owner,
                       label=kv.get("organization") or host_uri or owner, attrs={"host_uri": host_uri})
    yield from wallet_records(owner, at, "provider")
    yield _payout(pid, owner, at)
    email = info.get("email") or kv.get("email")
    website = info.get("website") or kv.get("website")
    for pred, val in (("organization", kv.get("organization")), ("email", email), ("website", website),
                      ("host_uri", host_uri)):
        if val:
            yield facts.observation(pid, pred, val, SOURCE, at, confidence=DECLARED,
                                    attrs={"layer": "declared"})
    yield from _locations(pid, attrs, at, "declared", DECLARED)
    yield Record("akash_providers", {"owner": owner, "host_uri": host_uri, "email": email or None,
                                     "website": website or None, "attributes": attrs,
                                     "first_seen": at, "last_seen": at})


def audit_records(entry: Mapping[str, Any], at: str) -> Iterator[Record]:
    """Audited attributes (audit v1/v1beta3): the auditor's signed copy, kept per auditor."""
    owner, auditor = addr(entry["owner"]), addr(entry["auditor"])
    attrs = [a for a in entry.get("attributes") or [] if isinstance(a, Mapping)]
    for a in attrs:
        yield Record("akash_audited_attributes", {"owner": owner, "auditor": auditor, "key": str(a.get("key")),
                                                  "value": str(a.get("value")), "first_seen": at,
                                                  "last_seen": at})
    yield from _locations(ids.provider(CHAIN, owner), attrs, at, "audited", AUDITED_C, auditor)


def _group_row(owner: str, dseq: str, g: Mapping[str, Any], at: str) -> Iterator[Record]:
    spec = g.get("group_spec") or g.get("spec") or {}
    req = group_gpu(spec.get("resources"))
    prices = [coin_text(r.get("price")) for r in spec.get("resources") or [] if r.get("price")]
    gid = g.get("id") or g.get("group_id") or {}
    yield Record("akash_groups", {
        "owner": owner, "dseq": dseq, "gseq": int(gid.get("gseq", 0)), "state": g.get("state"),
        "name": spec.get("name"), "gpu_units": req.units, "gpu_keys": list(req.keys),
        "gpu_model": req.catalog_id, "prices": prices, "created_at": height(g.get("created_at")),
        "first_seen": at, "last_seen": at})


def deployment_records(item: Mapping[str, Any], at: str) -> Iterator[Record]:
    """A deployments/list item (v1beta3..v1beta5): deployment, its groups, its escrow account."""
    d = item.get("deployment") or {}
    i = d.get("id") or d.get("deployment_id") or {}
    owner, dseq = addr(i["owner"]), str(i["dseq"])
    did = ids.deployment(CHAIN, owner, dseq)
    manifest = d.get("hash") or d.get("version")
    yield facts.entity(did, SOURCE, at, chain=CHAIN, address=owner, label=ids.key_of(did),
                       attrs={"state": d.get("state"), "created_at": height(d.get("created_at")),
                              "manifest_hash": manifest})
    yield from wallet_records(owner, at, "renter")
    yield Record("akash_deployments", {"owner": owner, "dseq": dseq, "state": d.get("state"),
                                       "created_at": height(d.get("created_at")), "hash": manifest,
                                       "shape": "v1beta4+" if "hash" in d else "v1beta3",
                                       "first_seen": at, "last_seen": at})
    for g in item.get("groups") or []:
        yield from _group_row(owner, dseq, g, at)
    if item.get("escrow_account"):
        yield from escrow_account_records(item["escrow_account"], at)


def escrow_account_records(acc: Mapping[str, Any], at: str) -> Iterator[Record]:
    """An escrow account in the v1 shape (``state.deposits[]``) or the v1beta3 flat shape.

    Deposits into a deployment's account become ``paid`` depositor -> deployment: a depositor that is
    not the owner is third-party (authz) funding. Bid accounts hold the provider's own collateral and
    get no ``paid`` edge.
    """
    i = acc.get("id") or {}
    scope, xid = str(i.get("scope")), str(i.get("xid"))
    target = _funded_deployment(xid) if scope == "deployment" else None
    st = acc.get("state")
    if isinstance(st, Mapping):  # v1 / embedded v1beta4+ shape
        owner = addr(st["owner"])
        deposits = list(st.get("deposits") or [])
        yield Record("akash_escrow_accounts", {
            "scope": scope, "xid": xid, "owner": owner, "state": st.get("state"),
            "funds": [coin_text(c) for c in st.get("funds") or []], "deposits": deposits,
            "transferred": [coin_text(c) for c in st.get("transferred") or []],
            "settled_at": height(st.get("settled_at")), "shape": "v1", "first_seen": at, "last_seen": at})
        if target:
            seen: dict[str, int] = {}
            for dep in deposits:
                who = addr(dep["owner"])
                n = seen[who] = seen.get(who, -1) + 1
                yield from wallet_records(who, at)
                yield deposit_edge(who, target, xid, dep.get("balance") or {}, at, n, height(dep.get("height")),
                                   {"source": dep.get("source"), "third_party": who != owner})
        return
    owner = addr(acc["owner"])  # v1beta3: owner, state, balance, transferred, settled_at, depositor, funds
    depositor = addr(acc["depositor"]) if acc.get("depositor") else owner
    yield Record("akash_escrow_accounts", {
        "scope": scope, "xid": xid, "owner": owner, "state": st, "funds": [coin_text(acc.get("funds"))],
        "deposits": [{"owner": depositor, "balance": acc.get("funds")}],
        "transferred": [coin_text(acc.get("transferred"))], "settled_at": height(acc.get("settled_at")),
        "shape": "v1beta3", "first_seen": at, "last_seen": at})
    if target:
        bal = acc.get("balance") or {}
        if bal and coin_amount(bal)[1] != "0":
            yield deposit_edge(owner, target, xid, bal, at, 0, None, {"basis": "owner balance",
                                                                      "third_party": False})
        funds = acc.get("funds") or {}
        if depositor != owner and funds and coin_amount(funds)[1] != "0":
            yield from wallet_records(depositor, at)
            yield deposit_edge(depositor, target, xid, funds, at, 0, None, {"basis": "depositor funds",
                                                                            "third_party": True})


def _funded_deployment(xid: str) -> str:
    """The deployment a deployment-scope escrow account funds: its ``xid`` is the key ``<owner>/<dseq>``."""
    owner, sep, dseq = xid.partition("/")
    if not sep:
        raise ParseError(f"deployment escrow account xid {xid!r} is not <owner>/<dseq>")
    return ids.deployment(CHAIN, owner, dseq)


def _payout(pid: str, owner: str, at: str) -> Record:
    """``payout_to`` provider -> its owner wallet (Akash pays a provider to the key that runs it)."""
    return facts.edge(ids.edge(SOURCE, "payout_to", owner), "payout_to", pid, wallet(owner), SOURCE, at,
                      chain=CHAIN)


def payment_records(p: Mapping[str, Any], at: str) -> Iterator[Record]:
    """An escrow payment (v1 ``id{aid,xid}``+``state{}`` or v1beta3 flat ``account_id``/``payment_id``)."""
    if "aid" in (p.get("id") or {}):
        aid, st, pay, shape = p["id"]["aid"], p.get("state") or {}, str(p["id"].get("xid")), "v1"
    else:
        aid, st, pay, shape = p.get("account_id") or {}, p, str(p.get("payment_id")), "v1beta3"
    yield Record("akash_escrow_payments", {
        "scope": aid.get("scope"), "xid": aid.get("xid"), "payment": pay, "owner": addr(st["owner"]),
        "state": st.get("state"), "rate": coin_text(st.get("rate")), "balance": coin_text(st.get("balance")),
        "withdrawn": coin_text(st.get("withdrawn")), "shape": shape, "first_seen": at, "last_seen": at})


def order_records(o: Mapping[str, Any], at: str) -> Iterator[Record]:
    i = o.get("id") or o.get("order_id") or {}
    spec = o.get("spec") or {}
    req = group_gpu(spec.get("resources"))
    yield Record("akash_orders", {
        "owner": addr(i["owner"]), "dseq": str(i["dseq"]), "gseq": int(i["gseq"]), "oseq": int(i["oseq"]),
        "state": o.get("state"), "gpu_units": req.units, "gpu_keys": list(req.keys),
        "signed_by": (spec.get("requirements") or {}).get("signed_by"),
        "prices": [coin_text(r.get("price")) for r in spec.get("resources") or [] if r.get("price")],
        "created_at": height(o.get("created_at")), "first_seen": at, "last_seen": at})


def bid_records(item: Mapping[str, Any], at: str) -> Iterator[Record]:
    b = item.get("bid") or item
    i = b.get("id") or b.get("bid_id") or {}
    req = group_gpu(b.get("resources_offer"))
    price = b.get("price") or {}
    yield Record("akash_bids", {
        "owner": addr(i["owner"]), "dseq": str(i["dseq"]), "gseq": int(i["gseq"]), "oseq": int(i["oseq"]),
        "provider": addr(i["provider"]), "bseq": int(i.get("bseq") or 0), "state": b.get("state"),
        "price_amount": price.get("amount"), "price_denom": price.get("denom"), "gpu_units": req.units,
        "gpu_keys": list(req.keys), "created_at": height(b.get("created_at")), "first_seen": at, "last_seen": at})
    if item.get("escrow_account"):
        yield from escrow_account_records(item["escrow_account"], at)


def lease_records(item: Mapping[str, Any], gpu: GpuRequest | None, head: int | None, spb: float,
                  at: str) -> Iterator[Record]:
    """A leases/list or leases/info item, either shape: tenant -> lease -> provider, GPU and GPU-hours."""
    raw = item.get("lease") or item
    lid = lease_id(raw)
    shape = "v1beta5" if "id" in raw else "v1beta4"
    price = raw.get("price") or {}
    created, closed = height(raw.get("created_at")), height(raw.get("closed_on"))
    units = gpu.units if gpu else 0
    model = gpu.catalog_id if gpu else None
    raw_models = gpu.models if gpu else []
    hours = None
    end = closed or head
    if created and end and end >= created:
        hours = lease_gpu_hours(created, end, units, spb)
    yield facts.entity(lid.entity, SOURCE, at, chain=CHAIN, address=lid.owner, label=lid.key, attrs={
        "price_amount": price.get("amount"), "price_denom": price.get("denom"), "per": "block",
        "state": raw.get("state"), "created_at": created, "closed_on": closed, "bseq": lid.bseq,
        "reason": raw.get("reason"), "gpu_model": model, "gpu_model_raw": raw_models, "gpu_units": units,
        "shape": shape})
    yield from wallet_records(lid.owner, at, "renter")
    yield from _tenancy(lid.owner, lid.key, lid.entity, lid.provider, at, created)
    if units and gpu:
        target = ids.gpu(model or "unknown")
        wall = (end - created) * spb / 3600.0 if created and end and end >= created else None
        yield facts.edge(ids.edge(SOURCE, "uses_gpu", lid.key), "uses_gpu", lid.entity, target, SOURCE, at,
                         chain=CHAIN, block=created,
                         attrs={"units": units, "model_raw": raw_models, "keys": list(gpu.keys),
                                "hours": None if wall is None else round(wall, 6),
                                "gpu_hours": None if hours is None else round(hours, 6)})
    if hours is not None and units:
        yield facts.observation(lid.entity, "gpu_hours", f"{hours:.6f}", SOURCE, at,
                                confidence=1.0 if closed else 0.9, attrs={
                                    "created_height": created, "end_height": end, "end_is_head": not closed,
                                    "seconds_per_block": spb, "units": units, "gpu": model})
    yield Record("akash_leases", {
        "owner": lid.owner, "dseq": lid.dseq, "gseq": lid.gseq, "oseq": lid.oseq, "provider": lid.provider,
        "bseq": lid.bseq, "state": raw.get("state"), "price_amount": price.get("amount"),
        "price_denom": price.get("denom"), "created_at": created, "closed_on": closed, "reason": raw.get("reason"),
        "shape": shape, "gpu_units": units, "gpu_model": model,
        "gpu_hours": None if hours is None else f"{hours:.6f}", "first_seen": at, "last_seen": at})
    if item.get("escrow_payment"):
        yield from payment_records(item["escrow_payment"], at)


def _tenancy(owner: str, key: str, lease: str, provider: str, at: str, block: int | None) -> Iterator[Record]:
    """The provider of a lease and the tenant -> lease -> provider edges (LCD and Console write the same)."""
    pid = ids.provider(CHAIN, provider)
    yield facts.entity(pid, SOURCE, at, chain=CHAIN, address=provider)
    yield facts.edge(ids.edge(SOURCE, "rented", key), "rented", wallet(owner), lease, SOURCE, at, chain=CHAIN,
                     block=block)
    yield facts.edge(ids.edge(SOURCE, "leased_from", key), "leased_from", lease, pid, SOURCE, at, chain=CHAIN,
                     block=block)


def block_time_record(head: int, head_time: float, spb: float, measured: bool, sample: int, at: str) -> Record:
    """What the LCD said at fetch time: head height, its time, seconds per block (a block-clock anchor).

    Subject ``chain:akash``, one observation per head height, so re-syncs at the same head add nothing
    and successive syncs leave a series of anchors.
    """
    from datetime import UTC, datetime

    iso = datetime.fromtimestamp(int(head_time), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return facts.observation(ids.chain_subject(CHAIN), "block_time", f"{spb:.6f}", SOURCE, at,
                             confidence=1.0 if measured else 0.5, key=str(head),
                             attrs={"head": head, "head_time": iso, "seconds_per_block": spb,
                                    "measured": measured, "sample_blocks": sample if measured else 0})


# -- Console --------------------------------------------------------------------------------------
def console_provider_records(c: Mapping[str, Any], at: str) -> Iterator[Record]:
    """A Console ``/v1/providers`` item: IP geolocation, uptime, GPU models, attributes with auditors."""
    owner = addr(c["owner"])
    pid = ids.provider(CHAIN, owner)
    attrs = [a for a in c.get("attributes") or [] if isinstance(a, Mapping)]
    yield facts.entity(pid, SOURCE, at, chain=CHAIN, address=owner,
                       label=c.get("organization") or c.get("name") or c.get("hostUri") or owner,
                       attrs={"host_uri": c.get("hostUri")})
    yield from wallet_records(owner, at, "provider")
    yield _payout(pid, owner, at)
    if c.get("ipCountryCode"):
        yield facts.location(pid, str(c["ipCountryCode"]), SOURCE, at, layer="ip", confidence=IP, key="ip",
                             country=c.get("ipCountry"), region=c.get("ipRegion"),
                             region_code=c.get("ipRegionCode"), lat=c.get("ipLat"), lon=c.get("ipLon"))
    yield from _locations(pid, attrs, at, "declared", DECLARED)  # every current attribute is declared
    auditors = sorted({str(x) for a in attrs for x in a.get("auditedBy") or []})
    for aud in auditors:
        signed = [a for a in attrs if aud in (a.get("auditedBy") or [])]
        try:
            yield from _locations(pid, signed, at, "audited", AUDITED_C, addr(aud))
        except AddressError as e:
            yield _bad("akash.console_providers", aud, str(e), at)
    for m in c.get("gpuModels") or []:
        gid = gpu_id("akash", f"{m.get('model')}/interface/{m.get('interface')}") or gpu_id("akash", m.get("model"))
        if gid:
            yield facts.edge(ids.edge(SOURCE, "offers_gpu", owner, gid), "offers_gpu", pid, ids.gpu(gid),
                             SOURCE, at, chain=CHAIN, attrs={"vendor": m.get("vendor"), "model_raw": m.get("model"),
                                                 "ram": m.get("ram"), "interface": m.get("interface")})
    yield Record("akash_providers", {
        "owner": owner, "name": c.get("name"), "ip_country_code": c.get("ipCountryCode"),
        "ip_region": c.get("ipRegion"), "ip_lat": c.get("ipLat"), "ip_lon": c.get("ipLon"),
        "uptime_1d": c.get("uptime1d"), "uptime_7d": c.get("uptime7d"), "uptime_30d": c.get("uptime30d"),
        "is_online": c.get("isOnline"), "is_audited": c.get("isAudited"), "gpu_models": c.get("gpuModels") or [],
        "console_attributes": attrs, "first_seen": at, "last_seen": at})


def console_deployment_records(provider: str, d: Mapping[str, Any], at: str) -> Iterator[Record]:
    """A Console provider-deployments item: the cheap tenant <-> provider edge list (same lease ids)."""
    owner, dseq = addr(d["owner"]), str(d["dseq"])
    yield from wallet_records(owner, at, "renter")
    did = ids.deployment(CHAIN, owner, dseq)
    yield facts.entity(did, SOURCE, at, chain=CHAIN, address=owner, label=ids.key_of(did))
    for le in d.get("leases") or []:
        prov = addr(le.get("provider") or provider)
        key = ids.akash_lease_key(owner, dseq, int(le["gseq"]), int(le["oseq"]), prov)
        lid = ids.lease(CHAIN, key)
        yield facts.entity(lid, SOURCE, at, chain=CHAIN, address=owner, label=key)
        block = int(le["createdHeight"]) if le.get("createdHeight") else None
        yield from _tenancy(owner, key, lid, prov, at, block)


# -- funding (bank sends and IBC transfers into tenant wallets) -----------------------------------
_HRP_CHAIN = {v: k for k, v in COSMOS_HRPS.items()}


# Chains whose accounts are Ethereum keys: inj1... is the bech32 spelling of the same 20-byte EVM address.
ETH_KEY_HRPS = frozenset({"inj"})


def foreign_wallet(sender: str) -> str:
    """The wallet id of an IBC sender on its own chain (bech32 prefix -> chain; 0x -> evm).

    An Injective account is an EVM key, so ``inj1...`` maps to ``wallet:evm:0x...`` (one key, every
    EVM chain); the native spelling stays in the edge's ``attrs.sender``.
    """
    if sender.startswith("0x"):
        return ids.wallet("evm", sender)
    hrp, data, _ = bech32_decode(sender)
    if hrp in ETH_KEY_HRPS:
        ids.wallet("injective", sender)  # validates the checksum and length
        return ids.wallet("evm", "0x" + bytes(_convertbits(data, 5, 8, False)).hex())
    if hrp not in _HRP_CHAIN:
        raise AddressError(f"{sender!r}: unknown bech32 prefix {hrp!r}")
    return ids.wallet(_HRP_CHAIN[hrp], sender)


def foreign_stub(wid: str, at: str) -> Record:
    """The entity of another chain's wallet (an IBC funder), written only so the edge's source exists.

    Its chain follows the id (``wallet:evm:0x...`` -> ``evm``), and it carries no ``source``: the id
    belongs to the connector of that chain or list (the OFAC row of a listed EVM wallet), so its
    content (kind, chain, address) equals that row's and the stub never overwrites the owner's
    ``source`` or provenance, whichever writes first (:func:`connectors.facts.stub`).  Written alone
    it keeps ``source`` empty; its ``raw_sha256`` names the Akash page that saw the wallet.
    """
    return facts.stub(wid, at)


def ibc_denom(packet: Mapping[str, Any], denom: str) -> tuple[str, str]:
    """(denom on Akash, trace) of a received ICS-20 packet: unwound if it returns, else the voucher hash."""
    src = f"{packet.get('source_port')}/{packet.get('source_channel')}/"
    if denom.startswith(src):
        base = denom[len(src):]
        return (base if "/" not in base else "ibc/" + hashlib.sha256(base.encode()).hexdigest().upper()), base
    path = f"{packet.get('destination_port')}/{packet.get('destination_channel')}/{denom}"
    return "ibc/" + hashlib.sha256(path.encode()).hexdigest().upper(), path


def _messages(msgs: list[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    for m in msgs:
        if m.get("@type") == "/cosmos.authz.v1beta1.MsgExec":
            yield from _messages(m.get("msgs") or [])
        else:
            yield m


def funding_records(txr: Mapping[str, Any], tenants: set[str], at: str) -> Iterator[Record]:
    """Bank sends (MsgSend, MsgMultiSend, via authz MsgExec too) and IBC receives into ``tenants``."""
    if int(txr.get("code") or 0) != 0:
        return
    txhash, blk, when = str(txr.get("txhash")), height(txr.get("height")), txr.get("timestamp")
    msgs = list(_messages(((txr.get("tx") or {}).get("body") or {}).get("messages") or []))
    for mi, m in enumerate(msgs):
        t = m.get("@type")
        moves: list[tuple[str, str, list[Mapping[str, Any]], dict[str, Any]]] = []
        if t == "/cosmos.bank.v1beta1.MsgSend":
            moves.append((wallet(addr(m["from_address"])), addr(m["to_address"]), m.get("amount") or [],
                          {"via": "bank"}))
        elif t == "/cosmos.bank.v1beta1.MsgMultiSend":
            ins = m.get("inputs") or []
            src = wallet(addr(ins[0]["address"])) if len(ins) == 1 else None
            for o in m.get("outputs") or []:
                if src:
                    moves.append((src, addr(o["address"]), o.get("coins") or [], {"via": "bank-multisend"}))
        elif t == "/ibc.core.channel.v1.MsgRecvPacket":
            pk = m.get("packet") or {}
            try:
                data = b64json(pk.get("data") or "")
            except ValueError as e:
                raise ParseError(f"tx {txhash}: IBC packet data is not base64 JSON: {e}") from e
            denom, trace = ibc_denom(pk, str(data.get("denom")))
            moves.append((foreign_wallet(str(data["sender"])), addr(data["receiver"]),
                          [{"denom": denom, "amount": str(data.get("amount"))}],
                          {"via": "ibc", "trace": trace, "channel": pk.get("destination_channel"),
                           "sender": data.get("sender"), "memo": data.get("memo") or None}))
        for src, to, coins, extra in moves:
            if to not in tenants:
                continue
            yield facts.wallet_of(src, SOURCE, at) if ids.space_of(src) == CHAIN else foreign_stub(src, at)
            yield from wallet_records(to, at)
            for ci, c in enumerate(coins):
                denom, amount, dec = coin_amount(c, extra.get("trace"))
                yield facts.edge(ids.edge(SOURCE, "transfer", txhash, mi, to, ci), "paid", src, wallet(to),
                                 SOURCE, at, chain=CHAIN, asset=denom, amount=amount, decimals=dec, block=blk,
                                 time=when, tx=txhash, attrs={"amount_text": str(c.get("amount")), **extra})


def funding_senders(txr: Mapping[str, Any], tenant: str) -> list[str]:
    """The Akash senders of bank moves into ``tenant`` in one tx, in message order, each once.

    ``MsgSend`` senders and every ``MsgMultiSend`` input (authz ``MsgExec`` unwrapped) count; IBC
    senders do not (their accounts are on other chains) and neither do malformed addresses.
    """
    if int(txr.get("code") or 0) != 0:
        return []
    out: list[str] = []
    msgs = _messages(((txr.get("tx") or {}).get("body") or {}).get("messages") or [])
    for m in msgs:
        t, raw = m.get("@type"), []
        try:
            if t == "/cosmos.bank.v1beta1.MsgSend" and addr(m.get("to_address")) == tenant:
                raw = [m.get("from_address")]
            elif t == "/cosmos.bank.v1beta1.MsgMultiSend" and any(
                    isinstance(o, Mapping) and addr(o.get("address")) == tenant for o in m.get("outputs") or []):
                raw = [i.get("address") for i in m.get("inputs") or [] if isinstance(i, Mapping)]
        except AddressError:
            continue
        for a in raw:
            try:
                s = addr(a)
            except AddressError:
                continue
            if s != tenant and s not in out:
                out.append(s)
    return out


def gpu_of(row: Mapping[str, Any] | None) -> GpuRequest | None:
    """A stored ``akash_groups`` row back into a GpuRequest (the leases stream reads them)."""
    if not row:
        return None
    keys = row.get("gpu_keys")
    keys = json.loads(keys) if isinstance(keys, str) else (keys or [])
    return GpuRequest(int(row.get("gpu_units") or 0), tuple(keys))

