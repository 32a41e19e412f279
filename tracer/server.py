"""``tracer serve``: the investigator queries as a read-only JSON API, plus the graph web page.

The store is opened read-only (SQLite: ``mode=ro`` with ``query_only``; PostgreSQL: a read-only
session), so nothing a request does can change evidence.  The server binds 127.0.0.1 by default; bound anywhere else it refuses
to start without a token, and then every ``/api`` request must carry ``Authorization: Bearer``.
Parameters are validated by ``tracer.queries`` (ids, kinds, bounded depths): bad input is a 4xx
with a JSON ``{"error": ...}`` that says what to send instead.

The one exception to read-only: with ``allow_judgements`` (``tracer serve --allow-judgements``) the
analyst's records -- judgements and case notes, never facts -- are written through ``POST
/api/judgements`` and ``POST /api/notes`` on a second, writable connection.  Without it those POSTs
are a 403.  A POST must be JSON (``Content-Type: application/json``, which a cross-site form cannot
send without the browser asking first) and, when the browser names an ``Origin``, come from this
server's own page.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from tracer import queries as q
from tracer.checks import known_kinds
from tracer.store import StoreBackend, StoreError, open_store, sqlite_path

log = logging.getLogger("tracer.server")
WEB_DIR = Path(__file__).with_name("web")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
STORE_KEY: web.AppKey[StoreBackend] = web.AppKey("store", StoreBackend)
POOL_KEY: web.AppKey[ThreadPoolExecutor] = web.AppKey("pool", ThreadPoolExecutor)
TOKEN_KEY: web.AppKey[str] = web.AppKey("token", str)
# The writable store of the analyst's records and its one thread (only with allow_judgements).
WRITER_KEY: web.AppKey[StoreBackend | None] = web.AppKey("writer", object)  # type: ignore[arg-type]
WRITER_POOL_KEY: web.AppKey[ThreadPoolExecutor] = web.AppKey("writer_pool", ThreadPoolExecutor)
WRITE_PATHS = frozenset({"/api/judgements", "/api/notes"})
# Longest request line read (aiohttp defaults to 8,190 bytes and answers longer ones itself, in plain
# text, before the API can say which parameter is wrong): room for any hostile value the API refuses.
MAX_REQUEST_LINE = 64 * 1024
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                               "object-src 'none'; frame-ancestors 'none'",
}


class RefusalLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """aiohttp's server logger, with a request its HTTP parser refused (bad request line, overlong
    headers, non-UTF-8 bytes, non-HTTP bytes) as one WARNING line -- status, reason, peer -- instead of
    an ERROR with the parser's traceback.  Anything else (an unhandled exception is a real internal
    error) passes through unchanged, traceback included."""

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info")
        if exc is True:
            exc = sys.exc_info()[1]
        elif isinstance(exc, tuple):
            exc = exc[1]
        if isinstance(exc, HttpProcessingError):
            if self.logger.isEnabledFor(logging.WARNING):
                peer = args[0] if args else "an unknown peer"
                status = exc.code or 400
                why = " ".join(str(exc.message or type(exc).__name__).split())
                why = why.encode("ascii", "backslashreplace").decode()  # one line, no raw bytes
                self.logger.warning("refused request from %s: %s %s (%s)", peer, status, _phrase(status),
                                    why[:160])
            return
        self.logger.log(level, msg, *args, **kwargs)


def _phrase(status: int) -> str:
    import http

    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class ServeError(StoreError):
    """A configuration the server refuses (public bind without a token, missing database)."""


def check_bind(host: str, token: str | None) -> None:
    """Refuse to expose the API beyond this machine without a token.

    Only 127.0.0.1, localhost and ::1 count as private: anything else (0.0.0.0, a LAN address,
    even another 127.x address someone might forward) needs ``--token``.
    """
    if host not in LOOPBACK_HOSTS and not token:
        raise ServeError(f"refusing to serve on {host} without a token: pass --token (or TRACER_SERVE_TOKEN) "
                         "or bind 127.0.0.1")
    if token is not None and len(token) < 16:
        raise ServeError("the token must be at least 16 characters (e.g. python -c 'import secrets; "
                         "print(secrets.token_urlsafe(24))')")


def open_read_only(db: str | os.PathLike[str]) -> StoreBackend:
    """The store named by ``db`` (a file or a URL, see :func:`tracer.store.open_store`), read-only:
    the named reads work, every write is refused by the database itself."""
    _check_exists(db)
    return open_store(db, create=False, read_only=True)


def _check_exists(db: str | os.PathLike[str]) -> None:
    """A store file that is not there is a :class:`ServeError` (exit 2), never a new empty store."""
    path = sqlite_path(db)
    if path is not None and path != ":memory:" and not Path(path).is_file():
        raise ServeError(f"no tracer store at {path}: run tracer sync (or tracer demo) to create one, "
                         "or point --db / TRACER_DB at an existing store")


def _param(request: web.Request, name: str, default: Any = None, required: bool = False) -> Any:
    values = request.query.getall(name, [])
    if not values:
        if required:
            raise q.QueryError(f"query parameter {name!r} is required")
        return default
    if len(values) > 1:
        raise q.QueryError(f"query parameter {name!r} given {len(values)} times; give it once")
    v = values[0]
    if "\ufffd" in v or any(0xD800 <= ord(c) <= 0xDFFF for c in v):
        raise q.QueryError(f"query parameter {name!r} is not valid UTF-8")
    if "\x00" in v:
        raise q.QueryError(f"query parameter {name!r} contains a NUL byte")
    return v


def _kinds(request: web.Request) -> list[str] | None:
    raw = _param(request, "kind")
    return [k for k in raw.split(",") if k] if raw else None


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


def _dumps(obj: Any) -> str:
    import json

    return json.dumps(obj, default=str, ensure_ascii=False)


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Token check for the API, JSON errors for bad input, security headers on everything."""
    token = request.app[TOKEN_KEY]
    try:
        if request.path.startswith("/api/") and token:
            auth = request.headers.get("Authorization", "")
            given = auth[7:] if auth.startswith("Bearer ") else ""
            # surrogateescape: a header of non-UTF-8 bytes arrives as surrogate escapes; it is a wrong
            # token (401), not an encoding error (500)
            if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), token.encode()):
                resp: web.StreamResponse = _json({"error": "missing or wrong token: send "
                                                           "'Authorization: Bearer <token>'"}, 401)
                resp.headers["WWW-Authenticate"] = "Bearer"
            else:
                resp = await _write_checked(request, handler)
        else:
            resp = await _write_checked(request, handler)
    except q.QueryError as e:
        resp = _json({"error": str(e)}, e.status)
    except web.HTTPException as e:
        if e.status >= 400:
            resp = _json({"error": e.reason}, e.status)
        else:
            raise
    except Exception:
        log.exception("request %s failed", request.path_qs[:200])
        resp = _json({"error": "internal error; the server log has the details"}, 500)
    resp.headers.update(HEADERS)
    return resp


