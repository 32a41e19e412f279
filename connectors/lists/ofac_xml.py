"""OFAC XML formats: ``sdn.xml``/``consolidated.xml`` (``sdnList``) and the advanced XML
(``sdn_advanced.xml``, namespace ``http://www.un.org/sanctions/1.0`` before 2024, the Sanctions List
Service namespace since). Elements are matched by local name, so both namespaces parse alike.

The advanced file is ~100 MB: it is read with ``iterparse`` and each ``DistinctParty`` is freed
once read. Digital-currency addresses are features whose type is "Digital Currency Address - <ASSET>".
"""

from __future__ import annotations

import functools
import io
import re
from typing import Any

from lxml import etree

from connectors.lists.base import Party, Snapshot, Unread, bad_utf8, entry_key, guarded, utf8_repaired

_DCA = "Digital Currency Address - "
_XML_PARSER = {"huge_tree": True, "resolve_entities": False, "no_network": True}


def _free(el: Any) -> None:
    """Release a parsed element and its already-read siblings (iterparse keeps them otherwise)."""
    el.clear()
    parent = el.getparent()
    while parent is not None and el.getprevious() is not None:
        del parent[0]


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _kids(el: Any, name: str) -> list[Any]:
    return [c for c in el if _local(c.tag) == name]


def _text(el: Any, name: str) -> str:
    for c in el:
        if _local(c.tag) == name:
            return (c.text or "").strip()
    return ""


def _desc(el: Any, name: str) -> list[Any]:
    return [c for c in el.iter() if _local(c.tag) == name]


def _xml(el: Any) -> str:
    """An element as published (the raw form of an unread entry)."""
    return str(etree.tostring(el, encoding="unicode"))


def _date(y: str, mo: str, d: str) -> str:
    """YYYY-MM-DD of a Year/Month/Day triple (raises ValueError on a part that is not a number)."""
    return f"{int(y):04d}-{int(mo or 1):02d}-{int(d or 1):02d}"


def parse_sdn_xml(files: dict[str, bytes], cons: bool = False) -> Snapshot:
    """``sdnList`` XML (sdn.xml, consolidated.xml): entries, AKAs, addresses, programmes, ID list.

    Entry by entry: one without a numeric uid, a last name or a type, or with invalid UTF-8, is unread
    (by its uid when that was readable), and the others are read."""
    body, repaired = utf8_repaired(files["main"])
    root = etree.fromstring(body, etree.XMLParser(**_XML_PARSER))
    if _local(root.tag) != "sdnList":
        raise ValueError(f"root element is {_local(root.tag)}, not sdnList")
    pub = _desc(root, "Publish_Date")
    m = re.fullmatch(r"(\d{2})/(\d{2})/(\d{4})", (pub[0].text or "").strip()) if pub else None
    parties: list[Party] = []
    unread: list[Unread] = []
    list_id = "ofac-cons" if cons else "ofac-sdn"
    for e in _kids(root, "sdnEntry"):
        uid = _text(e, "uid")
        key = entry_key(list_id, uid) if uid.isascii() and uid.isdigit() else None
        if bad_utf8(repaired, _xml(e)):
            unread.append(Unread.of(_xml(e), "invalid UTF-8", key))
            continue
        p = guarded(unread, _xml(e), key, functools.partial(_sdn_entry, e, cons))
        if p is not None:
            parties.append(p)
    date = f"{m.group(3)}-{m.group(1)}-{m.group(2)}" if m else None
    return Snapshot(parties, date=date, unread=unread)


