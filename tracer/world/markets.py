"""Demo markets served on loopback: Vast.ai (the real 2024-11-05 snapshot plus planted offers),
Golem stats, a Solana JSON-RPC node (SPL transfers and Nosana accounts), io.net explorer, Clore.

All generated data is in the exact shapes the real services answer (see tests/data/markets/SOURCE.md
for where each shape comes from).  Planted patterns (docs/markets.md):

- a Vast.ai host in China (CN, Country Group D:5) offering 8x H100 SXM;
- a Golem provider with an RTX 4090 whose GLM payee is a demo EVM wallet;
- a Nosana job on the RTX 4090 market whose renter (project) was funded in USDC and NOS by demo
  Solana wallets, paid to a node that also receives IO;
- an io.net device with 8x H100 in RU and a Clore server with 8x RTX 4090 in RU.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import base58
from aiohttp import web

from connectors.solana import nosana as nos
from connectors.solana.config import MINTS, NOSANA_PROGRAM, NOSANA_RTX4090_MARKET
from tracer.world import DemoPart, evm_address, fixtures_dir

VAST_FIXTURE = "vastai-offers/search_offers_raw_2024-11-05_full_marketplace.json"
TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
DECIMALS = {MINTS["USDC"]: 6, MINTS["NOS"]: 6, MINTS["IO"]: 8, MINTS["RENDER"]: 8}
IONET_TOKEN = "demo-ionet-jwt-7f3a9c2e51b04d6e"  # the demo explorer refuses requests without it
T0 = 1_730_000_000  # 2024-10-27T03:33:20Z: the demo chain's clock


def sol_address(seed: str) -> str:
    """A deterministic Solana address (base58 of 32 bytes) for a world actor."""
    return base58.b58encode(hashlib.sha256(b"sol:" + seed.encode()).digest()).decode()


def sol_signature(seed: str) -> str:
    return base58.b58encode(hashlib.sha512(b"sig:" + seed.encode()).digest()).decode()


# -- Vast.ai -------------------------------------------------------------------------------------

def planted_vast_offers() -> list[dict[str, Any]]:
    """A host in Guangdong, CN (D:5) offering 8x H100 SXM (one machine, 4- and 8-GPU offers)."""
    base = {"host_id": 990001, "machine_id": 990101, "geolocation": "Guangdong, CN", "gpu_name": "H100 SXM",
            "public_ipaddr": "203.0.113.17", "verification": "verified", "hosting_type": 1, "rentable": True,
            "rented": False, "gpu_ram": 81559, "reliability2": 0.9931, "external": False}
    return [{**base, "id": 99010104, "ask_contract_id": 99010104, "num_gpus": 4, "dph_total": 9.6, "dph_base": 9.5},
            {**base, "id": 99010108, "ask_contract_id": 99010108, "num_gpus": 8, "dph_total": 19.2, "dph_base": 19.0}]


def vast_body(real: bool = True, planted: bool = True) -> bytes:
    """The bundles answer ``{"offers": [...]}``: the real snapshot's bytes spliced in unchanged (so
    every number keeps its exact text) plus the planted offers."""
    fx = fixtures_dir()
    path = fx / VAST_FIXTURE if fx and real else None
    items = [json.dumps(o).encode() for o in (planted_vast_offers() if planted else [])]
    if path is not None and path.is_file():
        arr = path.read_bytes().strip()
        inner = arr[1:-1].strip()
        if inner:
            items.insert(0, inner)
    return b'{"offers": [' + b",\n".join(items) + b"]}"


# -- Golem -------------------------------------------------------------------------------------

def golem_node(node_seed: str, name: str, gpu: str | None, payee: str, cc_threads: int = 16) -> dict[str, Any]:
    """One provider as golem-stats-backend v2 ``network/online`` serialises it."""
    nid = evm_address("golem-node:" + node_seed)
    props: dict[str, Any] = {
        "golem.node.id.name": name, "golem.node.debug.subnet": "public",
        "golem.com.payment.platform.erc20-polygon-glm.address": payee,
        "golem.com.payment.platform.erc20-mainnet-glm.address": payee,
        "golem.com.pricing.model": "linear", "golem.com.pricing.model.linear.coeffs": [0.0001, 0.00002, 0.0],
        "golem.com.usage.vector": ["golem.usage.cpu_sec", "golem.usage.duration_sec"],
        "golem.inf.cpu.brand": "AMD Ryzen 9 7950X 16-Core Processor", "golem.inf.cpu.threads": cc_threads,
        "golem.inf.mem.gib": 62.5, "golem.inf.storage.gib": 400.0, "golem.runtime.name": "vm",
    }
    runtimes: dict[str, Any] = {"vm": {"runtime": "vm", "monthly_price_glm": 12.4, "properties": props,
                                       "updated_at": "2024-10-27T03:30:00Z"}}
    if gpu:
        gprops = {**props, "golem.runtime.name": "vm-nvidia", "golem.!exp.gap-35.v1.inf.gpu.model": gpu,
                  "golem.!exp.gap-35.v1.inf.gpu.memory.total.gib": 24.0,
                  "golem.!exp.gap-35.v1.inf.gpu.cuda.enabled": True}
        runtimes["vm-nvidia"] = {"runtime": "vm-nvidia", "monthly_price_glm": 96.0, "properties": gprops,
                                 "updated_at": "2024-10-27T03:30:00Z"}
    return {"uptime": 99.1, "earnings_total": 41.7, "node_id": nid, "online": True, "version": "0.16.0",
            "updated_at": "2024-10-27T03:30:00Z", "created_at": "2024-03-01T00:00:00Z", "runtimes": runtimes,
            "computing_now": False, "wallet": payee, "network": "mainnet"}


def golem_online() -> list[dict[str, Any]]:
    return [golem_node("4090", "ember-4090", "NVIDIA GeForce RTX 4090", evm_address("golem-payee-4090")),
            golem_node("3090", "quiet-fox", "NVIDIA GeForce RTX 3090", evm_address("golem-payee-3090")),
            golem_node("cpu", "cpu-only-node", None, evm_address("golem-payee-cpu"), 8)]


# -- Solana: SPL transfers and Nosana accounts ------------------------------------------------------

def token_account(owner: str, mint: str) -> str:
    return sol_address(f"ata:{owner}:{mint}")


def _ui(amount: int, decimals: int) -> dict[str, Any]:
    s = str(amount).rjust(decimals + 1, "0")
    ui = (s[:-decimals] + "." + s[-decimals:]).rstrip("0").rstrip(".") if decimals else s
    return {"amount": str(amount), "decimals": decimals, "uiAmount": float(ui), "uiAmountString": ui}


def spl_transaction(seed: str, slot: int, transfers: list[Mapping[str, Any]], *, failed: bool = False,
                    extra_keys: tuple[str, ...] = ()) -> dict[str, Any]:
    """A ``getTransaction`` result (jsonParsed, version 0) moving SPL tokens.

    Each transfer: ``src``, ``dst`` (owner wallets), ``mint``, ``amount``, ``checked`` (transferChecked
    names the mint; plain transfer does not) and ``inner`` (issued by a program, as a CPI).
    """
    sig = sol_signature(seed)
    payer = transfers[0]["src"]
    keys: list[dict[str, Any]] = [{"pubkey": payer, "signer": True, "source": "transaction", "writable": True}]
    pre: list[dict[str, Any]] = []
    post: list[dict[str, Any]] = []

    def idx(pk: str, writable: bool = False) -> int:
        for i, k in enumerate(keys):
            if k["pubkey"] == pk:
                return i
        keys.append({"pubkey": pk, "signer": False, "source": "transaction", "writable": writable})
        return len(keys) - 1

    top: list[dict[str, Any]] = []
    inner: list[dict[str, Any]] = []
    for t in transfers:
        mint, dec, amt = t["mint"], DECIMALS[t["mint"]], int(t["amount"])
        sa, da = token_account(t["src"], mint), token_account(t["dst"], mint)
        for acct, owner, before, after in ((sa, t["src"], amt * 3, amt * 2), (da, t["dst"], 0, amt)):
            i = idx(acct, True)
            if not any(b["accountIndex"] == i for b in pre):
                pre.append({"accountIndex": i, "mint": mint, "owner": owner, "programId": TOKEN_PROGRAM,
                            "uiTokenAmount": _ui(before, dec)})
                post.append({"accountIndex": i, "mint": mint, "owner": owner, "programId": TOKEN_PROGRAM,
                             "uiTokenAmount": _ui(before if failed else after, dec)})
        if t.get("checked", True):
            idx(mint)
            info: dict[str, Any] = {"authority": t["src"], "destination": da, "mint": mint, "source": sa,
                                    "tokenAmount": _ui(amt, dec)}
            kind = "transferChecked"
        else:
            info, kind = {"amount": str(amt), "authority": t["src"], "destination": da, "source": sa}, "transfer"
        ix = {"parsed": {"info": info, "type": kind}, "program": "spl-token", "programId": TOKEN_PROGRAM,
              "stackHeight": 2 if t.get("inner") else None}
        (inner if t.get("inner") else top).append(ix)
    for k in extra_keys:
        idx(k)
    idx(TOKEN_PROGRAM)
    if inner:
        top.insert(0, {"accounts": [k["pubkey"] for k in keys[1:4]], "data": "3Bxs4h24hBtQy9rw",
                       "programId": NOSANA_PROGRAM, "stackHeight": None})
    return {
        "blockTime": T0 + (slot - 290_000_000) * 2 // 5, "slot": slot, "version": 0,
        "meta": {"computeUnitsConsumed": 6200, "err": {"InstructionError": [0, {"Custom": 1}]} if failed else None,
                 "fee": 5000, "innerInstructions": [{"index": 0, "instructions": inner}] if inner else [],
                 "logMessages": [f"Program {TOKEN_PROGRAM} invoke [1]", f"Program {TOKEN_PROGRAM} success"],
                 "postBalances": [1_000_000_000 - 5000] + [2_039_280] * (len(keys) - 1),
                 "postTokenBalances": post, "preBalances": [1_000_000_000] + [2_039_280] * (len(keys) - 1),
                 "preTokenBalances": pre, "rewards": [],
                 "status": {"Err": {"InstructionError": [0, {"Custom": 1}]}} if failed else {"Ok": None}},
        "transaction": {"message": {"accountKeys": keys, "addressTableLookups": [], "instructions": top,
                                    "recentBlockhash": sol_address("blockhash:" + seed)},
                        "signatures": [sig]},
    }


ACTORS = {name: sol_address(name) for name in
          ("funder-usdc", "treasury-nos", "nosana-project", "nosana-node-4090", "io-rewards", "render-emitter",
           "render-operator", "other-project", "failed-sender")}


def solana_transactions() -> list[dict[str, Any]]:
    """The demo chain's SPL transfers, oldest first."""
    a = ACTORS
    return [
        spl_transaction("usdc-fund", 290_000_100, [{"src": a["funder-usdc"], "dst": a["nosana-project"],
                                                    "mint": MINTS["USDC"], "amount": 25_000_000_000}]),
        spl_transaction("nos-fund", 290_000_200, [{"src": a["treasury-nos"], "dst": a["nosana-project"],
                                                   "mint": MINTS["NOS"], "amount": 500_000_000}]),
        spl_transaction("io-reward", 290_000_300, [{"src": a["io-rewards"], "dst": a["nosana-node-4090"],
                                                    "mint": MINTS["IO"], "amount": 1_234_567_891}]),
        # A program paying out through a CPI: a plain `transfer`, mint known only from token balances.
        spl_transaction("render-emission", 290_000_400, [{"src": a["render-emitter"], "dst": a["render-operator"],
                                                          "mint": MINTS["RENDER"], "amount": 777_00000000,
                                                          "checked": False, "inner": True}],
                        extra_keys=(MINTS["RENDER"],)),
        spl_transaction("failed", 290_000_500, [{"src": a["failed-sender"], "dst": a["nosana-project"],
                                                 "mint": MINTS["USDC"], "amount": 1_000_000}], failed=True),
    ]


