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

import codecs
import csv
import dataclasses
import hashlib
import json
import re
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from connectors import facts, ids
from connectors.addresses import AddressError, chain_for_asset, normalize
from connectors.base import (
    EDGES,
    ENTITIES,
    ITEM_ERRORS,
    OBSERVATIONS,
    REJECTED,
    Column,
    ConfigError,
    Delete,
    Page,
    Probe,
    Record,
    RunContext,
    Stream,
    Table,
    rejection,
    unstorable,
)
from connectors.config import TypedConfig

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
        return ids.entity(self.list_id, self.uid)


@dataclass(frozen=True)
class Unread:
    """An entry of a list file that could not be read (a field missing or of the wrong type, bad UTF-8,
    rows the store could not write).  It becomes one ``rejected_inputs`` row, and the snapshot keeps the
    previous membership of what it lists: of ``key`` (its party's entity id) when its uid could still be
    read, of every previous member otherwise (see :func:`carry_plan`, docs/lists.md)."""

    value: Any  # the entry as read (text, or the parsed object), stored as a snippet
    digest: str  # sha256 of the entry's raw form (``rejected_inputs.context``)
    reason: str
    key: str | None = None

    @classmethod
    def of(cls, value: Any, reason: str, key: str | None = None) -> Unread:
        raw = value if isinstance(value, bytes) else _canonical(value)
        text = value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else value
        return cls(text, hashlib.sha256(raw).hexdigest(), reason, key)


