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
from typing import Any, Literal, NamedTuple, NotRequired, TypedDict

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
    """``uses_gpu`` / ``offers_gpu`` edge attrs: how many GPUs of the model.  A lease's ``uses_gpu``
    says ``units`` (GPUs the lease holds) and ``hours`` (its wall-clock hours, when known); a
    provider's or machine's ``offers_gpu`` says ``count`` (GPUs offered).  Rules read them through
    :func:`gpu_units` and :func:`lease_hours`; ``gpu_hours`` when the source states the hours itself."""

    units: int
    count: int
    hours: float | None
    gpu_hours: float | None
    vendor: str
    ram: str
    interface: str
    model_raw: Any
    raw_name: str


class PaymentAttrs(TypedDict, total=False):
    """``paid`` / ``transferred`` edge attrs: display symbol and the source's own amount text."""

    symbol: str | None
    amount_text: str
    escrow: str
    memo: NotRequired[str]


def entity(id_: str, source: str, at: str, *, kind: str | None = None, chain: str | None = None,
           address: str | None = None, label: str | None = None,
           attrs: Mapping[str, Any] | None = None, last_seen: str | None = None) -> Record:
    """An ``entities`` row; ``kind`` defaults to the id's kind; ``last_seen`` defaults to ``at`` (a fact
    seen over a span, e.g. a backfill or the simulator, gives its end).  ``label``/``attrs`` are written only
    when given, so a fact source that does not know a label never blanks one another source set."""
    row: dict[str, Any] = {"id": id_, "kind": kind or ids.kind_of(id_), "chain": chain, "address": address,
                           "source": source, "first_seen": at, "last_seen": last_seen or at}
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
         attrs: Mapping[str, Any] | None = None, last_seen: str | None = None) -> Record:
    """An ``edges`` row.  ``amount`` is exact (uint256 as decimal text; ValueError otherwise)."""
    return Record("edges", {
        "id": id_, "kind": kind, "src": src, "dst": dst, "chain": chain, "asset": asset,
        "amount": None if amount is None else check_uint256(amount),
        "decimals": None if decimals is None else int(decimals), "time": time, "block": block, "tx": tx,
        "attrs": dict(attrs or {}), "source": source, "first_seen": at, "last_seen": last_seen or at})


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


# ---- appended (issue 13): rows whose column set differs from :func:`entity` ---------------------
def stub(id_: str, at: str) -> Record:
    """The entity of a node another source owns, written only so an edge's endpoint exists.

    Kind, chain and address come from the id (so the content equals the owner's row), and it has no
    ``source``, ``label`` or ``attrs``: whichever of the two is written first, the stub never
    overwrites the owner's source or provenance (an IBC funder on another chain, an OFAC-listed wallet).
    """
    n = ids.parse(id_)
    return Record("entities", {"id": id_, "kind": n.kind, "chain": n.space or None, "address": n.key,
                               "first_seen": at, "last_seen": at})


def entity_stated(id_: str, source: str, at: str | None, *, label: str | None, attrs: Mapping[str, Any],
                  kind: str | None = None, chain: str | None = None, address: str | None = None) -> Record:
    """An ``entities`` row that states ``label`` and ``attrs`` outright, None and {} included (unlike
    :func:`entity`, a label this source wrote before is cleared).  ``at=None`` writes no sighting
    columns (``first_seen``/``last_seen``): EVM token metadata, read once per token, is not a sighting."""
    row: dict[str, Any] = {"id": id_, "kind": kind or ids.kind_of(id_), "chain": chain, "address": address,
                           "label": label, "attrs": dict(attrs), "source": source}
    if at is not None:
        row["first_seen"] = row["last_seen"] = at
    return Record("entities", row)


# ---- appended (issue 13): the other attribute shapes rules read, and one accessor per shape -----------
class GpuHoursAttrs(TypedDict, total=False):
    """``gpu_hours`` observation attrs (value: the lease's GPU-hours): ``gpu`` is the catalog id of the
    model the hours are of (None: the lease's only model), ``units`` the GPUs counted."""

    gpu: str | None
    units: int
    created_height: int | None
    end_height: int | None
    end_is_head: bool
    seconds_per_block: float


class TagAttrs(TypedDict, total=False):
    """``tag`` observation attrs (value: the label): ``category`` (exchange, bridge, mixer, ...) tells
    hubs where walks stop."""

    category: str
    source_category: str
    chain: str