def nosana_accounts() -> list[dict[str, Any]]:
    """``getProgramAccounts`` items of the demo Nosana program: the RTX 4090 market and three jobs."""
    a, market, other = ACTORS, NOSANA_RTX4090_MARKET, sol_address("market:cpu")
    m = {"authority": sol_address("market-authority"), "job_expiration": 86400, "job_price": 10,
         "job_timeout": 7200, "job_type": 4, "vault": sol_address("vault:4090"), "vault_bump": 254,
         "node_access_key": sol_address("nft-collection:4090"), "node_xnos_minimum": 0, "queue_type": 1,
         "queue": [sol_address("queued-node-1")]}
    jobs = [
        ("job-done", {"market": market, "node": a["nosana-node-4090"], "project": a["nosana-project"],
                      "payer": a["nosana-project"], "price": 10, "state": 2, "time_start": T0 + 600,
                      "time_end": T0 + 600 + 1800, "timeout": 3600}),
        ("job-running", {"market": market, "node": a["nosana-node-4090"], "project": a["nosana-project"],
                         "payer": sol_address("rent-payer"), "price": 10, "state": 1, "time_start": T0 + 5000,
                         "time_end": 0, "timeout": 3600}),
        ("job-other-market", {"market": other, "node": sol_address("cpu-node"), "project": a["other-project"],
                              "payer": a["other-project"], "price": 2, "state": 2, "time_start": T0,
                              "time_end": T0 + 60, "timeout": 600}),
    ]
    items = [_gpa_item(market, nos.encode(nos.MARKET_LAYOUT, m, nos.MARKET_DISC, 8 + 160 + 32 * 314))]
    for seed, j in jobs:
        vals = {**j, "ipfs_job": hashlib.sha256(seed.encode()).digest(), "ipfs_result": b""}
        items.append(_gpa_item(sol_address(seed), nos.encode(nos.JOB_LAYOUT, vals, nos.JOB_DISC, 240)))
    return items


