"""``tracer run``: cycles against the OFAC demo lists served on loopback, lock refusal, failures, history."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from click.testing import CliRunner
from webhook_support import hook_server

from connectors.base import ConfigError
from tracer.cli import main
from tracer.demo import serve_parts
from tracer.scheduler import parse_every
from tracer.store import Store
from tracer.world.ofac import demo_part, listed_wallets


def test_parse_every() -> None:
    assert [parse_every(x) for x in ("30s", "15m", "1h", "1d", "90", 5)] == [30, 900, 3600, 86400, 90, 5]
    for bad in ("", "15 minutes", "-1m", "0s", "1.5h"):
        with pytest.raises(ConfigError):
            parse_every(bad)


HOOKED: list[dict[str, Any]] = []
HOOK_URL: list[str] = []




@pytest.fixture()
def lists_server() -> Iterator[str]:
    """The OFAC demo part (real 0xB10C files when present + the world's wallets) on loopback."""
    loop = asyncio.new_event_loop()
    box: dict[str, Any] = {}
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        box["runner"], box["base"] = loop.run_until_complete(serve_parts([demo_part()]))
        box["hook"], box["hook_url"] = loop.run_until_complete(hook_server(HOOKED))
        ready.set()
        loop.run_forever()

    HOOKED.clear()
    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert ready.wait(20)
    HOOK_URL.append(box["hook_url"])
    yield box["base"] + "/ofac"
    asyncio.run_coroutine_threadsafe(box["runner"].cleanup(), loop).result(10)
    asyncio.run_coroutine_threadsafe(box["hook"].cleanup(), loop).result(10)
    HOOK_URL.clear()
    loop.call_soon_threadsafe(loop.stop)
    t.join(10)


def _config(tmp_path: Path, base: str, extra: str = "") -> Path:
    from tracer.registry import connectors

    part = demo_part().config(base)["ofac_addresses"]
    lines = [f'db = "{tmp_path / "run.db"}"', "[export]", f'dir = "{tmp_path / "exports"}"', "min_score = 0.0", extra]
    for name in connectors():
        lines.append(f"[connectors.{name}]")
        if name == "ofac_addresses":
            lines += [f'base_url = "{part["base_url"]}"', f"assets = {json.dumps(part['assets'])}"]
        else:
            lines.append("enabled = false")
    p = tmp_path / "tracer.toml"
    p.write_text("\n".join(lines) + "\n")
    return p


def _runs(tmp_path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    s = Store(tmp_path / "run.db")
    try:
        runs = s.query("SELECT * FROM runs WHERE command = 'run' ORDER BY started_at, run_id")
        steps = s.query("SELECT * FROM run_streams WHERE stream LIKE 'step:%' ORDER BY started_at, stream")
        return runs, steps
    finally:
        s.close()


def test_run_once_syncs_scores_exports_and_notifies(tmp_path, lists_server) -> None:
    from investigate_support import IDS, build_world

    build_world(tmp_path / "run.db", derived=False).close()  # a case already in the store
    cfg = _config(tmp_path, lists_server, extra=f'webhook = "{HOOK_URL[0]}"')
    r = CliRunner().invoke(main, ["--config", str(cfg), "run", "--once"])
    assert r.exit_code == 0, r.output
    assert "sync ok" in r.output and "score ok" in r.output and "export ok" in r.output
    runs, steps = _runs(tmp_path)
    assert len(runs) == 1 and runs[0]["status"] == "ok" and runs[0]["duration_s"] >= 0
    by = {s["stream"]: s for s in steps}
    assert set(by) == {"step:sync", "step:screen", "step:score", "step:export", "step:notify"}
    assert by["step:sync"]["records"] >= len(listed_wallets())
    s = Store(tmp_path / "run.db")
    for w in listed_wallets():  # the world's listed wallets reached the store through the real connector
        assert s.query("SELECT 1 FROM observations WHERE subject = ? AND predicate = 'sanctioned'",
                       [f"wallet:evm:{w}"]), w
    flagged = {f["subject"] for f in s.query("SELECT subject FROM flags")}
    s.close()
    assert IDS["A"] in flagged and by["step:score"]["records"] == len(flagged)
    wl = [json.loads(x) for x in (tmp_path / "exports" / "watchlist.jsonl").read_text().splitlines()]
    assert [x["id"] for x in wl] == sorted(flagged) and by["step:export"]["records"] == len(wl)
    assert (tmp_path / "exports" / "watchlist.ftm.json").exists()
    # the webhook got the new high/severe entries, once
    assert len(HOOKED) == 1
    posted = {e["id"] for e in HOOKED[0]["entries"]}
    assert IDS["A"] in posted and all(e["new_level"] in ("high", "severe") for e in HOOKED[0]["entries"])
    assert by["step:notify"]["records"] == len(posted)
    r = CliRunner().invoke(main, ["--config", str(cfg), "run", "--once"])
    assert r.exit_code == 0, r.output
    assert len(HOOKED) == 1  # nothing new: nothing sent
    assert (tmp_path / "exports" / "watchlist.previous.jsonl").exists()


def test_overlapping_run_is_refused_by_the_lock(tmp_path, lists_server) -> None:
    cfg = _config(tmp_path, lists_server)
    s = Store(tmp_path / "run.db")
    with s.lock("a long sync"):
        r = CliRunner().invoke(main, ["--config", str(cfg), "run", "--once"])
    s.close()
    assert r.exit_code == 1
    err = [ln for ln in r.output.splitlines() if ln.startswith("error:")]
    assert len(err) == 1 and "another tracer run holds" in err[0] and "a long sync" in err[0]
    runs, steps = _runs(tmp_path)
    assert runs[0]["status"] == "failed" and "holds" in runs[0]["error"]
    assert [x["stream"] for x in steps] == ["step:sync"] and steps[0]["status"] == "refused"


async def _failing_server() -> tuple[web.AppRunner, str]:
    async def boom(request: web.Request) -> web.Response:
        return web.Response(status=404, text="no such list")

    app = web.Application()
    app.router.add_get("/{tail:.*}", boom)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


def test_failed_sync_exits_1_with_one_line(tmp_path) -> None:
    loop = asyncio.new_event_loop()
    runner, base = loop.run_until_complete(_failing_server())
    t = threading.Thread(target=loop.run_forever, daemon=True)
    t.start()
    try:
        cfg = _config(tmp_path, base)
        r = CliRunner().invoke(main, ["--config", str(cfg), "-q", "run", "--once"])
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        t.join(10)
    assert r.exit_code == 1
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: run ") and "sync: " in lines[0] and "404" in lines[0]
    assert "Traceback" not in r.output
    runs, steps = _runs(tmp_path)
    assert runs[0]["status"] == "failed" and [x["stream"] for x in steps] == ["step:sync"]


def test_every_with_max_runs_and_due_intervals(tmp_path, lists_server) -> None:
    cfg = _config(tmp_path, lists_server, extra="")
    text = cfg.read_text().replace("[connectors.ofac_addresses]", '[connectors.ofac_addresses]\nevery = "1h"')
    cfg.write_text(text)
    r = CliRunner().invoke(main, ["--config", str(cfg), "run", "--every", "1s", "--max-runs", "2"])
    assert r.exit_code == 0, r.output
    runs, steps = _runs(tmp_path)
    assert len(runs) == 2 and all(x["status"] == "ok" for x in runs)
    syncs = [x for x in steps if x["stream"] == "step:sync"]
    assert syncs[0]["records"] > 0 and syncs[1]["records"] == 0  # not due again within the hour
    starts = [x["started_at"] for x in runs]
    assert starts == sorted(starts)


def test_usage_errors(tmp_path) -> None:
    r = CliRunner().invoke(main, ["--db", str(tmp_path / "x.db"), "run"])
    assert r.exit_code == 2 and "--once or --every" in r.output
    r = CliRunner().invoke(main, ["--db", str(tmp_path / "x.db"), "run", "--every", "soon"])
    assert r.exit_code == 2 and "cannot read interval" in r.output
