"""The Akash demo/test world: providers, tenants, deployments, leases and funding transfers, generated
deterministically and served on loopback in the exact LCD and Console shapes (see akash_shapes.py).

Three LCD nodes serve the same chain: ``modern`` (market v1beta5, deployment v1beta4, escrow v1,
provider v1beta4, audit v1, SDK 0.50 ``query=`` tx search), ``legacy`` (market v1beta4 ``lease_id``
shapes, deployment v1beta3 flat escrow accounts, escrow v1beta3, provider/audit v1beta3, ``events=`` tx
search) and ``noescrow`` (modern, but 501 for every escrow version, like GetBlock's gateway).
Planted patterns (documented in docs/akash.md) are returned by :func:`planted`.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from typing import Any

from connectors.addresses import _convertbits, bech32_encode
from connectors.akash.parse import USDC_IBC
from tracer.world import DemoPart, evm_address, rng

HEAD = 26_000_000
GENESIS_UNIX = 1_624_000_000  # block h is at GENESIS_UNIX + h * SECONDS_PER_BLOCK (exactly); HEAD: 2026-05-28, not after today
SECONDS_PER_BLOCK = 6
AUDITOR = "akash1365yvmc4s7awdyj3n2sav7xfx76adc6dnmlx63"  # the real Akash auditor (console config)
SYBIL_SIZE = 6
SYBIL_UNITS = 7  # each Sybil tenant stays under an 8-GPU review threshold


def bech32_address(hrp: str, seed: str) -> str:
    """A deterministic, checksum-valid bech32 account address for a world actor."""
    return bech32_encode(hrp, _convertbits(hashlib.sha256(seed.encode()).digest()[:20], 8, 5, True))


def akash_address(seed: str) -> str:
    return bech32_address("akash", seed)


@dataclass
class Provider:
    seed: str
    owner: str
    org: str
    host_uri: str
    email: str
    website: str
    declared: str | None  # the on-chain "country" attribute (None: not declared; may be free text)
    region: str
    audited: str | None  # country in the auditor's signed copy (None: not audited)
    ip_country: str
    ip_country_name: str
    ip_region: str
    lat: str
    lon: str
    gpus: list[tuple[str, str, str]]  # (model, ram, interface)
    uptime: float


@dataclass
class Group:
    gseq: int
    gpu_units: int  # per resource unit
    gpu_model: tuple[str, str, str] | None
    count: int
    price: tuple[str, str]  # (denom, amount text per block)
    wildcard: bool = False  # the order asks for vendor/nvidia/model/*; only the bid names the model


@dataclass
class Deployment:
    owner: str
    dseq: int
    created: int
    state: str
    hash: str
    groups: list[Group]
    deposits: list[tuple[str, int, tuple[str, str]]]  # (depositor, height, (denom, amount text))


@dataclass
class Lease:
    owner: str
    dseq: int
    gseq: int
    oseq: int
    provider: str
    price: tuple[str, str]
    created: int
    closed: int | None
    bseq: int = 0

    @property
    def state(self) -> str:
        return "closed" if self.closed else "active"


@dataclass
class Transfer:
    txhash: str
    height: int
    kind: str  # send | multisend | ibc | authz
    sender: str
    outputs: list[tuple[str, tuple[str, str]]]  # (recipient, (denom, amount))
    ibc: dict[str, Any] = field(default_factory=dict)


@dataclass
class World:
    providers: list[Provider]
    deployments: list[Deployment]
    leases: list[Lease]
    transfers: list[Transfer]
    planted: dict[str, Any]


# (seed, org, declared, region, audited, ip country, ip name, ip region, lat, lon, gpus)
H100S = ("h100", "80Gi", "sxm")
H100P = ("h100", "80Gi", "pcie")
A100 = ("a100", "80Gi", "sxm4")
R4090 = ("rtx4090", "24Gi", "pcie")
R4080 = ("rtx4080", "16Gi", "pcie")
_PROVIDERS: list[tuple[str, str, str | None, str, str | None, str, str, str, str, str, list[Any]]] = [
    ("us-1", "Europlots Cloud", "US", "na-us-west", "US", "US", "United States", "Oregon", "45.52", "-122.67", [H100S, A100]),
    ("us-2", "Hurricane GPU", "US", "na-us-southeast", "US", "US", "United States", "Florida", "25.76", "-80.19", [R4090]),
    ("us-3", "Prairie Compute", "US", "na-us-midwest", None, "US", "United States", "Illinois", "41.88", "-87.63", [A100]),
    ("de-1", "Rhein Rechenzentrum", "DE", "eu-west", "DE", "DE", "Germany", "Hesse", "50.11", "8.68", [H100P]),
    ("nl-1", "Polder Servers", "NL", "eu-west", "NL", "NL", "Netherlands", "North Holland", "52.37", "4.90", [R4090, R4080]),
    ("ca-1", "Maple Metal", "CA", "na-ca-central", "CA", "CA", "Canada", "Quebec", "45.50", "-73.57", [A100]),
    ("sg-1", "Lion City GPUs", "SG", "as-southeast", "SG", "SG", "Singapore", "Singapore", "1.29", "103.85", [H100S]),
    ("jp-1", "Sakura Racks", "JP", "as-east", "JP", "JP", "Japan", "Tokyo", "35.68", "139.69", [R4090]),
    ("gb-1", "Thames Tensor", "GB", "eu-north", None, "GB", "United Kingdom", "England", "51.51", "-0.13", [R4080]),
    ("fr-1", "Seine Silicon", "FR", "eu-west", "FR", "FR", "France", "Ile-de-France", "48.86", "2.35", [H100S]),
    # D:5 and disagreement cases
    ("hk-1", "Kowloon Compute Ltd", "HK", "as-east", "HK", "HK", "Hong Kong", "Kowloon", "22.32", "114.17", [H100S, A100]),
    ("cn-1", "Shenzhen Render Farm", "CN", "as-east", None, "CN", "China", "Guangdong", "22.54", "114.06", [R4090, R4080]),
    ("cn-shadow", "Pacific Edge Hosting", "US", "na-us-west", None, "CN", "China", "Shanghai", "31.23", "121.47", [H100S]),
    ("ru-1", "Nord Datacenter GmbH", "DE", "eu-central", "DE", "RU", "Russia", "Moscow", "55.76", "37.62", [A100, R4090]),
    ("sg-hk", "Straits AI", "SG", "as-southeast", "SG", "HK", "Hong Kong", "Hong Kong", "22.28", "114.16", [H100P]),
    ("by-1", "Minsk Tensor", "Belarus", "eu-east", None, "BY", "Belarus", "Minsk", "53.90", "27.57", [R4080]),
    ("mo-1", "Cotai Cloud", None, "as-east", None, "MO", "Macao", "Macao", "22.20", "113.54", [R4090]),
    ("ru-2", "Volga GPU", "RU", "eu-east", "RU", "RU", "Russia", "Tatarstan", "55.79", "49.12", [H100S]),
    ("nl-ru", "Amstel Compute", "NL", "eu-west", "RU", "RU", "Russia", "Saint Petersburg", "59.94", "30.31", [A100]),
]


def _provider(row: tuple[Any, ...], i: int) -> Provider:
    seed, org, declared, region, audited, ipc, ipn, ipr, lat, lon, gpus = row
    slug = seed.replace("-", "")
    return Provider(seed, akash_address(f"akash-provider-{seed}"), org, f"https://provider.{slug}.example:8443",
                    f"ops@{slug}.example", f"https://{slug}.example", declared, region, audited, ipc, ipn, ipr,
                    lat, lon, list(gpus), round(0.9 + (i % 10) / 100, 4))


def _price(r: Any, model: tuple[str, str, str] | None, units: int) -> tuple[str, str]:
    denom = r.choice(["uakt", "uact", USDC_IBC])
    base = {"h100": 900, "a100": 500, "rtx4090": 180, "rtx4080": 120}.get(model[0] if model else "", 8)
    micro = base * max(units, 1) * 1_000_000 + r.randrange(1_000_000)  # 10^-6 of the denom's base unit
    return denom, f"{micro // 1_000_000}.{micro % 1_000_000:06d}000000000000"


@functools.cache
def build_world(seed: str = "akash-world-1", tenants: int = 40) -> World:
    """The whole chain state (deterministic for a seed)."""
    r = rng(seed)
    provs = [_provider(row, i) for i, row in enumerate(_PROVIDERS)]
    by_seed = {p.seed: p for p in provs}
    deps: list[Deployment] = []
    leases: list[Lease] = []
    transfers: list[Transfer] = []
    dseq = 20_000_000
    funder_normal = akash_address("akash-exchange-hot-wallet")

    def deploy(owner: str, prov: Provider, model: tuple[str, str, str] | None, units: int, count: int,
               created: int, closed: int | None, depositor: str | None = None, groups: int = 1,
               wildcard: bool = False) -> None:
        nonlocal dseq
        dseq += r.randrange(1, 5000)
        gs = [Group(n, units, model, count, _price(r, model, units * count), wildcard and model is not None)
              for n in range(1, groups + 1)]
        dep_denom = gs[0].price[0]
        amount = f"{r.randrange(50, 5000) * 1000}.{r.randrange(10**6):06d}000000000000"
        deposits = [(owner, created, (dep_denom, amount))]
        if depositor:
            deposits.append((depositor, created + 10, (dep_denom, f"{r.randrange(100, 900) * 10000}.000000000000000000")))
        deps.append(Deployment(owner, dseq, created, "closed" if closed else "active",
                               hashlib.sha256(f"{owner}{dseq}".encode()).digest().hex()[:44], gs, deposits))
        leases.extend(Lease(owner, dseq, g.gseq, 1, prov.owner, g.price, created + 2, closed) for g in gs)

    def send(sender: str, outs: list[tuple[str, tuple[str, str]]], h: int, kind: str = "send",
             ibc: dict[str, Any] | None = None) -> None:
        txh = hashlib.sha256(f"{sender}{h}{outs}".encode()).hexdigest().upper()
        transfers.append(Transfer(txh, h, kind, sender, outs, ibc or {}))

    # ordinary tenants: funded from an exchange hot wallet, rent from ordinary and D:5 providers
    for i in range(tenants):
        t = akash_address(f"akash-tenant-{i}")
        created = HEAD - r.randrange(1_000, 400_000)
        send(funder_normal, [(t, ("uakt", str(r.randrange(5, 500) * 1_000_000)))], created - r.randrange(10, 500))
        for _ in range(1 + i % 3):
            p = provs[r.randrange(len(provs))]
            model = r.choice(p.gpus) if r.random() < 0.8 else None
            units = r.choice([1, 1, 2, 4, 8]) if model else 0
            start = created + r.randrange(0, 900)
            closed = start + r.randrange(600, 60_000) if r.random() < 0.5 else None
            deploy(t, p, model, units, 1, start, min(closed, HEAD - 1) if closed else None,
                   groups=2 if r.random() < 0.15 else 1, wildcard=i % 5 == 4)
    # planted 1: a seed-linked "listed" renter funded by IBC from the listed funder's osmosis address
    # and by a bank send, renting 8x H100 SXM in Hong Kong, its escrow topped up by the listed funder.
    listed_renter = akash_address("listed-renter-1")
    listed_funder = akash_address("listed-funder-1")
    osmo_funder = bech32_address("osmo", "listed-funder-1")
    h0 = HEAD - 200_000
    send(osmo_funder, [(listed_renter, ("uusdc", "250000000"))], h0, "ibc",
         {"source_channel": "channel-1", "destination_channel": "channel-9", "base": "transfer/channel-9/uusdc"})
    send(listed_funder, [(listed_renter, (USDC_IBC, "1000000000"))], h0 + 50)
    # ... and from the OFAC-listed EVM wallet itself, through Injective (inj1 = the same EVM key)
    listed_evm = evm_address("listed-funder-1")
    inj_sender = bech32_encode("inj", _convertbits(bytes.fromhex(listed_evm[2:]), 8, 5, True))
    send(inj_sender, [(listed_renter, ("peggy0xdAC17F958D2ee523a2206206994597C13D831ec7", "500000000"))], h0 + 70,
         "ibc", {"source_channel": "channel-122", "destination_channel": "channel-35"})
    deploy(listed_renter, by_seed["hk-1"], H100S, 8, 1, h0 + 100, None, depositor=listed_funder)
    # planted 2: a Sybil set - fresh tenants funded in one multi-send, each renting 7x H100 (under 8)
    sybil_funder = akash_address("akash-sybil-funder")
    sybils = [akash_address(f"akash-sybil-{i}") for i in range(SYBIL_SIZE)]
    h1 = HEAD - 50_000
    send(sybil_funder, [(s, ("uakt", "300000000")) for s in sybils], h1, "multisend")
    for i, s in enumerate(sybils):
        deploy(s, by_seed[["cn-shadow", "ru-1", "sg-hk"][i % 3]], H100S, SYBIL_UNITS, 1, h1 + 100 + i * 7, None)
    # planted 3: third-party escrow funding through authz (an unrelated payer tops up two tenants)
    payer = akash_address("akash-escrow-payer")
    third = [akash_address("akash-tenant-3"), akash_address("akash-tenant-7")]
    for t in third:
        deploy(t, by_seed["cn-1"], R4090, 4, 1, HEAD - 20_000, None, depositor=payer)
    send(sybil_funder, [(akash_address("akash-tenant-11"), (USDC_IBC, "77000000"))], HEAD - 9_000, "authz")
    # losing bids need a second provider per order: recorded on the leases' orders (see shapes)
    planted = {"listed_renter": listed_renter, "listed_funder": listed_funder, "listed_funder_osmosis": osmo_funder,
               "listed_funder_evm": listed_evm, "listed_funder_injective": inj_sender,
               "sybil_funder": sybil_funder, "sybil_tenants": sybils, "sybil_units": SYBIL_UNITS,
               "escrow_payer": payer, "escrow_paid_tenants": third,
               "disagreeing_providers": {p.seed: p.owner for p in provs if p.declared != p.ip_country},
               "d5_ip_providers": {p.seed: p.owner for p in provs if p.ip_country in ("CN", "HK", "MO", "RU", "BY")}}
    return World(provs, deps, leases, transfers, planted)


def planted() -> dict[str, Any]:
    """The patterns the world plants, by role (addresses), for tests and the graph engineer."""
    return build_world().planted


def block_unix(h: int) -> int:
    return GENESIS_UNIX + h * SECONDS_PER_BLOCK


def demo_part() -> DemoPart:
    """Serve the world (modern LCD node + Console) and point the akash connector at it."""
    from tracer.world.akash_shapes import routes

    w = build_world()

    def config(base: str) -> dict[str, dict[str, Any]]:
        return {"akash": {"lcd_url": f"{base}/lcd/modern", "console_url": f"{base}/console", "page_size": 25,
                          "console_page_size": 20, "follow_store_tenants": True, "funding_max_tenants": 1000,
                          "tenants": [w.planted["listed_renter"]], "block_time_sample": 1000,
                          "limits": {"rate": 0, "concurrency": 8, "timeout": 30}}}

    return DemoPart("akash", routes(w), config,
                    notes=[f"generated: {len(w.providers)} providers, {len(w.deployments)} deployments, "
                           f"{len(w.leases)} leases, {len(w.transfers)} funding txs"])