def _gpa_item(pubkey: str, data: bytes) -> dict[str, Any]:
    import base64
    return {"pubkey": pubkey, "account": {"data": [base64.b64encode(data).decode(), "base64"], "executable": False,
                                          "lamports": 2_561_280, "owner": NOSANA_PROGRAM,
                                          "rentEpoch": 18446744073709551615, "space": len(data)}}


class SolanaNode:
    """A JSON-RPC 2.0 node over a fixed ledger: the methods tracer calls, per the Solana RPC docs."""

    def __init__(self, txs: list[dict[str, Any]], accounts: list[dict[str, Any]]) -> None:
        self.txs = sorted(txs, key=lambda t: t["slot"], reverse=True)  # newest first
        self.by_sig = {t["transaction"]["signatures"][0]: t for t in txs}
        self.accounts = accounts
        self.calls: list[str] = []

    def _touches(self, tx: Mapping[str, Any], addr: str) -> bool:
        return any(k["pubkey"] == addr for k in tx["transaction"]["message"]["accountKeys"])

    def call(self, method: str, params: list[Any]) -> Any:
        self.calls.append(method)
        if method == "getHealth":
            return "ok"
        if method == "getSignaturesForAddress":
            addr, opts = params[0], (params[1] if len(params) > 1 else {}) or {}
            rows = [t for t in self.txs if self._touches(t, addr)]
            if opts.get("before"):
                sigs = [t["transaction"]["signatures"][0] for t in rows]
                rows = rows[sigs.index(opts["before"]) + 1:] if opts["before"] in sigs else []
            out = []
            for t in rows:
                sig = t["transaction"]["signatures"][0]
                if sig == opts.get("until"):
                    break
                out.append({"blockTime": t["blockTime"], "confirmationStatus": "finalized",
                            "err": t["meta"]["err"], "memo": None, "signature": sig, "slot": t["slot"]})
            return out[: int(opts.get("limit", 1000))]
        if method == "getTransaction":
            return self.by_sig.get(params[0])
        if method == "getProgramAccounts":
            opts = (params[1] if len(params) > 1 else {}) or {}
            return [it for it in self.accounts if _matches(it, opts.get("filters") or [])]
        raise KeyError(method)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        reqs = body if isinstance(body, list) else [body]
        out = []
        for r in reqs:
            try:
                out.append({"jsonrpc": "2.0", "id": r.get("id"), "result": self.call(r["method"], r.get("params") or [])})
            except KeyError:
                out.append({"jsonrpc": "2.0", "id": r.get("id"),
                            "error": {"code": -32601, "message": "Method not found"}})
        return web.json_response(out if isinstance(body, list) else out[0])


