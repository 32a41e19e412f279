"""Held-out scenario worlds for flag evaluation (issue 12): ``draw_scenario(seed, kind)``.

Each seed draws a new world of one kind, every planted pattern's parameters taken from the wide
ranges in :data:`RANGES` (the table ``bench/flags_quality.py --ranges`` prints), and serves it on
loopback in the real source shapes through the existing world blocks:

- ``akash``: the LCD (``modern`` v1beta5 or ``legacy`` v1beta4 node, drawn) + Console + Cosmos tx
  search of :mod:`tracer.world.akash_shapes`, the OFAC per-asset lists (listed EVM keys reach Akash
  through Injective IBC) and a CSL file (Entity List names);
- ``polygon_golem``: a geth-shaped Polygon node (:class:`tracer.world.evm.DemoChain`, GLM + USDC),
  the Golem stats ``network/online`` list, the OFAC per-asset lists and an etherscan-style
  ``combinedAllLabels.json`` (the exchange hot wallet is tagged only when the seed says so).

Ground truth is a list of :class:`Label`: positives (must reach >= medium) and decoys (must stay
below), each with its typology id (docs/typologies.md) and a detail naming the drawn parameters.
Only subjects tracer scores are labelled (renters and providers), with the exact store ids the
connectors write. Worlds are built by :mod:`tracer.world.scenario_akash` and
:mod:`tracer.world.scenario_polygon`; everything reaches the store through the connectors.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tracer.world import DemoPart, fixtures_dir, static_routes

KINDS = ("akash", "polygon_golem")

POSITIVE_TYPOLOGIES = ("listed_wallet", "indirect_exposure", "provider_paid_by_listed", "concealment",
                       "restricted_location", "location_mismatch", "name_match")
DECOY_TYPOLOGIES = ("dusting", "exchange_customer", "public_template", "payroll", "large_lawful_renter",
                    "uncontrolled_gpus", "far_exposure", "homonym")

# name -> (type, low, high | choices, documentation). Types: int / float (uniform, inclusive),
# choice (one of the values), chance (probability that a pattern is planted).
RANGES: dict[str, tuple[str, Any, Any, str]] = {
    # -- both kinds -------------------------------------------------------------------------
    "background": ("int", 100, 400, "unlabelled background wallets (renters and non-renting wallets)"),
    "span_days": ("int", 30, 180, "days of history the world covers"),
    "hub_customers": ("int", 30, 400, "customers an exchange hot wallet funds (hub size)"),
    "sybil_size": ("int", 4, 12, "fresh wallets in a common funder's Sybil star"),
    "sybil_units": ("int", 4, 8, "controlled GPUs each Sybil wallet rents at once (Golem: distinct hosts paid)"),
    "sybil_window_hours": ("float", 0.05, 72.0, "spread of the star's fundings"),
    "sybil_multisend": ("chance", 0.5, None, "the star is funded in one multi-send (else separate sends)"),
    "controlled_model": ("choice", ["h100-sxm", "h100-pcie", "a100", "h800"], None,
                         "controlled (3A090.a) GPU a concealment cluster rents"),
    "sync_present": ("chance", 0.6, None, "plant independently funded wallets with synchronized first rentals"),
    "sync_size": ("int", 3, 8, "wallets with synchronized first rentals"),
    "sync_spread_blocks": ("int", 1, 20, "spread of their first rentals, in blocks"),
    "exposure_renters": ("int", 1, 4, "renters funded from a listed wallet (indirect exposure)"),
    "exposure_hops": ("int", 1, 3, "hops from the listed wallet to the renter (peel-chain wallets between)"),
    "exposure_share": ("float", 0.2, 1.0, "share of the renter's inflow, in the asset it pays with, from the chain"),
    "peel_pass": ("float", 0.85, 0.99, "fraction each short-lived peel wallet passes on"),
    "peel_delay_minutes": ("float", 1.0, 600.0, "how long a peel wallet holds the funds"),
    "dust_recipients": ("int", 3, 8, "renters a listed wallet dusts"),
    "dust_amount": ("int", 1, 10_000, "dust amount in base units of a 6-decimal token (1e-6 .. 0.01)"),
    "payroll_wallets": ("int", 2, 4, "wallets one treasury pays on a cadence"),
    "payroll_periods": ("int", 4, 12, "payroll payments per wallet"),
    "payroll_cadence_days": ("choice", [7, 14, 30], None, "days between payroll payments"),
    "large_renter_units": ("int", 16, 64, "GPUs the large lawful renter rents (Golem: hosts paid x8)"),
    "large_renter_days": ("int", 7, 60, "days it rents them"),
    "uncontrolled_star": ("int", 4, 10, "fresh star wallets renting uncontrolled GPUs only"),
    "far_hops": ("int", 4, 5, "hops of the far-exposure peel chain (beyond the 3-hop walk)"),
    # -- akash ------------------------------------------------------------------------------
    "akash_node": ("choice", ["modern", "modern", "legacy"], None, "LCD node shape (v1beta5 or v1beta4 era)"),
    "akash_providers": ("int", 6, 20, "providers in allowed countries"),
    "akash_audited_share": ("float", 0.3, 0.9, "share of allowed providers with an audited country"),
    "akash_exchanges": ("int", 1, 3, "exchange hot wallets funding tenants (untagged: no Akash tag source)"),
    "manifest_present": ("chance", 0.7, None, "plant wallets sharing one private manifest"),
    "manifest_size": ("int", 3, 8, "wallets sharing one private manifest"),
    "manifest_window_days": ("float", 0.5, 14.0, "days over which they deploy it"),
    "escrow_present": ("chance", 0.6, None, "plant a third party paying tenants' escrow"),
    "escrow_tenants": ("int", 2, 5, "tenants whose escrow one third party tops up"),
    "restricted_providers": ("int", 1, 3, "providers located in CN/HK/MO/RU/BY/IR offering 3A090.a GPUs"),
    "restricted_country": ("choice", ["CN", "HK", "MO", "RU", "BY", "IR"], None, "their country"),
    "restricted_layer": ("choice", ["audited", "ip"], None, "the layer that places them there"),
    "mismatch_providers": ("int", 1, 2, "providers declaring an allowed country, IP in a D:5 country"),
    "name_match_providers": ("int", 0, 2, "provider organisations that are spelling variants of a CSL name"),
    "name_variant": ("choice", ["legal_form", "case_punct", "typo", "word_order", "alt_name"], None,
                     "how a name-match organisation differs from the listed name"),
    "homonyms": ("int", 1, 2, "provider organisations sharing words with a CSL name, below the threshold"),
    "template_owners": ("int", 12, 40, "unrelated owners of one public manifest template"),
    "template_days": ("int", 30, 180, "days over which the template is deployed"),
    "uncontrolled_restricted": ("chance", 0.6, None, "a restricted-location provider with uncontrolled GPUs only"),
    # -- polygon + golem --------------------------------------------------------------------
    "golem_providers": ("int", 12, 40, "Golem provider nodes (at least 8 with controlled GPUs)"),
    "golem_controlled_share": ("float", 0.3, 0.6, "share of Golem nodes offering a 3A090.a GPU"),
    "listed_renters": ("int", 1, 2, "OFAC-listed wallets paying Golem providers"),
    "provider_paid": ("int", 1, 2, "Golem providers paid a material share by a listed wallet"),
    "provider_paid_share": ("float", 0.2, 0.8, "that share of the payee's GLM income"),
    "exchange_tagged": ("chance", 0.5, None, "the exchange hot wallet is in the label file"),
    "hub_listed_share": ("float", 0.05, 0.4, "share of the exchange's GLM inflow that came from a listed wallet"),
    "hub_deposit_addresses": ("int", 5, 40, "customer deposit addresses forwarding to the hot wallet"),
    "dust_asset": ("choice", ["USDC", "USDC", "GLM"], None, "asset of the dust (Akash: an IBC USDT voucher)"),
}


class Draw:
    """A seeded draw from :data:`RANGES`; every value drawn is recorded in ``params``."""

    def __init__(self, seed: int, kind: str) -> None:
        self.r = random.Random(f"tracer-scenario:{kind}:{seed}")
        self.params: dict[str, Any] = {}

    def _rec(self, name: str, v: Any) -> Any:
        if name in self.params:
            prev = self.params[name]
            self.params[name] = [*prev, v] if isinstance(prev, list) else [prev, v]
        else:
            self.params[name] = v
        return v

    def int_(self, name: str) -> int:
        t, lo, hi, _ = RANGES[name]
        assert t == "int", name
        return int(self._rec(name, self.r.randint(lo, hi)))

    def float_(self, name: str) -> float:
        t, lo, hi, _ = RANGES[name]
        assert t == "float", name
        return float(self._rec(name, round(self.r.uniform(lo, hi), 4)))

    def pick(self, name: str) -> Any:
        t, values, _, _ = RANGES[name]
        assert t == "choice", name
        return self._rec(name, self.r.choice(values))

    def chance(self, name: str) -> bool:
        t, p, _, _ = RANGES[name]
        assert t == "chance", name
        return bool(self._rec(name, self.r.random() < p))


@dataclass(frozen=True)
class Label:
    """One scored subject's truth: ``positive`` must reach >= medium, a decoy must stay below."""

    subject: str
    typology: str
    positive: bool
    detail: str = ""