def _sdn_entry(e: Any, cons: bool) -> Party:
    """One ``sdnEntry``; raises ValueError when a field the schema requires is missing."""
    uid = _text(e, "uid")
    for need, v in (("a numeric uid", uid.isascii() and uid.isdigit()), ("a lastName", _text(e, "lastName")),
                    ("an sdnType", _text(e, "sdnType"))):
        if not v:
            raise ValueError(f"sdnEntry without {need}")
    name = ", ".join(x for x in (_text(e, "lastName"), _text(e, "firstName")) if x)
    progs = [(p.text or "").strip() for p in _desc(e, "program")]
    akas = [", ".join(x for x in (_text(a, "lastName"), _text(a, "firstName")) if x)
            for a in _desc(e, "aka")]
    addrs, countries = [], []
    for a in _desc(e, "address"):
        parts = [_text(a, k) for k in ("address1", "address2", "address3", "city", "stateOrProvince",
                                       "postalCode", "country")]
        addrs.append(", ".join(p for p in parts if p))
        if _text(a, "country"):
            countries.append(_text(a, "country"))
    for tag in ("nationality", "citizenship"):
        countries += [_text(n, "country") for n in _desc(e, tag) if _text(n, "country")]
    wallets, webs, mails = [], [], []
    for i in _desc(e, "id"):
        typ, num = _text(i, "idType"), _text(i, "idNumber")
        if typ.startswith(_DCA):
            if not num:
                raise ValueError(f"{typ} without an idNumber")
            wallets.append((typ[len(_DCA):].strip(), num))
        elif typ == "Website":
            webs.append(num.lower())
        elif typ == "Email Address":
            mails.append(num.lower())
    return Party(list_id="ofac-cons" if cons else "ofac-sdn", uid=uid, name=name,
                 list_type="OFAC Consolidated (non-SDN)" if cons else "OFAC SDN",
                 party_type=_text(e, "sdnType").lower(), aliases=akas, programmes=progs,
                 countries=countries, addresses=addrs, wallets=wallets, websites=webs,
                 emails=mails, extra={"remarks": _text(e, "remarks")})