def _matches(item: Mapping[str, Any], filters: list[Mapping[str, Any]]) -> bool:
    import base64
    data = base64.b64decode(item["account"]["data"][0])
    for f in filters:
        if "dataSize" in f and len(data) != int(f["dataSize"]):
            return False
        if "memcmp" in f:
            off, want = int(f["memcmp"]["offset"]), base58.b58decode(f["memcmp"]["bytes"])
            if data[off:off + len(want)] != want:
                return False
    return True


# -- io.net and Clore --------------------------------------------------------------------------

def ionet_devices() -> dict[str, dict[str, Any]]:
    """``devices/{id}/details`` answers (io.net API reference shape)."""
    def dev(did: str, hw: str, qty: int, iso2: str, loc: str, jobs: list[dict[str, Any]]) -> dict[str, Any]:
        return {"data": {"base_tier_name": "Ultra High Speed", "brand_icon": "https://example.invalid/nvidia.svg",
                         "device_id": did, "down_percentage": 0, "download_speed_mbps": 2775.1,
                         "downtime_by_date": {"2024-10-26": {"downtime": 0, "note": "down for 0 days and 0 hours and 0 minutes"}},
                         "hardware_name": hw, "hardware_quantity": qty, "iso2": iso2, "jobs": jobs,
                         "location_icon": "https://example.invalid/flag.svg", "location_name": loc,
                         "security_soc2": False, "upload_speed_mbps": 1972.54}, "status": "succeeded"}
    job = {"compute_minutes_hired": 300, "compute_minutes_served": 300, "earned": 12.75, "end_time": "2024-10-27 05:00:00",
           "for": "e242cd76-9e65-4de1-b3ec-1cb8b002b38d", "slashed": 0, "start_time": "2024-10-27 00:00:00",
           "status": "completed", "total_hire_rate": 10.8, "uptime_percent": 100}
    return {"599ef4af-7fe6-44b5-aba3-25899bde2ab6": dev("599ef4af-7fe6-44b5-aba3-25899bde2ab6", "RTX A6000", 2, "CA",
                                                        "Canada", []),
            "7d1c0b8e-2f4a-4c1e-9d7b-5a3e6f8c9b10": dev("7d1c0b8e-2f4a-4c1e-9d7b-5a3e6f8c9b10", "H100 80GB HBM3", 8,
                                                        "RU", "Russia", [job])}


