"""Shared machinery of the restricted-party list connectors: parsed parties -> store records,
dated snapshots and delisting.

Every list family (OFAC, CSL, UN, OpenSanctions) parses its files into :class:`Party` rows; this
module turns them into the store mapping of docs/architecture.md (``entity:<list>:<uid>`` with a
``listed`` observation, ``wallet:<chain>:<addr>`` with ``sanctioned`` + ``listed_as``), and records
every load as a snapshot (``list_snapshots``) with its members (``list_members``), so what was added
or removed between two loads is a set difference, and a removed party's observations get
``valid_to`` (delisted) instead of silently disappearing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from connectors.addresses import AddressError, canonical_chain, chain_for_asset, normalize, wallet_id
from connectors.base import (
    EDGES,
    ENTITIES,
    OBSERVATIONS,
    Column,
    ConfigError,
    Delete,
    Page,
    Record,
    RunContext,
    Table,
)
from connectors.lists.ofac_addresses import REJECTED

LIST_SNAPSHOTS = Table(
    "list_snapshots",
    (Column("source"), Column("snapshot"), Column("loaded_at"), Column("entities", "INTEGER"),
     Column("addresses", "INTEGER"), Column("rejected", "INTEGER"), Column("url"), Column("sha256")),
    pk=("source", "snapshot"),
)
LIST_MEMBERS = Table(
    "list_members",
    (Column("source"), Column("snapshot"), Column("kind"), Column("key"), Column("label"),
     Column("list_type")),
    pk=("source", "snapshot", "kind", "key"),
    indexes=(("key",),),
)
LIST_TABLES = (ENTITIES, EDGES, OBSERVATIONS, REJECTED, LIST_SNAPSHOTS, LIST_MEMBERS)


@dataclass
class Party:
    """One listed party as published: names, programmes, where, and its digital-currency addresses.

    ``wallets`` are ``(asset code, address as published)``; normalisation happens in :func:`records`.
    """

    list_id: str  # the <list> of entity:<list>:<uid>, e.g. "ofac-sdn", "csl", "un"
    uid: str
    name: str
    list_type: str  # human list name: "OFAC SDN", "Entity List", "UN Security Council"...
    party_type: str = ""  # individual / entity / vessel / aircraft / organization
    aliases: list[str] = field(default_factory=list)
    programmes: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    wallets: list[tuple[str, str]] = field(default_factory=list)
    websites: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    sanctions: bool = True  # a sanctions list (wallets get `sanctioned`), not an export-control list
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def entity_id(self) -> str:
        return f"entity:{self.list_id}:{self.uid}"


@dataclass
class Snapshot:
    """What one load of a source yielded: its parties and the date the file says it was published."""

    parties: list[Party]
    date: str | None = None  # ISO date/time from the file itself, when it carries one
    rejected: list[tuple[str, str, str]] = field(default_factory=list)  # (value, context, reason)


_WEB = re.compile(r"(?i)\bWebsite\s+((?:https?://)?[\w.-]+\.[a-z]{2,}[\w/.-]*)")
_MAIL = re.compile(r"(?i)\b[\w.+-]+@([\w-]+\.)+[a-z]{2,}\b")


def contacts_from_text(text: str) -> tuple[list[str], list[str]]:
    """Websites and e-mail addresses mentioned in free text (OFAC remarks, CSL remarks)."""
    webs = [m.group(1).rstrip(".;,").lower() for m in _WEB.finditer(text or "")]
    mails = [m.group(0).lower() for m in _MAIL.finditer(text or "")]
    return sorted(set(webs)), sorted(set(mails))


def short_hash(*parts: str) -> str:
    """A stable uid for rows that carry none (DPL, some CSL rows): sha1 of the identifying fields."""
    return hashlib.sha1("\x1f".join(parts).encode()).hexdigest()[:16]


def _dedupe(xs: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for x in xs:
        x = (x or "").strip()
        if x:
            seen.setdefault(x, None)
    return list(seen)


def listed_on(p: Party, address: str | None = None) -> str | None:
    """When the source says the party (or one of its addresses) was listed: advanced XML entry date,
    UN LISTED_ON, CSL start_date, ultrasoundmoney date_added. "Was it listed at payment time?" then
    need not rely on when tracer first saw it."""
    per_address = p.extra.get("date_added")
    if address and isinstance(per_address, dict) and per_address.get(address.lower()):
        return str(per_address[address.lower()])[:10]
    v = p.extra.get("listed_on") or p.extra.get("start_date") or None
    return str(v)[:10] if v else None


def entity_attrs(p: Party) -> dict[str, Any]:
    """The ``attrs`` of a listed party's entity row (what screening and reviewers read)."""
    return {"aliases": _dedupe(p.aliases), "programmes": _dedupe(p.programmes),
            "countries": _dedupe(p.countries), "addresses": _dedupe(p.addresses),
            "list_type": p.list_type, "party_type": p.party_type, "uid": p.uid,
            "websites": _dedupe(p.websites), "emails": _dedupe(p.emails), **p.extra}


