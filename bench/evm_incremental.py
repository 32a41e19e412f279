"""Scheduled EVM runs: what a crawler job on a timer waits for, against cryo over the same new blocks.

    .venv/bin/python bench/evm_incremental.py                  # 12 rounds of 60 new transfers
    .venv/bin/python bench/evm_incremental.py --rounds 4 --latency 0.1

An anvil chain (``--transfers`` to start with, ERC-20 only) behind bench/evm_proxy.py adding
``--latency`` (50 ms) to every request.  ``tracer sync`` makes a first, full sync into a SQLite file;
then each round mines ``--new`` transfers (``--per-block`` a block) and the two empty blocks that
``confirmations = 2`` keeps out, and runs, interleaved, each a whole process:

- ``tracer sync`` on that store: it resumes at its cursor, checks the stored block hashes for a reorg
  and stores the new transfers with their provenance;
- cryo 0.3.2 (its own venv, as in bench/evm_sync.py) over exactly the new blocks, which it is told
  (it keeps no cursor); the same 16 requests in flight.

With ``--baseline DIR`` (another checkout of tracer, e.g. ``git worktree add /tmp/base <commit>``,
its C extension built or copied), ``tracer sync`` from that code runs too, on a store of its own: a
change measured side by side with the code before it.  Every round's transfers (count and sha256 of
the sorted (tx, log index, amount)) must be equal for all tools, or the bench fails.  Prints every
run with the requests the proxy saw, the medians and the ratios.  Why: on a timer most runs are
this small, and on a far node their time is round trips, not throughput; a run that guesses ranges
past the head wastes the provider's rate limit too.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import evm_sync as es  # noqa: E402

CONFIRMATIONS = 2
TRACER, BASELINE, CRYO = "tracer sync", "tracer sync (baseline)", "cryo"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--transfers", type=int, default=2000, help="transfers on the chain before the first sync")
    ap.add_argument("--new", type=int, default=60, help="new transfers before each scheduled run")
    ap.add_argument("--per-block", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--latency", type=float, default=0.05, help="seconds the proxy adds to every request")
    ap.add_argument("--timeout", type=float, default=120, help="seconds per process")
    ap.add_argument("--baseline", type=Path, default=None, help="another checkout of tracer to run side by side")
    a = ap.parse_args()
    from evm_support import Anvil, generate, rpc, setup_chain, toml_of

    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {es.load()}")
    print("command: .venv/bin/python bench/evm_incremental.py " + " ".join(sys.argv[1:]))
    node = Anvil()
    proxy = None
    try:
        w = setup_chain(node.url, node.accounts, with_nft=False)
        generate(node.url, node.accounts, w, a.transfers, seed=1, per_block=a.per_block)
        rpc(node.url, "anvil_mine", [hex(CONFIRMATIONS)])
        proxy = es.Server("evm_proxy.py", ["--upstream", node.url, "--latency", str(a.latency),
                                           "--max-range", "10000"])
        tracers = {TRACER: None, **({BASELINE: a.baseline.resolve()} if a.baseline else {})}
        with tempfile.TemporaryDirectory() as d:
            for name in tracers:
                tag = "base" if name == BASELINE else "tracer"
                cfg = es.tracer_config(Path(d) / f"{tag}.db", proxy.url, {"token": w.token},
                                       {"confirmations": CONFIRMATIONS}, 16)
                (Path(d) / f"{tag}.toml").write_text(toml_of(cfg))

            def tracer_run(name: str) -> tuple[float, dict[str, int]]:
                assert proxy is not None
                tag, code = ("base" if name == BASELINE else "tracer"), tracers[name]
                cmd = ([es.PY, "-c", "import sys; sys.argv[0] = 'tracer'; from tracer.entry import run; run()"]
                       if code else [es.TRACER])
                env = {**es.env(), "PYTHONPATH": str(code)} if code else es.env()
                proxy.stats(reset=True)
                t = time.perf_counter()
                r = subprocess.run([*cmd, "--config", f"{tag}.toml", "--db", f"{tag}.db", "sync", "evm"],
                                   env=env, capture_output=True, text=True, timeout=a.timeout, cwd=d)
                dt = time.perf_counter() - t
                if r.returncode != 0:
                    raise SystemExit(f"{name} failed ({r.returncode}): {r.stderr[-1500:]}")
                return dt, proxy.stats()

            for name in tracers:
                first, _ = tracer_run(name)
                print(f"first sync ({name}): {a.transfers} transfers in {first:.2f}s")
            tools = [*tracers, CRYO]
            times: dict[str, list[float]] = {t: [] for t in tools}
            cryo_settings = {**es.CRYO_SPARSE, "chunk_size": 10_000, "inner_request_size": 10_000}
            for i in range(a.rounds):
                lo = int(rpc(node.url, "eth_blockNumber"), 16) - CONFIRMATIONS + 1  # the first new block
                generate(node.url, node.accounts, w, a.new, seed=100 + i, per_block=a.per_block)
                rpc(node.url, "anvil_mine", [hex(CONFIRMATIONS)])
                hi = int(rpc(node.url, "eth_blockNumber"), 16) - CONFIRMATIONS
                got: dict[str, tuple[int, str]] = {}
                for tool in (tools if i % 2 == 0 else tools[::-1]):
                    if tool == CRYO:
                        proxy.stats(reset=True)
                        n, dg, dt = es.run_cryo(proxy.url, {"token": w.token, "head": hi}, cryo_settings,
                                                a.timeout, start=lo)
                        calls = proxy.stats()
                        got[tool] = (n, dg)
                    else:
                        dt, calls = tracer_run(tool)
                        got[tool] = es.stored_digest(Path(d) / ("base.db" if tool == BASELINE else "tracer.db"),
                                                     (lo, hi))
                    times[tool].append(dt)
                    print(f"  round {i + 1} {tool:22s} {dt:6.3f}s  blocks {lo}..{hi}  {got[tool][0]} transfers  "
                          f"requests {calls}", flush=True)
                if len(set(got.values())) != 1 or got[CRYO][0] != a.new:
                    raise SystemExit(f"!! round {i + 1}: the tools disagree: {got} (expected {a.new} transfers)")
        med = {t: statistics.median(v) for t, v in times.items()}
        print(f"\nscheduled runs: {a.new} new transfers each, behind a proxy adding {a.latency * 1000:.0f} ms "
              f"per request; medians of {a.rounds}")
        print("| tool | median (s) | runs (s) |\n|---|---|---|")
        for t, v in times.items():
            print(f"| {t} | {med[t]:.3f} | {', '.join(f'{x:.2f}' for x in v)} |")
        ratios = [f"{TRACER} / {CRYO}: **{med[CRYO] / med[TRACER]:.2f}x**"]
        if a.baseline:
            ratios.append(f"{TRACER} / {BASELINE}: **{med[BASELINE] / med[TRACER]:.2f}x**")
        print("\nratios (throughput, same run, medians): " + "; ".join(ratios))
        print(es.load())
    finally:
        if proxy is not None:
            proxy.stop()
        node.stop()


if __name__ == "__main__":
    main()
