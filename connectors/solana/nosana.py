"""Nosana jobs and markets decoded from Solana accounts of the Jobs program.

Every Nosana job is an account of program ``nosJhNRqr2bc9g1nfGDcXXTXvYUmxD4cVwy2pMWhrYM`` holding the
renter (``project``), the node that ran it, the market (one per GPU class), the price and times.
``getProgramAccounts`` (base64, filtered by the Anchor discriminator and, per configured market, by
the ``market`` field) fetches them; this module decodes them with the layouts below.

Layouts (data, not code) -- source: nosana-ci/nosana-programs ``programs/nosana-jobs/src/state.rs``
(``JobAccount`` with ``timeout``, ``MarketAccount`` with ``node_xnos_minimum: u128``) and
``docs/jobs.md`` (discriminators ``5b10a2052dd27d41`` / ``c94ebbe1f0c6c9fb`` = sha256("account:<Name>")[:8]).
Anchor stores accounts Borsh-packed after the 8-byte discriminator (i64/u64 = 8 bytes, u128 = 16,
``Vec`` = u32 length + items); the "Offset" column of the generated docs counts i64 as 16 bytes and
does not match the packed layout, so offsets here are computed from the field order.

Money: the job deposit is ``price * timeout`` NOS base units (6 decimals) taken from the project's
token account (``list.rs``: ``user`` debited, ``authority`` = project signs; ``payer`` only pays the
SOL rent); a finished job reimburses the node ``price * min(time_end - time_start, timeout)``
(``state.rs`` ``get_reimbursement``).  That amount is the ``paid`` edge project -> node.  Jobs of
the older layout (no ``timeout``) carry a flat ``price``.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, ClassVar

import base58

from connectors import facts, ids
from connectors.base import (
    EDGES,
    ENTITIES,
    OBSERVATIONS,
    REJECTED,
    Column,
    ConnectorError,
    Page,
    Probe,
    Record,
    RunContext,
    Stream,
    Table,
    item_records,
)
from connectors.config import TypedConfig
from connectors.solana.config import NosanaConfig
from connectors.solana.connector import CHAIN, rfc3339, wallet_record

SOURCE = "nosana-jobs"
MARKET = "nosana"  # the id space of Nosana jobs and nodes, and the source part of its edge ids
NOS_DECIMALS = 6
SYSTEM_PROGRAM = "11111111111111111111111111111111"  # an unset Pubkey (all zero bytes)

# (field, type) in Borsh order after the discriminator.  Types: pubkey, bytes32, u8, u64, i64, u128,
# vec<pubkey>.  Fields after OPTIONAL_FROM may be absent in accounts written by older program versions.
JOB_LAYOUT: tuple[tuple[str, str], ...] = (
    ("ipfs_job", "bytes32"), ("ipfs_result", "bytes32"), ("market", "pubkey"), ("node", "pubkey"),
    ("payer", "pubkey"), ("price", "u64"), ("project", "pubkey"), ("state", "u8"), ("time_end", "i64"),
    ("time_start", "i64"), ("timeout", "i64"),
)
MARKET_LAYOUT: tuple[tuple[str, str], ...] = (
    ("authority", "pubkey"), ("job_expiration", "i64"), ("job_price", "u64"), ("job_timeout", "i64"),
    ("job_type", "u8"), ("vault", "pubkey"), ("vault_bump", "u8"), ("node_access_key", "pubkey"),
    ("node_xnos_minimum", "u128"), ("queue_type", "u8"), ("queue", "vec<pubkey>"),
)
OPTIONAL_FROM = {"JobAccount": "timeout"}
JOB_STATES = {0: "queued", 1: "running", 2: "done", 3: "stopped"}
QUEUE_TYPES = {0: "job", 1: "node", 2: "empty"}
_SIZES = {"pubkey": 32, "bytes32": 32, "u8": 1, "u64": 8, "i64": 8, "u128": 16}


def discriminator(account: str) -> bytes:
    """Anchor's account discriminator: the first 8 bytes of sha256("account:<Name>")."""
    return hashlib.sha256(f"account:{account}".encode()).digest()[:8]


