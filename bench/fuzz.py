"""The transform fuzzer of tests/test_fuzz_transform.py, with many more examples per stream.

For every registered connector stream with an item list in its demo pages (generated worlds and the real
recorded bodies the demo parts serve), hypothesis mutates one item at a time (fields dropped, nulled,
retyped; whole items replaced; items duplicated; lists truncated; huge numbers, deep nesting, lone
surrogates) and checks that ``transform`` raises nothing, that every record is storable, and that every
other item still yields the records it yields unmutated.  Prints per stream: examples, rejections
(``rejected_inputs`` rows the mutations caused) and failures.

    .venv/bin/python bench/fuzz.py [--examples 400] [--stream akash.leases] [--markdown]
"""

from __future__ import annotations

import argparse
import sys
import time
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def fuzz_stream(fz: Any, pages: list[Any], examples: int) -> tuple[dict[str, int], str]:
    """Run ``examples`` hypothesis examples over one stream's pages; failures are counted, not shrunk."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    n = {"examples": 0, "rejections": 0, "failures": 0}
    first: list[str] = []

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def prop(data: st.DataObject) -> None:
        t = pages[data.draw(st.integers(0, len(pages) - 1))]
        n["examples"] += 1
        try:
            n["rejections"] += max(0, fz.example(t, data.draw, st))
        except fz.Failure as e:
            n["failures"] += 1
            first.append(str(e)[:160])

    prop()
    return n, first[0] if first else ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--examples", type=int, default=400, help="hypothesis examples per stream")
    ap.add_argument("--stream", action="append", help="only these streams (repeatable)")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = ap.parse_args()

    import fuzz_support as fz

    from tracer import registry

    names = sorted(ep.name for ep in entry_points(group=registry.GROUP))
    t0 = time.monotonic()
    targets = fz.targets(names)
    rows: list[tuple[str, int, int, int, int, str]] = []
    for stream in sorted(targets):
        pages = targets[stream]
        if args.stream and stream not in args.stream:
            continue
        if not pages:
            rows.append((stream, 0, 0, 0, 0, "no item list in its demo pages"))
            continue
        n, first = fuzz_stream(fz, pages, args.examples)
        rows.append((stream, len(pages), n["examples"], n["rejections"], n["failures"], first))
    took = time.monotonic() - t0
    if args.markdown:
        print("| stream | pages | examples | rejections | failures |")
        print("|---|---:|---:|---:|---:|")
        for s, p, e, r, f, _ in rows:
            print(f"| `{s}` | {p} | {e} | {r} | {f} |" if p else f"| `{s}` | - | - | - | - (no item list) |")
    else:
        print(f"{'stream':34} {'pages':>5} {'examples':>8} {'rejections':>10} {'failures':>8}  note")
        for s, p, e, r, f, note in rows:
            print(f"{s:34} {p:5d} {e:8d} {r:10d} {f:8d}  {note}")
    tot = [sum(int(r[i]) for r in rows) for i in (2, 3, 4)]
    print(f"total: {tot[0]} examples, {tot[1]} rejections, {tot[2]} failures in {took:.0f} s")
    return 1 if tot[2] else 0


if __name__ == "__main__":
    sys.exit(main())
