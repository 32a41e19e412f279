"""OFAC SDN digital-currency addresses in the per-asset list format (0xB10C nightly lists).

Each list load is a dated snapshot: an address keeps ``first_seen`` from the load that first saw
it and gets ``last_seen`` from every load that still has it; when a complete load no longer has it,
its ``sanctioned`` observation gets ``valid_to`` (delisted), so Tornado Cash's 2025 delisting shows.
Addresses are normalised per chain; inputs that fail (a lower-cased base58 string) are kept in
``rejected_inputs`` with the reason instead of being matched.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar

from connectors import facts, ids
from connectors.addresses import AddressError, chain_for_asset, normalize
from connectors.base import (
    ENTITIES,
    OBSERVATIONS,
    REJECTED,
    Page,
    Probe,
    Record,
    RunContext,
    Stream,
    Table,
)
from connectors.config import TypedConfig
from connectors.lists.base import DELISTING, delisted, rejected
from connectors.lists.config import OfacAddressesConfig

SOURCE = "ofac-sdn-0xb10c"
__all__ = ["REJECTED"]  # re-exported: defined in connectors.base


def list_url(base: str, asset: str, fmt: str = "txt") -> str:
    """The URL (or path) of one per-asset list; a query string on ``base`` (an API key) is kept."""
    path, q, query = base.partition("?")
    sep = "" if path.endswith("/") or not path else "/"
    return f"{path}{sep}sanctioned_addresses_{asset}.{fmt}" + (f"?{query}" if q else "")


def base_fingerprint(base: str) -> str:
    """Identifies the list source in stream state without storing its URL (which may hold a key)."""
    return hashlib.sha256(base.encode()).hexdigest()[:16]


def parse_list(body: bytes, fmt: str) -> list[str]:
    """Addresses of one per-asset list (TXT: one per line; JSON: an array of strings)."""
    if fmt == "json":
        data = json.loads(body)
        if not isinstance(data, list):
            raise ValueError("JSON list file is not an array")
        return [str(a).strip() for a in data if str(a).strip()]
    return [line.strip() for line in body.decode("utf-8").splitlines() if line.strip()]


class AddressesStream:
    """Every address of every configured asset list, one page per asset, then the delisting page."""

    name: ClassVar[str] = "ofac_addresses.addresses"
    primary_key: ClassVar[tuple[str, ...]] = ("id",)
    cursor_field: ClassVar[str | None] = None
    is_sorted: ClassVar[bool] = False
    tables: ClassVar[tuple[Table, ...]] = (ENTITIES, OBSERVATIONS, REJECTED)

    def __init__(self, config: dict[str, Any]) -> None:
        self.base = str(config["base_url"])
        self.assets = [a.upper() for a in config["assets"]]
        self.fmt = config.get("format", "txt")
        self.as_of = config.get("as_of")

    async def extract(self, ctx: RunContext, state: dict[str, Any]) -> AsyncIterator[Page]:
        # Resume an unfinished load (same snapshot time, skip the assets it already stored).
        src = base_fingerprint(self.base)
        if state.get("complete") is False and state.get("source") == src:
            load_at, done = state["load_at"], list(state["done"])
        else:
            load_at, done = self.as_of or ctx.now, []
        todo = [a for a in self.assets if a not in done]
        for asset in todo:
            # JSON lists are parsed by the client, so a truncated document is retried, not stored.
            resp = await ctx.http.request("GET", list_url(self.base, asset, self.fmt),
                                          parse_json=self.fmt == "json")
            done.append(asset)
            ctx.report(1, len(self.assets), asset)
            yield Page(
                body=resp.body, url=resp.url, method="GET",
                data={"asset": asset, "fmt": self.fmt, "load_at": load_at},
                state={"source": src, "load_at": load_at, "done": list(done), "complete": False},
            )
        # Delisting: listed by this source for these assets, not seen in this (complete) load.
        stored = ctx.stored
        open_ = stored.open_listings(SOURCE, ("sanctioned",), seen_before=load_at) if stored is not None else []
        stale = [{"id": r["id"], "subject": r["subject"]} for r in open_
                 if (r.get("attrs") or {}).get("asset") in self.assets]
        body = json.dumps({"delisted": sorted(r["id"] for r in stale), "load_at": load_at}).encode()
        yield Page(body=body, url=f"derive:{SOURCE}:delisting", method=DELISTING,
                   data={"delisted": stale, "load_at": load_at},
                   state={"source": src, "load_at": load_at, "done": list(done), "complete": True})

    def transform(self, page: Page) -> Iterator[Record]:
        if page.method == DELISTING:
            yield from delisted(page.data["delisted"], page.data["load_at"])
            return
        asset, load_at = page.data["asset"], page.data["load_at"]
        for raw in parse_list(page.body, page.data["fmt"]):
            try:
                chain = chain_for_asset(asset, raw)
                addr = normalize(chain, raw)
            except AddressError as e:
                yield rejected(self.name, raw, asset, str(e), load_at)
                continue
            wid = ids.wallet(chain, addr)
            yield facts.wallet_of(wid, SOURCE, load_at)
            yield facts.observation(wid, "sanctioned", "OFAC SDN", SOURCE, load_at,
                                    attrs={"asset": asset, "as_published": raw}, id_=f"obs:{SOURCE}:{wid}:{asset}")


class OfacAddressesConnector(TypedConfig):
    """OFAC sanctioned digital-currency addresses (per-asset lists, from a URL or a local folder)."""

    name: ClassVar[str] = "ofac_addresses"
    description: ClassVar[str] = "OFAC SDN digital-currency addresses, per-asset lists (0xB10C format)"
    schema = OfacAddressesConfig

    def streams(self, config: dict[str, Any]) -> list[Stream]:
        return [AddressesStream(config)]

    def probes(self, config: dict[str, Any]) -> list[Probe]:
        fmt = config.get("format", "txt")
        return [Probe(f"{a.upper()} list", list_url(str(config["base_url"]), a.upper(), fmt))
                for a in config["assets"]]

