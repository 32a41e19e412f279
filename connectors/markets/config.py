"""Configuration schemas of the GPU marketplace connectors (Vast.ai, Golem, io.net, Clore.ai)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta, Struct

from connectors.config import SECRET, ConnectorConfig, Limits, limits

VASTAI_BASE = "https://console.vast.ai/api/v0"
GOLEM_BASE = "https://api.stats.golem.network"
IONET_BASE = "https://api.io.solutions/v1/io-explorer"
CLORE_BASE = "https://api.clore.ai/v1"


def vastai_query() -> dict[str, Any]:
    """All rentable offers, verified or not (the vast CLI adds verified=true by default; we do not)."""
    return {"rentable": {"eq": True}, "external": {"eq": False}, "type": "on-demand", "order": [["score", "desc"]]}


class VastaiConfig(ConnectorConfig, kw_only=True):
    """Vast.ai offers (which hosts offer which GPUs where), one dated snapshot per sync."""

    base_url: Annotated[str, Meta(description="Vast.ai API root (POST <base_url>/bundles/)")] = VASTAI_BASE
    query: Annotated[dict[str, Any], Meta(description=(
        "the offer search body (Vast's query language); keys set here are merged into the default"))] = \
        msgspec.field(default_factory=vastai_query)
    limit: Annotated[int, Meta(description="offers per snapshot (the search's limit)")] = 5000
    api_key: Annotated[str | None, SECRET, Meta(description=(
        "optional Vast.ai API key, sent as a Bearer token (a secret: never logged or shown)"))] = None
    limits: Limits = limits(concurrency=1, rate=0.5, timeout=120)


class GolemConfig(ConnectorConfig, kw_only=True):
    """Golem provider nodes and their offers from the public stats API."""

    base_url: Annotated[str, Meta(description="Golem stats API root (GET <base_url>/v2/network/online)")] = \
        GOLEM_BASE
    limits: Limits = limits(concurrency=1, rate=1, timeout=120)


class IonetConfig(ConnectorConfig, kw_only=True):
    """io.net explorer devices (GPU model, count, country) and the jobs they served."""

    base_url: Annotated[str, Meta(description="io.net explorer API root")] = IONET_BASE
    token: Annotated[str | None, SECRET, Meta(description=(
        "explorer JWT copied from the web session, valid 21 days (a secret: never logged or shown)"))] = None
    device_ids: Annotated[list[str], Meta(description=(
        "the device ids to follow (io.net publishes no device list)"))] = []
    auth_header: Annotated[str, Meta(description="header that carries the token")] = "Authorization"
    auth_scheme: Annotated[str, Meta(description="prefix of the token in that header (empty: none)")] = "Bearer"
    limits: Limits = limits(concurrency=1, rate=0.3, timeout=60)


class CloreConfig(ConnectorConfig, kw_only=True):
    """Clore.ai marketplace servers: GPUs, country, rented flag and price."""

    base_url: Annotated[str, Meta(description="Clore API root (GET <base_url>/marketplace)")] = CLORE_BASE
    api_key: Annotated[str | None, SECRET, Meta(description=(
        "optional Clore API key, sent as the `auth` header (a secret: never logged or shown)"))] = None
    limits: Limits = limits(concurrency=1, rate=1, timeout=60)


SCHEMAS: dict[str, type[Struct]] = {
    "vastai": VastaiConfig,
    "golem": GolemConfig,
    "ionet": IonetConfig,
    "clore": CloreConfig,
}
