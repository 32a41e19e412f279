"""Test support for the EVM connector: a real anvil node, contract deployment, fast workloads.

Why anvil and not a mock: the connector's correctness is "the store equals the chain"; only a real
node (its own log indexes, hashes, reorgs via snapshot/revert) can say what the chain is.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import eth_abi

ROOT = Path(__file__).resolve().parent.parent
ARTIFACT = Path(__file__).resolve().parent / "data" / "evm" / "contracts.json"
TRANSFER_SEL = "0xa9059cbb"  # transfer(address,uint256)
MINT_SEL = "0x40c10f19"  # mint(address,uint256)
NFT_TRANSFER_FROM_SEL = "0x23b872dd"  # transferFrom(address,address,uint256)
ORACLE_SET_SEL = "0x35e3b25a"  # set(address,bool) of TestOracle
BALANCE_OF_SEL = "0x70a08231"


def anvil_path() -> str | None:
    """The anvil binary (env ANVIL, else the one ``make setup-node`` installs, else PATH)."""
    env = os.environ.get("ANVIL")
    if env:
        return env
    p = ROOT / ".node" / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
    return str(p) if p.exists() else shutil.which("anvil")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rpc(url: str, method: str, params: list[Any] | None = None) -> Any:
    """One synchronous JSON-RPC call (test setup only); raises on an error object."""
    out = rpc_raw(url, {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
    if "error" in out:
        raise RuntimeError(f"{method}: {out['error']}")
    return out["result"]


def rpc_raw(url: str, payload: Any, timeout: float = 120) -> Any:
    req = urllib.request.Request(url, json.dumps(payload).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def rpc_batch(url: str, calls: list[tuple[str, list[Any]]]) -> list[Any]:
    out = rpc_raw(url, [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)])
    res: list[Any] = [None] * len(calls)
    for item in out:
        if "error" in item:
            raise RuntimeError(f"batch element {item['id']}: {item['error']}")
        res[item["id"]] = item["result"]
    return res


class Anvil:
    """A running anvil on 127.0.0.1 (free port); ``stop`` kills only this process."""

    def __init__(self, load_state: Path | None = None, dump_state: Path | None = None,
                 extra: list[str] | None = None) -> None:
        binary = anvil_path()
        if not binary:
            raise FileNotFoundError("anvil not found: run `make setup-node` or set ANVIL")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [binary, "--host", "127.0.0.1", "--port", str(self.port), "--silent", "--accounts", "10",
                "--gas-limit", "1000000000", "--code-size-limit", "100000"]
        if load_state:
            args += ["--load-state", str(load_state)]
        if dump_state:
            args += ["--dump-state", str(dump_state)]
        self.proc = subprocess.Popen(args + (extra or []), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # Loading a big --load-state (the bench's 200k-transfer chain) takes ~30 s on a busy machine.
        deadline = time.monotonic() + (300 if load_state else 30)
        while True:
            try:
                rpc(self.url, "eth_chainId")
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop(timeout=5)  # stderr reaches its end only once anvil is gone
                    err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                    raise RuntimeError(f"anvil did not start: {err[-500:]}") from None
                time.sleep(0.05)
        self.accounts: list[str] = [a.lower() for a in rpc(self.url, "eth_accounts")]

    def stop(self, timeout: float = 10) -> None:
        """Terminate (anvil writes ``--dump-state`` on exit: give it ``timeout`` to finish)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def artifact(name: str) -> dict[str, Any]:
    return json.loads(ARTIFACT.read_text())["contracts"][name]


def deploy(url: str, sender: str, name: str, ctor_types: list[str] | None = None,
           ctor_args: list[Any] | None = None) -> str:
    """Deploy a committed test contract (automine on) and return its lower-case address."""
    a = artifact(name)
    data = a["bytecode"] + (eth_abi.encode(ctor_types, ctor_args or []).hex() if ctor_types else "")
    rpc(url, "evm_setAutomine", [True])
    h = rpc(url, "eth_sendTransaction", [{"from": sender, "data": data, "gas": hex(5_000_000)}])
    rec = None
    for _ in range(200):  # automine mines asynchronously: the receipt appears a moment later
        rec = rpc(url, "eth_getTransactionReceipt", [h])
        if rec is not None:
            break
        time.sleep(0.02)
    if rec is None or rec["status"] != "0x1":
        raise RuntimeError(f"deploying {name} failed: {rec}")
    return str(rec["contractAddress"]).lower()


def addr_word(a: str) -> str:
    return a[2:].lower().rjust(64, "0")


def uint_word(n: int) -> str:
    return hex(n)[2:].rjust(64, "0")


@dataclass
class Workload:
    """What a generator sent: enough to cross-check (the chain itself stays the ground truth)."""

    token: str
    nft: str | None = None
    legacy: str | None = None
    recipients: list[str] = field(default_factory=list)
    tx_hashes: list[str] = field(default_factory=list)


