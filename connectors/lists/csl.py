"""US Consolidated Screening List (trade.gov CSL: Entity List, MEU, UVL, DPL, SDN, SSI, ...) in its
2025 format (leading ``_id`` column) and its 2019 format (no ``_id``), and the BIS Denied Persons
List text file. Export-control lists (Entity List, MEU, UVL, DPL) are the "restricted entity" signal
for GPU cases; they carry no wallets, so they are matched by name (tracer.screening).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from connectors.lists.base import (
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
    short_hash,
    utf8_text,
)

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


def _row_problem(r: dict[Any, Any], width: int, repaired: bool) -> str | None:
    """Why a CSV row cannot be read: more or fewer fields than the header (DictReader fills the missing
    ones with None and files extra ones under the key None), or invalid UTF-8."""
    if None in r:
        return f"{len(r[None] or [])} field(s) more than the {width} of the header"
    if any(v is None for v in r.values()):
        return f"{sum(v is None for v in r.values())} of the {width} fields missing"
    if bad_utf8(repaired, *r.values()):
        return "invalid UTF-8"
    return None


def parse_csl(files: dict[str, bytes]) -> Snapshot:
    """CSL CSV, 2025 (``_id`` first) or 2019 layout: one party per row, list type from ``source``.

    Row by row: a row with a field missing or extra, without a name, or with invalid UTF-8, is unread
    (by its ``_id``/entity number when that still reads); the others are read."""
    text, repaired = utf8_text(files["main"])
    fieldnames, reader = line_dicts(text)
    cols = set(fieldnames)
    if not {"source", "name"} <= cols:
        raise ValueError(f"CSL header lacks source/name: {sorted(cols)[:8]}")
    parties: list[Party] = []
    unread: list[Unread] = []
    for r in reader:
        why = _row_problem(r, len(fieldnames), repaired)
        key = _csl_key(r, repaired, fields_shifted=why is not None and not why.startswith("invalid"))
        if why is not None:
            unread.append(Unread.of(r, why, key))
            continue
        p = guarded(unread, r, key, functools.partial(_csl_party, r, "_id" in cols))
        if p is not None:
            parties.append(p)
    return Snapshot(parties, unread=unread)


_ID = re.compile(r"[0-9A-Za-z_-]{1,80}")


def _csl_key(r: dict[Any, Any], repaired: bool, fields_shifted: bool) -> str | None:
    """The entity id of a CSL row when its ``_id`` (or source code + entity number) still reads.  In a row
    with a field missing or extra the named columns may hold their neighbours' values: only a first
    column shaped like an ``_id`` is trusted then."""
    rid, num, src = r.get("_id"), r.get("entity_number"), r.get("source")
    if isinstance(rid, str) and _ID.fullmatch(rid.strip()) and not bad_utf8(repaired, rid):
        return entry_key("csl", rid)
    if fields_shifted:
        return None
    if isinstance(num, str) and num.strip() and isinstance(src, str) and not bad_utf8(repaired, num, src):
        return entry_key("csl", f"{csl_list(src)[1] or 'x'}-{num.strip()}")
    return None


def _csl_party(r: dict[str, str], fmt_2025: bool) -> Party:
    """One CSL row (every field present: checked by the caller)."""
    list_type, code = csl_list(r["source"])
    full = fix_c1((r.get("name") or "").strip())
    # ISN rows append "; and any successor, sub-unit, or subsidiary thereof" to the name.
    name = full.split(";", 1)[0].strip()
    if not name:
        raise ValueError("a row without a name")
    if r.get("_id"):
        uid = r["_id"].strip()
    elif (r.get("entity_number") or "").strip():
        uid = f"{code or 'x'}-{r['entity_number'].strip()}"
    else:
        uid = f"{code or 'x'}-{short_hash(r['source'], name, r.get('addresses') or '', r.get('start_date') or '')}"
    addrs = _split(r.get("addresses"))
    webs, mails = contacts_from_text(r.get("remarks") or "")
    return Party(
        list_id="csl", uid=uid, name=name, list_type=list_type, party_type=(r.get("type") or "").lower(),
        aliases=[fix_c1(a) for a in _split(r.get("alt_names"))], programmes=_split(r.get("programs")),
        countries=[c for c in map(_country, addrs) if c] + _split(r.get("citizenships"))
        + _split(r.get("nationalities")),
        addresses=addrs, wallets=_wallets(r.get("ids") or ""), websites=webs, emails=mails,
        sanctions=code in SANCTIONS_CODES,
        extra={"list_code": code, "csl_source": r["source"], "name_as_published": full,
               "start_date": r.get("start_date") or "", "end_date": r.get("end_date") or "",
               "license_requirement": r.get("license_requirement") or "",
               "federal_register_notice": r.get("federal_register_notice") or "",
               "csl_format": "2025" if fmt_2025 else "2019"})


def parse_dpl(files: dict[str, bytes]) -> Snapshot:
    """BIS Denied Persons List (tab-separated, quoted): name, address, dates, order, FR citation.

    Row by row, as :func:`parse_csl`; a DPL row's uid hashes its name, street and effective date, so
    a row whose fields did not read cannot be identified (the snapshot is then partial)."""
    text, repaired = utf8_text(files["main"])
    fieldnames, reader = line_dicts(text, "\t")
    if "Name" not in fieldnames:
        raise ValueError("DPL header lacks Name")
    parties: list[Party] = []
    unread: list[Unread] = []
    last = ""
    for r in reader:
        why = _row_problem(r, len(fieldnames), repaired)
        name = (r.get("Name") or "").strip() if why is None else ""
        if why is not None or not name:
            unread.append(Unread.of(r, why or "a row without a name"))
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
    return Snapshot(parties, date=last or None, unread=unread)


PARSERS: dict[str, Parser] = {"csl_csv": parse_csl, "dpl_txt": parse_dpl}


class ListsCslConnector(ListConnector):
    """trade.gov Consolidated Screening List and the BIS Denied Persons List, as dated snapshots."""

    name: ClassVar[str] = "lists_csl"
    description: ClassVar[str] = "US Consolidated Screening List (Entity List, MEU, UVL, DPL, ...) and BIS DPL"
    parsers: ClassVar[Mapping[str, Parser]] = PARSERS