@dataclass
class Scenario:
    seed: int
    kind: str
    params: dict[str, Any]
    labels: list[Label]
    parts: list[DemoPart]
    notes: dict[str, Any] = field(default_factory=dict)

    def label_map(self) -> dict[str, Label]:
        return {lb.subject: lb for lb in self.labels}


class Labels:
    """Truth being built: one label per subject; a positive is never overwritten by a decoy."""

    def __init__(self) -> None:
        self.by_subject: dict[str, Label] = {}

    def add(self, subject: str, typology: str, positive: bool, detail: str = "") -> None:
        assert typology in (POSITIVE_TYPOLOGIES if positive else DECOY_TYPOLOGIES), typology
        old = self.by_subject.get(subject)
        if old is not None and (old.positive or not positive):
            return
        self.by_subject[subject] = Label(subject, typology, positive, detail)

    def drop(self, subject: str) -> None:
        self.by_subject.pop(subject, None)

    def items(self) -> list[Label]:
        return sorted(self.by_subject.values(), key=lambda lb: (not lb.positive, lb.typology, lb.subject))


def draw_scenario(seed: int, kind: str) -> Scenario:
    """The world of ``kind`` for ``seed`` (deterministic), its labels and its loopback parts."""
    if kind == "akash":
        from tracer.world.scenario_akash import build

        return build(seed)
    if kind == "polygon_golem":
        from tracer.world.scenario_polygon import build as build_polygon

        return build_polygon(seed)
    raise ValueError(f"unknown world kind {kind!r}; use one of {', '.join(KINDS)}")


