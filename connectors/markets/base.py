"""What the GPU marketplace connectors share: a whole-listing snapshot page, ``offers_gpu`` edges,
the marketplace's own country of a machine, and a host's totals over its machines.

Why here: Vast.ai and Clore both publish machines (offers, servers) that belong to a host, and tracer
models both the same way -- a machine offers N GPUs of a model, a host offers the sum over its
machines, each located where the marketplace says.  One builder per fact keeps the two markets' rows
the same shape, so rules read them alike.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors import facts, ids
from connectors.base import Page, Record

#: Confidence of a country the marketplace itself states (derived from an IP or undocumented).
MARKET_LOCATION_CONFIDENCE = 0.6


def snapshot_page(body: bytes, url: str, now: str, method: str = "GET") -> Page:
    """The one page of a listing fetched whole: it is the dated snapshot ``now``."""
    return Page(body=body, url=url, method=method, data={"snapshot": now}, state={"last_snapshot": now})


def offers_gpu(id_: str, src: str, gpu: str, source: str, at: str, **attrs: Any) -> Record:
    """An ``offers_gpu`` edge from a machine or host to a catalog GPU (``attrs``: ``count``, ``raw_name``
    and what the market adds), timed at the snapshot that saw it."""
    return facts.edge(id_, "offers_gpu", src, ids.gpu(gpu), source, at, time=at, attrs=attrs)


def market_location(subject: str, cc: str, source: str, at: str, *, id_: str, derived_by: str, note: str,
                    layer: str = "ip", **attrs: Any) -> Record:
    """A ``location`` the marketplace states for a machine or host (``derived_by`` the market; ``note``
    says how it is known, so a reviewer does not take it for a declared or audited one)."""
    return facts.location(subject, cc, source, at, layer=layer, confidence=MARKET_LOCATION_CONFIDENCE, id_=id_,
                          derived_by=derived_by, **attrs, note=note)


@dataclass
class HostSupply:
    """What one host offers over all its machines: GPUs per catalog model (summed counts, machines, the
    raw name first seen) and the countries of its machines (with the extra location attrs of each)."""

    machines: int = 0
    gpus: dict[str, dict[str, Any]] = field(default_factory=dict)
    countries: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, gpu: str | None, raw_name: str | None, count: int | None, country: str | None,
            **location: Any) -> None:
        """Count one machine of the host."""
        self.machines += 1
        if country:
            self.countries[country] = location
        if gpu:
            g = self.gpus.setdefault(gpu, {"count": 0, "machines": 0, "raw": raw_name})
            g["count"] += count or 0
            g["machines"] += 1


def host_records(market: str, source: str, host: str | int, at: str, supply: HostSupply, *, label: str,
                 attrs: Mapping[str, Any], note: str) -> Iterator[Record]:
    """A host (``provider:<market>:<host>``): its entity (``attrs`` plus its ``countries``), one
    ``offers_gpu`` edge per model with the totals over its machines, one ``location`` per country."""
    pid = ids.provider(market, str(host))
    yield facts.entity(pid, source, at, label=label, attrs={**attrs, "countries": sorted(supply.countries)})
    for gid, g in sorted(supply.gpus.items()):
        yield offers_gpu(ids.edge(market, "offers_gpu", "host", host, gid), pid, gid, source, at,
                         count=g["count"], machines=g["machines"], raw_name=g["raw"])
    for cc, extra in sorted(supply.countries.items()):
        yield market_location(pid, cc, source, at, id_=f"obs:{market}:location:provider:{host}:{cc}",
                              derived_by=market, note=note, **extra)