def records(source: str, stream: str, snap: Snapshot, snapshot: str, load_at: str, url: str,
            sha256: str) -> Iterator[Record]:
    """Store rows for one snapshot of ``source`` (pure: the same snapshot gives the same rows)."""
    n_wallets: set[str] = set()
    rejected = list(snap.rejected)
    entity_ids: set[str] = set()
    for p in snap.parties:
        eid = p.entity_id
        entity_ids.add(eid)
        attrs = entity_attrs(p)
        yield Record("entities", {"id": eid, "kind": "listed_entity", "chain": None, "address": None,
                                  "label": p.name, "attrs": attrs, "source": source,
                                  "first_seen": load_at, "last_seen": load_at})
        yield Record("observations", {
            "id": f"obs:{source}:{eid}:listed", "subject": eid, "predicate": "listed",
            "value": p.list_type, "confidence": 1.0, "observed_at": snapshot, "valid_to": None,
            "attrs": {"programmes": attrs["programmes"], "uid": p.uid, "snapshot": snapshot,
                      "listed_on": listed_on(p)},
            "source": source, "first_seen": load_at, "last_seen": load_at})
        yield Record("list_members", {"source": source, "snapshot": snapshot, "kind": "entity", "key": eid,
                                      "label": p.name, "list_type": p.list_type})
        per_wallet: dict[str, list[tuple[str, str, str]]] = {}  # wid -> [(asset, as published, address)]
        for asset, raw in p.wallets:
            try:
                chain = chain_for_asset(asset, raw)
                addr = normalize(chain, raw)
            except AddressError as e:
                rejected.append((raw, f"{asset} {eid}", str(e)))
                continue
            per_wallet.setdefault(wallet_id(chain, addr), []).append((asset, raw, addr))
        for wid, uses in per_wallet.items():
            n_wallets.add(wid)
            yield from wallet_records(source, wid, uses, p, snapshot, load_at)
            yield Record("list_members", {"source": source, "snapshot": snapshot, "kind": "address",
                                          "key": wid, "label": p.name, "list_type": p.list_type})
    for value, context, reason in rejected:
        yield Record("rejected_inputs", {"stream": stream, "value": value, "context": context,
                                          "reason": reason, "first_seen": load_at, "last_seen": load_at})
    yield Record("list_snapshots", {"source": source, "snapshot": snapshot, "loaded_at": load_at,
                                    "entities": len(entity_ids), "addresses": len(n_wallets),
                                    "rejected": len(rejected), "url": url, "sha256": sha256})


def wallet_records(source: str, wid: str, uses: list[tuple[str, str, str]], p: Party, snapshot: str,
                   load_at: str) -> Iterator[Record]:
    """A listed wallet: the wallet entity, one ``sanctioned`` fact per asset it is listed under
    (the same 0x address is often listed as ETH, USDT and USDC) and one ``listed_as`` edge."""
    chain = wid.split(":")[1]
    eid = p.entity_id
    assets = sorted({a for a, _, _ in uses})
    yield Record("entities", {"id": wid, "kind": "wallet", "chain": canonical_chain(chain), "address": uses[0][2],
                              "source": source, "first_seen": load_at, "last_seen": load_at})
    if p.sanctions:
        for asset, raw, _ in uses:
            yield Record("observations", {
                "id": f"obs:{source}:{wid}:sanctioned:{p.list_id}:{p.uid}:{asset}", "subject": wid,
                "predicate": "sanctioned", "value": p.list_type, "confidence": 1.0, "observed_at": snapshot,
                "valid_to": None, "attrs": {"asset": asset, "as_published": raw, "programme": p.programmes,
                                            "uid": p.uid, "entity": eid, "snapshot": snapshot,
                                            "listed_on": listed_on(p, raw)},
                "source": source, "first_seen": load_at, "last_seen": load_at})
    yield Record("edges", {"id": f"edge:listed_as:{wid}:{eid}", "kind": "listed_as", "src": wid, "dst": eid,
                           "chain": chain, "asset": assets[0], "attrs": {"assets": assets,
                                                                          "as_published": sorted({r for _, r, _ in uses})},
                           "source": source, "first_seen": load_at, "last_seen": load_at})


Parser = Callable[[dict[str, bytes]], Snapshot]


@dataclass(frozen=True)
class SourceSpec:
    """One configured source of a list connector: main file URL/path, side files, parser."""

    key: str  # stream suffix, e.g. "sdn_csv"
    source: str  # the ``source`` column value, e.g. "ofac-sdn-csv"
    url: str
    side: dict[str, str]  # role -> URL of side files (comments, alt, add ...)
    parse: Parser
    as_of: str | None = None


