"""Store backends side by side: EVM sync end to end into SQLite and into PostgreSQL, and 3-hop queries.

    .venv/bin/python bench/store_backends.py                        # 200k transfers, 3 runs each
    .venv/bin/python bench/store_backends.py --transfers 50000 --repeat 1
    .venv/bin/python bench/store_backends.py --baseline b7e5270     # also today's SQLite, from that commit

What a user waits for is timed: each sync is a whole ``tracer sync evm`` process (imports, opening
the store, the sync, closing it), against one anvil chain (generated once and cached by
``bench/evm_sync.py``'s ``chain``), into a fresh SQLite file or a fresh PostgreSQL database on a
throwaway local server (``tests/pg_support.py``).  ``--baseline REV`` runs the same SQLite sync with
the code of an earlier commit (a ``git worktree`` put first on ``PYTHONPATH``) in the same run, so
"SQLite no slower than before the store refactor" is a ratio measured side by side, not remembered.

Then the 3-hop query: a synthetic store (``bench/query_latency.py``'s generator: wallets, ``paid``
edges, exchange hubs, sanctioned wallets) is written to SQLite, copied to PostgreSQL with
``tracer.store.migrate.copy_store``, and ``tracer serve`` on each answers ``/api/exposure?hops=3``
for the same random wallets (p50/p95).  Bounded: fixed sizes, every subprocess has a timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

OUT = ROOT / "bench" / "out"
PYCACHE = OUT / "pycache"  # PYTHONDONTWRITEBYTECODE is set here: a warm cache of our own for fair startups


def toml_of(cfg: dict[str, Any], prefix: str = "") -> str:
    """A small TOML writer for the bench configs (scalars, lists, nested tables)."""
    flat = [f"{k} = {json.dumps(v)}" for k, v in cfg.items() if not isinstance(v, dict)]
    out = ([f"[{prefix}]"] if prefix and flat else []) + flat
    for k, v in cfg.items():
        if isinstance(v, dict):
            out.append(toml_of(v, f"{prefix}.{k}" if prefix else k))
    return "\n".join(out)


def sync_process(db: str, url: str, meta: dict[str, Any], workdir: Path, pythonpath: str | None,
                 timeout: float) -> tuple[int, float]:
    """One whole ``tracer sync evm`` process; returns (edges stored, wall seconds)."""
    from evm_sync import tracer_cfg

    cfg = tracer_cfg(Path("unused"), url, meta, None)
    cfg["db"] = db
    path = workdir / "bench.toml"
    path.write_text(toml_of(cfg) + "\n")
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(PYCACHE)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    entry = "from tracer.entry import run; run()" if not pythonpath else BASELINE_ENTRY
    cmd = [sys.executable, "-c", entry, "--config", str(path), "sync", "evm"]
    t = time.monotonic()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=pythonpath or workdir)
    dt = time.monotonic() - t
    if r.returncode != 0:
        raise SystemExit(f"sync into {db.split('@')[-1]} failed ({r.returncode}): {r.stderr.strip()[-400:]}")
    return count_edges(db, pythonpath), dt


# The installed entry points name today's modules; an older checkout registers its connectors from its
# own pyproject.toml (read with tomllib), then starts its own CLI.
BASELINE_ENTRY = """
import sys, tomllib, importlib.metadata as md
import tracer.registry as reg
eps = tomllib.load(open("pyproject.toml", "rb"))["project"]["entry-points"]["tracer.connectors"]
reg.entry_points = lambda group: [md.EntryPoint(n, v, group) for n, v in eps.items()]
from tracer.entry import run
run()
"""


def count_edges(db: str, pythonpath: str | None) -> int:
    if pythonpath is None:
        from tracer.store import open_store

        s = open_store(db, create=False)
        try:
            return s.count("edges")
        finally:
            s.close()
    import sqlite3

    with sqlite3.connect(db) as c:
        return int(c.execute("SELECT count(*) FROM edges").fetchone()[0])


def worktree(rev: str) -> Path:
    """A checkout of ``rev`` under bench/out (made once)."""
    path = OUT / f"worktree-{rev}"
    if not path.exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), rev], check=True,
                       capture_output=True, timeout=120)
    return path


def query_latency(pg: Any, edges: int, queries: int, timeout: float) -> dict[str, dict[str, float]]:
    """p50/p95 of /api/exposure?hops=3 through ``tracer serve`` on SQLite and on PostgreSQL."""
    import query_latency as ql

    from tracer.store import open_store
    from tracer.store.migrate import copy_store

    n_wallets = max(100, edges // 4)
    out: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="tracer-bench-") as d:
        db = Path(d) / "q.db"
        print(f"building {edges:,} edges into SQLite ...", flush=True)
        ql.build(db, edges, n_wallets)
        pg_db = pg.create_database()
        t = time.monotonic()
        src, dst = open_store(str(db), create=False), open_store(pg_db)
        try:
            copy_store(src, dst)
        finally:
            src.close()
            dst.close()
        print(f"copied to PostgreSQL in {time.monotonic() - t:.1f} s", flush=True)
        for name, url in (("SQLite", str(db)), ("PostgreSQL", pg_db)):
            port = ql.free_port()
            env = {**os.environ, "PYTHONPYCACHEPREFIX": str(PYCACHE)}
            env.pop("TRACER_SERVE_TOKEN", None)
            cmd = [sys.executable, "-c", "from tracer.entry import run; run()", "--db", url, "serve", "--port",
                   str(port)]
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            try:
                line = proc.stdout.readline() if proc.stdout else ""
                if "serving" not in line:
                    raise SystemExit(f"tracer serve on {name} did not start: {line.strip()}")
                res = asyncio.run(asyncio.wait_for(
                    ql.measure(f"http://127.0.0.1:{port}", n_wallets, queries), timeout))
            finally:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
            xs = res["exposure 3 hops"]
            out[name] = {"p50_ms": round(statistics.median(xs), 1), "p95_ms": round(ql.pct(xs, 95), 1)}
        pg.drop_database(pg_db)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--transfers", type=int, default=200_000)
    ap.add_argument("--per-block", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3,
                    help="syncs per variant, rotated so each goes first once per 3 (the median is used)")
    ap.add_argument("--baseline", default=None, help="also sync into SQLite with the code of this commit")
    ap.add_argument("--query-edges", type=int, default=200_000, help="edges of the 3-hop query store (0: skip)")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--timeout", type=float, default=900)
    a = ap.parse_args()

    from evm_sync import chain
    from pg_support import PgServer, pg_bindir

    bindir = pg_bindir()
    if bindir is None:
        raise SystemExit("PostgreSQL is not installed: make setup-pg (or apt-get install postgresql)")
    pg = PgServer(bindir).start()
    node, meta = chain(a.transfers, a.per_block)
    PYCACHE.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[tuple[int, float]]] = {}
    base_path = str(worktree(a.baseline)) if a.baseline else None
    try:
        print(f"chain: {meta['transfers']} transfers in blocks 0..{meta['head']} at {node.url}")
        with tempfile.TemporaryDirectory(prefix="tracer-bench-") as d:
            work = Path(d)
            runs = [("SQLite", None), ("PostgreSQL", None)]
            if base_path:
                runs.insert(0, (f"SQLite @ {a.baseline}", base_path))
            # one untimed warm-up per code version: bytecode cache, page cache, the node's own caches
            for name, pp in runs[:1] + ([runs[1]] if base_path else []):
                sync_process(str(work / f"warm-{len(name)}.db"), node.url, meta, work, pp, a.timeout)
            for i in range(max(1, a.repeat)):
                # interleaved, and rotated each round: drift of the shared machine and the cost of going
                # first after a pause (the node's and the page cache's warm-up) hit every variant alike
                k = i % len(runs)
                for name, pp in runs[k:] + runs[:k]:
                    db = pg.create_database() if name == "PostgreSQL" else str(work / f"r{i}-{len(name)}.db")
                    results.setdefault(name, []).append(sync_process(db, node.url, meta, work, pp, a.timeout))
                    if name == "PostgreSQL":
                        pg.drop_database(db)
                    else:
                        Path(db).unlink(missing_ok=True)
        n = meta["transfers"]
        print(f"\n{'EVM sync, whole process':<28} {'runs (s)':<24} {'median s':>9} {'transfers/s':>12}")
        med: dict[str, float] = {}
        for name, got in results.items():
            med[name] = statistics.median(dt for _, dt in got)
            rows = min(r for r, _ in got)
            print(f"{name:<28} {', '.join(f'{dt:.2f}' for _, dt in got):<24} {med[name]:>9.2f} "
                  f"{rows / med[name]:>12,.0f}")
            if rows < n:
                print(f"  !! {name} stored {rows} of {n} transfers")
        print(f"\nratio PostgreSQL / SQLite time: {med['PostgreSQL'] / med['SQLite']:.2f}x")
        if base_path:
            b = med[f"SQLite @ {a.baseline}"]
            print(f"ratio SQLite now / SQLite @ {a.baseline} time: {med['SQLite'] / b:.2f}x "
                  f"({'no slower' if med['SQLite'] <= b * 1.05 else 'SLOWER'} than before, 5 % noise band)")
        q: dict[str, dict[str, float]] = {}
        if a.query_edges:
            q = query_latency(pg, a.query_edges, a.queries, a.timeout)
            print(f"\n{'exposure 3 hops via the API':<28} {'p50 ms':>8} {'p95 ms':>8}")
            for name, v in q.items():
                print(f"{name:<28} {v['p50_ms']:>8} {v['p95_ms']:>8}")
        print(json.dumps({"transfers": n, "sync_median_s": med, "exposure_3_hops": q}))
    finally:
        node.stop()
        pg.stop()


if __name__ == "__main__":
    main()
