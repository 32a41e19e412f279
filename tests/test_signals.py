"""Signals from the first instruction of the `tracer` console script (issue 17).

Ctrl-C in the first ~1.5 s used to print a 30-line KeyboardInterrupt traceback from inside an
import, and SIGTERM then killed the process (-15) with no message.  Here a real `tracer` process is
signalled at several early moments (bytecode not written, so imports are slow and the window
wide): one line on stderr, 130 or 143, no traceback, and the next commands find a usable store
(no half-created database, no held lock, no run left `running`).

The moments are counted from the start of the process but never before its SIGTERM handler is
visible in /proc (`SigCgt`): before that the interpreter itself is starting (about 40 ms, longer
on a loaded machine) and no tracer code has run yet; that window is Python's, not ours.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import NOW
from faultserver import TRACER, FaultServer, cli_env, run_cli, write_config

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/status")

EXPECTED: dict[int, tuple[int, str]] = {
    signal.SIGINT: (130, "interrupted: work stored so far is kept; run again to resume"),
    signal.SIGTERM: (143, "terminated: work stored so far is kept; run again to resume"),
}


def _sigterm_caught(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (signal.SIGTERM - 1) & 1)
    except OSError:
        pass
    return False


def _signal_at(child: subprocess.Popen[str], sig: int, delay: float, t0: float) -> float:
    """Send ``sig`` ``delay`` s after ``t0``, but not before tracer's handlers are in place (or
    2 s have passed: a tracer that never installs them fails the test instead of hanging it)."""
    time.sleep(max(0.0, t0 + delay - time.monotonic()))
    while not _sigterm_caught(child.pid) and time.monotonic() < t0 + 2.0 and child.poll() is None:
        time.sleep(0.001)
    sent = time.monotonic() - t0
    child.send_signal(sig)
    return sent


def _env(**extra: str) -> dict[str, str]:
    return cli_env(PYTHONDONTWRITEBYTECODE="1", TRACER_NOW=NOW, **extra)


def _check_one_line(child: subprocess.Popen[str], sig: int, when: str) -> None:
    out, err = child.communicate(timeout=60)
    code, line = EXPECTED[sig]
    assert "Traceback" not in err, f"{when}: {err}"
    assert err.splitlines() == [line], f"{when}: rc {child.returncode}: {err!r}"
    assert child.returncode == code, f"{when}: {err!r}"


def _no_debris(folder: Path, db: Path) -> None:
    """No temporary store left beside the database, no empty database; an existing one is usable
    (no run left `running`, the lock free for the next writer)."""
    assert [f.name for f in folder.iterdir() if ".new-" in f.name] == []
    if db.exists():
        assert db.stat().st_size > 0, "a zero-byte database was left behind"
        r = run_cli(["--db", str(db), "runs", "--json"], env=_env())
        assert r.returncode == 0, r.stderr
        assert all(run["status"] != "running" for run in json.loads(r.stdout))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("delay", [0.0, 0.05, 0.2])
def test_a_signal_during_startup_is_one_line_and_the_conventional_code(tmp_path: Path, sig: int,
                                                                        delay: float) -> None:
    """`tracer find` on an existing store: imports, config, the store (about 0.8 s cold on an idle
    machine). The store exists first: `find` refuses a missing one at once (issue 15), which would
    end the process before the signal instead of exercising startup."""
    from tracer.store import open_store

    db = tmp_path / "t.db"
    open_store(str(db)).close()
    # An empty bytecode cache: every import compiles, so startup spans all three moments (a warm
    # cache ends `find` on an empty store in ~0.2 s, before the last signal).
    env = _env(PYTHONPYCACHEPREFIX=str(tmp_path / "pycache"))
    t0 = time.monotonic()
    child = subprocess.Popen([TRACER, "--db", str(db), "find", "Kowloon"], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    sent = _signal_at(child, sig, delay, t0)
    _check_one_line(child, sig, f"{signal.Signals(sig).name} at {sent:.3f}s")
    _no_debris(tmp_path, db)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_as_the_store_is_created_leaves_no_debris(tmp_path: Path, sig: int) -> None:
    """Signalled the moment a file of the new store appears (it is being created and migrated)."""
    cfg = write_config(tmp_path / "tracer.toml", str(tmp_path / "no-such-folder") + "/", assets=["ETH"])
    for attempt in range(3):
        db = tmp_path / f"t{attempt}.db"
        child = subprocess.Popen([TRACER, "--config", str(cfg), "--db", str(db), "-q", "sync", "ofac_addresses"],
                                 env=_env(), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while (child.poll() is None and time.monotonic() < deadline
               and not any(f.name.startswith(db.name) for f in tmp_path.iterdir())):
            time.sleep(0.0005)
        child.send_signal(sig)
        out, err = child.communicate(timeout=60)
        assert "Traceback" not in err, err
        if child.returncode != 1:  # 1: the sync was over (its source is missing) before the signal
            code, line = EXPECTED[sig]
            assert (child.returncode, err.splitlines()) == (code, [line])
        _no_debris(tmp_path, db)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("delay", [0.0, 0.2, 0.5, 2.5])
def test_a_signal_early_in_a_sync_leaves_a_resumable_store(tmp_path: Path, fault_server: FaultServer,
                                                           sig: int, delay: float) -> None:
    """`tracer sync` with a slow source: a signal during startup, or once requests are in flight
    (2.5 s), ends with one line; no run stays `running`, the lock is free and the next sync is ok."""
    # Long enough that 2.5 s falls inside the first request however fast startup is (lazy imports
    # made a 1.5 s-latency sync end before 2.5 s, so that signal met an exited process).
    fault_server.latency = 6.0
    cfg = write_config(tmp_path / "tracer.toml", fault_server.base + "/lists/", assets=["ETH"],
                       limits={"backoff_base": 0.01, "timeout": 10})
    args = ["--config", str(cfg), "--db", str(tmp_path / "t.db"), "-q", "sync", "ofac_addresses"]
    t0 = time.monotonic()
    child = subprocess.Popen([TRACER, *args], env=_env(), text=True, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    sent = _signal_at(child, sig, delay, t0)
    _check_one_line(child, sig, f"{signal.Signals(sig).name} at {sent:.3f}s")
    fault_server.latency = 0.0
    db = ["--db", str(tmp_path / "t.db")]
    if (tmp_path / "t.db").exists():
        runs = json.loads(run_cli([*db, "runs", "--json"], env=_env()).stdout)
        assert all(r["status"] != "running" for r in runs), runs
    r = run_cli(args, env=_env())
    assert r.returncode == 0, r.stderr  # not refused by a lock, not a broken store


def test_sigterm_after_a_sync_is_still_handled(tmp_path: Path) -> None:
    """asyncio's remove_signal_handler resets SIGTERM to the default: tracer's handler must be back
    once a sync's event loop is done (checked in a process that ran one)."""
    code = (
        "import asyncio, signal\n"
        "from tracer import entry\n"
        "from tracer.cli import _stoppable\n"
        "entry.install()\n"
        "async def work():\n"
        "    return 1\n"
        "assert asyncio.run(_stoppable(work())) == 1\n"
        "print(signal.getsignal(signal.SIGTERM) is entry._on_sigterm)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(),
                       timeout=60, cwd=os.getcwd())
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "True"


@pytest.mark.parametrize("exc,code", [("KeyboardInterrupt", 130), ("Terminated", 143)])
def test_a_signal_between_a_coroutine_made_and_run_is_still_one_line(tmp_path: Path, exc: str, code: int) -> None:
    """A signal that lands after a command made its coroutine for ``asyncio.run`` but before the
    loop ran it (a SIGINT at 0.2 s into ``tracer sync`` can) is the same one line: Python's
    "coroutine ... was never awaited" warning on the way out is that interruption, not news."""
    script = (
        "import tracer.cli\n"
        "from tracer import entry\n"
        "async def work(): pass\n"
        "def command():\n"
        "    made = work()  # what asyncio.run(work()) holds before its loop runs it\n"
        f"    raise {'entry.Terminated' if exc == 'Terminated' else exc}\n"
        "tracer.cli.run = command\n"
        "entry.run()\n")
    r = subprocess.run([sys.executable, "-c", script], env=_env(), capture_output=True, text=True, timeout=60,
                       cwd=tmp_path)
    assert r.returncode == code
    assert r.stderr.splitlines() == [EXPECTED[signal.SIGINT if code == 130 else signal.SIGTERM][1]], r.stderr
