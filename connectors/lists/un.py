"""UN Security Council Consolidated Sanctions List (XML): individuals and entities with aliases,
addresses, nationalities and the sanctions regime (UN_LIST_TYPE). No wallets: matched by name."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from lxml import etree

from connectors.lists.base import (
    ListConnector,
    Parser,
    Party,
    Snapshot,
    Unread,
    bad_utf8,
    entry_key,
    guarded,
    utf8_repaired,
)

LIST_TYPE = "UN Security Council"


def _t(el: Any, tag: str) -> str:
    c = el.find(tag)
    return (c.text or "").strip() if c is not None and c.text else ""


def _values(el: Any, tag: str) -> list[str]:
    return [(v.text or "").strip() for x in el.findall(tag) for v in x.findall("VALUE") if v.text and v.text.strip()]


def _addresses(el: Any, tag: str) -> tuple[list[str], list[str]]:
    addrs, countries = [], []
    for a in el.findall(tag):
        parts = [_t(a, k) for k in ("STREET", "CITY", "STATE_PROVINCE", "ZIP_CODE", "COUNTRY")]
        line = ", ".join(p for p in parts if p)
        if line:
            addrs.append(line)
        if _t(a, "COUNTRY"):
            countries.append(_t(a, "COUNTRY"))
    return addrs, countries


def parse_un(files: dict[str, bytes]) -> Snapshot:
    """``CONSOLIDATED_LIST`` XML -> parties (uid = DATAID, programme = UN_LIST_TYPE).

    Entry by entry: an INDIVIDUAL or ENTITY without a numeric DATAID or a FIRST_NAME, or with invalid
    UTF-8, is unread (by its DATAID when that still reads); the others are read."""
    body, repaired = utf8_repaired(files["main"])
    root = etree.fromstring(body, etree.XMLParser(huge_tree=True, resolve_entities=False, no_network=True))
    if root.tag != "CONSOLIDATED_LIST":
        raise ValueError(f"root element is {root.tag}, not CONSOLIDATED_LIST")
    parties: list[Party] = []
    unread: list[Unread] = []
    for kind, path, alias_tag, addr_tag in (("individual", "INDIVIDUALS/INDIVIDUAL", "INDIVIDUAL_ALIAS",
                                             "INDIVIDUAL_ADDRESS"),
                                            ("entity", "ENTITIES/ENTITY", "ENTITY_ALIAS", "ENTITY_ADDRESS")):
        for el in root.findall(path):
            raw = str(etree.tostring(el, encoding="unicode"))
            dataid = _t(el, "DATAID")
            key = entry_key("un", dataid) if dataid.isascii() and dataid.isdigit() else None
            if bad_utf8(repaired, raw):
                unread.append(Unread.of(raw, "invalid UTF-8", key))
                continue
            p = guarded(unread, raw, key, functools.partial(_entry, el, kind, alias_tag, addr_tag))
            if p is not None:
                parties.append(p)
    m = re.match(r"\d{4}-\d{2}-\d{2}", root.get("dateGenerated") or "")
    return Snapshot(parties, date=m.group(0) if m else None, unread=unread)


def _entry(el: Any, kind: str, alias_tag: str, addr_tag: str) -> Party:
    """One INDIVIDUAL or ENTITY; raises ValueError when DATAID or FIRST_NAME is missing."""
    dataid = _t(el, "DATAID")
    if not (dataid.isascii() and dataid.isdigit()):
        raise ValueError(f"{el.tag} without a numeric DATAID")
    if not _t(el, "FIRST_NAME"):
        raise ValueError(f"{el.tag} without a FIRST_NAME")
    name = " ".join(x for x in (_t(el, k) for k in ("FIRST_NAME", "SECOND_NAME", "THIRD_NAME",
                                                      "FOURTH_NAME")) if x)
    aliases = [_t(a, "ALIAS_NAME") for a in el.findall(alias_tag)
               if _t(a, "ALIAS_NAME") and _t(a, "QUALITY") != "Low"]
    weak = [_t(a, "ALIAS_NAME") for a in el.findall(alias_tag)
            if _t(a, "ALIAS_NAME") and _t(a, "QUALITY") == "Low"]
    if _t(el, "NAME_ORIGINAL_SCRIPT"):
        aliases.append(_t(el, "NAME_ORIGINAL_SCRIPT"))
    addrs, countries = _addresses(el, addr_tag)
    return Party(
        list_id="un", uid=dataid, name=name, list_type=LIST_TYPE, party_type=kind,
        aliases=aliases, programmes=[_t(el, "UN_LIST_TYPE")] if _t(el, "UN_LIST_TYPE") else [],
        countries=_values(el, "NATIONALITY") + countries, addresses=addrs,
        extra={"weak_aliases": weak, "reference_number": _t(el, "REFERENCE_NUMBER"),
               "listed_on": _t(el, "LISTED_ON") or None, "comments": _t(el, "COMMENTS1")[:1000]})


class ListsUnConnector(ListConnector):
    """UN Security Council Consolidated List, as dated snapshots."""

    name: ClassVar[str] = "lists_un"
    description: ClassVar[str] = "UN Security Council Consolidated Sanctions List (XML)"
    parsers: ClassVar[Mapping[str, Parser]] = {"un_xml": parse_un}
