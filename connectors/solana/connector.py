"""SPL token transfers (RENDER, IO, NOS, USDC...) from Solana JSON-RPC, as ``paid`` edges between owners.

Walk: ``getSignaturesForAddress`` over each followed address (by default the configured mints), newest
first, paging with ``before``; an incremental run stops at ``until`` = the newest signature a
finished walk saw.  Each page of signatures is fetched with ``getTransaction`` (``jsonParsed``,
``maxSupportedTransactionVersion: 0``) in JSON-RPC batches.  An interrupted walk resumes from the
last fetched signature (the pending ``before`` in the stream state).

Transfers come from SPL Token (and Token-2022) ``transfer`` / ``transferChecked`` instructions, top
level and inner (CPI), so program-mediated payments such as Nosana's job deposits are seen.  A
plain ``transfer`` does not name its mint: the mint, decimals and the *owner* of each token account
come from the transaction's pre/post token balances (``accountIndex, mint, owner, uiTokenAmount``).
Edges run between owner wallets (``wallet:solana:<owner>``), with the token accounts in attrs.
Amounts are the exact integer base units (decimal text) plus ``decimals``.

Gap: a mint address only appears in a plain ``transfer`` transaction when the mint account is
referenced, so following a mint sees ``transferChecked`` traffic (what current wallets send) but
can miss plain transfers; follow wallet or token-account addresses (``addresses``) for completeness.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any, ClassVar

from connectors import facts, ids
from connectors.base import (
    EDGES,
    ENTITIES,
    ITEM_ERRORS,
    REJECTED,
    Column,
    ConnectorError,
    Page,
    Probe,
    Record,
    RunContext,
    Stream,
    Table,
    check_uint256,
    item_records,
)
from connectors.config import TypedConfig
from connectors.http import JsonRpcError
from connectors.solana.config import SolanaConfig

SOURCE = "solana-rpc"
CHAIN = "solana"
TOKEN_PROGRAMS = {"spl-token", "spl-token-2022"}
TRANSFER_TYPES = {"transfer", "transferChecked"}
# Supply changes kept as rows (no edge: a burn pays no wallet). RENDER's burn-mint equilibrium burns
# the tokens clients pay with, so "who burned RENDER" is who paid for rendering.
SUPPLY_TYPES = {"burn": "source", "burnChecked": "source", "mintTo": "destination", "mintToChecked": "destination"}

# Column names follow blockchain-etl solana-etl ``token_transfers`` (tx_signature, source, ...).
TRANSFERS = Table(
    "solana_token_transfers",
    (Column("tx_signature"), Column("ix_path"), Column("block_slot", "INTEGER"), Column("block_timestamp"),
     Column("source"), Column("destination"), Column("authority"), Column("value"), Column("decimals", "INTEGER"),
     Column("mint"), Column("source_owner"), Column("destination_owner"), Column("transfer_type")),
    pk=("tx_signature", "ix_path"),
    indexes=(("mint", "block_slot"), ("source_owner",), ("destination_owner",)),
)
SIGNATURES = Table(
    "solana_signatures",
    (Column("address"), Column("signature"), Column("slot", "INTEGER"), Column("block_time", "INTEGER"),
     Column("err")),
    pk=("address", "signature"),
)


def rfc3339(block_time: int | None) -> str | None:
    if block_time is None:
        return None
    return dt.datetime.fromtimestamp(int(block_time), dt.UTC).isoformat().replace("+00:00", "Z")


def _key(k: Any) -> str:
    return k["pubkey"] if isinstance(k, dict) else str(k)


def token_accounts(tx: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Token account -> {mint, owner, decimals} from pre/post token balances (post wins)."""
    keys = [_key(k) for k in tx["transaction"]["message"].get("accountKeys", [])]
    meta = tx.get("meta") or {}
    out: dict[str, dict[str, Any]] = {}
    for bal in (meta.get("preTokenBalances") or []) + (meta.get("postTokenBalances") or []):
        i = bal.get("accountIndex")
        if isinstance(i, int) and 0 <= i < len(keys):
            ui = bal.get("uiTokenAmount") or {}
            out[keys[i]] = {"mint": bal.get("mint"), "owner": bal.get("owner"), "decimals": ui.get("decimals")}
    return out


