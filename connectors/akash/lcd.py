"""Akash LCD (Cosmos REST / gRPC-gateway) streams: version probing and ``pagination.key`` paging.

Why probe: public nodes run different module sets. A 2026 node serves market v1beta5 and escrow v1, an
older one market v1beta4 with ``lease_id`` shapes, and some gateways (GetBlock) answer 501 for every
escrow version. Each module is probed newest-first (404/501/"Not Implemented" -> next version); a
module no version of which is served is reported, and optional modules (escrow) are skipped with a
note instead of failing the run.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from connectors.akash.parse import GpuRequest, LeaseId, ParseError, lease_id, with_query
from connectors.akash.records import (
    API_VERSIONS,
    AUDITED,
    BIDS,
    DEPLOYMENTS,
    ESCROW_ACCOUNTS,
    ESCROW_PAYMENTS,
    GROUPS,
    LEASES,
    ORDERS,
    PROVIDERS,
    REJECTED,
    audit_records,
    bid_records,
    block_time_record,
    deployment_records,
    escrow_account_records,
    gpu_of,
    lease_records,
    order_records,
    payment_records,
    provider_records,
)
from connectors.base import (
    EDGES,
    ENTITIES,
    ITEM_ERRORS,
    OBSERVATIONS,
    ConnectorError,
    Page,
    Record,
    RunContext,
    Table,
    item_records,
)
from connectors.http import TokenGuard

# module -> [(version, list path)], newest first.
MODULE_PATHS: dict[str, list[tuple[str, str]]] = {
    "market": [(v, f"/akash/market/{v}/leases/list") for v in ("v2beta1", "v1beta5", "v1beta4")],
    "deployment": [(v, f"/akash/deployment/{v}/deployments/list") for v in ("v1beta5", "v1beta4", "v1beta3")],
    "escrow": [("v1", "/akash/escrow/v1/types/accounts"), ("v1beta3", "/akash/escrow/v1beta3/types/accounts/list")],
    "provider": [(v, f"/akash/provider/{v}/providers") for v in ("v1beta4", "v1beta3")],
    "audit": [(v, f"/akash/audit/{v}/audit/attributes/list") for v in ("v1", "v1beta3")],
}
OPTIONAL_MODULES = frozenset({"escrow", "audit"})
_NOT_SERVED = frozenset({400, 404, 405, 501})
CORE = (ENTITIES, EDGES, OBSERVATIONS, REJECTED)


def not_served(status: int, body: bytes) -> bool:
    """Whether a probe answer means "this version is not served here" (not a transient failure)."""
    return status in _NOT_SERVED or b"Not Implemented" in body[:500]


@dataclass
class VersionBook:
    """Per-run cache of the module versions each node serves (shared by the streams of one run)."""

    overrides: Mapping[str, str] = field(default_factory=dict)
    found: dict[tuple[str, str], str | None] = field(default_factory=dict)
    tried: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)

    async def get(self, ctx: RunContext, base: str, module: str) -> str | None:
        key = (base, module)
        if module in self.overrides:
            self.found[key] = self.overrides[module]
        if key not in self.found:
            self.found[key], self.tried[key] = await probe(ctx, base, module)
        return self.found[key]


async def probe(ctx: RunContext, base: str, module: str) -> tuple[str | None, list[dict[str, Any]]]:
    """The newest version of ``module`` that ``base`` serves, and what each attempt answered."""
    tried: list[dict[str, Any]] = []
    for version, path in MODULE_PATHS[module]:
        resp = await ctx.http.request("GET", with_query(base.rstrip("/") + path, {"pagination.limit": "1"}),
                                      parse_json=False, ok_status=frozenset({200}) | _NOT_SERVED)
        tried.append({"version": version, "status": resp.status})
        if resp.status == 200 and not not_served(resp.status, resp.body):
            return version, tried
    return None, tried


def _path(module: str, version: str, kind: str) -> str:
    if module == "escrow":
        return f"/akash/escrow/v1/types/{kind}" if version == "v1" else f"/akash/escrow/{version}/types/{kind}/list"
    if module == "market":
        return f"/akash/market/{version}/{kind}/list"
    if module == "deployment":
        return f"/akash/deployment/{version}/deployments/list"
    if module == "provider":
        return f"/akash/provider/{version}/providers"
    return f"/akash/audit/{version}/audit/attributes/list"


class VersionsStream:
    """Probes every module on the configured node and records which version it serves (or none)."""

    name: ClassVar[str] = "akash.versions"
    primary_key: ClassVar[tuple[str, ...]] = ("node", "module")
    cursor_field: ClassVar[str | None] = None
    is_sorted: ClassVar[bool] = False
    tables: ClassVar[tuple[Table, ...]] = (API_VERSIONS,)

    def __init__(self, config: dict[str, Any], book: VersionBook) -> None:
        self.base = str(config["lcd_url"]).rstrip("/")
        self.book = book

    async def extract(self, ctx: RunContext, state: dict[str, Any]) -> AsyncIterator[Page]:
        out = {}
        for module in MODULE_PATHS:
            v = await self.book.get(ctx, self.base, module)
            out[module] = {"version": v, "tried": self.book.tried.get((self.base, module), [])}
            ctx.report(1, len(MODULE_PATHS), f"{module} {v or 'not served'}")
        body = json.dumps({"node": self.base, "modules": out}, sort_keys=True).encode()
        yield Page(body=body, url=self.base, method="probe", data={"node": self.base, "modules": out},
                   state={"node": self.base, "versions": {m: o["version"] for m, o in out.items()}})

    def transform(self, page: Page) -> Iterator[Record]:
        for module, o in page.data["modules"].items():
            yield Record("akash_api_versions", {"node": page.data["node"], "module": module,
                                                "version": o["version"], "tried": o["tried"],
                                                "checked_at": page.fetched_at})


RecordFn = Callable[[Mapping[str, Any], str], Iterator[Record]]


class LcdListStream:
    """One ``.../list`` endpoint, paged by ``pagination.key`` (a repeated key raises), resumable per page."""

    name: ClassVar[str] = ""
    primary_key: ClassVar[tuple[str, ...]] = ("id",)
    cursor_field: ClassVar[str | None] = None
    is_sorted: ClassVar[bool] = True  # the node returns store-key order, so a saved next_key resumes
    tables: ClassVar[tuple[Table, ...]] = CORE
    module: ClassVar[str] = ""
    kind: ClassVar[str] = ""
    list_key: ClassVar[str] = ""
    conf_key: ClassVar[str] = ""
    record_fn: ClassVar[Any]  # RecordFn, as a staticmethod

    def __init__(self, config: dict[str, Any], book: VersionBook) -> None:
        self.base = str(config["lcd_url"]).rstrip("/")
        self.book = book
        self.page_size = int(config.get("page_size", 100))
        self.max_pages = int(config.get("max_pages", 0) or 0)
        self.filters = dict((config.get("filters") or {}).get(self.conf_key) or {})
        self.start_height = int((config.get("start_heights") or {}).get(self.conf_key) or 0)
        self.config = config

    async def before(self, ctx: RunContext) -> dict[str, Any]:
        """Extra context handed to ``transform`` in ``page.meta`` (the leases stream adds GPU facts)."""
        return {}

    async def extract(self, ctx: RunContext, state: dict[str, Any]) -> AsyncIterator[Page]:
        version = await self.book.get(ctx, self.base, self.module)
        if version is None:
            tried = self.book.tried.get((self.base, self.module), [])
            answers = ", ".join(f"{t['version']}: HTTP {t['status']}" for t in tried)
            note = f"{self.base} serves no {self.module} module version ({answers})"
            if self.module not in OPTIONAL_MODULES:
                raise ConnectorError(note + "; set versions." + self.module + " or use another lcd_url")
            body = json.dumps({"skipped": self.name, "note": note}).encode()
            yield Page(body=body, url=self.base, method="note:skipped", data={"items": [], "note": note},
                       state={"node": self.base, "version": None, "complete": True, "note": note})
            return
        key = None
        if state.get("complete") is False and state.get("node") == self.base and state.get("version") == version:
            key = state.get("next_key")
        guard = TokenGuard(self.name)
        url = self.base + _path(self.module, version, self.kind)
        meta = await self.before(ctx)
        pages = 0
        while True:
            params = {"pagination.limit": str(self.page_size)}
            params.update({f"filters.{k}": str(v) for k, v in self.filters.items()})
            if key:
                guard.check(key)
                params["pagination.key"] = key
            resp = await ctx.http.get_json(with_query(url, params))
            data = resp.data if isinstance(resp.data, dict) else {}
            items = data.get(self.list_key)
            if not isinstance(items, list):
                raise ConnectorError(f"GET {resp.url}: no '{self.list_key}' list in the answer")
            nxt = (data.get("pagination") or {}).get("next_key") or None
            pages += 1
            ctx.report(len(items), None, f"{self.kind} page {pages}")
            # A run stopped by max_pages stays incomplete: the next run resumes from next_key.
            yield Page(body=resp.body, url=resp.url, method="GET",
                       data={"items": items, "version": version}, meta={**meta, **self.page_meta(ctx, items)},
                       state={"node": self.base, "version": version, "next_key": nxt, "complete": not nxt})
            if not nxt or (self.max_pages and pages >= self.max_pages):
                return
            key = nxt

    def page_meta(self, ctx: RunContext, items: list[Any]) -> dict[str, Any]:
        """Stored facts one page's items need in ``transform`` (read per page: memory stays flat)."""
        return {}

    def records_for(self, item: Mapping[str, Any], page: Page) -> Iterator[Record]:
        return type(self).record_fn(item, page.fetched_at)

    def _created(self, item: Mapping[str, Any]) -> int:
        for obj in (item, item.get("lease") or {}, item.get("deployment") or {}, item.get("bid") or {}):
            if isinstance(obj, Mapping) and obj.get("created_at") not in (None, ""):
                return int(obj["created_at"])
        return 0

    def transform(self, page: Page) -> Iterator[Record]:
        for item in page.data.get("items") or []:
            # Every item on its own: a malformed one is one rejected_inputs row, never the page.
            yield from item_records(self.name, item, page.fetched_at, lambda x: self._item(x, page), "akash")

    def _item(self, item: Any, page: Page) -> list[Record]:
        if not isinstance(item, Mapping):
            raise ParseError(f"{self.kind} item is a {type(item).__name__}, not an object")
        if self.start_height and self._created(item) < self.start_height:
            return []
        return list(self.records_for(item, page))


