"""graphs.build: the same graph from tuples, dicts and DataFrames; int nodes; derived funded_by;
incremental additions; location observations as located_in edges."""

from __future__ import annotations

import pandas as pd

from graphs.build import EDGE_COLUMNS, build_graph, node_kind, to_epoch

W1, W2, W3 = "wallet:evm:0x01", "wallet:evm:0x02", "wallet:evm:0x03"
ROWS = [
    ("e1", "paid", W1, W2, "5000000", 6, "USDC", "2026-03-02T10:00:00Z", None),
    ("e2", "paid", W3, W2, "7", 6, "USDC", "2026-03-01T10:00:00Z", None),
    ("e3", "rented", W2, "lease:akash:x/1/1/1/p", None, None, None, "2026-03-03T00:00:00Z", None),
    ("e4", "uses_gpu", "lease:akash:x/1/1/1/p", "gpu:h100-sxm", None, None, None, "2026-03-03T00:00:00Z",
     '{"units": 8, "hours": 2.5}'),
    ("e5", "paid", W2, W1, str(2**200), 18, "ETH", "2026-03-04T00:00:00Z", None),
]


def _snapshot(tg):  # a comparable view of a graph
    return sorted((tg.ids[u], tg.ids[v], tuple(sorted(d.items()))) for u, v, d in tg.g.edges(data=True))


def test_same_graph_from_tuples_dicts_and_dataframe() -> None:
    a = build_graph(ROWS)
    b = build_graph([dict(zip(EDGE_COLUMNS[:9], r, strict=True)) for r in ROWS])  # 9-column rows still work
    c = build_graph(pd.DataFrame(ROWS, columns=list(EDGE_COLUMNS[:9])))
    assert _snapshot(a) == _snapshot(b) == _snapshot(c)
    assert all(isinstance(n, int) for n in a.g.nodes)
    assert a.ids[a.index[W2]] == W2


def test_typed_nodes_exact_amounts_and_facts() -> None:
    tg = build_graph(ROWS)
    assert tg.kind(tg.index["lease:akash:x/1/1/1/p"]) == "lease"
    assert tg.kind(tg.index["gpu:h100-sxm"]) == "gpu_model"
    big = [d for _, _, d in tg.g.edges(data=True) if d["f"] == "e5" and d["k"] == "paid"][0]
    assert big["a"] == 2**200 and isinstance(big["a"], int) and big["s"] == "ETH/18"
    gpu = [d for _, _, d in tg.g.edges(data=True) if d["f"] == "e4"][0]
    assert gpu["u"] == 8 and gpu["h"] == 2.5
    assert node_kind("jurisdiction:CN") == "jurisdiction" and node_kind("job:nosana:1") == "lease"


def test_funded_by_is_reverse_of_first_payment() -> None:
    tg = build_graph(ROWS)
    fb = [(tg.ids[u], tg.ids[v], d["f"]) for u, v, d in tg.g.edges(data=True) if d["k"] == "funded_by"]
    # W2's first inflow is e2 from W3 (earlier time), not e1; W1 is funded by W2 via e5.
    assert sorted(fb) == sorted([(W2, W3, "e2"), (W1, W2, "e5")])
    assert tg.first_in[tg.index[W2]].amount == 7


def test_incremental_build_rederives_funding() -> None:
    tg = build_graph(ROWS[:1])
    assert tg.first_in[tg.index[W2]].fact == "e1"
    n_nodes = tg.g.number_of_nodes()
    build_graph(ROWS[1:], graph=tg)
    assert tg.first_in[tg.index[W2]].fact == "e2"
    fb = [d["f"] for u, v, d in tg.g.edges(data=True) if d["k"] == "funded_by" and tg.ids[u] == W2]
    assert fb == ["e2"]  # the stale funded_by from the first build was replaced
    assert tg.g.number_of_nodes() > n_nodes


def test_location_observations_become_located_in() -> None:
    tg = build_graph([], [("o1", "provider:akash:p", "location", "cn", '{"layer": "audited"}'),
                          ("o2", "provider:akash:p", "tag", "x", None)])
    e = [(tg.ids[v], d) for _, v, d in tg.g.edges(data=True)]
    assert len(e) == 1 and e[0][0] == "jurisdiction:CN" and e[0][1]["layer"] == "audited" and e[0][1]["f"] == "o1"


def test_to_epoch() -> None:
    assert to_epoch("1970-01-01T00:01:00Z") == 60 == to_epoch("1970-01-01T00:01:00") == to_epoch(60)
    assert to_epoch(None) is None  # unknown, not 1970 (issue 12)


def test_parallel_payments_are_kept_apart() -> None:
    tg = build_graph([("a", "paid", W1, W2, "1", 6, "USDC", 10, None), ("b", "paid", W1, W2, "2", 6, "USDC", 20, None)])
    facts = sorted(d["f"] for _, _, d in tg.g.edges(data=True) if d["k"] == "paid")
    assert facts == ["a", "b"] and tg.g.number_of_edges(tg.index[W1], tg.index[W2]) == 2


def test_gpu_counts_and_layers_are_read_by_their_documented_keys() -> None:
    """``uses_gpu`` says ``units`` (and ``hours``), ``offers_gpu`` says ``count``; a key of the other
    shape is not guessed.  A location without a layer is self-declared (connectors.facts)."""
    lease, prov = "lease:akash:o/1/1/1/p", "provider:vastai:7"
    tg = build_graph([
        ("u1", "uses_gpu", lease, "gpu:a100", None, None, None, None, '{"units": 4, "hours": 1.5}'),
        ("u2", "uses_gpu", lease, "gpu:l4", None, None, None, None, '{"count": 9}'),
        ("o1", "offers_gpu", prov, "gpu:a100", None, None, None, None, '{"count": 16, "hours": 3}'),
        ("o2", "offers_gpu", prov, "gpu:l4", None, None, None, None, '{"units": 2}'),
    ], [("l1", prov, "location", " nl ", "{}")])
    by_fact = {d["f"]: d for _, _, d in tg.g.edges(data=True)}
    assert (by_fact["u1"]["u"], by_fact["u1"]["h"]) == (4, 1.5) and "u" not in by_fact["u2"]
    assert by_fact["o1"]["u"] == 16 and "u" not in by_fact["o2"]
    [(_, j, d)] = [(u, v, d) for u, v, d in tg.g.edges(data=True) if d["k"] == "located_in"]
    assert tg.ids[j] == "jurisdiction:NL" and d["layer"] == "declared"


def test_parsed_ids_are_parsed_once_per_node() -> None:
    tg = build_graph(ROWS)
    n = tg.get("lease:akash:x/1/1/1/p")
    assert n is not None
    p = tg.parsed(n)
    assert p is not None and p.deployment == "deployment:akash:x/1" and p.owner_wallet == "wallet:akash:x"
    assert tg.parsed(n) is p  # cached
    assert tg.parsed(tg.node("not an id")) is None
