"""Clore.ai marketplace (docs shape) on loopback: GPU model and count, country, the auth header."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from markets_support import attrs, data, routes_part, rows, run


def _part(seen: list[str | None], body: bytes | None = None) -> object:
    async def marketplace(request: web.Request) -> web.Response:
        seen.append(request.headers.get("auth"))
        return web.Response(body=body or data("clore_marketplace.json"), content_type="application/json")
    return routes_part("clore", [web.get("/v1/marketplace", marketplace)],
                       lambda base: {"clore": {"base_url": f"{base}/v1", "limits": {"rate": 0, "max_retries": 0}}})


async def test_servers(tmp_path: Path) -> None:
    seen: list[str | None] = []
    store, res = await run(_part(seen), tmp_path, ["clore"], {"clore": {"api_key": "clore-key-123456"}})  # type: ignore[arg-type]
    assert res.status == "ok", res.errors
    assert seen == ["clore-key-123456"]
    srv = {r["server_id"]: r for r in rows(store, "SELECT * FROM clore_servers")}
    assert (srv[7480]["gpu_id"], srv[7480]["gpu_count"], srv[7480]["country"], srv[7480]["rented"]) == ("rtx-4090", 8, "RU", 1)
    assert (srv[6211]["gpu_id"], srv[6211]["gpu_count"], srv[6211]["country"]) == ("rtx-3080", 1, "CZ")
    # No gpu_array: the count comes from the "2x" in the name; no cc: no location observation.
    assert (srv[7481]["gpu_id"], srv[7481]["gpu_count"], srv[7481]["country"]) == ("gtx-1080-ti", 2, None)
    e = rows(store, "SELECT * FROM edges WHERE src='machine:clore:7480'")[0]
    assert e["dst"] == "gpu:rtx-4090" and attrs(e)["count"] == 8
    locs = {r["subject"]: r["value"] for r in rows(store, "SELECT * FROM observations WHERE predicate='location'")}
    assert locs == {"machine:clore:6211": "CZ", "machine:clore:7480": "RU", "provider:clore:4122": "CZ",
                    "provider:clore:5310": "RU"}
    # Host level: owner 5310 offers 8x RTX 4090 (server 7480) and 2x GTX 1080 Ti (server 7481).
    host = {e["dst"]: attrs(e) for e in rows(store, "SELECT * FROM edges WHERE src='provider:clore:5310'")}
    assert host == {"gpu:rtx-4090": {"count": 8, "machines": 1, "raw_name": "8x NVIDIA GeForce RTX 4090"},
                    "gpu:gtx-1080-ti": {"count": 2, "machines": 1, "raw_name": "2x NVIDIA GeForce GTX 1080 Ti"}}
    assert attrs(rows(store, "SELECT attrs FROM entities WHERE id='machine:clore:7481'")[0])["provider"] == "provider:clore:5310"


async def test_error_code_fails_clearly(tmp_path: Path) -> None:
    store, res = await run(_part([], b'{"code": 5}'), tmp_path, ["clore"])  # type: ignore[arg-type]
    assert res.status == "failed" and "code 5 (rate limit" in res.errors[0]