def clore_marketplace() -> dict[str, Any]:
    """``GET /v1/marketplace`` (Clore API docs shape)."""
    def srv(sid: int, owner: int, gpu: str, n: int, cc: str, rented: bool, usd: float) -> dict[str, Any]:
        model = gpu.split("x ", 1)[1]
        return {"id": sid, "owner": owner, "mrl": 720, "rented": rented, "reliability": 0.995,
                "price": {"on_demand": {"bitcoin": 0.00003, "CLORE-Blockchain": 95.0, "USD-Blockchain": usd},
                          "spot": {"bitcoin": 0.00001, "CLORE-Blockchain": 40.0}},
                "specs": {"mb": "ROMED8-2T", "cpu": "AMD EPYC 7502P 32-Core Processor", "cpus": "32/64", "ram": 251.5,
                          "disk": "NVMe 3840GB", "disk_speed": 3200, "gpu": gpu, "gpuram": 24,
                          "net": {"up": 850.3, "down": 920.1, "cc": cc}},
                "gpu_array": [model] * n, "rating": {"avg": 5, "cnt": 3}}
    return {"servers": [srv(4401, 1201, "1x NVIDIA GeForce RTX 3080", 1, "CZ", False, 6.5),
                        srv(4402, 1202, "8x NVIDIA GeForce RTX 4090", 8, "RU", True, 80.0),
                        srv(4403, 1203, "2x NVIDIA GeForce RTX 3090", 2, "DE", False, 11.0)],
            "my_servers": [], "code": 0}


