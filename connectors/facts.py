"""The fact model: typed builders for the three core tables (entities, edges, observations).

Every connector and the simulator build facts through these functions instead of hand-writing
row dicts, so that

* a row always has every column of its table (no fact with a missing ``source`` or ``last_seen``),
* amounts are validated uint256 decimal text (never floats), decimals an int,
* observation ids are stable (``obs:<source>:<predicate>:<subject>[:<key>]``) so re-syncs update
  in place, and
* the attributes rules read have one documented shape (the ``*Attrs`` TypedDicts below).

Ids come from :mod:`connectors.ids`.  This module never imports ``tracer``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, NotRequired, TypedDict

from connectors import ids
from connectors.base import Record, check_uint256

# ---- attribute shapes rules read -----------------------------------------------------------------
LocationLayer = Literal["declared", "audited", "ip", "registry", "list"]
LOCATION_LAYERS: tuple[str, ...] = ("declared", "audited", "ip", "registry", "list")


class LocationAttrs(TypedDict, total=False):
    """``location`` observation attrs.  ``layer`` says how the country is known (rules weigh it):
    declared by the provider, audited by a signed attribute, derived from an IP by the marketplace,
    from a registry, or from a list entry."""

    layer: str
    auditor: str | None
    derived_by: str
    city: str | None
    region: str | None
    label: str | None
    note: str
    unresolved: str


class GpuUnitsAttrs(TypedDict, total=False):
    """``uses_gpu`` / ``offers_gpu`` edge attrs: how many GPUs of the model (the compute accounting
    reads ``units``; ``gpu_hours`` when the source states the hours itself)."""

    units: int
    gpu_hours: float
    vendor: str
    ram: str
    interface: str


class PaymentAttrs(TypedDict, total=False):
    """``paid`` / ``transferred`` edge attrs: display symbol and the source's own amount text."""

    symbol: str | None
    amount_text: str
    escrow: str
    memo: NotRequired[str]


def entity(id_: str, source: str, at: str, *, kind: str | None = None, chain: str | None = None,
           address: str | None = None, label: str | None = None,
           attrs: Mapping[str, Any] | None = None) -> Record:
    """An ``entities`` row; ``kind`` defaults to the id's kind.  ``label``/``attrs`` are written only
    when given, so a fact source that does not know a label never blanks one another source set."""
    row: dict[str, Any] = {"id": id_, "kind": kind or ids.kind_of(id_), "chain": chain, "address": address,
                           "source": source, "first_seen": at, "last_seen": at}
    if label is not None:
        row["label"] = label
    if attrs is not None:
        row["attrs"] = dict(attrs)
    return Record("entities", row)


def wallet(chain: str, address: str, source: str, at: str, *, label: str | None = None,
           attrs: Mapping[str, Any] | None = None) -> Record:
    """The wallet entity of an address (validated and canonical; raises AddressError)."""
    wid = ids.wallet(chain, address)
    n = ids.parse(wid)
    return entity(wid, source, at, kind="wallet", chain=n.space, address=n.key, label=label, attrs=attrs)


def wallet_of(wallet_id: str, source: str, at: str, *, label: str | None = None,
              attrs: Mapping[str, Any] | None = None) -> Record:
    """The wallet entity of an existing wallet id (chain and address taken from the id)."""
    n = ids.parse(wallet_id)
    return entity(wallet_id, source, at, kind="wallet", chain=n.space, address=n.key, label=label, attrs=attrs)


def edge(id_: str, kind: str, src: str, dst: str, source: str, at: str, *, chain: str | None = None,
         asset: str | None = None, amount: int | str | None = None, decimals: int | None = None,
         time: str | None = None, block: int | None = None, tx: str | None = None,
         attrs: Mapping[str, Any] | None = None) -> Record:
    """An ``edges`` row.  ``amount`` is exact (uint256 as decimal text; ValueError otherwise)."""
    return Record("edges", {
        "id": id_, "kind": kind, "src": src, "dst": dst, "chain": chain, "asset": asset,
        "amount": None if amount is None else check_uint256(amount),
        "decimals": None if decimals is None else int(decimals), "time": time, "block": block, "tx": tx,
        "attrs": dict(attrs or {}), "source": source, "first_seen": at, "last_seen": at})


def observation_id(source: str, predicate: str, subject: str, key: str = "") -> str:
    """The stable id of an observation: one per (source, predicate, subject, key)."""
    return f"obs:{source}:{predicate}:{subject}" + (f":{key}" if key else "")


def observation(subject: str, predicate: str, value: Any, source: str, at: str, *, confidence: float = 1.0,
                key: str = "", attrs: Mapping[str, Any] | None = None, observed_at: str | None = None,
                valid_to: str | None = None, id_: str | None = None) -> Record:
    """An ``observations`` row (``value`` stored as text; None stays None)."""
    return Record("observations", {
        "id": id_ or observation_id(source, predicate, subject, key), "subject": subject,
        "predicate": predicate, "value": None if value is None else str(value), "confidence": confidence,
        "observed_at": observed_at or at, "valid_to": valid_to, "attrs": dict(attrs or {}),
        "source": source, "first_seen": at, "last_seen": at})


def location(subject: str, iso: str | None, source: str, at: str, *, layer: str, confidence: float,
             key: str = "", id_: str | None = None, **attrs: Any) -> Record:
    """A ``location`` observation: ``iso`` is an ISO 3166 alpha-2 code (None when unresolved, with the
    raw text in ``unresolved=``); ``layer`` one of :data:`LOCATION_LAYERS`; extra attrs as keywords."""
    if layer not in LOCATION_LAYERS:
        raise ValueError(f"location layer {layer!r} is not one of {', '.join(LOCATION_LAYERS)}")
    a: dict[str, Any] = {"layer": layer, **attrs}
    return observation(subject, "location", iso.upper() if iso else None, source, at, confidence=confidence,
                       key=key or layer, attrs=a, id_=id_)


def role(wallet_id: str, role_: str, source: str, at: str) -> Record:
    """A wallet's ``role`` (renter / provider / ...); one per role, a wallet can have several."""
    return observation(wallet_id, "role", role_, source, at, key=role_)
