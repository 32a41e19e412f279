"""The HTML report and the case file: summary first, contents, facts as sentences with provenance,
medium and above by default; the case file self-contained; the workspace's API answers."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner
from investigate_support import IDS, build_world

from tracer import case
from tracer import export as ex
from tracer import queries as q
from tracer.cli import main
from tracer.store import open_store


def _run(db: Path, *args: str) -> tuple[int, str]:
    r = CliRunner().invoke(main, ["--db", str(db), *args])
    return r.exit_code, r.output


def test_report_summary_contents_sentences_and_default_level(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    s = build_world(db)
    n = ex.html_report(s, tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    assert n == 4  # severe 2, high 1, medium 1
    assert page.index("id='summary'") < page.index("id='contents'") < page.index("<h2 class='subject'")
    summary = page[page.index("id='summary'"):page.index("id='contents'")]
    assert re.search(r"severe</span></td><td>2</td><td>2</td>", summary)
    assert re.search(r"medium</span></td><td>1</td><td>1</td>", summary)
    # every fact as a sentence with its raw payload, no JSON id list
    assert "paid 2,500 USDC to" in page and "raw payload sha256" in page and "http://127.0.0.1/test/case.json" in page
    assert "[&#x27;" not in page and "['" not in page
    assert page.count("<li><a href='#s") == 4  # contents links every subject
    assert ex.html_report(s, tmp_path / "h.html", min_level="high") == 3
    high = (tmp_path / "h.html").read_text()
    assert "medium</span></td><td>1</td><td>0</td>" in high and high.count("<h2 class='subject'") == 3
    s.close()


def test_report_command_defaults_to_medium_and_lists_low_on_request(tmp_path: Path) -> None:
    db = tmp_path / "sim.db"
    assert _run(db, "simulate")[0] == 0
    code, out = _run(db, "export", "report", "-o", str(tmp_path / "m.html"))
    s = open_store(db)
    levels = [f["level"] for f in s.flag_rows()]
    s.close()
    assert code == 0 and f"wrote {sum(lv != 'low' for lv in levels)} flags at medium or above" in out
    assert "low" in levels  # the simulated world has low flags: left out by default, counted
    code, out = _run(db, "export", "report", "--min-level", "low", "-o", str(tmp_path / "l.html"))
    assert code == 0 and f"wrote {len(levels)} flags at low or above" in out
    assert _run(db, "export", "report", "--min-level", "bogus", "-o", str(tmp_path / "x.html"))[0] == 2


def test_case_file_is_self_contained_with_sentences_and_records(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    build_world(db).close()
    assert _run(db, "judge", IDS["A"], "--confirm", "--reason", "on the SDN list", "--analyst", "kb")[0] == 0
    assert _run(db, "note", IDS["A"], "--text", "asked <counsel>", "--analyst", "kb")[0] == 0
    code, out = _run(db, "case", IDS["A"], "--out", str(tmp_path / "case.html"))
    assert code == 0 and "wrote the case file" in out
    html = (tmp_path / "case.html").read_text()
    assert "severe" in html and "confirmed" in html and "asked &lt;counsel&gt;" in html and "<svg" in html
    assert "<td>1,234.5 USDC</td>" in html and "raw payload sha256" in html  # edges table, fact provenance
    assert "<script" not in html and not re.search(r"(src|href)\s*=\s*['\"]?(https?:)?//", html)
    code, out = _run(db, "case", "wallet:evm:0x" + "0" * 40, "--out", str(tmp_path / "x.html"))
    assert code == 2 and "not in the store" in out and not (tmp_path / "x.html").exists()


def test_case_pdf_without_chromium_is_one_line(tmp_path: Path, monkeypatch) -> None:
    db = tmp_path / "c.db"
    build_world(db).close()
    monkeypatch.setattr(case, "find_chromium", lambda: None)
    code, out = _run(db, "case", IDS["A"], "--out", str(tmp_path / "c.html"), "--pdf", str(tmp_path / "c.pdf"))
    assert code == 1 and "error: cannot print the PDF: no chromium on PATH" in out
    assert (tmp_path / "c.html").stat().st_size > 1000 and not (tmp_path / "c.pdf").exists()


def test_merge_parallel_sums_exactly_and_keeps_singles_apart() -> None:
    rows = [{"id": f"e{i}", "kind": "paid", "src": "a:1", "dst": "b:1", "asset": "USDC", "decimals": 6,
             "amount": str(a), "time": f"2026-03-0{i + 1}T00:00:00Z"} for i, a in enumerate([1, 2_500_000, 999_999])]
    rows.append({"id": "x", "kind": "paid", "src": "b:1", "dst": "a:1", "asset": "USDC", "decimals": 6,
                 "amount": "5", "time": None})
    merged = q.merge_parallel(rows)
    assert len(merged) == 1
    m = merged[0]
    assert m["count"] == 3 and m["amount_base"] == "3500000" and m["display"] == "3.5 USDC"
    assert (m["first_time"], m["last_time"]) == ("2026-03-01T00:00:00Z", "2026-03-03T00:00:00Z")
    assert m["edges"] == ["e0", "e1", "e2"]


def test_flags_overview_and_changes(tmp_path: Path) -> None:
    db = tmp_path / "o.db"
    s = build_world(db)
    o = q.flags_overview(s)
    assert o["counts"] == {"severe": 2, "high": 1, "medium": 1, "low": 0}
    assert [f["level"] for f in o["flags"]] == ["severe", "severe", "high", "medium"]
    c = q.changes(s)
    # first seen at this scoring's time: new; the provider was first flagged at another time: not new
    assert c["previous"] is True and {f["subject"] for f in c["new_flags"]} == {IDS["A"], IDS["F"], IDS["E"]}
    assert c["new_flags"][0]["level"] == "severe" and c["stale_judgements"] == [] and c["why_empty"] is None
    s.close()


def test_case_pdf_printed_by_headless_chromium(tmp_path: Path) -> None:
    """`tracer case --pdf` prints the case file with Debian's headless Chromium (installed by the
    README's test command): a real PDF whose text holds the subject's level and the judgement."""
    assert case.find_chromium() is not None, "no chromium on PATH: `make test` installs Debian's chromium"
    db = tmp_path / "c.db"
    build_world(db).close()
    assert _run(db, "judge", IDS["A"], "--confirm", "--reason", "on the SDN list", "--analyst", "kb")[0] == 0
    pdf = tmp_path / "c.pdf"
    code, out = _run(db, "case", IDS["A"], "--out", str(tmp_path / "c.html"), "--pdf", str(pdf))
    assert code == 0, out
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and b"%%EOF" in data[-1024:] and len(data) > 5000
    assert data.count(b"/Type /Page") + data.count(b"/Type/Page") >= 1
