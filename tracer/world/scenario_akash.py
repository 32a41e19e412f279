"""Akash scenario worlds: providers, tenants, deployments, leases and funding, drawn per seed.

Served by :func:`tracer.world.akash_shapes.routes` (LCD ``modern`` or ``legacy`` node + Console +
Cosmos tx search; block h at GENESIS_UNIX + 6 h). Listed parties are EVM keys on the OFAC lists
that reach Akash through Injective IBC (``inj1...`` = the same key, which the connector maps to
``wallet:evm:0x...``); AKT coming back from Injective unwinds to ``uakt``, the asset tenants pay
with. Planted patterns and decoys: see :mod:`tracer.world.scenario` and ``RANGES``.

Note: the funding stream follows tenants (lease owners) only, so the wallets between a listed
key and a tenant (exposure at 2-3 hops, far exposure, the exchange's own inflow) are on the served
chain but not fetched by today's connector; their labels say so in ``detail``.
"""

from __future__ import annotations

import hashlib
from typing import Any

from connectors import ids
from connectors.addresses import _convertbits, bech32_encode
from connectors.akash.parse import USDC_IBC
from tracer.world import DemoPart, evm_address
from tracer.world.akash import (
    HEAD,
    Deployment,
    Group,
    Lease,
    Provider,
    Transfer,
    World,
    akash_address,
    bech32_address,
)
from tracer.world.scenario import FAST, Draw, Labels, Scenario, csl_part, ofac_part


def _wallet(address: str) -> str:
    """The wallet id of one of the world's Akash addresses (generated canonical)."""
    return ids.wallet_raw("akash", address)


def _provider(owner: str) -> str:
    """The provider id of an Akash provider of the world (its owner address)."""
    return ids.provider("akash", owner)


BPD = 14_400  # blocks per day at 6 s
NOW = HEAD - 50
DUST_DENOM = "peggy0xdAC17F958D2ee523a2206206994597C13D831ec7"  # Injective USDT (6 decimals)
INJ_CHANNEL = "channel-122"  # the Injective side of the Injective <-> Akash channel
# code -> (name, location-region, ip region, lat, lon)
COUNTRIES: dict[str, tuple[str, str, str, str, str]] = {
    "US": ("United States", "na-us-west", "Oregon", "45.52", "-122.67"),
    "DE": ("Germany", "eu-central", "Hesse", "50.11", "8.68"),
    "NL": ("Netherlands", "eu-west", "North Holland", "52.37", "4.90"),
    "CA": ("Canada", "na-ca-central", "Quebec", "45.50", "-73.57"),
    "SG": ("Singapore", "as-southeast", "Singapore", "1.29", "103.85"),
    "JP": ("Japan", "as-east", "Tokyo", "35.68", "139.69"),
    "GB": ("United Kingdom", "eu-north", "England", "51.51", "-0.13"),
    "FR": ("France", "eu-west", "Ile-de-France", "48.86", "2.35"),
    "FI": ("Finland", "eu-north", "Uusimaa", "60.17", "24.94"),
    "KR": ("South Korea", "as-east", "Seoul", "37.57", "126.98"),
    "CN": ("China", "as-east", "Guangdong", "22.54", "114.06"),
    "HK": ("Hong Kong", "as-east", "Kowloon", "22.32", "114.17"),
    "MO": ("Macao", "as-east", "Macao", "22.20", "113.54"),
    "RU": ("Russia", "eu-east", "Moscow", "55.76", "37.62"),
    "BY": ("Belarus", "eu-east", "Minsk", "53.90", "27.57"),
    "IR": ("Iran", "as-south", "Tehran", "35.69", "51.39"),
}
ALLOWED = ["US", "DE", "NL", "CA", "SG", "JP", "GB", "FR", "FI", "KR"]
RESTRICTED = ["CN", "HK", "MO", "RU", "BY", "IR"]
CONTROLLED: dict[str, tuple[str, str, str]] = {
    "h100-sxm": ("h100", "80Gi", "sxm"), "h100-pcie": ("h100", "80Gi", "pcie"), "a100": ("a100", "80Gi", "sxm4"),
    "h800": ("h800", "80Gi", "sxm")}