class Sender:
    """Fast transaction submission: automine off, explicit nonces and gas, one batch, then mine.

    Why: anvil executes a batch's elements concurrently, so a mine inside the batch would mine
    empty blocks; nonces must be explicit for the same reason.
    """

    def __init__(self, url: str, accounts: list[str]) -> None:
        self.url, self.accounts = url, accounts
        self.nonces = {a: int(rpc(url, "eth_getTransactionCount", [a, "pending"]), 16) for a in accounts}

    def send(self, txs: list[tuple[str, str, str]], gas: int = 120_000) -> list[str]:
        """Send (from, to, data) transactions in one batch and mine them into one block."""
        rpc(self.url, "evm_setAutomine", [False])
        calls = []
        for frm, to, data in txs:
            n = self.nonces[frm]
            self.nonces[frm] = n + 1
            calls.append(("eth_sendTransaction", [{"from": frm, "to": to, "data": data, "gas": hex(gas),
                                                   "nonce": hex(n), "gasPrice": hex(2_000_000_000)}]))
        hashes = rpc_batch(self.url, calls) if calls else []
        rpc(self.url, "evm_mine", [])
        return [str(h) for h in hashes]


def setup_chain(url: str, accounts: list[str], with_nft: bool = True) -> Workload:
    """Deploy the token (18 decimals), an NFT, a legacy token; fund the senders."""
    rpc(url, "anvil_setBlockTimestampInterval", [12])
    owner = accounts[0]
    token = deploy(url, owner, "TestToken", ["string", "string", "uint8"], ["Test Dollar", "TUSD", 18])
    w = Workload(token=token)
    if with_nft:
        w.nft = deploy(url, owner, "TestNFT")
        w.legacy = deploy(url, owner, "LegacyToken")
    s = Sender(url, accounts)
    s.send([(owner, token, MINT_SEL + addr_word(a) + uint_word(10**30)) for a in accounts])
    return w


def generate(url: str, accounts: list[str], w: Workload, n: int, seed: int = 1, per_block: int = 250,
             n_recipients: int = 300) -> Workload:
    """``n`` ERC-20 transfers among senders and random recipients, ``per_block`` per block; plus a
    few ERC-721 transfers and malformed legacy events when those contracts exist."""
    r = random.Random(seed)
    if not w.recipients:
        w.recipients = ["0x" + r.randbytes(20).hex() for _ in range(n_recipients)]
    s = Sender(url, accounts)
    done = 0
    nft_id = r.randrange(1, 10**6) * 1000
    while done < n:
        k = min(per_block, n - done)
        txs: list[tuple[str, str, str]] = []
        for i in range(k):
            frm = accounts[i % len(accounts)]
            to = r.choice(w.recipients + accounts)
            amount = r.choice([1, r.randrange(10**6), r.randrange(10**24), r.randrange(10**18) * 10**6])
            txs.append((frm, w.token, TRANSFER_SEL + addr_word(to) + uint_word(amount)))
        if w.nft and done == 0:
            for j in range(3):
                nft_id += 1
                txs.append((accounts[0], w.nft, MINT_SEL + addr_word(accounts[j + 1]) + uint_word(nft_id)))
        if w.legacy and done == 0:
            txs.append((accounts[1], w.legacy, TRANSFER_SEL + addr_word(accounts[2]) + uint_word(5)))
        w.tx_hashes += s.send(txs)
        done += k
    return w


def chain_transfers(url: str, token: str, start: int = 0) -> list[dict[str, Any]]:
    """Every Transfer log of ``token`` straight from the node (anvil has no result limit)."""
    return list(rpc(url, "eth_getLogs", [{"fromBlock": hex(start), "toBlock": "latest", "address": token,
                                            "topics": ["0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"]}]))


def balance_of(url: str, token: str, holders: list[str]) -> dict[str, int]:
    """``balanceOf`` of each holder at the latest block (the token's own view of every sum)."""
    calls = [("eth_call", [{"to": token, "data": BALANCE_OF_SEL + addr_word(h)}, "latest"]) for h in holders]
    out: dict[str, int] = {}
    for i in range(0, len(calls), 500):
        for h, res in zip(holders[i:i + 500], rpc_batch(url, calls[i:i + 500]), strict=True):
            out[h] = int(res, 16)
    return out


