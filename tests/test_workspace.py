"""The case workspace in headless Chromium, on a simulated store: the landing view (flagged subjects
by level, what changed since the previous scoring), a flagged subject with its evidence as sentences
down to the raw payload, parallel payments merged and split, a stable layout on expand, the path,
cluster, exposure-flow and timeline views, a judgement and a note recorded from the page, and the
case file exported.

The world: ``tracer simulate`` (which scores), then six parallel USDC payments from a listed wallet
into a severe subject, a judgement recorded, and ``tracer score`` again -- so the subject's evidence
changes and the judgement goes stale.  Screenshots go to tests/artifacts/; with UPDATE_DOCS_IMG=1 (not a TRACER_ variable: those are config overrides)
the ones in docs/users.md are refreshed in docs/img/ too.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from connectors.base import Page, Record
from tracer import judgements as jd
from tracer import queries as q
from tracer.cli import main
from tracer.server import start
from tracer.store import open_store

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
# `make test` installs both (Debian's chromium + chromium-driver, selenium from the dev extra): a
# machine without them fails here rather than skipping the workspace unseen.
from selenium import webdriver  # noqa: E402

if not (Path(CHROMIUM).exists() and Path(DRIVER).exists()):
    raise RuntimeError("Debian chromium + chromium-driver not installed (make test: apt-get install -y chromium "
                       "chromium-driver)")

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
DOCS_IMG = ROOT / "docs" / "img"
PARALLEL = [7_000_000_000, 1_250_500_000, 3_000_000_000, 499_999_999, 10_000_000_000]  # base units, 6 decimals
T = "2026-03-{:02d}T08:00:00Z"


def _cli(db: Path, *args: str, now: str) -> str:
    r = CliRunner().invoke(main, ["--db", str(db), *args], env={"TRACER_NOW": now})
    assert r.exit_code == 0, r.output
    return r.output


def _payment(i: int, src: str, dst: str, amount: int) -> Record:
    t = T.format(10 + i)
    return Record("edges", {"id": f"edge:test:parallel:{i}", "kind": "paid", "src": src, "dst": dst, "chain": "evm",
                            "asset": "USDC", "amount": str(amount), "decimals": 6, "time": t, "block": 5000 + i,
                            "tx": "0x" + f"{i + 1:02x}" * 32, "attrs": {}, "source": "test",
                            "first_seen": t, "last_seen": t})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The simulated store with parallel payments, a judgement gone stale and the ids the test opens."""
    db = tmp_path_factory.mktemp("workspace") / "sim.db"
    _cli(db, "simulate", now="2026-04-01T00:00:00Z")
    s = open_store(db)
    try:
        flags = s.flag_rows()
        subject = next(str(f["subject"]) for f in flags if f["level"] == "severe" and "1 hop away" in f["reasons"])
        hit = q.exposure(s, subject)["hits"][0]
        listed = hit["id"]
        one_payment = q.edge(s, hit["path"][0])["edge"]
        far = next(str(f["subject"]) for f in flags if "2 hops away" in f["reasons"])
        sybil = next(str(f["subject"]) for f in flags if "wallets acting as one" in f["reasons"])
        jd.record_judgement(s, subject, "confirmed", "listed funder paid it directly", "first analyst",
                            now="2026-04-01T12:00:00Z")
        # a low-level renter the listed wallet now pays 50M USDC (most of its inflow): up a level at the next scoring
        riser = next(str(f["subject"]) for f in flags if f["level"] == "low" and str(f["subject"]).startswith("wallet:"))
        s.write_page("test.parallel", Page(b'{"parallel": true}', "http://127.0.0.1/test/parallel.json", "GET", None,
                                           {"done": True}, fetched_at=T.format(20)),
                     [*(_payment(i, listed, subject, a) for i, a in enumerate(PARALLEL)),
                      _payment(len(PARALLEL), listed, riser, 50_000_000_000_000)], "run-test-parallel")
    finally:
        s.close()
    _cli(db, "score", now="2026-04-02T00:00:00Z")  # a day later: the previous scoring is told apart
    s = open_store(db)
    try:  # as the last scoring left them: a subject in a listed wallet's cluster, a severe one in no cluster
        peer = "same actor cluster as listed wallet "
        clustered, peer_listed = next((str(f["subject"]), r["detail"][len(peer):].split(" ")[0])
                                      for f in s.flag_rows() for r in json.loads(f["reasons"])
                                      if r["detail"].startswith(peer))
        alone = next(str(f["subject"]) for f in s.flag_rows() if f["level"] == "severe" and not f["cluster"])
    finally:
        s.close()
    total = int(one_payment["amount_base"]) + sum(PARALLEL)
    return {"db": db, "subject": subject, "listed": listed, "far": far, "sybil": sybil, "total_base": total, "riser": riser,
            "first_payment": one_payment, "clustered": clustered, "peer_listed": peer_listed, "alone": alone}


