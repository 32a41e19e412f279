"""Structure-aware fuzzing of the snapshot list parsers (issue 17): one entry of a real recorded list file
is broken (a field dropped, emptied, retyped, doubled, cut, or given invalid UTF-8) and the file is loaded
through the real pipeline on top of a store that already holds the clean file as the previous snapshot.

Property, per example:
- the load succeeds (no exception escapes; a malformed entry is a recorded rejection);
- every other entry is still stored (its ``listed`` fact re-stated by this load) and stays a member;
- nothing is delisted by a mutation that made the entry unreadable; a mutation the parser reads as a
  well-formed, different entry may only delist members of that entry (that is what the file now says).

The files are small real subsets (first entries of each fixture) so one example is one small sync; a
clean store per format is built once and copied per example.  ~30 s for the file on 2 shared cores.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lists_support import HOWS, csv_lines, dump_json, fixture, mutate_csv, mutate_obj, mutate_xml

from connectors.lists.base import ListConnector, records, vetted
from connectors.lists.csl import ListsCslConnector
from connectors.lists.ofac import ListsOfacConnector
from connectors.lists.opensanctions import ListsOpensanctionsConnector
from connectors.lists.un import ListsUnConnector
from tracer.pipeline import sync
from tracer.store import Store

# per format (9 formats); a longer hunt: TRACER_FUZZ_LISTS_EXAMPLES=200 pytest tests/test_fuzz_lists.py
EXAMPLES = int(os.environ.get("TRACER_FUZZ_LISTS_EXAMPLES", "5"))
DAY1, DAY2 = "2026-01-01", "2026-01-02"


@dataclass
class Case:
    """One list format: its clean subset, how many entries it has, how to break or remove entry i."""

    name: str
    conn: ListConnector
    fmt: str
    body: bytes
    n: int
    mutate: Callable[[bytes, int, str, int], bytes]
    without: Callable[[bytes, int], bytes]


# -- the formats: real subsets and their entry-level edits ----------------------------------------------

def _csv_case(name: str, conn: ListConnector, fmt: str, body: bytes, keep: int, delimiter: str = ",",
              prefer: bytes = b"") -> Case:
    """A CSV with a header line (``header``) or without (OFAC legacy): the first ``keep`` data lines, those
    mentioning ``prefer`` (wallet rows) first."""
    lines = csv_lines(body)
    head = lines[:1] if fmt != "sdn_csv" else []
    data = [x for x in lines[len(head):] if x.strip(b"\r\n\x1a")]
    data = ([x for x in data if prefer and prefer in x] + [x for x in data if not (prefer and prefer in x)])[:keep]
    sub = b"".join(head + data)
    off = len(head)

    def mutate(b: bytes, i: int, how: str, f: int) -> bytes:
        return mutate_csv(b, off + i, how, f, delimiter)

    def without(b: bytes, i: int) -> bytes:
        ls = csv_lines(b)
        return b"".join(ls[: off + i] + ls[off + i + 1:])

    return Case(name, conn, fmt, sub, len(data), mutate, without)


def _xml_case(name: str, conn: ListConnector, fmt: str, body: bytes, tag: str, keep: int) -> Case:
    from lxml import etree

    parser = etree.XMLParser(huge_tree=True, resolve_entities=False, no_network=True)
    root = etree.fromstring(body, parser)

    def entries(r: Any) -> list[Any]:
        return [e for e in r.iter() if isinstance(e.tag, str) and etree.QName(e).localname == tag]

    for e in entries(root)[keep:]:
        e.getparent().remove(e)
    sub = etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    def without(b: bytes, i: int) -> bytes:
        r = etree.fromstring(b, parser)
        e = entries(r)[i]
        e.getparent().remove(e)
        return bytes(etree.tostring(r, xml_declaration=True, encoding="UTF-8"))

    return Case(name, conn, fmt, sub, len(entries(root)),
                lambda b, i, how, f: mutate_xml(b, tag, i, how, f), without)


def _thomasgregg_case() -> Case:
    doc = json.loads(fixture("ofac-thomasgregg", "sanctioned-addresses_sdn-03-21-2025.json").read_bytes())
    doc["addresses"] = dict(list(doc["addresses"].items())[:30])
    slots = [(a, j) for a, v in doc["addresses"].items() for j in range(len(v["entries"]))]

    def mutate(b: bytes, i: int, how: str, f: int) -> bytes:
        d = json.loads(b)
        a, j = slots[i]
        if how == "truncate" and f % 2:  # the whole address object cut
            d["addresses"][a] = mutate_obj(d["addresses"][a], "drop", f)
        else:
            d["addresses"][a]["entries"][j] = mutate_obj(d["addresses"][a]["entries"][j], how, f)
        return dump_json(d)

    def without(b: bytes, i: int) -> bytes:
        d = json.loads(b)
        a, j = slots[i]
        d["addresses"][a]["entries"].pop(j)
        return dump_json(d)

    return Case("thomasgregg", ListsOfacConnector(), "thomasgregg_json", dump_json(doc), len(slots), mutate, without)


def _ftm_case() -> Case:
    base = ("opensanctions-ftm", "yente", "tests", "fixtures", "dataset", "zala", "entities.ftm.json")
    lines = fixture(*base).read_bytes().splitlines(keepends=True)[:40]

    def mutate(b: bytes, i: int, how: str, f: int) -> bytes:
        ls = b.splitlines(keepends=True)
        ls[i] = (ls[i][: len(ls[i]) // 2] + b"\n") if how == "truncate" and f % 2 else \
            dump_json(mutate_obj(json.loads(ls[i]), how, f)) + b"\n"
        return b"".join(ls)

    def without(b: bytes, i: int) -> bytes:
        ls = b.splitlines(keepends=True)
        return b"".join(ls[:i] + ls[i + 1:])

    return Case("opensanctions", ListsOpensanctionsConnector(), "ftm_json", b"".join(lines), len(lines), mutate,
                without)


@functools.cache
def cases() -> dict[str, Case]:
    ofac, csl = ListsOfacConnector(), ListsCslConnector()
    out = [
        _csv_case("sdn_csv", ofac, "sdn_csv", fixture("ofac-sdn-csv", "sdn_2024-05-03.csv").read_bytes(), 30,
                  prefer=b"Digital Currency Address"),
        _csv_case("csl", csl, "csl_csv", fixture("trade-gov-csl", "csl_consolidated_2025_subset.csv").read_bytes(), 13),
        _csv_case("dpl", csl, "dpl_txt", fixture("trade-gov-csl", "bis_dpl.txt").read_bytes(), 30, delimiter="\t"),
        _csv_case("ultrasound", ofac, "ultrasound_csv",
                  fixture("ofac-ultrasoundmoney", "data_2024-08-20_with_date_added_incl_tornado.csv").read_bytes(), 30),
        _xml_case("un", ListsUnConnector(), "un_xml", fixture("un-consolidated", "UN_consolidated.xml").read_bytes(),
                  "INDIVIDUAL", 25),
        _xml_case("sdn_xml", ofac, "cons_xml", fixture("ofac-consolidated-2018", "consolidated.xml").read_bytes(),
                  "sdnEntry", 25),
        _xml_case("advanced", ofac, "advanced_xml",
                  (Path(__file__).parent / "data" / "lists" / "sdn_advanced_small.xml").read_bytes(),
                  "DistinctParty", 17),
        _thomasgregg_case(),
        _ftm_case(),
    ]
    return {c.name: c for c in out}


# -- loading ------------------------------------------------------------------------------------------------

def _load(db: Path, case: Case, body: bytes, day: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, list[str]]:
    f = db.with_name(f"{db.stem}-{day}.body")
    f.write_bytes(body)
    cfg_c = {**case.conn.default_config(),
             "sources": {"s": {"url": str(f), "format": case.fmt, "source": "s", "as_of": day}}}
    monkeypatch.setenv("TRACER_NOW", f"{day}T05:00:00Z")
    store = Store(db)
    try:
        res = asyncio.run(sync(store, {"db": str(db), "connectors": {case.conn.name: cfg_c}},
                               plan=[(case.conn, case.conn.streams(cfg_c))]))
    finally:
        store.close()
    return res.status, res.errors


def _members(case: Case, body: bytes) -> set[str]:
    """Member keys of ``body`` as parsed (no store: the parser and the record mapping)."""
    snap = vetted(case.conn.parsers[case.fmt]({"main": body}))
    return {r.row["key"] for r in records("s", "s", snap, "x", "x", "x", "x") if r.table == "list_members"}


@pytest.fixture(scope="module")
def clean_dbs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One store per format holding its clean subset as the DAY1 snapshot."""
    out = {}
    mp = pytest.MonkeyPatch()
    try:
        for name, case in cases().items():
            db = tmp_path_factory.mktemp(f"fuzz-lists-{name}") / "clean.db"
            status, errors = _load(db, case, case.body, DAY1, mp)
            assert status == "ok", errors
            out[name] = db
    finally:
        mp.undo()
    return out


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", ["sdn_csv", "csl", "dpl", "ultrasound", "un", "sdn_xml", "advanced", "thomasgregg",
                                  "opensanctions"])
