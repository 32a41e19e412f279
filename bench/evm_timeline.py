"""Where a ``tracer sync evm`` run's wall time goes on the sparse chain: the process start, each
request the proxy saw (arrival and answer, ms from the start), the process end.

    .venv/bin/python bench/evm_timeline.py [--runs 3] [--blocks 200000] [--latency 0.05]

Why: on a far node the run is a chain of round trips; this shows which ones are on the critical
path (sequential), how many windows are in flight at once, and what the process does after its last
answer (store commit, deferred indexes, close).  Same node, proxy and tracer settings as
bench/evm_sync.py's sparse chain.  The process's CPU seconds are printed too; lines it writes to
stderr as ``MARK <name> <time.time()>`` are placed on the timeline (``TIMELINE_PROBE``: Python code
run instead of the default probe below, e.g. one that wraps store methods to mark them).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import evm_sync as es  # noqa: E402

# tracer's console script, marking (on stderr) when the command returned and when the interpreter's
# exit handlers ran (the first registered runs last).
PROBE = """
import atexit, sys, time
atexit.register(lambda: sys.stderr.write(f"MARK atexit-last {time.time()}\\n"))
sys.argv = ["tracer", *sys.argv[1:]]
from tracer.entry import run
try:
    run()
finally:
    sys.stderr.write(f"MARK command-returned {time.time()}\\n")
"""


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--blocks", type=int, default=200_000)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--max-range", type=int, default=10_000)
    ap.add_argument("--tracer-settings", type=json.loads, default={})
    a = ap.parse_args()
    from evm_support import toml_of

    node = es.Server("evm_node.py", ["--blocks", str(a.blocks)], info=True)
    proxy = es.Server("evm_proxy.py", ["--upstream", node.url, "--latency", str(a.latency),
                                       "--max-range", str(a.max_range)])
    try:
        extra = {"max_window": a.max_range, "window": a.max_range, **a.tracer_settings}  # as bench/evm_sync.py
        for i in range(a.runs):
            with tempfile.TemporaryDirectory() as d:
                db, cfg = Path(d) / "bench.db", Path(d) / "tracer.toml"
                cfg.write_text(toml_of(es.tracer_config(db, proxy.url, node.info, extra, 16)))
                proxy.stats(reset=True)
                cpu0 = _cpu()
                t0 = time.time()
                r = subprocess.run([es.PY, "-c", os.environ.get("TIMELINE_PROBE") or PROBE, "--config", str(cfg), "--db", str(db), "sync", "evm"],
                                   env=es.env(), capture_output=True, text=True, timeout=300)
                t1 = time.time()
                cpu = _cpu() - cpu0
                if r.returncode:
                    raise SystemExit(r.stderr[-2000:])
                with urllib.request.urlopen(proxy.url + "log", timeout=10) as f:
                    events = json.loads(f.read())
            print(f"run {i + 1}: {(t1 - t0) * 1000:.0f} ms, CPU {cpu * 1000:.0f} ms, {len(events)} requests "
                  f"(load average {os.getloadavg()[0]:.2f})")
            last = 0.0
            for arr, done, method, span in sorted(events):
                inflight = sum(1 for x in events if x[0] <= arr and (x[1] or 1e18) > arr)
                print(f"  {(arr - t0) * 1000:6.0f} -> {((done or arr) - t0) * 1000:6.0f} ms  {method}"
                      + (f" span {span}" if span else "") + f"  ({inflight} in flight)")
                last = max(last, done or arr)
            marks = [line.split()[1:3] for line in r.stderr.splitlines() if line.startswith("MARK ")]
            for name, t in sorted(marks, key=lambda kv: float(kv[1])):  # noqa: B007
                print(f"  {(float(t) - t0) * 1000:6.0f} ms  {name}")
            print(f"  {(t1 - t0) * 1000:6.0f} ms  process end ({(t1 - last) * 1000:.0f} ms after the last answer)")
    finally:
        proxy.stop()
        node.stop()


if __name__ == "__main__":
    main()