def ranges_markdown() -> str:
    """RANGES as a markdown table (documentation)."""
    rows = ["| parameter | range | meaning |", "|---|---|---|"]
    for name, (t, a, b, doc) in RANGES.items():
        if t == "choice":
            rng = " / ".join(map(str, dict.fromkeys(a)))
        else:
            rng = f"p = {a}" if t == "chance" else f"{a}-{b}"
        rows.append(f"| `{name}` | {rng} | {doc} |")
    return "\n".join(rows)


# -- shared parts: OFAC lists, labels file, CSL ------------------------------------------------
FAST = {"rate": 0, "concurrency": 8, "timeout": 30, "max_retries": 1}
OFAC_ASSETS = ("ETH", "USDC", "USDT")


def ofac_part(planted: dict[str, list[str]]) -> DemoPart:
    """The 0xB10C per-asset lists (real EVM lists from the fixtures when present) + planted wallets."""
    from tracer.world.ofac import demo_files

    fx = fixtures_dir()
    real = fx / "ofac-0xb10c" / "latest" if fx else None
    lists: dict[str, list[str]] = {}
    for asset in OFAC_ASSETS:
        f = real / f"sanctioned_addresses_{asset}.txt" if real else None
        got = [ln.strip() for ln in f.read_text().splitlines() if ln.strip()] if f and f.is_file() else []
        lists[asset] = sorted(set(got) | set(planted.get(asset, [])))

    def config(base: str) -> dict[str, dict[str, Any]]:
        return {"ofac_addresses": {"base_url": base + "/", "assets": list(OFAC_ASSETS), "limits": FAST}}

    return DemoPart("ofac", static_routes(demo_files(lists)), config)


