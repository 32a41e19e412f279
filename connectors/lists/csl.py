"""US Consolidated Screening List (trade.gov CSL: Entity List, MEU, UVL, DPL, SDN, SSI, ...) in its
2025 format (leading ``_id`` column) and its 2019 format (no ``_id``), and the BIS Denied Persons
List text file. Export-control lists (Entity List, MEU, UVL, DPL) are the "restricted entity" signal
for GPU cases; they carry no wallets, so they are matched by name (tracer.screening).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from typing import ClassVar

from connectors.lists.base import ListConnector, Parser, Party, Snapshot, contacts_from_text, short_hash

_SRC = re.compile(r"^(.*?)\s*\(([A-Z]+)\)")
#: CSL source codes that are sanctions programmes (the rest are export-control / debarment lists).
SANCTIONS_CODES = frozenset({"SDN", "SSI", "FSE", "PLC", "ISN", "CAP", "NS-MBS", "CMIC", "NS-CMIC"})
_DCA = re.compile(r"Digital Currency Address - ([A-Za-z0-9]+)")


def csl_list(source: str) -> tuple[str, str]:
    """("Entity List", "EL") from "Entity List (EL) - Bureau of Industry and Security"."""
    m = _SRC.match(source.strip())
    if not m:
        return source.strip(), ""
    return m.group(1).strip(), m.group(2)


_C1 = re.compile("[\u0080-\u009f]")


def fix_c1(text: str) -> str:
    """Undo cp1252 bytes that were decoded as Latin-1 C1 controls ("Gui\\x92an" -> "Gui\u2019an")."""
    return _C1.sub(lambda m: m.group(0).encode("latin-1").decode("cp1252", errors="replace"), text)


def _split(v: str | None) -> list[str]:
    return [x.strip() for x in (v or "").split(";") if x.strip()]


def _wallets(ids: str) -> list[tuple[str, str]]:
    out = []
    for seg in _split(ids):
        m = _DCA.search(seg)
        if m:
            for part in seg.split(","):
                p = part.strip()
                if p and " " not in p and len(p) >= 25:
                    out.append((m.group(1).upper(), p))
    return out


def _country(addr: str) -> str:
    last = addr.rsplit(",", 1)[-1].strip()
    return last if re.fullmatch(r"[A-Z]{2}", last) else ""


def parse_csl(files: dict[str, bytes]) -> Snapshot:
    """CSL CSV, 2025 (``_id`` first) or 2019 layout: one party per row, list type from ``source``."""
    text = files["main"].decode("utf-8-sig", errors="replace")
    reader = csv.DictReader(io.StringIO(text))
    cols = set(reader.fieldnames or [])
    if not {"source", "name"} <= cols:
        raise ValueError(f"CSL header lacks source/name: {sorted(cols)[:8]}")
    parties = []
    for r in reader:
        list_type, code = csl_list(r["source"])
        full = fix_c1((r.get("name") or "").strip())
        # ISN rows append "; and any successor, sub-unit, or subsidiary thereof" to the name.
        name = full.split(";", 1)[0].strip()
        if not name:
            continue
        if r.get("_id"):
            uid = r["_id"].strip()
        elif (r.get("entity_number") or "").strip():
            uid = f"{code or 'x'}-{r['entity_number'].strip()}"
        else:
            uid = f"{code or 'x'}-{short_hash(r['source'], name, r.get('addresses') or '', r.get('start_date') or '')}"
        addrs = _split(r.get("addresses"))
        webs, mails = contacts_from_text(r.get("remarks") or "")
        parties.append(Party(
            list_id="csl", uid=uid, name=name, list_type=list_type, party_type=(r.get("type") or "").lower(),
            aliases=[fix_c1(a) for a in _split(r.get("alt_names"))], programmes=_split(r.get("programs")),
            countries=[c for c in map(_country, addrs) if c] + _split(r.get("citizenships"))
            + _split(r.get("nationalities")),
            addresses=addrs, wallets=_wallets(r.get("ids") or ""), websites=webs, emails=mails,
            sanctions=code in SANCTIONS_CODES,
            extra={"list_code": code, "csl_source": r["source"], "name_as_published": full, "start_date": r.get("start_date") or "",
                   "end_date": r.get("end_date") or "", "license_requirement": r.get("license_requirement") or "",
                   "federal_register_notice": r.get("federal_register_notice") or "",
                   "csl_format": "2025" if "_id" in cols else "2019"}))
    return Snapshot(parties)


def parse_dpl(files: dict[str, bytes]) -> Snapshot:
    """BIS Denied Persons List (tab-separated, quoted): name, address, dates, order, FR citation."""
    text = files["main"].decode("utf-8-sig", errors="replace")
    reader = csv.DictReader(io.StringIO(text), delimiter="\t")
    if "Name" not in (reader.fieldnames or []):
        raise ValueError("DPL header lacks Name")
    parties, last = [], ""
    for r in reader:
        name = (r.get("Name") or "").strip()
        if not name:
            continue
        addr = ", ".join(x.strip() for x in (r.get("Street_Address"), r.get("City"), r.get("State"),
                                                r.get("Postal_Code"), r.get("Country")) if x and x.strip())
        upd = (r.get("Last_Update") or "").strip()
        if re.fullmatch(r"(19|20)\d\d-\d\d-\d\d", upd):  # the real file has a "3017-08-22" typo
            last = max(last, upd)
        parties.append(Party(
            list_id="bis-dpl", uid=short_hash(name, r.get("Street_Address") or "", r.get("Effective_Date") or ""),
            name=name, list_type="Denied Persons List", party_type="", sanctions=False,
            countries=[r["Country"].strip()] if (r.get("Country") or "").strip() else [], addresses=[addr],
            extra={"effective_date": r.get("Effective_Date") or "", "expiration_date": r.get("Expiration_Date") or "",
                   "standard_order": r.get("Standard_Order") or "", "action": r.get("Action") or "",
                   "fr_citation": r.get("FR_Citation") or ""}))
    return Snapshot(parties, date=last or None)


PARSERS: dict[str, Parser] = {"csl_csv": parse_csl, "dpl_txt": parse_dpl}


class ListsCslConnector(ListConnector):
    """trade.gov Consolidated Screening List and the BIS Denied Persons List, as dated snapshots."""

    name: ClassVar[str] = "lists_csl"
    description: ClassVar[str] = "US Consolidated Screening List (Entity List, MEU, UVL, DPL, ...) and BIS DPL"
    parsers: ClassVar[Mapping[str, Parser]] = PARSERS
