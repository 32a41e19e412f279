"""Startup: what a user waits for before tracer does anything (issue 16: under 0.3 s of imports).

Whole-process wall time, warm bytecode cache (``bench/out/pycache``; PYTHONDONTWRITEBYTECODE is
set in this environment, so the cache is our own), median of ``--runs``:

- ``python -c pass``: the interpreter alone, the baseline;
- ``tracer --help``;
- ``tracer sync evm`` up to its first request: the process is started against an RPC URL on a
  loopback port and an audit hook (``socket.connect``) notes the time of the first connection
  there and ends the process -- no network, and nothing but startup is measured.  Its CPU time
  (user + system) is printed too: on a loaded machine it varies less than the wall time, which
  also counts the time the process waited for a core.  And the number of modules loaded by then.

Also the ``-X importtime`` total of each (the sum of the top-level imports' cumulative times; it
counts import work only, not the interpreter's start, and ``-X importtime`` itself slows imports a
little).  The machine's load average is printed: on a loaded machine every number grows.

    .venv/bin/python bench/startup.py
    .venv/bin/python bench/startup.py --runs 9
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYCACHE = ROOT / "bench" / "out" / "pycache"

# Run as ``python -c PROBE <tracer args>``: tracer's console script, with an audit hook that writes the
# time (and the modules loaded) at the first connection to 127.0.0.1 and then ends the process.
PROBE = """
import json, os, sys, time
_out, _port = os.environ["STARTUP_PROBE_OUT"], int(os.environ["STARTUP_PROBE_PORT"])
def _hook(event, args):
    if event == "socket.connect" and isinstance(args[1], tuple) and args[1][:2] == ("127.0.0.1", _port):
        with open(_out, "w") as f:
            json.dump({"t": time.time(), "modules": sorted(sys.modules)}, f)
        os._exit(0)
sys.addaudithook(_hook)
sys.argv = ["tracer", *sys.argv[1:]]
from tracer.entry import run
run()
"""


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(PYCACHE)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tracer() -> list[str]:
    script = Path(sys.executable).parent / "tracer"
    return [str(script)] if script.exists() else [sys.executable, "-c", "from tracer.entry import run; run()"]


def _wall(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def _sync_setup(tmp: Path) -> tuple[list[str], dict[str, str]]:
    """The probe command and environment for ``tracer sync evm`` against a loopback port."""
    port = _free_port()
    cfg = tmp / "tracer.toml"
    cfg.write_text(f'[connectors.evm.chains.ethereum]\nrpc_url = "http://127.0.0.1:{port}/"\n'
                   "[connectors.evm.chains.polygon]\nenabled = false\n")
    env = {**_env(), "STARTUP_PROBE_OUT": str(tmp / "probe.json"), "STARTUP_PROBE_PORT": str(port)}
    return [sys.executable, "-c", PROBE, "--config", str(cfg), "--db", str(tmp / "t.db"), "sync", "evm"], env


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _first_request(tmp: Path) -> tuple[float, float, int]:
    """Seconds from starting ``tracer sync evm`` to its first connection, the process's CPU seconds
    (it ends there), and the number of modules it had loaded."""
    cmd, env = _sync_setup(tmp)
    for f in tmp.glob("t.db*"):
        f.unlink()
    out = Path(env["STARTUP_PROBE_OUT"])
    out.unlink(missing_ok=True)
    cpu = _cpu()
    t = time.time()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    cpu = _cpu() - cpu
    if not out.exists():
        raise SystemExit("tracer sync evm ended without a request to the loopback RPC URL")
    data = json.loads(out.read_text())
    return float(data["t"]) - t, cpu, len(data["modules"])


_ROW = re.compile(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)")


def _importtime(cmd: list[str], env: dict[str, str]) -> tuple[float, list[tuple[float, str]]]:
    """The ``-X importtime`` total (seconds) of a Python command, and its slowest top-level imports."""
    res = subprocess.run([cmd[0], "-X", "importtime", *cmd[1:]], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True, timeout=120)
    top = [(int(m.group(1)) / 1e6, m.group(3)) for m in map(_ROW.match, res.stderr.splitlines())
           if m and not m.group(2).strip(" ") and len(m.group(2)) == 1]
    return sum(t for t, _ in top), sorted(top, reverse=True)[:5]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="runs per measurement (the median is shown)")
    args = ap.parse_args()
    PYCACHE.mkdir(parents=True, exist_ok=True)
    env = _env()
    help_cmd = [sys.executable, "-c", "from tracer.entry import run; run()", "--help"]
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        # warm the bytecode cache (and the OS's file cache) once
        _wall([sys.executable, "-c", "pass"], env)
        _wall([*_tracer(), "--help"], env)
        _first_request(tmp)
        base = statistics.median(_wall([sys.executable, "-c", "pass"], env) for _ in range(args.runs))
        helps = statistics.median(_wall([*_tracer(), "--help"], env) for _ in range(args.runs))
        firsts = [_first_request(tmp) for _ in range(args.runs)]
        first = statistics.median(f[0] for f in firsts)
        first_cpu = statistics.median(f[1] for f in firsts)
        it_help, slow_help = _importtime(help_cmd, env)
        sync_cmd, sync_env = _sync_setup(tmp)
        it_sync, slow_sync = _importtime(sync_cmd, sync_env)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; medians of {args.runs}, warm cache")
    print(f"{'python -c pass':<36} {base * 1000:8.0f} ms")
    print(f"{'tracer --help':<36} {helps * 1000:8.0f} ms  ({helps / base:.1f}x python -c pass)")
    print(f"{'tracer sync evm: first request at':<36} {first * 1000:8.0f} ms  ({first / base:.1f}x python -c pass;"
          f" CPU {first_cpu * 1000:.0f} ms, {firsts[-1][2]} modules)")
    print(f"{'importtime total, tracer --help':<36} {it_help * 1000:8.0f} ms  slowest: "
          + ", ".join(f"{n} {t * 1000:.0f}" for t, n in slow_help))
    print(f"{'importtime total, sync evm':<36} {it_sync * 1000:8.0f} ms  slowest: "
          + ", ".join(f"{n} {t * 1000:.0f}" for t, n in slow_sync))


if __name__ == "__main__":
    main()
