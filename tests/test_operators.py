"""Operators (issue 15): a host that does not resolve or refuses fails early and says so, the run log
keeps the real first error, doctor reads as ok/FAIL with a summary, and the demo's config is a TOML
file ``--config`` accepts.

Nothing here contacts anything but loopback: unresolvable hosts are under the reserved ``.invalid``
TLD (RFC 6761: never resolves), refusals come from a loopback port nobody listens on, and the
``resolver_guard`` fixture fails a test that asks the resolver about any other name.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from faultserver import FaultServer

from connectors.http import HostLimits, HttpClient, HttpError, open_session
from tracer.cli import main

LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}


@pytest.fixture
def resolver_guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every name given to the resolver, in order; a public name fails the test before any lookup."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        asked.append(name)
        if name not in LOOPBACK_NAMES and not name.rstrip(".").endswith(".invalid"):
            raise AssertionError(f"test tried to resolve the public name {name!r}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield asked


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released: connecting to it is refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _get(urls: list[str], limits: HostLimits) -> tuple[list[BaseException | Any], HttpClient]:
    async with open_session() as session:
        http = HttpClient(session, default_limits=limits)
        out = [await _catch(http.get_bytes(u)) for u in urls]
        return out, http


async def _catch(coro: Any) -> Any:
    try:
        return await coro
    except HttpError as e:
        return e


# Defaults (6 retries, 0.5 s backoff base) as a real run has them, so a retry storm would show.
DEFAULT = HostLimits()


def test_an_unresolvable_host_fails_after_one_retry_with_a_clear_line(resolver_guard: list[str]) -> None:
    t0 = time.monotonic()
    [err], http = asyncio.run(_get(["http://nowhere.invalid/x"], DEFAULT))
    assert isinstance(err, HttpError)
    assert "cannot resolve host nowhere.invalid" in str(err)
    assert "Name or service" not in str(err) and "attempts" not in str(err)
    assert http.stats["requests"] == 2 and http.stats["retries"] == 1
    assert resolver_guard.count("nowhere.invalid") == 2
    assert time.monotonic() - t0 < 5


def test_a_host_that_did_not_resolve_is_not_asked_again_in_the_same_run(resolver_guard: list[str]) -> None:
    """Eleven streams on one host used to retry 7 times each; now the second request fails at once."""
    urls = [f"http://api.nowhere.invalid/{i}" for i in range(11)]
    errs, http = asyncio.run(_get(urls, DEFAULT))
    assert all(isinstance(e, HttpError) and "cannot resolve host api.nowhere.invalid" in str(e) for e in errs)
    assert http.stats["requests"] == 2  # the first request and its one retry; nothing after
    assert resolver_guard.count("api.nowhere.invalid") == 2


def test_a_refused_connection_fails_after_one_retry(resolver_guard: list[str]) -> None:
    port = closed_port()
    t0 = time.monotonic()
    errs, http = asyncio.run(_get([f"http://127.0.0.1:{port}/a", f"http://127.0.0.1:{port}/b"], DEFAULT))
    assert [f"connection refused by 127.0.0.1:{port}" in str(e) for e in errs] == [True, True]
    assert http.stats["requests"] == 2
    assert time.monotonic() - t0 < 5
    assert set(resolver_guard) <= LOOPBACK_NAMES


def test_other_hosts_of_the_run_are_unaffected(fault_server: FaultServer, resolver_guard: list[str]) -> None:
    """A down host is down for itself only: the loopback server still answers in the same run."""
    eth = "sanctioned_addresses_ETH.txt"
    out, _ = asyncio.run(_get(["http://nowhere.invalid/x", f"{fault_server.base}/lists/{eth}"], DEFAULT))
    assert isinstance(out[0], HttpError)
    assert out[1].status == 200 and out[1].body == fault_server.files[eth]


def test_server_errors_still_get_every_retry(fault_server: FaultServer) -> None:
    """Only unreachable hosts lose their retries: a 500 is still retried max_retries times."""
    fault_server.always = "500"
    [err], http = asyncio.run(_get([f"{fault_server.base}/x/y"], HostLimits(max_retries=3, backoff_base=0.001)))
    assert "failed after 4 attempts: HTTP 500" in str(err)
    assert http.stats["requests"] == 4


# ---- the sync: summary and run log ---------------------------------------------------------------

def _akash_config(path: Path, lcd: str, console: str) -> Path:
    path.write_text(f'[connectors.akash]\nlcd_url = "{lcd}"\nconsole_url = "{console}"\n')
    return path


def test_offline_sync_of_a_many_stream_connector_ends_quickly(tmp_path: Path, resolver_guard: list[str]) -> None:
    """All twelve Akash streams against a host that does not resolve, default retry limits: before,
    7 attempts with backoff per stream (minutes); now one retry for the whole run."""
    cfg = _akash_config(tmp_path / "t.toml", "http://lcd.akash.invalid", "http://console.akash.invalid")
    db = tmp_path / "t.db"
    t0 = time.monotonic()
    r = CliRunner().invoke(main, ["--config", str(cfg), "--db", str(db), "sync", "akash", "--json"])
    elapsed = time.monotonic() - t0
    assert r.exit_code == 1, r.output
    assert elapsed < 20, elapsed
    assert resolver_guard.count("lcd.akash.invalid") <= 2
    rows = json.loads(r.stdout)
    failed = [row for row in rows if row["status"] == "failed"]
    assert failed and all("cannot resolve host" in row["error"] for row in failed)
    lines = r.stderr.splitlines()
    first = next(ln for ln in lines if ln.startswith("error: "))
    assert first.startswith("error: akash.") and "cannot resolve host lcd.akash.invalid" in first
    for row in failed:  # stderr is no terminal: the stream's own line says it failed, and why
        [ended] = [ln for ln in lines if ln.startswith(f"{row['stream']} failed: ")]
        assert ended.endswith(f"; error: {row['error']}"), ended
    runs = CliRunner().invoke(main, ["--db", str(db), "runs", "--json"])
    [run] = json.loads(runs.stdout)
    assert run["status"] == "failed"
    assert "cannot resolve host lcd.akash.invalid" in run["error"]
    assert "CancelledError" not in run["error"] and "attempts" not in run["error"]


def test_an_interrupted_run_records_why_not_cancelled_error(tmp_path: Path, fault_server: FaultServer) -> None:
    """A run cancelled (SIGTERM, Ctrl-C) used to be logged as "CancelledError: " with nothing after."""
    from conftest import ofac_cfg

    from tracer.pipeline import sync
    from tracer.store import open_store

    fault_server.latency = 5.0
    db = tmp_path / "t.db"
    cfg = ofac_cfg(db, f"{fault_server.base}/lists")
    store = open_store(str(db))

    async def go() -> None:
        task = asyncio.ensure_future(sync(store, cfg, ["ofac_addresses"]))
        await asyncio.sleep(1.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    try:
        asyncio.run(go())
        [run] = store.runs(5)
    finally:
        store.close()
    assert run["status"] == "interrupted"
    assert run["error"] == "interrupted by a signal (Ctrl-C or SIGTERM)"  # not "CancelledError: "


# ---- doctor ----------------------------------------------------------------------------------------

def test_doctor_prints_ok_or_fail_and_a_summary_line(tmp_path: Path, fault_server: FaultServer,
                                                      resolver_guard: list[str]) -> None:
    """One probe answers (the loopback lists), one host does not resolve: the table says ok and FAIL,
    never True/False, and one last line counts them."""
    names = ["ofac_addresses", "akash"]
    lines = [f"[connectors.{n}]\nenabled = false" for n in _connector_names() if n not in names]
    lines.append(f'[connectors.ofac_addresses]\nbase_url = "{fault_server.base}/lists"\nassets = ["ETH"]')
    lines.append('[connectors.akash]\nlcd_url = "http://lcd.akash.invalid"\n'
                 'console_url = "http://console.akash.invalid"')
    cfg = tmp_path / "d.toml"
    cfg.write_text("\n".join(lines) + "\n")
    r = CliRunner().invoke(main, ["--config", str(cfg), "doctor", "--timeout", "5", "--csv"])
    assert r.exit_code == 1, r.output
    body = r.stdout.splitlines()
    assert body[0] == "connector,probe,url,ok,detail"
    oks = {ln.split(",")[3] for ln in body[1:]}
    assert oks == {"ok", "FAIL"}
    fails = [ln for ln in body[1:] if ",FAIL," in ln]
    assert fails and all("cannot resolve host" in ln for ln in fails)
    total = len(body) - 1
    assert r.stderr == f"error: doctor: {len(fails)} of {total} probes failed, {total - len(fails)} ok\n"
    js = CliRunner().invoke(main, ["--config", str(cfg), "doctor", "--timeout", "5", "--json"])
    assert {row["ok"] for row in json.loads(js.stdout)} == {True, False}  # machines keep booleans


def _connector_names() -> list[str]:
    from tracer.registry import names

    return names()


# ---- demo ------------------------------------------------------------------------------------------

def test_demo_writes_a_toml_config_that_config_accepts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: demo-config.json, which --config refused ("not a TOML file")."""
    out = tmp_path / "demo"
    r = CliRunner().invoke(main, ["-q", "demo", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert not (out / "demo-config.json").exists()
    cfg = out / "demo-config.toml"
    assert cfg.is_file()
    monkeypatch.chdir(tmp_path)  # the config names the store; no --db
    shown = CliRunner().invoke(main, ["--config", str(cfg), "config", "show", "db"])
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.strip() == f"db = {json.dumps(str(out / 'tracer.db'))}"
    runs = CliRunner().invoke(main, ["--config", str(cfg), "runs", "--json"])
    assert runs.exit_code == 0, runs.output
    assert "demo" in [r["command"] for r in json.loads(runs.stdout)]  # the demo's own store
    url = CliRunner().invoke(main, ["--config", str(cfg), "config", "show", "--json",
                                    "connectors.ofac_addresses.base_url"])
    assert json.loads(url.stdout)["connectors"]["ofac_addresses"]["base_url"].startswith("http://127.0.0.1:")


def test_an_interrupted_scheduled_cycle_records_why(tmp_path: Path, fault_server: FaultServer) -> None:
    """`tracer run` stopped by a signal: same rule as the sync, for the cycle's own run row."""
    from conftest import ofac_cfg

    from tracer.scheduler import run_cycle
    from tracer.store import open_store

    fault_server.latency = 5.0
    db = tmp_path / "t.db"
    store = open_store(str(db))

    async def go() -> None:
        task = asyncio.ensure_future(run_cycle(store, ofac_cfg(db, f"{fault_server.base}/lists"), tmp_path / "out"))
        await asyncio.sleep(1.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    try:
        asyncio.run(go())
        rows = {r["command"]: r for r in store.runs(5)}
    finally:
        store.close()
    assert rows["run"]["status"] == "interrupted"
    assert rows["run"]["error"] == "interrupted by a signal (Ctrl-C or SIGTERM)"


def test_an_interrupted_run_keeps_the_first_real_error(tmp_path: Path, fault_server: FaultServer,
                                                       resolver_guard: list[str]) -> None:
    """Ctrl-C on a sync where one host never resolved: the run log names that cause, not the signal alone."""
    from conftest import ofac_cfg

    from tracer.pipeline import sync
    from tracer.store import open_store

    fault_server.latency = 5.0
    db = tmp_path / "t.db"
    cfg = ofac_cfg(db, f"{fault_server.base}/lists")
    cfg["connectors"]["ionet"] = {"base_url": "http://ionet.invalid/v1", "device_ids": ["dev1"],
                                  "token": "test-token-1234"}
    store = open_store(str(db))

    async def go() -> None:
        task = asyncio.ensure_future(sync(store, cfg, ["ofac_addresses", "ionet"]))
        await asyncio.sleep(2.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    try:
        asyncio.run(go())
        [run] = store.runs(5)
    finally:
        store.close()
    assert run["status"] == "interrupted"
    assert run["error"] == ("interrupted by a signal (Ctrl-C or SIGTERM); first error: ionet.devices: "
                            "GET http://ionet.invalid/v1/devices/dev1/details: cannot resolve host ionet.invalid")
