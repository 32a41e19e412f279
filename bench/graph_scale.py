"""Scale benchmark: a synthetic store with N transfers (+ N/20 leases) -> build + cluster + score.

    .venv/bin/python bench/graph_scale.py                          # 100k and 1M transfers, networkx
    .venv/bin/python bench/graph_scale.py --sizes 100000           # one size
    .venv/bin/python bench/graph_scale.py --engine both --sizes 1000000,10000000   # issue 14

Each size runs in fresh subprocesses: one writes the store (through ``Store.write_page``, like a
sync), then one per engine reads it and scores (``tracer score`` as a library call, flags written).
Reported per engine: seconds of the whole scoring process (interpreter start, imports, a Spark
session's JVM start included), the driver's peak RSS (``ru_maxrss`` of the Python process) and the
peak RSS of its whole process tree (the JVM and Spark's Python workers included), sampled from
/proc every 0.25 s.  Both engines' flags are compared (count and levels) when both finish.
Goal (networkx): 1M transfers in <= 60 s and <= 4 GB on a 2-core machine, close to linear.
Bounded: the world is fixed-size, each subprocess has a timeout, and a run that fails (out of
memory, timeout) is reported as such, not retried.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAGE = 50_000
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z


def _iso(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def generate(db: str, n_transfers: int, seed: int = 7) -> dict[str, float]:
    """Write the synthetic world: exchanges, wallets, listed wallets, Sybil stars, providers, leases."""
    from connectors.base import Page, Record
    from tracer.store import Store

    rnd = random.Random(seed)
    store = Store(db)
    n_wallets = max(1000, n_transfers // 5)
    n_leases = n_transfers // 20
    wallets = [f"wallet:evm:0x{i:040x}" for i in range(n_wallets)]
    exchanges = wallets[:5]
    listed = wallets[5:5 + max(5, n_wallets // 4000)]
    providers = [f"provider:akash:akash1prov{i:06d}" for i in range(max(20, n_leases // 100))]
    gpus = ["h100-sxm", "a100", "rtx-4080", "l4", "rtx-4090", "h20"]
    pages = 0

    def flush(recs: list[Record], part: str) -> None:
        nonlocal pages
        pages += 1
        body = f"synthetic {part} page {pages}".encode()
        store.write_page(f"bench.{part}", Page(body=body, url=f"bench://{part}/{pages}", method="GET",
                                               data=None, state=None, fetched_at=_iso(T0)), recs, "bench")
        recs.clear()

    t = time.monotonic()
    recs: list[Record] = []
    for i, ex in enumerate(exchanges):
        recs.append(Record("observations", {"id": f"obs:tag:{i}", "subject": ex, "predicate": "tag",
                                            "value": f"Exchange {i}", "confidence": 0.9,
                                            "attrs": {"category": "exchange"}, "source": "bench"}))
    for i, w in enumerate(listed):
        recs.append(Record("observations", {"id": f"obs:sdn:{i}", "subject": w, "predicate": "sanctioned",
                                            "value": "OFAC SDN", "confidence": 1.0, "source": "bench"}))
    for i, p in enumerate(providers):
        recs.append(Record("observations", {"id": f"obs:loc:{i}", "subject": p, "predicate": "location",
                                            "value": rnd.choice(["US", "DE", "CN", "SG", "RU", "FR"]),
                                            "attrs": {"layer": rnd.choice(["declared", "audited", "ip"])},
                                            "source": "bench"}))
        recs.append(Record("edges", {"id": f"e:off:{i}", "kind": "offers_gpu", "src": p,
                                     "dst": f"gpu:{rnd.choice(gpus)}", "attrs": {"count": 8}, "source": "bench"}))
        recs.append(Record("edges", {"id": f"e:pay:{i}", "kind": "payout_to", "src": p,
                                     "dst": f"wallet:akash:akash1pay{i:06d}", "source": "bench"}))
    flush(recs, "meta")
    # Transfers: each wallet first funded by an exchange, then random wallet-to-wallet payments;
    # 1% of payments come in Sybil stars (one funder, 6 fresh wallets within hours).
    k = 0
    for i in range(5, n_wallets):
        k += 1
        recs.append(Record("edges", {"id": f"e:t:{k}", "kind": "paid", "src": rnd.choice(exchanges),
                                     "dst": wallets[i], "chain": "ethereum", "asset": "USDC",
                                     "amount": str(rnd.randint(1, 10**10)), "decimals": 6,
                                     "time": _iso(T0 + i), "source": "bench"}))
        if len(recs) >= PAGE:
            flush(recs, "transfers")
    while k < n_transfers:
        k += 1
        a, b = rnd.randrange(5, n_wallets), rnd.randrange(n_wallets)
        if a == b:
            continue
        recs.append(Record("edges", {"id": f"e:t:{k}", "kind": "paid", "src": wallets[a], "dst": wallets[b],
                                     "chain": "ethereum", "asset": "USDC", "amount": str(rnd.randint(1, 10**9)),
                                     "decimals": 6, "time": _iso(T0 + n_wallets + k * 7), "source": "bench"}))
        if len(recs) >= PAGE:
            flush(recs, "transfers")
    flush(recs, "transfers")
    # Sybil stars: one (non-exchange) funder, 6 fresh wallets funded within hours, each renting.
    sybils: list[str] = []
    for st in range(max(2, n_transfers // 2000)):
        funder = wallets[rnd.randrange(5, n_wallets)]
        for m in range(6):
            w = f"wallet:evm:0x{0xf << 156 | st << 8 | m:040x}"
            sybils.append(w)
            k += 1
            recs.append(Record("edges", {"id": f"e:t:{k}", "kind": "paid", "src": funder, "dst": w,
                                         "chain": "ethereum", "asset": "USDC", "amount": str(900 * 10**6),
                                         "decimals": 6, "time": _iso(T0 + 86400 * 20 + st * 600 + m * 60),
                                         "source": "bench"}))
    for j in range(n_leases):
        lid = f"lease:akash:bench{j}"
        r = sybils[j] if j < len(sybils) else wallets[rnd.randrange(5, n_wallets)]
        when = _iso(T0 + 86400 * 30 + j * 13)
        recs += [
            Record("edges", {"id": f"e:r:{j}", "kind": "rented", "src": r, "dst": lid, "time": when, "source": "bench"}),
            Record("edges", {"id": f"e:lf:{j}", "kind": "leased_from", "src": lid, "dst": rnd.choice(providers),
                             "time": when, "source": "bench"}),
            Record("edges", {"id": f"e:u:{j}", "kind": "uses_gpu", "src": lid, "dst": f"gpu:{rnd.choice(gpus)}",
                             "attrs": {"units": 8}, "time": when, "source": "bench"}),
            Record("observations", {"id": f"obs:gh:{j}", "subject": lid, "predicate": "gpu_hours",
                                    "value": str(rnd.randint(1, 20_000)), "source": "bench"}),
        ]
        if len(recs) >= PAGE:
            flush(recs, "leases")
    flush(recs, "leases")
    store.close()
    return {"generate_s": time.monotonic() - t, "wallets": n_wallets, "leases": n_leases}


def score(db: str, engine: str = "networkx", master: str = "local[*]", driver_memory: str = "8g"
          ) -> dict[str, object]:
    """Read, build, cluster, trace, score and write; timings per stage, peak RSS, flags by level."""
    from tracer.scoring.run import score_store
    from tracer.scoring.spark_engine import Engine
    from tracer.store import Store

    store = Store(db)
    t = time.monotonic()
    eng = Engine(engine, master, {"spark.driver.memory": driver_memory}) if engine == "spark" else None
    res = score_store(store, now="2026-06-01T00:00:00Z", engine=eng)
    total = time.monotonic() - t
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    levels: dict[str, int] = {}
    for f in res.flags:
        levels[f["level"]] = levels.get(f["level"], 0) + 1
    digest = hashlib.sha256(json.dumps([(f["subject"], f["level"], round(f["score"], 9)) for f in res.flags])
                            .encode()).hexdigest()[:16]
    return {"score_total_s": round(total, 2), **{k: round(v, 2) for k, v in res.timings.items()},
            "driver_peak_rss_mb": round(peak_mb), "levels": levels, "flags_digest": digest,
            **{f"n_{k}" if k in res.timings else k: v for k, v in res.stats.items()}}


def _tree_rss_kb(pid: int) -> int:
    """RSS of ``pid`` and every descendant (kB), from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{d}/statm") as f:
                rss[int(d)] = int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(d))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo += children.get(p, [])
    return total


