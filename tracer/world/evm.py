"""Demo EVM chains (Ethereum and Polygon) served as JSON-RPC nodes on loopback.

Why not anvil: ``tracer demo`` must run with no binary.  The chains are generated deterministically
and answered in the exact JSON-RPC shapes of geth/bor (hex quantities, 32-byte topics, lean block
headers, batch arrays, Infura's "query returned more than 10000 results" refusal).

Planted payments (seeds for ``tracer.world.evm_address``; see docs/evm.md):

- Polygon GLM: requestor ``golem-requestor-1`` pays the Golem payees ``golem-payee-4090`` and
  ``golem-payee-3090`` (tracer/world/markets.py's providers); requestor ``golem-requestor-2`` pays
  ``golem-payee-3090``.
- Funding paths from the OFAC-listed wallets (``tracer.world.ofac.listed_wallets()``):
  ``listed-renter-1`` pays ``golem-payee-4090`` directly (1 hop);
  ``listed-funder-1`` -> ``evm-mule-1`` -> ``golem-requestor-1`` in USDC on Polygon (2 hops);
  ``listed-far-1`` -> ``evm-mule-2`` -> ``evm-mule-3`` -> ``golem-requestor-2`` in USDT on Ethereum
  (3 hops).
- ``evm-exchange-1`` (an exchange hot wallet) funds ``listed-funder-1`` and ~150 benign wallets
  ``evm-benign-<i>``, which pay each other (background noise), on both chains.
- The Chainalysis oracle of the demo Ethereum node answers ``isSanctioned`` = true for the listed
  wallets.  One ERC-721 transfer and one malformed Transfer-signature event exercise those paths.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tracer.world import DemoPart, evm_address, rng

TRANSFER = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
ORACLE = "0x40c57923924b5c5c5455c48d93317139addac8fb"
T0 = 1_772_323_200  # 2026-03-01T00:00:00Z
MAX_RESULTS = 10_000


def _h(*parts: Any) -> str:
    return "0x" + hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()


def _word(n: int) -> str:
    return "0x" + hex(n)[2:].rjust(64, "0")


def _topic(addr: str) -> str:
    return "0x" + addr[2:].rjust(64, "0")


def _abi_string(s: str) -> str:
    b = s.encode()
    return "0x" + (32).to_bytes(32, "big").hex() + len(b).to_bytes(32, "big").hex() + b.hex().ljust(64, "0")


@dataclass
class DemoChain:
    """A generated chain: blocks base..last (every header exists), Transfer logs by block."""

    name: str
    chain_id: int
    base: int
    block_time: int
    tokens: dict[str, tuple[str, int, str]]  # address -> (symbol, decimals, name)
    confirmations: int
    logs: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    last: int = 0
    sanctioned: set[str] = field(default_factory=set)
    max_results: int = MAX_RESULTS
    refusals: int = 0

    def header(self, n: int) -> dict[str, Any] | None:
        if n < 0 or n > self.head:
            return None
        return {"number": hex(n), "hash": _h(self.name, "block", n), "parentHash": _h(self.name, "block", n - 1),
                "timestamp": hex(T0 + (n - self.base) * self.block_time), "gasLimit": hex(30_000_000),
                "gasUsed": hex(21_000 * len(self.logs.get(n, ()))), "miner": "0x" + "0" * 40,
                "transactions": sorted({lg["transactionHash"] for lg in self.logs.get(n, ())})}

    @property
    def head(self) -> int:
        return self.last + self.confirmations

    def add(self, block: int, contract: str, topics: list[str], data: str) -> None:
        logs = self.logs.setdefault(block, [])
        i = len(logs)
        logs.append({"address": contract, "topics": topics, "data": data, "blockNumber": hex(block),
                     "blockHash": _h(self.name, "block", block), "transactionHash": _h(self.name, "tx", block, i),
                     "transactionIndex": hex(i), "logIndex": hex(i), "removed": False})
        self.last = max(self.last, block)

    def transfer(self, block: int, contract: str, src: str, dst: str, amount: int) -> None:
        self.add(block, contract, [TRANSFER, _topic(src), _topic(dst)], _word(amount))

    # -- JSON-RPC -------------------------------------------------------------------------------
    def answer(self, c: dict[str, Any]) -> dict[str, Any]:
        m, p, base = c.get("method"), c.get("params") or [], {"jsonrpc": "2.0", "id": c.get("id")}
        try:
            if m == "eth_chainId":
                return {**base, "result": hex(self.chain_id)}
            if m == "eth_blockNumber":
                return {**base, "result": hex(self.head)}
            if m == "eth_getBlockByNumber":
                n = self.head if p[0] == "latest" else int(p[0], 16)
                return {**base, "result": self.header(n)}
            if m == "eth_getLogs":
                return {**base, **self._get_logs(p[0])}
            if m == "eth_call":
                return {**base, **self._call(p[0])}
        except (KeyError, IndexError, ValueError, TypeError) as e:
            return {**base, "error": {"code": -32602, "message": f"invalid argument: {e}"}}
        return {**base, "error": {"code": -32601, "message": f"the method {m} does not exist/is not available"}}

    def _get_logs(self, f: dict[str, Any]) -> dict[str, Any]:
        lo, hi = int(f.get("fromBlock", "0x0"), 16), int(f.get("toBlock", hex(self.head)), 16)
        addr = f.get("address")
        addrs = {a.lower() for a in ([addr] if isinstance(addr, str) else addr)} if addr else None
        t0 = (f.get("topics") or [None])[0]
        out = []
        for n in range(max(lo, self.base), min(hi, self.last) + 1):
            for lg in self.logs.get(n, ()):
                if (addrs is None or lg["address"] in addrs) and (t0 is None or lg["topics"][0] == t0):
                    out.append(lg)
                    if len(out) > self.max_results:
                        self.refusals += 1
                        return {"error": {"code": -32005, "message": "query returned more than 10000 results"}}
        return {"result": out}

    def _call(self, tx: dict[str, Any]) -> dict[str, Any]:
        to, data = tx["to"].lower(), tx.get("data") or tx.get("input") or "0x"
        revert = {"error": {"code": 3, "message": "execution reverted"}}
        if to == ORACLE and data.startswith("0xdf592f7d"):
            return {"result": _word(int(("0x" + data[-40:]) in self.sanctioned))}
        if to in self.tokens:
            sym, dec, name = self.tokens[to]
            return {"result": {"0x95d89b41": _abi_string(sym), "0x313ce567": _word(dec),
                               "0x06fdde03": _abi_string(name)}.get(data[:10], "0x")} \
                if data[:10] in ("0x95d89b41", "0x313ce567", "0x06fdde03") else revert
        return revert


def build_chains() -> dict[str, DemoChain]:
    """The two demo chains with the planted paths and seeded background payments."""
    from tracer.world.ofac import LISTED_SEEDS

    a = evm_address
    listed_renter, listed_funder, listed_far = (a(s) for s in LISTED_SEEDS)
    glm, usdc_p, usdc_e, usdt_e, nft = ("0x0b220b82f3ea3b7f6d9a1d8ab58930c064a2b5bf",
                                        "0x3c499c542cef5e3811e1192ce70d8cc03d5c3359",
                                        "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48",
                                        "0xdac17f958d2ee523a2206206994597c13d831ec7", a("demo-nft-contract"))
    poly = DemoChain("polygon", 137, 55_000_000, 2, {glm: ("GLM", 18, "Golem Network Token"),
                                                     usdc_p: ("USDC", 6, "USD Coin")}, confirmations=128)
    eth = DemoChain("ethereum", 1, 19_000_000, 12, {usdc_e: ("USDC", 6, "USD Coin"),
                                                    usdt_e: ("USDT", 6, "Tether USD")}, confirmations=12)
    eth.sanctioned = {listed_renter, listed_funder, listed_far}
    ex = a("evm-exchange-1")
    benign = [a(f"evm-benign-{i}") for i in range(150)]
    r = rng("evm-demo-world")
    for chain, tok in ((poly, usdc_p), (eth, usdc_e)):
        for i, w in enumerate(benign):
            chain.transfer(chain.base + 10 + i // 5, tok, ex, w, r.randrange(100, 50_000) * 10**6)
        for k in range(1200):
            blk = chain.base + 60 + k // 4
            s, d = r.sample(benign, 2)
            chain.transfer(blk, tok, s, d, r.randrange(1, 5_000) * 10**4)
    # Planted paths (blocks after the background start, in time order).
    pb, eb = poly.base + 400, eth.base + 400
    eth.transfer(eb, usdc_e, ex, listed_funder, 2_000_000 * 10**6)
    poly.transfer(pb, usdc_p, listed_funder, a("evm-mule-1"), 480_000 * 10**6)
    poly.transfer(pb + 3, usdc_p, a("evm-mule-1"), a("golem-requestor-1"), 475_000 * 10**6)
    poly.transfer(pb + 5, glm, ex, a("golem-requestor-1"), 900_000 * 10**18)
    poly.transfer(pb + 5, glm, ex, listed_renter, 50_000 * 10**18)
    for i in range(24):
        poly.transfer(pb + 10 + i * 7, glm, a("golem-requestor-1"), a("golem-payee-4090" if i % 3 else "golem-payee-3090"),
                      r.randrange(10**18, 40 * 10**18))
        poly.transfer(pb + 12 + i * 7, glm, listed_renter, a("golem-payee-4090"), r.randrange(10**18, 20 * 10**18))
    eth.transfer(eb + 2, usdt_e, listed_far, a("evm-mule-2"), 300_000 * 10**6)
    eth.transfer(eb + 4, usdt_e, a("evm-mule-2"), a("evm-mule-3"), 299_000 * 10**6)
    eth.transfer(eb + 6, usdt_e, a("evm-mule-3"), a("golem-requestor-2"), 298_000 * 10**6)
    poly.transfer(pb + 200, glm, ex, a("golem-requestor-2"), 100_000 * 10**18)
    for i in range(12):
        poly.transfer(pb + 210 + i * 5, glm, a("golem-requestor-2"), a("golem-payee-3090"), r.randrange(10**18, 9 * 10**18))
    # An ERC-721 transfer (4 topics, no data) and a malformed event with the Transfer signature.
    eth.add(eb + 8, nft, [TRANSFER, _topic("0x" + "0" * 40), _topic(benign[0]), _word(7)], "0x")
    eth.add(eb + 9, a("demo-legacy-token"), [TRANSFER], "0x" + _word(1)[2:] + _word(2)[2:] + _word(3)[2:])
    return {"polygon": poly, "ethereum": eth}


def demo_part(chains: dict[str, DemoChain] | None = None) -> DemoPart:
    """The part served by ``tracer demo`` (tests pass their own ``chains`` to tune the nodes)."""
    chains = chains if chains is not None else build_chains()

    def handler(chain: DemoChain) -> Any:
        async def h(request: web.Request) -> web.Response:
            try:
                payload = json.loads(await request.read())
            except ValueError:
                return web.json_response({"jsonrpc": "2.0", "id": None,
                                          "error": {"code": -32700, "message": "parse error"}})
            out = [chain.answer(c) for c in payload] if isinstance(payload, list) else chain.answer(payload)
            return web.json_response(out)
        return h

    def config(base: str) -> dict[str, dict[str, Any]]:
        secs = {name: {"chain_id": c.chain_id, "rpc_url": f"{base}/{name}", "tokens": sorted(c.tokens)
                       + ([evm_address("demo-nft-contract"), evm_address("demo-legacy-token")]
                          if name == "ethereum" else []),
                       "start_block": c.base, "confirmations": c.confirmations, "window": 50,
                       "max_window": 400, "check_sanctions": name == "ethereum"} for name, c in chains.items()}
        return {"evm": {"chains": secs, "limits": {"concurrency": 8, "rate": 0}}}

    n = sum(len(v) for c in chains.values() for v in c.logs.values())
    return DemoPart("evm", [web.post(f"/{name}", handler(c)) for name, c in chains.items()], config,
                    notes=[f"{n} generated Transfer logs on demo Ethereum and Polygon nodes"])
