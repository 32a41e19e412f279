"""io.net explorer devices: GPU model and count, country, and the jobs a device served.

``GET https://api.io.solutions/v1/io-explorer/devices/{device_id}/details`` (io.net API reference,
"Device Details") answers ``{"data": {device_id, hardware_name, hardware_quantity, iso2,
location_name, base_tier_name, jobs: [{for, start_time, end_time, status, earned, ...}]}, "status":
"succeeded"}``.  The explorer needs a JWT copied from the explorer web session (valid 21 days), sent
as ``Authorization: Bearer <token>``; it is a secret, redacted from every log line.  There is no
documented public device list, so the device ids to follow are configuration.  Renters appear only
as opaque job/cluster UUIDs (``for``), kept in ``ionet_jobs``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar
from urllib.parse import quote

from connectors import facts, ids
from connectors.base import (
    EDGES,
    ENTITIES,
    OBSERVATIONS,
    REJECTED,
    Column,
    ConfigError,
    ConnectorError,
    NotConfigured,
    Page,
    Probe,
    Record,
    RunContext,
    Stream,
    Table,
    item_records,
)
from connectors.config import TypedConfig
from connectors.gpu_names import gpu_id
from connectors.markets.base import market_location, offers_gpu
from connectors.markets.config import IonetConfig

SOURCE = "ionet-explorer"
LOCATION_NOTE = "iso2 as io.net's explorer publishes it; how io.net derives it is not documented"

DEVICES = Table(
    "ionet_devices",
    (Column("snapshot"), Column("device_id"), Column("hardware_name"), Column("gpu_id"),
     Column("hardware_quantity", "INTEGER"), Column("iso2"), Column("location_name"), Column("tier"),
     Column("jobs", "INTEGER")),
    pk=("snapshot", "device_id"),
    indexes=(("device_id",), ("iso2",)),
)
JOBS = Table(
    "ionet_jobs",
    (Column("device_id"), Column("job_for"), Column("start_time"), Column("end_time"), Column("status"),
     Column("earned"), Column("slashed"), Column("total_hire_rate"), Column("compute_minutes_hired"),
     Column("compute_minutes_served")),
    pk=("device_id", "job_for", "start_time"),
)


def _text(v: Any) -> str | None:
    return None if v is None or isinstance(v, bool) else (v if isinstance(v, str) else str(v))


def _job(dev: str, j: dict[str, Any]) -> Iterator[Record]:
    yield Record("ionet_jobs", {"device_id": dev, "job_for": j.get("for"), "start_time": j.get("start_time"),
                                "end_time": j.get("end_time"), "status": j.get("status"),
                                "earned": _text(j.get("earned")), "slashed": _text(j.get("slashed")),
                                "total_hire_rate": _text(j.get("total_hire_rate")),
                                "compute_minutes_hired": _text(j.get("compute_minutes_hired")),
                                "compute_minutes_served": _text(j.get("compute_minutes_served"))})


class DevicesStream:
    """One details call per configured device id (one page each)."""

    name: ClassVar[str] = "ionet.devices"
    primary_key: ClassVar[tuple[str, ...]] = ("snapshot", "device_id")
    cursor_field: ClassVar[str | None] = None
    is_sorted: ClassVar[bool] = False
    tables: ClassVar[tuple[Table, ...]] = (DEVICES, JOBS, ENTITIES, EDGES, OBSERVATIONS, REJECTED)

    def __init__(self, config: dict[str, Any]) -> None:
        self.base = str(config["base_url"]).rstrip("/")
        self.token = config.get("token") or None
        self.devices = [str(d) for d in config.get("device_ids") or []]
        self.header = str(config.get("auth_header", "Authorization"))
        self.scheme = str(config.get("auth_scheme", "Bearer"))

    def url(self, device: str) -> str:
        return f"{self.base}/devices/{quote(device, safe='')}/details"

    async def extract(self, ctx: RunContext, state: dict[str, Any]) -> AsyncIterator[Page]:
        if not self.devices:  # io.net lists no devices publicly: nothing to follow is not "ok, 0 records"
            raise NotConfigured("no device ids to follow (set [connectors.ionet] device_ids, and a token)")
        if not self.token:
            raise ConfigError("io.net explorer needs a JWT: set [connectors.ionet] token (or TRACER_CONNECTORS__IONET__TOKEN)")
        headers = {self.header: f"{self.scheme} {self.token}".strip()} if self.token else None
        for i, dev in enumerate(self.devices):
            resp = await ctx.http.request("GET", self.url(dev), headers=headers, parse_json=False)
            ctx.report(1, len(self.devices), dev)
            yield Page(body=resp.body, url=resp.url, method="GET", data={"snapshot": ctx.now, "device": dev},
                       state={"last_snapshot": ctx.now, "done": i + 1})

    def transform(self, page: Page) -> Iterator[Record]:
        snap = page.data["snapshot"]
        doc = json.loads(page.body, parse_float=str)
        d = doc.get("data") if isinstance(doc, dict) else None
        if not isinstance(d, dict) or not d.get("device_id"):
            raise ConnectorError(f"io.net device {page.data['device']}: answer has no data.device_id "
                                 f"(status {doc.get('status') if isinstance(doc, dict) else '?'})")
        dev = str(d["device_id"])
        pid, gid = ids.provider("ionet", dev), gpu_id("ionet", d.get("hardware_name"))
        qty = d.get("hardware_quantity") if isinstance(d.get("hardware_quantity"), int) else None
        cc = str(d.get("iso2") or "").upper() or None
        jobs = [j for j in d.get("jobs") or [] if isinstance(j, dict)] if isinstance(d.get("jobs"), list) else []
        device = [Record("ionet_devices", {"snapshot": snap, "device_id": dev, "hardware_name": d.get("hardware_name"),
                                       "gpu_id": gid, "hardware_quantity": qty, "iso2": cc,
                                       "location_name": d.get("location_name"),
                                       "tier": d.get("base_tier_name") or _text(d.get("connectivity_tier")),
                                       "jobs": len(jobs)}), *self._device(d, dev, gid, qty, cc, pid, snap)]
        yield from item_records(self.name, d, snap, lambda _: device, "ionet")  # e.g. a quantity past 64 bits
        for j in jobs:  # one job at a time: a malformed one is one rejected_inputs row
            yield from item_records(self.name, j, snap, functools.partial(_job, dev), "ionet")

    def _device(self, d: dict[str, Any], dev: str, gid: str | None, qty: int | None, cc: str | None, pid: str,
                snap: str) -> Iterator[Record]:
        yield facts.entity(pid, SOURCE, snap, label=f"io.net device {dev[:8]}",
                           attrs={"market": "ionet", "device_id": dev, "hardware_name": d.get("hardware_name"),
                                  "hardware_quantity": qty, "location_name": d.get("location_name")})
        if gid:
            yield offers_gpu(ids.edge("ionet", "offers_gpu", dev, gid), pid, gid, SOURCE, snap, count=qty,
                             raw_name=d.get("hardware_name"))
        if cc and len(cc) == 2 and cc.isalpha():
            yield market_location(pid, cc, SOURCE, snap, id_=f"obs:ionet:location:{dev}", layer="declared",
                                  derived_by="ionet", note=LOCATION_NOTE, label=d.get("location_name"))


class IonetConnector(TypedConfig):
    """io.net explorer (JWT): per-device GPU model and count, country, jobs served."""

    name: ClassVar[str] = "ionet"
    description: ClassVar[str] = "io.net explorer devices (JWT): GPU model/count, country, jobs served"
    schema = IonetConfig

    def streams(self, config: dict[str, Any]) -> list[Stream]:
        return [DevicesStream(config)]

    def probes(self, config: dict[str, Any]) -> list[Probe]:
        devs = config.get("device_ids") or ["00000000-0000-0000-0000-000000000000"]
        return [Probe("device details", DevicesStream(config).url(str(devs[0])))]