def _canonical(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    try:
        return json.dumps(value, sort_keys=True, default=str, ensure_ascii=True).encode()
    except (TypeError, ValueError, RecursionError):
        return ascii(value).encode()


@dataclass
class Snapshot:
    """What one load of a source yielded: its parties and the date the file says it was published."""

    parties: list[Party]
    date: str | None = None  # ISO date/time from the file itself, when it carries one
    rejected: list[tuple[str, str, str]] = field(default_factory=list)  # (value, context, reason)
    unread: list[Unread] = field(default_factory=list)  # entries that could not be read

    @property
    def partial(self) -> bool:
        """An entry could not be read and not even its uid: the snapshot cannot say who left the list."""
        return any(u.key is None for u in self.unread)


T = TypeVar("T")
#: What invalid UTF-8 bytes of a text file become: the entries holding it are unread, not the file.  A
#: Unicode noncharacter, never in published text -- unlike U+FFFD, which the real UN file contains.
BAD_UTF8 = "\ufdd0"


def _mark_bad_utf8(e: UnicodeError) -> tuple[str, int]:
    if not isinstance(e, UnicodeDecodeError):
        raise e
    return BAD_UTF8 * (e.end - e.start), e.end


codecs.register_error("tracer-bad-utf8", _mark_bad_utf8)


def utf8_text(body: bytes) -> tuple[str, bool]:
    """A file's text and whether it had invalid UTF-8 (those bytes then read as ``BAD_UTF8``, so one bad
    entry costs that entry -- see :func:`bad_utf8` -- instead of the whole file)."""
    try:
        return body.decode("utf-8-sig"), False
    except UnicodeDecodeError:
        return body.decode("utf-8-sig", errors="tracer-bad-utf8"), True


def utf8_repaired(body: bytes) -> tuple[bytes, bool]:
    """:func:`utf8_text` for parsers that take bytes (XML with its encoding declaration)."""
    text, repaired = utf8_text(body)
    return (text.encode("utf-8") if repaired else body), repaired


def bad_utf8(repaired: bool, *texts: str | None) -> bool:
    """Whether an entry of a repaired file held invalid UTF-8."""
    return repaired and any(t and BAD_UTF8 in t for t in texts)


def line_rows(text: str, delimiter: str = ",") -> Iterator[list[str]]:
    """The rows of a one-record-per-line CSV, each line read on its own (every real list CSV is one record
    per line): a quote left open by a cut line then costs that line, not every line up to the next quote."""
    for line in text.split("\n"):
        try:
            row = next(csv.reader([line.rstrip("\r")], delimiter=delimiter), [])
        except csv.Error:  # e.g. a field past the csv module's size limit: one cell, so a width check refuses it
            row = [line]
        if row:
            yield row


def line_dicts(text: str, delimiter: str = ",") -> tuple[list[str], Iterator[dict[Any, Any]]]:
    """:func:`line_rows` of a CSV with a header, as ``csv.DictReader`` gives them (a missing field is None,
    extra fields are a list under the key None)."""
    rows = line_rows(text, delimiter)
    header = next(rows, [])

    def dicts() -> Iterator[dict[Any, Any]]:
        for r in rows:
            d: dict[Any, Any] = dict(zip(header, r, strict=False))
            if len(r) < len(header):
                d.update(dict.fromkeys(header[len(r):]))
            elif len(r) > len(header):
                d[None] = r[len(header):]
            yield d

    return header, dicts()


def entry_key(list_id: str, uid: Any) -> str | None:
    """The entity id an entry lists when its uid can still be read (a non-empty storable text), else None."""
    if isinstance(uid, int) and not isinstance(uid, bool):
        uid = str(uid)
    if not isinstance(uid, str) or not uid.strip() or BAD_UTF8 in uid or unstorable([Record("x", {"u": uid})]):
        return None
    return ids.entity(list_id, uid.strip())


def guarded(unread: list[Unread], value: Any, key: str | None, make: Callable[[], T]) -> T | None:
    """``make()``, or None with one :class:`Unread` when the entry is malformed (``ITEM_ERRORS``)."""
    try:
        return make()
    except ITEM_ERRORS as e:
        unread.append(Unread.of(value, f"{type(e).__name__}: {e}", key))
        return None


def party_problem(p: Party) -> str | None:
    """Why a parsed party cannot be stored (None when it can): no uid or name, or a value the store
    refuses as a cell (a lone surrogate from a JSON ``\\ud800`` escape, NUL); lists and extras are
    stored as ASCII JSON, where anything a parser yields is storable."""
    if not isinstance(p.uid, str) or not p.uid.strip():
        return "an entry without a uid"
    if not isinstance(p.name, str) or not p.name.strip():
        return "an entry without a name"
    cells = {"uid": p.uid, "name": p.name, "list_type": p.list_type, "party_type": p.party_type}
    for i, w in enumerate(p.wallets):
        if not (isinstance(w, tuple) and len(w) == 2 and all(isinstance(x, str) for x in w)):
            return f"wallet {i} is not an (asset, address) pair of text"
        cells[f"wallet {i}"] = w[0] + w[1]
    return unstorable([Record("listed party", cells)])


def vetted(snap: Snapshot) -> Snapshot:
    """``snap`` with every party the store could not take moved to ``unread`` (by its entity id)."""
    good, bad = [], []
    for p in snap.parties:
        why = party_problem(p)
        if why is None:
            good.append(p)
        else:
            bad.append(Unread.of(dataclasses.asdict(p), why, entry_key(p.list_id, p.uid)))
    if not bad:
        return snap
    return dataclasses.replace(snap, parties=good, unread=[*snap.unread, *bad])


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


def member(source: str, snapshot: str, kind: str, key: str, label: str | None, list_type: str | None) -> Record:
    """One ``list_members`` row: ``key`` (an entity or wallet id) is on ``source``'s list in ``snapshot``."""
    return Record("list_members", {"source": source, "snapshot": snapshot, "kind": kind, "key": key,
                                   "label": label, "list_type": list_type})


def snapshot_row(source: str, snapshot: str, load_at: str, entities: int, addresses: int, rejected_n: int,
                 url: str, sha256: str) -> Record:
    """The ``list_snapshots`` row of one load: its counts and the file it came from."""
    return Record("list_snapshots", {"source": source, "snapshot": snapshot, "loaded_at": load_at,
                                     "entities": entities, "addresses": addresses, "rejected": rejected_n,
                                     "url": url, "sha256": sha256})


def rejected(stream: str, value: str, context: str, reason: str, at: str) -> Record:
    """A ``rejected_inputs`` row for a published value (an address as published) that cannot be matched,
    kept as published (not as a JSON snippet) so a reviewer can search the list for it."""
    return Record("rejected_inputs", {"stream": stream, "value": value, "context": context, "reason": reason,
                                      "first_seen": at, "last_seen": at})


#: The method of a derived page that ends the listing facts a newer load no longer has.
DELISTING = "derive:delisting"


def delisted(stale: Iterable[Mapping[str, Any]], at: str) -> Iterator[Record]:
    """``valid_to = at`` on each stale listing observation (rows with ``id``)."""
    for r in stale:
        yield facts.ended(r["id"], at)


def records(source: str, stream: str, snap: Snapshot, snapshot: str, load_at: str, url: str,
            sha256: str, carry: Sequence[Mapping[str, Any]] = ()) -> Iterator[Record]:
    """Store rows for one snapshot of ``source`` (pure: the same snapshot gives the same rows).

    ``carry``: members of the previous snapshot this one keeps because it could not read them
    (:func:`carry_plan`); they are members again, but their facts are not re-stated (``last_seen`` stays).
    """
    n_wallets: set[str] = set()
    rejects = list(snap.rejected)
    entity_ids: set[str] = set()
    for p in snap.parties:
        eid = p.entity_id
        entity_ids.add(eid)
        attrs = entity_attrs(p)
        yield facts.entity(eid, source, load_at, kind="listed_entity", label=p.name, attrs=attrs)
        yield facts.observation(eid, "listed", p.list_type, source, load_at, observed_at=snapshot,
                                attrs={"programmes": attrs["programmes"], "uid": p.uid, "snapshot": snapshot,
                                       "listed_on": listed_on(p)},
                                id_=f"obs:{source}:{eid}:listed")
        yield member(source, snapshot, "entity", eid, p.name, p.list_type)
        per_wallet: dict[str, list[tuple[str, str, str]]] = {}  # wid -> [(asset, as published, address)]
        for asset, raw in p.wallets:
            try:
                chain = chain_for_asset(asset, raw)
                addr = normalize(chain, raw)
            except AddressError as e:
                rejects.append((raw, f"{asset} {eid}", str(e)))
                continue
            per_wallet.setdefault(ids.wallet(chain, addr), []).append((asset, raw, addr))
        for wid, uses in per_wallet.items():
            n_wallets.add(wid)
            yield from wallet_records(source, wid, uses, p, snapshot, load_at)
            yield member(source, snapshot, "address", wid, p.name, p.list_type)
    for m in carry:
        if m["key"] in entity_ids or m["key"] in n_wallets:
            continue
        (entity_ids if m["kind"] == "entity" else n_wallets).add(m["key"])
        yield member(source, snapshot, m["kind"], m["key"], m["label"], m["list_type"])
    for value, context, reason in rejects:
        yield rejected(stream, value, context, reason, load_at)
    kept = ("; every member of the previous snapshot it lacks is kept (nothing delisted)" if snap.partial
            else "; its previous listing is kept")
    for u in snap.unread:
        yield rejection(stream, u.value, u.reason + kept, load_at, f"{u.key or 'entry'} sha256:{u.digest[:16]}")
    yield snapshot_row(source, snapshot, load_at, len(entity_ids), len(n_wallets), len(rejects) + len(snap.unread),
                       url, sha256)


def wallet_records(source: str, wid: str, uses: list[tuple[str, str, str]], p: Party, snapshot: str,
                   load_at: str) -> Iterator[Record]:
    """A listed wallet: the wallet entity, one ``sanctioned`` fact per asset it is listed under
    (the same 0x address is often listed as ETH, USDT and USDC) and one ``listed_as`` edge."""
    eid = p.entity_id
    assets = sorted({a for a, _, _ in uses})
    yield facts.wallet_of(wid, source, load_at)
    if p.sanctions:
        for asset, raw, _ in uses:
            yield facts.observation(
                wid, "sanctioned", p.list_type, source, load_at, observed_at=snapshot,
                attrs={"asset": asset, "as_published": raw, "programme": p.programmes, "uid": p.uid,
                       "entity": eid, "snapshot": snapshot, "listed_on": listed_on(p, raw)},
                id_=f"obs:{source}:{wid}:sanctioned:{p.list_id}:{p.uid}:{asset}")
    yield facts.edge(ids.edge("listed_as", wid, eid), "listed_as", wid, eid, source, load_at,
                     chain=ids.space_of(wid), asset=assets[0],
                     attrs={"assets": assets, "as_published": sorted({r for _, r, _ in uses})})


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

    name: ClassVar[str] = ""  # per instance: <connector>.<source key> (set in __init__)
    primary_key: ClassVar[tuple[str, ...]] = ("id",)
    cursor_field: ClassVar[str | None] = None
    is_sorted: ClassVar[bool] = False
    tables: ClassVar[tuple[Table, ...]] = LIST_TABLES

    def __init__(self, connector: str, spec: SourceSpec) -> None:
        self.name = f"{connector}.{spec.key}"  # type: ignore[misc]  # one stream per configured source
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
            snap = vetted(self.spec.parse(files))
        except (ValueError, KeyError, UnicodeDecodeError, SyntaxError) as e:  # lxml's XMLSyntaxError: a SyntaxError
            raise ConfigError(f"{self.spec.url}: not a {self.spec.key} file ({type(e).__name__}: {e})") from e
        load_at = ctx.now
        snapshot = self.spec.as_of or snap.date or load_at
        ctx.report(1, 2, f"{len(snap.parties)} parties, snapshot {snapshot}")
        page = Page(body=resp.body, url=resp.url, method="GET",
                    data={"snap": snap, "snapshot": snapshot, "load_at": load_at,
                          "carry": carry_plan(ctx, self.spec.source, snapshot, snap)}, state=None,
                    # a corrected file with the same date replaces that snapshot's members, not adds to them
                    deletes=[Delete("list_members", {"source": self.spec.source, "snapshot": snapshot})])
        yield page
        # Delisting: what this source listed before and this (newest) snapshot no longer has.
        stale = stale_listings(ctx, self.spec.source, snapshot)
        body = ("\n".join(sorted(r["id"] for r in stale)) + f"\nsnapshot {snapshot}\n").encode()
        yield Page(body=body, url=self.spec.url, method=DELISTING,
                   data={"delisted": stale, "snapshot": snapshot},
                   state={"snapshot": snapshot, "sha256": page.sha256, "files_sha256": side_sha,
                          "loaded_at": load_at})

    def transform(self, page: Page) -> Iterator[Record]:
        if page.method == DELISTING:
            yield from delisted(page.data["delisted"], page.data["snapshot"])
            return
        if page.data is None:  # a side file: kept as raw provenance only
            return
        yield from records(self.spec.source, self.name, page.data["snap"], page.data["snapshot"],
                           page.data["load_at"], page.url, page.sha256, page.data.get("carry") or ())


def carry_plan(ctx: RunContext, source: str, snapshot: str, snap: Snapshot) -> list[dict[str, Any]]:
    """The members of the newest stored snapshot that ``snapshot`` keeps because it could not read them.

    An unread entry whose uid was read keeps its party (``key``) and the wallets listed for that party
    (open ``sanctioned`` facts citing it); an entry not even that could be read makes the snapshot partial:
    it keeps every previous member (a delisting then shows at the next complete snapshot).  Nothing when
    every entry was read, when there is no earlier snapshot, or when ``snapshot`` is older than the newest
    stored one (a replay of history).  ``records`` skips carried keys the snapshot has anyway.
    """
    stored = ctx.stored
    if not snap.unread or stored is None:
        return []
    latest = stored.list_latest_snapshot(source)
    if latest is None or latest > snapshot:
        return []
    previous = stored.list_members(source, latest)
    if snap.partial:
        keep = None
    else:
        keep = {u.key for u in snap.unread if u.key}
        keep |= {r["subject"] for r in stored.open_listings(source)
                 if (r.get("attrs") or {}).get("entity") in keep}
    return [{k: m[k] for k in ("kind", "key", "label", "list_type")} for m in previous
            if keep is None or m["key"] in keep]


def stale_listings(ctx: RunContext, source: str, snapshot: str) -> list[dict[str, Any]]:
    """The open ``listed``/``sanctioned`` facts of ``source`` that its stored ``snapshot`` no longer has,
    as ``{id, subject}``: a wallet fact is stale when the wallet left the list OR the party it was listed
    for did.  Nothing when ``snapshot`` is not the newest stored one (a replay of history delists nothing)
    or when the run has no store to ask."""
    stored = ctx.stored
    if stored is None or stored.list_latest_snapshot(source) != snapshot:
        return []
    current = {m["key"] for m in stored.list_members(source, snapshot)}
    stale = []
    for r in stored.open_listings(source):
        entity = (r.get("attrs") or {}).get("entity")
        if r["subject"] not in current or (entity and entity not in current):
            stale.append({"id": r["id"], "subject": r["subject"]})
    return stale


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


class ListConnector(TypedConfig):
    """A restricted-party list connector: one :class:`ListStream` per enabled configured source.

    Subclasses state only what differs: ``name``, ``description`` and their ``parsers`` (format ->
    parser); their defaults are their typed schema in ``connectors/lists/config.py``.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    parsers: ClassVar[Mapping[str, Parser]]

    @property
    def schema(self) -> Any:
        """This list connector's typed schema (``connectors.lists.config.SCHEMAS``)."""
        from connectors.lists.config import SCHEMAS

        return SCHEMAS[self.name]

    def streams(self, config: dict[str, Any]) -> list[Stream]:
        return [ListStream(self.name, s) for s in source_specs(config, self.parsers)]

    def probes(self, config: dict[str, Any]) -> list[Probe]:
        return [Probe(k, str(s["url"])) for k, s in (config.get("sources") or {}).items()
                if s.get("enabled", True)]

