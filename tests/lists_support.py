"""Helpers for the list tests: sync a list connector from local files (real fixtures in place)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tracer.pipeline import SyncResult, sync
from tracer.store import Store
from tracer.world import fixtures_dir


def fixture(*parts: str) -> Path:
    """A real fixture file read in place, or skip the test with the reason."""
    fx = fixtures_dir()
    if fx is None:
        pytest.skip("../shared/fixtures not present (set TRACER_FIXTURES)")
    p = fx.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"fixture {p} not present")
    return p


def run_sources(store: Store, connector: Any, sources: dict[str, dict[str, Any]],
                monkeypatch: pytest.MonkeyPatch | None = None, now: str | None = None) -> SyncResult:
    """Sync ``connector`` with exactly ``sources`` (URLs or local paths) into ``store``."""
    if monkeypatch is not None and now is not None:
        monkeypatch.setenv("TRACER_NOW", now)
    cfg_c = {**connector.default_config(), "sources": sources}
    cfg = {"db": store.path, "connectors": {connector.name: cfg_c}}
    res = asyncio.run(sync(store, cfg, plan=[(connector, connector.streams(cfg_c))]))
    assert res.status == "ok", res.errors
    return res


# -- structure-aware corruption of one entry of a real list file (tests/test_lists_unread.py, test_fuzz_lists.py)
BAD = b"\xff\xfe"  # two bytes that are never UTF-8
MARK = "\u2603BADUTF8\u2603"  # placed in a parsed entry, then swapped for BAD in the serialized bytes
HOWS = ("drop", "null", "retype", "extra", "bad_utf8", "truncate")


def _swap_mark(body: bytes) -> bytes:
    return body.replace(MARK.encode(), BAD)


def csv_lines(body: bytes) -> list[bytes]:
    """The lines of a CSV body, their terminators kept (the real list CSVs hold no quoted newlines)."""
    return body.splitlines(keepends=True)


def mutate_csv(body: bytes, line: int, how: str, field: int, delimiter: str = ",") -> bytes:
    """``body`` with one field of line ``line`` dropped, emptied, retyped (text where a number or an
    id was), duplicated, given invalid UTF-8, or the line cut in half."""
    import csv
    import io

    lines = csv_lines(body)
    raw = lines[line]
    end = raw[len(raw.rstrip(b"\r\n")):]
    if how == "truncate":
        lines[line] = raw[: max(1, len(raw) // 2)] + end
        return b"".join(lines)
    row = next(csv.reader(io.StringIO(raw.decode("utf-8", "surrogateescape")), delimiter=delimiter))
    field %= len(row)
    if how == "drop":
        del row[field]
    elif how == "null":
        row[field] = ""
    elif how == "retype":
        row[field] = '{"x": [1]}'
    elif how == "extra":
        row.insert(field, row[field])
    elif how == "bad_utf8":
        row[field] = row[field][: len(row[field]) // 2] + MARK + row[field][len(row[field]) // 2:]
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL, lineterminator="").writerow(row)
    lines[line] = _swap_mark(out.getvalue().encode("utf-8", "surrogateescape")) + end
    return b"".join(lines)


def mutate_xml(body: bytes, entry_tag: str, index: int, how: str, child: int) -> bytes:
    """``body`` with one child of the ``index``-th ``entry_tag`` element (matched by local name) dropped,
    emptied, retyped (an element where text was), duplicated, or given invalid UTF-8."""
    from lxml import etree

    root = etree.fromstring(body, etree.XMLParser(huge_tree=True, resolve_entities=False, no_network=True))
    entries = [e for e in root.iter() if isinstance(e.tag, str) and etree.QName(e).localname == entry_tag]
    el = entries[index % len(entries)]
    leaves = [c for c in el.iter() if c is not el and isinstance(c.tag, str) and len(c) == 0]
    c = leaves[child % len(leaves)]
    if how == "drop":
        c.getparent().remove(c)
    elif how == "null":
        c.text = None
        for k in list(c.attrib):
            del c.attrib[k]
    elif how == "retype":
        c.text = None
        etree.SubElement(c, "unexpected").text = "1"
    elif how == "extra":
        c.addnext(etree.fromstring(etree.tostring(c)))
        c.getparent()[c.getparent().index(c) + 1].tail = c.tail
    else:  # bad_utf8 (and truncate: the text cut in half with bad bytes, XML stays well formed)
        text = c.text or "x"
        c.text = text[: len(text) // 2] + MARK + ("" if how == "truncate" else text[len(text) // 2:])
    return _swap_mark(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def mutate_obj(obj: Any, how: str, pick: int) -> Any:
    """One entry of a JSON document (a dict), one field dropped / nulled / retyped / doubled / cut, or
    given invalid UTF-8 (``MARK``, swapped for bad bytes when serialized)."""
    import copy

    obj = copy.deepcopy(obj)
    if not isinstance(obj, dict) or not obj:
        return MARK if how == "bad_utf8" else None
    k = sorted(obj)[pick % len(obj)]
    v = obj[k]
    if how == "drop":
        del obj[k]
    elif how == "null":
        obj[k] = None
    elif how == "retype":
        obj[k] = [v] if not isinstance(v, list) else {"x": v}
    elif how == "extra":
        obj[k] = [v, v] if not isinstance(v, list) else v + v
    elif how == "bad_utf8":
        obj[k] = f"{v}{MARK}" if isinstance(v, str) else [MARK]
    else:  # truncate: a text cut in half, a list cut to its first half
        obj[k] = v[: len(v) // 2] if isinstance(v, str | list) else 2**70
    return obj


def dump_json(doc: Any) -> bytes:
    return _swap_mark(json.dumps(doc, ensure_ascii=False).encode())
