"""Polygon + Golem scenario worlds: GLM and USDC transfers on a geth-shaped Polygon node, Golem
provider nodes (stats ``network/online``) with their payee wallets, OFAC lists and a label file.

Golem requestors (renters) are wallets paying a provider's payee in GLM; providers are
``provider:golem:<node id>``. A Golem node offers one GPU model, so "renting N GPUs at once" is
paying N distinct controlled-GPU hosts in the same days. Planted patterns and decoys: see
:mod:`tracer.world.scenario` and ``RANGES``. Payees other than the planted
``provider_paid_by_listed`` ones are topped up with clean income so that no more than 5 % of any of
them traces to listed wallets (their providers are unlabelled background).
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from aiohttp import web

from connectors import ids
from tracer.world import DemoPart, evm_address
from tracer.world.evm import DemoChain
from tracer.world.markets import golem_node
from tracer.world.scenario import FAST, Draw, Labels, Scenario, labels_part, ofac_part


def _wallet(address: str) -> str:
    """The wallet id of one of the world's EVM addresses (generated canonical)."""
    return ids.wallet_raw("evm", address)


GLM = "0x0b220b82f3ea3b7f6d9a1d8ab58930c064a2b5bf"
USDC = "0x3c499c542cef5e3811e1192ce70d8cc03d5c3359"
BASE = 55_000_000
DAY = 86_400
CONTROLLED = {"h100-sxm": "NVIDIA H100 80GB HBM3", "a100": "NVIDIA A100-SXM4-80GB", "h800": "NVIDIA H800",
              "rtx-4090": "NVIDIA GeForce RTX 4090"}
UNCONTROLLED: dict[str, str | None] = {"rtx-4080": "NVIDIA GeForce RTX 4080", "rtx-3090": "NVIDIA GeForce RTX 3090",
                                       "l20": "NVIDIA L20", "cpu": None}
EXCHANGE_NAMES = ["Binance: Hot Wallet 20", "OKX 7", "Bybit: Hot Wallet", "KuCoin 14", "Gate.io 3"]
NODE_WORDS = ["ember", "quiet", "swift", "amber", "lunar", "cedar", "frost", "delta", "pixel", "ridge"]
MAX_FOREIGN_SHARE = 0.05  # at most this share of a background payee's GLM traces to listed wallets