class FaultProxy:
    """A loopback proxy in front of a node that fails the way hosted providers do, mid-sync.

    Every ``every``-th request gets the next fault in turn: a JSON-RPC error object, a timeout
    (answer held past the client's timeout), HTTP 429 with Retry-After, HTTP 502/503; and any
    eth_getLogs whose range exceeds ``max_range`` blocks is refused with Infura's real error.
    """

    FAULTS = ("rpc_error", "timeout", "429", "502", "503", "truncated")

    def __init__(self, upstream: str, every: int = 5, max_range: int = 8, hold: float = 1.5,
                 fail_after: int | None = None, only: str | None = None, latency: float = 0.0,
                 jitter: float = 0.0, seed: int = 0) -> None:
        self.upstream, self.every, self.max_range, self.hold = upstream, every, max_range, hold
        self.latency = latency  # seconds added to every answer (a slow, far node)
        self.slow_batches = 0.0  # seconds added to batch answers only (token metadata after the logs)
        self.jitter, self.rng = jitter, random.Random(seed)
        self.getlogs = 0  # eth_getLogs requests seen
        self.fail_after = fail_after  # from this request on: HTTP 401 (not retriable) -> the run dies
        self.only = only  # fault only requests of this JSON-RPC method (counted among themselves)
        self.n = 0
        self.counts: dict[str, int] = {}
        #: ("in" | "out", the JSON-RPC payload) in the order requests arrived and answers left
        self.events: list[tuple[str, Any]] = []
        self.url = ""
        self._runner: Any = None

    def _count(self, k: str) -> None:
        self.counts[k] = self.counts.get(k, 0) + 1

    async def handle(self, request: Any) -> Any:
        body = await request.read()
        payload = json.loads(body)
        self.events.append(("in", payload))
        try:
            return await self._answer(body, payload)
        finally:
            self.events.append(("out", payload))

    async def _answer(self, body: bytes, payload: Any) -> Any:
        from aiohttp import ClientSession, web

        method = payload.get("method") if isinstance(payload, dict) else None
        self.getlogs += method == "eth_getLogs"
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.slow_batches and isinstance(payload, list):
            await asyncio.sleep(self.slow_batches)
        if self.jitter:
            await asyncio.sleep(self.rng.uniform(0, self.jitter))
        if self.only is None or method == self.only:
            self.n += 1
        if self.fail_after is not None and self.n > self.fail_after:
            return web.Response(status=401, text="invalid API key")
        if self.n % self.every == 0 and (self.only is None or method == self.only):
            fault = self.FAULTS[(self.n // self.every - 1) % len(self.FAULTS)]
            self._count(fault)
            if fault == "rpc_error":
                err = {"code": -32000, "message": "header not found"}
                ans: Any = ([{"jsonrpc": "2.0", "id": c["id"], "error": err} for c in payload]
                            if isinstance(payload, list) else {"jsonrpc": "2.0", "id": payload["id"], "error": err})
                return web.json_response(ans)
            if fault == "timeout":
                await asyncio.sleep(self.hold)
            elif fault == "429":
                return web.Response(status=429, text="Too Many Requests", headers={"Retry-After": "0"})
            elif fault in ("502", "503"):
                return web.Response(status=int(fault), text="<html>bad gateway</html>")
            elif fault == "truncated":
                async with ClientSession() as s, s.post(self.upstream, data=body,
                                                        headers={"Content-Type": "application/json"}) as r:
                    full = await r.read()
                return web.Response(body=full[: max(1, len(full) // 2)], content_type="application/json")
        calls = payload if isinstance(payload, list) else [payload]
        for c in calls:
            if c.get("method") == "eth_getLogs":
                f = c["params"][0]
                span = int(f["toBlock"], 16) - int(f["fromBlock"], 16) + 1
                if span > self.max_range:
                    self._count("range_refused")
                    return web.json_response({"jsonrpc": "2.0", "id": c["id"], "error": {
                        "code": -32005, "message": "query returned more than 10000 results",
                        "data": {"from": f["fromBlock"], "limit": 10000}}})
        async with ClientSession() as s, s.post(self.upstream, data=body,
                                                headers={"Content-Type": "application/json"}) as r:
            return web.Response(body=await r.read(), status=r.status, content_type="application/json")

    async def start(self) -> str:
        from aiohttp import web

        app = web.Application()
        app.router.add_post("/", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def evm_config(db: Path, chain: str, url: str, tokens: Any, **over: Any) -> dict[str, Any]:
    """A tracer config syncing only ``chain`` (the default public chains disabled)."""
    sec = {"chain_id": 31337, "rpc_url": url, "tokens": tokens, "start_block": 0, "confirmations": 0,
           "window": 16, "max_window": 64, "concurrency": 4, **over}
    return {"db": str(db), "connectors": {"evm": {
        "chains": {"ethereum": {"enabled": False}, "polygon": {"enabled": False}, chain: sec},
        "limits": {"concurrency": 8, "rate": 0, "max_retries": 8, "timeout": 1.0, "backoff_base": 0.01,
                   "backoff_max": 0.1}}}}


def toml_of(cfg: dict[str, Any]) -> str:
    """A config dict as TOML (``tracer --config`` reads TOML); scalars and lists as JSON literals,
    which TOML reads the same way."""
    lines: list[str] = []

    def table(prefix: str, d: dict[str, Any]) -> None:
        scalars = {k: v for k, v in d.items() if not isinstance(v, dict)}
        if prefix and scalars:
            lines.append(f"[{prefix}]")
        for k, v in scalars.items():
            lines.append(f"{k} = {json.dumps(v)}")
        for k, v in d.items():
            if isinstance(v, dict):
                table(f"{prefix}.{k}" if prefix else k, v)

    table("", cfg)
    return "\n".join(lines) + "\n"
