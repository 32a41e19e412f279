"""The sync's per-stream live view (issue 15, operators): status, progress with the source's total,
records, retries and the redacted error of each stream, as plain lines in a log and as a rich table
on a terminal; and the Akash tenant streams skipped as "not configured" when they follow nobody.

Every peer is on loopback: the generated Akash world and the OFAC lists behind the fault server.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from click.testing import CliRunner
from faultserver import FaultServer, ThreadedApp

from tracer.cli import main
from tracer.live import LiveView
from tracer.pipeline import StreamResult, sync
from tracer.store import Store
from tracer.world.akash import build_world, demo_part

KEY = "0123456789abcdef0123456789abcdef"
APIKEY = "SECRETAPIKEY42"
AKASH_STREAMS = ["providers", "console_providers", "console_deployments", "funding"]
FAST = {"rate": 0, "concurrency": 8, "max_retries": 1, "backoff_base": 0.01, "backoff_max": 0.05, "timeout": 10}


class AkashWorld(ThreadedApp):
    """The generated Akash world (LCD node + Console) on loopback, under ``/akash/``."""

    def make_app(self) -> web.Application:
        app = web.Application()
        sub = web.Application()
        sub.add_routes(demo_part().routes)
        app.add_subapp("/akash/", sub)
        return app


@pytest.fixture(scope="module")
def akash() -> Iterator[str]:
    srv = AkashWorld()
    srv.start()
    try:
        yield srv.base + "/akash"
    finally:
        srv.stop()


def _akash_conf(base: str, **over: Any) -> dict[str, Any]:
    return {"lcd_url": f"{base}/lcd/modern", "console_url": f"{base}/console", "page_size": 20,
            "console_page_size": 20, "streams": AKASH_STREAMS, "tenants": [], "follow_store_tenants": False,
            "limits": FAST, **over}


def _console_providers(base: str) -> int:
    with urllib.request.urlopen(f"{base}/console/v1/providers", timeout=10) as r:  # loopback
        return len(json.loads(r.read()))


def _toml(path: Path, tables: dict[str, dict[str, Any]]) -> Path:
    lines: list[str] = []
    for name, conf in tables.items():
        lines.append(f"[connectors.{name}]")
        nested = {k: v for k, v in conf.items() if isinstance(v, dict)}
        lines += [f"{k} = {json.dumps(v)}" for k, v in conf.items() if k not in nested]
        for k, sub in nested.items():
            lines.append(f"[connectors.{name}.{k}]")
            lines += [f"{kk} = {json.dumps(vv)}" for kk, vv in sub.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _failing_ofac(fault_server: FaultServer) -> dict[str, Any]:
    """ofac_addresses with a key in its URL, on a server answering 500: 2 retries, then failed."""
    fault_server.always = "500"
    return {"base_url": f"{fault_server.base}/v3/{KEY}/?apikey={APIKEY}", "assets": ["ETH"], "format": "txt",
            "limits": {"rate": 0, "max_retries": 2, "backoff_base": 0.001, "backoff_max": 0.01}}


def test_sync_in_a_log_prints_one_line_per_stream_event(tmp_path: Path, akash: str,
                                                        fault_server: FaultServer) -> None:
    cfg = _toml(tmp_path / "t.toml", {"akash": _akash_conf(akash), "ofac_addresses": _failing_ofac(fault_server)})
    r = CliRunner().invoke(main, ["--config", str(cfg), "--db", str(tmp_path / "t.db"), "sync", "akash",
                                  "ofac_addresses", "ionet", "--json"])
    assert r.exit_code == 1, r.output
    rows = {row["stream"]: row for row in json.loads(r.stdout)}
    lines = r.stderr.splitlines()
    for secret in (KEY, APIKEY):
        assert secret not in r.stderr
    assert "0/?" not in r.stderr

    def ended(stream: str) -> str:
        [line] = [ln for ln in lines if ln.startswith(f"{stream} ") and not ln.endswith(" running")
                  and " retrying: " not in ln]
        return line

    for stream in rows:
        if rows[stream]["status"] != "skipped":
            assert f"{stream} running" in lines
    n_prov = len(build_world().providers)
    n_console = _console_providers(akash)
    providers = ended("akash.providers")  # LCD lists give no total: a count
    assert re.fullmatch(rf"akash\.providers ok: progress {n_prov}, {rows['akash.providers']['records']:,} records, "
                        r"0 retries, \d+\.\ds", providers), providers
    console = ended("akash.console_providers")
    assert console.startswith(f"akash.console_providers ok: progress {n_console}/{n_console}, "
                              f"{rows['akash.console_providers']['records']:,} records, 0 retries"), console
    deps = ended("akash.console_deployments")  # its total: the stored providers
    assert deps.startswith(f"akash.console_deployments ok: progress {n_prov}/{n_prov}, "
                           f"{rows['akash.console_deployments']['records']:,} records"), deps
    assert rows["akash.console_deployments"]["records"] > 0
    assert ended("akash.funding") == ("akash.funding skipped: not configured: no tenant wallets to follow: set "
                                      "[connectors.akash] tenants, or follow_store_tenants = true with "
                                      "funding_max_tenants > 0")
    assert ended("ionet.devices").startswith("ionet.devices skipped: not configured: no device ids to follow")
    ofac = ended("ofac_addresses.addresses")
    assert re.fullmatch(r"ofac_addresses\.addresses failed: progress 0, 0 records, 2 retries, \d+\.\ds; error: "
                        r"GET http://127\.0\.0\.1:\d+/v3/\*\*\*/sanctioned_addresses_ETH\.txt\?apikey=\*\*\* "
                        r"failed after 3 attempts: HTTP 500 Internal Server Error", ofac), ofac
    retrying = [ln for ln in lines if ln.startswith("ofac_addresses.addresses retrying")]
    assert [ln.split("; latest: ")[0] for ln in retrying] == [
        "ofac_addresses.addresses retrying: 1 retry so far", "ofac_addresses.addresses retrying: 2 retries so far"]
    for ln in retrying:  # why, and how long until the next try (backoff_max 0.01 s)
        assert ln.endswith("; latest: HTTP 500 Internal Server Error, next in 0.0s"), ln
    assert lines[-1].startswith("error: ofac_addresses.addresses: GET ")  # the summary's error line comes last
    assert len(fault_server.log) == 3


def test_quiet_sync_prints_only_errors(tmp_path: Path, akash: str, fault_server: FaultServer) -> None:
    cfg = _toml(tmp_path / "t.toml", {"akash": _akash_conf(akash), "ofac_addresses": _failing_ofac(fault_server)})
    r = CliRunner().invoke(main, ["--config", str(cfg), "--db", str(tmp_path / "t.db"), "-q", "sync", "akash",
                                  "ofac_addresses"])
    assert r.exit_code == 1
    [line] = r.stderr.splitlines()
    assert line.startswith("error: ofac_addresses.addresses: GET http://127.0.0.1:")


class Snapshots(LiveView):
    """The live view, with the table rendered as each stream starts (what a terminal shows then)."""

    def __init__(self, console: Any) -> None:
        super().__init__(console=console)
        self.at_start: dict[str, str] = {}

    def started(self, res: StreamResult) -> Any:
        update = super().started(res)
        self.at_start[res.stream] = _plain(self.render())
        return update


def _plain(renderable: Any, width: int = 200) -> str:
    from rich.console import Console

    out = io.StringIO()
    Console(file=out, width=width, color_system=None, force_terminal=False).print(renderable)
    return out.getvalue()


def _row(text: str, stream: str) -> list[str]:
    [line] = [ln for ln in text.splitlines() if ln.startswith(stream + " ")]
    return line.split()


def test_terminal_table_shows_every_stream_with_totals_records_retries_and_errors(
        tmp_path: Path, akash: str, fault_server: FaultServer) -> None:
    from rich.console import Console

    screen = io.StringIO()
    view = Snapshots(Console(file=screen, width=200, color_system=None, force_terminal=False))
    cfg = {"connectors": {"akash": _akash_conf(akash), "ofac_addresses": _failing_ofac(fault_server)}}
    store = Store(tmp_path / "t.db")
    try:
        res = asyncio.run(sync(store, cfg, ["akash", "ofac_addresses"], watch=view))
    finally:
        store.close()
    by = {s.stream: s for s in res.streams}
    n_prov, n_console = len(build_world().providers), _console_providers(akash)

    # while console_deployments starts: earlier streams done, the last one still waiting
    mid = view.at_start["akash.console_deployments"]
    assert _row(mid, "akash.providers")[:4] == ["akash.providers", "ok", str(n_prov),
                                                f"{by['akash.providers'].records:,}"]
    assert _row(mid, "akash.console_providers")[:3] == ["akash.console_providers", "ok", f"{n_console}/{n_console}"]
    assert _row(mid, "akash.console_deployments")[:3] == ["akash.console_deployments", "running", "0"]
    assert _row(mid, "akash.funding") == ["akash.funding", "waiting"]

    final = _plain(view.render())
    assert screen.getvalue().strip()  # the live table was drawn on the console it was given
    header = final.splitlines()[0].split()
    assert header == ["stream", "status", "progress", "records", "retries", "time", "error"]
    cells = _row(final, "akash.console_deployments")
    assert cells[:5] == ["akash.console_deployments", "ok", f"{n_prov}/{n_prov}",
                         f"{by['akash.console_deployments'].records:,}", "0"]
    funding = _row(final, "akash.funding")
    assert funding[:4] == ["akash.funding", "skipped", "0", "0"]  # no progress: it never started work
    assert " ".join(funding[5:]).startswith("not configured: no tenant wallets to follow")
    ofac = _row(final, "ofac_addresses.addresses")
    assert ofac[:5] == ["ofac_addresses.addresses", "failed", "0", "0", "2"]
    assert ofac[6] == "GET" and ofac[7].startswith("http://127.0.0.1:") and "/v3/***/" in ofac[7]
    assert KEY not in final and APIKEY not in final
    assert "0/?" not in final and "0/?" not in mid
    assert view.counts() == "3 ok, 1 skipped, 1 failed"


def test_a_narrow_terminal_keeps_one_line_per_stream(tmp_path: Path, fault_server: FaultServer) -> None:
    """A long error is cut with an ellipsis, never wrapped onto lines of its own."""
    view = LiveView(console=None)
    cfg = {"connectors": {"ofac_addresses": _failing_ofac(fault_server)}}
    store = Store(tmp_path / "t.db")
    try:
        asyncio.run(sync(store, cfg, ["ofac_addresses"], watch=view))
    finally:
        store.close()
    text = _plain(view.render(), width=90)
    assert len(text.splitlines()) == 2  # header and the one stream
    assert _row(text, "ofac_addresses.addresses")[:5] == ["ofac_addresses.addresses", "failed", "0", "0", "2"]
    assert text.splitlines()[1].rstrip().endswith("…") and "GET http" in text


@pytest.mark.parametrize("over, stream, note", [
    ({"streams": ["funding"]}, "akash.funding", "no tenant wallets to follow"),
    ({"streams": ["funding"], "follow_store_tenants": True, "funding_max_tenants": 0}, "akash.funding",
     "no tenant wallets to follow"),
    ({"streams": ["console_deployments"]}, "akash.console_deployments", "no providers to list deployments for"),
])
def test_akash_streams_with_nobody_to_follow_are_skipped(tmp_path: Path, akash: str, over: dict[str, Any],
                                                         stream: str, note: str) -> None:
    cfg = {"connectors": {"akash": _akash_conf(akash, **over)}}
    store = Store(tmp_path / "t.db")
    try:
        res = asyncio.run(sync(store, cfg, ["akash"]))
        payloads = store.count("raw_payloads") if store.has_table("raw_payloads") else 0
        [logged] = store.recent_run_streams(1)
    finally:
        store.close()
    [s] = res.streams
    assert (s.stream, s.status, s.records, res.status) == (stream, "skipped", 0, "ok")
    assert s.note is not None and s.note.startswith(f"not configured: {note}")
    assert payloads == 0  # skipped before any request
    assert logged["status"] == "skipped" and logged["error"].startswith("not configured")


def test_akash_funding_with_a_tenant_still_runs(tmp_path: Path, akash: str) -> None:
    """The skip is for a config that follows nobody: one configured tenant is followed."""
    tenant = build_world().planted["listed_renter"]
    cfg = {"connectors": {"akash": _akash_conf(akash, streams=["funding"], tenants=[tenant], funding_hops=1)}}
    store = Store(tmp_path / "t.db")
    try:
        res = asyncio.run(sync(store, cfg, ["akash"]))
    finally:
        store.close()
    [s] = res.streams
    assert s.status == "ok" and s.records > 0, s


def test_run_every_shows_each_cycle_and_a_summary_line(tmp_path: Path, fault_server: FaultServer) -> None:
    """Two cycles: the lists are due once (every = 1h), io.net (not configured) each time."""
    from tracer.registry import connectors

    tables: dict[str, dict[str, Any]] = {n: {"enabled": False} for n in connectors()}
    tables["ofac_addresses"] = {"base_url": f"{fault_server.base}/lists/", "assets": ["ETH"], "every": "1h",
                                "limits": {"rate": 0}}
    tables["ionet"] = {"enabled": True}
    cfg = _toml(tmp_path / "t.toml", tables)
    r = CliRunner().invoke(main, ["--config", str(cfg), "--db", str(tmp_path / "t.db"), "run", "--every", "1s",
                                  "--max-runs", "2", "--out", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    summary = r.stdout.splitlines()
    assert len(summary) == 2
    assert re.search(r"— sync ok \(\d+; 1 ok, 1 skipped\), ", summary[0]), summary[0]
    assert "— sync ok (1 skipped), " in summary[1], summary[1]
    ended = [ln.split(":")[0] for ln in r.stderr.splitlines() if not ln.endswith(" running")]
    assert len(ended) == 3 and ended[2] == "ionet.devices skipped"  # the second cycle: io.net alone
    assert sorted(ended[:2]) == ["ionet.devices skipped", "ofac_addresses.addresses ok"]


def test_a_stream_ended_before_the_table_is_drawn_is_a_line_on_the_terminal() -> None:
    """A Ctrl-C while the store opens ends the early stream before the run draws its table
    (tests/test_sync_early.py): on a terminal too, the stream it stopped is named."""
    from rich.console import Console

    screen = io.StringIO()
    view = LiveView(console=Console(file=screen, width=200, color_system=None, force_terminal=True))
    view.ended(StreamResult("evm.eth_transfers", status="interrupted", error="stopped by a signal"))
    assert screen.getvalue().strip().startswith("evm.eth_transfers interrupted: ")
    assert screen.getvalue().strip().endswith("; error: stopped by a signal")
