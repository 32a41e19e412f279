"""OFAC XML formats: ``sdn.xml``/``consolidated.xml`` (``sdnList``) and the advanced XML
(``sdn_advanced.xml``, namespace ``http://www.un.org/sanctions/1.0`` before 2024, the Sanctions List
Service namespace since). Elements are matched by local name, so both namespaces parse alike.

The advanced file is ~100 MB: it is read with ``iterparse`` and each ``DistinctParty`` is freed
once read. Digital-currency addresses are features whose type is "Digital Currency Address - <ASSET>".
"""

from __future__ import annotations

import io
import re
from typing import Any

from lxml import etree

from connectors.lists.base import Party, Snapshot

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


def parse_sdn_xml(files: dict[str, bytes], cons: bool = False) -> Snapshot:
    """``sdnList`` XML (sdn.xml, consolidated.xml): entries, AKAs, addresses, programmes, ID list."""
    root = etree.fromstring(files["main"], etree.XMLParser(**_XML_PARSER))
    if _local(root.tag) != "sdnList":
        raise ValueError(f"root element is {_local(root.tag)}, not sdnList")
    pub = _desc(root, "Publish_Date")
    m = re.fullmatch(r"(\d{2})/(\d{2})/(\d{4})", (pub[0].text or "").strip()) if pub else None
    parties = []
    for e in _kids(root, "sdnEntry"):
        uid = _text(e, "uid")
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
                wallets.append((typ[len(_DCA):].strip(), num))
            elif typ == "Website":
                webs.append(num.lower())
            elif typ == "Email Address":
                mails.append(num.lower())
        parties.append(Party(list_id="ofac-cons" if cons else "ofac-sdn", uid=uid, name=name,
                             list_type="OFAC Consolidated (non-SDN)" if cons else "OFAC SDN",
                             party_type=_text(e, "sdnType").lower(), aliases=akas, programmes=progs,
                             countries=countries, addresses=addrs, wallets=wallets, websites=webs,
                             emails=mails, extra={"remarks": _text(e, "remarks")}))
    date = f"{m.group(3)}-{m.group(1)}-{m.group(2)}" if m else None
    return Snapshot(parties, date=date)


def _refs(root_el: Any, values: str, item: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for vs in _kids(root_el, values):
        for v in _kids(vs, item):
            out[v.get("ID")] = v
    return out


def parse_advanced_xml(files: dict[str, bytes]) -> Snapshot:
    """OFAC advanced XML: parties with names, aliases, programmes, countries and DCA features."""
    feature_types: dict[str, str] = {}
    countries: dict[str, str] = {}
    sub_types: dict[str, str] = {}
    locations: dict[str, tuple[str, list[str]]] = {}
    programmes: dict[str, list[str]] = {}
    listed_on: dict[str, str] = {}
    parties: dict[str, Party] = {}
    date = None
    ctx = etree.iterparse(io.BytesIO(files["main"]), events=("end",), **_XML_PARSER)
    for _, el in ctx:
        tag = _local(el.tag)
        if tag == "DateOfIssue" and _local(el.getparent().tag) == "Sanctions":
            y, mo, d = (_text(el, k) for k in ("Year", "Month", "Day"))
            if y:
                date = f"{int(y):04d}-{int(mo or 1):02d}-{int(d or 1):02d}"
        elif tag == "ReferenceValueSets":
            feature_types = {k: (v.text or "") for k, v in _refs(el, "FeatureTypeValues", "FeatureType").items()}
            countries = {k: (v.text or "") for k, v in _refs(el, "CountryValues", "Country").items()}
            sub_types = {k: (v.text or "") for k, v in _refs(el, "PartySubTypeValues", "PartySubType").items()}
            el.clear()
        elif tag == "Location" and _local(el.getparent().tag) == "Locations":
            cs = [countries.get(c.get("CountryID"), "") for c in _kids(el, "LocationCountry")]
            parts = [(_text(v, "Value")) for v in _desc(el, "LocationPartValue")]
            locations[el.get("ID")] = (", ".join(p for p in parts + cs if p), [c for c in cs if c])
            _free(el)
        elif tag == "DistinctParty":
            p = _party(el, feature_types, sub_types, locations)
            if p is not None:
                parties[p.extra["profile_id"]] = p
            _free(el)
        elif tag == "SanctionsEntry":
            progs = [(_text(m, "Comment")) for m in _kids(el, "SanctionsMeasure")]
            programmes.setdefault(el.get("ProfileID"), []).extend(x for x in progs if x)
            for ev in _kids(el, "EntryEvent"):
                for d in _kids(ev, "Date"):
                    y, mo, dd = (_text(d, k) for k in ("Year", "Month", "Day"))
                    if y:
                        listed_on.setdefault(el.get("ProfileID"), f"{int(y):04d}-{int(mo or 1):02d}-{int(dd or 1):02d}")
            _free(el)
    for pid, progs in programmes.items():
        if pid in parties:
            parties[pid].programmes = sorted(set(progs))
    for pid, day in listed_on.items():
        if pid in parties:
            parties[pid].extra["listed_on"] = day
    return Snapshot(list(parties.values()), date=date)


def _name(alias: Any) -> str:
    for dn in _kids(alias, "DocumentedName"):
        return " ".join((_text(part, "NamePartValue")) for part in _kids(dn, "DocumentedNamePart")).strip()
    return ""


def _party(dp: Any, feature_types: dict[str, str], sub_types: dict[str, str],
           locations: dict[str, tuple[str, list[str]]]) -> Party | None:
    profiles = _kids(dp, "Profile")
    if not profiles:
        return None
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
        ftype = feature_types.get(f.get("FeatureTypeID"), "")
        for fv in _kids(f, "FeatureVersion"):
            detail = " ".join((d.text or "").strip() for d in _kids(fv, "VersionDetail")).strip()
            if ftype.startswith(_DCA) and detail:
                wallets.append((ftype[len(_DCA):].strip(), detail))
            elif ftype == "Website" and detail:
                webs.append(detail.lower())
            elif ftype == "Email Address" and detail:
                mails.append(detail.lower())
            for vl in _kids(fv, "VersionLocation"):
                loc = locations.get(vl.get("LocationID"))
                if loc:
                    if ftype == "Location":
                        addrs.append(loc[0])
                    cs += loc[1]
    uid = dp.get("FixedRef") or prof.get("ID")
    return Party(list_id="ofac-sdn", uid=uid, name=primary, list_type="OFAC SDN",
                 party_type=sub_types.get(prof.get("PartySubTypeID"), "").lower(), aliases=aliases,
                 countries=cs, addresses=addrs, wallets=wallets, websites=webs, emails=mails,
                 extra={"profile_id": prof.get("ID"), "weak_aliases": weak})