def labels_part(tags: dict[str, tuple[str, list[str]]]) -> DemoPart:
    """An etherscan-labels ``polygonscan/combined/combinedAllLabels.json``: the real file's labels
    (fixtures) plus ``tags`` (address -> (name, labels))."""
    fx = fixtures_dir()
    real = fx / "etherscan-labels" / "data" / "polygonscan" / "combined" / "combinedAllLabels.json" if fx else None
    body: dict[str, Any] = json.loads(real.read_text()) if real and real.is_file() else {}
    for a, (name, labels) in tags.items():
        body[a] = {"name": name, "labels": labels}
    path = "data/polygonscan/combined/combinedAllLabels.json"

    def config(base: str) -> dict[str, dict[str, Any]]:
        return {"lists_tags": {"limits": FAST, "sources": {
            "etherscan": {"format": "scan_combined", "base_url": base, "source": "etherscan-labels", "files": [path]},
            "graphsense": {"enabled": False}, "graphsense_actors": {"enabled": False}, "forta": {"enabled": False}}}}

    return DemoPart("tags", static_routes({path: json.dumps(body).encode()}, "application/json"), config)


def csl_part(rows: list[tuple[str, str, str, str]]) -> DemoPart:
    """A CSL 2025 CSV: the real subset (fixtures) plus rows (source, name, alt names, address)."""
    import csv
    import io

    from tracer.world.lists import CSL_COLUMNS

    fx = fixtures_dir()
    real = fx / "trade-gov-csl" / "csl_consolidated_2025_subset.csv" if fx else None
    buf = io.StringIO()
    w = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n")
    w.writerow(CSL_COLUMNS)
    if real is not None and real.is_file():
        for r in csv.DictReader(io.StringIO(real.read_text(encoding="utf-8"))):
            w.writerow([r.get(c, "") for c in CSL_COLUMNS])
    for i, (src, name, alt, addr) in enumerate(rows):
        row = {c: "" for c in CSL_COLUMNS}
        row.update({"_id": f"scn{i:04d}", "source": src, "name": name, "alt_names": alt, "addresses": addr,
                    "start_date": "2025-01-15", "license_requirement": "For all items subject to the EAR.",
                    "federal_register_notice": "90 FR 0000 01/15/2025"})
        w.writerow([row[c] for c in CSL_COLUMNS])
    body = buf.getvalue().encode()

    def config(base: str) -> dict[str, dict[str, Any]]:
        return {"lists_csl": {"limits": FAST, "sources": {
            "csl": {"url": f"{base}/consolidated.csv", "format": "csl_csv", "source": "csl"},
            "dpl": {"enabled": False}}}}

    return DemoPart("csl", static_routes({"consolidated.csv": body}), config)


def json_route(path: str, body: Any) -> web.RouteDef:
    raw = json.dumps(body).encode()

    async def h(request: web.Request) -> web.Response:
        return web.Response(body=raw, content_type="application/json")

    return web.get(path, h)