class PayeeRoleAttrs(TypedDict, total=False):
    """``role`` observation attrs of a ``provider_payee`` wallet: ``provider``, the provider id it is
    paid for (Golem: the node's payee)."""

    provider: str
    platforms: list[str]


class NameMatchAttrs(TypedDict, total=False):
    """``name_match`` observation attrs (value: the listed entity id), as screening writes them
    (``tracer.screening.Match``): ``score`` 0-100 (a 0-1 fraction is read as such), the screened
    ``query``, the listed ``entity_id`` with its ``label`` and ``list_type``, the ``matched_text``."""

    query: str
    query_field: str
    entity_id: str
    label: str
    matched_text: str
    matched_field: str
    score: float
    list_type: str
    uid: str
    programmes: list[str]
    source: str
    snapshot: str
    threshold: float


class BlockTimeAttrs(TypedDict, total=False):
    """``block_time`` observation attrs (subject :func:`connectors.ids.chain_subject`, value: seconds
    per block): a ``head`` height seen at ``head_time`` anchors the chain's block clock."""

    head: int
    head_time: str
    seconds_per_block: float
    measured: bool
    sample_blocks: int


class DeploymentAttrs(TypedDict, total=False):
    """Deployment entity attrs: ``manifest_hash`` (Akash ``hash``, ``version`` in v1beta3) is what the
    private-manifest clustering compares; the owner is the id's (``ids.parse(id).owner_wallet``)."""

    manifest_hash: str | None
    state: str | None
    created_at: int | None


def manifest_hash(attrs: Mapping[str, Any]) -> str | None:
    """The manifest hash of a deployment entity (:class:`DeploymentAttrs`), None when unknown."""
    h = attrs.get("manifest_hash")
    return str(h) if h else None


def location_layer(attrs: Mapping[str, Any]) -> str:
    """How a ``location`` is known (:class:`LocationAttrs` ``layer``); none stated counts as declared."""
    return str(attrs.get("layer") or "declared")


def gpu_units(kind: str, attrs: Mapping[str, Any]) -> int | None:
    """GPUs of a ``uses_gpu`` (``units``) or ``offers_gpu`` (``count``) edge (:class:`GpuUnitsAttrs`);
    None when the source does not say."""
    v = attrs.get("count" if kind == "offers_gpu" else "units")
    return None if v is None else int(v)


def lease_hours(attrs: Mapping[str, Any]) -> float | None:
    """Wall-clock hours of a lease's ``uses_gpu`` edge (:class:`GpuUnitsAttrs` ``hours``), None unknown."""
    v = attrs.get("hours")
    return None if v is None else float(v)


def gpu_hours_model(attrs: Mapping[str, Any]) -> str | None:
    """The catalog id a ``gpu_hours`` observation is about (:class:`GpuHoursAttrs` ``gpu``), or None."""
    g = attrs.get("gpu")
    return ids.gpu_catalog_id(str(g)) if g else None


def tag_category(attrs: Mapping[str, Any]) -> str:
    """A ``tag``'s category (:class:`TagAttrs`), "" when none."""
    return str(attrs.get("category") or "")


def payee_provider(attrs: Mapping[str, Any]) -> str | None:
    """The provider id a ``provider_payee`` role is for (:class:`PayeeRoleAttrs`), or None."""
    p = attrs.get("provider")
    return str(p) if p else None


class NameMatch(NamedTuple):
    """A ``name_match`` fact as rules read it: ``score`` in [0, 1] and the listed party's names."""

    score: float
    entity: str
    list_type: str
    query: str
    label: str


def name_match(value: Any, confidence: float | None, attrs: Mapping[str, Any]) -> NameMatch:
    """A ``name_match`` observation's :class:`NameMatchAttrs` read once: the score (attrs ``score``,
    else the observation's confidence; 0-100 scores are percent), the entity (``entity_id``, else the
    value), the list (``list_type``, else the value), the query and the matched label."""
    m = float(attrs.get("score", confidence or 0))
    m = m / 100.0 if m > 1.0 else m
    label = attrs.get("label") or attrs.get("matched_text") or ""
    return NameMatch(m, str(attrs.get("entity_id") or value), str(attrs.get("list_type") or value),
                     str(attrs.get("query") or "?"), str(label))


# ---- appended (issue 13): the end of a fact ----------------------------------------------------------
def ended(observation_id: str, valid_to: str) -> Record:
    """An observation that no longer holds (a party or address delisted): only ``valid_to`` is written,
    so the fact's value, attrs and sightings stay as stored and its history shows when it ended."""
    return Record("observations", {"id": observation_id, "valid_to": valid_to})
