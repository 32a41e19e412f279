"""Vast.ai offers: which hosts offer which GPUs where, as dated snapshots.

Vast is a centralised marketplace with off-chain billing, so it gives supply-side evidence only:
which export-controlled GPUs are offered, by which ``host_id``, in which country.  Every sync is a
snapshot (``vastai_offers`` keyed by ``snapshot, offer_id``), and a derived page compares it with
the previous snapshot (``vastai_supply_changes``), so supply that appears or disappears is visible.

Money: ``dph_total`` (USD per hour) is stored as the exact decimal text the API sent -- the body is
re-parsed with ``parse_float=str`` -- never through a float.  Location: ``geolocation`` ("Ontario, CA")
is Vast's own IP-derived label; its trailing ISO2 code becomes a ``location`` observation with
``layer = ip`` and ``attrs.derived_by = vastai``.  Public IPs stay in the store (``vastai_offers``);
they are the publisher's data and are never printed in docs.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
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
from connectors.gpu_names import gpu_id
from connectors.markets.base import HostSupply, host_records, market_location, offers_gpu
from connectors.markets.config import VastaiConfig

SOURCE = "vastai"

OFFERS = Table(
    "vastai_offers",
    (Column("snapshot"), Column("offer_id", "INTEGER"), Column("host_id", "INTEGER"),
     Column("machine_id", "INTEGER"), Column("ask_contract_id", "INTEGER"), Column("geolocation"),
     Column("country"), Column("public_ipaddr"), Column("gpu_name"), Column("gpu_id"),
     Column("num_gpus", "INTEGER"), Column("gpu_ram", "INTEGER"), Column("dph_total"), Column("dph_base"),
     Column("verified", "INTEGER"), Column("verification"), Column("hosting_type", "INTEGER"),
     Column("rentable", "INTEGER"), Column("rented", "INTEGER"), Column("reliability"),
     Column("start_date"), Column("end_date")),
    pk=("snapshot", "offer_id"),
    indexes=(("machine_id",), ("host_id",), ("country",), ("gpu_id",)),
)
SNAPSHOTS = Table(
    "vastai_snapshots",
    (Column("snapshot"), Column("offers", "INTEGER"), Column("machines", "INTEGER"), Column("hosts", "INTEGER"),
     Column("url"), Column("query")),
    pk=("snapshot",),
)
CHANGES = Table(
    "vastai_supply_changes",
    (Column("snapshot"), Column("machine_id", "INTEGER"), Column("change"), Column("prev_snapshot"),
     Column("host_id", "INTEGER"), Column("gpu_name"), Column("num_gpus", "INTEGER"), Column("country")),
    pk=("snapshot", "machine_id"),
)

_CC = re.compile(r"^[A-Z]{2}$")
LOCATION_NOTE = "Vast.ai's own IP-derived geolocation label, not declared or audited"


def country_of(geolocation: str | None) -> str | None:
    """ISO2 country from Vast's "Region, CC" label (the text after the last comma), else None.

    ", RU" (empty region) gives RU; a label without a valid two-letter code gives None.
    """
    if not geolocation or not isinstance(geolocation, str):
        return None
    code = geolocation.rsplit(",", 1)[-1].strip().upper()
    return code if _CC.match(code) else None


def parse_offers(body: bytes) -> list[dict[str, Any]]:
    """Offers of a bundles answer (``{"offers": [...]}``) or of ``vastai search offers --raw`` (a list),
    with every JSON number that has a fraction kept as its exact text."""
    data = json.loads(body, parse_float=str)
    if isinstance(data, dict):
        data = data.get("offers")
    if not isinstance(data, list):
        raise ConnectorError("Vast.ai answer has no offers list (expected {\"offers\": [...]})")
    return [o for o in data if isinstance(o, dict)]


def _text(v: Any) -> str | None:
    """A decimal as exact text: strings (already exact) pass, ints are printed, None stays None."""
    if v is None or isinstance(v, bool):
        return None
    return v if isinstance(v, str) else str(v)


def _flag(v: Any) -> int | None:
    return None if v is None else int(bool(v))


def _verified(o: Mapping[str, Any]) -> int | None:
    if o.get("verified") is not None:
        return int(bool(o["verified"]))
    v = o.get("verification")
    return None if v is None else int(v == "verified")


def offer_row(o: Mapping[str, Any], snapshot: str) -> dict[str, Any]:
    """One ``vastai_offers`` row from one offer object."""
    return {
        "snapshot": snapshot, "offer_id": o.get("id"), "host_id": o.get("host_id"),
        "machine_id": o.get("machine_id"), "ask_contract_id": o.get("ask_contract_id"),
        "geolocation": o.get("geolocation"), "country": country_of(o.get("geolocation")),
        "public_ipaddr": o.get("public_ipaddr"), "gpu_name": o.get("gpu_name"),
        "gpu_id": gpu_id("vastai", o.get("gpu_name")), "num_gpus": o.get("num_gpus"),
        "gpu_ram": o.get("gpu_ram") if isinstance(o.get("gpu_ram"), int) else None,
        "dph_total": _text(o.get("dph_total")), "dph_base": _text(o.get("dph_base")),
        "verified": _verified(o), "verification": o.get("verification"),
        "hosting_type": o.get("hosting_type"), "rentable": _flag(o.get("rentable")),
        "rented": _flag(o.get("rented")), "reliability": _text(o.get("reliability2", o.get("reliability"))),
        "start_date": _text(o.get("start_date")), "end_date": _text(o.get("end_date")),
    }


_INTS = ("id", "host_id", "machine_id", "num_gpus", "ask_contract_id", "hosting_type")


def valid_offer_row(o: Mapping[str, Any], snapshot: str) -> dict[str, Any]:
    """:func:`offer_row`, after checking the fields the snapshot groups and sorts by: ids and GPU counts
    are integers (or absent), names text; anything else raises ValueError (the offer is rejected)."""
    for k in _INTS:
        v = o.get(k)
        if v is not None and (type(v) is not int or not -(2**63) <= v < 2**63):
            raise ValueError(f"offer {k} is not a 64-bit integer: {ascii(v)[:40]}")
    if o.get("gpu_name") is not None and not isinstance(o.get("gpu_name"), str):
        raise ValueError("offer gpu_name is not text")
    return offer_row(o, snapshot)


def graph_records(rows: list[dict[str, Any]], snapshot: str) -> Iterator[Record]:
    """Entities, ``offers_gpu`` edges and ``location`` observations of one snapshot's offer rows.

    A machine appears in several offers (1, 2, 4... of its GPUs); its GPU count is the largest
    ``num_gpus`` offered.  A host's count per GPU model is the sum over its machines.
    """
    machines: dict[int, dict[str, Any]] = {}
    for r in rows:
        mid = r["machine_id"]
        if mid is None or r["host_id"] is None:
            continue
        m = machines.setdefault(mid, {**r, "count": 0})
        m["count"] = max(m["count"], r["num_gpus"] or 0)
    hosts: dict[int, HostSupply] = {}
    for mid, m in sorted(machines.items()):
        host, gid, cc = m["host_id"], m["gpu_id"], m["country"]
        mach = ids.machine(SOURCE, mid)
        yield facts.entity(mach, SOURCE, snapshot, label=f"Vast.ai machine {mid}",
                           attrs={"market": "vastai", "machine_id": mid, "host_id": host,
                                  "provider": ids.provider(SOURCE, str(host)), "gpu_name": m["gpu_name"],
                                  "num_gpus": m["count"], "hosting_type": m["hosting_type"],
                                  "verification": m["verification"]})
        hosts.setdefault(host, HostSupply()).add(gid, m["gpu_name"], m["count"], cc, label=m["geolocation"])
        if gid:
            yield offers_gpu(ids.edge(SOURCE, "offers_gpu", "machine", mid, gid), mach, gid, SOURCE, snapshot,
                             count=m["count"], raw_name=m["gpu_name"], host_id=host)
        if cc:
            yield market_location(mach, cc, SOURCE, snapshot, id_=f"obs:vastai:location:machine:{mid}",
                                  derived_by=SOURCE, note=LOCATION_NOTE, label=m["geolocation"])
    for host, supply in sorted(hosts.items()):
        yield from host_records(SOURCE, SOURCE, host, snapshot, supply, label=f"Vast.ai host {host}",
                                attrs={"market": "vastai", "host_id": host}, note=LOCATION_NOTE)


def supply_changes(prev: Iterable[Mapping[str, Any]], cur: Iterable[Mapping[str, Any]]) -> dict[str, list[int]]:
    """Machines that appeared in ``cur`` and disappeared from ``prev`` (rows with ``machine_id``)."""
    p = {r["machine_id"] for r in prev if r.get("machine_id") is not None}
    c = {r["machine_id"] for r in cur if r.get("machine_id") is not None}
    return {"appeared": sorted(c - p), "disappeared": sorted(p - c), "kept": sorted(c & p)}


class OffersStream:
    """One POST of the offer search per sync = one dated snapshot, then the supply-change page."""

    name: ClassVar[str] = "vastai.offers"
    primary_key: ClassVar[tuple[str, ...]] = ("snapshot", "offer_id")
    cursor_field: ClassVar[str | None] = "snapshot"
    is_sorted: ClassVar[bool] = True
    tables: ClassVar[tuple[Table, ...]] = (OFFERS, SNAPSHOTS, CHANGES, ENTITIES, EDGES, OBSERVATIONS, REJECTED)

    def __init__(self, config: dict[str, Any]) -> None:
        self.base = str(config["base_url"]).rstrip("/")
        self.query = {**dict(config.get("query") or {}), "limit": int(config.get("limit", 5000))}
        self.api_key = config.get("api_key") or None

    def url(self) -> str:
        return self.base if self.base.endswith(".json") or not self.base.startswith("http") else f"{self.base}/bundles/"

    async def extract(self, ctx: RunContext, state: dict[str, Any]) -> AsyncIterator[Page]:
        snapshot = ctx.now
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else None
        resp = await ctx.http.request("POST", self.url(), json_body=self.query, headers=headers, parse_json=False)
        ctx.report(1, 2, "offers")
        yield Page(body=resp.body, url=resp.url, method="POST", data={"snapshot": snapshot, "query": self.query},
                   state={"last_snapshot": snapshot, "prev_snapshot": state.get("last_snapshot")})
        prev_snap = state.get("last_snapshot")
        changes: list[dict[str, Any]] = []
        if ctx.stored is not None and prev_snap and prev_snap != snapshot:
            prev = ctx.stored.vastai_machines(prev_snap)
            cur = ctx.stored.vastai_machines(snapshot)
            diff = supply_changes(prev.values(), cur.values())
            for kind, rows in (("appeared", cur), ("disappeared", prev)):
                for mid in diff[kind]:
                    changes.append({**rows[mid], "change": kind})
        ctx.report(1, 2, "supply changes")
        body = json.dumps({"snapshot": snapshot, "prev_snapshot": prev_snap, "changes": changes},
                          sort_keys=True).encode()
        yield Page(body=body, url=self.url(), method="derive:supply_changes",
                   data={"snapshot": snapshot, "prev_snapshot": prev_snap, "changes": changes}, state=None)

    def transform(self, page: Page) -> Iterator[Record]:
        snap = page.data["snapshot"]
        if page.method == "derive:supply_changes":
            for c in page.data["changes"]:
                yield Record("vastai_supply_changes", {
                    "snapshot": snap, "machine_id": c["machine_id"], "change": c["change"],
                    "prev_snapshot": page.data["prev_snapshot"], "host_id": c.get("host_id"),
                    "gpu_name": c.get("gpu_name"), "num_gpus": c.get("num_gpus"), "country": c.get("country")})
            return
        # Offer by offer: a malformed one is one rejected_inputs row and never reaches the snapshot's
        # page-wide totals and per-machine/per-host grouping (which sort and compare ids).
        rows: list[dict[str, Any]] = []
        for o in parse_offers(page.body):
            recs = item_records(self.name, o, snap, lambda x: [Record("vastai_offers", valid_offer_row(x, snap))],
                                "vastai")
            if recs[0].table == "vastai_offers":
                if recs[0].row["offer_id"] is None:
                    yield rejection(self.name, o, "offer without an id", snap, "vastai")
                    continue
                rows.append(dict(recs[0].row))
            yield from recs
        yield Record("vastai_snapshots", {
            "snapshot": snap, "offers": len(rows), "machines": len({r["machine_id"] for r in rows}),
            "hosts": len({r["host_id"] for r in rows}), "url": page.url, "query": page.data["query"]})
        yield from graph_records(rows, snap)


class VastaiConnector(TypedConfig):
    """Vast.ai marketplace offers (supply side: host, machine, GPU model and count, country, price)."""

    name: ClassVar[str] = "vastai"
    description: ClassVar[str] = "Vast.ai GPU offers as dated snapshots: hosts, machines, GPUs, IP-derived country"
    schema = VastaiConfig

    def streams(self, config: dict[str, Any]) -> list[Stream]:
        return [OffersStream(config)]

    def probes(self, config: dict[str, Any]) -> list[Probe]:
        return [Probe("offers", OffersStream(config).url())]

