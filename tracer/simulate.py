"""Scenario simulator: a world with planted patterns and decoys, written as core-table rows.

The rows are exactly those the connectors write (``entities``/``edges``/``observations`` with the
ids, edge kinds and observation predicates of docs/architecture.md), each page stored with its raw
payload (the JSON of the page's rows, URL ``simulate://<seed>/<part>``) so provenance and
``tracer explain`` work as on synced data.  The ground truth comes back with the world, so tests
and ``bench/flags_quality.py`` can measure precision and recall of the flags.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors import facts, ids
from connectors.base import Page, Record
from tracer.store import StoreBackend
from tracer.world import evm_address, rng

T0 = datetime(2026, 3, 2, tzinfo=UTC)
USDC = ("USDC", 6)
SOURCE = "simulate"
AUDITOR = "akash1365yvmc4s7awdyj3n2sav7xfx76adc6dnmlx63"


def _t(days: float, hour: float | None = None) -> str:
    d = T0 + timedelta(days=days)
    if hour is not None:
        d = d.replace(hour=0, minute=0, second=0) + timedelta(hours=hour)
    return d.isoformat().replace("+00:00", "Z")


def akash_address(seed: str) -> str:
    """A deterministic bech32-looking Akash address for a world actor (not checksummed)."""
    import hashlib

    alphabet = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
    h = hashlib.sha256(seed.encode()).digest()
    return "akash1" + "".join(alphabet[b % 32] for b in h[:32])[:38]


@dataclass
class Truth:
    """Who should be flagged (level >= medium) and who must not be, with why."""

    positives: dict[str, str] = field(default_factory=dict)
    negatives: dict[str, str] = field(default_factory=dict)
    listed: dict[str, str] = field(default_factory=dict)  # wallet -> observation id

    def to_json(self) -> dict[str, Any]:
        return {"positives": self.positives, "negatives": self.negatives, "listed": self.listed}


class World:
    """Collects rows per part, then writes each part as one page through ``Store.write_page``."""

    def __init__(self, seed: str) -> None:
        self.seed = seed
        self.parts: dict[str, list[Record]] = {}
        self.n = 0
        self.truth = Truth()
        self.rnd = rng(seed)

    def add(self, part: str, fact: Record) -> None:
        """One fact (built with :mod:`connectors.facts`) into one part of the world."""
        self.parts.setdefault(part, []).append(fact)

    def wallet(self, name: str, chain: str = "evm") -> str:
        addr = evm_address(f"{self.seed}:{name}") if chain == "evm" else akash_address(f"{self.seed}:{name}")
        wid = ids.wallet_raw(chain, addr)  # made canonical (lower-case hex; a fake bech32 is not checked)
        self.add("entities", facts.entity(wid, SOURCE, _t(0), kind="wallet", chain=chain, address=addr,
                                          last_seen=_t(30)))
        return wid

    def pay(self, src: str, dst: str, amount_units: int | float, day: float, hour: float | None = None,
            asset: tuple[str, int] = USDC) -> str:
        self.n += 1
        eid = ids.edge("sim", "paid", self.n)
        chain = ids.parse(src).space
        self.add("transfers", facts.edge(
            eid, "paid", src, dst, SOURCE, _t(day, hour), chain=chain, asset=asset[0],
            amount=int(round(amount_units * 10 ** asset[1])), decimals=asset[1], time=_t(day, hour),
            block=1000 + self.n, tx=f"0x{self.n:064x}"))
        return eid

    def obs(self, subject: str, predicate: str, value: str, part: str = "lists", confidence: float = 1.0,
            **attrs: Any) -> str:
        self.n += 1
        oid = f"obs:sim:{predicate}:{self.n}"
        self.add(part, facts.observation(subject, predicate, value, SOURCE, _t(0), confidence=confidence,
                                         attrs=attrs, id_=oid))
        return oid

    def listed(self, wid: str, why: str = "OFAC SDN") -> str:
        oid = self.obs(wid, "sanctioned", why, asset="ETH")
        self.truth.listed[wid] = oid
        return oid

    def name_match(self, subject: str, query: str, entity: str, label: str, score: float,
                   list_type: str = "US BIS Entity List") -> str:
        """A screening hit in the shape ``tracer lists screen`` stores (``connectors.facts.NameMatchAttrs``:
        value the entity id, score 0-100)."""
        return self.obs(subject, "name_match", entity, part="screening", confidence=round(score / 100, 3),
                        query=query, query_field="organization", entity_id=entity, label=label,
                        matched_text=label, matched_field="name", score=score, list_type=list_type)

    def tag(self, wid: str, label: str, category: str) -> None:
        self.obs(wid, "tag", label, part="labels", confidence=0.9, category=category)

    def edge(self, kind: str, src: str, dst: str, day: float = 0, part: str = "market", **attrs: Any) -> str:
        self.n += 1
        eid = ids.edge("sim", kind, self.n)
        self.add(part, facts.edge(eid, kind, src, dst, SOURCE, _t(day), time=_t(day), attrs=attrs))
        return eid

    def provider(self, name: str, gpus: dict[str, int], country: str | None, layers: Iterable[str] = ("declared",),
                 payout: str | None = None) -> str:
        owner = akash_address(f"{self.seed}:provider:{name}")
        pid = ids.provider("akash", owner)
        self.add("market", facts.entity(pid, SOURCE, _t(0), kind="provider", chain="akash", address=owner,
                                        label=name, attrs={"host_uri": f"https://provider.{name}.example:8443"},
                                        last_seen=_t(30)))
        for g, count in gpus.items():
            self.edge("offers_gpu", pid, ids.gpu(g), count=count)
        if country:
            for layer in layers:
                extra: dict[str, Any] = {"auditor": AUDITOR} if layer == "audited" else {}
                self.obs(pid, "location", country, part="market", layer=layer, **extra)
        self.edge("payout_to", pid, payout or self.wallet(f"payout:{name}", "akash"))
        return pid

    def rent(self, renter: str, provider: str, gpu: str, gpu_hours: float, day: float, pay_units: float,
             hour: float | None = None, units: int = 8) -> str:
        if hour is not None:  # every fact of the rental at that hour of that day
            day, hour = int(day) + hour / 24, None
        self.n += 1
        lid = ids.lease("sim", str(self.n))
        self.add("market", facts.entity(lid, SOURCE, _t(day), kind="lease", attrs={"gpu": gpu, "units": units},
                                        last_seen=_t(day + 30)))
        self.edge("rented", renter, lid, day)
        self.edge("leased_from", lid, provider, day)
        self.edge("uses_gpu", lid, ids.gpu(gpu), day, units=units)
        self.obs(lid, "gpu_hours", str(gpu_hours), part="market", gpu=gpu, units=units)
        self.pay(renter, lid, pay_units, day, hour)
        return lid

    def write(self, store: StoreBackend, run_id: str = "simulate") -> int:
        """Store every part as one page (its raw payload is the JSON of its rows)."""
        from connectors.base import CORE_TABLES

        store.ensure_tables(CORE_TABLES)
        n = 0
        for part, records in self.parts.items():
            body = json.dumps([{"table": r.table, **r.row} for r in records], sort_keys=True, default=str).encode()
            page = Page(body=body, url=f"simulate://{self.seed}/{part}", method="GET", data=None, state=None,
                        fetched_at=_t(31))
            n += store.write_page(f"simulate.{part}", page, records, run_id)
        return n


def build_world(seed: str = "tracer-sim", background: int = 200) -> World:
    """The scenario: planted patterns (positives) and decoys (negatives), plus background noise."""
    w = World(seed)
    tp, tn = w.truth.positives, w.truth.negatives
    ex = w.wallet("exchange-hot-1")
    w.tag(ex, "Exchange Hot Wallet 1", "exchange")
    ex2 = w.wallet("exchange-hot-2")
    w.tag(ex2, "Exchange Hot Wallet 2", "exchange")
    bridge = w.wallet("bridge-1")
    w.tag(bridge, "Bridge Router", "bridge")

    p_us = w.provider("us-dc", {"h100-sxm": 64, "a100": 32}, "US", ("audited", "ip"))
    p_cn = w.provider("sz-gpu", {"h100-sxm": 32, "a800": 16}, "CN", ("audited", "ip"))
    p_ru = w.provider("msk-gaming", {"rtx-4080": 8}, "RU", ("declared",))
    p_de = w.provider("fra-render", {"rtx-4080": 16, "l4": 8}, "DE", ("declared",))
    p_nm = w.provider("kowloon-compute", {"a100": 16}, "SG", ("declared",))
    p_weak = w.provider("acme-cloud", {"l40s": 8}, "NL", ("declared",))
    tp[p_cn] = "provider in D:5 (CN, audited) offering 3A090.a GPUs"
    tn[p_ru] = "D:5 provider offering only RTX 4080 (not 3A090.a)"
    tn[p_us] = "US provider with H100s"
    tn[p_de] = "DE provider"
    w.obs(p_nm, "organization", "Kowloon Compute Ltd", part="market")
    w.name_match(p_nm, "Kowloon Compute Ltd", ids.entity("us_bis_el", "kowloon-compute-limited"),
                 "KOWLOON COMPUTE LIMITED", 93.0)
    tp[p_nm] = "organization matches an Entity List entry (0.93)"
    w.name_match(p_weak, "Acme Cloud BV", ids.entity("us_bis_el", "acme-advanced"), "ACME ADVANCED TECH",
                 55.0)
    tn[p_weak] = "weak name match 0.55 (below 0.7)"

    # 1. Listed renter.
    l1 = w.wallet("listed-renter")
    w.listed(l1)
    w.pay(ex, l1, 50_000, 0.5)
    w.rent(l1, p_us, "h100-sxm", 2_000, 2, 20_000)
    tp[l1] = "listed renter"

    # 2. Renters funded 1-3 hops from a listed wallet (2 hops at a 50% haircut).
    l2 = w.wallet("listed-funder")
    w.listed(l2)
    w.pay(ex, l2, 1_000_000, 0.1)
    e1 = w.wallet("exposed-1hop")
    w.pay(l2, e1, 30_000, 1)
    m1 = w.wallet("mixer-of-clean-and-dirty")
    clean = w.wallet("clean-source")
    w.pay(ex, clean, 100_000, 0.2)
    w.pay(l2, m1, 40_000, 1)
    w.pay(clean, m1, 40_000, 1.2)
    e2 = w.wallet("exposed-2hop")
    w.pay(m1, e2, 60_000, 2)
    m2, m3 = w.wallet("hop-a"), w.wallet("hop-b")
    w.pay(l2, m2, 50_000, 1)
    w.pay(m2, m3, 49_000, 2)
    e3 = w.wallet("exposed-3hop")
    w.pay(m3, e3, 48_000, 3)
    for i, e in enumerate((e1, e2, e3)):
        w.rent(e, p_us, "h100-sxm", 3_000, 5 + i, 15_000)
    tp[e1], tp[e2], tp[e3] = "funded 1 hop from listed", "funded 2 hops (50% haircut)", "funded 3 hops from listed"
    w.pay(l2, ex, 200_000, 4)  # the listed funder also deposits at an exchange: walks stop there

    # 3. Sybil cluster: one funder, 8 fresh wallets, each under every threshold, together over 1e24 FLOP.
    funder = w.wallet("sybil-funder")
    w.pay(bridge, funder, 20_000, 0.3, hour=3)
    for i in range(8):
        s = w.wallet(f"sybil-{i}")
        w.pay(funder, s, 900, 1 + i * 0.2, hour=2 + (i % 5))
        w.rent(s, p_us, "h100-sxm", 90_000, 3 + i * 0.5, 850, hour=3 + (i % 5))
        w.rent(s, p_us, "h100-sxm", 100, 4 + i * 0.5, 10, hour=4 + (i % 4))
        tp[s] = "Sybil cluster: 8 fresh wallets, one funder, 1.03e24 FLOP together"

    # 4. Clustering by manifest hash, escrow paid by a third party, deposit-address reuse.
    la = w.wallet("listed-akash-tenant", "akash")
    w.listed(la, "OFAC SDN")
    a2 = w.wallet("same-manifest-tenant", "akash")
    for k, owner in enumerate((la, a2)):
        addr = ids.parse(owner).key
        dep = ids.deployment("akash", addr, 1000 + k)
        w.add("market", facts.entity(dep, SOURCE, _t(2), kind="deployment", chain="akash",
                                     attrs={"manifest_hash": "9f2c" * 16, "state": "active"}, last_seen=_t(30)))
        w.edge("rented", owner, dep, 2)
    w.rent(a2, p_us, "a100", 500, 6, 2_000)
    tp[a2] = "same deployment manifest hash as a listed tenant"
    tp[la] = "listed Akash tenant"
    lt = w.wallet("listed-escrow-payer")
    w.listed(lt)
    a3 = w.wallet("escrow-funded-tenant")
    lease3 = w.rent(a3, p_us, "a100", 400, 7, 1_000)
    w.pay(lt, lease3, 5_000, 7.1)
    tp[a3] = "escrow paid by a listed third party"
    g1 = w.wallet("listed-depositor")
    w.listed(g1)
    g2 = w.wallet("deposit-sharer")
    dep_addr = w.wallet("exchange-deposit-addr")
    w.pay(g1, dep_addr, 10_000, 3)
    w.pay(g2, dep_addr, 9_000, 4)
    w.pay(dep_addr, ex, 19_000, 4.5)
    w.pay(ex, g2, 20_000, 1)
    w.rent(g2, p_us, "h100-sxm", 800, 8, 4_000)
    tp[g2] = "shares an exchange deposit address with a listed wallet"

    # Decoys.
    for i in range(6):
        b = w.wallet(f"benign-exchange-renter-{i}")
        w.pay(ex, b, 5_000 + 100 * i, 1 + i * 0.1)
        w.rent(b, p_us, "h100-sxm", 1_500, 4 + i, 4_000)
        tn[b] = "benign renter funded by an exchange (hub, also used by a listed wallet)"
    for i in range(4):
        r = w.wallet(f"rtx4080-renter-{i}")
        w.pay(w.wallet(f"rtx-src-{i}"), r, 2_000, 1)
        w.rent(r, p_de, "rtx-4080", 800, 3 + i, 500)
        tn[r] = "RTX 4080 renter"
    l3 = w.wallet("listed-far")
    w.listed(l3)
    chain = [w.wallet("far-1")]
    w.pay(l3, chain[0], 10_000, 1)
    w.pay(chain[0], ex2, 10_000, 2)
    prev = ex2
    for i in range(2, 5):
        nxt = w.wallet(f"far-{i}")
        w.pay(prev, nxt, 9_000 - i * 100, 2 + i)
        chain.append(nxt)
        prev = nxt
    d6 = w.wallet("far-renter-6hops")
    w.pay(prev, d6, 8_000, 8)
    w.rent(d6, p_us, "h100-sxm", 1_000, 9, 3_000)
    tn[d6] = "listed wallet 6 hops away through an exchange"
    big = w.wallet("big-lab")
    w.pay(ex, big, 2_000_000, 0.5)
    w.rent(big, p_us, "h100-sxm", 800_000, 1, 1_600_000)
    tn[big] = "one large lawful renter (1.1e24 FLOP, no other signal)"

    # Background: renters and transfers with no signal.
    for i in range(background):
        b = w.wallet(f"bg-{i}")
        w.pay(ex if i % 3 else ex2, b, w.rnd.randint(100, 5_000), w.rnd.uniform(0, 20), hour=w.rnd.uniform(0, 24))
        if i % 4 == 0:
            gpu = w.rnd.choice(["h100-sxm", "a100", "rtx-4080", "l4", "rtx-4090"])
            w.rent(b, w.rnd.choice([p_us, p_de]), gpu, w.rnd.randint(10, 2_000), w.rnd.uniform(2, 25), 100,
                   hour=w.rnd.uniform(0, 24))
            tn[b] = "background renter"
        if i > 0:
            w.pay(b, w.wallet(f"bg-{w.rnd.randrange(i)}"), w.rnd.randint(1, 50), w.rnd.uniform(20, 28))
        if i % 4 == 0 and i % 20 == 0:  # dusting: a listed wallet sends a tiny amount to a renter
            w.pay(l2, b, 1, w.rnd.uniform(21, 24))
            tn[b] = "background renter dusted by a listed wallet (<1% of inflow)"
    # Small lawful groups: one payroll wallet paying 3 fresh renters (a cluster, but no structuring).
    for g in range(max(1, background // 50)):
        payroll = w.wallet(f"payroll-{g}")
        w.pay(ex, payroll, 100_000, 0.5)
        for m in range(3):
            r = w.wallet(f"payroll-{g}-{m}")
            w.pay(payroll, r, 3_000, 2 + m * 0.1)
            w.rent(r, p_de, "l4", 300, 5 + m, 400)
            tn[r] = "one of 3 wallets paid by one payroll wallet, renting L4s"
    return w


def simulate(store: StoreBackend, seed: str = "tracer-sim", background: int = 200, via_connectors: bool = False) -> Truth:
    """Write the scenario world into ``store`` and return its ground truth.

    ``via_connectors``: the EVM listed wallets are not written as rows but published in an OFAC
    per-asset list (``sanctioned_addresses_ETH.txt``) served on 127.0.0.1 and synced through the
    real ``ofac_addresses`` connector, so their facts carry that connector's ids and provenance.
    """
    w = build_world(seed, background)
    if not via_connectors:
        w.write(store)
        return w.truth
    evm_listed = {wid for wid in w.truth.listed
                  if (n := ids.parse(wid)).kind == "wallet" and n.space == "evm"}
    w.parts["lists"] = [r for r in w.parts["lists"]
                        if not (r.row.get("predicate") == "sanctioned" and r.row["subject"] in evm_listed)]
    w.write(store)
    import asyncio

    asyncio.run(_sync_ofac_list(store, sorted(ids.parse(wid).key for wid in evm_listed)))
    from connectors.lists.ofac_addresses import SOURCE as OFAC_SOURCE

    for wid in evm_listed:
        w.truth.listed[wid] = f"obs:{OFAC_SOURCE}:{wid}:ETH"
    return w.truth


async def _sync_ofac_list(store: StoreBackend, addresses: list[str]) -> None:
    """Serve the world's OFAC ETH list on loopback and sync it through the real connector."""
    from connectors.base import ConnectorError
    from connectors.lists.ofac_addresses import OfacAddressesConnector
    from tracer.demo import serve_parts
    from tracer.pipeline import sync
    from tracer.world import DemoPart, static_routes

    body = ("\n".join(addresses) + "\n").encode()
    part = DemoPart("ofac", static_routes({"sanctioned_addresses_ETH.txt": body}), lambda base: {})
    runner, base = await serve_parts([part])
    try:
        conn = OfacAddressesConnector()
        cfg = {**conn.default_config(), "base_url": f"{base}/ofac/", "assets": ["ETH"], "as_of": _t(0),
               "limits": {"rate": 0, "concurrency": 2}}
        res = await sync(store, {"connectors": {conn.name: cfg}}, plan=[(conn, conn.streams(cfg))],
                         command="simulate")
        if res.status != "ok":
            raise ConnectorError(f"simulated OFAC list sync failed: {res.errors}")
    finally:
        await runner.cleanup()


def quality(flags: Iterable[dict[str, Any]], truth: Truth, min_level: str = "medium") -> dict[str, Any]:
    """Precision and recall of flags at ``min_level`` or above against the planted truth."""
    order = ["low", "medium", "high", "severe"]
    cut = order.index(min_level)
    flagged = {f["subject"] for f in flags if f["level"] in order[cut:]}
    labelled = set(truth.positives) | set(truth.negatives)
    tp = flagged & set(truth.positives)
    fp = (flagged & set(truth.negatives)) | (flagged - labelled)
    fn = set(truth.positives) - flagged
    precision = len(tp) / len(tp | fp) if tp | fp else 1.0
    recall = len(tp) / len(truth.positives) if truth.positives else 1.0
    return {"precision": precision, "recall": recall, "tp": len(tp), "fp": sorted(fp), "fn": sorted(fn),
            "flagged": len(flagged), "positives": len(truth.positives), "negatives": len(truth.negatives)}