# -- the part ----------------------------------------------------------------------------------

def demo_part(real_vast: bool = True, planted: bool = True) -> DemoPart:
    """Every market on one loopback part: routes under /markets/<market>/..."""
    vast = vast_body(real_vast, planted)
    golem = json.dumps(golem_online(), indent=4).encode()
    node = SolanaNode(solana_transactions(), nosana_accounts())
    devices = ionet_devices()
    clore = json.dumps(clore_marketplace()).encode()

    async def bundles(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=vast, content_type="application/json")

    async def online(request: web.Request) -> web.Response:
        return web.Response(body=golem, content_type="application/json")

    async def device(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {IONET_TOKEN}":
            return web.json_response({"detail": "Could not validate credentials"}, status=401)
        d = devices.get(request.match_info["device_id"])
        return web.json_response(d) if d else web.json_response({"detail": "Device not found"}, status=404)

    async def marketplace(request: web.Request) -> web.Response:
        return web.Response(body=clore, content_type="application/json")

    routes = [web.post("/vastai/api/v0/bundles/", bundles), web.get("/vastai/api/v0/bundles/", bundles),
              web.get("/golem/v2/network/online", online),
              web.post("/solana/", node.handle),
              web.get("/ionet/v1/io-explorer/devices/{device_id}/details", device),
              web.get("/clore/v1/marketplace", marketplace)]

    def config(base: str) -> dict[str, dict[str, Any]]:
        fast = {"rate": 0, "concurrency": 4, "max_retries": 1}
        return {
            "vastai": {"base_url": f"{base}/vastai/api/v0", "limits": fast},
            "golem": {"base_url": f"{base}/golem", "limits": fast},
            # Walk the market tokens' mints and, for USDC (not walked by mint), the renter's account.
            "solana": {"rpc_url": f"{base}/solana/", "page_size": 2, "batch_size": 2, "limits": fast,
                       "addresses": sorted({MINTS["RENDER"], MINTS["IO"], MINTS["NOS"],
                                            token_account(ACTORS["nosana-project"], MINTS["USDC"])})},
            "nosana": {"rpc_url": f"{base}/solana/", "limits": fast},
            "ionet": {"base_url": f"{base}/ionet/v1/io-explorer", "token": IONET_TOKEN,
                      "device_ids": sorted(devices), "limits": fast},
            "clore": {"base_url": f"{base}/clore/v1", "limits": fast},
        }

    notes = ["real Vast.ai snapshot 2024-11-05" if fixtures_dir() and real_vast else "generated Vast offers only",
             "planted: CN Vast host 8x H100 SXM; Golem RTX 4090 provider; Nosana RTX 4090 job; RU io.net/Clore"]
    part = DemoPart("markets", routes, config, notes=notes)
    part.solana_node = node  # type: ignore[attr-defined]  # tests inspect the calls it received
    return part