async def _write_checked(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A POST to a write path: 403 unless the server allows judgements, 403 from another site's page,
    415 unless JSON; anything else goes to its handler."""
    if request.method != "POST" or request.path not in WRITE_PATHS:
        return await handler(request)
    if request.app.get(WRITER_KEY) is None:
        return _json({"error": "this server is read-only: start it with tracer serve --allow-judgements to "
                               "record judgements and notes"}, 403)
    origin = request.headers.get("Origin")
    if origin is not None:
        from urllib.parse import urlsplit

        try:
            same = urlsplit(origin).netloc == request.host
        except ValueError:
            same = False
        if not same:
            return _json({"error": "judgements and notes are recorded from this server's own page only "
                                   "(the request's Origin is another site)"}, 403)
    if request.content_type != "application/json":
        return _json({"error": "send the body as JSON with Content-Type: application/json"}, 415)
    return await handler(request)


def _store(request: web.Request) -> StoreBackend:
    return request.app[STORE_KEY]


async def _q(request: web.Request, fn: Callable[..., Any], *args: Any) -> web.Response:
    """Run a query off the event loop, on the app's one database thread (one connection, serialised)."""
    result = await asyncio.get_running_loop().run_in_executor(request.app[POOL_KEY], fn, _store(request), *args)
    return _json(result)


async def api_find(request: web.Request) -> web.Response:
    return await _q(request, q.find, _param(request, "q", required=True), _param(request, "limit", 50))


async def api_node(request: web.Request) -> web.Response:
    return await _q(request, q.node, _param(request, "id", required=True))


async def api_edge(request: web.Request) -> web.Response:
    return await _q(request, q.edge, _param(request, "id", required=True))


def _neighbours(store: StoreBackend, node: Any, depth: Any, kinds: list[str] | None, direction: Any,
                max_nodes: Any) -> dict[str, Any]:
    """q.neighbours with the kinds checked against the store: ``kind=bogus`` is a 400, not ``[]``."""
    return q.neighbours(store, node, depth, known_kinds(store, kinds), direction, max_nodes)


def _path(store: StoreBackend, a: Any, b: Any, max_depth: Any, kinds: list[str] | None) -> list[dict[str, Any]]:
    return q.path(store, a, b, max_depth, known_kinds(store, kinds))


async def api_neighbours(request: web.Request) -> web.Response:
    return await _q(request, _neighbours, _param(request, "id", required=True), _param(request, "depth", 1),
                    _kinds(request), _param(request, "direction", "both"), _param(request, "max_nodes", 300))


async def api_path(request: web.Request) -> web.Response:
    return await _q(request, _path, _param(request, "from", required=True), _param(request, "to", required=True),
                    _param(request, "max_depth", 6), _kinds(request))


async def api_funding(request: web.Request) -> web.Response:
    return await _q(request, q.funding, _param(request, "id", required=True), _param(request, "hops", 3))


async def api_exposure(request: web.Request) -> web.Response:
    return await _q(request, q.exposure, _param(request, "id", required=True), _param(request, "hops", 3))


async def api_cluster(request: web.Request) -> web.Response:
    return await _q(request, q.cluster, _param(request, "id", required=True), _param(request, "max_size", 500))


async def api_timeline(request: web.Request) -> web.Response:
    return await _q(request, q.timeline, _param(request, "id", required=True), _param(request, "limit", 500))


async def api_flags(request: web.Request) -> web.Response:
    return await _q(request, q.flags_overview, _param(request, "min_level", "low"), _param(request, "limit", 500))


async def api_changes(request: web.Request) -> web.Response:
    return await _q(request, q.changes, _param(request, "runs", 3))


def _explain(store: StoreBackend, node: Any) -> dict[str, Any]:
    """explain's data with names for its sentences; an unflagged node is an empty answer that says so."""
    from tracer import case

    node = q.require(store, node)
    data = case.explained(store, node)
    if data is None:
        from tracer.changes import history_line, level_history
        from tracer.explain import case_records

        history = level_history(store, node)
        return {"subject": node, "flag": None, "evidence": [], "names": {}, **case_records(store, node),
                "level_history": history,
                "why_empty": "not flagged by the latest scoring run"
                + (f" ({history_line(history)})" if history else "")}
    for ev in data["evidence"]:
        for f in ev["facts"]:
            f["sentence"] = case.fact_sentence(f, data["names"])
            f["provenance"] = case.provenance_sentence(f)
    return data


RAW_SHOWN = 256 * 1024  # what the page shows of a raw payload; the whole body stays in the store


def _raw(store: StoreBackend, fact: Any) -> dict[str, Any]:
    """The raw payload a fact (edge, observation or entity id) was parsed from, as text."""
    from tracer.scoring import tables

    fid = q.check_id(fact, "fact id") if ":" in str(fact) else q._plain_edge_id(fact)
    row = tables.fact(store, fid)
    if row is None:
        raise q.QueryError(f"fact {fid} is not in the store", 404)
    sha = row.get("raw_sha256")
    payload = store.raw_payload(str(sha)) if sha else None
    if payload is None:
        raise q.QueryError(f"no raw payload is stored for fact {fid}", 404)
    body = payload.get("body")
    out = {k: payload.get(k) for k in ("sha256", "stream", "url", "method", "fetched_at", "run_id", "bytes")}
    out.update(fact=fid, table=row["table"], kept=body is not None, binary=False, truncated=False, body=None)
    if body is not None:
        raw = bytes(body)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            out.update(binary=True, body=raw[:RAW_SHOWN].hex())
        else:
            out.update(body=text[:RAW_SHOWN], truncated=len(text) > RAW_SHOWN)
    return out


def _case(store: StoreBackend, subject: Any) -> dict[str, Any]:
    from tracer import case

    html = case.case_html(store, subject)
    name = "".join(c if c.isalnum() else "-" for c in str(subject))[-60:]
    return {"subject": subject, "filename": f"case-{name}.html", "html": html}


async def api_explain(request: web.Request) -> web.Response:
    return await _q(request, _explain, _param(request, "id", required=True))


async def api_raw(request: web.Request) -> web.Response:
    return await _q(request, _raw, _param(request, "id", required=True))


async def api_case(request: web.Request) -> web.Response:
    return await _q(request, _case, _param(request, "subject", required=True))


async def api_health(request: web.Request) -> web.Response:
    writes = request.app.get(WRITER_KEY) is not None
    return await _q(request, lambda st: {"ok": True, "read_only": True, "flags": q.has_table(st, "flags"),
                                         "judgements_writable": writes})


def _judgements(store: StoreBackend, subject: Any) -> dict[str, Any]:
    """One subject's case records, or (no subject) the newest judgement of every judged subject."""
    from tracer import judgements as jd

    if subject is None:
        rows = sorted(jd.latest_states(store).values(), key=lambda r: (r["created_at"], r["id"]), reverse=True)
        return {"judgements": rows, "count": len(rows)}
    return jd.case(store, subject)


def _notes(store: StoreBackend, subject: Any) -> list[dict[str, Any]]:
    from tracer import judgements as jd

    return list(jd.case(store, subject)["notes"])


async def api_judgements(request: web.Request) -> web.Response:
    return await _q(request, _judgements, _param(request, "subject"))


async def api_notes(request: web.Request) -> web.Response:
    return await _q(request, _notes, _param(request, "subject", required=True))


JUDGEMENT_BODY = ("subject", "verdict", "reason", "analyst")
NOTE_BODY = ("subject", "text", "analyst")


async def _body(request: web.Request, keys: tuple[str, ...]) -> dict[str, Any]:
    """The POST body: one JSON object with exactly ``keys`` (string values), or a 400 saying what to send."""
    import json

    try:
        raw = await request.read()
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise q.QueryError(f"the body is not JSON; send an object with {', '.join(keys)}") from None
    if not isinstance(data, dict):
        raise q.QueryError(f"the body must be a JSON object with {', '.join(keys)}")
    extra = sorted(str(k)[:40] for k in data if k not in keys)
    if extra:
        raise q.QueryError(f"unknown field(s) {', '.join(repr(k) for k in extra)}; send {', '.join(keys)}")
    for k in keys:
        if k in data and not isinstance(data[k], str):
            raise q.QueryError(f"{k} must be a string")
    return data


async def _write(request: web.Request, fn: Callable[..., Any], *args: Any) -> web.Response:
    """Run a write on the writer's own thread (its connection was opened there); 201 with the row."""
    from tracer.output import one_line

    writer = request.app[WRITER_KEY]
    try:
        result = await asyncio.get_running_loop().run_in_executor(request.app[WRITER_POOL_KEY], fn, writer, *args)
    except StoreError as e:  # a full disk, a lost connection, a store made read-only meanwhile
        return _json({"error": f"not recorded: {one_line(e)}"}, 503)
    return _json(result, 201)


async def post_judgement(request: web.Request) -> web.Response:
    from tracer import judgements as jd

    b = await _body(request, JUDGEMENT_BODY)
    return await _write(request, jd.record_judgement, b.get("subject"), b.get("verdict"), b.get("reason"),
                        b.get("analyst"))


async def post_note(request: web.Request) -> web.Response:
    from tracer import judgements as jd

    b = await _body(request, NOTE_BODY)
    return await _write(request, jd.record_note, b.get("subject"), b.get("text"), b.get("analyst"))


async def openapi(request: web.Request) -> web.Response:
    return _json(openapi_document(f"{request.scheme}://{request.host}"))


async def static(request: web.Request) -> web.StreamResponse:
    """Files of tracer/web only: resolved inside that folder or 404 (no ``..``, no symlinks out)."""
    name = request.match_info.get("name") or "index.html"
    root = WEB_DIR.resolve()
    try:  # is_file raises on a name the OS refuses (ENAMETOOLONG...): that is no such file, not a 500
        target = (root / name).resolve()
        found = target.is_relative_to(root) and target.is_file() and not target.name.startswith(".")
    except (OSError, ValueError):
        found = False
    if not found:
        raise web.HTTPNotFound(reason="no such file")
    return web.FileResponse(target)


ROUTES: list[tuple[str, Handler]] = [
    ("/api/find", api_find), ("/api/node", api_node), ("/api/edge", api_edge),
    ("/api/neighbours", api_neighbours), ("/api/path", api_path), ("/api/funding", api_funding),
    ("/api/exposure", api_exposure), ("/api/cluster", api_cluster), ("/api/timeline", api_timeline),
    ("/api/health", api_health), ("/api/judgements", api_judgements), ("/api/notes", api_notes),
    ("/api/flags", api_flags), ("/api/changes", api_changes), ("/api/explain", api_explain), ("/api/raw", api_raw),
    ("/api/case", api_case), ("/openapi.json", openapi),
]
WRITE_ROUTES: list[tuple[str, Handler]] = [("/api/judgements", post_judgement), ("/api/notes", post_note)]


def make_app(store: StoreBackend, token: str | None = None, writer: StoreBackend | None = None,
             writer_pool: ThreadPoolExecutor | None = None) -> web.Application:
    """The aiohttp application over an (ideally read-only) store; with ``writer`` (a writable store
    used only on ``writer_pool``'s one thread) it also records judgements and notes."""
    app = web.Application(middlewares=[guard], client_max_size=64 * 1024)
    app[STORE_KEY] = store
    app[POOL_KEY] = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tracer-db")
    app[WRITER_KEY] = writer
    if writer is not None:
        app[WRITER_POOL_KEY] = writer_pool or ThreadPoolExecutor(max_workers=1, thread_name_prefix="tracer-writer")

    async def _shutdown(app: web.Application) -> None:
        app[POOL_KEY].shutdown(wait=False, cancel_futures=True)
        if app[WRITER_KEY] is not None:
            pool = app[WRITER_POOL_KEY]
            await asyncio.get_running_loop().run_in_executor(pool, app[WRITER_KEY].close)  # type: ignore[union-attr]
            pool.shutdown(wait=False, cancel_futures=True)

    app.on_cleanup.append(_shutdown)
    app[TOKEN_KEY] = token or ""
    for path, handler in ROUTES:
        app.router.add_get(path, handler)
    if writer is not None:
        for path, handler in WRITE_ROUTES:
            app.router.add_post(path, handler)
    app.router.add_get("/", static)
    app.router.add_get("/static/{name:.+}", static)
    return app


async def start(db: str | os.PathLike[str], host: str = "127.0.0.1", port: int = 8765,
                token: str | None = None, allow_judgements: bool = False) -> tuple[web.AppRunner, str]:
    """Open the store read-only and start serving; returns the runner and the base URL.

    ``allow_judgements``: also open it writable (first, so an old store's schema is upgraded before
    the read-only connection looks at it) for the judgement and note POSTs."""
    check_bind(host, token)
    writer, pool = None, None
    if allow_judgements:
        _check_exists(db)
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tracer-writer")
        # opened on the thread that will use it (an SQLite connection belongs to its thread)
        try:
            writer = await asyncio.get_running_loop().run_in_executor(pool, lambda: open_store(db, create=False))
        except BaseException:
            pool.shutdown(wait=False)
            raise
        if writer.read_only:
            why = writer.read_only_why
            await asyncio.get_running_loop().run_in_executor(pool, writer.close)
            pool.shutdown(wait=False)
            raise ServeError(f"--allow-judgements needs a store tracer may write: {writer.path} is read-only ({why})")
    store = open_read_only(db)
    runner = web.AppRunner(make_app(store, token, writer, pool), access_log=None, max_line_size=MAX_REQUEST_LINE,
                           logger=RefusalLog(logging.getLogger("aiohttp.server"), {}))
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    addr = runner.addresses[0]
    shown = f"[{addr[0]}]" if ":" in str(addr[0]) else addr[0]
    return runner, f"http://{shown}:{addr[1]}"


async def serve_forever(db: str, host: str, port: int, token: str | None,
                        announce: Callable[[str], None], allow_judgements: bool = False) -> None:
    runner, base = await start(db, host, port, token, allow_judgements)
    announce(base)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


_ID = {"type": "string", "maxLength": 300, "pattern": q._ID.pattern,
       "example": "wallet:evm:0x8589427373d6d84e98730d7795d8f6f8731fda16"}
_KIND = {"type": "string", "description": "comma-separated edge kinds, e.g. paid,rented; a kind the store "
                                         "does not hold is a 400 listing its kinds", "example": "paid"}
API: dict[str, tuple[str, list[tuple[str, dict[str, Any], bool, str]]]] = {
    "/api/find": ("Find nodes by address, name or id", [
        ("q", {"type": "string", "maxLength": 200}, True, "address, name or id (substring, case-insensitive)"),
        ("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}, False, "max results")]),
    "/api/node": ("A node with its observations, flag and evidence", [("id", _ID, True, "node id")]),
    "/api/edge": ("An edge (payment, lease...) with its transaction and raw-payload provenance",
                  [("id", {"type": "string", "maxLength": 300}, True, "edge id")]),
    "/api/neighbours": ("The neighbourhood of a node (hubs shown, not expanded)", [
        ("id", _ID, True, "node id"),
        ("depth", {"type": "integer", "minimum": 1, "maximum": q.MAX_DEPTH, "default": 1}, False, "hops"),
        ("kind", _KIND, False, "follow only these edge kinds"),
        ("direction", {"type": "string", "enum": ["both", "out", "in"], "default": "both"}, False, "edge direction"),
        ("max_nodes", {"type": "integer", "minimum": 1, "maximum": q.MAX_NODES, "default": 300}, False, "cap")]),
    "/api/path": ("Shortest path between two nodes, not through hubs", [
        ("from", _ID, True, "start node"), ("to", _ID, True, "end node"),
        ("max_depth", {"type": "integer", "minimum": 1, "maximum": q.MAX_HOPS, "default": 6}, False, "max hops"),
        ("kind", _KIND, False, "follow only these edge kinds")]),
    "/api/funding": ("Funding sources hop by hop back, exact amounts", [
        ("id", _ID, True, "wallet id"),
        ("hops", {"type": "integer", "minimum": 1, "maximum": q.MAX_HOPS, "default": 3}, False, "hops back")]),
    "/api/exposure": ("Listed/sanctioned/high-flagged nodes within N payments", [
        ("id", _ID, True, "wallet id"),
        ("hops", {"type": "integer", "minimum": 1, "maximum": q.MAX_HOPS, "default": 3}, False, "hops")]),
    "/api/cluster": ("The actor cluster of a node: every member scoring linked to it (flag level, listing), the "
                     "links that joined them (heuristic, strength, detail, refs) and same_actor links; note says "
                     "why a node is in none", [
        ("id", _ID, True, "node id"),
        ("max_size", {"type": "integer", "minimum": 1, "maximum": q.MAX_NODES, "default": 500}, False, "cap")]),
    "/api/timeline": ("Payments, leases and facts about a node in time order", [
        ("id", _ID, True, "node id"),
        ("limit", {"type": "integer", "minimum": 1, "maximum": 5000, "default": 500}, False, "max events")]),
    "/api/health": ("Liveness, whether flags are present and whether judgements can be recorded", []),
    "/api/judgements": ("A subject's newest judgement (with whether its evidence changed since), judgement "
                        "history and case notes; without subject, the newest judgement of every judged subject", [
        ("subject", _ID, False, "flagged node id")]),
    "/api/notes": ("A subject's case notes, oldest first", [("subject", _ID, True, "node id")]),
    "/api/flags": ("The landing view: counts by level and flagged subjects, severe and high first", [
        ("min_level", {"type": "string", "enum": list(q.LEVEL_ORDER), "default": "low"}, False,
         "lowest level listed"),
        ("limit", {"type": "integer", "minimum": 1, "maximum": 5000, "default": 500}, False, "max subjects")]),
    "/api/changes": ("What changed since the previous scoring run: flags new, no longer flagged, up or down a "
                     "level; judgements whose evidence changed; the latest runs", [
        ("runs", {"type": "integer", "minimum": 1, "maximum": 50, "default": 3}, False, "latest runs listed")]),
    "/api/explain": ("Why a node is flagged: evidence as sentences, each fact with its raw-payload provenance", [
        ("id", _ID, True, "node id")]),
    "/api/raw": ("The raw payload (as fetched) a fact was parsed from, with its URL, stream and sha256", [
        ("id", {"type": "string", "maxLength": 300}, True, "fact id: an edge, observation or entity id")]),
    "/api/case": ("A subject's case file: one self-contained HTML document (in the JSON's html field)", [
        ("subject", _ID, True, "node id")]),
}
_TEXT = {"type": "string", "minLength": 1}
# The POST bodies (served only with tracer serve --allow-judgements; else 403).
WRITE_API: dict[str, tuple[str, dict[str, Any]]] = {
    "/api/judgements": ("Record a judgement of a subject's flag (confirmed, dismissed or escalated)", {
        "subject": _ID, "verdict": {"type": "string", "enum": ["confirmed", "dismissed", "escalated"]},
        "reason": {**_TEXT, "maxLength": 2000}, "analyst": {**_TEXT, "maxLength": 100}}),
    "/api/notes": ("Attach a case note to a subject", {
        "subject": _ID, "text": {**_TEXT, "maxLength": 10000}, "analyst": {**_TEXT, "maxLength": 100}}),
}


def openapi_document(base_url: str) -> dict[str, Any]:
    """OpenAPI 3.0 description of the API, generated from the same table the docs use."""
    error = {"description": "bad parameter (400), missing token (401) or unknown id (404)",
             "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    paths: dict[str, Any] = {}
    for path, (summary, params) in API.items():
        paths[path] = {"get": {
            "summary": summary, "operationId": path.rsplit("/", 1)[1],
            "parameters": [{"name": n, "in": "query", "required": req, "description": d, "schema": sch}
                           for n, sch, req, d in params],
            "responses": {"200": {"description": "JSON result", "content": {"application/json": {"schema": {}}}},
                          "400": error, "401": error, "404": error},
            "security": [{}, {"bearer": []}],
        }}
    for path, (summary, props) in WRITE_API.items():
        paths[path]["post"] = {
            "summary": summary + " (only with tracer serve --allow-judgements)",
            "operationId": "record_" + path.rsplit("/", 1)[1],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": list(props), "additionalProperties": False, "properties": props}}}},
            "responses": {"201": {"description": "the recorded row",
                                  "content": {"application/json": {"schema": {}}}},
                          "400": error, "401": error,
                          "403": {"description": "the server does not record judgements, or another site asked",
                                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                          "404": error,
                          "409": {"description": "the subject has no flag to judge",
                                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                          "415": {"description": "the body is not sent as application/json",
                                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
            "security": [{}, {"bearer": []}],
        }
    return {
        "openapi": "3.0.3",
        "info": {"title": "tracer investigator API", "version": "1",
                 "description": "Read-only queries over a tracer store (judgements and case notes are the one "
                                "thing a server started with --allow-judgements records). Ids look like wallet:evm:0x..., "
                                "provider:akash:akash1..., entity:<list>:<uid>. Amounts are exact decimal text."},
        "servers": [{"url": base_url}],
        "paths": paths,
        "components": {
            "schemas": {"Error": {"type": "object", "required": ["error"],
                                  "properties": {"error": {"type": "string"}}}},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "required when the server is bound beyond loopback"}},
        },
    }
