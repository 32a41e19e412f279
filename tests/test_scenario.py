"""Held-out scenario worlds (tracer/world/scenario*.py) and the evaluator (tracer/evaluate.py).

The quality targets (precision/recall) live in bench/flags_quality.py, not here: these tests check
that worlds are deterministic per seed, draw different parameters across seeds within the documented
ranges, go through the real connectors with every label's subject stored and scored, and that the
evaluator's arithmetic is right.
"""

from __future__ import annotations

import pytest

from tracer.evaluate import Metrics, loopback_only, measure, merge, run_scenario, typology_rows
from tracer.world.scenario import (
    DECOY_TYPOLOGIES,
    KINDS,
    POSITIVE_TYPOLOGIES,
    RANGES,
    Label,
    draw_scenario,
    ranges_markdown,
)


def _labels(sc):  # type: ignore[no-untyped-def]
    return [(lb.subject, lb.typology, lb.positive) for lb in sc.labels]


@pytest.mark.parametrize("kind", KINDS)
def test_deterministic_per_seed(kind: str) -> None:
    a, b = draw_scenario(7, kind), draw_scenario(7, kind)
    assert a.params == b.params
    assert _labels(a) == _labels(b)
    assert a.notes == b.notes
    c = draw_scenario(8, kind)
    assert c.params != a.params and _labels(c) != _labels(a)


def _check_ranges(params: dict, seen: dict) -> None:  # type: ignore[type-arg]
    for name, v in params.items():
        t, lo, hi, _ = RANGES[name]
        for x in v if isinstance(v, list) else [v]:
            if t in ("int", "float"):
                assert lo <= x <= hi, (name, x)
            elif t == "choice":
                assert x in lo, (name, x)
            seen.setdefault(name, set()).add(x)


@pytest.mark.parametrize("kind,seeds", [("akash", range(100, 108)), ("polygon_golem", range(100, 116))])
def test_parameters_vary_within_ranges(kind: str, seeds: range) -> None:
    seen: dict[str, set] = {}  # type: ignore[type-arg]
    for s in seeds:
        sc = draw_scenario(s, kind)
        _check_ranges(sc.params, seen)
        assert {lb.typology for lb in sc.labels if lb.positive} <= set(POSITIVE_TYPOLOGIES)
        assert {lb.typology for lb in sc.labels if not lb.positive} <= set(DECOY_TYPOLOGIES)
        assert len({lb.subject for lb in sc.labels}) == len(sc.labels)
    for name in ("background", "sybil_size", "exposure_share", "hub_customers", "span_days", "dust_amount"):
        assert len(seen[name]) >= 4, (name, seen[name])
    assert seen["exposure_hops"] == {1, 2, 3}
    assert len(seen["sybil_units"]) >= 3
    if kind == "polygon_golem":
        assert seen["exchange_tagged"] == {True, False}
    else:
        assert len(seen["restricted_country"]) >= 3


def test_ranges_are_documented() -> None:
    table = ranges_markdown()
    for name in RANGES:
        assert f"`{name}`" in table
    assert all(doc for *_, doc in RANGES.values())


def test_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown world kind"):
        draw_scenario(1, "vast")


@pytest.mark.parametrize("kind,seed", [("akash", 3), ("polygon_golem", 3)])
def test_world_through_connectors(kind: str, seed: int) -> None:
    sc = draw_scenario(seed, kind)
    run = run_scenario(sc)
    assert run.sync_status == "ok", run.sync_errors[:3]
    assert run.missing_subjects == []  # every label's subject is a store id the connectors wrote
    assert run.unscored_subjects == []  # ... and one tracer scores (renter or provider)
    assert run.evidence_problems == []  # flagged positives cite stored facts, with a path
    kinds = {lb.typology for lb in sc.labels}
    expected = {"akash": {"concealment", "restricted_location", "location_mismatch", "indirect_exposure",
                          "public_template", "dusting"},
                "polygon_golem": {"listed_wallet", "indirect_exposure", "provider_paid_by_listed", "concealment",
                                  "exchange_customer", "dusting"}}[kind]
    assert expected <= kinds


def test_loopback_guard() -> None:
    cfg = {"connectors": {"golem": {"enabled": True, "base_url": "https://api.stats.golem.network"},
                          "evm": {"enabled": True, "chains": {"ethereum": {"enabled": False},
                                                              "polygon": {"rpc_url": "http://127.0.0.1:9/p"}}}}}
    from tracer.registry import connectors

    cfg["connectors"].update({n: {"enabled": False} for n in connectors() if n not in cfg["connectors"]})
    bad = loopback_only(cfg)
    assert bad == ["golem: https://api.stats.golem.network"]


# -- evaluator arithmetic on a hand-made flags list --------------------------------------------
LABELS = [Label("w:a", "listed_wallet", True), Label("w:b", "indirect_exposure", True),
          Label("w:c", "indirect_exposure", True), Label("p:d", "restricted_location", True),
          Label("w:e", "dusting", False), Label("w:f", "dusting", False), Label("w:g", "payroll", False)]
FLAGS = [{"subject": "w:a", "level": "severe"}, {"subject": "w:b", "level": "medium"},
         {"subject": "w:c", "level": "low"}, {"subject": "w:e", "level": "high"},
         {"subject": "w:g", "level": "low"}, {"subject": "w:zz", "level": "medium"}]


def test_measure_medium() -> None:
    m = measure(LABELS, FLAGS, "medium")
    assert sorted(m.tp) == ["w:a", "w:b"]
    assert sorted(m.fn) == ["p:d", "w:c"]
    assert sorted(m.fp) == ["w:e", "w:zz"]
    assert m.tn == 2
    assert m.precision == pytest.approx(2 / 4)
    assert m.recall == pytest.approx(2 / 4)
    pt = m.per_typology
    assert (pt["indirect_exposure"]["n"], pt["indirect_exposure"]["hit"]) == (2, 1)
    assert (pt["dusting"]["n"], pt["dusting"]["hit"]) == (2, 1)
    assert pt["unlabelled"]["subjects"] == ["w:zz"]


def test_measure_high_and_merge() -> None:
    hi = measure(LABELS, FLAGS, "high")
    assert hi.tp == ["w:a"] and sorted(hi.fp) == ["w:e"]
    assert hi.precision == pytest.approx(0.5) and hi.recall == pytest.approx(0.25)
    both = merge([measure(LABELS, FLAGS, "medium"), measure(LABELS, [], "medium")])
    assert len(both.tp) == 2 and len(both.fn) == 2 + 4 and len(both.fp) == 2
    assert both.per_typology["listed_wallet"]["n"] == 2
    assert Metrics("medium").precision == 1.0 and Metrics("medium").recall == 1.0


def test_typology_rows_worst_first() -> None:
    rows = typology_rows({"medium": measure(LABELS, FLAGS, "medium"), "high": measure(LABELS, FLAGS, "high")})
    names = [r["typology"] for r in rows]
    assert names[0] == "unlabelled"  # no quality number: listed first so it is never overlooked
    q = [r["quality_medium"] for r in rows[1:]]
    assert q == sorted(q)
    by = {r["typology"]: r for r in rows}
    assert by["restricted_location"]["quality_medium"] == 0.0
    assert by["dusting"]["quality_medium"] == pytest.approx(0.5) and by["dusting"]["kind"] == "decoy"
    assert by["indirect_exposure"]["high"] == 0 and by["listed_wallet"]["quality_high"] == 1.0