class _PolyWorld:
    def __init__(self, seed: int, d: Draw) -> None:
        self.seed, self.d, self.r = seed, d, d.r
        self.chain = DemoChain("polygon", 137, BASE, 2, {GLM: ("GLM", 18, "Golem Network Token"),
                                                         USDC: ("USDC", 6, "USD Coin")}, confirmations=128)
        self.labels = Labels()
        self.nodes: list[dict[str, Any]] = []
        self.payees: list[str] = []
        self.controlled: list[str] = []  # payees of nodes with a controlled GPU
        self.uncontrolled: list[str] = []
        self.payee_set: set[str] = set()
        self.income: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))  # payee -> payer -> GLM
        self.tainted: set[str] = set()  # wallets whose GLM payments count as listed-derived
        self.reserved: set[str] = set()  # payees only the planted provider_paid pattern pays
        self.span = DAY * d.int_("span_days")

    def addr(self, role: str) -> str:
        return evm_address(f"scn-poly:{self.seed}:{role}")

    def t(self, lo: float = 0.0, hi: float | None = None) -> int:
        return int(self.r.uniform(lo, self.span - 3 * DAY if hi is None else hi))

    def pay(self, t: int, token: str, src: str, dst: str, amount: int) -> None:
        self.chain.transfer(BASE + max(0, min(t, self.span)) // 2, token, src, dst, amount)
        if token == GLM and dst in self.payee_set:
            self.income[dst][src] += amount

    def glm(self, lo: float, hi: float) -> int:
        return int(self.r.uniform(lo, hi) * 10**18)

    def rent(self, w: str, t0: int, t1: int, hosts: list[str], n: int, lo: float = 1, hi: float = 40) -> None:
        hosts = [h for h in hosts if h not in self.reserved] or hosts
        for _ in range(n):
            self.pay(self.t(t0, max(t0 + 60, t1)), GLM, w, self.r.choice(hosts), self.glm(lo, hi))

    def peel(self, listed: str, hops: int, amount: int, t: int, role: str, to: str) -> int:
        """listed -> (hops - 1) short-lived wallets passing on most of what they get -> ``to``."""
        chain = [listed] + [self.addr(f"{role}:peel:{i}") for i in range(hops - 1)] + [to]
        for a, b in zip(chain, chain[1:], strict=False):
            self.pay(t, GLM, a, b, amount)
            if b != to:
                amount = int(amount * self.d.float_("peel_pass"))
                t += max(2, int(self.d.float_("peel_delay_minutes") * 60))
        return amount

    def star(self, role: str, funder_src: str, n: int, hosts: list[str], units: int) -> list[str]:
        """A fresh funder's star: n new wallets, each paying ``units`` distinct hosts over the same days."""
        d, r = self.d, self.r
        hosts = [h for h in hosts if h not in self.reserved] or hosts
        funder = self.addr(f"{role}:funder")
        t0 = self.t(0, self.span - 10 * DAY)
        self.pay(t0, GLM, funder_src, funder, self.glm(500, 900) * n)
        window = int(d.float_("sybil_window_hours") * 3600)
        t1 = t0 + r.randint(60, 3600)
        together = d.chance("sybil_multisend")
        wallets = [self.addr(f"{role}:{i}") for i in range(n)]
        for w in wallets:
            tw = t1 if together else t1 + r.randint(0, window)
            self.pay(tw, GLM, funder, w, self.glm(400, 480))
            start = tw + r.randint(60, 6 * 3600)
            for h in r.sample(hosts, min(units, len(hosts))):
                for _ in range(r.randint(2, 4)):
                    self.pay(start + r.randint(0, 3 * DAY), GLM, w, h, self.glm(5, 30))
        return wallets

    # -- the world -------------------------------------------------------------------------------
    def build(self) -> tuple[dict[str, list[str]], dict[str, tuple[str, list[str]]]]:
        d, r, lb = self.d, self.r, self.labels
        periods, cadence = d.int_("payroll_periods"), d.pick("payroll_cadence_days")
        self.span = max(self.span, (periods + 2) * cadence * DAY)
        g = d.int_("golem_providers")
        n_ctrl = max(8, round(g * d.float_("golem_controlled_share")))
        for i in range(max(g, n_ctrl + 4)):
            ctrl = i < n_ctrl
            model = r.choice(list(CONTROLLED) if ctrl else list(UNCONTROLLED))
            gpu = CONTROLLED[model] if ctrl else UNCONTROLLED[model]
            payee = self.addr(f"payee:{i}")
            node = golem_node(f"scn-poly:{self.seed}:{i}", f"{r.choice(NODE_WORDS)}-{i}", gpu, payee)
            self.nodes.append(node)
            self.payees.append(payee)
            self.payee_set.add(payee)
            (self.controlled if ctrl else self.uncontrolled).append(payee)
        cold, clean, hub = self.addr("exchange:cold"), self.addr("exchange:clean"), self.addr("exchange:hub")
        listed = {k: self.addr(f"listed:{k}") for k in ("renter0", "renter1", "src", "dust", "far", "hub")}
        tagged = d.chance("exchange_tagged")
        tags = {a: (r.choice(EXCHANGE_NAMES), ["exchange"]) for a in (clean, hub)} if tagged else {}
        self.pay(0, GLM, cold, clean, 10**9 * 10**18)
        self.pay(0, USDC, cold, clean, 10**12 * 10**6)
        # background: funded by the clean exchange; about half rent, the rest pay each other
        bg_renters: list[str] = []
        others: list[str] = []
        for i in range(d.int_("background")):
            w = self.addr(f"bg:{i}")
            tf = self.t()
            self.pay(tf, GLM, clean, w, self.glm(50, 5000))
            if r.random() < 0.5:
                self.pay(tf + r.randint(10, DAY), USDC, clean, w, r.randint(100, 20_000) * 10**6)
            if r.random() < 0.55:
                hosts = self.controlled if r.random() < 0.3 else self.uncontrolled
                self.rent(w, tf + 600, self.span, hosts, r.randint(2, 12), 5, 60)
                bg_renters.append(w)
            else:
                others.append(w)
        for w in others:
            for _ in range(r.randint(0, 3)):
                self.pay(self.t(), USDC, w, r.choice(others), r.randint(1, 500) * 10**6)
        self._hub(hub, cold, listed["hub"])
        # listed renters; the first pays the provider_paid hosts a material share of their income
        n_listed = d.int_("listed_renters")
        for k in range(n_listed):
            lw = listed[f"renter{k}"]
            tf = self.t(0, self.span / 3)
            self.pay(tf, GLM, clean, lw, self.glm(20_000, 60_000))
            self.rent(lw, tf + 600, self.span, self.controlled + self.uncontrolled, r.randint(4, 12), 1, 5)
            self.tainted.add(lw)
            lb.add(_wallet(lw), "listed_wallet", True, "OFAC-listed wallet paying Golem providers")
        self._provider_paid(listed["renter0"], bg_renters)
        self._exposure(listed["src"], clean)
        self._concealment(clean)
        self._decoys(listed, clean, bg_renters, periods, cadence)
        self._dilute(bg_renters)
        ofac = {"ETH": [v for k, v in listed.items() if k != "dust" and (k != "renter1" or n_listed > 1)],
                "USDC": [listed["dust"], listed["src"]]}
        return ofac, tags

    def _hub(self, hub: str, cold: str, listed: str) -> None:
        """An exchange hot wallet: customers funded after it received listed GLM through a deposit address."""
        d, r, lb = self.d, self.r, self.labels
        n = d.int_("hub_customers")
        share = d.float_("hub_listed_share")
        customers = [self.addr(f"hub:{i}") for i in range(n)]
        c0 = n * 4000 * 10**18
        self.pay(0, GLM, cold, hub, c0)
        th = self.t(0.05 * self.span, 0.15 * self.span)
        deposits, n_dep = 0, d.int_("hub_deposit_addresses")
        fund_at = {c: self.t(th + 3600, self.span - 5 * DAY) for c in customers}
        for i, c in enumerate(customers):
            amt = self.glm(20, 3000)
            self.pay(fund_at[c], GLM, hub, c, amt)
            if i < n_dep:
                dep = self.addr(f"hub:deposit:{i}")
                back = int(amt * r.uniform(0.2, 0.6))
                tb = fund_at[c] + r.randint(DAY, 3 * DAY)
                self.pay(tb, GLM, c, dep, back)
                self.pay(tb + r.randint(60, 3600), GLM, dep, hub, int(back * r.uniform(0.95, 1.0)))
                deposits += back
            elif r.random() < 0.6:
                self.rent(c, fund_at[c] + 600, self.span, self.controlled + self.uncontrolled, r.randint(2, 8), 2, 30)
                lb.add(_wallet(c), "exchange_customer", False,
                       f"customer of an exchange ({n} customers) with {share:.0%} listed inflow")
        dep_l = self.addr("hub:deposit:listed")
        x = int((c0 + deposits) * share / (1 - share))
        self.pay(th - 600, GLM, listed, dep_l, x + x // 50)
        self.pay(th, GLM, dep_l, hub, x)

    def _provider_paid(self, payer: str, bg_renters: list[str]) -> None:
        d, r, lb = self.d, self.r, self.labels
        for i in range(d.int_("provider_paid")):
            share = d.float_("provider_paid_share")
            payee = self.payees[-1 - i]
            self.reserved.add(payee)
            base = sum(v for s, v in self.income[payee].items() if s != payer)
            if base == 0:
                for w in r.sample(bg_renters, min(3, len(bg_renters))):
                    self.rent(w, 0, self.span, [payee], 3, 5, 60)
                base = sum(v for s, v in self.income[payee].items() if s != payer)
            need = int(base * share / (1 - share)) - self.income[payee].get(payer, 0)
            k = r.randint(3, 10)
            for _ in range(k):
                self.pay(self.t(), GLM, payer, payee, max(1, need // k))
            node = self.nodes[len(self.payees) - 1 - i]
            lb.add(ids.provider("golem", node["node_id"]), "provider_paid_by_listed", True,
                   f"{share:.0%} of its payee's GLM income from a listed wallet")

    def _exposure(self, listed: str, clean: str) -> None:
        d, r, lb = self.d, self.r, self.labels
        for i in range(d.int_("exposure_renters")):
            hops, share = d.int_("exposure_hops"), d.float_("exposure_share")
            w = self.addr(f"exposed:{i}")
            t0 = self.t(0, self.span - 10 * DAY)
            got = self.peel(listed, hops, self.glm(500, 20_000), t0, f"exp{i}", w)
            if share < 0.995:
                self.pay(t0 - r.randint(3600, 5 * DAY), GLM, clean, w, int(got * (1 - share) / share))
            self.rent(w, t0 + hops * 3600, self.span, self.controlled + self.uncontrolled, r.randint(3, 10), 1, 5)
            self.tainted.add(w)
            lb.add(_wallet(w), "indirect_exposure", True, f"{hops} hop(s) (peel), {share:.0%} of its GLM inflow")

    def _concealment(self, clean: str) -> None:
        d, r, lb = self.d, self.r, self.labels
        n, units = d.int_("sybil_size"), d.int_("sybil_units")
        for w in self.star("sybil", clean, n, self.controlled, units):
            lb.add(_wallet(w), "concealment", True, f"Sybil star of {n}, each paying {units} controlled hosts")
        if d.chance("sync_present"):
            k, spread = d.int_("sync_size"), d.int_("sync_spread_blocks")
            ts = self.t(20 * DAY if self.span > 30 * DAY else 0)
            for i in range(k):
                w = self.addr(f"sync:{i}")
                self.pay(ts - r.randint(DAY, 20 * DAY), GLM, clean, w, self.glm(400, 900))
                first = ts + 2 * r.randint(0, spread)
                hosts = r.sample(self.controlled, min(d.int_("sybil_units"), len(self.controlled)))
                for j, h in enumerate(hosts):
                    self.pay(first if j == 0 else first + r.randint(60, 2 * DAY), GLM, w, h, self.glm(5, 30))
                lb.add(_wallet(w), "concealment", True, f"{k} wallets' first payments within {spread} blocks")

    def _decoys(self, listed: dict[str, str], clean: str, bg_renters: list[str], periods: int, cadence: int) -> None:
        d, r, lb = self.d, self.r, self.labels
        n, amt, asset = d.int_("dust_recipients"), d.int_("dust_amount"), d.pick("dust_asset")
        for w in r.sample(bg_renters, min(n, len(bg_renters))):
            token, units = (USDC, amt) if asset == "USDC" else (GLM, amt * 10**12)
            self.pay(self.t(), token, listed["dust"], w, units)
            lb.add(_wallet(w), "dusting", False, f"{units} base units of {asset} from a listed wallet")
        tre = self.addr("treasury")
        t0 = self.span - (periods + 1) * cadence * DAY
        self.pay(max(0, t0 - DAY), GLM, clean, tre, 10**6 * 10**18)
        for i in range(d.int_("payroll_wallets")):
            w = self.addr(f"payroll:{i}")
            for j in range(periods):
                self.pay(t0 + j * cadence * DAY + r.randint(0, 600), GLM, tre, w, 2000 * 10**18 + r.randint(0, 10**18))
            self.rent(w, t0 + 3600, self.span, self.controlled + self.uncontrolled, r.randint(3, 10), 5, 60)
            lb.add(_wallet(w), "payroll", False, f"{periods} payments every {cadence} days")
        big = self.addr("large-lawful")
        units, days = d.int_("large_renter_units"), d.int_("large_renter_days")
        tb = self.t(0, max(1, self.span - days * DAY))
        self.pay(tb, GLM, clean, big, 10**6 * 10**18)
        self.rent(big, tb + 600, tb + days * DAY, self.controlled, units * 2, 100, 900)
        lb.add(_wallet(big), "large_lawful_renter", False, f"{units * 2} large payments over {days} days")
        k = d.int_("uncontrolled_star")
        for w in self.star("ustar", clean, k, self.uncontrolled, r.randint(4, 8)):
            lb.add(_wallet(w), "uncontrolled_gpus", False, f"fresh star of {k} paying uncontrolled hosts")
        hops = d.int_("far_hops")
        far = self.addr("far")
        t0 = self.t(0, self.span - 10 * DAY)
        self.peel(listed["far"], hops, self.glm(500, 5000), t0, "far", far)
        self.rent(far, t0 + hops * 3600, self.span, self.uncontrolled + self.controlled, r.randint(3, 8), 1, 5)
        lb.add(_wallet(far), "far_exposure", False, f"{hops} hops (peel) from a listed wallet")

    def _dilute(self, bg_renters: list[str]) -> None:
        """Clean top-ups so that no background payee gets more than 5 % of its GLM from tainted payers."""
        for p in self.payees:
            if p in self.reserved:
                continue
            inc = self.income[p]
            bad = sum(v for s, v in inc.items() if s in self.tainted)
            total = sum(inc.values())
            if bad and bad > MAX_FOREIGN_SHARE * total:
                need = int(bad / MAX_FOREIGN_SHARE) - total + 1
                payer = self.r.choice(bg_renters) if bg_renters else self.addr("large-lawful")
                self.pay(self.t(), GLM, payer, p, need)


def build(seed: int) -> Scenario:
    """The Polygon + Golem scenario of ``seed``."""
    d = Draw(seed, "polygon_golem")
    wb = _PolyWorld(seed, d)
    ofac, tags = wb.build()
    chain, nodes = wb.chain, json.dumps(wb.nodes).encode()

    async def rpc(request: web.Request) -> web.Response:
        payload = json.loads(await request.read())
        out = [chain.answer(c) for c in payload] if isinstance(payload, list) else chain.answer(payload)
        return web.json_response(out)

    async def online(request: web.Request) -> web.Response:
        return web.Response(body=nodes, content_type="application/json")

    def evm_config(base: str) -> dict[str, dict[str, Any]]:
        return {"evm": {"chains": {"ethereum": {"enabled": False}, "polygon": {
            "chain_id": 137, "rpc_url": f"{base}/polygon", "tokens": [GLM, USDC], "start_block": BASE,
            "confirmations": chain.confirmations, "window": 20_000, "max_window": 2_000_000, "decode_workers": 0,
            "check_sanctions": False}}, "limits": FAST}}

    def golem_config(base: str) -> dict[str, dict[str, Any]]:
        return {"golem": {"base_url": base, "limits": FAST}}

    parts = [DemoPart("evm", [web.post("/polygon", rpc)], evm_config),
             DemoPart("golem", [web.get("/v2/network/online", online)], golem_config),
             ofac_part(ofac), labels_part(tags)]
    n_logs = sum(len(v) for v in chain.logs.values())
    notes = {"transfers": n_logs, "golem_nodes": len(wb.nodes), "span_days": wb.span // DAY,
             "exchange_tagged": bool(tags)}
    return Scenario(seed, "polygon_golem", d.params, wb.labels.items(), parts, notes)
