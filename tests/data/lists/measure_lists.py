"""Measure list parsing and name screening on the real fixtures (timings are machine-dependent).

    .venv/bin/python tests/data/lists/measure_lists.py
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[2])]

from build_sdn_advanced import build  # noqa: E402

from connectors.lists.base import entity_attrs  # noqa: E402
from connectors.lists.ofac import parse_sdn_csv  # noqa: E402
from connectors.lists.ofac_xml import parse_advanced_xml  # noqa: E402
from connectors.lists.un import parse_un  # noqa: E402
from tracer.screening import NameScreener, candidates_from_entities  # noqa: E402
from tracer.world import fixtures_dir  # noqa: E402

QUERIES = ["Kowloon Compute Ltd", "Shenzhen Render Farm", "Lambda Labs Inc", "Sberbank of Russia", "Lazarus Group",
           "Hetzner Online GmbH", "Garantex Europe", "Volga GPU", "Tornado Cash", "Suex OTC"]


def main() -> None:
    fx = fixtures_dir()
    if fx is None:
        sys.exit("../shared/fixtures not found")
    t = time.perf_counter()
    snap = parse_sdn_csv({"main": (fx / "ofac-sdn-csv/sdn_2024-05-03.csv").read_bytes(),
                          "comments": (fx / "ofac-sdn-csv/sdn_comments_2025-02-27.csv").read_bytes()})
    print(f"sdn.csv parse {time.perf_counter() - t:.2f}s, {len(snap.parties)} parties")
    xml = build(snap.parties)
    t = time.perf_counter()
    adv = parse_advanced_xml({"main": xml})
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"advanced XML {len(xml) / 1e6:.1f} MB parse {time.perf_counter() - t:.2f}s, {len(adv.parties)} parties, "
          f"{sum(len(p.wallets) for p in adv.parties)} wallets, max RSS {rss:.0f} MB")
    un = parse_un({"main": (fx / "un-consolidated/UN_consolidated.xml").read_bytes()})
    rows = [{"id": p.entity_id, "label": p.name, "attrs": entity_attrs(p), "source": "s"}
            for p in snap.parties + un.parties]
    t = time.perf_counter()
    sc = NameScreener(candidates_from_entities(rows))
    print(f"screener built {time.perf_counter() - t:.2f}s over {len(sc.names)} names")
    t = time.perf_counter()
    hits = [sc.screen_name(q) for q in QUERIES * 5]
    dt = time.perf_counter() - t
    print(f"{len(hits)} name screens in {dt:.2f}s ({1000 * dt / len(hits):.0f} ms each)")
    blocked = NameScreener(candidates_from_entities(rows), block_above=0)
    t = time.perf_counter()
    bhits = [blocked.screen_name(q) for q in QUERIES * 5]
    dt = time.perf_counter() - t
    same = sum([m.entity_id for m in a] == [m.entity_id for m in b] for a, b in zip(hits, bhits, strict=True))
    print(f"blocked: {len(bhits)} name screens in {dt:.2f}s ({1000 * dt / len(bhits):.0f} ms each), "
          f"{same}/{len(bhits)} answers identical to the full scan")
    for q, h in zip(QUERIES, hits, strict=False):
        print(f"  {q!r} -> {[(m.label, m.score) for m in h[:2]]}")


if __name__ == "__main__":
    main()
