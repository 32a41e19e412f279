"""Actor clusters on Spark (large-star / small-star) equal the union-find clusters of graphs.clusters:
on hand-made link sets, on a simulator world's links, and on random graphs against networkx."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphs.clusters import Clusters, Link, all_links
from graphs.clusters import cluster_links as nx_cluster_links
from graphs.spark.components import NotConverged, components, links_frame
from graphs.spark.components import cluster_links as spark_cluster_links
from tracer.catalog import load_catalog
from tracer.scoring import tables
from tracer.scoring.run import score_store
from tracer.simulate import build_world
from tracer.store import open_store

# A JVM and Spark jobs: minutes on this 2-core machine; run in CI (`make test`), skipped by -m 'not slow'.
pytestmark = pytest.mark.slow

NOW = "2026-06-01T00:00:00Z"


def _lk(a: str, b: str, strength: float = 0.7, h: str = "common_funder", *refs: str) -> Link:
    return Link(a, b, h, strength, refs or (f"edge:{a}>{b}",), f"{h} {a} {b}")


def _hand_made() -> dict[str, list[Link]]:
    """One link set per shape; node names carry the case so the sets can run as one disjoint graph."""
    rnd = random.Random(14)
    cases: dict[str, list[Link]] = {}
    cases["chain"] = [_lk("chain:d", "chain:c"), _lk("chain:b", "chain:c"), _lk("chain:a", "chain:b")]
    hub = "star:m"  # the centre is not the smallest member
    cases["star"] = [_lk(hub, f"star:{i:02d}") if i % 2 else _lk(f"star:{i:02d}", hub) for i in range(12)]
    # a long path over random names (its minimum somewhere inside), links shuffled: many rounds
    names = [f"path:{rnd.getrandbits(40):010x}" for _ in range(100)]
    path = [_lk(x, y, 0.6, "payroll") for x, y in zip(names, names[1:], strict=False)]
    rnd.shuffle(path)
    cases["path"] = path
    cases["dup"] = [_lk("dup:a", "dup:b"), _lk("dup:a", "dup:b"), _lk("dup:b", "dup:a", 0.9, "payout_to"),
                           _lk("dup:b", "dup:c", 0.8, "deposit_reuse", "r1", "r2"), _lk("dup:a", "dup:b")]
    cases["self"] = [_lk("self:x", "self:x"), _lk("self:y", "self:y"), _lk("self:y", "self:z"),
                     _lk("self:z", "self:z")]
    # below the threshold: the weak link neither joins the two clusters nor puts self:w in any
    cases["weak"] = [_lk("weak:a", "weak:b"), _lk("weak:c", "weak:d"), _lk("weak:b", "weak:c", 0.49),
                     _lk("weak:w", "weak:a", 0.1), _lk("weak:d", "weak:e", 0.5)]
    # ids compared beyond ASCII: UTF-8 byte order must be Python's code point order (not UTF-16's)
    cases["uni"] = [_lk("uni:\uffe0", "uni:\U0001d11e"), _lk("uni:\U0001d11e", "uni:é"),
                        _lk("uni:\uffe0z", "uni:\uffe0")]
    # two stars joined through their leaves, and a cycle
    cases["cyc"] = [_lk(f"cyc:{i}", f"cyc:{(i + 1) % 9}") for i in range(9)]
    cases["ts"] = ([_lk("ts:h1", f"ts:l{i}") for i in range(5)] + [_lk("ts:h2", f"ts:m{i}") for i in range(5)]
                          + [_lk("ts:l3", "ts:m4")])
    return cases


def _restrict(c: Clusters, prefix: str) -> Clusters:
    of = {n: k for n, k in c.of.items() if n.startswith(prefix)}
    keep = set(of.values())
    return Clusters(of, {k: v for k, v in c.members.items() if k in keep},
                    {k: v for k, v in c.links.items() if k in keep})


def test_hand_made_link_sets_match_union_find(spark: Any) -> None:
    cases = _hand_made()
    links = [lk for ls in cases.values() for lk in ls]
    got = spark_cluster_links(spark, links, 0.5)
    want = nx_cluster_links(links, 0.5)
    assert got == want
    for name, ls in cases.items():  # each shape alone gives the same clusters as inside the union
        assert _restrict(got, f"{name}:") == nx_cluster_links(ls, 0.5), name
    # the shapes say what they are meant to
    assert len({got.of[n] for n in got.of if n.startswith("path:")}) == 1
    assert "self:x" in got.of and got.members[got.of["self:x"]] == ["self:x"]
    assert got.of["self:y"] == got.of["self:z"]
    assert got.of["weak:a"] != got.of["weak:c"] and "weak:w" not in got.of
    assert got.of["weak:d"] == got.of["weak:e"]  # exactly at the threshold is kept
    assert len(got.links[got.of["dup:a"]]) == 5
    assert got.members[got.of["uni:é"]] == sorted(["uni:é", "uni:\uffe0", "uni:\U0001d11e", "uni:\uffe0z"])
    assert got.of["ts:h1"] == got.of["ts:m0"]


@pytest.fixture(scope="module")
def sim_links(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Link], Clusters, float]:
    """A simulator world's links as scoring makes them (every heuristic, weak ones included) and the
    clusters score_store built."""
    path: Path = tmp_path_factory.mktemp("spark_components") / "sim.db"
    store = open_store(path)
    build_world("spark-components", 80).write(store)
    ctx = score_store(store, write=False, now=NOW).context
    assert ctx is not None
    p = ctx.params
    controlled = frozenset(g.id for g in load_catalog().gpus.values() if g.eccn_3a090 in ("a", "b"))
    links = all_links(ctx.tg, ctx.hubs, tables.deployments(store), p.funding_window_days * 86400,
                      max_star=p.max_star, controlled=controlled, sync_window_s=p.sync_window_minutes * 60,
                      sync_min_group=p.sync_min_group, sync_alpha=p.sync_alpha, fresh_s=p.fresh_days * 86400,
                      manifest_window_s=int(p.manifest_window_days * 86400),
                      payroll_min_payments=p.payroll_min_payments)
    store.close()
    return links, ctx.clusters, p.cluster_threshold


def test_simulator_world_links_as_a_frame(spark: Any, sim_links: tuple[list[Link], Clusters, float]) -> None:
    links, scored, threshold = sim_links
    kept = [lk for lk in scored.links.values() for lk in lk]
    assert len(scored.members) >= 5 and len(kept) >= 20
    assert any(lk.strength < threshold for lk in links) or len(links) == len(kept)
    # A frame without an order column (its own row order is the links' order), as the Spark stages
    # hand it over; and the clusters score_store made, from its kept links.
    frame = links_frame(spark, links).drop("i").coalesce(2)
    got = spark_cluster_links(spark, frame, threshold)
    assert got == nx_cluster_links(links, threshold)
    assert nx_cluster_links(kept, threshold) == scored
    assert got.of == scored.of and got.members == scored.members


graph = st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), min_size=1, max_size=60)


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(st.lists(graph, min_size=1, max_size=5), st.randoms(use_true_random=False))
def test_components_match_networkx(spark: Any, graphs: list[list[tuple[int, int]]], rnd: random.Random) -> None:
    """Random graphs (self loops, duplicates, isolated pairs, several per example as one disjoint edge
    list: one Spark run each): every node's root is the smallest member of its networkx component."""
    edges: list[tuple[str, str]] = []
    want: dict[str, str] = {}
    for k, pairs in enumerate(graphs):
        label = {i: f"n{rnd.getrandbits(20):05x}:{k}:{i}" for i in range(41)}
        g = nx.Graph()
        g.add_edges_from((label[a], label[b]) for a, b in pairs)
        edges += [(label[a], label[b]) for a, b in pairs]
        want.update({n: min(comp) for comp in nx.connected_components(g) for n in comp})
    df = spark.createDataFrame(edges, "a string, b string")
    got = {r["node"]: r["root"] for r in components(df).collect()}
    assert got == want


def test_rounds_are_bounded(spark: Any) -> None:
    """A path needs several rounds: one round is not enough, and the bound says so instead of a wrong answer."""
    df = spark.createDataFrame([(f"p{i:02d}", f"p{i + 1:02d}") for i in range(12)], "a string, b string")
    with pytest.raises(NotConverged):
        components(df, max_rounds=1).collect()
