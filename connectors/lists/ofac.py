"""OFAC lists: the legacy ``sdn.csv`` family, ``sdn.xml``/``consolidated.xml``, the advanced XML,
and the community address exports (thomasgregg JSON, ultrasoundmoney CSV).

The legacy CSV is the trap: remarks are cut at 1000 characters and the rest lives in
``sdn_comments.csv`` (starting mid-word), and digital-currency addresses exist only in those remarks,
so a parser that ignores the comments file misses most Tornado Cash / Lazarus addresses.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from typing import ClassVar

from connectors.lists.base import ListConnector, Parser, Party, Snapshot, contacts_from_text
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
    rows = read_ofac_csv(files["main"], 12)
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
    return Snapshot(parties)


def _us_date(s: str) -> str | None:
    m = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", s.strip())
    return f"{m.group(3)}-{int(m.group(1)):02d}-{int(m.group(2)):02d}" if m else None


def parse_thomasgregg(files: dict[str, bytes]) -> Snapshot:
    """thomasgregg/crypto-sanctions-list JSON: address -> entries with entity, program, uid, AKAs.

    Its keys are lower-cased (a known defect): base58 addresses then fail their checksum and are
    rejected with the reason instead of being matched.
    """
    data = json.loads(files["main"])
    parties: dict[str, Party] = {}
    for addr, info in data["addresses"].items():
        asset = str(info.get("type", "")).rsplit("-", 1)[-1].strip()
        for e in info.get("entries", []):
            uid = str(e["uid"])
            p = parties.get(uid)
            if p is None:
                p = parties[uid] = Party(list_id=SDN, uid=uid, name=e.get("entity", ""), list_type=SDN_LIST,
                                         aliases=list(e.get("akas") or []))
            p.programmes = sorted(set(p.programmes) | {x.strip() for x in str(e.get("program", "")).split(",")
                                                       if x.strip()})
            p.wallets.append((str(e.get("type", info.get("type", ""))).rsplit("-", 1)[-1].strip() or asset,
                              addr))
    meta = data.get("metadata", {})
    return Snapshot(list(parties.values()), date=_us_date(str(meta.get("sdnListDate", ""))))


def parse_ultrasound(files: dict[str, bytes]) -> Snapshot:
    """ultrasoundmoney/ofac-ethereum-addresses CSV (``[date_added,]address,name``): ETH addresses by name."""
    parties: dict[str, Party] = {}
    for row in csv.DictReader(io.StringIO(_decode(files["main"]))):
        name = row["name"].strip()
        p = parties.setdefault(name, Party(list_id="ofac-sdn-name", uid=name.lower().replace(" ", "-"),
                                           name=name, list_type=SDN_LIST))
        p.wallets.append(("ETH", row["address"].strip()))
        if row.get("date_added"):
            p.extra.setdefault("date_added", {})[row["address"].strip().lower()] = row["date_added"]
    return Snapshot(list(parties.values()))


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
