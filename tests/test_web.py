"""The graph page in headless Chromium: search, draw, flags and evidence, expand, follow a payment.

Needs Debian's ``chromium`` and ``chromium-driver`` (CI installs them in .ci/run); skipped with a
reason otherwise.  The screenshot lands in the test's tmp dir and its path is printed.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from investigate_support import IDS, TX, build_world

from tracer.server import start

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')")
if not (Path(CHROMIUM).exists() and Path(DRIVER).exists()):
    pytest.skip("Debian chromium + chromium-driver not installed (apt-get install -y chromium chromium-driver)",
                allow_module_level=True)

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

TOKEN = "web-test-token-0123456789"


def _serve(tmp_path: Path, host: str = "127.0.0.1", token: str | None = None) -> Iterator[str]:
    """The real server on an ephemeral loopback port, in its own thread and event loop."""
    db = tmp_path / "web.db"
    build_world(db).close()
    loop = asyncio.new_event_loop()
    ready: dict[str, Any] = {}
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        ready["runner"], ready["base"] = loop.run_until_complete(start(db, host, 0, token))
        started.set()
        loop.run_forever()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert started.wait(20)
    yield ready["base"]
    asyncio.run_coroutine_threadsafe(ready["runner"].cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    t.join(10)


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[str]:
    yield from _serve(tmp_path)


@pytest.fixture()
def token_server(tmp_path: Path) -> Iterator[str]:
    yield from _serve(tmp_path, "127.0.0.2", TOKEN)


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[Any]:
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,900", f"--user-data-dir={tmp_path / 'chrome'}"):
        opts.add_argument(flag)
    d = webdriver.Chrome(service=Service(DRIVER), options=opts)
    d.set_page_load_timeout(30)
    yield d
    d.quit()


def test_search_draw_expand_and_follow_payment(server: str, browser: Any, tmp_path: Path) -> None:
    b = browser
    wait = WebDriverWait(b, 20)
    b.get(server + "/")
    assert b.execute_script("return typeof cytoscape") == "function"  # vendored library loaded locally
    funder = IDS["F"].split(":")[2]
    b.find_element(By.ID, "search").send_keys(funder)
    b.find_element(By.ID, "go").click()

    # one hit -> its neighbourhood is drawn and its flag and evidence are beside it
    wait.until(lambda d: d.execute_script("return window.tracerApp.cy.nodes().length") >= 4)
    drawn = set(b.execute_script("return window.tracerApp.cy.nodes().map(n => n.id())"))
    assert {IDS["F"], IDS["A"], IDS["X"], IDS["F2"]} <= drawn and IDS["L"] not in drawn
    wait.until(lambda d: d.find_element(By.ID, "node-title").text == IDS["F"])
    assert "medium" in b.find_element(By.ID, "flag").text
    assert "exposure" in b.find_element(By.ID, "evidence").text
    assert b.execute_script(f"return window.tracerApp.cy.getElementById('{IDS['X']}').data('hub')").startswith("exchange")
    assert b.execute_script(f"return window.tracerApp.cy.getElementById('{IDS['A']}').data('listed')") == (
        "sanctioned: OFAC SDN, entry entity:ofac:41234 (Kowloon Compute Ltd)")  # the entry named too

    # select the listed renter: severe flag and its two pieces of evidence
    b.execute_script(f"window.tracerApp.cy.getElementById('{IDS['A']}').emit('tap')")
    wait.until(lambda d: d.find_element(By.ID, "node-title").text == IDS["A"])
    wait.until(lambda d: "severe" in d.find_element(By.ID, "flag").text)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#evidence > li")) == 2)
    ev = b.find_elements(By.CSS_SELECTOR, "#evidence > li")  # one sentence per piece of evidence, its facts below
    assert [e.get_attribute("data-rule") for e in ev] == ["listed_wallet", "gpu_class"]
    assert ev[0].text.startswith("wallet is on the OFAC SDN list (ETH)") and "raw payload sha256" in ev[0].text
    assert "sanctioned = OFAC SDN" in b.find_element(By.ID, "observations").text

    # its funding tree: the funder one hop back, the exchange named as a hub two hops back
    b.find_element(By.ID, "funding").click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#extra-list li")) == 3)
    funding = [li.text for li in b.find_elements(By.CSS_SELECTOR, "#extra-list li")]
    assert funding[0].startswith("hop 1: fresh funder paid") and "2,500 USDC" in funding[0]
    assert any("BigExchange hot wallet" in f and "hub: exchange" in f for f in funding)
    b.find_element(By.ID, "timeline").click()
    wait.until(lambda d: d.find_element(By.ID, "extra-title").text.startswith("Timeline"))
    assert "sanctioned OFAC SDN" in b.find_element(By.ID, "extra-list").text

    # expand it: its lease and the payout wallet it paid appear
    b.find_element(By.ID, "expand").click()
    wait.until(lambda d: d.execute_script(f"return window.tracerApp.cy.getElementById('{IDS['L']}').nonempty()"))
    assert b.execute_script(f"return window.tracerApp.cy.getElementById('{IDS['W']}').nonempty()")
    assert b.execute_script("return window.tracerApp.cy.getElementById('e:aw').nonempty()")

    # follow the payment to its transaction
    b.execute_script("window.tracerApp.cy.getElementById('e:aw').emit('tap')")
    wait.until(lambda d: d.find_element(By.ID, "edge-panel").is_displayed())
    fields = b.find_element(By.ID, "edge-fields").text
    assert "1,234.5 USDC" in fields and "1234500000 (asset USDC, decimals 6)" in fields and TX in fields
    b.find_element(By.ID, "open-tx").click()
    wait.until(lambda d: d.find_element(By.ID, "tx-panel").is_displayed())
    assert TX in b.find_element(By.ID, "tx").text
    tx_edges = [li.text for li in b.find_elements(By.CSS_SELECTOR, "#tx-edges li")]
    assert len(tx_edges) == 2 and "1,234.5 USDC" in tx_edges[0] and "0.5 USDC" in tx_edges[1]
    assert "http://127.0.0.1/test/case.json" in b.find_element(By.ID, "provenance").text

    errors = [e for e in b.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    shot = tmp_path / "tracer-web.png"
    b.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")


def test_unknown_search_and_bad_id_show_a_message(server: str, browser: Any) -> None:
    b = browser
    b.get(server + "/?q=nothing-like-this")
    WebDriverWait(b, 20).until(lambda d: "nothing found" in d.find_element(By.ID, "results").text)
    b.execute_script("window.tracerApp.load(\"wallet:evm:0x1' OR 1=1\")")
    WebDriverWait(b, 20).until(lambda d: "not a tracer id" in d.find_element(By.ID, "status").text)


def test_page_sends_the_token_from_the_url_fragment(token_server: str, browser: Any) -> None:
    b = browser
    b.get(token_server + "/?q=kowloon")
    WebDriverWait(b, 20).until(lambda d: "token" in d.find_element(By.ID, "status").text)
    b.get(token_server + "/?q=kowloon#token=" + TOKEN)
    # the one hit opens at once (the results pane is then hidden): read the list's text, shown or not
    WebDriverWait(b, 20).until(lambda d: IDS["E"] in d.find_element(By.ID, "results").get_attribute("textContent"))
    assert "token" not in b.current_url