def _refs(root_el: Any, values: str, item: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for vs in _kids(root_el, values):
        for v in _kids(vs, item):
            out[v.get("ID")] = v
    return out


def parse_advanced_xml(files: dict[str, bytes]) -> Snapshot:
    """OFAC advanced XML: parties with names, aliases, programmes, countries and DCA features.

    Party by party: a ``DistinctParty`` that does not read (a feature without its type, a wallet feature
    without its address, a location it cites that did not read, invalid UTF-8), or whose
    ``SanctionsEntry`` does not, is unread by its FixedRef; the others are read."""
    feature_types: dict[str, str] = {}
    countries: dict[str, str] = {}
    sub_types: dict[str, str] = {}
    locations: dict[str, tuple[str, list[str]]] = {}
    bad_locations: dict[str, str] = {}
    programmes: dict[str, list[str]] = {}
    listed_on: dict[str, str] = {}
    parties: dict[str, Party] = {}
    unread: list[Unread] = []
    bad_profiles: dict[str, tuple[str, str]] = {}  # profile id -> (raw entry, reason)
    date = None
    body, repaired = utf8_repaired(files["main"])
    ctx = etree.iterparse(io.BytesIO(body), events=("end",), **_XML_PARSER)
    for _, el in ctx:
        tag = _local(el.tag)
        if tag == "DateOfIssue" and _local(el.getparent().tag) == "Sanctions":
            y, mo, d = (_text(el, k) for k in ("Year", "Month", "Day"))
            if y:
                date = guarded([], "", None, functools.partial(_date, y, mo, d))
        elif tag == "ReferenceValueSets":
            feature_types = {k: (v.text or "") for k, v in _refs(el, "FeatureTypeValues", "FeatureType").items()}
            countries = {k: (v.text or "") for k, v in _refs(el, "CountryValues", "Country").items()}
            sub_types = {k: (v.text or "") for k, v in _refs(el, "PartySubTypeValues", "PartySubType").items()}
            el.clear()
        elif tag == "Location" and _local(el.getparent().tag) == "Locations":
            lid = el.get("ID")
            if bad_utf8(repaired, _xml(el)):
                bad_locations[lid] = "invalid UTF-8"
            else:
                cs = [countries.get(c.get("CountryID"), "") for c in _kids(el, "LocationCountry")]
                parts = [(_text(v, "Value")) for v in _desc(el, "LocationPartValue")]
                locations[lid] = (", ".join(p for p in parts + cs if p), [c for c in cs if c])
            _free(el)
        elif tag == "DistinctParty":
            key = entry_key("ofac-sdn", el.get("FixedRef"))
            raw = _xml(el)
            if bad_utf8(repaired, raw):
                unread.append(Unread.of(raw, "invalid UTF-8", key))
            else:
                p = guarded(unread, raw, key,
                            functools.partial(_party, el, feature_types, sub_types, locations, bad_locations))
                if p is not None:
                    parties[p.extra["profile_id"]] = p
            _free(el)
        elif tag == "SanctionsEntry":
            pid = el.get("ProfileID")
            try:
                if bad_utf8(repaired, _xml(el)):
                    raise ValueError("invalid UTF-8")
                progs = [(_text(m, "Comment")) for m in _kids(el, "SanctionsMeasure")]
                days = [_date(*(_text(d, k) for k in ("Year", "Month", "Day")))
                        for ev in _kids(el, "EntryEvent") for d in _kids(ev, "Date") if _text(d, "Year")]
            except ValueError as e:
                bad_profiles[pid] = (_xml(el), f"SanctionsEntry: {type(e).__name__}: {e}")
            else:
                programmes.setdefault(pid, []).extend(x for x in progs if x)
                if days:
                    listed_on.setdefault(pid, days[0])
            _free(el)
    for pid, progs in programmes.items():
        if pid in parties:
            parties[pid].programmes = sorted(set(progs))
    for pid, day in listed_on.items():
        if pid in parties:
            parties[pid].extra["listed_on"] = day
    for pid, (raw, why) in bad_profiles.items():
        p = parties.pop(pid, None)  # a party whose programmes did not read: kept as it was, not half-read
        unread.append(Unread.of(raw, why, p.entity_id if p is not None else None))
    return Snapshot(list(parties.values()), date=date, unread=unread)


def prof_id(prof: Any) -> str:
    """A Profile's ID attribute ("" when missing)."""
    return str(prof.get("ID") or "")


def _name(alias: Any) -> str:
    for dn in _kids(alias, "DocumentedName"):
        return " ".join((_text(part, "NamePartValue")) for part in _kids(dn, "DocumentedNamePart")).strip()
    return ""


def _party(dp: Any, feature_types: dict[str, str], sub_types: dict[str, str],
           locations: dict[str, tuple[str, list[str]]], bad_locations: dict[str, str]) -> Party:
    """One ``DistinctParty``; raises ValueError on a part it cannot read (so the party is unread, whole)."""
    profiles = _kids(dp, "Profile")
    if not profiles or not prof_id(profiles[0]):
        raise ValueError("DistinctParty without a Profile ID")
    prof = profiles[0]
    primary = ""
    aliases: list[str] = []
    weak: list[str] = []
    for ident in _kids(prof, "Identity"):
        for al in _kids(ident, "Alias"):
            n = _name(al)
            if al.get("Primary") == "true" and not primary:
                primary = n
            elif n:
                (weak if al.get("LowQuality") == "true" else aliases).append(n)
    wallets, addrs, cs, webs, mails = [], [], [], [], []
    for f in _kids(prof, "Feature"):
        if f.get("FeatureTypeID") not in feature_types:
            raise ValueError(f"Feature with FeatureTypeID {f.get('FeatureTypeID')!r}, not a known type")
        ftype = feature_types[f.get("FeatureTypeID")]
        for fv in _kids(f, "FeatureVersion"):
            detail = " ".join((d.text or "").strip() for d in _kids(fv, "VersionDetail")).strip()
            if ftype.startswith(_DCA) and not detail:
                raise ValueError(f"{ftype} feature without its address")
            if ftype.startswith(_DCA):
                wallets.append((ftype[len(_DCA):].strip(), detail))
            elif ftype == "Website" and detail:
                webs.append(detail.lower())
            elif ftype == "Email Address" and detail:
                mails.append(detail.lower())
            for vl in _kids(fv, "VersionLocation"):
                if vl.get("LocationID") in bad_locations:
                    raise ValueError(f"Location {vl.get('LocationID')} did not read "
                                     f"({bad_locations[vl.get('LocationID')]})")
                loc = locations.get(vl.get("LocationID"))
                if loc:
                    if ftype == "Location":
                        addrs.append(loc[0])
                    cs += loc[1]
    uid = dp.get("FixedRef") or prof_id(prof)
    return Party(list_id="ofac-sdn", uid=uid, name=primary, list_type="OFAC SDN",
                 party_type=sub_types.get(prof.get("PartySubTypeID"), "").lower(), aliases=aliases,
                 countries=cs, addresses=addrs, wallets=wallets, websites=webs, emails=mails,
                 extra={"profile_id": prof.get("ID"), "weak_aliases": weak})