def _instructions(tx: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(path, instruction): top level as "i", inner (CPI) as "i.j", in execution order."""
    inner: dict[int, list[Any]] = {}
    for grp in (tx.get("meta") or {}).get("innerInstructions") or []:
        inner.setdefault(int(grp["index"]), []).extend(grp.get("instructions") or [])
    for i, ix in enumerate(tx["transaction"]["message"].get("instructions", [])):
        yield str(i), ix
        for j, sub in enumerate(inner.get(i, [])):
            yield f"{i}.{j}", sub


def spl_transfers(tx: Mapping[str, Any], mints: set[str] | None = None) -> list[dict[str, Any]]:
    """Every SPL ``transfer``/``transferChecked`` (and ``burn``/``mintTo``, one side empty) of a jsonParsed
    transaction, owner-resolved.

    Failed transactions (``meta.err`` set) move nothing and give no rows.  ``mints`` keeps only
    transfers of those mints (None keeps all).
    """
    meta = tx.get("meta") or {}
    if meta.get("err") is not None:
        return []
    sig = tx["transaction"]["signatures"][0]
    accts = token_accounts(tx)
    rows = []
    for path, ix in _instructions(tx):
        parsed = ix.get("parsed")
        if ix.get("program") not in TOKEN_PROGRAMS or not isinstance(parsed, dict):
            continue
        kind = parsed.get("type")
        if kind not in TRANSFER_TYPES and kind not in SUPPLY_TYPES:
            continue
        info = parsed.get("info") or {}
        src, dst = info.get("source"), info.get("destination")
        if kind in SUPPLY_TYPES:  # burn: tokens leave `account`; mintTo: tokens arrive in `account`
            src, dst = (info.get("account"), None) if SUPPLY_TYPES[kind] == "source" else (None, info.get("account"))
        authority = info.get("authority") or info.get("multisigAuthority") or info.get("mintAuthority")
        ta = info.get("tokenAmount") or {}
        amount = info.get("amount", ta.get("amount"))
        a_src, a_dst = accts.get(str(src), {}), accts.get(str(dst), {})
        mint = info.get("mint") or a_src.get("mint") or a_dst.get("mint")
        decimals = ta.get("decimals", a_src.get("decimals", a_dst.get("decimals")))
        if amount is None or mint is None or (mints is not None and mint not in mints):
            continue
        rows.append({
            "tx_signature": sig, "ix_path": path, "block_slot": tx.get("slot"),
            "block_timestamp": rfc3339(tx.get("blockTime")), "source": src, "destination": dst,
            "authority": authority, "value": check_uint256(int(amount)), "decimals": decimals, "mint": mint,
            "source_owner": (a_src.get("owner") or authority) if src else None, "destination_owner": a_dst.get("owner"),
            "transfer_type": parsed["type"],
            "owner_resolution": ("balances" if a_src.get("owner") else "authority") + "/"
                                + ("balances" if a_dst.get("owner") else "token-account"),
        })
    return rows


def transfer_records(row: Mapping[str, Any], source: str = SOURCE) -> Iterator[Record]:
    """The table row, owner wallet entities and the ``paid`` edge of one transfer row."""
    yield Record("solana_token_transfers", {k: v for k, v in row.items() if k != "owner_resolution"})
    src = row["source_owner"] or row["source"]
    dst = row["destination_owner"] or row["destination"]
    t = row["block_timestamp"]
    for addr in (src, dst):
        if addr:
            yield wallet_record(addr, source, t)
    if not src or not dst:  # a burn or a mint: the row says who, no wallet was paid
        return
    yield facts.edge(
        ids.edge(CHAIN, row["tx_signature"], row["ix_path"]), "paid", ids.wallet_raw(CHAIN, src),
        ids.wallet_raw(CHAIN, dst), source, t, chain=CHAIN, asset=ids.token(CHAIN, row["mint"]),
        amount=row["value"], decimals=row["decimals"], time=t, block=row["block_slot"],
        tx=row["tx_signature"],
        attrs={"source_account": row["source"], "destination_account": row["destination"],
               "authority": row["authority"], "type": row["transfer_type"],
               "owner_resolution": row["owner_resolution"]})


def wallet_record(address: str, source: str, at: str) -> Record:
    """The entity of a Solana wallet as an RPC answer names it (base58, case kept; not re-validated).

    It states no label or attrs: a transfer or job knows none, and writing them empty would blank the
    label a tag list or another source gave the same wallet on every re-sync.
    """
    return facts.wallet_of(ids.wallet_raw(CHAIN, address), source, at)


class TransfersStream:
    """Signatures of each followed address (newest first), their transactions, the transfers in them."""

    name: ClassVar[str] = "solana.transfers"
    primary_key: ClassVar[tuple[str, ...]] = ("tx_signature", "ix_path")
    cursor_field: ClassVar[str | None] = None  # opaque: a signature per address (newest first), not ordered text
    is_sorted: ClassVar[bool] = True
    tables: ClassVar[tuple[Table, ...]] = (TRANSFERS, SIGNATURES, ENTITIES, EDGES, REJECTED)

    def __init__(self, config: dict[str, Any]) -> None:
        self.rpc = str(config["rpc_url"])
        self.mints = {str(v) for v in (config.get("mints") or {}).values()}
        # Default walk: the market tokens' mints. USDC's mint sees millions of transactions a day: its
        # transfers are kept when they appear in walked transactions, but it is not walked itself.
        self.addresses = [str(a) for a in (config.get("addresses") or [])] or sorted(
            self.mints - set(config.get("skip_walking") or ()))
        self.page_size = max(1, min(1000, int(config.get("page_size", 1000))))
        self.batch = max(1, int(config.get("batch_size", 20)))
        self.max_signatures = int(config.get("max_signatures", 5000))
        self.commitment = str(config.get("commitment", "finalized"))

    async def _transactions(self, ctx: RunContext, sigs: list[str]) -> tuple[list[Any], Any]:
        params = {"encoding": "jsonParsed", "commitment": self.commitment, "maxSupportedTransactionVersion": 0}
        if len(sigs) == 1:  # some RPC providers refuse batch arrays: batch_size = 1 sends plain calls
            result, resp = await ctx.http.rpc(self.rpc, "getTransaction", [sigs[0], params])
            return [result], resp
        results, resp = await ctx.http.rpc_batch(self.rpc, [("getTransaction", [s, params]) for s in sigs])
        for r in results:
            if isinstance(r, JsonRpcError):
                raise ConnectorError(f"getTransaction: {r}")
        return results, resp

    async def extract(self, ctx: RunContext, state: dict[str, Any]) -> AsyncIterator[Page]:
        """Per address: walk back from the head (or from a pending ``before``) to ``until``.

        A walk cut by ``max_signatures`` stays pending and continues, further back, in the next run;
        only a finished walk moves ``newest`` (the next run's ``until``) to the head it started from.
        """
        newest: dict[str, str] = dict(state.get("newest") or {})
        pending: dict[str, Any] = dict(state.get("pending") or {})
        for n, addr in enumerate(self.addresses):
            p = pending.get(addr) or {}
            until, before, head, count, done = newest.get(addr), p.get("before"), p.get("head"), 0, False
            while not done:
                if count >= self.max_signatures:
                    break
                opts: dict[str, Any] = {"limit": min(self.page_size, self.max_signatures - count),
                                        "commitment": self.commitment}
                if before:
                    opts["before"] = before
                if until:
                    opts["until"] = until
                sigs, resp = await ctx.http.rpc(self.rpc, "getSignaturesForAddress", [addr, opts])
                if not sigs:
                    done = True
                    break
                # Cursors come from well-formed entries only (a malformed one is rejected by transform).
                valid = valid_signatures(sigs)
                if not valid:
                    raise ConnectorError(f"getSignaturesForAddress {addr}: no entry of the page has a signature; "
                                         "cannot page further back")
                head = head or valid[0]["signature"]
                yield Page(body=resp.body, url=resp.url, method="rpc:getSignaturesForAddress",
                           data={"address": addr, "signatures": sigs}, state=None)
                ok = [s["signature"] for s in valid if s.get("err") is None]
                for i in range(0, len(ok), self.batch):
                    chunk = ok[i:i + self.batch]
                    results, bresp = await self._transactions(ctx, chunk)
                    pending[addr] = {"before": chunk[-1], "head": head}
                    ctx.report(len(chunk), None, addr[:8])
                    yield Page(body=bresp.body, url=bresp.url, method="rpc:getTransaction",
                               data={"address": addr, "transactions": [r for r in results if r]},
                               state={"newest": dict(newest), "pending": dict(pending)})
                before, count = valid[-1]["signature"], count + len(sigs)
                pending[addr] = {"before": before, "head": head}
                done = len(sigs) < opts["limit"]
            if done:
                if head:
                    newest[addr] = head
                pending.pop(addr, None)
            body = json.dumps({"address": addr, "newest": newest.get(addr), "pending": pending.get(addr)}).encode()
            yield Page(body=body, url=self.rpc, method="derive:cursor", data={"address": addr},
                       state={"newest": dict(newest), "pending": dict(pending), "done": n + 1})

    def transform(self, page: Page) -> Iterator[Record]:
        # Entry by entry: a malformed one is one rejected_inputs row (context solana), never the page.
        if page.method == "rpc:getSignaturesForAddress":
            for s in page.data["signatures"]:
                yield from item_records(self.name, s, page.fetched_at,
                                        lambda x: [signature_record(page.data["address"], x)], "solana")
        elif page.method == "rpc:getTransaction":
            for tx in page.data["transactions"]:
                yield from item_records(self.name, tx, page.fetched_at, self._tx_records, "solana")

    def _tx_records(self, tx: Mapping[str, Any]) -> Iterator[Record]:
        for row in spl_transfers(tx, self.mints or None):
            yield from transfer_records(row)


def signature_record(address: str, s: Mapping[str, Any]) -> Record:
    if not isinstance(s.get("signature"), str) or not s["signature"]:
        raise ValueError("signature entry has no signature text")
    return Record("solana_signatures", {"address": address, "signature": s["signature"], "slot": s.get("slot"),
                                        "block_time": s.get("blockTime"), "err": s.get("err")})


def valid_signatures(sigs: Any) -> list[Mapping[str, Any]]:
    """The entries of a getSignaturesForAddress answer that have a signature (the others are rejected)."""
    out = []
    for s in sigs if isinstance(sigs, list) else []:
        try:
            signature_record("", s)
        except ITEM_ERRORS:
            continue
        out.append(s)
    return out


class SolanaConnector(TypedConfig):
    """Solana SPL token transfers for configured mints (RENDER, IO, NOS, USDC) via JSON-RPC."""

    name: ClassVar[str] = "solana"
    description: ClassVar[str] = "Solana SPL transfers of configured mints (RENDER, IO, NOS, USDC) as paid edges"
    schema = SolanaConfig

    def streams(self, config: dict[str, Any]) -> list[Stream]:
        return [TransfersStream(config)]

    def probes(self, config: dict[str, Any]) -> list[Probe]:
        return [Probe("rpc", str(config["rpc_url"]), rpc_method="getHealth")]