JOB_DISC, MARKET_DISC = discriminator("JobAccount"), discriminator("MarketAccount")


def decode(layout: Sequence[tuple[str, str]], data: bytes, account: str = "") -> dict[str, Any]:
    """Decode a Borsh-packed Anchor account (discriminator checked by the caller)."""
    out: dict[str, Any] = {}
    pos = 8
    optional = OPTIONAL_FROM.get(account)
    for i, (name, typ) in enumerate(layout):
        if typ == "vec<pubkey>":
            if pos + 4 > len(data):
                raise ConnectorError(f"{account or 'account'}: truncated at {name}")
            n = int.from_bytes(data[pos:pos + 4], "little")
            pos += 4
            if pos + 32 * n > len(data):
                raise ConnectorError(f"{account or 'account'}: {name} claims {n} items, data too short")
            out[name] = [base58.b58encode(data[pos + 32 * k:pos + 32 * (k + 1)]).decode() for k in range(n)]
            pos += 32 * n
            continue
        size = _SIZES[typ]
        chunk = data[pos:pos + size]
        if len(chunk) < size:
            if optional and name == optional:
                out.update({rest: None for rest, _ in layout[i:]})
                break
            raise ConnectorError(f"{account or 'account'}: truncated at {name} (offset {pos})")
        if typ == "pubkey":
            out[name] = base58.b58encode(chunk).decode()
        elif typ == "bytes32":
            out[name] = chunk
        else:
            out[name] = int.from_bytes(chunk, "little", signed=typ == "i64")
        pos += size
    return out


def ipfs_cid(h: bytes) -> str | None:
    """Nosana stores the sha2-256 digest of an IPFS CIDv0; all zeros means unset."""
    return None if not any(h) else base58.b58encode(b"\x12\x20" + h).decode()


def encode(layout: Sequence[tuple[str, str]], values: Mapping[str, Any], disc: bytes, size: int = 0) -> bytes:
    """The inverse of :func:`decode` (the demo world writes accounts with it), zero-padded to ``size``."""
    out = bytearray(disc)
    for name, typ in layout:
        v = values.get(name)
        if typ == "pubkey":
            out += base58.b58decode(v or SYSTEM_PROGRAM).rjust(32, b"\x00")
        elif typ == "bytes32":
            out += bytes(v or b"").ljust(32, b"\x00")
        elif typ == "vec<pubkey>":
            items = list(v or [])
            out += len(items).to_bytes(4, "little") + b"".join(base58.b58decode(x) for x in items)
        else:
            out += int(v or 0).to_bytes(_SIZES[typ], "little", signed=typ == "i64")
    return bytes(out.ljust(size, b"\x00"))


def job_payment(job: Mapping[str, Any]) -> int | None:
    """NOS base units the node is reimbursed for a finished job (None when not done or no node)."""
    if job.get("state") != 2 or job.get("node") in (None, SYSTEM_PROGRAM):
        return None
    if job.get("timeout") is None:
        return int(job["price"])
    ran = max(0, int(job["time_end"]) - int(job["time_start"]))
    return int(job["price"]) * max(0, min(ran, int(job["timeout"])))  # a corrupt negative timeout pays 0


class AccountDataError(ConnectorError, ValueError):
    """An account item that is not ``[<base64>, "base64"]``: that item is rejected, not the page."""


def account_data(item: Mapping[str, Any]) -> bytes:
    """Bytes of a ``getProgramAccounts`` item (``account.data = [<base64>, "base64"]``)."""
    data = (item.get("account") or {}).get("data")
    if not (isinstance(data, list) and len(data) == 2 and data[1] == "base64"):
        raise AccountDataError("getProgramAccounts item is not base64-encoded (ask for encoding=base64)")
    return base64.b64decode(data[0])


