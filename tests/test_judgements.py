"""Analyst judgements and case notes (issue 15): recorded through the CLI and the HTTP API, shown by
``explain``, carried in watch-list exports, respected by ``tracer score`` until the evidence changes.

The end-to-end test runs on both backends (``db_factory``: SQLite and PostgreSQL) over a simulated
world; the API tests start the real server on loopback."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from click.testing import CliRunner

from connectors import facts, ids
from connectors.base import Page
from tracer import judgements as jd
from tracer.cli import main
from tracer.server import start
from tracer.store import open_store

TOKEN = "judgement-token-0123456789"


def run(db: str, *args: str) -> Any:
    return CliRunner().invoke(main, ["--db", db, *args])


def _one_error_line(r: Any) -> str:
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.output
    return lines[0]


def _scored(db: str, *extra: str) -> tuple[list[dict[str, Any]], str]:
    r = run(db, "score", "--json", "--top", "500", *extra)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout), r.stderr


def _add_gpu_offer(db: str, provider: str, gpu: str) -> None:
    """A new fact about ``provider`` (it now offers ``gpu`` too): what a later sync could bring."""
    store = open_store(db, create=False)
    try:
        rec = facts.edge(f"edge:test:offers:{gpu}", "offers_gpu", provider, ids.gpu(gpu), "simulate",
                         "2026-02-01T00:00:00Z", attrs={"count": 8})
        page = Page(body=json.dumps(rec.row, sort_keys=True).encode(), url="test://new-offer", method="GET",
                    data=None, state=None, fetched_at="2026-02-01T00:00:00Z")
        store.write_page("simulate.market", page, [rec], "test-run")
    finally:
        store.close()


def test_judge_rescore_export_and_stale(db_factory, tmp_path: Path) -> None:
    db = db_factory("sim.db")
    r = run(db, "-q", "simulate", "--background", "30", "--no-score")
    assert r.exit_code == 0, r.output
    flags, _ = _scored(db)
    located = next(f for f in flags if f["subject"].startswith("provider:") and "audited location" in f["reasons"])
    other = next(f for f in flags if f["subject"] != located["subject"] and f["level"] in ("high", "severe"))
    p, o = located["subject"], other["subject"]

    # judge: one line each; the history lists both, current
    r = run(db, "judge", p, "--dismiss", "--reason", "auditor's CN entry is a data-entry error", "--analyst", "J. Doe")
    assert r.exit_code == 0 and len(r.stdout.splitlines()) == 1, r.output
    assert r.stdout.startswith(f"dismissed {p} (score {located['score']}, {located['level']}) by J. Doe at ")
    r = run(db, "judge", o, "--confirm", "--reason", "matches the case file\nsecond line kept", "--analyst", "kb")
    assert r.exit_code == 0, r.output
    r = run(db, "note", p, "--text", "Asked the auditor for the site visit report.\nRef 2026-114", "--analyst", "J. Doe")
    assert r.exit_code == 0 and r.stdout.startswith(f"noted on {p} by J. Doe at "), r.output
    hist = json.loads(run(db, "judgements", "--json").stdout)
    assert [(h["subject"], h["verdict"], h["status"]) for h in hist] == [(o, "confirmed", "current"),
                                                                         (p, "dismissed", "current")]
    assert hist[1]["evidence_digest"].startswith("sha256:") and hist[1]["rules_version"]
    assert [h["verdict"] for h in json.loads(run(db, "judgements", p, "--json").stdout)] == ["dismissed"]

    # explain: who, when, why, and the note
    r = run(db, "explain", p)
    assert r.exit_code == 0, r.output
    assert "judgement: dismissed by J. Doe at " in r.stdout and "data-entry error" in r.stdout
    assert "evidence changed" not in r.stdout and "notes (1):" in r.stdout and "Ref 2026-114" in r.stdout
    data = json.loads(run(db, "explain", p, "--json").stdout)
    assert data["judgement"]["suppressed"] is True and data["notes"][0]["analyst"] == "J. Doe"

    # a later score keeps the flag but leaves the dismissed one out of its list, saying so
    flags2, err = _scored(db)
    assert p not in {f["subject"] for f in flags2} and len(flags2) == len(flags) - 1
    assert "left out 1 dismissed flag(s)" in err
    assert next(f for f in flags2 if f["subject"] == o)["judgement"] == "confirmed by kb"
    every, _ = _scored(db, "--include-dismissed")
    assert next(f for f in every if f["subject"] == p)["judgement"] == "dismissed by J. Doe"

    # watch-list exports carry the judgement and leave the dismissed flag out
    out = tmp_path / "w.csv"
    r = run(db, "export", "watchlist", "--min-score", "0", "-o", str(out))
    assert r.exit_code == 0 and "left out 1 dismissed" in r.stdout, r.output
    rows = {x["id"]: x for x in csv.DictReader(out.open())}
    assert p not in rows and len(rows) == len(flags) - 1
    assert (rows[o]["judgement"], rows[o]["judgement_status"], rows[o]["judged_by"]) == ("confirmed", "current", "kb")
    assert rows[o]["judgement_reason"] == "matches the case file second line kept" and rows[o]["judged_at"]
    r = run(db, "export", "watchlist", "--min-score", "0", "--include-dismissed", "--format", "jsonl",
            "-o", str(tmp_path / "all.jsonl"))
    every_row = {x["id"]: x for x in map(json.loads, (tmp_path / "all.jsonl").read_text().splitlines())}
    assert every_row[p]["judgement"] == "dismissed" and every_row[p]["judged_by"] == "J. Doe"
    r = run(db, "export", "watchlist", "--min-score", "0", "--format", "ftm", "-o", str(tmp_path / "w.ftm"))
    notes = [n for line in (tmp_path / "w.ftm").read_text().splitlines()
             for n in json.loads(line)["properties"].get("notes", [])]
    assert any(n.startswith("analyst judgement: confirmed by kb at ") for n in notes)
    r = run(db, "export", "watchlist", "--min-score", "0", "-o", str(tmp_path / "w2.csv"), "--previous",
            str(tmp_path / "w.csv"))
    assert r.exit_code == 0 and "0 change(s)" in r.stdout, r.output

    # the evidence changes (the provider now offers one more controlled GPU): the judgement is stale
    _add_gpu_offer(db, p, "a100")
    flags3, err = _scored(db)
    back = next(f for f in flags3 if f["subject"] == p)
    assert back["judgement"] == "dismissed by J. Doe (stale: evidence changed)"
    assert "1 judgement(s) stale" in err and "left out" not in err
    r = run(db, "explain", p)
    assert "judgement: dismissed by J. Doe" in r.stdout and "evidence changed since" in r.stdout
    assert "the judgement is stale and the flag is back" in r.stdout
    r = run(db, "export", "watchlist", "--min-score", "0", "-o", str(tmp_path / "w3.csv"))
    assert "left out" not in r.stdout
    rows3 = {x["id"]: x for x in csv.DictReader((tmp_path / "w3.csv").open())}
    assert (rows3[p]["judgement"], rows3[p]["judgement_status"]) == ("dismissed", "stale")
    assert rows3[o]["judgement_status"] == "current"  # the other subject's evidence did not change

    # judging again on the new evidence holds again; the history keeps both
    r = run(db, "judge", p, "--dismiss", "--reason", "A100 offer is a test listing", "--analyst", "J. Doe")
    assert r.exit_code == 0, r.output
    flags4, err = _scored(db)
    assert p not in {f["subject"] for f in flags4} and "left out 1 dismissed" in err
    hist = json.loads(run(db, "judgements", p, "--json").stdout)
    assert [(h["reason"], h["status"]) for h in hist] == [("A100 offer is a test listing", "current"),
                                                         ("auditor's CN entry is a data-entry error", "stale")]


@pytest.fixture(scope="module")
def sim_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    db = str(tmp_path_factory.mktemp("judge") / "sim.db")
    r = run(db, "-q", "simulate", "--background", "20")
    assert r.exit_code == 0, r.output
    return db


def _flagged(db: str) -> list[str]:
    store = open_store(db, create=False, read_only=True)
    try:
        return [f["subject"] for f in store.flag_rows()]
    finally:
        store.close()


def _unflagged_node(db: str) -> str:
    store = open_store(db, create=False, read_only=True)
    try:
        flagged = {f["subject"] for f in store.flag_rows()}
        return next(e["id"] for e in store.query("SELECT id FROM entities WHERE kind = 'wallet' ORDER BY id")
                    if e["id"] not in flagged)
    finally:
        store.close()


@pytest.mark.parametrize("args, words", [
    (["wallet:evm:0x" + "0" * 40, "--dismiss"], "not in the store"),
    (["not an id", "--dismiss"], "not a tracer id"),
    (["{flagged}", "--dismiss", "--reason", "   "], "reason is required"),
    (["{flagged}", "--dismiss", "--reason", "a\x1b[31mred"], "control character"),
    (["{flagged}", "--dismiss", "--analyst", "two\nlines"], "control character"),
    (["{flagged}", "--dismiss", "--reason", "x" * 2001], "at most 2000"),
    (["{unflagged}", "--escalate"], "has no flag to judge"),
], ids=["unknown", "bad-id", "blank-reason", "escape", "analyst-newline", "long", "no-flag"])
def test_judge_refuses_bad_input_with_one_line(sim_db: str, args: list[str], words: str) -> None:
    filled = [a.format(flagged=_flagged(sim_db)[0], unflagged=_unflagged_node(sim_db)) for a in args]
    if "--reason" not in filled:
        filled += ["--reason", "why"]
    if "--analyst" not in filled:
        filled += ["--analyst", "jd"]
    r = run(sim_db, "judge", *filled)
    assert r.exit_code == 2 and words in _one_error_line(r), r.output
    assert json.loads(run(sim_db, "judgements", "--json").stdout) == []  # nothing recorded


def test_judge_usage_errors(sim_db: str) -> None:
    s = _flagged(sim_db)[0]
    for args in ([s, "--dismiss", "--analyst", "jd"], [s, "--dismiss", "--reason", "r"],
                 [s, "--reason", "r", "--analyst", "jd"], [s, "--confirm", "--dismiss", "--reason", "r", "--analyst", "j"]):
        r = run(sim_db, "judge", *args)
        assert r.exit_code == 2 and "Usage:" in r.output, (args, r.output)
    r = run(sim_db, "judgements", "wallet:evm:0x" + "0" * 40)
    assert r.exit_code == 2 and "not in the store" in _one_error_line(r)
    r = run(sim_db, "note", "wallet:evm:0x" + "0" * 40, "--text", "t", "--analyst", "a")
    assert r.exit_code == 2 and "not in the store" in _one_error_line(r)
    r = run(sim_db, "note", s, "--text", "", "--analyst", "a")
    assert r.exit_code == 2 and "text is required" in _one_error_line(r)


def test_notes_on_unflagged_nodes_and_digest_properties(api_db: str) -> None:
    node = _unflagged_node(api_db)
    r = run(api_db, "note", node, "--text", "seen in the exchange's reply", "--analyst", "kb")
    assert r.exit_code == 0, r.output
    store = open_store(api_db, create=False, read_only=True)
    try:
        assert [n["text"] for n in jd.case(store, node)["notes"]] == ["seen in the exchange's reply"]
    finally:
        store.close()
    a = [{"id": "ev:1", "score": 0.5}, {"id": "ev:2", "score": 0.25}]
    assert jd.evidence_digest(a) == jd.evidence_digest(list(reversed(a)))  # order does not matter
    assert jd.evidence_digest(a) != jd.evidence_digest([a[0], {"id": "ev:2", "score": 0.3}])  # a score does
    assert jd.evidence_digest(a) != jd.evidence_digest(a[:1])  # and a piece of evidence more or less


def test_an_old_store_gets_the_tables_when_opened_for_writing(tmp_path: Path) -> None:
    """A store made before migration 5 (no judgements/notes) is upgraded by the next write command."""
    db = tmp_path / "old.db"
    open_store(db).close()
    con = sqlite3.connect(db)
    con.executescript("DROP TABLE judgements; DROP TABLE notes; DELETE FROM migrations WHERE version = 5;")
    con.close()
    store = open_store(db, create=False)
    try:
        assert store.has_table("judgements") and store.has_table("notes") and store.judgement_rows() == []
    finally:
        store.close()


def test_judgements_travel_with_tracer_migrate(api_db: str, pg_url: str) -> None:
    """SQLite -> PostgreSQL -> SQLite: judgements and notes arrive row for row and still hold there."""
    from tracer.store.migrate import copy_store

    subject = _flagged(api_db)[0]
    assert run(api_db, "judge", subject, "--dismiss", "--reason", "known lawful renter", "--analyst", "kb").exit_code == 0
    assert run(api_db, "note", subject, "--text", "see ticket 7", "--analyst", "kb").exit_code == 0
    src = open_store(api_db, create=False)
    pg = open_store(pg_url)
    try:
        copied = copy_store(src, pg)
        assert copied["judgements"] == 1 and copied["notes"] == 1
        assert pg.judgement_rows() == src.judgement_rows() and pg.note_rows(subject) == src.note_rows(subject)
        assert jd.latest_states(pg)[subject]["suppressed"] is True  # the evidence came along: still current
    finally:
        src.close()
        pg.close()


def test_diff_reports_a_changed_judgement() -> None:
    from tracer.export import diff_watchlists

    row = {"id": "wallet:evm:0x1", "level": "high", "score": 0.8, "top_reasons": "r", "judgement": "",
           "judgement_status": "", "judged_by": ""}
    judged = {**row, "judgement": "confirmed", "judgement_status": "current", "judged_by": "kb"}
    assert diff_watchlists([row], [row]) == []
    assert [c["why"] for c in diff_watchlists([row], [judged])] == ["judgement none -> confirmed by kb"]
    stale = {**judged, "judgement_status": "stale"}
    assert [c["why"] for c in diff_watchlists([judged], [stale])] == [
        "judgement confirmed by kb -> confirmed by kb (stale)"]
    old_format = {k: v for k, v in row.items() if not k.startswith("judg")}  # an export from before judgements
    assert diff_watchlists([old_format], [judged]) == []


# --- the HTTP API -----------------------------------------------------------------------------------

async def _req(s: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> tuple[int, Any]:
    async with s.request(method, url, **kw) as r:
        return r.status, (await r.json() if "json" in r.headers.get("Content-Type", "") else await r.text())


@pytest.fixture()
def api_db(sim_db: str, tmp_path: Path) -> str:
    """A copy of the simulated store per test (the API tests write into it)."""
    dst = tmp_path / "api.db"
    src = sqlite3.connect(sim_db)
    with sqlite3.connect(dst) as out:
        src.backup(out)
    src.close()
    return str(dst)


async def test_api_records_and_serves_judgements_and_notes(api_db: str) -> None:
    subject = _flagged(api_db)[0]
    runner, base = await start(api_db, "127.0.0.1", 0, allow_judgements=True)
    try:
        async with aiohttp.ClientSession() as s:
            st, health = await _req(s, "GET", f"{base}/api/health")
            assert st == 200 and health["judgements_writable"] is True
            st, body = await _req(s, "GET", f"{base}/api/judgements")
            assert st == 200 and body == {"judgements": [], "count": 0}
            st, row = await _req(s, "POST", f"{base}/api/judgements", json={
                "subject": subject, "verdict": "escalated", "reason": "H100s via a shell company", "analyst": "kb"})
            assert st == 201, row
            assert (row["verdict"], row["status"], row["suppressed"]) == ("escalated", "current", False)
            st, note = await _req(s, "POST", f"{base}/api/notes",
                                  json={"subject": subject, "text": "call counsel", "analyst": "kb"})
            assert st == 201 and note["text"] == "call counsel"
            st, case = await _req(s, "GET", f"{base}/api/judgements", params={"subject": subject})
            assert st == 200 and case["judgement"]["id"] == row["id"] and case["judgement"]["analyst"] == "kb"
            assert case["judgement"]["evidence_changed"] is False and [n["text"] for n in case["notes"]] == ["call counsel"]
            st, body = await _req(s, "GET", f"{base}/api/judgements")
            assert [j["subject"] for j in body["judgements"]] == [subject]
            st, notes = await _req(s, "GET", f"{base}/api/notes", params={"subject": subject})
            assert st == 200 and [n["analyst"] for n in notes] == ["kb"]
            st, body = await _req(s, "GET", f"{base}/api/notes", params={"subject": "wallet:evm:0x" + "0" * 40})
            assert st == 404 and "not in the store" in body["error"]
    finally:
        await runner.cleanup()
    store = open_store(api_db, create=False, read_only=True)  # it is in the store, seen by the CLI too
    try:
        assert [j["verdict"] for j in jd.history(store, subject)] == ["escalated"]
    finally:
        store.close()


@pytest.mark.parametrize("body, status, words", [
    ({"verdict": "dismissed", "reason": "r", "analyst": "a"}, 400, "subject is required"),
    ({"subject": "{s}", "verdict": "maybe", "reason": "r", "analyst": "a"}, 400, "not one of"),
    ({"subject": "{s}", "verdict": "dismissed", "analyst": "a"}, 400, "reason is required"),
    ({"subject": "{s}", "verdict": "dismissed", "reason": "r", "analyst": ""}, 400, "analyst is required"),
    ({"subject": "{s}", "verdict": "dismissed", "reason": "r", "analyst": "a", "admin": True}, 400, "unknown field"),
    ({"subject": "{s}", "verdict": "dismissed", "reason": 5, "analyst": "a"}, 400, "must be a string"),
    ({"subject": "{s}", "verdict": "dismissed", "reason": "r" * 2001, "analyst": "a"}, 400, "at most 2000"),
    ({"subject": "wallet:evm:0x1' OR '1'='1", "verdict": "dismissed", "reason": "r", "analyst": "a"}, 400,
     "not a tracer id"),
    ({"subject": "wallet:evm:0x" + "0" * 40, "verdict": "dismissed", "reason": "r", "analyst": "a"}, 404,
     "not in the store"),
    ({"subject": "{u}", "verdict": "dismissed", "reason": "r", "analyst": "a"}, 409, "no flag to judge"),
    ([1, 2], 400, "JSON object"),
], ids=["no-subject", "verdict", "no-reason", "blank-analyst", "extra", "type", "long", "injection", "unknown",
        "no-flag", "list"])
async def test_api_refuses_bad_judgements(api_db: str, body: Any, status: int, words: str) -> None:
    fill = {"{s}": _flagged(api_db)[0], "{u}": _unflagged_node(api_db)}
    if isinstance(body, dict):
        body = {k: fill.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    runner, base = await start(api_db, "127.0.0.1", 0, allow_judgements=True)
    try:
        async with aiohttp.ClientSession() as s:
            st, answer = await _req(s, "POST", f"{base}/api/judgements", json=body)
            assert st == status and words in answer["error"], answer
            st, answer = await _req(s, "GET", f"{base}/api/judgements")
            assert answer["count"] == 0
    finally:
        await runner.cleanup()


async def test_api_write_guards(api_db: str) -> None:
    subject = _flagged(api_db)[0]
    good = {"subject": subject, "verdict": "confirmed", "reason": "r", "analyst": "a"}
    runner, base = await start(api_db, "127.0.0.1", 0)  # no --allow-judgements
    try:
        async with aiohttp.ClientSession() as s:
            st, body = await _req(s, "POST", f"{base}/api/judgements", json=good)
            assert st == 403 and "--allow-judgements" in body["error"]
            st, body = await _req(s, "POST", f"{base}/api/notes", json={"subject": subject, "text": "t", "analyst": "a"})
            assert st == 403
            st, health = await _req(s, "GET", f"{base}/api/health")
            assert health["judgements_writable"] is False
    finally:
        await runner.cleanup()
    runner, base = await start(api_db, "127.0.0.1", 0, token=TOKEN, allow_judgements=True)
    try:
        async with aiohttp.ClientSession() as s:
            auth = {"Authorization": f"Bearer {TOKEN}"}
            st, _ = await _req(s, "POST", f"{base}/api/judgements", json=good)
            assert st == 401
            st, body = await _req(s, "POST", f"{base}/api/judgements", data="verdict=confirmed", headers=auth)
            assert st == 415 and "application/json" in body["error"]
            st, body = await _req(s, "POST", f"{base}/api/judgements", data=b"{not json",
                                  headers={**auth, "Content-Type": "application/json"})
            assert st == 400 and "not JSON" in body["error"]
            st, body = await _req(s, "POST", f"{base}/api/judgements", json=good,
                                  headers={**auth, "Origin": "https://evil.example"})
            assert st == 403 and "another site" in body["error"]
            st, body = await _req(s, "GET", f"{base}/api/judgements", headers=auth)
            assert body["count"] == 0  # none of the refused requests recorded anything
            st, row = await _req(s, "POST", f"{base}/api/judgements", json=good,
                                 headers={**auth, "Origin": base})
            assert st == 201 and row["verdict"] == "confirmed"
    finally:
        await runner.cleanup()


def test_openapi_describes_the_write_endpoints() -> None:
    from tracer.server import openapi_document

    doc = openapi_document("http://127.0.0.1")
    post = doc["paths"]["/api/judgements"]["post"]
    schema = post["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["subject", "verdict", "reason", "analyst"] and "403" in post["responses"]
    assert {p["name"] for p in doc["paths"]["/api/notes"]["get"]["parameters"]} == {"subject"}
    validator = pytest.importorskip("openapi_spec_validator", reason="openapi-spec-validator not installed")
    validator.validate(doc)
