"""Demo restricted-party and attribution lists, served in the exact published shapes.

Real files from ``../shared/fixtures`` join when present (moov-io sdn.csv subset, CSL 2025 subset,
BIS DPL, UN consolidated XML, OpenSanctions yente samples, GraphSense packs, Forta labels); the
demo world's own actors are added as generated rows (docs/lists.md lists every planted name):

- the OFAC demo wallets (``tracer.world.ofac.listed_wallets``) as SDN entries with
  "Digital Currency Address - ETH" remarks, so ``tracer screen <wallet>`` names the party;
- Entity List / MEU rows whose names are slight variants of demo Akash provider organisations,
  so name screening of providers finds them; and one decoy that must not match.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from tracer.world import DemoPart, fixtures_dir, static_routes
from tracer.world.ofac import LISTED_SEEDS, listed_wallets

#: SDN parties the demo world lists, one per OFAC demo wallet (fictional names).
SDN_PLANTED = [("990001", "ORION GRID HOLDINGS LTD", "CYBER2"), ("990002", "KESTREL PAY SERVICES LLC", "RUSSIA-EO14024"),
               ("990003", "VOSTOK NODE TRADING FZE", "DPRK3")]
#: Entity List / MEU rows: (list source, name, alt names, address, matching demo Akash provider org or "").
CSL_PLANTED = [
    ("Entity List (EL) - Bureau of Industry and Security", "Shenzhen Rendering Farm Co., Ltd.",
     "Shenzhen Render Farm Technology", "Nanshan District, Shenzhen, Guangdong, CN", "Shenzhen Render Farm"),
    ("Military End User (MEU) List - Bureau of Industry and Security", "Volga GPU Company",
     "", "Kazan, Tatarstan, RU", "Volga GPU"),
    ("Entity List (EL) - Bureau of Industry and Security", "Kowloon Computing Limited", "",
     "Kowloon, HK", "Kowloon Compute Ltd"),
    ("Entity List (EL) - Bureau of Industry and Security", "Thames Tensile Holdings", "", "London, GB", ""),
]
CSL_COLUMNS = ["_id", "source", "entity_number", "type", "programs", "name", "title", "addresses",
               "federal_register_notice", "start_date", "end_date", "standard_order", "license_requirement",
               "license_policy", "call_sign", "vessel_type", "gross_tonnage", "gross_registered_tonnage",
               "vessel_flag", "vessel_owner", "remarks", "source_list_url", "alt_names", "citizenships",
               "dates_of_birth", "nationalities", "places_of_birth", "source_information_url", "ids"]
GS_PACKS = ("tornado_cash.yaml", "exchange-wallets-binance.yaml", "ofac.yaml")


def _q(v: str) -> str:
    return "-0- " if not v else '"' + v.replace('"', '""') + '"'


def sdn_files(real: Path | None) -> dict[str, bytes]:
    """sdn.csv / sdn_comments.csv / alt.csv / add.csv: real moov rows + planted, CRLF, Ctrl-Z end."""
    out = {}
    for name in ("sdn.csv", "sdn_comments.csv", "alt.csv", "add.csv"):
        body = (real / name).read_bytes() if real and (real / name).exists() else b""
        out[name] = body.rstrip(b"\x1a").rstrip(b"\r\n") + (b"\r\n" if body.strip() else b"")
    rows, comments = [], []
    for (uid, name, prog), wallet in zip(SDN_PLANTED, listed_wallets(), strict=True):
        filler = "Organization Established Date 2019; " * 24  # long remarks: the address is cut at 1000
        remarks = f"{filler}Digital Currency Address - ETH {wallet}; Secondary sanctions risk: demo."
        rows.append(",".join([uid, _q(name), "-0- ", _q(prog)] + ["-0- "] * 7 + [_q(remarks[:1000])]))
        if len(remarks) > 1000:
            comments.append(f"{uid},{_q(remarks[1000:])}")
    out["sdn.csv"] += ("\r\n".join(rows) + "\r\n").encode() + b"\x1a"
    out["sdn_comments.csv"] += ("\r\n".join(comments) + "\r\n").encode() + b"\x1a"
    out["alt.csv"] += b"\x1a"
    out["add.csv"] += b"\x1a"
    return out


def csl_file(real: Path | None) -> bytes:
    """The CSL 2025 CSV (``_id`` first): the real subset plus the planted Entity List / MEU rows."""
    buf = io.StringIO()
    w = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n")
    w.writerow(CSL_COLUMNS)
    if real is not None and real.exists():
        for r in csv.DictReader(io.StringIO(real.read_text(encoding="utf-8"))):
            w.writerow([r.get(c, "") for c in CSL_COLUMNS])
    for i, (src, name, alt, addr, _) in enumerate(CSL_PLANTED):
        row = {c: "" for c in CSL_COLUMNS}
        row.update({"_id": f"demo{i:04d}", "source": src, "name": name, "alt_names": alt, "addresses": addr,
                    "start_date": "2025-01-15", "license_requirement": "For all items subject to the EAR.",
                    "federal_register_notice": "90 FR 0000 01/15/2025"})
        w.writerow([row[c] for c in CSL_COLUMNS])
    return buf.getvalue().encode()


def un_xml() -> bytes:
    """A minimal UN consolidated list in the real shape (used when the fixture is absent)."""
    return (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<CONSOLIDATED_LIST '
            b'dateGenerated="2026-01-01T00:00:00.000Z"><INDIVIDUALS/><ENTITIES><ENTITY><DATAID>990100</DATAID>'
            b"<FIRST_NAME>VOSTOK NODE TRADING</FIRST_NAME><UN_LIST_TYPE>DPRK</UN_LIST_TYPE>"
            b"<REFERENCE_NUMBER>KPe.999</REFERENCE_NUMBER><LISTED_ON>2025-01-01</LISTED_ON></ENTITY>"
            b"</ENTITIES></CONSOLIDATED_LIST>\n")


def ftm_entities(real: Path | None) -> bytes:
    """OpenSanctions FtM lines: the real yente t1 entities plus a planted party holding a demo wallet."""
    lines = real.read_text(encoding="utf-8").splitlines() if real and real.exists() else []
    planted = [{"id": "demo-orion-grid", "schema": "Company", "caption": "Orion Grid Holdings Ltd", "target": True,
                "datasets": ["us_ofac_sdn"], "properties": {"name": ["Orion Grid Holdings Ltd"],
                                                            "topics": ["sanction"], "country": ["ru"]}},
               {"id": "demo-orion-wallet", "schema": "CryptoWallet", "target": False, "datasets": ["us_ofac_sdn"],
                "properties": {"publicKey": [listed_wallets()[0]], "currencySymbol": ["ETH"],
                               "holder": ["demo-orion-grid"]}}]
    return ("\n".join([*lines, *(json.dumps(x) for x in planted)]) + "\n").encode()


def demo_files() -> tuple[dict[str, bytes], dict[str, Any]]:
    """Every served file (path -> bytes) and what joined from the real fixtures."""
    fx = fixtures_dir()
    notes: dict[str, Any] = {"fixtures": bool(fx)}
    files: dict[str, bytes] = {}
    moov = fx / "ofac-sdn-csv" / "moov-subset-2025" if fx else None
    files.update({f"ofac/{k}": v for k, v in sdn_files(moov if moov and moov.is_dir() else None).items()})
    files["csl/consolidated.csv"] = csl_file(fx / "trade-gov-csl" / "csl_consolidated_2025_subset.csv" if fx else None)
    dpl = fx / "trade-gov-csl" / "bis_dpl.txt" if fx else None
    files["csl/dpl.txt"] = dpl.read_bytes() if dpl and dpl.exists() else (
        b'"Name"\t"Street_Address"\t"City"\t"State"\t"Country"\t"Postal_Code"\t"Effective_Date"\t"Expiration_Date"\t'
        b'"Standard_Order"\t"Last_Update"\t"Action"\t"FR_Citation"\n" KESTREL PAY SERVICES"\t"1 Demo Road"\t"Riga"\t'
        b'""\t"LV"\t""\t"01/15/2025"\t"01/15/2035"\t"Y"\t"2025-01-15"\t"NEW"\t"90 F.R. 0000 1/15/25"\n')
    un = fx / "un-consolidated" / "UN_consolidated.xml" if fx else None
    files["un/consolidated.xml"] = un.read_bytes() if un and un.exists() else un_xml()
    yente = fx / "opensanctions-ftm" / "yente" / "tests" / "fixtures" / "dataset" if fx else None
    files["opensanctions/entities.ftm.json"] = ftm_entities(yente / "t1" / "entities.ftm.json" if yente else None)
    t2 = yente / "t2" if yente else None
    if t2 and t2.is_dir():
        files["opensanctions/delta.json"] = (t2 / "delta.json").read_bytes()
        for v in sorted(p for p in t2.iterdir() if p.is_dir()):
            files[f"opensanctions/versions/{v.name}/entities.delta.json"] = (v / "entities.delta.json").read_bytes()
    packs = fx / "graphsense-tagpacks" / "packs" if fx else None
    for name in GS_PACKS:
        if packs and (packs / name).exists():
            files[f"tags/graphsense/packs/{name}"] = (packs / name).read_bytes()
    wallets = "\n".join(f"- address: '{w}'" for w in listed_wallets())
    files["tags/graphsense/packs/demo-world.yaml"] = (
        "title: Demo world listed wallets\ncreator: tracer demo\nconfidence: authority_data\ncategory: black_list\n"
        f"label: demo sanctioned wallet\ncurrency: ETH\nlastmod: 2026-01-01\nsource: docs/lists.md\ntags:\n{wallets}\n"
    ).encode()
    forta = fx / "forta-labelled" / "labels" / "1" / "malicious_smart_contracts.csv" if fx else None
    if forta and forta.exists():
        files["tags/forta/labels/1/malicious_smart_contracts.csv"] = forta.read_bytes()
    notes["planted_wallet_seeds"] = list(LISTED_SEEDS)
    return files, notes


def demo_part() -> DemoPart:
    files, notes = demo_files()
    packs = sorted(p.split("tags/graphsense/", 1)[1] for p in files if p.startswith("tags/graphsense/"))
    forta = sorted(p.split("tags/forta/", 1)[1] for p in files if p.startswith("tags/forta/"))

    def config(base: str) -> dict[str, dict[str, Any]]:
        lim = {"concurrency": 4, "rate": 0, "timeout": 30}
        o = f"{base}/ofac/"
        cfg: dict[str, dict[str, Any]] = {
            "lists_ofac": {"limits": lim, "sources": {
                "sdn_csv": {"url": o + "sdn.csv", "format": "sdn_csv", "source": "ofac-sdn-csv",
                            "side": {"comments": o + "sdn_comments.csv", "alt": o + "alt.csv", "add": o + "add.csv"}},
                "sdn_advanced": {"enabled": False}, "sdn_xml": {"enabled": False},
                "consolidated_xml": {"enabled": False}, "thomasgregg": {"enabled": False}}},
            "lists_csl": {"limits": lim, "sources": {
                "csl": {"url": f"{base}/csl/consolidated.csv", "format": "csl_csv", "source": "csl"},
                "dpl": {"url": f"{base}/csl/dpl.txt", "format": "dpl_txt", "source": "bis-dpl", "enabled": True}}},
            "lists_un": {"limits": lim, "sources": {
                "un": {"url": f"{base}/un/consolidated.xml", "format": "un_xml", "source": "un-consolidated"}}},
            "lists_opensanctions": {"limits": lim, "sources": {
                "entities": {"url": f"{base}/opensanctions/entities.ftm.json", "format": "ftm_json",
                             "source": "opensanctions", "enabled": True},
                "delta": {"url": f"{base}/opensanctions/delta.json", "format": "ftm_delta",
                          "source": "opensanctions-delta", "versions_base": f"{base}/opensanctions/versions",
                          "enabled": "opensanctions/delta.json" in files}}},
            "lists_tags": {"limits": lim, "sources": {
                "graphsense": {"format": "graphsense_tagpack", "base_url": f"{base}/tags/graphsense",
                               "source": "graphsense", "files": packs},
                "graphsense_actors": {"enabled": False}, "etherscan": {"enabled": False},
                "forta": {"format": "forta_csv", "base_url": f"{base}/tags/forta", "source": "forta",
                          "files": forta, "enabled": bool(forta)}}},
        }
        return cfg

    return DemoPart("lists", static_routes(files), config,
                    notes=["real list fixtures + planted rows" if notes["fixtures"] else "generated rows only"])
