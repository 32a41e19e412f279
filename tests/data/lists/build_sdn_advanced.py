"""Build ``sdn_advanced_small.xml``: OFAC's advanced XML shape filled with the REAL rows of the
moov-io ``moov-subset-2025`` sdn.csv family (17 SDN entries: names, AKAs, programmes, addresses and
digital-currency addresses), because no real sdn_advanced.xml fits the fixture store.

Reference-value ids are assigned here (OFAC's own ids are not in any fixture); the structure follows
the real ``sdn_advanced.xsd`` and the test validates the output against it. Run:

    .venv/bin/python tests/data/lists/build_sdn_advanced.py   # rewrites the XML next to this file
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from lxml import etree

NS_CURRENT = "https://sanctionslistservice.ofac.treas.gov/api/PublicationPreview/exports/ADVANCED_XML"
NS_OLD = "http://www.un.org/sanctions/1.0"
HERE = Path(__file__).resolve().parent
OUT = HERE / "sdn_advanced_small.xml"

# Every ReferenceValueSets child, in the XSD's sequence order: (values element, item element).
VALUE_SETS = [
    ("AliasTypeValues", "AliasType"), ("AreaCodeValues", "AreaCode"), ("AreaCodeTypeValues", "AreaCodeType"),
    ("CalendarTypeValues", "CalendarType"), ("CountryValues", "Country"),
    ("CountryRelevanceValues", "CountryRelevance"), ("DecisionMakingBodyValues", "DecisionMakingBody"),
    ("DetailReferenceValues", "DetailReference"), ("DetailTypeValues", "DetailType"),
    ("DocNameStatusValues", "DocNameStatus"), ("EntryEventTypeValues", "EntryEventType"),
    ("EntryLinkTypeValues", "EntryLinkType"), ("ExRefTypeValues", "ExRefType"), ("FeatureTypeValues", "FeatureType"),
    ("FeatureTypeGroupValues", "FeatureTypeGroup"), ("IDRegDocDateTypeValues", "IDRegDocDateType"),
    ("IDRegDocTypeValues", "IDRegDocType"), ("IdentityFeatureLinkTypeValues", "IdentityFeatureLinkType"),
    ("LegalBasisValues", "LegalBasis"), ("LegalBasisTypeValues", "LegalBasisType"), ("ListValues", "List"),
    ("LocPartTypeValues", "LocPartType"), ("LocPartValueStatusValues", "LocPartValueStatus"),
    ("LocPartValueTypeValues", "LocPartValueType"), ("NamePartTypeValues", "NamePartType"),
    ("OrganisationValues", "Organisation"), ("PartySubTypeValues", "PartySubType"), ("PartyTypeValues", "PartyType"),
    ("RelationQualityValues", "RelationQuality"), ("RelationTypeValues", "RelationType"),
    ("ReliabilityValues", "Reliability"), ("SanctionsProgramValues", "SanctionsProgram"),
    ("SanctionsTypeValues", "SanctionsType"), ("ScriptValues", "Script"), ("ScriptStatusValues", "ScriptStatus"),
    ("SubsidiaryBodyValues", "SubsidiaryBody"), ("SupInfoTypeValues", "SupInfoType"),
    ("TargetTypeValues", "TargetType"), ("ValidityValues", "Validity"),
]
SUBTYPES = {"individual": (4, 1), "vessel": (1, 2), "aircraft": (2, 3), "entity": (3, 4)}  # id, PartyTypeID
LOCATION_FEATURE = 25


def _el(parent: Any, ns: str, tag: str, text: str | None = None, **attrs: Any) -> Any:
    e = etree.SubElement(parent, f"{{{ns}}}{tag}", {k.replace("_", "-"): str(v) for k, v in attrs.items()})
    if text is not None:
        e.text = text
    return e


def build(parties: list[Any], ns: str = NS_CURRENT, date: tuple[int, int, int] = (2025, 5, 16)) -> bytes:
    """The advanced XML for parsed parties (``connectors.lists.base.Party`` from the sdn.csv family)."""
    assets = sorted({a for p in parties for a, _ in p.wallets})
    feature_types = {f"Digital Currency Address - {a}": 300 + i for i, a in enumerate(assets)}
    feature_types["Location"] = LOCATION_FEATURE
    countries = {c: 10 + i for i, c in enumerate(sorted({c for p in parties for c in p.countries}))}
    root = etree.Element(f"{{{ns}}}Sanctions", nsmap={None: ns}, Version="1")
    doi = _el(root, ns, "DateOfIssue", CalendarTypeID=1)
    for tag, v in zip(("Year", "Month", "Day"), date, strict=True):
        _el(doi, ns, tag, str(v))
    rvs = _el(root, ns, "ReferenceValueSets")
    items: dict[str, list[tuple[str, dict[str, Any]]]] = {
        "AliasType": [("A.K.A.", {"ID": 1400}), ("Name", {"ID": 1403})],
        "CalendarType": [("Gregorian", {"ID": 1})],
        "Country": [(c, {"ID": i}) for c, i in countries.items()],
        "CountryRelevance": [("Location", {"ID": 1})],
        "DetailType": [("LOOKUP", {"ID": 1431}), ("TEXT", {"ID": 1432})],
        "DocNameStatus": [("Primary Latin", {"ID": 1})],
        "EntryEventType": [("Created", {"ID": 1})],
        "FeatureType": [(n, {"ID": i, "FeatureTypeGroupID": 1}) for n, i in feature_types.items()],
        "FeatureTypeGroup": [("Other", {"ID": 1})],
        "IdentityFeatureLinkType": [("Primary", {"ID": 1})],
        "List": [("SDN List", {"ID": 1550})],
        "LocPartType": [("Unknown", {"ID": 1451})],
        "LocPartValueStatus": [("Approved", {"ID": 1})],
        "LocPartValueType": [("Latin", {"ID": 1})],
        "NamePartType": [("Entity Name", {"ID": 1525})],
        "PartySubType": [(k.title(), {"ID": i, "PartyTypeID": t}) for k, (i, t) in SUBTYPES.items()],
        "PartyType": [("Vessel", {"ID": 2}), ("Aircraft", {"ID": 3}), ("Entity", {"ID": 4}),
                      ("Individual", {"ID": 1})],
        "Reliability": [("Reported", {"ID": 1})],
        "SanctionsType": [("Program", {"ID": 1})],
        "Script": [("Latin", {"ID": 215, "ScriptCode": "Latn"})],
        "ScriptStatus": [("Approved", {"ID": 1})],
    }
    for values, item in VALUE_SETS:
        parent = _el(rvs, ns, values)
        for text, attrs in sorted(items.get(item, []), key=lambda x: x[1]["ID"]):
            _el(parent, ns, item, text, **attrs)
    locs = _el(root, ns, "Locations")
    _el(root, ns, "IDRegDocuments")
    dps = _el(root, ns, "DistinctParties")
    next_id = iter(range(100_000, 10_000_000))
    loc_ids: list[list[int]] = []
    for p in parties:
        ids = []
        for line in p.addresses:
            lid = next(next_id)
            loc = _el(locs, ns, "Location", ID=lid)
            country = next((c for c in p.countries if line.endswith(c)), None)
            if country:
                _el(loc, ns, "LocationCountry", CountryID=countries[country], CountryRelevanceID=1)
            part = _el(loc, ns, "LocationPart", LocPartTypeID=1451)
            lpv = _el(part, ns, "LocationPartValue", Primary="true", LocPartValueTypeID=1, LocPartValueStatusID=1)
            _el(lpv, ns, "Value", line[: -len(country)].rstrip(", ") if country else line)
            ids.append(lid)
        loc_ids.append(ids)
    _el(root, ns, "ProfileRelationships")
    entries = _el(root, ns, "SanctionsEntries")
    for p, lids in zip(parties, loc_ids, strict=True):
        dp = _el(dps, ns, "DistinctParty", FixedRef=p.uid)
        sub = SUBTYPES.get(p.party_type, SUBTYPES["entity"])[0]
        prof = _el(dp, ns, "Profile", ID=p.uid, PartySubTypeID=sub)
        ident_id, group = next(next_id), next(next_id)
        ident = _el(prof, ns, "Identity", ID=ident_id, FixedRef=p.uid, Primary="true")
        ident.set("False", "false")
        for i, name in enumerate([p.name, *p.aliases]):
            al = _el(ident, ns, "Alias", FixedRef=p.uid, AliasTypeID=1403 if i == 0 else 1400,
                     Primary="true" if i == 0 else "false", LowQuality="false")
            dn = _el(al, ns, "DocumentedName", ID=next(next_id), FixedRef=p.uid, DocNameStatusID=1)
            part = _el(dn, ns, "DocumentedNamePart")
            _el(part, ns, "NamePartValue", name, NamePartGroupID=group, ScriptID=215, ScriptStatusID=1,
                Acronym="false")
        mg = _el(_el(ident, ns, "NamePartGroups"), ns, "MasterNamePartGroup")
        _el(mg, ns, "NamePartGroup", ID=group, NamePartTypeID=1525)
        for lid in lids:
            f = _el(prof, ns, "Feature", ID=next(next_id), FeatureTypeID=LOCATION_FEATURE)
            fv = _el(f, ns, "FeatureVersion", ID=next(next_id), ReliabilityID=1)
            _el(fv, ns, "VersionLocation", LocationID=lid)
            _el(f, ns, "IdentityReference", IdentityID=ident_id, IdentityFeatureLinkTypeID=1)
        for asset, addr in p.wallets:
            f = _el(prof, ns, "Feature", ID=next(next_id), FeatureTypeID=feature_types[f"Digital Currency Address - {asset}"])
            fv = _el(f, ns, "FeatureVersion", ID=next(next_id), ReliabilityID=1)
            _el(fv, ns, "VersionDetail", addr, DetailTypeID=1432)
            _el(f, ns, "IdentityReference", IdentityID=ident_id, IdentityFeatureLinkTypeID=1)
        se = _el(entries, ns, "SanctionsEntry", ID=next(next_id), ProfileID=p.uid, ListID=1550)
        ev = _el(se, ns, "EntryEvent", ID=next(next_id), EntryEventTypeID=1)
        d = _el(ev, ns, "Date", CalendarTypeID=1)
        for tag, v in zip(("Year", "Month", "Day"), date, strict=True):
            _el(d, ns, tag, str(v))
        for prog in p.programmes:
            m = _el(se, ns, "SanctionsMeasure", ID=next(next_id), SanctionsTypeID=1)
            _el(m, ns, "Comment", prog)
            _el(m, ns, "DatePeriod", CalendarTypeID=1, YearFixed="false", MonthFixed="false", DayFixed="false")
    _el(root, ns, "SanctionsEntryLinks")
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)


def moov_parties(fixtures: Path) -> list[Any]:
    sys.path.insert(0, str(HERE.parents[2]))
    from connectors.lists.ofac import parse_sdn_csv

    d = fixtures / "ofac-sdn-csv" / "moov-subset-2025"
    snap = parse_sdn_csv({"main": (d / "sdn.csv").read_bytes(), "comments": (d / "sdn_comments.csv").read_bytes(),
                          "alt": (d / "alt.csv").read_bytes(), "add": (d / "add.csv").read_bytes()})
    return snap.parties


def swap_namespace(xml: bytes, old: str, new: str) -> bytes:
    """The same document under another namespace (the XSD is the pre-2024 one)."""
    return xml.replace(old.encode(), new.encode())


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parents[2]))
    from tracer.world import fixtures_dir

    fx = fixtures_dir()
    if fx is None:
        sys.exit("../shared/fixtures not found (set TRACER_FIXTURES)")
    OUT.write_bytes(build(moov_parties(fx)))
    print(f"wrote {OUT}")