class ProvidersStream(LcdListStream):
    name = "akash.providers"
    tables: ClassVar[tuple[Table, ...]] = (*CORE, PROVIDERS)
    module, kind, list_key, conf_key = "provider", "providers", "providers", "providers"
    record_fn = staticmethod(provider_records)


class AuditStream(LcdListStream):
    name = "akash.audit"
    tables: ClassVar[tuple[Table, ...]] = (*CORE, AUDITED)
    module, kind, list_key, conf_key = "audit", "attributes", "providers", "audit"
    record_fn = staticmethod(audit_records)


class DeploymentsStream(LcdListStream):
    name = "akash.deployments"
    tables: ClassVar[tuple[Table, ...]] = (*CORE, DEPLOYMENTS, GROUPS, ESCROW_ACCOUNTS)
    module, kind, list_key, conf_key = "deployment", "deployments", "deployments", "deployments"
    record_fn = staticmethod(deployment_records)


class OrdersStream(LcdListStream):
    name = "akash.orders"
    tables: ClassVar[tuple[Table, ...]] = (*CORE, ORDERS)
    module, kind, list_key, conf_key = "market", "orders", "orders", "orders"
    record_fn = staticmethod(order_records)


class BidsStream(LcdListStream):
    name = "akash.bids"
    tables: ClassVar[tuple[Table, ...]] = (*CORE, BIDS, ESCROW_ACCOUNTS)
    module, kind, list_key, conf_key = "market", "bids", "bids", "bids"
    record_fn = staticmethod(bid_records)


