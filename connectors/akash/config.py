"""Configuration schema of the Akash connector (LCD ledger, Console API, tenant funding)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta, Struct

from connectors.config import ConnectorConfig, Limits, limits

AKASH_LCD = "https://akash-api.polkachu.com"
AKASH_CONSOLE = "https://console-api.akash.network"
# Stream order matters: leases read the GPU facts the deployments stream stored, console deployments
# read the stored providers, funding reads the stored tenants.
STREAM_ORDER = ("versions", "providers", "audit", "deployments", "orders", "bids", "leases",
                "escrow_accounts", "escrow_payments", "console_providers", "console_deployments", "funding")


def _d(text: str) -> Meta:
    return Meta(description=text)


class AkashConfig(ConnectorConfig, kw_only=True):
    """Akash Network leases, deployments, providers and escrow (LCD), Console API, tenant funding."""

    lcd_url: Annotated[str, _d("Akash LCD (Cosmos REST) endpoint")] = AKASH_LCD
    console_url: Annotated[str, _d("Akash Console API (IP geolocation, uptime, auditors)")] = AKASH_CONSOLE
    page_size: Annotated[int, _d("pagination.limit of LCD list calls")] = 100
    max_pages: Annotated[int, _d("LCD pages per stream and run; 0 = until next_key is empty")] = 0
    versions: Annotated[dict[str, str], _d(
        'module API versions, e.g. market = "v1beta4" skips probing that module')] = {}
    filters: Annotated[dict[str, dict[str, Any]], _d(
        'per stream, e.g. [filters.leases] state = "active" -> filters.state')] = {}
    start_heights: Annotated[dict[str, int], _d("per stream: skip objects created below this height")] = {}
    streams: Annotated[list[str], _d(
        "which streams run (orders and bids are large on mainnet)")] = msgspec.field(
        default_factory=lambda: list(STREAM_ORDER))
    console_page_size: Annotated[int, _d(
        "deployments per Console call (/v1/providers/{p}/deployments/{skip}/{limit}), at most 100")] = 100
    console_providers: Annotated[list[str], _d("providers whose deployments are read; empty = every stored one")] = []
    tenants: Annotated[list[str], _d("akash1... wallets whose funding (bank/IBC) is always followed")] = []
    follow_store_tenants: Annotated[bool, _d(
        "also follow stored lease owners, most recently active first")] = True
    funding_max_tenants: Annotated[int, _d(
        "wallets followed per run, every hop (0 = only `tenants`); each costs at least one tx search")] = 1000
    funding_hops: Annotated[int, _d(
        "follow the Akash senders of followed wallets back, breadth-first, up to this hop (1 = own funding)")] = 3
    funding_max_pages: Annotated[int, _d(
        "tx-search pages per followed wallet (0 = no cap); a capped hot wallet is listed in state")] = 20
    funding_page_size: Annotated[int, _d("results per tx-search page")] = 50
    seconds_per_block: Annotated[float, _d("used when the node cannot serve the sample block")] = 6.1
    block_time_sample: Annotated[int, _d("average the block time over the last N blocks")] = 1000
    limits: Limits = limits(concurrency=4, rate=5, timeout=60)


SCHEMAS: dict[str, type[Struct]] = {"akash": AkashConfig}
