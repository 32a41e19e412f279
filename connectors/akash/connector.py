"""Akash Network: the public renter <-> provider <-> payment ledger, with GPU models and locations.

Akash is the one GPU market whose leases are public on chain: every lease names the tenant wallet,
the provider, the price per block and its escrow; every deployment names the GPU model and count it
asked for. The LCD gives the ledger, the Console API adds IP geolocation, uptime and auditors, and
Cosmos tx search gives who funded the tenant wallets. Layers: :mod:`connectors.akash.parse` (pure
shapes and amounts), :mod:`connectors.akash.records` (records), :mod:`connectors.akash.lcd` and
:mod:`connectors.akash.console` (streams).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from connectors.akash.config import STREAM_ORDER, AkashConfig
from connectors.akash.console import ConsoleDeploymentsStream, ConsoleProvidersStream, FundingStream
from connectors.akash.lcd import (
    AuditStream,
    BidsStream,
    DeploymentsStream,
    EscrowAccountsStream,
    EscrowPaymentsStream,
    LeasesStream,
    OrdersStream,
    ProvidersStream,
    VersionBook,
    VersionsStream,
)
from connectors.akash.parse import USDC_IBC, lease_gpu_hours
from connectors.base import ConfigError, Probe, Stream
from connectors.config import TypedConfig

__all__ = ["AkashConnector", "USDC_IBC", "lease_gpu_hours"]


class AkashConnector(TypedConfig):
    """Akash LCD (providers, deployments, orders, bids, leases, escrow) + Console API + tenant funding."""

    name: ClassVar[str] = "akash"
    description: ClassVar[str] = "Akash Network leases, deployments, providers (LCD + Console API), tenant funding"
    schema = AkashConfig

    def streams(self, config: dict[str, Any]) -> list[Stream]:
        book = VersionBook(dict(config.get("versions") or {}))
        make: dict[str, Callable[[], Stream]] = {
            "versions": lambda: VersionsStream(config, book),
            "providers": lambda: ProvidersStream(config, book),
            "audit": lambda: AuditStream(config, book),
            "deployments": lambda: DeploymentsStream(config, book),
            "orders": lambda: OrdersStream(config, book),
            "bids": lambda: BidsStream(config, book),
            "leases": lambda: LeasesStream(config, book),
            "escrow_accounts": lambda: EscrowAccountsStream(config, book),
            "escrow_payments": lambda: EscrowPaymentsStream(config, book),
            "console_providers": lambda: ConsoleProvidersStream(config),
            "console_deployments": lambda: ConsoleDeploymentsStream(config),
            "funding": lambda: FundingStream(config),
        }
        wanted = list(config.get("streams") or STREAM_ORDER)
        unknown = sorted(set(wanted) - set(make))
        if unknown:
            raise ConfigError(f"akash: unknown stream(s) {', '.join(unknown)}; known: {', '.join(STREAM_ORDER)}")
        return [make[s]() for s in STREAM_ORDER if s in wanted]

    def probes(self, config: dict[str, Any]) -> list[Probe]:
        lcd = str(config["lcd_url"]).rstrip("/")
        return [Probe("LCD latest block", lcd + "/cosmos/base/tendermint/v1beta1/blocks/latest"),
                Probe("LCD leases (market v1beta5)", lcd + "/akash/market/v1beta5/leases/list?pagination.limit=1"),
                Probe("Console providers", str(config["console_url"]).rstrip("/") + "/v1/providers")]

