"""Bounded answers (issue 17): a body past ``limits.max_body_bytes`` is refused while it streams, a
body that does not parse is downloaded at most ``limits.parse_tries`` times, a redirect loop is one
line.  Against a real loopback aiohttp server that counts requests and the bytes it managed to send.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web
from faultserver import FaultServer, ThreadedApp, run_cli, write_config

from connectors.http import HostLimits, HttpClient, HttpError, open_session

MB = 1 << 20
CHUNK = b"[" + b"1," * (32 * 1024 - 1) + b"1"  # 64 KB of a JSON list that never closes


class BodyServer(ThreadedApp):
    """Serves huge streamed bodies, invalid bodies and a redirect loop; records what it sent."""

    def __init__(self) -> None:
        self.requests: dict[str, int] = {}
        self.sent: dict[str, int] = {}  # bytes written per path (last request)
        self.outcome: dict[str, str] = {}  # "complete" or the error that stopped the writes
        self.done = threading.Event()
        super().__init__()

    async def _stream(self, request: web.Request, total: int, declare: bool) -> web.StreamResponse:
        path = request.path
        headers = {"Content-Length": str(total)} if declare else {}
        resp = web.StreamResponse(headers=headers)
        self.sent[path], self.outcome[path] = 0, "running"
        try:
            await resp.prepare(request)
            while self.sent[path] < total:
                piece = CHUNK[: total - self.sent[path]]
                await resp.write(piece)
                self.sent[path] += len(piece)
            await resp.write_eof()
            self.outcome[path] = "complete"
        except (ConnectionError, asyncio.CancelledError) as e:
            self.outcome[path] = type(e).__name__
            if isinstance(e, asyncio.CancelledError):
                raise
        finally:
            self.done.set()
        return resp

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.requests[path] = self.requests.get(path, 0) + 1
        kind, _, arg = path.strip("/").partition("/")
        if kind == "stream":  # /stream/<MB>: chunked, no Content-Length
            return await self._stream(request, int(arg) * MB, declare=False)
        if kind == "declared":  # /declared/<MB>: with Content-Length
            return await self._stream(request, int(arg) * MB, declare=True)
        if kind == "invalid":  # /invalid/<MB>: a whole answer that is not JSON
            return web.Response(body=b"<html>" + b"x" * (int(arg) * MB) + b"</html>")
        if kind == "loop":
            raise web.HTTPFound(request.path)
        return web.Response(body=b"[1, 2, 3]")


@pytest.fixture
def body_server() -> Iterator[BodyServer]:
    srv = BodyServer()
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def _get(url: str, limits: HostLimits, parse_json: bool = True) -> tuple[bytes | None, str | None, int]:
    """(body or None, the error line or None, peak bytes allocated while the request ran)."""

    async def go() -> bytes:
        async with open_session() as s:
            http = HttpClient(s, default_limits=limits)
            return (await http.request("GET", url, parse_json=parse_json)).body

    tracemalloc.start()
    try:
        body, err = asyncio.run(go()), None
    except HttpError as e:
        body, err = None, str(e)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return body, err, peak


def _limits(**kw: int) -> HostLimits:
    """Fast backoff (the tests count requests, they do not wait for them)."""
    return HostLimits(backoff_base=0.001, backoff_max=0.01, timeout=20.0, **kw)


def test_a_body_past_the_cap_stops_the_read(body_server: BodyServer) -> None:
    """50 MB streamed (no Content-Length) against a 1 MB cap: one request, one line, the client
    drops the connection after about the cap (the server cannot send the rest) and never holds
    the body in memory."""
    url = f"{body_server.base}/stream/50"
    body, err, peak = _get(url, _limits(max_body_bytes=MB), parse_json=False)
    assert body is None and err is not None
    assert "\n" not in err
    assert err == f"GET {url}: the answer is larger than 1 MB (limits.max_body_bytes = {MB}); stopped reading"
    assert body_server.requests == {"/stream/50": 1}  # refused for good, not retried
    assert body_server.done.wait(10)
    assert body_server.outcome["/stream/50"] != "complete"  # the server saw the connection go
    assert body_server.sent["/stream/50"] < 16 * MB  # the cap plus socket buffers, not 50 MB
    assert peak < 12 * MB, peak  # the old client buffered all 50 MB


def test_a_declared_length_past_the_cap_is_refused_before_reading(body_server: BodyServer) -> None:
    url = f"{body_server.base}/declared/50"
    body, err, peak = _get(url, _limits(max_body_bytes=2 * MB))
    assert err == (f"GET {url}: the answer is larger than 2 MB (limits.max_body_bytes = {2 * MB}): "
                   f"Content-Length {50 * MB}")
    assert body_server.requests == {"/declared/50": 1}
    assert body_server.done.wait(10)
    assert body_server.outcome["/declared/50"] != "complete"
    assert peak < 12 * MB, peak


def test_the_default_cap_is_32_mb(body_server: BodyServer) -> None:
    """The audit's case: a 50 MB page with no configured cap was accepted (peak 113 -> 371 MB)."""
    url = f"{body_server.base}/stream/50"
    body, err, peak = _get(url, _limits(), parse_json=False)
    assert body is None, f"a {len(body)}-byte body was accepted; peak {peak / MB:.0f} MB"
    assert err is not None and err.endswith(f"larger than 32 MB (limits.max_body_bytes = {32 * MB}); stopped reading")
    assert body_server.requests == {"/stream/50": 1}
    assert body_server.sent["/stream/50"] < 48 * MB
    assert peak < 40 * MB  # the chunks up to the cap, never the joined body
    assert HostLimits().max_body_bytes == 32 * MB


