"""Properties of scoring over random worlds written through the store: scores in [0, 1], a score
above zero always has evidence, every evidence ref resolves to a stored fact with a raw payload, and
delisting a wallet removes the flags that depended on it."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracer.scoring import tables
from tracer.scoring.run import score_store
from tracer.simulate import World
from tracer.store import Store

NOW = "2026-06-01T00:00:00Z"
LATER = "2026-07-01T00:00:00Z"
GPUS = ["h100-sxm", "a100", "rtx-4080", "l4", "h20"]

world_ops = st.fixed_dictionaries({
    "n": st.integers(3, 14),
    "listed": st.lists(st.integers(0, 13), max_size=3),
    "pays": st.lists(st.tuples(st.integers(0, 13), st.integers(0, 13), st.integers(1, 10**6),
                               st.floats(0, 20)), max_size=30),
    "rents": st.lists(st.tuples(st.integers(0, 13), st.sampled_from(GPUS), st.integers(1, 300_000)), max_size=10),
    "country": st.sampled_from(["CN", "US", "RU", "MO", "DE"]),
    "layer": st.sampled_from(["declared", "audited", "ip"]),
    "exchange": st.booleans(),
})


def make_world(ops: dict, seed: str) -> tuple[World, list[str]]:
    w = World(seed)
    wallets = [w.wallet(f"w{i}") for i in range(ops["n"])]
    if ops["exchange"]:
        w.tag(wallets[0], "Ex", "exchange")
    p = w.provider("p", {g: 1 for g in GPUS}, ops["country"], (ops["layer"],))
    for i in ops["listed"]:
        w.listed(wallets[i % ops["n"]])
    for a, b, amt, day in ops["pays"]:
        if a % ops["n"] != b % ops["n"]:
            w.pay(wallets[a % ops["n"]], wallets[b % ops["n"]], amt, day)
    for i, gpu, hours in ops["rents"]:
        w.rent(wallets[i % ops["n"]], p, gpu, hours, 5, 10)
    return w, wallets


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(world_ops)
def test_scores_evidence_and_refs(ops: dict) -> None:
    w, _ = make_world(ops, "prop")
    store = Store(":memory:")
    w.write(store)
    res = score_store(store, now=NOW)
    by_subject: dict[str, list[dict]] = {}
    for e in res.evidence:
        by_subject.setdefault(e["subject"], []).append(e)
        assert 0 < e["score"] <= 1
        for ref in e["refs"]:
            f = tables.fact(store, ref)
            assert f is not None, ref
            assert f["raw_sha256"] and store.raw_payload(f["raw_sha256"]) is not None
    for f in res.flags:
        assert 0 < f["score"] <= 1 and f["level"] in ("low", "medium", "high", "severe")
        assert by_subject.get(f["subject"]), f"flag without evidence: {f['subject']}"
        assert f["rules_version"]
    stored = tables.read_flags(store)
    assert sorted(x["subject"] for x in stored) == sorted(f["subject"] for f in res.flags)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(world_ops, st.integers(0, 13))
def test_delisting_removes_dependent_flags(ops: dict, pick: int) -> None:
    if not ops["listed"]:
        ops = {**ops, "listed": [pick]}
    w, wallets = make_world(ops, "delist")
    store = Store(":memory:")
    w.write(store)
    score_store(store, now=NOW)
    target = sorted(w.truth.listed)[pick % len(w.truth.listed)]
    oid = w.truth.listed[target]
    before = {e["subject"] for e in _all_evidence(store) if oid in e["refs"]}
    # The list source delists the wallet (valid_to set, as the OFAC connector does) and we rescore.
    with store.db.conn:
        store.db.conn.execute("UPDATE observations SET valid_to = ? WHERE id = ?", ["2026-05-01T00:00:00Z", oid])
    score_store(store, now=LATER)
    after_ev = _all_evidence(store)
    assert not any(oid in e["refs"] for e in after_ev), "evidence still cites a delisted fact"
    flagged = {f["subject"] for f in tables.read_flags(store)}
    for s in before:
        if s in flagged:  # still flagged only on other evidence
            assert all(oid not in e["refs"] for e in after_ev if e["subject"] == s)
            assert any(e["subject"] == s for e in after_ev)


def _all_evidence(store: Store) -> list[dict]:
    rows = store.query("SELECT id FROM evidence")
    return [tables.read_evidence(store, evidence_id=r["id"])[0] for r in rows]


def test_delisting_listed_funder_removes_exposure_flags() -> None:
    w = World("delist-funder")
    src = w.wallet("l")
    oid = w.listed(src)
    p = w.provider("p", {"h100-sxm": 1}, "US")
    renters = []
    for i in range(2):
        r = w.wallet(f"r{i}")
        w.pay(src, r, 1000, 1 + i * 10)  # 10 days apart: no common-funder cluster
        w.rent(r, p, "h100-sxm", 10, 5, 1)
        renters.append(r)
    store = Store(":memory:")
    w.write(store)
    assert {f["subject"] for f in score_store(store, now=NOW).flags} == set(renters)
    with store.db.conn:
        store.db.conn.execute("UPDATE observations SET valid_to = ? WHERE id = ?", ["2026-05-01T00:00:00Z", oid])
    assert score_store(store, now=LATER).flags == []
    assert tables.read_flags(store) == []
