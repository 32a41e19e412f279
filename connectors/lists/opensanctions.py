"""OpenSanctions FollowTheMoney data: the full ``entities.ftm.json`` export (one JSON entity per line)
and the delta feed (``delta.json`` index of versions, each an ``entities.delta.json`` of ADD / MOD /
DEL operations), for incremental watch-list updates without re-reading the whole dataset.

Listed parties are the ``target`` entities of schema Person / Organization / Company / LegalEntity /
Vessel / Airplane; ``CryptoWallet`` entities attach their ``publicKey`` to their ``holder``.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any, ClassVar

from connectors import ids
from connectors.base import (
    ITEM_ERRORS,
    ConfigError,
    Page,
    Record,
    RunContext,
    Stream,
    Table,
    rejection,
    unstorable,
)
from connectors.lists.base import (
    LIST_TABLES,
    ListConnector,
    Parser,
    Party,
    Snapshot,
    Unread,
    delisted,
    entry_key,
    guarded,
    member,
    records,
    snapshot_row,
)

LIST_ID = "opensanctions"  # the <list> of entity:opensanctions:<FtM id>
PARTY_SCHEMATA = frozenset({"Person", "Organization", "Company", "LegalEntity", "Vessel", "Airplane",
                            "PublicBody"})
_ASSET = {"BTC": "XBT"}


def _props(e: dict[str, Any], *keys: str) -> list[str]:
    p = e.get("properties") or {}
    return [str(v) for k in keys for v in p.get(k, []) if v]


def entity_problem(e: Any) -> str | None:
    """Why an FtM entity is malformed (None when it is not): the fields a party or wallet is read from
    must have their FtM types (a ``properties`` value that is a string would be read letter by letter)."""
    if not isinstance(e, dict) or not isinstance(e.get("id"), str) or not e["id"]:
        return "not an FtM entity with a text id"
    if not isinstance(e.get("schema"), str):
        return "schema is not text"
    if not isinstance(e.get("target", False), bool):
        return "target is not true or false"
    props = e.get("properties") or {}
    if not isinstance(props, dict) or not all(isinstance(v, list) for v in props.values()):
        return "properties is not an object of lists"
    for k in ("datasets", "referents"):
        if not isinstance(e.get(k) or [], list):
            return f"{k} is not a list"
    for k in ("caption", "first_seen", "last_change"):
        if not isinstance(e.get(k) or "", str):
            return f"{k} is not text"
    return None


def party_of(e: dict[str, Any]) -> Party | None:
    """A listed party from one FtM entity (None for non-party schemata and non-targets)."""
    if e.get("schema") not in PARTY_SCHEMATA or e.get("target") is False:
        return None
    caption = e.get("caption") or next(iter(_props(e, "name")), e["id"])
    names = _props(e, "name", "alias", "previousName")
    return Party(list_id=LIST_ID, uid=e["id"], name=caption, list_type="OpenSanctions",
                 party_type=str(e.get("schema", "")).lower(), aliases=[n for n in names if n != caption],
                 programmes=_props(e, "programId", "program") or list(e.get("datasets") or []),
                 countries=_props(e, "country", "nationality", "jurisdiction", "citizenship"),
                 addresses=_props(e, "address"), websites=[w.lower() for w in _props(e, "website")],
                 emails=[m.lower() for m in _props(e, "email")],
                 sanctions="sanction" in _props(e, "topics"),
                 extra={"weak_aliases": _props(e, "weakAlias"), "datasets": list(e.get("datasets") or []), "referents": list(e.get("referents") or []),
                        "topics": _props(e, "topics"), "first_seen": e.get("first_seen") or "",
                        "last_change": e.get("last_change") or ""})


def _checked_party(e: dict[str, Any]) -> Party | None:
    why = entity_problem(e)
    if why is not None:
        raise ValueError(why)
    return party_of(e)


def parse_ftm_lines(lines: list[Any], unread: list[Unread] | None = None) -> Snapshot:
    """Parties (with their crypto wallets) from FtM entities, entity by entity: a malformed one is unread
    (by its id when that reads; a wallet by its one holder), the others are read."""
    parties: dict[str, Party] = {}
    wallets: list[dict[str, Any]] = []
    unread = list(unread or [])
    for e in lines:
        key = entry_key(LIST_ID, e.get("id")) if isinstance(e, dict) else None
        if isinstance(e, dict) and e.get("schema") == "CryptoWallet":
            why = entity_problem(e)
            if why is None:
                wallets.append(e)
            else:
                holders = e.get("properties", {}).get("holder") if isinstance(e.get("properties"), dict) else None
                one = holders[0] if isinstance(holders, list) and len(holders) == 1 else None
                unread.append(Unread.of(e, why, entry_key(LIST_ID, one)))
            continue
        p = guarded(unread, e, key, functools.partial(_checked_party, e))
        if p is not None:
            parties[p.uid] = p
    rejected = []
    for w in wallets:
        sym = (_props(w, "currencySymbol", "currency") or [""])[0].upper()
        for holder in _props(w, "holder"):
            for key in _props(w, "publicKey"):
                if holder in parties:
                    parties[holder].wallets.append((_ASSET.get(sym, sym), key))
                else:
                    rejected.append((key, f"CryptoWallet {w['id']}", f"holder {holder} is not a listed party"))
    return Snapshot(list(parties.values()), rejected=rejected, unread=unread)


def _json_lines(body: bytes) -> tuple[list[Any], list[Unread]]:
    """The JSON documents of a newline-delimited file, line by line: a line that is not UTF-8 or not
    JSON is unread, not the file."""
    out: list[Any] = []
    bad: list[Unread] = []
    for raw in body.split(b"\n"):
        if not raw.strip():
            continue
        try:
            out.append(json.loads(raw.decode("utf-8")))
        except (UnicodeDecodeError, ValueError, RecursionError) as e:
            bad.append(Unread.of(raw, f"{type(e).__name__}: {str(e)[:120]}"))
    return out, bad


def parse_entities(files: dict[str, bytes]) -> Snapshot:
    """``entities.ftm.json``: newline-delimited FtM entities."""
    lines, bad = _json_lines(files["main"])
    return parse_ftm_lines(lines, bad)


def version_time(version: str) -> str:
    """"20240527134702-zbn" -> "2024-05-27T13:47:02" (delta versions sort by time)."""
    m = re.match(r"(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})", version)
    if not m:
        raise ConfigError(f"unexpected OpenSanctions version {version!r}")
    y, mo, d, h, mi, s = m.groups()
    return f"{y}-{mo}-{d}T{h}:{mi}:{s}"


def op_problem(o: Any) -> str | None:
    """Why one delta operation cannot be applied (None when it can): not an ADD/MOD/DEL of an entity
    with a text id, an entity FtM parsing fails on, or one whose rows the store could not write."""
    if isinstance(o, Unread):  # a line that did not read
        return o.reason
    if not isinstance(o, dict) or o.get("op") not in ("ADD", "MOD", "DEL"):
        return "not an ADD, MOD or DEL operation"
    e = o.get("entity")
    if not isinstance(e, dict) or not isinstance(e.get("id"), str) or not e["id"]:
        return "operation without an entity id"
    if o["op"] == "DEL":
        return unstorable([Record("x", {"id": e["id"]})])
    try:
        snap = parse_ftm_lines([e])
        if snap.unread:
            return snap.unread[0].reason
        rows = list(records("x", "x", snap, "x", "x", "x", "x"))
    except ITEM_ERRORS as err:
        return f"{type(err).__name__}: {err}"
    return unstorable(rows)


class DeltaStream:
    """The delta feed: each new version's operations are applied to the previous snapshot.

    State keeps the last applied version; a version page writes the changed parties, the full
    membership of the new snapshot and ``valid_to`` on the facts of deleted entities.
    """

    name: ClassVar[str] = ""  # per instance: <connector>.<source key> (set in __init__)
    primary_key: ClassVar[tuple[str, ...]] = ("id",)
    cursor_field: ClassVar[str | None] = "version"
    is_sorted: ClassVar[bool] = True
    tables: ClassVar[tuple[Table, ...]] = LIST_TABLES

    def __init__(self, connector: str, key: str, url: str, source: str, base: str | None = None) -> None:
        self.name = f"{connector}.{key}"  # type: ignore[misc]
        self.url, self.source, self.base = url, source, base

    def _version_url(self, version: str, listed: str) -> str:
        if self.base:  # a mirror (or a local folder) laid out as <base>/<version>/entities.delta.json
            return f"{self.base.rstrip('/')}/{version}/entities.delta.json"
        return listed

    async def extract(self, ctx: RunContext, state: dict[str, Any]) -> AsyncIterator[Page]:
        index = await ctx.http.get_bytes(self.url)
        versions = dict(sorted(json.loads(index.body)["versions"].items()))
        last = state.get("version", "")
        for version, vurl in versions.items():
            if version <= last:
                continue
            resp = await ctx.http.get_bytes(self._version_url(version, vurl))
            lines, bad = _json_lines(resp.body)
            ops: list[Any] = [*lines, *bad]
            deleted = [o["entity"]["id"] for o in ops if op_problem(o) is None and o["op"] == "DEL"]
            members, stale = self._stored(ctx, deleted)
            ctx.report(1, len(versions), version)
            yield Page(body=resp.body, url=resp.url, method="GET",
                       data={"ops": ops, "version": version, "members": members, "stale": stale,
                             "load_at": ctx.now}, state={"version": version})

    def _stored(self, ctx: RunContext, deleted: list[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The members of the newest stored snapshot (the base a version applies to) and the open
        listing facts of the ``deleted`` entities, as ``{id, subject}``."""
        stored = ctx.stored
        if stored is None:
            return [], []
        prev_snap = stored.list_latest_snapshot(self.source) or None
        members = [{k: m[k] for k in ("kind", "key", "label", "list_type")}
                   for m in stored.list_members(self.source, prev_snap)] if prev_snap else []
        gone = {ids.entity(LIST_ID, d) for d in deleted}
        stale = [{"id": r["id"], "subject": r["subject"]} for r in stored.open_listings(self.source)
                 if r["subject"] in gone] if deleted else []
        return members, stale

    def transform(self, page: Page) -> Iterator[Record]:
        snapshot = version_time(page.data["version"])
        # Operation by operation: a malformed one is one rejected_inputs row and takes no part in the
        # snapshot (its parties, deletions, membership and totals); the others are applied.
        ops = []
        for o in page.data["ops"]:
            why = op_problem(o)
            if why is None:
                ops.append(o)
            else:
                yield rejection(self.name, o.value if isinstance(o, Unread) else o, why, page.data["load_at"],
                                "opensanctions-delta")
        changed = [o["entity"] for o in ops if o["op"] in ("ADD", "MOD")]
        deleted = {ids.entity(LIST_ID, o["entity"]["id"]) for o in ops if o["op"] == "DEL"}
        snap = parse_ftm_lines(changed)
        new_keys = {p.entity_id for p in snap.parties}
        yield from records(self.source, self.name, snap, snapshot, page.data["load_at"], page.url, page.sha256)
        carried = [m for m in page.data["members"] if m["key"] not in deleted and m["key"] not in new_keys]
        for m in carried:
            yield member(self.source, snapshot, m["kind"], m["key"], m["label"], m["list_type"])
        yield from delisted(page.data["stale"], snapshot)
        n_ent = len(new_keys) + sum(1 for m in carried if m["kind"] == "entity")
        n_addr = sum(1 for m in carried if m["kind"] == "address") + sum(len(p.wallets) for p in snap.parties)
        yield snapshot_row(self.source, snapshot, page.data["load_at"], n_ent, n_addr, len(snap.rejected),
                           page.url, page.sha256)


class ListsOpensanctionsConnector(ListConnector):
    """OpenSanctions FtM entities and delta feed, as dated snapshots."""

    name: ClassVar[str] = "lists_opensanctions"
    description: ClassVar[str] = "OpenSanctions FollowTheMoney entities (full export and delta feed)"
    parsers: ClassVar[Mapping[str, Parser]] = {"ftm_json": parse_entities}

    def streams(self, config: dict[str, Any]) -> list[Stream]:
        sources = config.get("sources") or {}
        out = super().streams({"sources": {k: v for k, v in sources.items() if v.get("format") != "ftm_delta"}})
        for k, v in sources.items():
            if v.get("format") == "ftm_delta" and v.get("enabled", True):
                out.append(DeltaStream(self.name, k, str(v["url"]), v.get("source", "opensanctions-delta"),
                                       v.get("versions_base")))
        return out