class EscrowAccountsStream(LcdListStream):
    name = "akash.escrow_accounts"
    tables: ClassVar[tuple[Table, ...]] = (*CORE, ESCROW_ACCOUNTS)
    module, kind, list_key, conf_key = "escrow", "accounts", "accounts", "escrow_accounts"
    record_fn = staticmethod(escrow_account_records)


class EscrowPaymentsStream(LcdListStream):
    name = "akash.escrow_payments"
    tables: ClassVar[tuple[Table, ...]] = (*CORE, ESCROW_PAYMENTS)
    module, kind, list_key, conf_key = "escrow", "payments", "payments", "escrow_payments"
    record_fn = staticmethod(payment_records)


class LeasesStream(LcdListStream):
    """Leases in either shape; GPU units/model come from the stored groups, GPU-hours from block time."""

    name = "akash.leases"
    tables: ClassVar[tuple[Table, ...]] = (*CORE, LEASES, ESCROW_PAYMENTS)
    module, kind, list_key, conf_key = "market", "leases", "leases", "leases"

    async def before(self, ctx: RunContext) -> dict[str, Any]:
        head, spb, head_time, measured = await head_clock(ctx, self.base, self.config)
        return {"head": head, "seconds_per_block": spb, "head_time": head_time, "spb_measured": measured}

    def transform(self, page: Page) -> Iterator[Record]:
        m = page.meta
        if m.get("head") is not None and m.get("head_time") is not None:
            # What was measured at the head: the graph's block clock anchors on it (stable id per head).
            yield block_time_record(int(m["head"]), float(m["head_time"]), float(m["seconds_per_block"]),
                                    bool(m.get("spb_measured")), int(self.config.get("block_time_sample", 1000) or 0),
                                    page.fetched_at)
        yield from super().transform(page)

    def page_meta(self, ctx: RunContext, items: list[Any]) -> dict[str, Any]:
        # Only ids that parse (lease_id validates owner and dseq) reach the page-wide sort and query: a
        # malformed lease is rejected by transform, item by item, and must not cost its neighbours.
        deps = sorted({(lid.owner, lid.dseq) for lid in map(_valid_lease_id, items) if lid is not None})
        if not deps or ctx.stored is None:
            return {"groups": {}, "offers": {}}
        return {"groups": ctx.stored.akash_group_gpus(deps), "offers": ctx.stored.akash_bid_gpus(deps)}

    def records_for(self, item: Mapping[str, Any], page: Page) -> Iterator[Record]:
        raw = item.get("lease") or item
        if not isinstance(raw, Mapping):
            raise ParseError(f"lease is a {type(raw).__name__}, not an object")
        lid = lease_id(raw)  # validated before any lookup: a malformed id is this item's rejection
        # Keys as StoredFacts.akash_group_gpus / akash_bid_gpus answer them: owner/dseq/gseq, the lease key.
        g = (page.meta.get("groups") or {}).get(f"{lid.owner}/{lid.dseq}/{lid.gseq}")
        req = gpu_of(g)
        if req is not None and req.units and req.catalog_id is None:
            # The order asked for "vendor/nvidia/model/*": the winning bid's offer names the model.
            offer = gpu_of((page.meta.get("offers") or {}).get(lid.key))
            if offer is not None and offer.catalog_id:
                req = GpuRequest(req.units, offer.keys)
        return lease_records(item, req, page.meta.get("head"),
                             float(page.meta.get("seconds_per_block") or 6.0), page.fetched_at)