def test_a_body_under_the_cap_is_read_whole(body_server: BodyServer) -> None:
    body, err, _ = _get(f"{body_server.base}/stream/3", _limits(max_body_bytes=4 * MB), parse_json=False)
    assert err is None and body is not None and len(body) == 3 * MB
    body, err, _ = _get(f"{body_server.base}/declared/2", _limits(max_body_bytes=2 * MB),
                        parse_json=False)
    assert err is None and body is not None and len(body) == 2 * MB  # exactly the cap is allowed


def test_an_invalid_body_is_downloaded_a_bounded_number_of_times(body_server: BodyServer) -> None:
    """The audit saw a 50 MB invalid body downloaded 7 times (1 + max_retries)."""
    url = f"{body_server.base}/invalid/5"
    _, err, _ = _get(url, _limits(max_retries=6))
    assert err is not None and "\n" not in err
    assert err.startswith(f"GET {url}: the answer is not valid JSON in 3 download(s) (limits.parse_tries = 3): "
                          "invalid or truncated JSON (")
    assert body_server.requests == {"/invalid/5": 3}
    body_server.requests.clear()
    _, err, _ = _get(url, _limits(max_retries=6, parse_tries=1))
    assert err is not None and "in 1 download(s)" in err
    assert body_server.requests == {"/invalid/5": 1}


def test_a_redirect_loop_is_one_clear_line(body_server: BodyServer) -> None:
    url = f"{body_server.base}/loop"
    _, err, _ = _get(url, _limits())
    assert err == f"GET {url}: redirect loop at {url} after 10 redirects"
    assert body_server.requests == {"/loop": 10}  # not retried


@pytest.mark.parametrize("key", ["max_body_bytes", "parse_tries"])
@pytest.mark.parametrize("value", [0, -1, 1.5, "big", True])
def test_bad_caps_are_config_errors(key: str, value: object) -> None:
    from connectors.base import ConfigError

    with pytest.raises(ConfigError, match=f"limits.{key} must be"):
        HostLimits.from_config({key: value})


def test_sync_past_the_cap_and_with_an_invalid_body_exit_1_with_one_line(tmp_path: Path) -> None:
    """Through `tracer sync`: the configured cap and the bounded re-downloads, one line each."""
    srv = FaultServer(files={"sanctioned_addresses_ETH.json": b'["0x' + b"ab" * (2 * MB) + b'"]',
                             "sanctioned_addresses_XBT.json": b"<html>proxy error</html>"})
    srv.start()
    try:
        for asset, limits, expect, requests in [
            ("ETH", {"max_body_bytes": MB}, f"larger than 1 MB (limits.max_body_bytes = {MB})", 1),
            ("XBT", {"max_retries": 6, "parse_tries": 2}, "not valid JSON in 2 download(s)", 2),
        ]:
            srv.reset()
            cfg = write_config(tmp_path / "tracer.toml", srv.base + "/lists/", assets=[asset], format="json",
                               limits={"backoff_base": 0.001, **limits})
            r = run_cli(["--config", str(cfg), "--db", str(tmp_path / "t.db"), "-q", "sync", "ofac_addresses"])
            assert r.returncode == 1, r.stderr
            [line] = r.stderr.splitlines()
            assert line.startswith("error: ofac_addresses.addresses: GET http://127.0.0.1:") and expect in line, line
            assert f"sanctioned_addresses_{asset}.json" in line
            assert "Traceback" not in r.stderr
            assert len(srv.log) == requests, srv.log
    finally:
        with contextlib.suppress(Exception):
            srv.stop()
