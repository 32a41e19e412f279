"""Configuration schemas of the Solana connectors (SPL token transfers, Nosana jobs)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

from connectors.config import SECRET_URL, ConnectorConfig, Limits, limits

SOLANA_RPC = "https://api.mainnet-beta.solana.com"
MINTS = {
    "RENDER": "rndrizKT3MK1iimdxRdWabcF7Zg7AR5T4nud4EkHBof",
    "IO": "BZLbGTNCSFfoth2GYDtwr7e4imWzpR5jqcUuGEwr646K",
    "NOS": "nosXBVoaCTtYdLvKY6Csb4AC8JCdQKKAaWYtx2ZMoo7",
    "USDC": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
}
NOSANA_PROGRAM = "nosJhNRqr2bc9g1nfGDcXXTXvYUmxD4cVwy2pMWhrYM"
NOSANA_RTX4090_MARKET = "RXP7JK8MTY4uPJng4UjC9ZJdDDSG6wGr8pvVf3mwgXF"

_RPC = Meta(description="Solana JSON-RPC endpoint (keys in its path or query are secrets: never logged)")


class SolanaConfig(ConnectorConfig, kw_only=True):
    """SPL token transfers (RENDER, IO, NOS, USDC...) from Solana JSON-RPC, as payments between owners."""

    rpc_url: Annotated[str, SECRET_URL, _RPC] = SOLANA_RPC
    mints: Annotated[dict[str, str], Meta(description="tokens whose transfers are kept: symbol = mint address")] = \
        msgspec.field(default_factory=lambda: dict(MINTS))
    addresses: Annotated[list[str], Meta(description=(
        "addresses whose signatures are walked (wallets, token accounts); empty = the mints above"))] = []
    skip_walking: Annotated[list[str], Meta(description=(
        "mints not walked by default (USDC: millions of transactions a day); still kept when seen"))] = \
        msgspec.field(default_factory=lambda: [MINTS["USDC"]])
    page_size: Annotated[int, Meta(description="getSignaturesForAddress limit per call")] = 1000
    batch_size: Annotated[int, Meta(description="getTransaction calls per JSON-RPC batch")] = 20
    max_signatures: Annotated[int, Meta(description="signatures walked per address and run")] = 5000
    commitment: Annotated[Literal["processed", "confirmed", "finalized"], Meta(description=(
        "how settled a transaction must be to be read"))] = "finalized"
    limits: Limits = limits(concurrency=2, rate=4, timeout=60)


class NosanaConfig(ConnectorConfig, kw_only=True):
    """Nosana jobs and markets decoded from the accounts of the Nosana Jobs program on Solana."""

    rpc_url: Annotated[str, SECRET_URL, _RPC] = SOLANA_RPC
    program_id: Annotated[str, Meta(description="the Nosana Jobs program")] = NOSANA_PROGRAM
    markets: Annotated[dict[str, str], Meta(description=(
        "markets whose jobs are fetched: market address = GPU id (one market per GPU class)"))] = \
        msgspec.field(default_factory=lambda: {NOSANA_RTX4090_MARKET: "rtx-4090"})
    all_markets: Annotated[bool, Meta(description="fetch the jobs of every market, not only those above")] = False
    nos_mint: Annotated[str, Meta(description="the NOS token mint (job prices are NOS base units)")] = MINTS["NOS"]
    limits: Limits = limits(concurrency=1, rate=1, timeout=120)


SCHEMAS: dict[str, type[Struct]] = {"solana": SolanaConfig, "nosana": NosanaConfig}
