"""Demo OFAC per-asset lists: the real 0xB10C lists when the fixtures are there, plus the world's
own listed wallets (generated), served in the exact ``sanctioned_addresses_<ASSET>.txt`` and
``.json`` formats (the JSON variant is a sorted array of strings, as 0xB10C publishes it)."""

from __future__ import annotations

import json
from typing import Any

from tracer.world import DemoPart, evm_address, fixtures_dir, static_routes

LISTED_SEEDS = ("listed-renter-1", "listed-funder-1", "listed-far-1")


def listed_wallets() -> list[str]:
    """EVM wallets the demo world puts on its OFAC list (other parts make them rent and pay)."""
    return [evm_address(s) for s in LISTED_SEEDS]


def demo_lists() -> tuple[dict[str, list[str]], bool]:
    """Addresses per asset (real lists when the fixtures are present, plus the world's wallets)."""
    lists: dict[str, list[str]] = {}
    fx = fixtures_dir()
    real = fx / "ofac-0xb10c" / "latest" if fx else None
    found = bool(real and real.is_dir())
    if real and found:
        for f in sorted(real.glob("sanctioned_addresses_*.txt")):
            asset = f.name[len("sanctioned_addresses_"):-4]
            lists[asset] = [ln.strip() for ln in f.read_text().splitlines() if ln.strip()]
    lists["ETH"] = sorted(set(lists.get("ETH", [])) | set(listed_wallets()))
    return lists, found


def demo_files(lists: dict[str, list[str]] | None = None) -> dict[str, bytes]:
    """Every list as served: ``sanctioned_addresses_<ASSET>.txt`` and ``.json``."""
    lists = lists if lists is not None else demo_lists()[0]
    files: dict[str, bytes] = {}
    for asset, addrs in lists.items():
        files[f"sanctioned_addresses_{asset}.txt"] = ("\n".join(addrs) + "\n").encode()
        files[f"sanctioned_addresses_{asset}.json"] = json.dumps(addrs, indent=2).encode()
    return files


def demo_part() -> DemoPart:
    lists, real = demo_lists()
    assets = sorted(lists)

    def config(base: str) -> dict[str, dict[str, Any]]:
        return {"ofac_addresses": {"base_url": base + "/", "assets": assets, "limits": {"rate": 0, "concurrency": 8}}}

    return DemoPart("ofac", static_routes(demo_files(lists)), config,
                    notes=["real 0xB10C lists" if real else "generated list only"])
