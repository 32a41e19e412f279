"""The dated reference data: every GPU row's stored 3A090 class must follow from its own TPP and PD,
the DOMAIN table's anchor values must hold, and the country groups must carry their rule date."""

from __future__ import annotations

import json

import pytest

from connectors import gpu_names
from tracer.catalog import HERE, classify_3a090, load_catalog, load_country_groups


def test_every_row_class_matches_thresholds() -> None:
    cat = load_catalog()
    assert len(cat.gpus) >= 17
    for g in cat.gpus.values():
        assert classify_3a090(g.tpp, g.pd, g.datacenter) == g.eccn_3a090, g.id
        assert abs(g.dense_tops * g.bit_length - g.tpp) <= 1, g.id  # TPP = dense TOPS x bit length
        if g.die_area_mm2:
            assert g.pd == pytest.approx(g.tpp / g.die_area_mm2, abs=0.01), g.id
        assert g.source and g.confidence.startswith("["), g.id


@pytest.mark.parametrize("gid,cls", [
    ("h100-sxm", "a"), ("h100-pcie", "a"), ("h200", "a"), ("h800", "a"), ("a100", "a"), ("a800", "a"),
    ("l40s", "a"), ("l4", "a"), ("rtx-4090", "a"), ("b200", "a"), ("mi300x", "a"),
    ("h20", "none"), ("rtx-4090d", "none"), ("rtx-4080", "none"), ("l20", "none"), ("l2", "none"), ("l40", "b"),
])
def test_domain_classes(gid: str, cls: str) -> None:
    assert load_catalog().gpus[gid].eccn_3a090 == cls


def test_anchor_numbers() -> None:
    g = load_catalog().gpus
    assert (g["h20"].tpp, g["rtx-4090"].tpp, g["rtx-4090d"].tpp, g["h100-sxm"].tpp) == (2368, 5286, 4707, 15832)
    assert g["l4"].tpp < 4800 and g["l4"].pd and g["l4"].pd >= 5.92  # caught by the density prong only


def test_classifier_edges() -> None:
    assert classify_3a090(4800, None, False) == "a"
    assert classify_3a090(4799, 9.0, False) == "none"  # consumer: TPP only
    assert classify_3a090(1600, 5.92, True) == "a"
    assert classify_3a090(1599, 50, True) == "none"
    assert classify_3a090(2400, 1.6, True) == "b"
    assert classify_3a090(2399, 3.19, True) == "none"
    assert classify_3a090(1600, 3.2, True) == "b"


def test_aliases_and_akash_h100() -> None:
    cat = load_catalog()
    assert cat.resolve("akash", "h100").id == "h100-sxm"  # type: ignore[union-attr]
    assert cat.resolve("akash", "h100/ram/80Gi/interface/pcie").id == "h100-pcie"  # type: ignore[union-attr]
    assert cat.resolve("vast", "RTX 4090D").id == "rtx-4090d"  # type: ignore[union-attr]
    assert cat.resolve("vast", "Tesla K80") is None
    assert cat.get("gpu:h20") is cat.gpus["h20"]


def test_ids_agree_with_market_normaliser() -> None:
    cat = load_catalog()
    for gid, markets in gpu_names.ALIASES.items():
        if gid not in cat.gpus:
            continue
        for market, names in markets.items():
            for n in names:
                assert gpu_names.gpu_id(market, n) == gid
    missing = set(cat.gpus) - set(gpu_names.ALIASES)
    assert not missing, f"catalog ids the market normaliser does not know: {missing}"


def test_country_groups_dated_and_sourced() -> None:
    cg = load_country_groups()
    raw = json.loads((HERE / "country_groups.json").read_text())
    assert raw["as_of"] and "Supplement No. 1 to Part 740" in raw["rule"] and raw["source"].startswith("https://")
    assert set(cg.groups) == {"D:1", "D:4", "D:5", "Macau"}
    for c in ("CN", "RU", "IR", "KP", "BY", "VE", "CU", "MM"):
        assert "D:5" in cg.groups_of(c), c
    assert cg.groups_of("mo") and cg.weight("MO") == (1.0, "Macau")
    assert cg.weight("CN") == (1.0, "D:5")
    assert cg.weight("SA")[1] == "D:4" and cg.weight("VN")[1] == "D:1"
    assert cg.weight("DE") == (0.0, None) and cg.weight("US") == (0.0, None)
    for g, members in cg.groups.items():
        assert all(len(c) == 2 and c.isupper() for c in members), g


def test_hong_kong_is_treated_as_china() -> None:
    """Since 85 FR 83765 (2020-12-23) the EAR no longer treats Hong Kong as a destination apart
    from China, so an H100 provider located in HK is in D:5 for the advanced-computing rule."""
    from tracer.catalog import load_country_groups

    groups = load_country_groups()
    assert "D:5" in groups.groups_of("HK")
    assert groups.weight("hk") == groups.weight("CN")
    assert groups.groups_of("TW") == []
