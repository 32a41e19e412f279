"""io.net explorer device details (the documented example answer) on loopback, with the JWT."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from aiohttp import web
from markets_support import attrs, data, routes_part, rows, run

TOKEN = "eyJhbGciOiJIUzI1NiJ9.test-token-for-loopback.c2lnbmF0dXJl"
DEVICE = "599ef4af-7fe6-44b5-aba3-25899bde2ab6"


def _part(calls: list[str]) -> object:
    async def details(request: web.Request) -> web.Response:
        calls.append(request.headers.get("Authorization", ""))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"detail": "Could not validate credentials"}, status=401)
        if request.match_info["device_id"] != DEVICE:
            return web.json_response({"detail": "Device not found"}, status=404)
        return web.Response(body=data("ionet_device_details.json"), content_type="application/json")
    return routes_part("ionet", [web.get("/v1/io-explorer/devices/{device_id}/details", details)],
                       lambda base: {"ionet": {"base_url": f"{base}/v1/io-explorer", "token": TOKEN,
                                               "device_ids": [DEVICE], "limits": {"rate": 0, "max_retries": 0}}})


async def test_device_details(tmp_path: Path) -> None:
    calls: list[str] = []
    store, res = await run(_part(calls), tmp_path, ["ionet"])  # type: ignore[arg-type]
    assert res.status == "ok", res.errors
    assert calls == [f"Bearer {TOKEN}"]
    dev = rows(store, "SELECT * FROM ionet_devices")[0]
    assert (dev["gpu_id"], dev["hardware_quantity"], dev["iso2"], dev["jobs"]) == ("a6000", 2, "CA", 2)
    e = rows(store, "SELECT * FROM edges WHERE kind='offers_gpu'")[0]
    assert e["src"] == f"provider:ionet:{DEVICE}" and e["dst"] == "gpu:a6000" and attrs(e)["count"] == 2
    obs = rows(store, "SELECT * FROM observations WHERE predicate='location'")[0]
    assert obs["value"] == "CA" and attrs(obs)["layer"] == "declared"
    jobs = rows(store, "SELECT * FROM ionet_jobs ORDER BY job_for")
    assert [j["job_for"] for j in jobs] == ["b168e413-3014-457e-b139-8450371b47c6", "e242cd76-9e65-4de1-b3ec-1cb8b002b38d"]
    assert jobs[0]["total_hire_rate"] == "10.8"


async def test_bad_token_fails_in_one_line_without_the_token(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    calls: list[str] = []
    caplog.set_level(logging.DEBUG)
    wrong = "eyJhbGciOiJIUzI1NiJ9.wrong-token-value.c2ln"
    store, res = await run(_part(calls), tmp_path, ["ionet"], {"ionet": {"token": wrong}})  # type: ignore[arg-type]
    assert res.status == "failed"
    err = res.errors[0]
    assert "HTTP 401" in err and "\n" not in err and wrong not in err
    assert wrong not in caplog.text
    assert store.count("ionet_devices") == 0


async def test_missing_token_is_a_config_error(tmp_path: Path) -> None:
    store, res = await run(_part([]), tmp_path, ["ionet"], {"ionet": {"token": None}})  # type: ignore[arg-type]
    assert res.status == "failed" and "needs a JWT" in res.errors[0]