class ListStream:
    """One list source: fetch its files, parse a snapshot, store it, then mark what left the list.

    The state remembers the last snapshot; a load of an older snapshot than the newest stored one
    (replaying history) never delists anything.
    """

    primary_key: ClassVar[tuple[str, ...]] = ("id",)
    cursor_field: ClassVar[str | None] = None
    is_sorted: ClassVar[bool] = False
    tables: ClassVar[tuple[Table, ...]] = LIST_TABLES

    def __init__(self, connector: str, spec: SourceSpec) -> None:
        self.name = f"{connector}.{spec.key}"  # type: ignore[misc]
        self.spec = spec

    async def extract(self, ctx: RunContext, state: dict[str, Any]) -> AsyncIterator[Page]:
        files: dict[str, bytes] = {}
        for role, url in self.spec.side.items():
            if not url:
                continue
            resp = await ctx.http.get_bytes(url)
            files[role] = resp.body
            yield Page(body=resp.body, url=resp.url, method="GET", data=None, state=None,
                       meta={"role": role})
        resp = await ctx.http.get_bytes(self.spec.url)
        files["main"] = resp.body
        side_sha = hashlib.sha256(b"".join(files[k] for k in sorted(files))).hexdigest()
        if state.get("files_sha256") == side_sha and state.get("snapshot") and not self.spec.as_of:
            # Same bytes as the last load: no new snapshot (a daily cron does not copy the list daily).
            yield Page(body=resp.body, url=resp.url, method="GET", data=None,
                       state={**state, "checked_at": ctx.now})
            return
        try:
            snap = self.spec.parse(files)
        except (ValueError, KeyError, UnicodeDecodeError) as e:
            raise ConfigError(f"{self.spec.url}: not a {self.spec.key} file ({type(e).__name__}: {e})") from e
        load_at = ctx.now
        snapshot = self.spec.as_of or snap.date or load_at
        ctx.report(1, 2, f"{len(snap.parties)} parties, snapshot {snapshot}")
        page = Page(body=resp.body, url=resp.url, method="GET",
                    data={"snap": snap, "snapshot": snapshot, "load_at": load_at}, state=None,
                    # a corrected file with the same date replaces that snapshot's members, not adds to them
                    deletes=[Delete("list_members", {"source": self.spec.source, "snapshot": snapshot})])
        yield page
        # Delisting: what this source listed before and this (newest) snapshot no longer has.
        newest = ctx.read("SELECT max(snapshot) AS s FROM list_snapshots WHERE source = ?",
                          [self.spec.source]) if ctx.read else []
        current = {r["key"] for r in ctx.read(
            "SELECT key FROM list_members WHERE source = ? AND snapshot = ?",
            [self.spec.source, snapshot])} if ctx.read else set()
        stale: list[dict[str, Any]] = []
        if ctx.read and newest and newest[0]["s"] == snapshot:
            rows = ctx.read(
                "SELECT id, subject, json_extract(attrs, '$.entity') AS entity FROM observations WHERE source = ? "
                "AND predicate IN ('listed', 'sanctioned') AND valid_to IS NULL", [self.spec.source])
            # a wallet fact is stale when the wallet left the list OR the party it was listed for did
            stale = [{"id": r["id"], "subject": r["subject"]} for r in rows
                     if r["subject"] not in current or (r["entity"] and r["entity"] not in current)]
        body = ("\n".join(sorted(r["id"] for r in stale)) + f"\nsnapshot {snapshot}\n").encode()
        yield Page(body=body, url=self.spec.url, method="derive:delisting",
                   data={"delisted": stale, "snapshot": snapshot},
                   state={"snapshot": snapshot, "sha256": page.sha256, "files_sha256": side_sha,
                          "loaded_at": load_at})

    def transform(self, page: Page) -> Iterator[Record]:
        if page.method == "derive:delisting":
            for r in page.data["delisted"]:
                yield Record("observations", {"id": r["id"], "valid_to": page.data["snapshot"]})
            return
        if page.data is None:  # a side file: kept as raw provenance only
            return
        yield from records(self.spec.source, self.name, page.data["snap"], page.data["snapshot"],
                           page.data["load_at"], page.url, page.sha256)


def source_specs(cfg: dict[str, Any], parsers: Mapping[str, Parser]) -> list[SourceSpec]:
    """Enabled sources of a list connector's config: ``sources.<key> = {url, format, side..., source}``."""
    out = []
    for key, sc in (cfg.get("sources") or {}).items():
        if not sc.get("enabled", True):
            continue
        fmt = sc.get("format", key)
        if fmt not in parsers:
            raise ConfigError(f"source {key}: unknown format {fmt!r}; use one of {', '.join(sorted(parsers))}")
        out.append(SourceSpec(key=key, source=sc.get("source", key.replace("_", "-")), url=str(sc["url"]),
                              side={k: str(v) for k, v in (sc.get("side") or {}).items() if v},
                              parse=parsers[fmt], as_of=sc.get("as_of")))
    return out
