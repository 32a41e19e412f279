"""The HTTP API on loopback: answers, OpenAPI, read-only store, token rule, hostile input."""

from __future__ import annotations

import asyncio
import sqlite3

import aiohttp
import pytest
from click.testing import CliRunner
from investigate_support import IDS, TX, build_world
from yarl import URL

from tracer.cli import main
from tracer.server import ROUTES, ServeError, check_bind, open_read_only, start
from tracer.store import Store

TOKEN = "s3cret-token-for-tests-0123"


@pytest.fixture()
def db(tmp_path):
    p = tmp_path / "api.db"
    build_world(p).close()
    return p


@pytest.fixture()
async def api(db):
    runner, base = await start(db, "127.0.0.1", 0)
    async with aiohttp.ClientSession() as s:
        yield s, base
    await runner.cleanup()


async def get(s: aiohttp.ClientSession, url: str, **kw) -> tuple[int, object]:
    async with s.get(url, **kw) as r:
        ctype = r.headers.get("Content-Type", "")
        return r.status, (await r.json() if "json" in ctype else await r.text())


async def test_queries_answer_as_json(api) -> None:
    s, base = api
    st, found = await get(s, f"{base}/api/find", params={"q": "Kowloon"})
    assert st == 200 and found[0]["id"] == IDS["E"]
    st, nb = await get(s, f"{base}/api/neighbours", params={"id": IDS["A"], "depth": "2", "kind": "paid,rented"})
    assert st == 200 and {e["kind"] for e in nb["edges"]} == {"paid", "rented"}
    st, node = await get(s, f"{base}/api/node", params={"id": IDS["A"]})
    assert node["flag"]["level"] == "severe" and len(node["evidence"]) == 2
    st, edge = await get(s, f"{base}/api/edge", params={"id": "e:aw"})
    assert edge["edge"]["tx"] == TX and edge["provenance"]["sha256"]
    st, p = await get(s, f"{base}/api/path", params={"from": IDS["F2"], "to": IDS["W"]})
    assert [e["id"] for e in p] == ["e:f2f", "e:fa", "e:aw"]
    for path in ("funding", "exposure", "cluster", "timeline"):
        st, body = await get(s, f"{base}/api/{path}", params={"id": IDS["A"]})
        assert st == 200, (path, body)


async def test_openapi_lists_every_route(api) -> None:
    s, base = api
    st, doc = await get(s, f"{base}/openapi.json")
    assert st == 200 and doc["openapi"].startswith("3.")
    api_paths = {p for p, _ in ROUTES if p.startswith("/api/")}
    assert api_paths == set(doc["paths"])
    depth = next(p for p in doc["paths"]["/api/neighbours"]["get"]["parameters"] if p["name"] == "depth")
    assert depth["schema"]["maximum"] == 4
    validator = pytest.importorskip("openapi_spec_validator", reason="openapi-spec-validator not installed")
    validator.validate(doc)  # raises on any OpenAPI 3 schema violation


@pytest.mark.parametrize("params, status, words", [
    ({"id": "wallet:evm:0x1' OR '1'='1"}, 400, "not a tracer id"),
    ({"id": "wallet:evm:0x1; DROP TABLE edges;--"}, 400, "not a tracer id"),
    ({"id": "x" * 301}, 400, "at most 300"),
    ({"id": "wallet:evm:0x" + "0" * 40}, 404, "not in the store"),
    ({"id": IDS["A"], "depth": "1000000"}, 400, "depth must be between 1 and 4"),
    ({"id": IDS["A"], "depth": "-1"}, 400, "depth"),
    ({"id": IDS["A"], "depth": "two"}, 400, "integer"),
    ({"id": IDS["A"], "depth": "1.5"}, 400, "integer"),
    ({"id": IDS["A"], "max_nodes": "99999999999999999999999"}, 400, "max_nodes"),
    ({"id": IDS["A"], "kind": "paid) OR 1=1 --"}, 400, "edge kind"),
    ({"id": IDS["A"], "direction": "up"}, 400, "direction"),
    ({}, 400, "'id' is required"),
], ids=lambda v: str(v)[:30])
async def test_hostile_parameters_are_4xx_with_a_message(api, params, status, words) -> None:
    s, base = api
    st, body = await get(s, f"{base}/api/neighbours", params=params)
    assert st == status and words in body["error"], body


