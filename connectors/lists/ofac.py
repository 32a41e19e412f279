"""OFAC lists: the legacy ``sdn.csv`` family, ``sdn.xml``/``consolidated.xml``, the advanced XML,
and the community address exports (thomasgregg JSON, ultrasoundmoney CSV).

The legacy CSV is the trap: remarks are cut at 1000 characters and the rest lives in
``sdn_comments.csv`` (starting mid-word), and digital-currency addresses exist only in those remarks,
so a parser that ignores the comments file misses most Tornado Cash / Lazarus addresses.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from connectors.lists.base import (
    BAD_UTF8,
    ListConnector,
    Parser,
    Party,
    Snapshot,
    Unread,
    bad_utf8,
    contacts_from_text,
    entry_key,
    guarded,
    line_dicts,
    line_rows,
    utf8_text,
)
from connectors.lists.ofac_xml import parse_advanced_xml, parse_sdn_xml

SDN = "ofac-sdn"
SDN_LIST = "OFAC SDN"
NULL = "-0-"
REMARKS_LIMIT = 1000
_DCA = re.compile(r"Digital Currency Address - ([A-Za-z0-9]+)\s+([^\s;,]+)")
_AKA = re.compile(r"\b[af]\.k\.a\.\s+'([^']+)'")
_NAT = re.compile(r"\b(?:nationality|Nationality|Citizen)\s+([A-Z][A-Za-z .'-]+?)(?=[;.]|$)")


def _decode(body: bytes) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return body.decode("cp1252", errors="replace")


def _cell(v: str | None) -> str:
    """A cell as published (not stripped: a remark cut at 1000 characters may end in a space)."""
    v = v or ""
    return "" if v.strip() == NULL else v


def read_ofac_csv(body: bytes, width: int) -> list[list[str]]:
    """Rows of an OFAC legacy CSV: CRLF, no header, ``-0-`` nulls, a trailing Ctrl-Z line dropped."""
    text = _decode(body).replace("\x1a", "")
    return [[_cell(c) for c in row] for row in csv.reader(io.StringIO(text)) if len(row) >= width]


def _ofac_text(body: bytes) -> tuple[str, bool]:
    """The text of an OFAC legacy CSV and whether some bytes were invalid UTF-8 in a UTF-8 file.

    A file with no valid multi-byte UTF-8 at all but some invalid bytes is an old cp1252 file (read
    whole as cp1252, as before); otherwise the invalid bytes are marked and only their rows are unread.
    """
    text, repaired = utf8_text(body)
    if repaired and not any(ord(c) > 127 and c != BAD_UTF8 for c in text):
        return body.decode("cp1252", errors="replace"), False
    return text, repaired


def read_sdn_rows(body: bytes, width: int, list_id: str) -> tuple[list[list[str]], list[Unread]]:
    """The rows of an OFAC legacy main file, each checked: a row with another number of cells than
    ``width`` (a field dropped or split), or with invalid UTF-8, is unread (by its ent_num when the first
    cell still is one) instead of silently skipped -- a skipped row would read as a delisting."""
    text, repaired = _ofac_text(body)
    rows, unread = [], []
    for row in line_rows(text.replace("\x1a", "")):
        if not any(c.strip() for c in row):
            continue
        uid = row[0].strip()
        key = entry_key(list_id, uid) if uid.isascii() and uid.isdigit() else None
        if len(row) != width:
            unread.append(Unread.of(row, f"{len(row)} fields, not {width}", key))
        elif bad_utf8(repaired, *row):
            unread.append(Unread.of(row, "invalid UTF-8", key))
        elif key is None:
            unread.append(Unread.of(row, f"ent_num {uid[:40]!r} is not a number", None))
        else:
            rows.append([_cell(c) for c in row])
    return rows, unread


def digital_currency_addresses(remarks: str) -> list[tuple[str, str]]:
    """``(asset, address)`` pairs from remarks: "Digital Currency Address - ETH 0x...; alt. ..."."""
    return [(m.group(1).upper(), m.group(2).rstrip(".")) for m in _DCA.finditer(remarks)]


def merge_comments(remarks: dict[str, str], comments: bytes | None) -> int:
    """Append ``sdn_comments.csv`` continuations to remarks cut at 1000 characters; returns merges.

    A continuation is only glued onto a remark that was really cut (exactly the limit), so a
    comments file of another date cannot extend a remark that ended on its own.
    """
    if not comments:
        return 0
    n = 0
    for row in read_ofac_csv(comments, 2):
        ent, more = row[0].strip(), row[1]
        if ent in remarks and len(remarks[ent]) >= REMARKS_LIMIT and more:
            remarks[ent] = remarks[ent] + more
            n += 1
    return n


def parse_sdn_csv(files: dict[str, bytes], list_id: str = SDN, list_type: str = SDN_LIST) -> Snapshot:
    """``sdn.csv`` (+ ``sdn_comments.csv``, ``alt.csv``, ``add.csv`` when given) -> parties."""
    rows, unread = read_sdn_rows(files["main"], 12, list_id)
    if not rows:
        raise ValueError("no 12-column OFAC rows")
    remarks = {r[0].strip(): r[11] for r in rows}
    merge_comments(remarks, files.get("comments"))
    alts: dict[str, list[str]] = {}
    for r in read_ofac_csv(files.get("alt", b""), 4):
        alts.setdefault(r[0].strip(), []).append(r[3].strip())
    adds: dict[str, list[tuple[str, str]]] = {}
    for r in read_ofac_csv(files.get("add", b""), 5):
        line = ", ".join(x.strip() for x in r[2:5] if x.strip())
        adds.setdefault(r[0].strip(), []).append((line, r[4].strip()))
    parties = []
    for r in rows:
        ent, name, typ, prog = r[0].strip(), r[1].strip(), r[2].strip(), r[3].strip()
        rem = remarks.get(ent, "")
        webs, mails = contacts_from_text(rem)
        addr = adds.get(ent, [])
        parties.append(Party(
            list_id=list_id, uid=ent, name=name, list_type=list_type, party_type=typ or "entity",
            aliases=alts.get(ent, []) + _AKA.findall(rem),
            programmes=[p.strip() for p in prog.strip("[]").split("] [") if p.strip()],
            countries=[c for _, c in addr if c] + [m.strip() for m in _NAT.findall(rem)],
            addresses=[a for a, _ in addr if a], wallets=digital_currency_addresses(rem),
            websites=webs, emails=mails, extra={"remarks": rem[:2000]}))
    return Snapshot(parties, unread=unread)


def _us_date(s: str) -> str | None:
    m = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", s.strip())
    return f"{m.group(3)}-{int(m.group(1)):02d}-{int(m.group(2)):02d}" if m else None


def parse_thomasgregg(files: dict[str, bytes]) -> Snapshot:
    """thomasgregg/crypto-sanctions-list JSON: address -> entries with entity, program, uid, AKAs.

    Its keys are lower-cased (a known defect): base58 addresses then fail their checksum and are
    rejected with the reason instead of being matched.
    """
    text, repaired = utf8_text(files["main"])
    data = json.loads(text)
    if not isinstance(data, dict) or not isinstance(data.get("addresses"), dict):
        raise ValueError("no addresses object")
    parties: dict[str, Party] = {}
    unread: list[Unread] = []
    for addr, info in data["addresses"].items():
        entries = info.get("entries") if isinstance(info, dict) else None
        if not isinstance(entries, list) or not isinstance(info.get("type", ""), str):
            unread.append(Unread.of({addr: info}, "an address without a list of entries or a type text"))
            continue
        asset = info.get("type", "").rsplit("-", 1)[-1].strip()
        for e in entries:
            key = entry_key(SDN, e.get("uid")) if isinstance(e, dict) else None
            if bad_utf8(repaired, addr, json.dumps(e, ensure_ascii=False, default=str)):
                unread.append(Unread.of({addr: e}, "invalid UTF-8", key))
                continue
            guarded(unread, {addr: e}, key, functools.partial(_thomasgregg_entry, parties, addr, asset, info, e))
    meta = data["metadata"] if isinstance(data.get("metadata"), dict) else {}
    return Snapshot(list(parties.values()), date=_us_date(str(meta.get("sdnListDate", ""))), unread=unread)


def _thomasgregg_entry(parties: dict[str, Party], addr: str, asset: str, info: dict[str, Any],
                       e: dict[str, Any]) -> None:
    """One entry of one address: checked whole before its party is touched."""
    uid, name, typ, prog = e["uid"], e.get("entity", ""), e.get("type", info.get("type", "")), e.get("program", "")
    akas = e.get("akas") or []
    if isinstance(uid, bool) or not isinstance(uid, str | int):
        raise TypeError(f"uid is a {type(uid).__name__}")
    for field_, v in (("entity", name), ("type", typ), ("program", prog)):
        if not isinstance(v, str):
            raise TypeError(f"{field_} is a {type(v).__name__}, not text")
    if not isinstance(akas, list) or not all(isinstance(a, str) for a in akas):
        raise TypeError("akas is not a list of text")
    uid = str(uid)
    p = parties.get(uid)
    if p is None:
        p = parties[uid] = Party(list_id=SDN, uid=uid, name=name, list_type=SDN_LIST, aliases=list(akas))
    p.programmes = sorted(set(p.programmes) | {x.strip() for x in prog.split(",") if x.strip()})
    p.wallets.append((typ.rsplit("-", 1)[-1].strip() or asset, addr))


def parse_ultrasound(files: dict[str, bytes]) -> Snapshot:
    """ultrasoundmoney/ofac-ethereum-addresses CSV (``[date_added,]address,name``): ETH addresses by name."""
    parties: dict[str, Party] = {}
    unread: list[Unread] = []
    text, repaired = utf8_text(files["main"])
    fieldnames, reader = line_dicts(text)
    if not {"address", "name"} <= set(fieldnames):
        raise ValueError("ultrasoundmoney CSV header lacks address/name")
    for row in reader:
        name = row.get("name")
        key = (entry_key("ofac-sdn-name", _slug(name)) if isinstance(name, str) and name.strip()
               and not bad_utf8(repaired, name) else None)
        if None in row or any(v is None for v in row.values()):  # fields shifted: the name column may not be
            unread.append(Unread.of(row, f"{len(fieldnames)} fields expected", None))
        elif bad_utf8(repaired, *row.values()):
            unread.append(Unread.of(row, "invalid UTF-8", key))
        elif not row["name"].strip() or not row["address"].strip():
            unread.append(Unread.of(row, "a row without a name or an address", key))
        else:
            name = row["name"].strip()
            p = parties.setdefault(name, Party(list_id="ofac-sdn-name", uid=_slug(name), name=name,
                                               list_type=SDN_LIST))
            p.wallets.append(("ETH", row["address"].strip()))
            if row.get("date_added"):
                p.extra.setdefault("date_added", {})[row["address"].strip().lower()] = row["date_added"]
    return Snapshot(list(parties.values()), unread=unread)


def _slug(name: str) -> str:
    return name.strip().lower().replace(" ", "-")


PARSERS: dict[str, Parser] = {
    "sdn_csv": parse_sdn_csv,
    "cons_csv": lambda f: parse_sdn_csv(f, "ofac-cons", "OFAC Consolidated (non-SDN)"),
    "sdn_xml": parse_sdn_xml,
    "cons_xml": lambda f: parse_sdn_xml(f, cons=True),
    "advanced_xml": parse_advanced_xml,
    "thomasgregg_json": parse_thomasgregg,
    "ultrasound_csv": parse_ultrasound,
}


class ListsOfacConnector(ListConnector):
    """OFAC SDN / consolidated lists in every published format, as dated snapshots."""

    name: ClassVar[str] = "lists_ofac"
    description: ClassVar[str] = "OFAC SDN and consolidated lists (sdn.csv family, sdn.xml, advanced XML)"
    parsers: ClassVar[Mapping[str, Parser]] = PARSERS
