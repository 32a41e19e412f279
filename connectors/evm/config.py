"""Configuration schema of the EVM connector: one table per chain under ``chains``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

from connectors.config import SECRET_URL, ConnectorConfig, Limits, limits, to_dict

CHAINALYSIS_ORACLE = "0x40c57923924b5c5c5455c48d93317139addac8fb"
# Token contracts renters pay with (lower-case). GLM (Golem), USDC/USDT, RNDR (Render's legacy ERC-20).
ETHEREUM_TOKENS = {
    "USDC": "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48",
    "USDT": "0xdac17f958d2ee523a2206206994597c13d831ec7",
    "GLM": "0x7dd9c5cba05e151c895fde1cf355c9a1d5da6429",
    "RNDR": "0x6de037ef9ad2725eb40118bb1702ebb27e4aeb24",
}
POLYGON_TOKENS = {
    "GLM": "0x0b220b82f3ea3b7f6d9a1d8ab58930c064a2b5bf",
    "USDC": "0x3c499c542cef5e3811e1192ce70d8cc03d5c3359",
    "USDC.e": "0x2791bca1f2de4661ed88a30c99a7a9449aa84174",
    "USDT": "0xc2132d05d31c914a87c6611c10748aeb04b58e8f",
}


def _d(text: str) -> Meta:
    return Meta(description=text)


class EvmChain(Struct, forbid_unknown_fields=True, kw_only=True):
    """One EVM chain: its node, the tokens followed, and how far behind the head the stream stays."""

    rpc_url: Annotated[str, SECRET_URL, _d(
        "JSON-RPC endpoint; provider keys in its path or query are secrets (never logged)")]
    enabled: Annotated[bool, _d("sync this chain")] = True
    chain_id: Annotated[int | None, _d("checked against eth_chainId before syncing (unset: not checked)")] = None
    tokens: Annotated[Literal["all"] | list[str], _d(
        'ERC-20/721 contracts whose transfers are kept (0x addresses), or "all"')] = "all"
    start_block: Annotated[int, _d(
        "first block of the first run; negative: that many blocks below the confirmed head")] = -10_000
    confirmations: Annotated[int, _d("sync only up to head - confirmations (no orphaned blocks)")] = 12
    reorg_depth: Annotated[int | None, _d(
        "blocks re-checked at each run start; unset: confirmations, at least 16")] = None
    window: Annotated[int, _d("the first run's eth_getLogs block range; then adaptive (kept in state)")] = 20
    max_window: Annotated[int, _d("largest eth_getLogs block range")] = 2000
    min_window: Annotated[int, _d("smallest eth_getLogs block range")] = 1
    target_logs: Annotated[int, _d("the window settles where an answer holds about this many logs (0: off)")] = 5000
    native_decode: Annotated[bool, _d(
        "decode eth_getLogs answers with the compiled C scanner when it is installed (false: Python only; "
        "the same rows, ~5x the CPU)")] = True
    decode_workers: Annotated[int, _d(
        "processes that parse and decode big eth_getLogs answers the C scanner leaves to Python "
        "(0: on the event loop)")] = 1
    offload_bytes: Annotated[int, _d("answers at least this big go to those processes")] = 1_000_000
    concurrency: Annotated[int, _d("eth_getLogs windows in flight")] = 4
    batch_size: Annotated[int, _d("calls per JSON-RPC batch (headers, eth_call)")] = 200
    rpc_retries: Annotated[int, _d("retries of a JSON-RPC error the node calls transient")] = 6
    sanctions_oracle: Annotated[str, _d("Chainalysis sanctions oracle contract (isSanctioned)")] = \
        CHAINALYSIS_ORACLE
    check_sanctions: Annotated[bool, _d("ask the oracle about every wallet seen")] = False
    sanctions_max_wallets: Annotated[int, _d("wallets checked with the oracle per run")] = 20_000


def chain_defaults() -> dict[str, Any]:
    """The defaults of a chain table, for a chain the user adds (``rpc_url`` and ``chain_id`` are the
    chain's own, so not among them): a fresh dict per call."""
    return {k: v for k, v in to_dict(EvmChain(rpc_url="")).items() if k not in ("rpc_url", "chain_id")}


def _chains() -> dict[str, EvmChain]:
    return {
        "ethereum": EvmChain(chain_id=1, rpc_url="https://ethereum-rpc.publicnode.com",
                             tokens=sorted(ETHEREUM_TOKENS.values()), confirmations=12),
        "polygon": EvmChain(chain_id=137, rpc_url="https://polygon-bor-rpc.publicnode.com",
                            tokens=sorted(POLYGON_TOKENS.values()), confirmations=128),
    }


class EvmConfig(ConnectorConfig, kw_only=True):
    """EVM token transfers (ERC-20 payments, ERC-721 apart) via JSON-RPC eth_getLogs, one stream per chain."""

    chains: Annotated[dict[str, EvmChain], _d(
        "chains by name (each becomes the stream evm.<name>_transfers); add a table to add a chain")] = \
        msgspec.field(default_factory=_chains)
    limits: Limits = limits(concurrency=8, rate=0, max_retries=6, timeout=60)


SCHEMAS: dict[str, type[Struct]] = {"evm": EvmConfig}
