"""Fuzz every route of the HTTP API (issue 17): hostile parameters never get a 5xx or a traceback.

Routes are discovered from the aiohttp application ``tracer serve`` builds (``app.router.routes()``)
and their parameters from the OpenAPI document the server publishes, which is checked against the
parameters each handler actually reads; a route the fuzzer does not know how to reach fails
``test_every_route_is_known_and_fuzzed`` by name.  The server is the real one (``tracer.server.start``,
read-only SQLite store of ``investigate_support.build_world``) on a loopback port, run on an event
loop in a background thread so hypothesis can drive it with plain blocking requests
(``http.client``, which sends the request target byte for byte: invalid percent-encoding reaches
the server as is).

Property: the status is 200, 400, 404 or 405 (401 when a token is configured, 413/414 for oversize
requests); every non-200 answer is a JSON object whose ``error`` is one line of text, with no
traceback and no "internal error"; a 200 answer of an API route is valid JSON.
"""

from __future__ import annotations

import asyncio
import http.client
import inspect
import json
import logging
import os
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from investigate_support import IDS, build_world

from tracer import server
from tracer.store import open_store

TOKEN = "fuzz-token-0123456789abcdef"
# Per route: 14 routes x 80 examples x a few ms each keeps the file well under 60 s.  For a longer,
# randomised hunt: TRACER_FUZZ_API_EXAMPLES=2000 TRACER_FUZZ_API_RANDOM=1 pytest tests/test_fuzz_api.py
EXAMPLES = int(os.environ.get("TRACER_FUZZ_API_EXAMPLES", "80"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get("TRACER_FUZZ_API_RANDOM"),
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
ALLOWED = {200, 400, 404, 405, 413, 414}
# Routes outside the OpenAPI document (the page, its files, the document itself) and their parameters.
NON_API = {"/": (), "/static/{name}": (), "/openapi.json": ()}
METHODS = ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND")


# --- the route table, discovered from the app -------------------------------------------------------

def _app_routes() -> dict[str, set[str]]:
    """Canonical path -> methods, from the application ``tracer serve`` builds (over an empty store)."""
    store = open_store(":memory:")
    try:
        app = server.make_app(store)
        out: dict[str, set[str]] = {}
        for r in app.router.routes():
            out.setdefault(r.resource.canonical if r.resource else "?", set()).add(r.method)
        app[server.POOL_KEY].shutdown(wait=False)
        return out
    finally:
        store.close()


def _handler_params(app_handler: Any) -> set[str]:
    """The query parameters a handler reads (``_param(request, "x")``; ``_kinds`` reads ``kind``)."""
    src = inspect.getsource(app_handler)
    names = set(re.findall(r"_param\(request, \"(\w+)\"", src))
    if "_kinds(request)" in src:
        names.add("kind")
    return names


ROUTE_METHODS = _app_routes()
DOC = server.openapi_document("http://127.0.0.1")
SPEC: dict[str, list[dict[str, Any]]] = {p: op["get"]["parameters"] for p, op in DOC["paths"].items()}
PATHS = sorted(ROUTE_METHODS)


# --- the served store ---------------------------------------------------------------------------------

@dataclass
class Served:
    host: str
    port: int
    token: str | None
    app_routes: dict[str, set[str]]


class LoopServer:
    """``tracer.server.start`` on an event loop in a daemon thread (the real read-only server)."""

    def __init__(self, db: Path, token: str | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fuzz-api-loop", daemon=True)
        self.thread.start()
        self.runner, base = asyncio.run_coroutine_threadsafe(
            server.start(db, "127.0.0.1", 0, token), self.loop).result(60)
        url = urllib.parse.urlsplit(base)
        routes: dict[str, set[str]] = {}
        for r in self.runner.app.router.routes():
            routes.setdefault(r.resource.canonical if r.resource else "?", set()).add(r.method)
        self.served = Served(url.hostname or "127.0.0.1", url.port or 0, token, routes)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("fuzz-api") / "api.db"
    build_world(p).close()
    return p


@pytest.fixture(scope="module")
def srv(db: Path) -> Iterator[Served]:
    s = LoopServer(db)
    try:
        yield s.served
    finally:
        s.close()


@pytest.fixture(scope="module")
def tokened(db: Path) -> Iterator[Served]:
    s = LoopServer(db, TOKEN)
    try:
        yield s.served
    finally:
        s.close()


def request(s: Served, method: str, target: str, headers: dict[str, str] | None = None
            ) -> tuple[int, str, bytes]:
    """One request with the target sent exactly as given; (status, content type, body)."""
    conn = http.client.HTTPConnection(s.host, s.port, timeout=60)
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.endheaders()
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type", ""), r.read()
    finally:
        conn.close()


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def check(method: str, target: str, status: int, ctype: str, body: bytes, *, allowed: set[int] = ALLOWED,
          json_ok: bool = True) -> None:
    """The property: no 5xx, a known status, errors as one-line JSON, JSON 200s."""
    where = f"{method} {target[:300]} -> {status} {body[:300]!r}"
    assert status < 500, where
    assert status in allowed, where
    text = body.decode("utf-8", "replace")
    assert "Traceback" not in text and "internal error" not in text.lower(), where
    if method == "HEAD":
        return
    if status == 200:
        if json_ok:
            assert "application/json" in ctype, where
            json.loads(body, parse_constant=_no_constant)  # strict JSON: no NaN / Infinity
        return
    assert "application/json" in ctype, where
    doc = json.loads(body, parse_constant=_no_constant)
    assert isinstance(doc, dict) and isinstance(doc.get("error"), str) and doc["error"], where
    assert "\n" not in doc["error"] and "\r" not in doc["error"], where


# --- hostile values -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Raw:
    """A value already percent-encoded (sent as is: may be invalid UTF-8 or an invalid escape)."""

    text: str


GOOD_IDS = sorted(IDS.values())
ALMOST_IDS = [
    "wallet:evm:0xZZ", "wallet::", "lease:akash:", "wallet:evm:", "wallet:", ":", "::", "wallet", "provider:akash:",
    "entity:ofac:", "gpu:", "a:()", "a:#", "a:,,,", "a: ", "a:" + "b" * 299, "a:" + "b" * 300, "x:" + "y" * 400,
    IDS["A"].upper(), IDS["A"] + " ", " " + IDS["A"], IDS["A"][:-1], IDS["A"] + "\n", IDS["A"] + "\x00",
    IDS["A"].replace(":", "\uff1a"), "wallet:evm:0x" + "0" * 40, "wallet:evm:0X" + "a" * 40, "e:aw", "e:", "e:aw ",
    "e:aw\t", "lease:akash:akash1renter/42/1/1/../..", "wallet:evm:0x8589427373d6d84e98730d7795d8f6f8731fda16",
]
INTS = ["1", "2", "3", "4", "6", "50", "500", "5000", "2000", "0", "-1", "-0", "+1", " 2 ", "2\n", "1.5", "1e3", "1E2",
        "1_0", "0x10", "0o7", "0b1", "\u0663", "\uff12", "9" * 30, "-" + "9" * 30, "9" * 5000, "NaN", "inf", "-inf",
        "true", "false", "null", "[]", "{}", "1,2", "1;2", "\u00bd", "\u2167"]
HOSTILE = ["", " ", "  \t ", "\t", "\n", "\r\n", "\u00a0", "\u200b", "\u2028", "\ufeff", "\x00", "\x01", "\x7f",
           "x" * 10_000, "\u202e" + IDS["A"], "\u202ekcah", "\u05e9\u05dc\u05d5\u05dd", "e\u0301" * 200,
           "\U0001f600" * 20, "\U0001f3f3\ufe0f\u200d\U0001f308", "\ufffd", "'; DROP TABLE edges;--", "\" OR 1=1 --",
           "%", "%%", "_", "%_%", "*", "..", "../../etc/passwd", "\\", "<script>", "${jndi:x}", "a,b,,c", ",", ",,,",
           "paid", "paid,rented", "PAID", "paid) OR 1=1 --", "both", "out", "in", "up", "BOTH", "a" * 41,
           "Kowloon", "kowloon", "akash1", "0x", "ab" * 100, "ab" * 101]
RAW = ["%FF%FE", "%ff%fe%fd", "%C0%AF", "%ED%A0%80", "%F4%90%80%80", "%E2%80", "%00", "%", "%zz", "%2", "%%",
       "a%00b", "%E2%80%AE", "%F0%9F%98%80", "+", "%2B", "%20", "+%20+", "%0A", "%0D%0A", "%3D", "%26", "%23"]

ints = st.one_of(st.sampled_from(INTS), st.integers().map(str), st.floats(allow_nan=True).map(repr),
                 st.integers(min_value=-10, max_value=6000).map(str))
ids_ = st.one_of(st.sampled_from(GOOD_IDS), st.sampled_from(ALMOST_IDS),
                 st.builds(lambda k, r: f"{k}:{r}", st.sampled_from(["wallet", "provider", "lease", "entity", "gpu",
                                                                    "e", "x"]), st.text(max_size=40)))
texty = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=60), st.text(min_size=200, max_size=400),
                  st.builds(lambda a, b: a + b, st.sampled_from(HOSTILE), st.text(max_size=10)))
raws = st.one_of(st.sampled_from(RAW).map(Raw),
                 st.lists(st.sampled_from(RAW + ["a", "0x", "wallet:evm:"]), min_size=1, max_size=6)
                 .map(lambda xs: Raw("".join(xs))))
anything = st.one_of(texty, ints, ids_, raws)


def values_for(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values for one parameter: its own kind of hostile values first, then anything."""
    if schema.get("type") == "integer":
        own: st.SearchStrategy[Any] = ints
    elif "enum" in schema:
        own = st.one_of(st.sampled_from(schema["enum"]), texty)
    elif schema.get("pattern") or schema.get("maxLength") == 300:
        own = ids_
    else:
        own = texty
    return st.one_of(own, own, anything)


def good_value(name: str, schema: dict[str, Any]) -> str:
    """A valid value (so the other parameters' checks are reached)."""
    if "default" in schema:
        return str(schema["default"])
    if name == "q":
        return "Kowloon"
    if name == "to":
        return IDS["W"]
    if name == "id" and schema.get("maxLength") == 300 and not schema.get("pattern"):
        return "e:aw"
    return IDS["A"] if name != "from" else IDS["F2"]


def enc(v: Any) -> str:
    return v.text if isinstance(v, Raw) else urllib.parse.quote(str(v), safe="")


@st.composite
def queries(draw: st.DrawFn, path: str) -> str:
    """A query string for ``path``: each known parameter missing, valid, hostile or repeated; extras too."""
    pairs: list[tuple[str | Raw, Any]] = []
    for p in SPEC.get(path, []):
        name, schema = p["name"], p["schema"]
        mode = draw(st.sampled_from(["missing", "good", "good", "hostile", "hostile", "hostile", "repeated"]))
        if mode == "good":
            pairs.append((name, good_value(name, schema)))
        elif mode == "hostile":
            pairs.append((name, draw(values_for(schema))))
        elif mode == "repeated":
            pairs += [(name, draw(st.one_of(st.just(good_value(name, schema)), values_for(schema))))
                      for _ in range(draw(st.integers(2, 4)))]
    for _ in range(draw(st.integers(0, 2))):
        extra = draw(st.one_of(st.sampled_from(["x", "ID", "Id", "id[]", "q ", "", "callback", "format",
                                                "__proto__", "limit", "\u202eid", "\x00"]), st.text(max_size=12),
                               raws))
        pairs.append((extra, draw(anything)))
    draw(st.randoms(use_true_random=False)).shuffle(pairs)
    parts = [f"{k.text if isinstance(k, Raw) else enc(k)}={enc(v)}" for k, v in pairs]
    junk = draw(st.sampled_from(["", "", "", "&", "&&", "=", "&=", "&=x", "&id", "&id=", "#frag", ";x=1", "&%FF=1"]))
    q = "&".join(parts) + junk
    return f"?{q}" if q or draw(st.booleans()) else ""


def concrete(path: str, name: str = "") -> str:
    """A canonical path with its placeholders filled (``/static/{name}``)."""
    return re.sub(r"\{[^}]+\}", name or "app.css", path)


# --- tests --------------------------------------------------------------------------------------------

def test_every_route_is_known_and_fuzzed(srv: Served) -> None:
    """Every route the served app has is in the OpenAPI document or in NON_API, with the parameters its
    handler reads; a new route must be described before it is fuzzed (and so before this passes)."""
    assert srv.app_routes == ROUTE_METHODS, "the served app differs from make_app's"
    unknown = [p for p in ROUTE_METHODS if p not in SPEC and p not in NON_API]
    assert not unknown, f"routes neither in the OpenAPI document nor in NON_API (not fuzzed): {unknown}"
    missing = [p for p in SPEC if p not in ROUTE_METHODS]
    assert not missing, f"OpenAPI paths the app does not serve: {missing}"
    for path, handler in server.ROUTES:
        want = {p["name"] for p in SPEC.get(path, [])} | set(NON_API.get(path, ()))
        assert _handler_params(handler) == want, f"{path}: handler reads {_handler_params(handler)}, doc says {want}"
    for path, methods in ROUTE_METHODS.items():
        assert methods <= {"GET", "HEAD"}, f"{path} answers {methods}: add the new method to the fuzzer"


# What each route must answer at least once over its examples (derandomized, so not flaky): the fuzzer
# reaches the query itself, not only the parameter checks.
MUST_SEE = {"/api/health": {200}, "/openapi.json": {200}, "/": {200}, "/static/{name}": {200, 404}}


@pytest.mark.parametrize("path", PATHS)
def test_fuzz_route_parameters(srv: Served, path: str) -> None:
    json_ok = path in SPEC or path == "/openapi.json"
    seen: set[int] = set()

    @FUZZ
    @given(query=queries(path), name=st.one_of(st.just("app.css"), texty.map(enc), raws.map(lambda r: r.text)),
           head=st.integers(0, 9))
    def run(query: str, name: str, head: int) -> None:
        target = concrete(path, name or "x") + query
        method = "HEAD" if head == 0 else "GET"
        status, ctype, body = request(srv, method, target)
        check(method, target, status, ctype, body, json_ok=json_ok)
        seen.add(status)
        if path == "/static/{name}" and status == 200:
            assert "json" not in ctype  # a file of tracer/web, never data

    run()
    want = MUST_SEE.get(path, {200, 400})
    assert want <= seen, f"{path}: the fuzzer never got {sorted(want - seen)} (saw {sorted(seen)})"


@FUZZ
@given(path=st.sampled_from(PATHS), method=st.sampled_from(METHODS), query=st.sampled_from(["", "?id=x", "?q=a"]))
def test_fuzz_wrong_methods(srv: Served, path: str, method: str, query: str) -> None:
    target = concrete(path) + query
    status, ctype, body = request(srv, method, target)
    # a read-only server refuses to record judgements and notes with a 403 saying how to allow it
    refused = {403} if method == "POST" and path in server.WRITE_PATHS else {405}
    check(method, target, status, ctype, body, allowed=refused)


SEGMENTS = ["api", "API", "node", "nodes", "static", "openapi.json", "..", ".", "", "%2e%2e", "%2F", "%FF%FE",
            "%00", "%zz", "a;b", "~", "index.html", ".git", "vendor", "%E2%80%AE", "x" * 2000]


@FUZZ
@given(segments=st.lists(st.one_of(st.sampled_from(SEGMENTS), st.text(max_size=20).map(enc)), min_size=1,
                         max_size=5), method=st.sampled_from(["GET", "HEAD", "POST"]), query=st.sampled_from(
                             ["", "?", "?id=" + enc(IDS["A"]), "?%FF=%FE"]))
def test_fuzz_unknown_paths(srv: Served, segments: list[str], method: str, query: str) -> None:
    target = "/" + "/".join(segments) + query
    status, ctype, body = request(srv, method, target)
    check(method, target, status, ctype, body, json_ok=False)


def _field_value(text: str) -> str:
    """A header value HTTP allows (no control characters but HTAB): a malformed header is refused by the
    HTTP parser before the app runs, like an overlong request line."""
    return "".join(c for c in text if c == "\t" or not (ord(c) < 32 or ord(c) == 127))


@FUZZ
@given(path=st.sampled_from([p for p in PATHS if p.startswith("/api/")]),
       auth=st.one_of(st.none(), st.sampled_from(["", "Bearer", "Bearer ", "bearer " + TOKEN, "Bearer " + TOKEN + " ",
                                                  "Basic " + TOKEN, "Bearer " + TOKEN[:-1], "Bearer " + TOKEN + "x",
                                                  "Bearer \u00e9\u00e9", "Bearer " + "x" * 6_000,
                                                  "Bearer \u2603" + TOKEN, " Bearer " + TOKEN + "\t"]),
                      st.text(max_size=40).map(lambda t: "Bearer " + _field_value(t))))
def test_fuzz_token_header(tokened: Served, path: str, auth: str | None) -> None:
    """With a token configured, every API route without the exact token is a JSON 401.  Non-ASCII header
    values are sent as their Latin-1 bytes when they have one, else as UTF-8 (both reach the server)."""
    target = path + "?id=" + enc(IDS["A"])
    headers = None
    if auth is not None:
        try:
            raw = auth.encode("latin-1")
        except UnicodeEncodeError:
            raw = auth.encode("utf-8")
        headers = {"Authorization": raw.decode("latin-1")}
    status, ctype, body = request(tokened, "GET", target, headers)
    check("GET", target, status, ctype, body, allowed=ALLOWED | {401})
    right = auth is not None and auth.strip(" \t") == f"Bearer {TOKEN}"  # HTTP trims whitespace around values
    assert (status != 401) == right, (auth, status)


def test_token_lets_the_right_request_through(tokened: Served) -> None:
    status, ctype, body = request(tokened, "GET", "/api/node?id=" + enc(IDS["A"]),
                                  {"Authorization": f"Bearer {TOKEN}"})
    check("GET", "/api/node", status, ctype, body)
    assert status == 200 and json.loads(body)["id"] == IDS["A"]


# --- regressions the fuzzer found -----------------------------------------------------------------------

def test_regression_10k_char_parameter_is_a_json_400(srv: Served) -> None:
    """Found by the fuzzer: a 10,000-character value made the request line longer than aiohttp's default
    8,190 bytes, so the HTTP parser answered a plain-text 400 echoing the URL (and logged a traceback)
    before the API could say what was wrong.  The server now reads request lines up to
    ``server.MAX_REQUEST_LINE`` and the API answers as for any other bad value."""
    target = f"/api/cluster?id={enc(IDS['A'])}&max_size=500&max_size=" + "x" * 10_000
    status, ctype, body = request(srv, "GET", target)
    check("GET", target, status, ctype, body)
    assert status == 400 and "once" in json.loads(body)["error"]
    target = "/api/find?q=" + enc("\U0001f600" * 2_500)  # 10,000 bytes of UTF-8, 30,000 percent-encoded
    status, ctype, body = request(srv, "GET", target)
    check("GET", target, status, ctype, body)
    assert status == 400 and "200 characters" in json.loads(body)["error"]


def test_request_line_beyond_the_limit_is_a_short_400(srv: Served) -> None:
    """Past ``MAX_REQUEST_LINE`` the HTTP layer refuses the request before the app sees it: a 400, with
    no traceback and no echo of the whole URL."""
    target = "/api/find?q=" + "x" * (server.MAX_REQUEST_LINE + 10)
    status, _, body = request(srv, "GET", target)
    assert status == 400 and b"Traceback" not in body and len(body) < 1_000


def test_regression_non_utf8_token_is_a_401(tokened: Served) -> None:
    """Found by the fuzzer: ``Authorization: Bearer \xe9\xe9`` (Latin-1 bytes, not UTF-8) reached the
    token check as surrogate escapes, ``str.encode`` raised, and the answer was a 500."""
    for raw in ("Bearer \u00e9\u00e9", "Bearer \u00ff" + TOKEN):
        status, ctype, body = request(tokened, "GET", "/api/health", {"Authorization": raw})
        check("GET", "/api/health", status, ctype, body, allowed={401})
        assert "token" in json.loads(body)["error"]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("name", ["x" * 10_000, "a/" * 3_000 + "b", "x" * 256 + ".css"])
def test_regression_overlong_static_name_is_a_404(srv: Served, method: str, name: str) -> None:
    """Found by the fuzzer: ``/static/`` + 10,000 characters made ``Path.is_file`` raise ENAMETOOLONG
    (it swallows only "no such file" errors), so the page's file route answered a 500."""
    target = "/static/" + name
    status, ctype, body = request(srv, method, target)
    check(method, target, status, ctype, body, allowed={404})


# --- the server log: one line per refused request, no traceback ----------------------------------------

REFUSED = [
    b"GET /api/find?q=\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",  # non-UTF-8 bytes in the request line
    b"BLAH\x00 /api/health HTTP/1.1\r\nHost: x\r\n\r\n",  # a bad method (first request on the connection)
    b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n",  # an overlong header
    b"GET /" + b"x" * (server.MAX_REQUEST_LINE + 10) + b" HTTP/1.1\r\nHost: x\r\n\r\n",  # overlong request line
    b"GET /api/health HTTP/1.1\r\nHost: x\r\n\xff\xfe: v\r\n\r\n",  # a header name that is not a token
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(32)) + b"\r\n\r\n",  # TLS on the HTTP port
]


class _Captured(logging.Handler):
    """Every log record (as the CLI formats it: ``LEVEL name: message`` + traceback) while attached."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines += self.format(record).splitlines()


@pytest.fixture
def server_log() -> Iterator[_Captured]:
    root = logging.getLogger()
    h, level = _Captured(), root.level
    root.addHandler(h)
    root.setLevel(logging.WARNING)  # what `tracer serve` logs without -v
    try:
        yield h
    finally:
        root.removeHandler(h)
        root.setLevel(level)


def _raw(s: Served, data: bytes) -> bytes:
    """Send ``data`` as is on a fresh connection; the answer (the server closes after a refusal)."""
    with socket.create_connection((s.host, s.port), timeout=30) as c:
        c.sendall(data)
        out = b""
        while chunk := c.recv(65536):
            out += chunk
    return out


def _settled(log: _Captured, n: int) -> list[str]:
    """The captured lines once ``n`` refusals were logged (the server logs after answering)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and sum("refused request" in x for x in log.lines) < n:
        time.sleep(0.02)
    time.sleep(0.1)
    return list(log.lines)


@pytest.mark.parametrize("data", REFUSED, ids=["non-utf8-target", "bad-method", "long-header", "long-line",
                                                "bad-header-name", "tls"])
def test_a_refused_request_is_one_log_line_without_traceback(srv: Served, server_log: _Captured,
                                                             data: bytes) -> None:
    """aiohttp's HTTP parser refuses these before the app sees them; it used to log
    ``ERROR aiohttp.server: Error handling request from 127.0.0.1`` and the parser's traceback
    (10-15 lines), and a bad method on a connection's first request not at all (debug)."""
    answer = _raw(srv, data)
    assert answer.startswith(b"HTTP/1.") and b" 400 " in answer.split(b"\r\n", 1)[0]
    lines = _settled(server_log, 1)
    assert len(lines) == 1, lines
    assert lines[0].startswith("WARNING aiohttp.server: refused request from 127.0.0.1: 400 Bad Request (")
    assert "Traceback" not in lines[0] and len(lines[0]) < 300 and lines[0].isascii()


def test_a_good_request_logs_nothing_and_refusals_on_one_server_stay_one_line_each(
        srv: Served, server_log: _Captured) -> None:
    assert request(srv, "GET", "/api/health")[0] == 200
    for data in REFUSED:
        _raw(srv, data)
    lines = _settled(server_log, len(REFUSED))
    assert len(lines) == len(REFUSED) and all("refused request from 127.0.0.1: 400" in x for x in lines), lines


def test_a_real_internal_error_keeps_its_traceback(server_log: _Captured) -> None:
    """Only the parser's refusals are shortened: any other exception aiohttp logs (an unhandled error in
    the server itself) still comes with its traceback, at ERROR."""
    log = server.RefusalLog(logging.getLogger("aiohttp.server"), {})
    try:
        raise RuntimeError("boom")
    except RuntimeError as e:
        log.exception("Unhandled exception", exc_info=e)
    assert server_log.lines[0] == "ERROR aiohttp.server: Unhandled exception"
    assert "Traceback (most recent call last):" in server_log.lines and server_log.lines[-1] == "RuntimeError: boom"