UNCONTROLLED: dict[str, tuple[str, str, str]] = {
    "rtx-4080": ("rtx4080", "16Gi", "pcie"), "rtx-4090d": ("rtx4090d", "24Gi", "pcie"), "h20": ("h20", "96Gi", "sxm"),
    "l20": ("l20", "48Gi", "pcie")}
ALL_GPUS = {**CONTROLLED, **UNCONTROLLED}
# organisation-name vocabulary (CSL names and provider orgs are drawn from it)
PLACES = ["Shenzhen", "Guangzhou", "Hangzhou", "Wuhan", "Chengdu", "Moscow", "Novosibirsk", "Minsk", "Tehran",
          "Tianjin", "Harbin", "Kazan", "Isfahan", "Dalian", "Suzhou"]
WORDS = ["Quantum", "Nebula", "Apex", "Vector", "Silicon", "Photon", "Granite", "Meridian", "Polar", "Crimson",
         "Zenith", "Aurora", "Titan", "Helix", "Cobalt", "Orbit", "Lumen", "Sable"]
TRADES = ["Computing", "Microelectronics", "Data Systems", "Cloud Technology", "Intelligent Technology",
          "Semiconductor", "Supercomputing", "Electronics"]
OTHER_TRADES = ["Catering", "Textiles", "Logistics", "Furniture", "Tea Trading", "Ceramics", "Printing", "Footwear"]
FORMS = ["Co., Ltd.", "Limited", "LLC", "JSC", "Technology Co., Ltd."]
BENIGN = ["Harbor", "Summit", "Prairie", "Fjord", "Maple", "Cedar", "Lagoon", "Pioneer", "Beacon", "Glacier",
          "Riverside", "Northwind", "Bluebird", "Ironwood", "Sunrise", "Evergreen"]
BENIGN_TRADES = ["Cloud", "Compute", "GPU Hosting", "Racks", "Servers", "Datacenter", "Metal"]