def test_one_broken_entry_costs_that_entry_and_delists_nothing(name: str, clean_dbs: dict[str, Path],
                                                              tmp_path: Path) -> None:
    case = cases()[name]
    clean = Store(clean_dbs[name])
    listed1 = {r["subject"] for r in clean.query("SELECT subject FROM observations WHERE predicate = 'listed'")}
    members1 = {r["key"] for r in clean.query("SELECT key FROM list_members")}
    clean.close()
    assert listed1 and members1 == _members(case, case.body)
    counter = iter(range(10**6))

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(i=st.integers(0, case.n - 1), how=st.sampled_from(HOWS), f=st.integers(0, 40))
    def prop(i: int, how: str, f: int) -> None:
        bad = case.mutate(case.body, i, how, f)
        own = members1 - _members(case, case.without(case.body, i))  # what only entry i lists
        db = tmp_path / f"ex{next(counter)}.db"
        shutil.copy(clean_dbs[name], db)
        mp = pytest.MonkeyPatch()
        try:
            status, errors = _load(db, case, bad, DAY2, mp)
        finally:
            mp.undo()
        assert status == "ok", (how, i, f, errors)
        s = Store(db)
        try:
            members2 = {r["key"] for r in s.query("SELECT key FROM list_members WHERE snapshot = ?", [DAY2])}
            ended = {r["subject"] for r in s.query("SELECT subject FROM observations WHERE valid_to IS NOT NULL")}
            restated = {r["subject"] for r in s.query(
                "SELECT subject FROM observations WHERE predicate = 'listed' AND last_seen = ?", [f"{DAY2}T05:00:00Z"])}
            unread = s.query("SELECT reason FROM rejected_inputs WHERE context LIKE '%sha256:%'")
        finally:
            s.close()
        # every other entry is still read, stored and listed
        assert listed1 - own <= restated, (how, i, f, sorted(listed1 - own - restated)[:5])
        assert members1 - own <= members2, (how, i, f)
        if unread:  # the entry did not read: it keeps its listing, nothing is delisted
            assert members1 <= members2 and not ended, (how, i, f, unread, sorted(ended)[:5])
        else:  # read as a different, well-formed entry: only its own members may have left
            assert ended <= own and members1 - members2 <= own, (how, i, f, sorted(ended - own)[:5])

    prop()


def test_every_snapshot_list_format_is_fuzzed() -> None:
    """A new ListStream format must be added to ``cases`` (tags and ofac_addresses: test_lists_unread.py)."""
    fuzzed = {(type(c.conn).__name__, c.fmt) for c in cases().values()}
    known = {(type(c).__name__, f) for c in (ListsOfacConnector(), ListsCslConnector(), ListsUnConnector(),
                                             ListsOpensanctionsConnector()) for f in c.parsers}
    assert known - fuzzed == {("ListsOfacConnector", "sdn_xml"), ("ListsOfacConnector", "cons_csv")}  # same parsers
