"""Demo OFAC per-asset lists: the real 0xB10C lists when the fixtures are there, plus the world's
own listed wallets (generated), served in the exact ``sanctioned_addresses_<ASSET>.txt`` format."""

from __future__ import annotations

from typing import Any

from tracer.world import DemoPart, evm_address, fixtures_dir, static_routes

LISTED_SEEDS = ("listed-renter-1", "listed-funder-1", "listed-far-1")


def listed_wallets() -> list[str]:
    """EVM wallets the demo world puts on its OFAC list (other parts make them rent and pay)."""
    return [evm_address(s) for s in LISTED_SEEDS]


def demo_part() -> DemoPart:
    files: dict[str, bytes] = {}
    fx = fixtures_dir()
    real = fx / "ofac-0xb10c" / "latest" if fx else None
    assets = ["ETH"]
    if real and real.is_dir():
        for f in sorted(real.glob("sanctioned_addresses_*.txt")):
            files[f.name] = f.read_bytes()
        assets = [f.name[len("sanctioned_addresses_"):-4] for f in sorted(real.glob("*.txt"))]
    eth = files.get("sanctioned_addresses_ETH.txt", b"").decode().splitlines()
    files["sanctioned_addresses_ETH.txt"] = ("\n".join(sorted(set(eth) | set(listed_wallets()))) + "\n").encode()

    def config(base: str) -> dict[str, dict[str, Any]]:
        return {"ofac_addresses": {"base_url": base + "/", "assets": assets, "limits": {"rate": 0, "concurrency": 8}}}

    return DemoPart("ofac", static_routes(files), config,
                    notes=["real 0xB10C lists" if real else "generated list only"])
