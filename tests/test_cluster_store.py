"""Stored actor clusters (issue 15, the workspace's cluster view): scoring writes every member and link
of the clusters that hold a flagged subject, in the transaction of its flags, replacing the previous
run's; ``tracer cluster`` / ``/api/cluster`` show the members that are not flagged (the listed wallet
of "same actor cluster as listed wallet X") and the links in words.  On both backends (``db_factory``),
through ``tracer migrate``, and from a store of schema 6."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from graphs.clusters import Link, cluster_links
from tracer import cluster_view as cv
from tracer import queries as q
from tracer.cli import main
from tracer.scoring import tables
from tracer.scoring.run import ScoreResult, score_store
from tracer.store import SCHEMA_VERSION, StoreBackend, open_store

NOW, LATER = "2026-04-01T00:00:00Z", "2026-04-02T00:00:00Z"
LISTED_PEER = "same actor cluster as listed wallet "


def _cli(db: str, *args: str) -> Any:
    return CliRunner().invoke(main, ["--db", db, *args], env={"TRACER_NOW": NOW})


def simulated(db: str) -> StoreBackend:
    """The simulated world, not scored (the test scores it, to hold the run's clusters)."""
    r = _cli(db, "simulate", "--no-score")
    assert r.exit_code == 0, r.output
    return open_store(db)


def stored(store: StoreBackend) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(cluster, member, computed_at) and (cluster, seq, a, b, heuristic, strength, detail, refs) rows, in order."""
    members = [tuple(r.values()) for r in store.query(
        "SELECT cluster, member, computed_at FROM cluster_members ORDER BY cluster, member")]
    links = [tuple(r.values()) for r in store.query(
        "SELECT cluster, seq, a, b, heuristic, strength, detail, refs FROM cluster_links ORDER BY cluster, seq")]
    return members, links


def ctx(res: ScoreResult) -> Any:
    assert res.context is not None
    return res.context


def expected(res: ScoreResult, subjects: set[str], at: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """ctx.clusters restricted to the clusters holding one of ``subjects``, as the store should hold them."""
    cl = ctx(res).clusters
    cids = sorted({cl.of[s] for s in subjects if s in cl.of})
    members = [(c, m, at) for c in cids for m in cl.members[c]]
    links = [(c, i, lk.a, lk.b, lk.heuristic, lk.strength, lk.detail, json.dumps(list(lk.refs)))
             for c in cids for i, lk in enumerate(cl.links[c])]
    return members, links


def listed_peer_subject(store: StoreBackend) -> tuple[str, str]:
    """A subject flagged "same actor cluster as listed wallet X" and X."""
    for f in tables.read_flags(store):
        for r in f["reasons"]:
            if r["detail"].startswith(LISTED_PEER):
                return str(f["subject"]), r["detail"][len(LISTED_PEER):].split(" ")[0]
    raise AssertionError("the simulated world has no subject in a listed wallet's cluster")


def test_scoring_stores_the_clusters_of_flagged_subjects_and_replaces_them(db_factory: Callable[..., str]) -> None:
    store = simulated(db_factory())
    try:
        res = score_store(store, now=NOW)
        flagged = {f["subject"] for f in res.flags}
        want = expected(res, flagged, NOW)
        assert stored(store) == want  # every member and link, in clustering's order
        assert want[0] and want[1]
        kept = {m[0] for m in want[0]}
        assert set(ctx(res).clusters.members) - kept, "the world should hold clusters with no flagged subject"
        assert any(m not in flagged for _, m, _ in want[0])  # members that are not flagged are kept too
        assert {r["cluster"] for r in store.flag_rows() if r["cluster"]} == kept

        # A later run that no longer flags one cluster's subjects drops that cluster, in the same write.
        gone = sorted(kept)[0]
        later = [{**f, "computed_at": LATER} for f in res.flags if ctx(res).clusters.cluster(f["subject"]) != gone]
        tables.write_results(store, later, [], computed_at=LATER, clusters=ctx(res).clusters)
        assert stored(store) == expected(res, {f["subject"] for f in later}, LATER)
        assert gone not in {m[0] for m in stored(store)[0]}

        # Plain rows work as well (and are restricted the same way).
        rows = tables.cluster_rows(ctx(res).clusters, flagged)
        tables.write_results(store, res.flags, [], computed_at=NOW,
                             clusters=(rows[0] + [{"cluster": "cluster:none", "member": "wallet:evm:0x1"}], rows[1]))
        assert stored(store) == want

        # No clusters given: none stored, never a previous run's beside this run's flags.
        tables.write_results(store, res.flags, [], computed_at=LATER)
        assert stored(store) == ([], [])

        # Scoring again writes the same rows once (primary keys: a second copy would not insert).
        score_store(store, now=NOW)
        assert stored(store) == want
    finally:
        store.close()


def test_a_failed_write_keeps_the_previous_flags_and_clusters(tmp_path: Path) -> None:
    """Clusters are written in the transaction of the flags: a bad cluster row rolls the flags back too."""
    store = simulated(str(tmp_path / "sim.db"))
    try:
        res = score_store(store, now=NOW)
        before = (store.flag_rows(), stored(store))
        members, links = tables.cluster_rows(ctx(res).clusters, {f["subject"] for f in res.flags})
        with pytest.raises(sqlite3.IntegrityError):  # the same (cluster, seq) twice
            tables.write_results(store, [{**f, "computed_at": LATER} for f in res.flags[3:]], [], computed_at=LATER,
                                 clusters=(members, links + links[-1:]))
        assert (store.flag_rows(), stored(store)) == before
    finally:
        store.close()


def test_cluster_query_shows_the_listed_member_and_the_links(db_factory: Callable[..., str]) -> None:
    db = db_factory()
    store = simulated(db)
    try:
        res = score_store(store, now=NOW)
        subject, listed = listed_peer_subject(store)
        c = q.cluster(store, subject)
        members = {m["id"]: m for m in c["members"]}
        cid = ctx(res).clusters.cluster(subject)
        assert c["cluster"] == cid and c["note"] is None and not c["truncated"]
        assert set(members) == set(ctx(res).clusters.members[cid])  # every member, flagged or not
        assert members[listed]["listed"].startswith("sanctioned: ") and members[listed]["level"] is None
        assert members[subject]["level"] in ("high", "severe") and members[subject]["hop"] == 0
        assert members[listed]["via"] == f"scoring {cid}" and members[listed]["hop"] >= 1
        scoring = [lk for lk in c["links"] if lk["kind"] == "scoring"]
        assert [(lk["src"], lk["dst"], lk["heuristic"], lk["strength"], lk["detail"], tuple(lk["refs"]))
                for lk in scoring] == [(lk.a, lk.b, lk.heuristic, lk.strength, lk.detail, lk.refs)
                                       for lk in ctx(res).clusters.links[cid]]
        first = scoring[0]
        assert first["detail"] in first["sentence"] and f"({first['heuristic']}, strength " in first["sentence"]
        assert any(f"{listed} [sanctioned: " in lk["sentence"] for lk in scoring)  # the listed end says so

        alone = next(f["subject"] for f in store.flag_rows() if not f["cluster"])
        c = q.cluster(store, alone)
        assert [m["id"] for m in c["members"]] == [alone] and c["links"] == []
        assert c["note"] == cv.NO_CLUSTER == "not in an actor cluster: scoring linked it to no other wallet"
        unflagged = next(m for m in store.stored_cluster_members(cid, 50) if store.flag_of(m) is None)
        assert q.cluster(store, unflagged)["cluster"] == cid  # an unflagged member finds its cluster too
        other = next(n for n in ctx(res).clusters.of if ctx(res).clusters.of[n] not in
                     {r["cluster"] for r in store.flag_rows()})
        assert q.cluster(store, other)["note"] == cv.NO_FLAGGED_CLUSTER  # its cluster held no flagged subject
    finally:
        store.close()

    r = _cli(db, "cluster", subject, "--table")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    n_flagged = sum(1 for m in members.values() if m["level"])
    n_listed = sum(1 for m in members.values() if m["listed"])
    assert lines[0] == (f"actor cluster {cid} of {subject}: {len(members)} members ({n_flagged} flagged, "
                        f"{n_listed} listed), {len(scoring)} links")
    at = lines.index(f"links ({len(scoring)}):")
    assert lines[at + 1] == "  " + scoring[0]["sentence"] + "; facts: " + ", ".join(scoring[0]["refs"][:3]) + \
        (" ..." if len(scoring[0]["refs"]) > 3 else "")
    r = _cli(db, "cluster", alone, "--table")
    assert r.exit_code == 0 and r.output == f"{alone}: {cv.NO_CLUSTER}\n", r.output
    r = _cli(db, "cluster", subject, "--json")
    assert r.exit_code == 0 and json.loads(r.output)["links"][0]["sentence"] == scoring[0]["sentence"]


def test_a_store_never_scored_says_so(tmp_path: Path) -> None:
    store = simulated(str(tmp_path / "sim.db"))
    try:
        node = store.query("SELECT id FROM entities WHERE kind = 'wallet' ORDER BY id LIMIT 1")[0]["id"]
        c = q.cluster(store, node)
        assert c["note"] == cv.NOT_SCORED and [m["id"] for m in c["members"]] == [node]
    finally:
        store.close()


def test_a_v6_store_upgrades_and_shows_its_flagged_members_until_rescored(tmp_path: Path) -> None:
    """A store scored before migration 7 keeps only flags.cluster: opened, it gets the tables; its
    cluster view lists the flagged members and says why no more, until the next scoring fills them."""
    db = tmp_path / "old.db"
    store = simulated(str(db))
    score_store(store, now=NOW)
    subject, listed = listed_peer_subject(store)
    store.close()
    con = sqlite3.connect(db)
    con.executescript("DROP TABLE cluster_members; DROP TABLE cluster_links; DELETE FROM migrations WHERE version = 7;")
    con.close()

    store = open_store(db, create=False)
    try:
        assert store.keeps_clusters() and SCHEMA_VERSION == 7
        assert [r["version"] for r in store.query("SELECT version FROM migrations ORDER BY version")][-1] == 7
        assert q.cluster(store, subject)["note"] == cv.FLAGGED_ONLY and stored(store) == ([], [])
        score_store(store, now=LATER)
        c = q.cluster(store, subject)
        assert c["note"] is None and listed in {m["id"] for m in c["members"]}
    finally:
        store.close()


def test_the_clusters_travel_with_tracer_migrate(tmp_path: Path, pg_url: str) -> None:
    from tracer.store.migrate import copy_store

    src = simulated(str(tmp_path / "s.db"))
    pg = open_store(pg_url)
    back = open_store(tmp_path / "back.db")
    try:
        score_store(src, now=NOW)
        subject, _ = listed_peer_subject(src)
        copied = copy_store(src, pg)
        want = stored(src)
        assert copied["cluster_members"] == len(want[0]) and copied["cluster_links"] == len(want[1])
        assert stored(pg) == want and q.cluster(pg, subject) == q.cluster(src, subject)
        copy_store(pg, back)
        assert stored(back) == want
    finally:
        for s in (src, pg, back):
            s.close()


def test_twenty_thousand_clustered_flags_write_in_one_pass(tmp_path: Path) -> None:
    """10k clusters of three wallets, two flagged in each (5k clusters with none): one bulk write."""
    store = open_store(tmp_path / "big.db")
    try:
        w = [f"wallet:evm:0x{i:040x}" for i in range(45_000)]
        links = [Link(w[3 * i + j], w[3 * i + 2], "common_funder", 0.7, (f"e:{i}:{j}",), "one of 2 fresh wallets")
                 for i in range(15_000) for j in (0, 1)]
        clusters = cluster_links(links)
        flags = [{"subject": w[3 * i + j], "score": 0.5, "level": "medium", "rules_version": "t", "computed_at": NOW,
                  "cluster": clusters.cluster(w[3 * i + j]), "reasons": []} for i in range(10_000) for j in (0, 1)]
        t0 = time.monotonic()
        tables.write_results(store, flags, [], computed_at=NOW, clusters=clusters)
        took = time.monotonic() - t0
        assert (store.count("cluster_members"), store.count("cluster_links")) == (30_000, 20_000)
        assert took < 30, took  # generous: flags, change log and clusters in one transaction
    finally:
        store.close()