def _valid_lease_id(item: Any) -> LeaseId | None:
    """The parsed id of a leases/list item, or None when the item is malformed (transform rejects it)."""
    raw = (item.get("lease") or item) if isinstance(item, Mapping) else None
    if not isinstance(raw, Mapping):
        return None
    try:
        return lease_id(raw)
    except ITEM_ERRORS:
        return None


def _block_time(b: Mapping[str, Any]) -> tuple[int, float]:
    from datetime import datetime

    hdr = (b.get("block") or b.get("sdk_block") or {}).get("header") or {}
    t = str(hdr["time"])
    whole, _, rest = t.rstrip("Z").partition(".")
    frac = float("0." + rest) if rest else 0.0
    ts = datetime.fromisoformat(whole + "+00:00").timestamp() + frac
    return int(hdr["height"]), ts


async def block_time(ctx: RunContext, base: str, config: Mapping[str, Any]) -> tuple[int | None, float]:
    """(head height, average seconds per block over the last ``block_time_sample`` blocks).

    Falls back to the configured ``seconds_per_block`` when the node cannot serve old blocks (pruned).
    """
    head, spb, _, _ = await head_clock(ctx, base, config)
    return head, spb


async def head_clock(ctx: RunContext, base: str, config: Mapping[str, Any],
                     ) -> tuple[int | None, float, float | None, bool]:
    """(head height, seconds per block, head time as epoch seconds, whether the rate was measured)."""
    spb = float(config.get("seconds_per_block", 6.1))
    url = base + "/cosmos/base/tendermint/v1beta1/blocks/"
    try:
        head, t1 = _block_time((await ctx.http.get_json(url + "latest")).data)
    except (ConnectorError, KeyError, ValueError, TypeError):
        return None, spb, None, False
    measured = False
    sample = int(config.get("block_time_sample", 1000) or 0)
    if sample > 0 and head > sample:
        try:
            h0, t0 = _block_time((await ctx.http.get_json(url + str(head - sample))).data)
            if t1 > t0 and head > h0:
                spb, measured = (t1 - t0) / (head - h0), True
        except (ConnectorError, KeyError, ValueError, TypeError):
            pass
    return head, spb, t1, measured

