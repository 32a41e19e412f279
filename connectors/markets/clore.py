"""Clore.ai marketplace servers: GPU model and count, country, rented flag, price.

``GET https://api.clore.ai/v1/marketplace`` (Clore API docs) answers ``{"servers": [...], "code": 0}``;
each server has ``id``, ``owner``, ``specs{gpu: "1x NVIDIA GeForce RTX 3080", gpuram, cpu, ram,
net{up, down, cc}}``, ``gpu_array``, ``price{on_demand, spot}``, ``rented``, ``reliability``.  The docs
ask for an ``auth: <key>`` header (not ``Authorization``); several public clients call it without
one, so the key is optional and redacted when set.  Every answer carries ``code`` (0 ok, 5 rate
limit, ...); a non-zero code is an error.  ``specs.net.cc`` is the country Clore shows for the
server (how it is derived is not documented: stored as ``layer = ip`` with a note).
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar

from connectors import facts, ids
from connectors.base import (
    EDGES,
    ENTITIES,
    OBSERVATIONS,
    REJECTED,
    Column,
    ConnectorError,
    Page,
    Probe,
    Record,
    RunContext,
    Stream,
    Table,
    item_records,
    rejection,
)
from connectors.config import TypedConfig
from connectors.gpu_names import gpu_count, gpu_id
from connectors.markets.base import HostSupply, host_records, market_location, offers_gpu, snapshot_page
from connectors.markets.config import CloreConfig

SOURCE = "clore"
CODES = {1: "database error", 2: "invalid input data", 3: "invalid API token", 4: "invalid endpoint",
         5: "rate limit (1 request/second) exceeded", 6: "application error"}
LOCATION_NOTE = "specs.net.cc as Clore publishes it; derivation not documented"

SERVERS = Table(
    "clore_servers",
    (Column("snapshot"), Column("server_id", "INTEGER"), Column("owner"), Column("gpu"), Column("gpu_id"),
     Column("gpu_count", "INTEGER"), Column("country"), Column("rented", "INTEGER"), Column("reliability"),
     Column("price")),
    pk=("snapshot", "server_id"),
    indexes=(("server_id",), ("country",)),
)


class ServersStream:
    """The whole marketplace, one page per sync (a dated snapshot)."""

    name: ClassVar[str] = "clore.servers"
    primary_key: ClassVar[tuple[str, ...]] = ("snapshot", "server_id")
    cursor_field: ClassVar[str | None] = "snapshot"
    is_sorted: ClassVar[bool] = True
    tables: ClassVar[tuple[Table, ...]] = (SERVERS, ENTITIES, EDGES, OBSERVATIONS, REJECTED)

    def __init__(self, config: dict[str, Any]) -> None:
        self.base = str(config["base_url"]).rstrip("/")
        self.key = config.get("api_key") or None

    def url(self) -> str:
        return f"{self.base}/marketplace"

    async def extract(self, ctx: RunContext, state: dict[str, Any]) -> AsyncIterator[Page]:
        resp = await ctx.http.request("GET", self.url(), headers={"auth": self.key} if self.key else None,
                                      parse_json=False)
        code = json.loads(resp.body).get("code") if resp.body.lstrip().startswith(b"{") else None
        if code not in (0, None):
            raise ConnectorError(f"GET {resp.url}: Clore answered code {code} ({CODES.get(code, 'unknown')})")
        ctx.report(1, 1, "marketplace")
        yield snapshot_page(resp.body, resp.url, ctx.now)

    def transform(self, page: Page) -> Iterator[Record]:
        snap = page.data["snapshot"]
        doc = json.loads(page.body, parse_float=str)
        servers = doc.get("servers") if isinstance(doc, dict) else None
        if not isinstance(servers, list):
            raise ConnectorError("Clore marketplace answer has no servers list")
        owners: dict[str, HostSupply] = {}
        for s in servers:
            if not isinstance(s, dict) or s.get("id") is None:
                yield rejection(self.name, s, "server without an id", snap, "clore")
                continue
            # Each server on its own (a malformed one is one rejected_inputs row); its share of the
            # host-level totals is added only once all its records are built.
            share: list[tuple[str, str | None, str | None, str | None, int | None]] = []
            recs = item_records(self.name, s, snap, functools.partial(self._server, snap=snap, share=share), "clore")
            if share and not _rejected(recs):
                owner, cc, gid, raw, count = share[0]
                owners.setdefault(owner, HostSupply()).add(gid, raw, count, cc)
            yield from recs
        for owner, supply in sorted(owners.items()):  # the host (owner) level, as for Vast hosts
            yield from host_records(SOURCE, SOURCE, owner, snap, supply, label=f"Clore host {owner}",
                                    attrs={"market": "clore", "owner": owner, "servers": supply.machines},
                                    note=LOCATION_NOTE)

    def _server(self, s: dict[str, Any], snap: str,
                share: list[tuple[str, str | None, str | None, str | None, int | None]]) -> Iterator[Record]:
        sid, specs = s["id"], s.get("specs") or {}
        if not isinstance(sid, int | str) or isinstance(sid, bool):
            raise ValueError(f"server id is a {type(sid).__name__}")
        raw = specs.get("gpu") if isinstance(specs.get("gpu"), str) else None
        arr = [g for g in s.get("gpu_array") or [] if isinstance(g, str)]
        gid = gpu_id("clore", raw) or (gpu_id("clore", arr[0]) if arr else None)
        count = len(arr) or gpu_count("clore", raw) or (1 if raw else None)
        cc = str((specs.get("net") or {}).get("cc") or "").upper() or None
        cc = cc if cc and len(cc) == 2 and cc.isalpha() else None
        mid = ids.machine(SOURCE, sid)
        owner = None if s.get("owner") is None else str(s["owner"])
        yield Record("clore_servers", {"snapshot": snap, "server_id": sid, "owner": owner,
                                       "gpu": raw, "gpu_id": gid, "gpu_count": count, "country": cc,
                                       "rented": None if s.get("rented") is None else int(bool(s["rented"])),
                                       "reliability": None if s.get("reliability") is None else str(s["reliability"]),
                                       "price": s.get("price")})
        attrs: dict[str, Any] = {"market": "clore", "server_id": sid, "gpu": raw, "gpu_count": count,
                                 "rented": s.get("rented")}
        if owner is not None:
            attrs["provider"] = ids.provider(SOURCE, owner)
            share.append((owner, cc, gid, raw, count))
        yield facts.entity(mid, SOURCE, snap, label=f"Clore server {sid}", attrs=attrs)
        if gid:
            yield offers_gpu(ids.edge(SOURCE, "offers_gpu", sid, gid), mid, gid, SOURCE, snap, count=count,
                             raw_name=raw)
        if cc:
            yield market_location(mid, cc, SOURCE, snap, id_=f"obs:clore:location:{sid}", derived_by=SOURCE,
                                  note=LOCATION_NOTE)


def _rejected(recs: list[Record]) -> bool:
    return len(recs) == 1 and recs[0].table == "rejected_inputs"


class CloreConnector(TypedConfig):
    """Clore.ai GPU marketplace servers (optional ``auth`` key)."""

    name: ClassVar[str] = "clore"
    description: ClassVar[str] = "Clore.ai marketplace servers: GPU model/count, country, rented flag"
    schema = CloreConfig

    def streams(self, config: dict[str, Any]) -> list[Stream]:
        return [ServersStream(config)]

    def probes(self, config: dict[str, Any]) -> list[Probe]:
        return [Probe("marketplace", ServersStream(config).url())]