def run_measured(cmd: list[str], timeout: int) -> tuple[int, str, str, float, int]:
    """Run ``cmd``; returns (exit code, stdout, stderr, wall seconds, peak tree RSS in MB)."""
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.25):
            peak[0] = max(peak[0], _tree_rss_kb(proc.pid))

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the JVM and Spark's workers too
        out, err = proc.communicate()
        err += f"\ntimeout after {timeout} s"
    done.set()
    th.join()
    return proc.returncode, out, err, time.monotonic() - t0, round(peak[0] / 1024)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,1000000", help="Comma-separated transfer counts.")
    ap.add_argument("--engine", choices=["networkx", "spark", "both"], default="networkx",
                    help="Scoring engine(s) to run on each store (both: side by side, same store).")
    ap.add_argument("--spark-master", default="local[*]", help="Spark master for the spark engine.")
    ap.add_argument("--driver-memory", default="8g", help="spark.driver.memory (local mode: the JVM's heap).")
    ap.add_argument("--timeout", type=int, default=3600, help="Seconds per subprocess.")
    ap.add_argument("--workdir", default=None, help="Where the stores go (default: a temp dir; 10M is ~6 GB).")
    ap.add_argument("--_generate", nargs=2, metavar=("DB", "N"), help=argparse.SUPPRESS)
    ap.add_argument("--_score", nargs=4, metavar=("DB", "ENGINE", "MASTER", "MEM"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._generate:
        print(json.dumps(generate(args._generate[0], int(args._generate[1]))))
        return
    if args._score:
        db, engine, master, mem = args._score
        print(json.dumps(score(db, engine, master, mem)))
        return
    engines = ["networkx", "spark"] if args.engine == "both" else [args.engine]
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.1f} at start; engines {', '.join(engines)}; "
          "other work running at the same time makes these numbers noisy")
    rows = []
    for n in [int(x) for x in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory(dir=args.workdir) as d:
            db = str(Path(d) / "bench.db")
            g = subprocess.run([sys.executable, __file__, "--_generate", db, str(n)], capture_output=True,
                               text=True, timeout=args.timeout, check=True)
            gen = json.loads(g.stdout.strip().splitlines()[-1])
            by_engine: dict[str, dict[str, object]] = {}
            for eng in engines:
                code, out, err, wall, tree = run_measured(
                    [sys.executable, __file__, "--_score", db, eng, args.spark_master, args.driver_memory],
                    args.timeout)
                if code != 0:
                    last = (err.strip().splitlines() or ["?"])[-1]
                    row = {"transfers": n, "engine": eng, "failed": f"exit {code}: {last[:300]}",
                           "process_s": round(wall, 1), "tree_peak_rss_mb": tree}
                else:
                    sc = json.loads(out.strip().splitlines()[-1])
                    row = {"transfers": n, "engine": eng, "process_s": round(wall, 1), "tree_peak_rss_mb": tree,
                           **gen, **sc}
                    by_engine[eng] = row
                rows.append(row)
                print(json.dumps(row), flush=True)
            if len(by_engine) == 2:
                a, b = by_engine["networkx"], by_engine["spark"]
                same = a["flags_digest"] == b["flags_digest"]
                print(f"{n:,} transfers: spark/networkx time x{b['process_s'] / a['process_s']:.2f}, "  # type: ignore[operator]
                      f"driver RSS {a['driver_peak_rss_mb']} -> {b['driver_peak_rss_mb']} MB, tree RSS "
                      f"{a['tree_peak_rss_mb']} -> {b['tree_peak_rss_mb']} MB; flags {'equal' if same else 'DIFFER'}",
                      flush=True)
    nx_rows = [r for r in rows if r["engine"] == "networkx" and "failed" not in r]
    if len(nx_rows) > 1:
        a, b = nx_rows[0], nx_rows[-1]
        ratio = (b["score_total_s"] / a["score_total_s"]) / (b["transfers"] / a["transfers"])  # type: ignore[operator]
        print(f"networkx growth: time x{b['score_total_s'] / a['score_total_s']:.1f} for data "  # type: ignore[operator]
              f"x{b['transfers'] / a['transfers']:.0f} (1.0 = linear: {ratio:.2f}); peak RSS "  # type: ignore[operator]
              f"{a['driver_peak_rss_mb']} MB -> {b['driver_peak_rss_mb']} MB")
    for r in nx_rows:
        if r["transfers"] == 1_000_000:
            ok = r["score_total_s"] <= 60 and r["driver_peak_rss_mb"] <= 4096  # type: ignore[operator]
            print(f"goal 1M <= 60 s and <= 4 GB: {'met' if ok else 'NOT met'} "
                  f"({r['score_total_s']} s, {r['driver_peak_rss_mb']} MB)")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