MARKETS = Table(
    "nosana_markets",
    (Column("address"), Column("authority"), Column("job_price"), Column("job_timeout", "INTEGER"),
     Column("job_expiration", "INTEGER"), Column("job_type", "INTEGER"), Column("node_access_key"),
     Column("node_xnos_minimum"), Column("queue_type"), Column("queue_len", "INTEGER"), Column("gpu_id"),
     Column("first_seen"), Column("last_seen")),
    pk=("address",), keep_first_seen=("first_seen",),
)
JOBS = Table(
    "nosana_jobs",
    (Column("address"), Column("market"), Column("node"), Column("payer"), Column("project"), Column("price"),
     Column("state", "INTEGER"), Column("state_name"), Column("time_start", "INTEGER"), Column("time_end", "INTEGER"),
     Column("timeout", "INTEGER"), Column("ipfs_job"), Column("ipfs_result"), Column("gpu_id"), Column("paid"),
     Column("first_seen"), Column("last_seen")),
    pk=("address",), keep_first_seen=("first_seen",), indexes=(("market",), ("project",), ("node",)),
)


class JobsStream:
    """Market accounts, then the job accounts of each configured market (or of all markets)."""

    name: ClassVar[str] = "nosana.jobs"
    primary_key: ClassVar[tuple[str, ...]] = ("address",)
    cursor_field: ClassVar[str | None] = None
    is_sorted: ClassVar[bool] = False
    tables: ClassVar[tuple[Table, ...]] = (MARKETS, JOBS, ENTITIES, EDGES, OBSERVATIONS, REJECTED)

    def __init__(self, config: dict[str, Any]) -> None:
        self.rpc = str(config["rpc_url"])
        self.program = str(config["program_id"])
        self.markets = {str(k): v for k, v in (config.get("markets") or {}).items()}
        self.all_markets = bool(config.get("all_markets", False))
        self.mint = str(config["nos_mint"])

    def _filters(self, disc: bytes, market: str | None = None) -> list[dict[str, Any]]:
        f: list[dict[str, Any]] = [{"memcmp": {"offset": 0, "bytes": base58.b58encode(disc).decode()}}]
        if market:
            f.append({"memcmp": {"offset": 8 + 32 + 32, "bytes": market}})  # JobAccount.market
        return f

    async def extract(self, ctx: RunContext, state: dict[str, Any]) -> AsyncIterator[Page]:
        calls: list[tuple[str, str | None]] = [("markets", None)]
        calls += [("jobs", None)] if self.all_markets else [("jobs", m) for m in sorted(self.markets)]
        for i, (what, market) in enumerate(calls):
            disc = MARKET_DISC if what == "markets" else JOB_DISC
            params = [self.program, {"encoding": "base64", "commitment": "finalized",
                                     "filters": self._filters(disc, market)}]
            items, resp = await ctx.http.rpc(self.rpc, "getProgramAccounts", params)
            ctx.report(1, len(calls), f"{what} {market or ''}".strip())
            yield Page(body=resp.body, url=resp.url, method="rpc:getProgramAccounts",
                       data={"what": what, "market": market, "items": items or [], "at": ctx.now},
                       state={"done": i + 1, "at": ctx.now})

    def transform(self, page: Page) -> Iterator[Record]:
        at = page.data["at"]
        for item in page.data["items"]:  # account by account: a malformed one is one rejected_inputs row
            yield from item_records(self.name, item, at, lambda x: self._account(x, page.data["what"], at), "nosana")

    def _account(self, item: Mapping[str, Any], what: str, at: str) -> Iterator[Record]:
        raw = account_data(item)
        if what == "markets":
            if raw[:8] == MARKET_DISC:
                yield from self._market(str(item["pubkey"]), decode(MARKET_LAYOUT, raw, "MarketAccount"), at)
        elif raw[:8] == JOB_DISC:
            yield from self._job(str(item["pubkey"]), decode(JOB_LAYOUT, raw, "JobAccount"), at)

    def _market(self, addr: str, m: dict[str, Any], at: str) -> Iterator[Record]:
        yield Record("nosana_markets", {
            "address": addr, "authority": m["authority"], "job_price": str(m["job_price"]),
            "job_timeout": m["job_timeout"], "job_expiration": m["job_expiration"], "job_type": m["job_type"],
            "node_access_key": m["node_access_key"], "node_xnos_minimum": str(m["node_xnos_minimum"]),
            "queue_type": QUEUE_TYPES.get(m["queue_type"], str(m["queue_type"])), "queue_len": len(m["queue"]),
            "gpu_id": self.markets.get(addr), "first_seen": at, "last_seen": at})

    def _job(self, addr: str, j: dict[str, Any], at: str) -> Iterator[Record]:
        gid = self.markets.get(j["market"])
        node = None if j["node"] == SYSTEM_PROGRAM else j["node"]
        paid = job_payment(j)
        t_start, t_end = rfc3339(j["time_start"] or None), rfc3339(j["time_end"] or None)
        jid, renter = ids.job(MARKET, addr), ids.wallet_raw(CHAIN, j["project"])
        yield Record("nosana_jobs", {
            "address": addr, "market": j["market"], "node": node, "payer": j["payer"], "project": j["project"],
            "price": str(j["price"]), "state": j["state"], "state_name": JOB_STATES.get(j["state"], str(j["state"])),
            "time_start": j["time_start"], "time_end": j["time_end"], "timeout": j["timeout"],
            "ipfs_job": ipfs_cid(j["ipfs_job"]), "ipfs_result": ipfs_cid(j["ipfs_result"]), "gpu_id": gid,
            "paid": None if paid is None else str(paid), "first_seen": at, "last_seen": at})
        yield facts.entity_stated(jid, SOURCE, at, chain=CHAIN, address=addr, label=f"Nosana job {addr[:8]}",
                                  attrs={"market": j["market"], "state": JOB_STATES.get(j["state"]),
                                         "ipfs_job": ipfs_cid(j["ipfs_job"]), "rent_payer": j["payer"]})
        yield wallet_record(j["project"], SOURCE, at)
        yield facts.observation(renter, "role", "renter", SOURCE, at, observed_at=t_start or at,
                                id_=facts.observation_id(MARKET, "role", j["project"]),
                                attrs={"market": MARKET})
        yield facts.edge(ids.edge(MARKET, "rented", addr), "rented", renter, jid, SOURCE, at, chain=CHAIN,
                         time=t_start, attrs={"market": j["market"]})
        if gid:
            yield facts.edge(ids.edge(MARKET, "uses_gpu", addr), "uses_gpu", jid, ids.gpu(gid), SOURCE, at,
                             time=t_start, attrs={"units": 1, "market": j["market"]})
        if node is None:
            return
        pid, nwallet = ids.provider(MARKET, node), ids.wallet_raw(CHAIN, node)
        yield facts.entity_stated(pid, SOURCE, at, chain=CHAIN, address=node, label=f"Nosana node {node[:8]}",
                                  attrs={"market": MARKET})
        yield wallet_record(node, SOURCE, at)
        yield facts.edge(ids.edge(MARKET, "leased_from", addr), "leased_from", jid, pid, SOURCE, at,
                         chain=CHAIN, time=t_start)
        yield facts.edge(ids.edge(MARKET, "payout_to", node), "payout_to", pid, nwallet, SOURCE, at,
                         chain=CHAIN, attrs={"note": "a Nosana node is paid to its own key"})
        if paid is not None:
            yield facts.edge(
                ids.edge(MARKET, "paid", addr), "paid", renter, nwallet, SOURCE, at, chain=CHAIN,
                asset=ids.token(CHAIN, self.mint), amount=paid, decimals=NOS_DECIMALS, time=t_end,
                attrs={"job": jid, "price_per_second": str(j["price"]), "timeout": j["timeout"],
                       "rent_payer": j["payer"], "basis": "price * min(time_end - time_start, timeout)"
                       if j["timeout"] is not None else "price (flat, older program)"})


class NosanaConnector(TypedConfig):
    """Nosana jobs (project -> node, market GPU class, NOS price) decoded from Solana accounts."""

    name: ClassVar[str] = "nosana"
    description: ClassVar[str] = "Nosana job and market accounts (Solana getProgramAccounts): renter, node, GPU, NOS paid"
    schema = NosanaConfig

    def streams(self, config: dict[str, Any]) -> list[Stream]:
        return [JobsStream(config)]

    def probes(self, config: dict[str, Any]) -> list[Probe]:
        return [Probe("rpc", str(config["rpc_url"]), rpc_method="getHealth")]

