"""The Akash world rendered in the exact real JSON shapes, and the loopback routes serving it.

Shapes follow the recorded mainnet responses in ``../shared/fixtures/akash-rest/getblock-docs-2026``
(v1beta5 leases, v1beta4 deployments, bids, orders, providers, audit, tx envelope) and, for the older
node, the v1beta3/v1beta4 ``lease_id`` / flat escrow shapes; Console bodies follow the Console
OpenAPI spec (tests validate them against it).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from tracer.world.akash import AUDITOR, HEAD, Deployment, Lease, Provider, Transfer, World, block_unix

NODES: dict[str, dict[str, Any]] = {
    "modern": {"market": "v1beta5", "deployment": "v1beta4", "escrow": "v1", "provider": "v1beta4",
               "audit": "v1", "tx": "query"},
    "legacy": {"market": "v1beta4", "deployment": "v1beta3", "escrow": "v1beta3", "provider": "v1beta3",
               "audit": "v1beta3", "tx": "events"},
    "noescrow": {"market": "v1beta5", "deployment": "v1beta4", "escrow": None, "provider": "v1beta4",
                 "audit": "v1", "tx": "query"},
}
NOT_IMPLEMENTED = {"code": 12, "message": "Not Implemented", "details": []}
NOT_FOUND = {"code": 5, "message": "Not Found", "details": []}


def coin(denom: str, amount: str) -> dict[str, str]:
    return {"denom": denom, "amount": amount}


def dec(amount: str) -> str:
    """An integer amount as a Cosmos DecCoin string (18 fractional digits)."""
    return amount if "." in amount else f"{amount}.000000000000000000"


def _int_part(amount: str) -> int:
    return int(amount.split(".")[0])


def iso(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%S") + ".000000000Z"


# -- market -------------------------------------------------------------------------------------
def _lid(le: Lease, bseq: bool) -> dict[str, Any]:
    d: dict[str, Any] = {"owner": le.owner, "dseq": str(le.dseq), "gseq": le.gseq, "oseq": le.oseq,
                         "provider": le.provider}
    if bseq:
        d["bseq"] = le.bseq
    return d


def _withdrawn(le: Lease) -> str:
    end = le.closed or HEAD
    return str(_int_part(le.price[1]) * (end - le.created))


def lease_new(le: Lease) -> dict[str, Any]:
    denom, amount = le.price
    return {"lease": {"id": _lid(le, True), "state": le.state, "price": coin(denom, amount),
                      "created_at": str(le.created), "closed_on": str(le.closed or 0),
                      "reason": "lease_closed_owner" if le.closed else "lease_closed_invalid", "reclamation": None},
            "escrow_payment": {"id": {"aid": {"scope": "deployment", "xid": f"{le.owner}/{le.dseq}"},
                                      "xid": f"{le.gseq}/{le.oseq}/{le.provider}"},
                               "state": {"owner": le.provider, "state": "closed" if le.closed else "open",
                                         "rate": coin(denom, amount), "balance": coin(denom, dec("0")),
                                         "unsettled": coin(denom, dec("0")), "withdrawn": coin(denom, _withdrawn(le))}}}


def lease_old(le: Lease) -> dict[str, Any]:
    denom, amount = le.price
    return {"lease": {"lease_id": _lid(le, False), "state": le.state, "price": coin(denom, amount),
                      "created_at": str(le.created), "closed_on": str(le.closed or 0)},
            "escrow_payment": {"account_id": {"scope": "deployment", "xid": f"{le.owner}/{le.dseq}"},
                               "payment_id": f"{le.gseq}/{le.oseq}/{le.provider}", "owner": le.provider,
                               "state": "closed" if le.closed else "open", "rate": coin(denom, amount),
                               "balance": coin(denom, dec("0")), "withdrawn": coin(denom, _withdrawn(le))}}


def _resources(d: Deployment, g: Any, key: str = "resource", offer: bool = False) -> list[dict[str, Any]]:
    gpu_attrs = []
    if g.gpu_model and g.wildcard and not offer:
        gpu_attrs = [{"key": "vendor/nvidia/model/*", "value": "true"}]
    elif g.gpu_model:
        m, ram, iface = g.gpu_model
        gpu_attrs = [{"key": f"vendor/nvidia/model/{m}/ram/{ram}/interface/{iface}", "value": "true"}]
    return [{key: {"id": 1, "cpu": {"units": {"val": "4000"}, "attributes": []},
                   "memory": {"quantity": {"val": "17179869184"}, "attributes": []},
                   "storage": [{"name": "default", "quantity": {"val": "107374182400"}, "attributes": []}],
                   "gpu": {"units": {"val": str(g.gpu_units)}, "attributes": gpu_attrs},
                   "endpoints": [{"kind": "SHARED_HTTP", "sequence_number": 0}]},
             "count": g.count, "price": coin(g.price[0], g.price[1])}]


def _spec(d: Deployment, g: Any) -> dict[str, Any]:
    return {"name": "akash", "requirements": {"signed_by": {"all_of": [], "any_of": [AUDITOR] if g.gpu_model else []},
                                              "attributes": []}, "resources": _resources(d, g)}


def order(d: Deployment, g: Any, new: bool) -> dict[str, Any]:
    oid = {"owner": d.owner, "dseq": str(d.dseq), "gseq": g.gseq, "oseq": 1}
    o: dict[str, Any] = {"id" if new else "order_id": oid, "state": "closed" if d.state == "closed" else "active",
         "spec": _spec(d, g), "created_at": str(d.created)}
    if new:
        o["reclamation"] = None
    return o


def bid(le: Lease, d: Deployment, g: Any, new: bool) -> dict[str, Any]:
    offer = [{"resources": r["resource"], "count": r["count"], "prices": None} for r in _resources(d, g, offer=True)]
    xid = f"{le.owner}/{le.dseq}/{le.gseq}/{le.oseq}/{le.provider}"
    if new:
        return {"bid": {"id": _lid(le, True), "state": "closed" if le.closed else "active",
                        "price": coin(*le.price), "created_at": str(le.created - 1), "resources_offer": offer,
                        "reclamation_window": None},
                "escrow_account": {"id": {"scope": "bid", "xid": xid}, "state": {
                    "owner": le.provider, "state": "closed" if le.closed else "open",
                    "transferred": [coin("uakt", dec("0"))], "settled_at": str(le.created - 1),
                    "funds": [coin("uakt", dec("500000"))],
                    "deposits": [{"owner": le.provider, "height": str(le.created - 1), "source": "balance",
                                  "balance": coin("uakt", dec("500000"))}]}}}
    return {"bid": {"bid_id": _lid(le, False), "state": "closed" if le.closed else "active",
                    "price": coin(*le.price), "created_at": str(le.created - 1), "resources_offer": offer},
            "escrow_account": {"id": {"scope": "bid", "xid": xid}, "owner": le.provider,
                               "state": "closed" if le.closed else "open", "balance": coin("uakt", dec("500000")),
                               "transferred": coin("uakt", dec("0")), "settled_at": str(le.created - 1),
                               "depositor": le.provider, "funds": coin("uakt", dec("0"))}}


# -- deployment / escrow ------------------------------------------------------------------------
def account_new(d: Deployment) -> dict[str, Any]:
    denom = d.deposits[0][2][0]
    total = sum(int(a.replace(".", "")) for _, _, (_, a) in d.deposits)
    funds = f"{total // 10**18}.{total % 10**18:018d}"
    return {"id": {"scope": "deployment", "xid": f"{d.owner}/{d.dseq}"},
            "state": {"owner": d.owner, "state": "closed" if d.state == "closed" else "open",
                      "transferred": [coin(denom, dec("0"))], "settled_at": str(d.created), "funds": [coin(denom, funds)],
                      "deposits": [{"owner": who, "height": str(h), "source": "balance" if who == d.owner else "grant",
                                    "balance": coin(dn, amt)} for who, h, (dn, amt) in d.deposits]}}


def account_old(d: Deployment) -> dict[str, Any]:
    (own, _, (denom, amt)) = d.deposits[0]
    third = [x for x in d.deposits[1:] if x[0] != d.owner]
    return {"id": {"scope": "deployment", "xid": f"{d.owner}/{d.dseq}"}, "owner": d.owner,
            "state": "closed" if d.state == "closed" else "open", "balance": coin(denom, amt),
            "transferred": coin(denom, dec("0")), "settled_at": str(d.created),
            "depositor": third[0][0] if third else d.owner,
            "funds": coin(denom, third[0][2][1] if third else dec("0"))}


def deployment_new(d: Deployment) -> dict[str, Any]:
    return {"deployment": {"id": {"owner": d.owner, "dseq": str(d.dseq)}, "state": d.state,
                           "hash": base64.b64encode(bytes.fromhex(d.hash[:64].ljust(64, "0"))).decode(),
                           "created_at": str(d.created), "reclamation": None},
            "groups": [{"id": {"owner": d.owner, "dseq": str(d.dseq), "gseq": g.gseq},
                        "state": "closed" if d.state == "closed" else "open", "group_spec": _spec(d, g),
                        "created_at": str(d.created)} for g in d.groups],
            "escrow_account": account_new(d)}


def deployment_old(d: Deployment) -> dict[str, Any]:
    return {"deployment": {"deployment_id": {"owner": d.owner, "dseq": str(d.dseq)}, "state": d.state,
                           "version": base64.b64encode(bytes.fromhex(d.hash[:64].ljust(64, "0"))).decode(),
                           "created_at": str(d.created)},
            "groups": [{"group_id": {"owner": d.owner, "dseq": str(d.dseq), "gseq": g.gseq},
                        "state": "closed" if d.state == "closed" else "open", "group_spec": _spec(d, g),
                        "created_at": str(d.created)} for g in d.groups],
            "escrow_account": account_old(d)}


# -- providers ----------------------------------------------------------------------------------
def provider_attrs(p: Provider) -> list[dict[str, str]]:
    a = [{"key": "host", "value": "akash"}, {"key": "organization", "value": p.org},
         {"key": "location-region", "value": p.region}, {"key": "tier", "value": "community"}]
    if p.declared:
        a.append({"key": "country", "value": p.declared})
    for m, ram, iface in p.gpus:
        a.append({"key": f"capabilities/gpu/vendor/nvidia/model/{m}/ram/{ram}/interface/{iface}", "value": "true"})
    return a


def provider_lcd(p: Provider) -> dict[str, Any]:
    return {"owner": p.owner, "host_uri": p.host_uri, "attributes": provider_attrs(p),
            "info": {"email": p.email, "website": p.website}}


def audit_entry(p: Provider) -> dict[str, Any] | None:
    if not p.audited:
        return None
    return {"owner": p.owner, "auditor": AUDITOR, "attributes": [
        {"key": "country", "value": p.audited}, {"key": "location-region", "value": p.region},
        {"key": "organization", "value": p.org}]}


def console_provider(p: Provider, w: World) -> dict[str, Any]:
    """A ``/v1/providers`` item with every property the Console OpenAPI schema lists."""
    signed = {(a["key"], a["value"]) for a in (audit_entry(p) or {"attributes": []})["attributes"]}
    attrs = [{**a, "auditedBy": [AUDITOR] if (a["key"], a["value"]) in signed else []} for a in provider_attrs(p)]
    leases = [le for le in w.leases if le.provider == p.owner]
    return {
        "owner": p.owner, "name": p.host_uri.split("//")[1].split(":")[0], "hostUri": p.host_uri,
        "createdHeight": 9_000_000 + sum(map(ord, p.seed)), "email": p.email, "website": p.website,
        "lastCheckDate": iso(block_unix(HEAD)), "deploymentCount": len({le.dseq for le in leases}),
        "leaseCount": len(leases), "cosmosSdkVersion": "v0.53.4", "akashVersion": "v1.0.2",
        "ipRegion": p.ip_region, "ipRegionCode": p.ip_region[:2].upper(), "ipCountry": p.ip_country_name,
        "ipCountryCode": p.ip_country, "ipLat": p.lat, "ipLon": p.lon, "uptime1d": p.uptime, "uptime7d": p.uptime,
        "uptime30d": p.uptime, "isValidVersion": True, "isOnline": True, "lastOnlineDate": iso(block_unix(HEAD)),
        "isAudited": bool(p.audited),
        "gpuModels": [{"vendor": "nvidia", "model": m, "ram": ram, "interface": iface} for m, ram, iface in p.gpus],
        "attributes": attrs, "host": "akash", "organization": p.org, "statusPage": None,
        "locationRegion": p.region, "country": p.declared, "city": None, "timezone": None, "locationType": None,
        "hostingProvider": None, "hardwareCpu": "amd", "hardwareCpuArch": "x86-64", "hardwareGpuVendor": "nvidia",
        "hardwareGpuModels": sorted({m for m, _, _ in p.gpus}), "hardwareDisk": ["nvme"],
        "featPersistentStorage": False, "featPersistentStorageType": None, "hardwareMemory": "ddr5",
        "networkProvider": None, "networkSpeedDown": 1000, "networkSpeedUp": 1000, "tier": "community",
        "featEndpointCustomDomain": False, "workloadSupportChia": False, "workloadSupportChiaCapabilities": None,
        "featEndpointIp": False}


def _res(gpu: int) -> dict[str, int]:
    return {"cpu": 4000, "memory": 17179869184, "gpu": gpu, "ephemeralStorage": 107374182400, "persistentStorage": 0}


def console_deployments(p: Provider, w: World) -> list[dict[str, Any]]:
    deps = {(d.owner, d.dseq): d for d in w.deployments}
    by_dep: dict[tuple[str, int], list[Lease]] = {}
    for le in w.leases:
        if le.provider == p.owner:
            by_dep.setdefault((le.owner, le.dseq), []).append(le)
    out = []
    for (owner, dseq), mine in sorted(by_dep.items()):
        d = deps[(owner, dseq)]
        gpu = sum(g.gpu_units * g.count for g in d.groups)
        out.append({"owner": owner, "dseq": str(dseq), "denom": d.deposits[0][2][0], "createdHeight": d.created,
                    "createdDate": iso(block_unix(d.created)), "status": d.state,
                    "balance": float(_int_part(d.deposits[0][2][1])), "transferred": 0, "settledAt": d.created,
                    "resources": _res(gpu), "leases": [{
                        "provider": le.provider, "gseq": le.gseq, "oseq": le.oseq, "price": float(le.price[1]),
                        "createdHeight": le.created, "createdDate": iso(block_unix(le.created)),
                        "closedHeight": le.closed, "closedDate": iso(block_unix(le.closed)) if le.closed else None,
                        "status": le.state, "resources": _res(gpu)} for le in mine]})
    return out


# -- txs ----------------------------------------------------------------------------------------
def _msgs(t: Transfer) -> list[dict[str, Any]]:
    if t.kind == "multisend":
        total = sum(int(a) for _, (_, a) in t.outputs)
        denom = t.outputs[0][1][0]
        return [{"@type": "/cosmos.bank.v1beta1.MsgMultiSend",
                 "inputs": [{"address": t.sender, "coins": [coin(denom, str(total))]}],
                 "outputs": [{"address": r, "coins": [coin(dn, a)]} for r, (dn, a) in t.outputs]}]
    if t.kind == "ibc":
        (r, (dn, a)), = t.outputs
        data = json.dumps({"amount": a, "denom": dn, "receiver": r, "sender": t.sender}, separators=(",", ":"))
        return [{"@type": "/ibc.core.client.v1.MsgUpdateClient", "client_id": "07-tendermint-53",
                 "client_message": None, "signer": "akash1relayer"},
                {"@type": "/ibc.core.channel.v1.MsgRecvPacket", "packet": {
                    "sequence": str(int(t.txhash[:6], 16)), "source_port": "transfer",
                    "source_channel": t.ibc["source_channel"], "destination_port": "transfer",
                    "destination_channel": t.ibc["destination_channel"],
                    "data": base64.b64encode(data.encode()).decode(),
                    "timeout_height": {"revision_number": "2", "revision_height": "0"}, "timeout_timestamp": "0"},
                 "proof_commitment": "CqkKCqYK", "proof_height": {"revision_number": "2", "revision_height": "1"},
                 "signer": "akash1relayer"}]
    sends = [{"@type": "/cosmos.bank.v1beta1.MsgSend", "from_address": t.sender, "to_address": r,
              "amount": [coin(dn, a)]} for r, (dn, a) in t.outputs]
    if t.kind == "authz":
        return [{"@type": "/cosmos.authz.v1beta1.MsgExec", "grantee": t.sender, "msgs": sends}]
    return sends


def tx_pair(t: Transfer) -> tuple[dict[str, Any], dict[str, Any]]:
    tx = {"body": {"messages": _msgs(t), "memo": "", "timeout_height": "0", "extension_options": [],
                   "non_critical_extension_options": []},
          "auth_info": {"signer_infos": [], "fee": {"amount": [coin("uakt", "5000")], "gas_limit": "200000",
                                                     "payer": "", "granter": ""}, "tip": None},
          "signatures": [base64.b64encode(hashlib.sha256(t.txhash.encode()).digest()).decode()]}
    events = [{"type": "transfer", "attributes": [
        {"key": "recipient", "value": r, "index": True}, {"key": "amount", "value": f"{a}{dn}", "index": True}]}
        for r, (dn, a) in t.outputs]
    txr = {"height": str(t.height), "txhash": t.txhash, "codespace": "", "code": 0, "data": "", "raw_log": "",
           "logs": [], "info": "", "gas_wanted": "200000", "gas_used": "120000",
           "tx": {"@type": "/cosmos.tx.v1beta1.Tx", **tx}, "timestamp": iso(block_unix(t.height))[:19] + "Z",
           "events": events}
    return tx, txr


# -- serving ------------------------------------------------------------------------------------
def _key(offset: int) -> str:
    return base64.b64encode(b"\xfb\xff" + offset.to_bytes(4, "big") + b"akash").decode()


def _offset(key: str) -> int:
    try:
        raw = base64.b64decode(key, validate=True)
    except ValueError:
        raise web.HTTPBadRequest(text=json.dumps({"code": 3, "message": "invalid pagination key"})) from None
    return int.from_bytes(raw[2:6], "big")


def _page(items: list[Any], q: Any, list_key: str) -> web.Response:
    limit = int(q.get("pagination.limit") or 100)
    start = _offset(q["pagination.key"]) if q.get("pagination.key") else 0
    chunk = items[start:start + limit]
    nxt = _key(start + limit) if start + limit < len(items) else None
    return web.json_response({list_key: chunk, "pagination": {"next_key": nxt, "total": "0"}})


def _filtered(objs: list[Any], q: Any, fields: tuple[str, ...]) -> list[Any]:
    for f in fields:
        v = q.get(f"filters.{f}")
        if v:
            objs = [o for o in objs if str(getattr(o, f)) == v]
    return objs


_PATH = re.compile(r"^akash/(market|deployment|escrow|provider|audit)/([a-z0-9]+)/(.*)$")


def routes(w: World) -> list[web.RouteDef]:
    """GET routes: ``/lcd/{node}/...`` (three nodes of one chain) and ``/console/v1/...``."""
    deps = {(d.owner, d.dseq): d for d in w.deployments}
    leases = sorted(w.leases, key=lambda le: (le.owner, le.dseq, le.gseq, le.oseq, le.provider))
    dep_list = sorted(w.deployments, key=lambda d: (d.owner, d.dseq))
    provs = sorted(w.providers, key=lambda p: p.owner)
    txs = {t.txhash: tx_pair(t) for t in w.transfers}
    to: dict[str, list[Transfer]] = {}
    for t in sorted(w.transfers, key=lambda t: (t.height, t.txhash)):
        for r in dict(t.outputs):
            to.setdefault(r, []).append(t)
    cache: dict[Any, list[Any]] = {}

    def memo(key: Any, q: Any, fields: tuple[str, ...], make: Any) -> list[Any]:
        """Rendered bodies, computed once per shape when no filter applies (the world never changes)."""
        if any(q.get(f"filters.{f}") for f in fields):
            return list(make(q))
        if key not in cache:
            cache[key] = list(make(q))
        return cache[key]

    def lcd(node: str, tail: str, q: Any) -> web.Response:
        n = NODES[node]
        if tail.startswith("cosmos/base/tendermint/v1beta1/blocks/"):
            h = HEAD if tail.endswith("/latest") else int(tail.rsplit("/", 1)[1])
            if h > HEAD:
                return web.json_response({"code": 3, "message": "requested block height is bigger then the chain length"}, status=400)
            hdr = {"version": {"block": "11", "app": "0"}, "chain_id": "akashnet-2", "height": str(h),
                   "time": iso(block_unix(h))}
            return web.json_response({"block_id": {"hash": hashlib.sha256(str(h).encode()).hexdigest().upper()},
                                      "block": {"header": hdr, "data": {"txs": []}}, "sdk_block": {"header": hdr}})
        if tail == "cosmos/tx/v1beta1/txs":
            return _txs(n["tx"], q)
        m = _PATH.match(tail)
        if not m:
            return web.json_response(NOT_FOUND, status=404)
        module, version, rest = m.groups()
        if module == "escrow" and n["escrow"] is None:
            return web.json_response(NOT_IMPLEMENTED, status=501)
        if n[module] != version:
            return web.json_response(NOT_FOUND, status=404)
        new = version in ("v1beta5", "v1beta4", "v1") if module != "market" else version == "v1beta5"
        lf = ("owner", "dseq", "provider", "state")
        if module == "deployment" and rest == "deployments/list":
            return _page(memo(("d", new), q, ("owner", "state"), lambda q: [
                (deployment_new if new else deployment_old)(d) for d in _filtered(dep_list, q, ("owner", "state"))]),
                q, "deployments")
        if module == "market" and rest == "leases/list":
            return _page(memo(("l", new), q, lf, lambda q: [
                (lease_new if new else lease_old)(le) for le in _filtered(leases, q, lf)]), q, "leases")
        if module == "market" and rest == "orders/list":
            return _page(memo(("o", new), q, ("owner", "dseq"), lambda q: [
                order(d, g, new) for d in _filtered(dep_list, q, ("owner", "dseq")) for g in d.groups]), q, "orders")
        if module == "market" and rest == "bids/list":
            return _page(memo(("b", new), q, lf, lambda q: [
                bid(le, deps[(le.owner, le.dseq)], deps[(le.owner, le.dseq)].groups[le.gseq - 1], new)
                for le in _filtered(leases, q, lf)]), q, "bids")
        if module == "provider" and rest == "providers":
            return _page(memo("p", q, (), lambda q: [provider_lcd(p) for p in provs]), q, "providers")
        if module == "audit" and rest == "audit/attributes/list":
            return _page(memo("a", q, (), lambda q: [a for p in provs if (a := audit_entry(p))]), q, "providers")
        kind = rest.split("/")[1] if module == "escrow" and rest.startswith("types/") else ""
        if kind == "accounts":
            return _page(memo(("ea", version), q, (), lambda q: [
                account_new(d) if version == "v1" else account_old(d) for d in dep_list]), q, "accounts")
        if kind == "payments":
            return _page(memo(("ep", version), q, (), lambda q: [
                (lease_new if version == "v1" else lease_old)(le)["escrow_payment"] for le in leases]), q, "payments")
        return web.json_response(NOT_FOUND, status=404)

    def _txs(mode: str, q: Any) -> web.Response:
        cond = q.get("query") if mode == "query" else q.get("events")
        if not cond:
            msg = "query cannot be empty" if mode == "query" else "must declare at least one event to search"
            return web.json_response({"code": 3, "message": msg, "details": []}, status=400)
        m = re.fullmatch(r"transfer\.recipient='([a-z0-9]+)'", cond.strip())
        if not m:
            return web.json_response({"code": 3, "message": f"unsupported query {cond!r}"}, status=400)
        hits = to.get(m.group(1), [])
        if mode == "query":
            limit, page = int(q.get("limit") or 100), int(q.get("page") or 1)
            chunk = hits[(page - 1) * limit: page * limit]
            pag = None
        else:
            limit, off = int(q.get("pagination.limit") or 100), int(q.get("pagination.offset") or 0)
            chunk = hits[off: off + limit]
            pag = {"next_key": None, "total": str(len(hits))}
        return web.json_response({"txs": [txs[t.txhash][0] for t in chunk],
                                  "tx_responses": [txs[t.txhash][1] for t in chunk],
                                  "pagination": pag, "total": str(len(hits))})

    async def lcd_h(request: web.Request) -> web.Response:
        node = request.match_info["node"]
        if node not in NODES:
            return web.json_response(NOT_FOUND, status=404)
        return lcd(node, request.match_info["tail"], request.query)

    console_body = [console_provider(p, w) for p in provs]
    console_deps_of = {p.owner: console_deployments(p, w) for p in provs}

    async def console_providers(request: web.Request) -> web.Response:
        return web.json_response(console_body)

    async def console_deps(request: web.Request) -> web.Response:
        p = next((x for x in provs if x.owner == request.match_info["p"]), None)
        if p is None:
            return web.json_response({"error": "NotFound", "message": "Provider not found"}, status=404)
        skip, limit = int(request.match_info["skip"]), int(request.match_info["limit"])
        if not 1 <= limit <= 100:
            return web.json_response({"error": "BadRequest", "message": "limit must be 1..100"}, status=400)
        deps_ = console_deps_of[p.owner]
        return web.json_response({"total": len(deps_), "deployments": deps_[skip: skip + limit]})

    return [web.get("/lcd/{node}/{tail:.*}", lcd_h), web.get("/console/v1/providers", console_providers),
            web.get("/console/v1/providers/{p}/deployments/{skip}/{limit}", console_deps)]
