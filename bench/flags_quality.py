"""Flag quality on the scenario simulator: precision and recall per level cut, over several seeds.

    .venv/bin/python bench/flags_quality.py
    .venv/bin/python bench/flags_quality.py --seeds 5 --background 1000

Each seed builds the same planted patterns and decoys (docs/scoring.md) with different background
noise; a flag counts when its level is at or above the cut.  Prints one line per (seed, cut) and
the missed positives / false positives by their planted reason, so a regression names itself.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    from tracer.scoring.run import score_store
    from tracer.simulate import quality, simulate
    from tracer.store import Store

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--background", type=int, default=500)
    args = ap.parse_args()
    totals = {"medium": [0, 0, 0, 0], "high": [0, 0, 0, 0]}  # tp, fp, fn, positives
    for i in range(args.seeds):
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
        print(f"overall cut >= {cut}: precision {prec:.3f}, recall {tp / pos:.3f} over {args.seeds} seeds")


if __name__ == "__main__":
    main()