class _AkashWorld:
    def __init__(self, seed: int, d: Draw) -> None:
        self.seed, self.d, self.r = seed, d, d.r
        self.providers: list[Provider] = []
        self.deps: list[Deployment] = []
        self.leases: list[Lease] = []
        self.transfers: list[Transfer] = []
        self.labels = Labels()
        self.dseq = 20_000_000
        self.start = NOW - d.int_("span_days") * BPD
        self.orgs: set[str] = set()
        self.clean: list[str] = []

    # -- primitives ------------------------------------------------------------------------------
    def addr(self, role: str) -> str:
        return akash_address(f"scn-akash:{self.seed}:{role}")

    def when(self, lo: int | None = None, hi: int | None = None) -> int:
        return self.r.randint(self.start if lo is None else lo, (NOW - 3 * BPD) if hi is None else hi)

    def send(self, sender: str, outs: list[tuple[str, tuple[str, str]]], h: int, kind: str = "send",
             ibc: dict[str, Any] | None = None) -> None:
        txh = hashlib.sha256(f"{self.seed}:{len(self.transfers)}:{sender}:{h}:{outs}".encode()).hexdigest().upper()
        self.transfers.append(Transfer(txh, h, kind, sender, outs, ibc or {}))

    def fund(self, sender: str, to: str, uakt: int, h: int) -> None:
        self.send(sender, [(to, ("uakt", str(uakt)))], h)

    def ibc_from(self, evm: str, to: str, denom: str, amount: int, h: int) -> None:
        """An IBC receive from the Injective spelling of an EVM key (``transfer/<ch>/uakt`` unwinds to uakt)."""
        inj = bech32_encode("inj", _convertbits(bytes.fromhex(evm[2:]), 8, 5, True))
        self.send(inj, [(to, (denom, str(amount)))], h, "ibc",
                  {"source_channel": INJ_CHANNEL, "destination_channel": "channel-35"})

    def osmo_fund(self, role: str, to: str, uakt: int, h: int) -> None:
        """Funding from a wallet on Osmosis (AKT returning over IBC)."""
        sender = bech32_address("osmo", f"scn-akash:{self.seed}:{role}")
        self.send(sender, [(to, ("transfer/channel-9/uakt", str(uakt)))], h, "ibc",
                  {"source_channel": "channel-9", "destination_channel": "channel-2"})

    def org(self, name: str) -> str:
        while name in self.orgs:
            name += " " + self.r.choice(["Two", "North", "East", "Prime"])
        self.orgs.add(name)
        return name

    def provider(self, role: str, org: str, declared: str | None, audited: str | None, ipc: str,
                 gpus: list[str]) -> Provider:
        name, region, ipr, lat, lon = COUNTRIES[ipc]
        slug = "".join(ch for ch in org.lower() if ch.isalnum())[:24] + str(len(self.providers))
        reg = COUNTRIES[declared][1] if declared in COUNTRIES else region
        p = Provider(role, self.addr(f"provider:{role}"), org, f"https://provider.{slug}.example:8443",
                     f"ops@{slug}.example", f"https://{slug}.example", declared, reg, audited, ipc, name, ipr,
                     lat, lon, [ALL_GPUS[g] for g in gpus], round(self.r.uniform(0.9, 0.999), 4))
        self.providers.append(p)
        return p

    def benign_org(self) -> str:
        return self.org(f"{self.r.choice(BENIGN)} {self.r.choice(BENIGN_TRADES)}")

    def deploy(self, owner: str, model: str | None, units: int, created: int, days: float | None = None,
               prov: Provider | None = None, manifest: str | None = None, depositors: tuple[str, ...] = (),
               denom: str | None = None) -> None:
        r = self.r
        tup = ALL_GPUS[model] if model else None
        if prov is None:
            offering = [p for p in self.providers if tup is None or tup in p.gpus]
            prov = r.choice(offering or self.providers)
        self.dseq += r.randrange(1, 5000)
        denom = denom or r.choice(["uakt", "uakt", "uact", USDC_IBC])
        per_unit = {"h100": 900, "h800": 850, "a100": 500, "h20": 300, "l20": 200}.get(tup[0] if tup else "", 120)
        micro = per_unit * max(units, 1) * 1_000_000 + r.randrange(1_000_000)
        price = (denom, f"{micro // 1_000_000}.{micro % 1_000_000:06d}000000000000")
        count = max(1, units // 8) if units > 8 else 1
        per = units // count if units else 0
        g = Group(1, per, tup if units else None, count, price)
        deposits = [(owner, created, (denom, f"{r.randrange(5, 500) * 1_000_000}.000000000000000000"))]
        deposits += [(dp, created + 10 + i, (denom, f"{r.randrange(50, 900) * 1_000_000}.000000000000000000"))
                     for i, dp in enumerate(depositors)]
        mh = manifest or hashlib.sha256(f"{self.seed}:{owner}:{self.dseq}".encode()).hexdigest()
        closed = None if days is None else min(created + 2 + int(days * BPD), NOW - 1)
        self.deps.append(Deployment(owner, self.dseq, created, "closed" if closed else "active", mh, [g], deposits))
        self.leases.append(Lease(owner, self.dseq, 1, 1, prov.owner, price, created + 2, closed))

    def rentals(self, owner: str, after: int, n: int, controlled_units: tuple[int, ...] = (1, 1, 2, 2, 4, 8),
                denom: str | None = None) -> None:
        """n ordinary deployments after ``after``: CPU only, uncontrolled or controlled GPUs."""
        r = self.r
        for _ in range(n):
            x = r.random()
            model, units = ((None, 0) if x < 0.35 else (r.choice(list(UNCONTROLLED)), r.choice([1, 1, 2, 4]))
                            if x < 0.7 else (r.choice(list(CONTROLLED)), r.choice(controlled_units)))
            created = min(after + r.randint(10, 3 * BPD), NOW - 100)
            self.deploy(owner, model, units, created, None if r.random() < 0.4 else r.uniform(0.05, 30), denom=denom)

    def deliver(self, listed: str, hops: int, amount: int, h: int, role: str, to: str) -> int:
        """listed key -> (hops - 1) short-lived peel wallets -> ``to``; returns the amount delivered."""
        chain = [self.addr(f"{role}:peel:{i}") for i in range(hops - 1)] + [to]
        prev: str | None = None
        for w in chain:
            if prev is None:
                self.ibc_from(listed, w, f"transfer/{INJ_CHANNEL}/uakt", amount, h)
            else:
                self.fund(prev, w, amount, h)
            if w != to:
                amount = int(amount * self.d.float_("peel_pass"))
                h += max(1, int(self.d.float_("peel_delay_minutes") * 10))
            prev = w
        return amount

    # -- the world -------------------------------------------------------------------------------
    def build(self) -> tuple[World, list[tuple[str, str, str, str]], dict[str, list[str]]]:
        d, r, lb = self.d, self.r, self.labels
        csl: list[tuple[str, str, str, str]] = []
        # providers: allowed, restricted (positive), mismatch (positive), names, decoys
        fixed = [["h100-sxm", "a100"], ["h100-pcie", "h800"], ["rtx-4080", "h20"], ["a100", "rtx-4090d", "l20"]]
        share = d.float_("akash_audited_share")
        for i in range(d.int_("akash_providers")):
            c = r.choice(ALLOWED)
            gpus = fixed[i] if i < len(fixed) else r.sample(list(ALL_GPUS), r.randint(1, 3))
            self.provider(f"ok{i}", self.benign_org(), c, c if r.random() < share else None, c, gpus)
        for i in range(d.int_("restricted_providers")):
            c, layer = d.pick("restricted_country"), d.pick("restricted_layer")
            gpus = r.sample(list(CONTROLLED), r.randint(1, 2)) + r.sample(list(UNCONTROLLED), r.randint(0, 1))
            declared = c if layer == "audited" or r.random() < 0.5 else None
            p = self.provider(f"rx{i}", self.benign_org(), declared, c if layer == "audited" else None, c, gpus)
            lb.add(_provider(p.owner), "restricted_location", True, f"{c} by {layer} layer, offers {gpus}")
        for i in range(d.int_("mismatch_providers")):
            dc, ipc = r.choice(ALLOWED), r.choice(["CN", "HK", "RU", "BY", "IR"])
            gpus = r.sample(list(CONTROLLED), r.randint(1, 2))
            p = self.provider(f"mm{i}", self.benign_org(), dc, None, ipc, gpus)
            lb.add(_provider(p.owner), "location_mismatch", True, f"declares {dc}, IP in {ipc}, offers {gpus}")
        if d.chance("uncontrolled_restricted"):
            c = r.choice(RESTRICTED)
            p = self.provider("ux", self.benign_org(), c, c if r.random() < 0.5 else None, c,
                              r.sample(list(UNCONTROLLED), 2))
            lb.add(_provider(p.owner), "uncontrolled_gpus", False, f"{c} provider with uncontrolled GPUs only")
        self._names(csl)
        # listed EVM keys (OFAC lists): exposure source, exchange deposit, dust, far chain
        listed = {k: evm_address(f"scn-akash:{self.seed}:listed:{k}") for k in ("src", "hub", "dust", "far")}
        ofac = {"ETH": [listed["src"], listed["hub"], listed["far"]], "USDT": [listed["dust"], listed["src"]]}
        # exchanges and background tenants
        exchanges = [self.addr(f"exchange:{i}") for i in range(d.int_("akash_exchanges"))]
        self.clean = exchanges[1:] or [self.addr("exchange:planted")]
        bg = d.int_("background")
        hub = min(d.int_("hub_customers"), bg - 10)
        h_hub = self.when(self.start, self.start + 5 * BPD)
        cold = r.randint(10**12, 10**13)
        for e in dict.fromkeys([*exchanges, *self.clean]):
            self.fund(self.addr("exchange:cold"), e, cold, h_hub - BPD)
        tainted = int(cold * (s := d.float_("hub_listed_share")) / (1 - s))
        self.ibc_from(listed["hub"], exchanges[0], f"transfer/{INJ_CHANNEL}/uakt", tainted, h_hub)
        tenants: list[str] = []
        for i in range(bg):
            t = self.addr(f"tenant:{i}")
            h = self.when(h_hub + 10 if i < hub else None)
            amt = r.randint(5, 2000) * 10**6
            if i < hub:
                self.fund(exchanges[0], t, amt, h)
                lb.add(_wallet(t), "exchange_customer", False,
                       f"customer {i + 1}/{hub} of an exchange that received listed AKT (untagged)")
            elif len(exchanges) > 1:
                self.fund(r.choice(exchanges[1:]), t, amt, h)
            else:
                self.osmo_fund(f"osmo:{i}", t, amt, h)
            self.rentals(t, h, r.randint(1, 3))
            tenants.append(t)
        self._exposure(listed["src"])
        self._concealment()
        self._decoys(listed, tenants[hub:])
        return World(self.providers, self.deps, self.leases, self.transfers, {}), csl, ofac

    def _names(self, csl: list[tuple[str, str, str, str]]) -> None:
        from tracer.screening import DEFAULT_THRESHOLD, normalize_name, pair_score

        d, r, lb = self.d, self.r, self.labels
        el = "Entity List (EL) - Bureau of Industry and Security"
        for i in range(d.int_("name_match_providers")):
            place, word, trade, form = r.choice(PLACES), r.choice(WORDS), r.choice(TRADES), r.choice(FORMS)
            name, alt = f"{place} {word} {trade} {form}", f"{word} {trade} {place}"
            csl.append((el, name, alt, f"{place}, CN"))
            v = d.pick("name_variant")
            org = {"legal_form": f"{place} {word} {trade} {r.choice([f for f in FORMS if f != form])}",
                   "case_punct": f"{place.upper()}-{word.upper()} {trade.upper()}",
                   "typo": f"{place} {word[:2] + word[3] + word[2] + word[4:]} {trade} {form}",
                   "word_order": f"{word} {place} {trade}",
                   "alt_name": f"{word} {trade} ({place})"}[v]
            c = r.choice(ALLOWED)
            p = self.provider(f"nm{i}", self.org(org), c, None, c, r.sample(list(ALL_GPUS), 2))
            lb.add(_provider(p.owner), "name_match", True, f"{org!r} ~ CSL {name!r} ({v})")
        for i in range(d.int_("homonyms")):
            place, word, trade = r.choice(PLACES), r.choice(WORDS), r.choice(TRADES)
            name = f"{place} {word} {trade} {r.choice(FORMS)}"
            for _ in range(50):
                org = f"{place} {r.choice(WORDS)} {r.choice(OTHER_TRADES)} {r.choice(FORMS)}"
                if pair_score(normalize_name(org), normalize_name(name)) < DEFAULT_THRESHOLD - 3:
                    break
            csl.append((el, name, "", f"{place}, CN"))
            c = r.choice(ALLOWED)
            p = self.provider(f"hn{i}", self.org(org), c, c, c, r.sample(list(ALL_GPUS), 2))
            lb.add(_provider(p.owner), "homonym", False, f"{org!r} vs CSL {name!r}")
        for _ in range(r.randint(2, 4)):  # listed names nobody in the world carries
            csl.append((el, f"{r.choice(PLACES)} {r.choice(WORDS)} {r.choice(TRADES)} {r.choice(FORMS)}", "", "CN"))

    def _exposure(self, listed: str) -> None:
        d, r, lb = self.d, self.r, self.labels
        for i in range(d.int_("exposure_renters")):
            hops, share = d.int_("exposure_hops"), d.float_("exposure_share")
            t = self.addr(f"exposed:{i}")
            h = self.when()
            got = self.deliver(listed, hops, r.randint(200, 5000) * 10**6, h, f"exp{i}", t)
            if share < 0.995:
                self.fund(r.choice(self.clean), t, int(got * (1 - share) / share), h - r.randint(100, 2 * BPD))
            self.rentals(t, h + hops * 600, r.randint(1, 3), denom="uakt")
            lb.add(_wallet(t), "indirect_exposure", True,
                   f"{hops} hop(s), {share:.0%} of its uakt inflow")

    def _star(self, role: str, exchange: str, n: int, models: list[str], units: tuple[int, int]) -> list[str]:
        d, r = self.d, self.r
        funder = self.addr(f"{role}:funder")
        h0 = self.when()
        self.fund(exchange, funder, n * 400 * 10**6, h0)
        wallets = [self.addr(f"{role}:{i}") for i in range(n)]
        window = int(d.float_("sybil_window_hours") * 600)
        h1 = h0 + r.randint(20, 600)
        if d.chance("sybil_multisend"):
            self.send(funder, [(w, ("uakt", str(r.randint(300, 380) * 10**6))) for w in wallets], h1, "multisend")
            at = [h1] * n
        else:
            at = sorted(h1 + r.randint(0, window) for _ in wallets)
            for w, h in zip(wallets, at, strict=True):
                self.fund(funder, w, r.randint(300, 380) * 10**6, h)
        for w, h in zip(wallets, at, strict=True):
            self.deploy(w, r.choice(models), r.randint(*units), h + r.randint(10, 600),
                        None if r.random() < 0.6 else r.uniform(3, 30))
        return wallets

    def _concealment(self) -> None:
        d, r, lb, exchanges = self.d, self.r, self.labels, self.clean
        model = d.pick("controlled_model")
        n = d.int_("sybil_size")
        units = d.int_("sybil_units")
        for w in self._star("sybil", r.choice(exchanges), n, [model], (units, units)):
            lb.add(_wallet(w), "concealment", True, f"Sybil star of {n}, {units}x {model} each")
        if d.chance("manifest_present"):
            m, days = d.int_("manifest_size"), d.float_("manifest_window_days")
            manifest = hashlib.sha256(f"private:{self.seed}".encode()).hexdigest()
            h0 = self.when()
            for i in range(m):
                w = self.addr(f"manifest:{i}")
                self.osmo_fund(f"manifest-src:{i}", w, r.randint(200, 900) * 10**6, h0 - r.randint(BPD, 30 * BPD))
                self.deploy(w, model, d.int_("sybil_units"), h0 + r.randint(0, int(days * BPD)), manifest=manifest)
                lb.add(_wallet(w), "concealment", True, f"one of {m} wallets sharing a private manifest")
        if d.chance("sync_present"):
            k, spread = d.int_("sync_size"), d.int_("sync_spread_blocks")
            h0 = self.when()
            for i in range(k):
                w = self.addr(f"sync:{i}")
                self.fund(r.choice(exchanges), w, r.randint(200, 900) * 10**6, h0 - r.randint(BPD, 40 * BPD))
                self.deploy(w, model, d.int_("sybil_units"), h0 + r.randint(0, spread))
                lb.add(_wallet(w), "concealment", True, f"{k} wallets' first rentals within {spread} blocks")
        if d.chance("escrow_present"):
            k = d.int_("escrow_tenants")
            payer = self.addr("escrow-payer")
            h0 = self.when()
            self.fund(r.choice(exchanges), payer, 5000 * 10**6, h0 - BPD)
            for i in range(k):
                w = self.addr(f"escrowed:{i}")
                self.fund(r.choice(exchanges), w, r.randint(50, 300) * 10**6, h0 - r.randint(BPD, 20 * BPD))
                self.deploy(w, model, d.int_("sybil_units"), h0 + r.randint(0, 5 * BPD), depositors=(payer,))
                lb.add(_wallet(w), "concealment", True, f"escrow topped up by a third party ({k} tenants)")

    def _decoys(self, listed: dict[str, str], pool: list[str]) -> None:
        d, r, lb, exchanges, clean = self.d, self.r, self.labels, self.clean, self.clean[0]
        n = min(d.int_("dust_recipients"), len(pool))
        amt = d.int_("dust_amount")
        for t in r.sample(pool, n):
            self.ibc_from(listed["dust"], t, DUST_DENOM, amt, self.when())
            lb.add(_wallet(t), "dusting", False, f"{amt} base units of IBC USDT from a listed key")
        owners, days = d.int_("template_owners"), d.int_("template_days")
        tpl = hashlib.sha256(f"template:{self.seed}".encode()).hexdigest()
        h0 = self.when(hi=NOW - days * BPD - BPD) if NOW - days * BPD - BPD > self.start else self.start
        # about half the template's users are existing tenants, the rest newer wallets funded earlier
        unlabelled = [t for t in pool if _wallet(t) not in lb.by_subject]
        reuse = r.sample(unlabelled, min(len(unlabelled), owners // 2))
        for i in range(owners):
            h = min(h0 + r.randint(0, days * BPD), NOW - 200)
            if i < len(reuse):
                w = reuse[i]
            else:
                w = self.addr(f"template:{i}")
                src = h - r.randint(BPD, 60 * BPD)
                if r.random() < 0.5:
                    self.fund(r.choice(exchanges), w, r.randint(5, 500) * 10**6, src)
                else:
                    self.osmo_fund(f"template-src:{i}", w, r.randint(5, 500) * 10**6, src)
            model = r.choice([None, *UNCONTROLLED, *CONTROLLED])
            self.deploy(w, model, r.randint(1, 8) if model else 0, min(h, NOW - 100), manifest=tpl,
                        days=None if r.random() < 0.3 else r.uniform(0.1, 20))
            lb.add(_wallet(w), "public_template", False, f"one of {owners} owners over {days} days")
        tre = self.addr("treasury")
        k, periods, cadence = d.int_("payroll_wallets"), d.int_("payroll_periods"), d.pick("payroll_cadence_days")
        h0 = NOW - (periods + 1) * cadence * BPD
        self.fund(clean, tre, 10**12, h0 - BPD)
        for i in range(k):
            w = self.addr(f"payroll:{i}")
            for j in range(periods):
                self.fund(tre, w, 2000 * 10**6 + r.randint(0, 10**6), h0 + j * cadence * BPD + r.randint(0, 600))
            self.rentals(w, h0 + 100, r.randint(1, 3), controlled_units=(1, 2, 4))
            lb.add(_wallet(w), "payroll", False, f"{periods} payments every {cadence} days")
        big = self.addr("large-lawful")
        units, days2 = d.int_("large_renter_units"), d.int_("large_renter_days")
        h = self.when(hi=NOW - days2 * BPD - BPD) if NOW - days2 * BPD - BPD > self.start else self.start
        self.fund(clean, big, 50_000 * 10**6, h - BPD)
        self.deploy(big, r.choice(["h100-sxm", "a100"]), units, h, days2)
        lb.add(_wallet(big), "large_lawful_renter", False, f"{units} GPUs for {days2} days")
        k = d.int_("uncontrolled_star")
        for w in self._star("ustar", r.choice(exchanges), k, list(UNCONTROLLED), (4, 8)):
            lb.add(_wallet(w), "uncontrolled_gpus", False, f"fresh star of {k} renting uncontrolled GPUs")
        hops = d.int_("far_hops")
        far = self.addr("far")
        h = self.when()
        got = self.deliver(listed["far"], hops, 3000 * 10**6, h, "far", far)
        self.rentals(far, h + hops * 600, 2, denom="uakt")
        lb.add(_wallet(far), "far_exposure", False, f"{hops} hops from a listed key ({got} uakt)")


def build(seed: int) -> Scenario:
    """The Akash scenario of ``seed``."""
    from tracer.world.akash_shapes import routes

    d = Draw(seed, "akash")
    wb = _AkashWorld(seed, d)
    world, csl, ofac = wb.build()
    node = d.pick("akash_node")

    def config(base: str) -> dict[str, dict[str, Any]]:
        return {"akash": {"lcd_url": f"{base}/lcd/{node}", "console_url": f"{base}/console", "page_size": 100,
                          "console_page_size": 100, "follow_store_tenants": True, "funding_max_tenants": 10_000,
                          "tenants": [], "block_time_sample": 1000, "limits": FAST}}

    parts = [DemoPart("akash", routes(world), config), ofac_part(ofac), csl_part(csl)]
    notes = {"providers": len(world.providers), "deployments": len(world.deployments),
             "transfers": len(world.transfers)}
    return Scenario(seed, "akash", d.params, wb.labels.items(), parts, notes)
