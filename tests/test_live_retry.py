"""Why a stream retries (issue 15, operators' live view): the HTTP client tells each retry's reason
and wait, the pipeline puts it on the stream's result, and the live view shows it: in a log, on the
"retrying" lines; on a terminal, in the stream's row while it waits.  Once the stream moves on or
ends, the row shows its progress or outcome and only the count of retries stays.

Every peer is a loopback aiohttp server answering a scripted sequence of failures (503, 429 with
Retry-After, a held answer past the client's timeout) before the real OFAC demo list, or a
loopback port nobody listens on.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from click.testing import CliRunner
from faultserver import ThreadedApp

from connectors.http import HostLimits, HttpClient, HttpError, open_session
from tracer.cli import main
from tracer.live import LiveView
from tracer.pipeline import Progress, StreamResult, sync
from tracer.store import Store
from tracer.world.ofac import demo_files

KEY = "0123456789abcdef0123456789abcdef"
STREAM = "ofac_addresses.addresses"
# One answer the server gives before the real file: a status with headers, or "hold" (past the timeout).
Answer = tuple[int, dict[str, str]] | str
S503: Answer = (503, {})
HOLD: Answer = "hold"


def r429(after: str) -> Answer:
    return (429, {"Retry-After": after})


class ScriptedServer(ThreadedApp):
    """Serves the OFAC demo files at any path ending in their name; each request first takes the next
    scripted answer (while any are left), then the file.  ``log``: (path, what was answered)."""

    def __init__(self) -> None:
        super().__init__()
        self.files = demo_files()
        self.script: list[Answer] = []
        self.log: list[tuple[str, str]] = []

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        name = request.path.rsplit("/", 1)[-1]
        answer = self.script.pop(0) if self.script else None
        self.log.append((request.path, str(answer[0] if isinstance(answer, tuple) else answer or "ok")))
        if answer == HOLD:
            await asyncio.sleep(5)  # the client gave up long before; handler cancellation ends this
        if isinstance(answer, tuple):
            status, headers = answer
            return web.Response(status=status, text="try later", headers=headers)
        body = self.files.get(name)
        return web.Response(body=body) if body is not None else web.Response(status=404)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer()
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def _limits(**over: Any) -> dict[str, Any]:
    return {"rate": 0, "max_retries": 6, "backoff_base": 0.001, "backoff_max": 0.01, "timeout": 0.3, **over}


def _ofac(base: str, assets: list[str], **limits: Any) -> dict[str, Any]:
    return {"base_url": f"{base}/v3/{KEY}/", "assets": assets, "format": "txt", "limits": _limits(**limits)}


def _toml(path: Path, ofac: dict[str, Any]) -> Path:
    lines = ["[connectors.ofac_addresses]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in ofac.items() if k != "limits"]
    lines.append("[connectors.ofac_addresses.limits]")
    lines += [f"{k} = {json.dumps(v)}" for k, v in ofac["limits"].items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _sync_cli(tmp_path: Path, ofac: dict[str, Any]) -> Any:
    cfg = _toml(tmp_path / "t.toml", ofac)
    return CliRunner().invoke(main, ["--config", str(cfg), "--db", str(tmp_path / "t.db"), "sync", "ofac_addresses",
                                     "--json"])


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the client's hook ----------------------------------------------------------------------------

def test_the_client_tells_each_retry_with_its_reason_redacted_url_and_wait(server: ScriptedServer) -> None:
    server.script = [S503, HOLD, r429("0.3")]
    seen: list[tuple[str, int, str, float]] = []

    async def go() -> Any:
        async with open_session() as session:
            http = HttpClient(session, default_limits=HostLimits(**_limits()),
                              on_retry=lambda *a: seen.append(a))
            return await http.get_bytes(f"{server.base}/v3/{KEY}/sanctioned_addresses_ETH.txt?apikey=SECRET42")

    resp = asyncio.run(go())
    assert resp.body == demo_files()["sanctioned_addresses_ETH.txt"]
    assert [(a, why) for _, a, why, _ in seen] == [
        (1, "HTTP 503 Service Unavailable"), (2, "timeout after 0.3s"),
        (3, "HTTP 429 Too Many Requests, Retry-After 0.3")]
    for url, *_ in seen:
        assert url == f"{server.base}/v3/***/sanctioned_addresses_ETH.txt?apikey=***"
    waits = [w for *_, w in seen]
    assert all(0 <= w <= 0.01 for w in waits[:2]), waits  # backoff_max
    assert 0.29 <= waits[2] <= 0.3, waits  # the server's Retry-After, not the backoff
    assert [o for _, o in server.log] == ["503", "hold", "429", "ok"]


def test_a_request_that_gives_up_is_not_told_as_a_retry(server: ScriptedServer) -> None:
    """The hook sees the retries only: the last failure is the error, not a retry still to come."""
    server.script = [S503] * 5
    seen: list[int] = []

    async def go() -> None:
        async with open_session() as session:
            http = HttpClient(session, default_limits=HostLimits(**_limits(max_retries=2)),
                              on_retry=lambda url, attempt, why, wait: seen.append(attempt))
            await http.get_bytes(f"{server.base}/x/sanctioned_addresses_ETH.txt")

    with pytest.raises(HttpError, match=r"failed after 3 attempts: HTTP 503 Service Unavailable$"):
        asyncio.run(go())
    assert seen == [1, 2] and len(server.log) == 3


# -- plain lines (a log) ---------------------------------------------------------------------------

def test_sync_log_says_why_each_retry_and_ends_ok_with_the_count(tmp_path: Path, server: ScriptedServer) -> None:
    server.script = [S503, HOLD, S503, r429("0.3")]
    r = _sync_cli(tmp_path, _ofac(server.base, ["ETH"]))
    assert r.exit_code == 0, r.output
    [row] = json.loads(r.stdout)
    assert row["status"] == "ok" and row["records"] > 0
    lines = r.stderr.splitlines()
    assert KEY not in r.stderr
    # Retries 1, 2 and 4 are told (powers of two), each with the reason of that retry and its wait.
    assert [ln for ln in lines if " retrying: " in ln] == [
        f"{STREAM} retrying: 1 retry so far; latest: HTTP 503 Service Unavailable, next in 0.0s",
        f"{STREAM} retrying: 2 retries so far; latest: timeout after 0.3s, next in 0.0s",
        f"{STREAM} retrying: 4 retries so far; latest: HTTP 429 Too Many Requests, Retry-After 0.3, next in 0.3s"]
    ended = lines[-1]
    assert re.fullmatch(rf"{re.escape(STREAM)} ok: progress 1/1, {row['records']:,} records, 4 retries, \d+\.\ds",
                        ended), ended
    assert [o for _, o in server.log] == ["503", "hold", "503", "429", "ok"]


def test_sync_log_of_a_refused_connection_says_so_then_fails_with_the_error(tmp_path: Path) -> None:
    port = closed_port()
    r = _sync_cli(tmp_path, _ofac(f"http://127.0.0.1:{port}", ["ETH"]))
    assert r.exit_code == 1, r.output
    lines = r.stderr.splitlines()
    assert [ln for ln in lines if " retrying: " in ln] == [
        f"{STREAM} retrying: 1 retry so far; latest: connection refused by 127.0.0.1:{port}, next in 0.0s"]
    [ended] = [ln for ln in lines if ln.startswith(f"{STREAM} failed: ")]
    assert ended.endswith(f"1 retry, {ended.split(', ')[-1].split(';')[0]}; error: GET http://127.0.0.1:{port}"
                          f"/v3/***/sanctioned_addresses_ETH.txt: connection refused by 127.0.0.1:{port}"), ended


# -- the terminal table ----------------------------------------------------------------------------

def _plain(renderable: Any, width: int = 200) -> str:
    from rich.console import Console

    out = io.StringIO()
    Console(file=out, width=width, color_system=None, force_terminal=False).print(renderable)
    return out.getvalue()


def _row(view: LiveView, stream: str = STREAM) -> str:
    [line] = [ln for ln in _plain(view.render()).splitlines() if ln.startswith(stream + " ")]
    return " ".join(line.split())


class Frames(LiveView):
    """The live view, with the stream's row rendered at each retry and each progress report (what a
    terminal redrawing then would show)."""

    def __init__(self) -> None:
        super().__init__(console=None)
        self.at_retry: list[str] = []
        self.at_progress: list[str] = []

    def started(self, res: StreamResult) -> Progress:
        update = super().started(res)

        def spy(advance: int, total: int | None, note: str) -> None:
            update(advance, total, note)
            self.at_progress.append(_row(self, res.stream))

        return spy

    def retried(self, res: StreamResult) -> None:
        super().retried(res)
        self.at_retry.append(_row(self, res.stream))


def test_table_row_shows_the_retry_reason_while_waiting_and_the_count_after(
        tmp_path: Path, server: ScriptedServer) -> None:
    # ETH: a 503 then a 429 asking for 0.3 s; XBT (the next list, same stream) loads at once.
    server.script = [S503, r429("0.3")]
    view = Frames()
    store = Store(tmp_path / "t.db")
    try:
        res = asyncio.run(sync(store, {"connectors": {"ofac_addresses": _ofac(server.base, ["ETH", "XBT"])}},
                               ["ofac_addresses"], watch=view))
    finally:
        store.close()
    assert res.status == "ok"
    first, second = view.at_retry
    # the status column says retrying until the next page arrives
    assert re.fullmatch(rf"{re.escape(STREAM)} retrying 0 0 1 \d+\.\ds "
                        r"retrying \(1\): HTTP 503 Service Unavailable, (next in 0\.0s|trying again)", first), first
    assert re.fullmatch(rf"{re.escape(STREAM)} retrying 0 0 2 \d+\.\ds retrying \(2\): "
                        r"HTTP 429 Too Many Requests, Retry-After 0\.3, next in 0\.[23]s", second), second
    # The page that came after the wait replaces the reason: the stream is moving again.
    assert any(f.split()[1] == "running" for f in view.at_progress), view.at_progress
    assert all("retrying" not in f and "HTTP" not in f for f in view.at_progress), view.at_progress
    assert all(f.split()[4] == "2" for f in view.at_progress)  # the count stays
    [s] = res.streams
    final = _row(view)
    assert re.fullmatch(rf"{re.escape(STREAM)} ok 2/2 {s.records:,} 2 \d+\.\ds", final), final


def _hand_view() -> tuple[LiveView, StreamResult, Progress]:
    view = LiveView(console=None)
    view.planned([STREAM])
    res = StreamResult(STREAM)
    return view, res, view.started(res)


def _retry(view: LiveView, res: StreamResult, reason: str, wait: float) -> None:
    res.retries += 1
    res.retry_reason, res.retry_wait = reason, wait
    view.retried(res)


def test_row_counts_down_to_the_next_try_then_shows_progress_again() -> None:
    view, res, update = _hand_view()
    update(0, None, "ETH list")
    assert _row(view).endswith(" ETH list")
    _retry(view, res, "HTTP 503 Service Unavailable\nsecond line of a body", 30.0)
    row = _row(view)
    assert re.search(r" retrying \(1\): HTTP 503 Service Unavailable, next in (30\.0|29\.\d)s$", row), row
    assert row.split()[1] == "retrying", row  # the status column too, while the wait lasts
    update(0, None, "ETH list")  # another task's page during the wait: still retrying
    assert "retrying (1)" in _row(view)
    _retry(view, res, "timeout after 30s", 0.0)
    assert _row(view).endswith(" retrying (2): timeout after 30s, trying again")
    update(1, None, "ETH list")  # a page after the wait: moving again
    assert re.fullmatch(rf"{re.escape(STREAM)} running 1 0 2 \d+\.\ds ETH list", _row(view)), _row(view)


@pytest.mark.parametrize("status, error, tail", [
    ("ok", None, ""),
    ("failed", "GET http://h/x failed after 2 attempts: HTTP 503 Service Unavailable",
     " GET http://h/x failed after 2 attempts: HTTP 503 Service Unavailable"),
])
def test_an_ended_row_shows_its_outcome_not_a_stale_retry(status: str, error: str | None, tail: str) -> None:
    view, res, update = _hand_view()
    _retry(view, res, "connection refused by h:1", 60.0)
    res.status, res.error = status, error
    view.ended(res)
    row = _row(view)
    assert "retrying" not in row and "refused" not in row
    assert re.fullmatch(rf"{re.escape(STREAM)} {status} 0 0 1 \d+\.\ds{re.escape(tail)}", row), row
    assert view.describe(view.rows[STREAM]).startswith(f"{STREAM} {status}: progress 0, 0 records, 1 retry, ")
