"""Dated reference data (GPU catalog, EAR country groups) loaded from the JSON files beside this module.

The numbers are data with sources, not constants in code: each file carries its ``as_of`` date, the
rule it encodes and a source per row, so an investigator can check (and update) them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

# Thresholds of ECCN 3A090 (Oct-2023 rule) used to *check* the stored class of every catalog row.
TPP_A = 4800
TPP_MIN = 1600
PD_A = 5.92
TPP_B = 2400
PD_B_LOW = 1.6
PD_B_MID = 3.2


def classify_3a090(tpp: float, pd: float | None, datacenter: bool) -> str:
    """3A090 class ("a", "b" or "none") from TPP and performance density.

    Consumer parts are judged on TPP >= 4800 only (why the RTX 4090 is caught and the 4080 is not).
    """
    if tpp >= TPP_A:
        return "a"
    if not datacenter or pd is None:
        return "none"
    if tpp >= TPP_MIN and pd >= PD_A:
        return "a"
    if (TPP_B <= tpp < TPP_A and PD_B_LOW <= pd < PD_A) or (tpp >= TPP_MIN and PD_B_MID <= pd < PD_A):
        return "b"
    return "none"


@dataclass(frozen=True)
class Gpu:
    id: str
    name: str
    vendor: str
    precision: str
    dense_tops: float
    bit_length: int
    tpp: int
    die_area_mm2: float | None
    pd: float | None
    fp16_dense_tflops: float
    datacenter: bool
    eccn_3a090: str
    confidence: str
    source: str
    aliases: dict[str, list[str]] = field(default_factory=dict)

    @property
    def controlled(self) -> bool:
        """True for 3A090.a parts (the class scoring treats as export-controlled compute)."""
        return self.eccn_3a090 == "a"


@dataclass(frozen=True)
class Catalog:
    as_of: str
    rule: str
    gpus: dict[str, Gpu]
    _aliases: dict[tuple[str, str], str]

    def get(self, gpu_id: str) -> Gpu | None:
        """A row by catalog id, accepting ``gpu:<id>`` node ids too."""
        return self.gpus.get(gpu_id.removeprefix("gpu:"))

    def resolve(self, market: str, name: str) -> Gpu | None:
        """The catalog row for a market's GPU name (alias table first, then a normalised guess).

        Akash's bare ``h100`` is the SXM part unless the interface says pcie.
        """
        key = _norm(name)
        hit = self._aliases.get((market, key)) or self._aliases.get(("*", key))
        if hit is None and market == "akash" and "h100" in key:
            hit = "h100-pcie" if "pcie" in key else "h100-sxm"
        return self.gpus.get(hit) if hit else None


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", s.strip().lower())


@lru_cache(maxsize=4)
def load_catalog(path: str | None = None) -> Catalog:
    """The GPU catalog (default: ``gpus.json`` shipped with tracer)."""
    data = json.loads(Path(path or HERE / "gpus.json").read_text())
    gpus: dict[str, Gpu] = {}
    aliases: dict[tuple[str, str], str] = {}
    for row in data["gpus"]:
        g = Gpu(**row)
        gpus[g.id] = g
        aliases[("*", _norm(g.id))] = g.id
        aliases[("*", _norm(g.name))] = g.id
        for market, names in g.aliases.items():
            for n in names:
                aliases[(market, _norm(n))] = g.id
    return Catalog(data["as_of"], data["rule"], gpus, aliases)


@dataclass(frozen=True)
class CountryGroups:
    as_of: str
    rule: str
    source: str
    groups: dict[str, frozenset[str]]
    weights: dict[str, float]
    treated_as: dict[str, str] = field(default_factory=dict)

    def groups_of(self, iso2: str) -> list[str]:
        """Every group (D:1, D:4, D:5, Macau) that lists this ISO 3166 alpha-2 code.

        Places the EAR treats as another destination (Hong Kong as China) resolve first."""
        c = iso2.strip().upper()
        c = self.treated_as.get(c, c)
        return [g for g, members in self.groups.items() if c in members]

    def weight(self, iso2: str) -> tuple[float, str | None]:
        """The heaviest group weight for a country and that group's name ((0, None) if unlisted)."""
        best: tuple[float, str | None] = (0.0, None)
        for g in self.groups_of(iso2):
            w = self.weights.get(g, 0.0)
            if w > best[0]:
                best = (w, g)
        return best


@lru_cache(maxsize=4)
def load_country_groups(path: str | None = None) -> CountryGroups:
    """EAR Country Groups D:1, D:4, D:5 and Macau, dated by the rule they come from."""
    data: dict[str, Any] = json.loads(Path(path or HERE / "country_groups.json").read_text())
    groups = {g: frozenset(v["countries"]) for g, v in data["groups"].items()}
    weights = {k: float(v) for k, v in data["weights"].items() if not k.startswith("_")}
    treated = {k: str(v) for k, v in data.get("treated_as", {}).items() if not k.startswith("_")}
    return CountryGroups(data["as_of"], data["rule"], data["source"], groups, weights, treated)