async def test_injection_in_search_text_is_inert(api, db) -> None:
    s, base = api
    before = Store(db).count("edges")
    for text in ("'; DROP TABLE edges; --", "\" OR 1=1 --", "%' UNION SELECT sha256 FROM raw_payloads --"):
        st, body = await get(s, f"{base}/api/find", params={"q": text})
        assert st == 200 and body == []
    assert Store(db).count("edges") == before
    st, body = await get(s, f"{base}/api/find", params={"q": "a" * 201})
    assert st == 400 and "200 characters" in body["error"]
    st, body = await get(s, f"{base}/api/find", params={"q": "x", "limit": "100000"})
    assert st == 400 and "limit" in body["error"]


async def test_non_utf8_nul_and_repeated_parameters(api) -> None:
    s, base = api
    st, body = await get(s, URL(f"{base}/api/find?q=%ff%fe%fd", encoded=True))
    assert st == 400 and "UTF-8" in body["error"]
    st, body = await get(s, URL(f"{base}/api/node?id=wallet:evm:%00", encoded=True))
    assert st == 400 and "NUL" in body["error"]
    st, body = await get(s, URL(f"{base}/api/node?id={IDS['A']}&id={IDS['F']}", encoded=True))
    assert st == 400 and "once" in body["error"]
    st, body = await get(s, f"{base}/api/nothing")
    assert st == 404 and "error" in body


@pytest.mark.parametrize("raw", [
    "/static/../server.py", "/static/%2e%2e/server.py", "/static/..%2fserver.py", "/static/vendor/../../store.py",
    "/static/%2e%2e%2f%2e%2e%2fpyproject.toml", "/static//etc/passwd", "/static/....//server.py",
])
async def test_static_files_cannot_escape_the_web_folder(api, raw) -> None:
    s, base = api
    st, body = await get(s, URL(base + raw, encoded=True))
    assert st in (400, 403, 404)
    assert "import" not in str(body) and "root:" not in str(body)


async def test_page_and_vendored_library_are_served(api) -> None:
    s, base = api
    st, html = await get(s, base + "/")
    assert st == 200 and "cytoscape" in html and "https://" not in html  # no CDN
    async with s.get(base + "/static/vendor/cytoscape.min.js") as r:
        assert r.status == 200 and len(await r.read()) > 100_000
        assert "default-src 'self'" in r.headers["Content-Security-Policy"]


def test_store_is_opened_read_only(db) -> None:
    ro = open_read_only(db)
    with pytest.raises(sqlite3.OperationalError, match="readonly|read-only"):
        ro.query("DELETE FROM edges")
    assert ro.query("SELECT count(*) AS n FROM edges")[0]["n"] > 0
    with pytest.raises(ServeError, match="no tracer store at .*missing.db"):
        open_read_only(db.parent / "missing.db")


def test_token_rule() -> None:
    for host in ("127.0.0.1", "localhost", "::1"):
        check_bind(host, None)
    for host in ("0.0.0.0", "127.0.0.2", "192.168.1.10", "::"):
        with pytest.raises(ServeError, match="without a token"):
            check_bind(host, None)
        check_bind(host, TOKEN)
    with pytest.raises(ServeError, match="16 characters"):
        check_bind("0.0.0.0", "short")


async def test_token_required_beyond_default_host(db) -> None:
    with pytest.raises(ServeError):
        await start(db, "127.0.0.2", 0, None)
    runner, base = await start(db, "127.0.0.2", 0, TOKEN)  # loopback range, but not the default host
    try:
        async with aiohttp.ClientSession() as s:
            url = f"{base}/api/find?q=kowloon"
            assert (await get(s, url))[0] == 401
            st, body = await get(s, url, headers={"Authorization": "Bearer wrong-token-wrong-token"})
            assert st == 401 and "token" in body["error"]
            st, body = await get(s, url, headers={"Authorization": f"Bearer {TOKEN}"})
            assert st == 200 and body[0]["id"] == IDS["E"]
            assert (await get(s, base + "/"))[0] == 200  # the page itself holds no data
    finally:
        await runner.cleanup()


def test_serve_cli_refuses_public_bind_without_token(db) -> None:
    r = CliRunner(env={"TRACER_SERVE_TOKEN": None}).invoke(main, ["--db", str(db), "serve", "--host", "0.0.0.0"])
    assert r.exit_code == 2 and "without a token" in r.output and "Traceback" not in r.output


async def test_concurrent_queries_and_files_all_answer(api) -> None:
    """Queries run on one database thread while the loop serves files: concurrent requests all answer."""
    s, base = api
    results = await asyncio.gather(get(s, f"{base}/api/neighbours", params={"id": IDS["F"], "depth": "4"}),
                                   get(s, f"{base}/static/app.css"), get(s, f"{base}/api/health"))
    assert [r[0] for r in results] == [200, 200, 200] and results[2][1]["read_only"] is True
