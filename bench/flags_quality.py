"""Flag quality on held-out scenario worlds synced through the real connectors (issue 12).

    .venv/bin/python bench/flags_quality.py                    # 3 held-out seeds per kind, drawn from the clock
    .venv/bin/python bench/flags_quality.py --seeds 811,4242   # those seeds (both kinds)
    .venv/bin/python bench/flags_quality.py --tuning           # the fixed tuning seeds (tune weights on these only)
    .venv/bin/python bench/flags_quality.py --kinds akash --n 5
    .venv/bin/python bench/flags_quality.py --ranges           # the documented parameter ranges (markdown)
    .venv/bin/python bench/flags_quality.py --simulator        # the old consistency check (tracer/simulate.py)

Each seed draws a world per kind (``tracer.world.scenario.draw_scenario``: Akash LCD/Console/tx search,
or Polygon GLM/USDC + Golem stats, with OFAC lists, a label file and a CSL file), serves it on
127.0.0.1, syncs it through the connectors, screens names, scores, and measures the flags against the
world's labels (``tracer.evaluate``). Weights may be tuned only on ``TUNING_SEEDS``; the default run
draws other seeds and prints them so a run can be repeated with ``--seeds``. Prints per world, then one
table per typology (worst first: recall of positives, 1 - false-positive rate of decoys, at >= medium),
overall precision/recall at >= medium and >= high, every missed positive and false positive with its
typology, evidence problems, and the wall time.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: The only seeds weights may be tuned on (both kinds). Held-out runs never draw them.
TUNING_SEEDS = (11, 23, 37, 41, 59, 67)


def held_out_seeds(n: int) -> list[int]:
    """n seeds drawn from the clock, never a tuning seed."""
    r = random.Random(time.time_ns())
    out: list[int] = []
    while len(out) < n:
        s = r.randrange(1_000, 1_000_000)
        if s not in TUNING_SEEDS and s not in out:
            out.append(s)
    return out


def fmt_q(q: float | None) -> str:
    return "  -  " if q is None else f"{q:5.2f}"


def report(runs: list[Any], wall: float) -> dict[str, Any]:
    from tracer.evaluate import CUTS, merge, typology_rows

    merged = {cut: merge([r.metrics[cut] for r in runs]) for cut in CUTS}
    print("\nper typology, all worlds (worst first; quality = recall for positives, 1 - FP rate for decoys)")
    print(f"{'typology':<24} {'kind':<8} {'n':>5} {'>=med':>6} {'>=high':>6} {'q@med':>6} {'q@high':>6}")
    rows = typology_rows(merged)
    for row in rows:
        print(f"{row['typology']:<24} {row['kind']:<8} {row['n']:>5} {row['medium']:>6} {row['high']:>6} "
              f"{fmt_q(row['quality_medium']):>6} {fmt_q(row['quality_high']):>6}")
    for kind in sorted({r.kind for r in runs}):
        for cut in CUTS:
            m = merge([r.metrics[cut] for r in runs if r.kind == kind])
            print(f"{kind:<14} cut >= {cut:<6} precision {m.precision:.3f} recall {m.recall:.3f} "
                  f"(tp {len(m.tp)}, fp {len(m.fp)}, fn {len(m.fn)})")
    for cut in CUTS:
        m = merged[cut]
        print(f"{'overall':<14} cut >= {cut:<6} precision {m.precision:.3f} recall {m.recall:.3f} "
              f"(tp {len(m.tp)}, fp {len(m.fp)}, fn {len(m.fn)}; {len(runs)} worlds)")
    print("\nmissed positives (< medium) and false positives (>= medium):")
    for r in runs:
        lab = {lb.subject: lb for lb in r.labels}
        level = {f["subject"]: f["level"] for f in r.flags}
        for s in r.metrics["medium"].fn:
            print(f"  missed  {r.kind}:{r.seed} {lab[s].typology:<24} {level.get(s, 'none'):<6} {s}  [{lab[s].detail}]")
        for s in r.metrics["medium"].fp:
            t = lab[s].typology if s in lab else "unlabelled"
            print(f"  false+  {r.kind}:{r.seed} {t:<24} {level.get(s):<6} {s}  [{lab[s].detail if s in lab else ''}]")
    problems = [(r, p) for r in runs for p in r.evidence_problems]
    print(f"\nevidence of true positives: {len(problems)} problem(s)")
    for r, p in problems[:30]:
        print(f"  {r.kind}:{r.seed} {p}")
    for r in runs:
        if r.missing_subjects or r.unscored_subjects or r.sync_status != "ok":
            print(f"  {r.kind}:{r.seed} sync {r.sync_status} {r.sync_errors[:2]}; labels not stored: "
                  f"{len(r.missing_subjects)}, not scored: {len(r.unscored_subjects)}")
    print(f"\nwall time {wall:.1f} s for {len(runs)} worlds")
    return {"typologies": rows, "overall": {cut: {"precision": merged[cut].precision, "recall": merged[cut].recall}
                                            for cut in CUTS}, "wall_s": wall}


def scenario_main(args: argparse.Namespace) -> None:
    from tracer.evaluate import run_scenario
    from tracer.world.scenario import KINDS, draw_scenario

    kinds = [k.strip() for k in args.kinds.split(",")] if args.kinds else list(KINDS)
    if args.tuning:
        seeds, what = list(TUNING_SEEDS[: args.n or len(TUNING_SEEDS)]), "tuning"
    elif args.seeds:
        seeds, what = [int(s) for s in args.seeds.split(",")], "given"
        tuned = sorted(set(seeds) & set(TUNING_SEEDS))
        if tuned:
            print(f"warning: {tuned} are tuning seeds; their results are not held-out", file=sys.stderr)
        else:
            what = "held-out"
    else:
        seeds, what = held_out_seeds(args.n or 3), "held-out"
    print(f"{what} seeds: {','.join(map(str, seeds))}  kinds: {','.join(kinds)}  "
          f"(repeat with --seeds {','.join(map(str, seeds))})")
    t0 = time.monotonic()
    runs = []
    for seed in seeds:
        for kind in kinds:
            sc = draw_scenario(seed, kind)
            run = run_scenario(sc)
            med, hi = run.metrics["medium"], run.metrics["high"]
            tm = ", ".join(f"{k} {v:.1f}s" for k, v in run.timings.items())
            print(f"{kind:<14} seed {seed:<7} >=medium P {med.precision:.3f} R {med.recall:.3f} | >=high "
                  f"P {hi.precision:.3f} R {hi.recall:.3f} | {len(sc.labels)} labels, "
                  f"{sum(lb.positive for lb in sc.labels)} positive | sync {run.sync_status} | {tm}", flush=True)
            runs.append(run)
    out = report(runs, time.monotonic() - t0)
    out["seeds"], out["kinds"] = seeds, kinds
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2, default=str))
    if args.markdown:
        Path(args.markdown).write_text(markdown(out, what))


def markdown(out: dict[str, Any], what: str) -> str:
    """The per-typology table and overall precision/recall as markdown (for docs/typologies.md)."""
    lines = [f"{what.capitalize()} seeds {', '.join(map(str, out['seeds']))} x {', '.join(out['kinds'])} "
             f"({len(out['seeds']) * len(out['kinds'])} worlds, {out['wall_s']:.0f} s wall):", "",
             "| typology | kind | n | >= medium | >= high | quality at >= medium | at >= high |",
             "|---|---|---|---|---|---|---|"]
    for r in out["typologies"]:
        lines.append(f"| `{r['typology']}` | {r['kind']} | {r['n']} | {r['medium']} | {r['high']} | "
                     f"{fmt_q(r['quality_medium'])} | {fmt_q(r['quality_high'])} |")
    lines.append("")
    for cut, m in out["overall"].items():
        lines.append(f"- overall at >= {cut}: precision {m['precision']:.3f}, recall {m['recall']:.3f}")
    return "\n".join(lines) + "\n"


def simulator_main(args: argparse.Namespace) -> None:
    """The consistency check on tracer/simulate.py (world and weights by the same hands)."""
    from tracer.scoring.run import score_store
    from tracer.simulate import quality, simulate
    from tracer.store import Store

    totals = {"medium": [0, 0, 0, 0], "high": [0, 0, 0, 0]}  # tp, fp, fn, positives
    n = args.n or 3
    for i in range(n):
        seed = f"quality-{i}"
        store = Store(":memory:")
        truth = simulate(store, seed, args.background)
        t = time.monotonic()
        res = score_store(store, now="2026-06-01T00:00:00Z")
        dt = time.monotonic() - t
        for cut in ("medium", "high"):
            q = quality(res.flags, truth, cut)
            tot = totals[cut]
            tot[0] += q["tp"]
            tot[1] += len(q["fp"])
            tot[2] += len(q["fn"])
            tot[3] += q["positives"]
            print(f"seed {seed} cut >= {cut:<6} precision {q['precision']:.3f} recall {q['recall']:.3f} "
                  f"(tp {q['tp']}, fp {len(q['fp'])}, fn {len(q['fn'])}; {q['negatives']} negatives; "
                  f"scored in {dt:.2f}s)")
            for s in q["fn"]:
                print(f"    missed: {truth.positives[s]} ({s})")
            for s in q["fp"]:
                print(f"    false positive: {truth.negatives.get(s, 'unlabelled')} ({s})")
    for cut, (tp, fp, _fn, pos) in totals.items():
        prec = tp / (tp + fp) if tp + fp else 1.0
        print(f"overall cut >= {cut}: precision {prec:.3f}, recall {tp / pos:.3f} over {n} seeds")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", help="comma-separated seeds (default: drawn from the clock)")
    ap.add_argument("--n", type=int, default=0, help="how many seeds to draw (default 3; simulator: 3)")
    ap.add_argument("--tuning", action="store_true", help=f"run the tuning seeds {TUNING_SEEDS}")
    ap.add_argument("--kinds", help="akash,polygon_golem (default both)")
    ap.add_argument("--json", metavar="PATH", help="also write the summary as JSON")
    ap.add_argument("--markdown", metavar="PATH", help="also write the per-typology table as markdown")
    ap.add_argument("--ranges", action="store_true", help="print the documented parameter ranges and exit")
    ap.add_argument("--simulator", action="store_true", help="the old consistency check on tracer/simulate.py")
    ap.add_argument("--background", type=int, default=500, help="simulator background wallets")
    args = ap.parse_args()
    t0 = time.monotonic()
    if args.ranges:
        from tracer.world.scenario import ranges_markdown

        print(ranges_markdown())
        return
    if args.simulator:
        simulator_main(args)
        print(f"wall time {time.monotonic() - t0:.1f} s")
        return
    scenario_main(args)


if __name__ == "__main__":
    main()
