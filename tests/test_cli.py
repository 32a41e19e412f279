"""The real ``tracer`` command: help that teaches, exit codes 0/1/2, one-line errors without
tracebacks, the run lock, Ctrl-C, and secrets that never reach stderr or the database."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from conftest import NOW, demo_assets
from faultserver import TRACER, FaultServer, cli_env, run_cli, write_config

from tracer import cli
from tracer.store import Store

KEY = "0123456789abcdef0123456789abcdef"
APIKEY = "SECRETAPIKEY42"


def _walk(cmd: click.Command, ctx: click.Context, path: list[str]) -> list[list[str]]:
    out = [path]
    if isinstance(cmd, click.Group):
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            assert sub is not None, f"{' '.join(path + [name])} is listed but cannot be loaded"
            out += _walk(sub, click.Context(sub, parent=ctx, info_name=name), path + [name])
    return out


def _all_commands() -> list[list[str]]:
    return _walk(cli.main, click.Context(cli.main, info_name="tracer", **cli.main.context_settings), [])


def test_every_command_is_walked_including_lazy_ones() -> None:
    names = {" ".join(p) for p in _all_commands()}
    assert {"", "sync", "state", "state show", "state reset", "runs", "doctor", "connectors"} <= names
    assert set(cli.LAZY_COMMANDS) <= names


@pytest.mark.parametrize("path", _all_commands(), ids=lambda p: " ".join(p) or "tracer")
def test_help_teaches(path: list[str]) -> None:
    res = CliRunner().invoke(cli.main, [*path, "--help"])
    assert res.exit_code == 0, res.output
    text = res.output
    assert "Usage:" in text
    cmd: Any = cli.main
    ctx = click.Context(cli.main, info_name="tracer", **cli.main.context_settings)
    for p in path:
        cmd = cmd.get_command(ctx, p)
        ctx = click.Context(cmd, parent=ctx, info_name=p)
    doc = (cmd.help or "").strip()
    has_example = "example" in text.lower() or "tracer " in doc
    words = len(doc.split())
    assert has_example or words >= 8, f"`tracer {' '.join(path)} --help` neither shows an example " \
                                      f"nor describes the command ({words} words)"


def test_top_level_help_subprocess() -> None:
    r = run_cli(["--help"])
    assert r.returncode == 0 and "tracer sync" in r.stdout


@pytest.mark.parametrize("args", [["sync", "--bogus"], ["nosuchcommand"], ["state", "reset"],
                                  ["runs", "--limit", "many"], ["sync", "nosuchconnector"]])
def test_usage_errors_exit_2_without_traceback(tmp_path: Path, args: list[str]) -> None:
    r = run_cli(["--db", str(tmp_path / "t.db"), *args])
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and r.stderr.strip()


def test_bad_config_file_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[connectors\n")
    r = run_cli(["--config", str(bad), "runs"])
    assert r.returncode == 2 and "not valid TOML" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def _sync_args(tmp_path: Path, base: str, *extra: str, **kw: Any) -> list[str]:
    cfg = write_config(tmp_path / "tracer.toml", base, assets=demo_assets(),
                       limits={"backoff_base": 0.01, "max_retries": 2, "rate": 0, **kw.pop("limits", {})}, **kw)
    return ["--config", str(cfg), "--db", str(tmp_path / "t.db"), *extra, "sync", "ofac_addresses"]


def test_sync_ok_then_runs_json_and_state(tmp_path: Path, fault_server: FaultServer) -> None:
    r = run_cli(_sync_args(tmp_path, fault_server.base + "/lists/", "-q"))
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    db = ["--db", str(tmp_path / "t.db")]
    runs = json.loads(run_cli([*db, "runs", "--json"]).stdout)
    assert [x["status"] for x in runs] == ["ok"] and runs[0]["records"] > 0
    streams = json.loads(run_cli([*db, "runs", "--streams", "--json"]).stdout)
    assert streams[0]["stream"] == "ofac_addresses.addresses" and streams[0]["pages"] == len(demo_assets()) + 1
    st = json.loads(run_cli([*db, "state", "show", "--json"]).stdout)
    assert json.loads(st[0]["state"])["complete"] is True
    csv = run_cli([*db, "state", "show", "--csv"]).stdout.splitlines()
    assert csv[0] == "stream,state,updated_at,run_id"
    r = run_cli([*db, "state", "reset", "ofac_addresses"])
    assert r.returncode == 0 and "reset 1" in r.stdout
    assert json.loads(run_cli([*db, "state", "show", "--json"]).stdout) == []


def test_connectors_lists_registered(tmp_path: Path) -> None:
    r = run_cli(["--db", str(tmp_path / "t.db"), "connectors", "--json"])
    assert r.returncode == 0
    assert "ofac_addresses" in {row["connector"] for row in json.loads(r.stdout)}


@pytest.mark.parametrize("status", ["403", "404"])
def test_fatal_4xx_exits_1_with_one_line(tmp_path: Path, fault_server: FaultServer, status: str) -> None:
    fault_server.always = status
    r = run_cli(_sync_args(tmp_path, fault_server.base + "/lists/", "-q"))
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and f"HTTP {status}" in lines[0] and lines[0].startswith("error: ")


def test_second_sync_is_refused_while_the_lock_is_held(tmp_path: Path, fault_server: FaultServer) -> None:
    args = _sync_args(tmp_path, fault_server.base + "/lists/", "-q")
    store = Store(tmp_path / "t.db")
    with store.lock("sync"):
        r = run_cli(args)
    store.close()
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "another tracer run holds" in lines[0] and "Traceback" not in r.stderr
    assert run_cli(args).returncode == 0  # released: the next run goes ahead


def _no_secret(text: str | bytes, where: str) -> None:
    data = text.encode() if isinstance(text, str) else text
    for s in (KEY, APIKEY):
        assert s.encode() not in data, f"{s} leaked into {where}"


@pytest.mark.parametrize("failing", [False, True])
def test_secrets_never_leak(tmp_path: Path, fault_server: FaultServer, failing: bool) -> None:
    base = f"{fault_server.base}/v3/{KEY}/?apikey={APIKEY}"
    if failing:
        fault_server.inject(f"sanctioned_addresses_{demo_assets()[0]}.txt", "500", "500")
        fault_server.inject(f"sanctioned_addresses_{demo_assets()[-1]}.txt", "403")
    r = run_cli(_sync_args(tmp_path, base, "-v", limits={"max_retries": 2}))
    assert r.returncode == (1 if failing else 0), r.stderr
    assert all(KEY in p and APIKEY in p for _, p, _ in fault_server.log)  # the key was really sent
    _no_secret(r.stderr, "stderr")
    _no_secret(r.stdout, "stdout")
    if failing:
        assert "HTTP 403" in r.stderr and "***" in r.stderr
    db = ["--db", str(tmp_path / "t.db")]
    for extra in (["runs", "--json"], ["runs", "--streams", "--json"], ["state", "show", "--json"],
                  ["doctor", "--json"]):
        out = run_cli([*db, "--config", str(tmp_path / "tracer.toml"), *extra])
        _no_secret(out.stdout + out.stderr, " ".join(extra))
    store = Store(tmp_path / "t.db")
    urls = [x["url"] for x in store.query("SELECT url FROM raw_payloads")]
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    assert urls
    for u in urls:
        _no_secret(u, "raw_payloads.url")
    for f in tmp_path.iterdir():
        if f.name.startswith("t.db"):
            _no_secret(f.read_bytes(), f.name)


def test_ctrl_c_marks_the_run_interrupted(tmp_path: Path, fault_server: FaultServer) -> None:
    args = _sync_args(tmp_path, fault_server.base + "/lists/", "-q")
    fault_server.latency = 0.05
    fault_server.kill_at, fault_server.kill_signal = 3, signal.SIGINT
    child = subprocess.Popen([TRACER, *args], env=cli_env(TRACER_NOW=NOW), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    fault_server.kill_pid = child.pid
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and "interrupted" in err
    store = Store(tmp_path / "t.db")
    [run] = store.runs()
    st = store.get_state("ofac_addresses.addresses")
    store.close()
    assert run["status"] == "interrupted" and run["ended_at"]
    assert 1 <= len(st["done"]) < len(demo_assets())


def test_progress_is_quiet_when_stderr_is_not_a_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert cli._progress_factory(False) == (None, None)

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stderr", Tty())
    prog, factory = cli._progress_factory(False)
    assert prog is not None and callable(factory)
    assert cli._progress_factory(True) == (None, None)  # -q wins even on a terminal


def _doctor_config(tmp_path: Path, base: str, assets: list[str]) -> Path:
    from tracer.registry import connectors

    lines = []
    for name in connectors():
        if name != "ofac_addresses":
            lines += [f"[connectors.{name}]", "enabled = false"]
    lines += ["[connectors.ofac_addresses]", f'base_url = "{base}"', f"assets = {json.dumps(assets)}"]
    p = tmp_path / "doctor.toml"
    p.write_text("\n".join(lines) + "\n")
    return p


def test_doctor_ok_rows_and_a_failing_row(tmp_path: Path, fault_server: FaultServer) -> None:
    cfg = _doctor_config(tmp_path, fault_server.base + "/lists/", ["ETH"])
    r = run_cli(["--config", str(cfg), "--db", str(tmp_path / "t.db"), "doctor", "--json"])
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [(x["probe"], x["ok"]) for x in rows] == [("ETH list", True)]
    assert "HTTP 200" in rows[0]["detail"]
    assert r.stderr == "doctor: all 1 probes ok\n"

    cfg = _doctor_config(tmp_path, fault_server.base + "/lists/", ["ETH", "NOPE"])
    r = run_cli(["--config", str(cfg), "--db", str(tmp_path / "t.db"), "doctor", "--json"])
    assert r.returncode == 1 and "Traceback" not in r.stderr
    rows = {x["probe"]: x for x in json.loads(r.stdout)}
    assert rows["ETH list"]["ok"] is True
    assert rows["NOPE list"]["ok"] is False and "HTTP 404" in rows["NOPE list"]["detail"]


def test_doctor_unreachable_endpoint_is_a_row_not_a_crash(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = _doctor_config(tmp_path, f"http://127.0.0.1:{port}/", ["ETH"])
    r = run_cli(["--config", str(cfg), "--db", str(tmp_path / "t.db"), "doctor", "--csv", "--timeout", "2"])
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stdout.splitlines()[0] == "connector,probe,url,ok,detail"
    assert r.stdout.splitlines()[1].endswith(f",FAIL,GET http://127.0.0.1:{port}/sanctioned_addresses_ETH.txt: "
                                             f"connection refused by 127.0.0.1:{port}")
    assert r.stderr == "error: doctor: 1 of 1 probes failed, 0 ok\n"


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stopped_sync_logs_the_stream_as_interrupted(tmp_path: Path, fault_server: FaultServer,
                                                       sig: signal.Signals, code: int) -> None:
    """cron timeouts and systemd send SIGTERM: the run must end as interrupted, not stay running."""
    args = _sync_args(tmp_path, fault_server.base + "/lists/", "-q")
    fault_server.latency = 0.05
    fault_server.kill_at, fault_server.kill_signal = 4, sig
    child = subprocess.Popen([TRACER, *args], env=cli_env(TRACER_NOW=NOW), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    fault_server.kill_pid = child.pid
    _, err = child.communicate(timeout=60)
    assert child.returncode == code, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    store = Store(tmp_path / "t.db")
    [run] = store.runs()
    streams = store.query("SELECT stream, status, pages FROM run_streams")
    store.close()
    assert run["status"] == "interrupted"
    assert [(s["stream"], s["status"]) for s in streams] == [("ofac_addresses.addresses", "interrupted")]
    assert streams[0]["pages"] >= 1
    r = run_cli(args)  # and the next run resumes and finishes
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize(("key", "value", "match"), [
    ("CONCURRENCY", "0", "concurrency"), ("RATE", "-1", "rate"), ("TIMEOUT", "0", "timeout"),
    ("CONCURENCY", "4", "unknown"), ("RATE", '"fast"', "rate"),
])
def test_bad_limits_are_a_usage_error_not_a_hang(tmp_path: Path, fault_server: FaultServer, key: str,
                                                 value: str, match: str) -> None:
    env = cli_env(**{f"TRACER_CONNECTORS__OFAC_ADDRESSES__LIMITS__{key}": value})
    r = run_cli(_sync_args(tmp_path, fault_server.base + "/lists/", "-q"), env=env, timeout=30)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1 and match in r.stderr
    assert fault_server.log == []
