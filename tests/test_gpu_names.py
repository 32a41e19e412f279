"""GPU name normalisation: real names from the Vast.ai snapshot and the Akash provider-configs GPU
table, the alias table, and agreement with the dated GPU catalog's own alias lists."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markets_support import real

from connectors.gpu_names import ALIASES, compact, gpu_count, gpu_id
from connectors.markets.vastai import parse_offers

CATALOG = Path(__file__).resolve().parents[1] / "tracer" / "catalog" / "gpus.json"
MARKET = {"vast": "vastai", "akash": "akash", "ionet": "ionet", "golem": "golem"}


@pytest.mark.parametrize("gid,market,name", [(g, m, n) for g, ms in ALIASES.items() for m, ns in ms.items() for n in ns])
def test_alias_table(gid: str, market: str, name: str) -> None:
    assert gpu_id(market, name) == gid


def test_every_vast_snapshot_name_resolves() -> None:
    offers = parse_offers(real("vastai-offers", "search_offers_raw_2024-11-05_full_marketplace.json").read_bytes())
    names = Counter(o["gpu_name"] for o in offers)
    ids = {n: gpu_id("vastai", n) for n in names}
    assert [n for n, i in ids.items() if i is None] == []
    assert len(names) == 61
    by_id = Counter()
    for n, c in names.items():
        by_id[ids[n]] += c
    # Controlled datacenter parts in the snapshot (counts of offers, from SOURCE.md gpu_name tallies).
    assert (by_id["h100-sxm"], by_id["h100-pcie"], by_id["a100"], by_id["l40s"], by_id["rtx-4090"]) == (15, 38, 19, 11, 311)
    assert ids["RTX 4070S Ti"] == "rtx-4070-ti-super" and ids["Quadro K2200"] == "quadro-k2200"
    # Only the deliberate merges (catalog choices) collapse spellings; nothing else.
    merged = {i: sorted(n for n in names if ids[n] == i) for i in set(ids.values())}
    assert {i: ns for i, ns in merged.items() if len(ns) > 1} == {
        "a100": ["A100 PCIE", "A100 SXM4", "A100X"], "h100-pcie": ["H100 NVL", "H100 PCIE"],
        "rtx-4080": ["RTX 4080", "RTX 4080S"]}


def test_akash_provider_configs_names_resolve() -> None:
    table = json.loads(real("akash-rest", "provider-configs", "devices", "pcie", "gpus.json").read_text())
    out = {}
    for vendor in table.values():
        for dev in vendor["devices"].values():
            name, iface = dev["name"], dev.get("interface", "").lower()
            path = f"vendor/{vendor['name']}/model/{name}/ram/{dev.get('memory_size', '')}/interface/{iface}"
            out[(name, iface)] = (gpu_id("akash", name), gpu_id("akash", path), gpu_id("akash", "capabilities/gpu/" + path))
    assert [k for k, v in out.items() if None in v] == []
    assert out[("h100", "sxm5")][1] == "h100-sxm" and out[("h100", "pcie")][1] == "h100-pcie"
    assert out[("rtx4090", "pcie")] == ("rtx-4090",) * 3 and out[("a100", "sxm4")][0] == "a100"
    assert out[("rtx6000", "pcie")][0] == "quadro-rtx-6000" and out[("rtxa6000", "pcie")][0] == "a6000"


def test_agrees_with_the_catalog_aliases() -> None:
    if not CATALOG.exists():
        pytest.skip("tracer/catalog/gpus.json not present")
    disagree = []
    for g in json.loads(CATALOG.read_text())["gpus"]:
        for market, names in (g.get("aliases") or {}).items():
            for n in names:
                got = gpu_id(MARKET.get(market, market), n)
                if got != g["id"]:
                    disagree.append((g["id"], market, n, got))
    assert disagree == []


@pytest.mark.parametrize("market,raw,want", [
    ("clore", "2x NVIDIA GeForce RTX 3090", "rtx-3090"), ("golem", "NVIDIA GeForce RTX 4090", "rtx-4090"),
    ("nosana", "NVIDIA 4090", "rtx-4090"), ("ionet", "NVIDIA A100 PCIE-80GB", "a100"),
    ("vastai", "RTX 4090D", "rtx-4090d"), ("vastai", "H20", "h20"), ("vastai", "H200", "h200"),
    ("vastai", "MI300X", "mi300x"), ("vastai", "GH200", "gh200"), ("vastai", "RTX 5090", "rtx-5090"),
    ("vastai", "", None), ("vastai", "Some Future Accelerator", None), ("akash", "", None),
])
def test_market_spellings(market: str, raw: str, want: str | None) -> None:
    assert gpu_id(market, raw) == want


def test_counts_in_names() -> None:
    assert gpu_count("clore", "8x NVIDIA GeForce RTX 4090") == 8 and gpu_count("clore", "RTX 4090") is None


@given(st.text(max_size=40))
def test_never_raises_and_ids_are_slugs(s: str) -> None:
    for market in ("vastai", "akash", "clore"):
        g = gpu_id(market, s)
        assert g is None or (g == g.lower() and " " not in g and g)
    assert compact(s) == compact(s.upper()) or not s.isascii()