@pytest.fixture(scope="module")
def server(world: dict[str, Any]) -> Iterator[str]:
    """``tracer serve --allow-judgements`` on an ephemeral loopback port, in its own thread."""
    loop = asyncio.new_event_loop()
    ready: dict[str, Any] = {}
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        ready["runner"], ready["base"] = loop.run_until_complete(start(world["db"], "127.0.0.1", 0, None, True))
        started.set()
        loop.run_forever()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert started.wait(30)
    yield ready["base"]
    asyncio.run_coroutine_threadsafe(ready["runner"].cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    t.join(10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = CHROMIUM
    profile = tmp_path_factory.mktemp("chrome")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1500,950", "--hide-scrollbars",
                 f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    opts.add_experimental_option("prefs", {"download.default_directory": str(profile / "downloads"),
                                           "download.prompt_for_download": False})
    d = webdriver.Chrome(service=Service(DRIVER), options=opts)
    d.set_page_load_timeout(30)
    yield d
    d.quit()


def _shot(b: Any, name: str, docs: bool = False) -> Path:
    """A screenshot kept as a test artifact (and for the docs); its path is printed."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    b.save_screenshot(str(path))
    assert path.stat().st_size > 10_000, f"{path} looks blank"
    if docs and os.environ.get("UPDATE_DOCS_IMG") == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_IMG / name)
    print(f"screenshot: {path}")
    return path


def _js(b: Any, script: str, *args: Any) -> Any:
    return b.execute_script(script, *args)


def _get(base: str, path: str) -> Any:
    with urllib.request.urlopen(base + path, timeout=30) as r:
        return json.loads(r.read())


def _text(b: Any, css: str) -> str:
    return str(b.find_element(By.CSS_SELECTOR, css).text)


def test_workspace_landing_subject_merge_path_judgement_and_case(server: str, browser: Any,
                                                                 world: dict[str, Any]) -> None:
    b, subject, listed = browser, world["subject"], world["listed"]
    wait = WebDriverWait(b, 30)
    b.get(server + "/")
    assert _js(b, "return typeof cytoscape") == "function"  # vendored, served locally

    # landing: counts by level as the API has them, severe and high first, and what changed
    api = _get(server, "/api/flags")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#flag-list li")) == len(api["flags"]))
    counts = {c.get_attribute("data-level"): int(c.find_element(By.TAG_NAME, "b").text)
              for c in b.find_elements(By.CSS_SELECTOR, "#level-counts .count")}
    assert counts == api["counts"] and counts["severe"] >= 3 and counts["low"] >= 1
    levels = [li.find_element(By.CSS_SELECTOR, ".badge").text for li in b.find_elements(By.CSS_SELECTOR, "#flag-list li")]
    order = ["severe", "high", "medium", "low"]
    assert levels == sorted(levels, key=order.index) and levels[0] == "severe"
    wait.until(lambda d: "judgement(s) whose evidence changed" in d.find_element(By.ID, "changes-status").text)
    changes = _text(b, "#changes")
    assert "evidence changed since first analyst confirmed" in changes, changes
    assert "latest scoring" in _text(b, "#changes-status")
    # new, gone, up and down since the previous scoring: the counts and the rows the API has
    ch = _get(server, "/api/changes")
    status_text = _text(b, "#changes-status")
    assert (f"{ch['counts']['new']} new flag(s), {ch['counts']['left']} no longer flagged, {ch['counts']['up']} up, "
            f"{ch['counts']['down']} down a level") in status_text, status_text
    shown = {(li.get_attribute("data-change"), li.find_element(By.CSS_SELECTOR, "a.link").get_attribute("data-id"))
             for li in b.find_elements(By.CSS_SELECTOR, "#changes li[data-change]")}
    assert world["riser"] in {r["subject"] for r in ch["level_up"]}, ch
    assert shown == ({("up", r["subject"]) for r in ch["level_up"]} | {("down", r["subject"]) for r in ch["level_down"]}
                     | {("left", r["subject"]) for r in ch["left_flags"]})
    # nothing drawn yet: the canvas says what to do, and the hint goes once a subject is drawn
    assert b.find_element(By.ID, "cy-empty").is_displayed() and "open a flagged subject" in _text(b, "#cy-empty")
    _shot(b, "workspace-landing.png", docs=True)

    # open the severe subject from the list: graph, flag, evidence sentences, stale judgement
    b.find_element(By.CSS_SELECTOR, f"#flag-list li[data-id='{subject}'] a.link").click()
    wait.until(lambda d: d.find_element(By.ID, "node-title").text == subject)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#evidence > li")) >= 2)
    wait.until(lambda d: not d.find_element(By.ID, "cy-empty").is_displayed())
    assert "severe" in _text(b, "#flag")
    ev = _text(b, "#evidence")
    assert "of its inflow traces to listed" in ev and " paid " in ev and "raw payload sha256" in ev
    assert "{" not in ev and "[\"" not in ev  # sentences, not JSON id lists
    wait.until(lambda d: "confirmed" in d.find_element(By.ID, "judgement").text)
    assert "the evidence changed since" in _text(b, "#judgement")

    # the six parallel payments are one edge with the exact total, the count and the dates
    merged = [e for e in _js(b, "return window.tracerApp.cy.edges('[?merged]').map(e => e.data())")
              if e["source"] == listed and e["target"] == subject]
    assert len(merged) == 1 and merged[0]["count"] == 1 + len(PARALLEL)
    whole, frac = divmod(world["total_base"], 10**6)
    total = f"{whole:,}" + (f".{frac:06d}".rstrip("0") if frac else "") + " USDC"
    assert total == "51,750.499999 USDC"  # 30,000 + 7,000 + 1,250.5 + 3,000 + 499.999999 + 10,000, by hand
    assert merged[0]["caption"].endswith("×6")
    mid = merged[0]["id"]
    _js(b, "window.tracerApp.cy.getElementById(arguments[0]).emit('tap')", mid)
    wait.until(lambda d: d.find_element(By.ID, "edge-panel").is_displayed())
    fields = _text(b, "#edge-fields")
    assert "6 payments merged" in _text(b, "#edge-title") and total in fields
    assert world["first_payment"]["time"] in fields and T.format(14) in fields  # first and last date
    _shot(b, "workspace-subject.png", docs=True)

    # split on demand, and merge back
    b.find_element(By.ID, "split-edge").click()
    wait.until(lambda d: _js(d, "return window.tracerApp.cy.edges().filter(e => e.data('group') === arguments[0]).length",
                             mid) == 6)
    assert _js(b, "return window.tracerApp.cy.getElementById(arguments[0]).empty()", mid)
    member = _js(b, "return window.tracerApp.cy.edges().filter(e => e.data('group') === arguments[0])[0].id()", mid)
    _js(b, "window.tracerApp.cy.getElementById(arguments[0]).emit('tap')", member)
    wait.until(lambda d: d.find_element(By.ID, "merge-edge").is_displayed())
    b.find_element(By.ID, "merge-edge").click()
    wait.until(lambda d: _js(d, "return window.tracerApp.cy.getElementById(arguments[0]).nonempty()", mid))
    assert _js(b, "return window.tracerApp.cy.edges().filter(e => e.data('group') === arguments[0]).length", mid) == 0

    # a fact's raw payload, from its evidence sentence
    b.find_element(By.CSS_SELECTOR, "#evidence .raw-link").click()
    wait.until(lambda d: d.find_element(By.ID, "raw-panel").is_displayed() and "sha256" in d.find_element(By.ID, "raw-meta").text)
    assert len(_text(b, "#raw-body")) > 2 and "loading" not in _text(b, "#raw-body")

    # stable layout: expanding the listed funder moves nothing already drawn; new nodes land near it
    before = _js(b, "const p = {}; window.tracerApp.cy.nodes().forEach(n => { p[n.id()] = n.position(); }); return p;")
    _js(b, "window.tracerApp.expand(arguments[0])", listed)
    wait.until(lambda d: _js(d, "return window.tracerApp.cy.nodes().length") > len(before))
    after = _js(b, "const p = {}; window.tracerApp.cy.nodes().forEach(n => { p[n.id()] = n.position(); }); return p;")
    for nid, pos in before.items():
        assert after[nid] == pos, f"{nid} moved on expand"
    anchor = after[listed]
    for nid in set(after) - set(before):
        dist = ((after[nid]["x"] - anchor["x"]) ** 2 + (after[nid]["y"] - anchor["y"]) ** 2) ** 0.5
        assert dist < 400, f"{nid} placed {dist:.0f} px from the node it hangs off"

    # path view: the 2-hop exposed wallet to the listed wallet, drawn highlighted
    b.find_element(By.CSS_SELECTOR, ".view-tab[data-view='path']").click()
    for box, value in (("path-from", world["far"]), ("path-to", listed)):
        b.find_element(By.ID, box).clear()
        b.find_element(By.ID, box).send_keys(value)
    b.find_element(By.ID, "path-go").click()
    wait.until(lambda d: "hop(s)" in d.find_element(By.ID, "path-status").text)
    hops = b.find_elements(By.CSS_SELECTOR, "#path-list > li")
    assert len(hops) == 2 and all(" paid " in h.text and "USDC" in h.text for h in hops)
    _shot(b, "workspace-path.png", docs=True)
    b.find_element(By.CSS_SELECTOR, ".view-tab[data-view='graph']").click()
    assert _js(b, "return window.tracerApp.cy.$('.hl').length") >= 3 + 2  # 3 nodes and 2 edges of the path

    # cluster, exposure flow and timeline views, each with a status line
    _js(b, "window.tracerApp.select(arguments[0])", world["alone"])
    wait.until(lambda d: d.find_element(By.ID, "node-title").text == world["alone"])
    b.find_element(By.ID, "show-cluster").click()  # scoring linked it to no other wallet: said so
    wait.until(lambda d: "not in an actor cluster: scoring linked it to no other wallet"
               in d.find_element(By.ID, "cluster-status").text)
    assert b.find_element(By.ID, "cluster-links-title").is_displayed() is False
    # flagged "same actor cluster as listed wallet X": X is a member, marked listed, and the links say why
    _js(b, "window.tracerApp.select(arguments[0])", world["clustered"])
    wait.until(lambda d: d.find_element(By.ID, "node-title").text == world["clustered"])
    b.find_element(By.ID, "show-cluster").click()
    wait.until(lambda d: "members" in d.find_element(By.ID, "cluster-status").text)
    members = [a.get_attribute("data-id") for a in b.find_elements(By.CSS_SELECTOR, "#cluster-list a.link")]
    assert world["clustered"] in members and world["peer_listed"] in members
    mark = _text(b, f"#cluster-list li[data-member='{world['peer_listed']}'] .listed-mark")
    assert "sanctioned: OFAC SDN" in mark
    sentences = [li.text for li in b.find_elements(By.CSS_SELECTOR, "#cluster-links > li .sentence")]
    assert sentences and all(", strength 0." in t for t in sentences), sentences
    assert any("[sanctioned: OFAC SDN]" in t for t in sentences), sentences  # the listed end of a link
    assert re.search(r"\b[1-9][0-9]* listed", _text(b, "#cluster-status"))
    assert _js(b, "return window.tracerApp.cy.getElementById(arguments[0]).hasClass('hl')", world["peer_listed"])
    _shot(b, "workspace-cluster.png")
    _js(b, "window.tracerApp.showCluster(arguments[0])", world["sybil"])
    wait.until(lambda d: "members" in d.find_element(By.ID, "cluster-status").text and
               world["sybil"] in d.find_element(By.ID, "cluster-list").get_attribute("innerHTML"))
    members = [a.get_attribute("data-id") for a in b.find_elements(By.CSS_SELECTOR, "#cluster-list a.link")]
    assert world["sybil"] in members and len(members) >= 8
    _js(b, "window.tracerApp.select(arguments[0])", subject)
    wait.until(lambda d: d.find_element(By.ID, "node-title").text == subject)
    b.find_element(By.ID, "show-exposure").click()
    wait.until(lambda d: "exposed part" in d.find_element(By.ID, "exposure-status").text)
    assert "traces to listed" in _text(b, "#exposure-share") and "USDC" in _text(b, "#exposure-list")
    _shot(b, "workspace-exposure.png", docs=True)
    _js(b, "window.tracerApp.showExposure(arguments[0])", listed)  # a listed wallet's own exposure says it first
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#exposure-list > li.listed-self"))
    st = open_store(world["db"])
    own = q.listings(st, [listed])[listed]
    st.close()
    assert own.startswith("sanctioned: ") and _text(b, "#exposure-list > li.listed-self").endswith(f" is itself {own}")
    b.find_element(By.CSS_SELECTOR, ".view-tab[data-load='timeline']").click()
    wait.until(lambda d: d.find_element(By.ID, "extra-title").text.startswith("Timeline"))
    assert "51,750" not in _text(b, "#extra-list") and "10,000 USDC" in _text(b, "#extra-list")

    # judgement and note, recorded from the page (the server runs with --allow-judgements)
    assert b.find_element(By.ID, "judge-form").is_displayed()
    b.find_element(By.CSS_SELECTOR, "input[name=verdict][value=escalate]").click()
    b.find_element(By.ID, "judge-reason").send_keys("six more payments from the SDN wallet; counsel to review")
    b.find_element(By.ID, "analyst").send_keys("J. Doe")
    b.find_element(By.ID, "judge-submit").click()
    wait.until(lambda d: "escalated by J. Doe" in d.find_element(By.ID, "judgement").text)
    assert "changed since" not in _text(b, "#judgement")  # judged on the evidence as it is now
    b.find_element(By.ID, "note-text").send_keys("Asked the exchange for KYC, ref 2026-114")
    b.find_element(By.ID, "note-submit").click()
    wait.until(lambda d: "KYC, ref 2026-114" in d.find_element(By.ID, "notes").text)
    stored = _get(server, "/api/judgements?subject=" + subject)
    assert stored["judgement"]["verdict"] == "escalated" and stored["judgement"]["analyst"] == "J. Doe"
    assert [n["text"] for n in stored["notes"]] == ["Asked the exchange for KYC, ref 2026-114"]
    b.find_element(By.ID, "tab-subject").click()
    _shot(b, "workspace-judgement.png", docs=True)

    # export the case file: self-contained HTML with the flag, sentences, judgement, note and graph
    b.find_element(By.ID, "export-case").click()
    wait.until(lambda d: _js(d, "return window.tracerApp.lastCase !== null"))
    case = _js(b, "return window.tracerApp.lastCase")
    html = case["html"]
    assert case["filename"].startswith("case-") and case["filename"].endswith(".html")
    assert subject in html and "escalated" in html and "KYC, ref 2026-114" in html and "<svg" in html
    assert total in html and "raw payload sha256" in html
    assert "<script" not in html.lower() and not re.search(r"(src|href)\s*=\s*['\"]?(https?:)?//", html)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    case_file = ARTIFACTS / "case.html"
    case_file.write_text(html, encoding="utf-8")
    b.get(case_file.as_uri())
    assert b.find_element(By.TAG_NAME, "h1").text.startswith("Case file")
    _shot(b, "case-file.png", docs=True)

    errors = [e for e in b.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


def test_read_only_server_hides_the_judge_form(world: dict[str, Any], browser: Any, tmp_path: Path) -> None:
    """Without --allow-judgements the page says how to record judgements instead of offering a form."""
    loop = asyncio.new_event_loop()
    runner, base = loop.run_until_complete(start(world["db"], "127.0.0.1", 0, None, False))
    t = threading.Thread(target=loop.run_forever, daemon=True)
    t.start()
    try:
        b = browser
        b.get(base + "/")
        WebDriverWait(b, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#flag-list li")) > 0)
        _js(b, "window.tracerApp.select(arguments[0])", world["subject"])
        WebDriverWait(b, 30).until(lambda d: d.find_element(By.ID, "judge-readonly").is_displayed())
        assert not b.find_element(By.ID, "judge-form").is_displayed()
        assert not b.find_element(By.ID, "note-form").is_displayed()
        assert "--allow-judgements" in _text(b, "#judge-readonly")
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        t.join(10)
