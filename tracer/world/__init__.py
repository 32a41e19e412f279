"""Worlds the project generates itself (demo and tests), served on loopback in real source shapes.

A :class:`DemoPart` is what one connector contributes to ``tracer demo``: aiohttp routes that serve
its generated (or real, from ``../shared/fixtures``) data, and the connector configuration that
points the connector at those routes.  Parts are listed in ``tracer.demo.DEMO_PARTS``.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web


def fixtures_dir() -> Path | None:
    """Where ``../shared/fixtures`` is (``TRACER_FIXTURES`` overrides), or None if absent."""
    env = os.environ.get("TRACER_FIXTURES")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve()
    candidates += [p / "shared" / "fixtures" for p in here.parents] + [Path.cwd().parent / "shared" / "fixtures"]
    for c in candidates:
        if c.is_dir():
            return c
    return None


def evm_address(seed: str) -> str:
    """A deterministic EVM address for a world actor (lower-case hex)."""
    return "0x" + hashlib.sha256(seed.encode()).hexdigest()[:40]


@dataclass
class DemoPart:
    """One connector's share of the demo world: routes under ``/{name}/`` and its config."""

    name: str
    routes: list[web.RouteDef]
    config: Callable[[str], dict[str, dict[str, Any]]]  # base URL of this part -> {connector: config}
    start: Callable[[], Awaitable[None]] | None = None
    stop: Callable[[], Awaitable[None]] | None = None
    notes: list[str] = field(default_factory=list)


def rng(seed: str) -> random.Random:
    return random.Random(hashlib.sha256(seed.encode()).digest())


def static_routes(files: dict[str, bytes], content_type: str = "text/plain") -> list[web.RouteDef]:
    """GET routes serving fixed bodies (paths relative to the part's prefix)."""
    def handler(body: bytes) -> Any:
        async def h(request: web.Request) -> web.Response:
            return web.Response(body=body, content_type=content_type)
        return h
    return [web.get("/" + p.lstrip("/"), handler(b)) for p, b in files.items()]
