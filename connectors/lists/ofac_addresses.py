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
    rejection,
    unstorable,
)
from connectors.config import TypedConfig
from connectors.lists.base import DELISTING, Unread, delisted, rejected
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
    return read_list(body, fmt)[0]


def read_list(body: bytes, fmt: str) -> tuple[list[str], list[Unread]]:
    """Addresses of one per-asset list, entry by entry: a TXT line that is not UTF-8 or a JSON item
    that is not a string (or holds a character the store refuses) is unread, not the list.  An unread
    entry cannot say which address it was, so that asset's load delists nothing (see ``extract``)."""
    if fmt == "json":
        data = json.loads(body)
        if not isinstance(data, list):
            raise ValueError("JSON list file is not an array")
        items: list[tuple[Any, str | None]] = [(a, a if isinstance(a, str) else None) for a in data]
    else:
        items = []
        for raw in body.split(b"\n"):
            try:
                items.append((raw, raw.decode("utf-8")))
            except UnicodeDecodeError:
                items.append((raw, None))
    out: list[str] = []
    bad: list[Unread] = []
    for raw, text in items:
        if text is None:
            bad.append(Unread.of(raw, "not UTF-8 text" if isinstance(raw, bytes) else
                                 f"a {type(raw).__name__}, not an address string"))
        elif unstorable([Record("x", {"a": text})]):
            bad.append(Unread.of(text, "a character the store cannot hold"))
        elif text.strip():
            out.append(text.strip())
    return out, bad


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
            partial = list(state.get("partial") or [])
        else:
            load_at, done, partial = self.as_of or ctx.now, [], []
        todo = [a for a in self.assets if a not in done]
        for asset in todo:
            # JSON lists are parsed by the client, so a truncated document is retried, not stored.
            resp = await ctx.http.request("GET", list_url(self.base, asset, self.fmt),
                                          parse_json=self.fmt == "json")
            done.append(asset)
            if read_list(resp.body, self.fmt)[1]:
                partial.append(asset)  # an entry did not read: this asset's load cannot say what left
            ctx.report(1, len(self.assets), asset)
            yield Page(
                body=resp.body, url=resp.url, method="GET",
                data={"asset": asset, "fmt": self.fmt, "load_at": load_at},
                state={"source": src, "load_at": load_at, "done": list(done), "complete": False,
                       "partial": list(partial)},
            )
        # Delisting: listed by this source for these assets, not seen in this (complete) load; nothing for
        # an asset whose list had an entry that did not read (it may have been that address).
        stored = ctx.stored
        open_ = stored.open_listings(SOURCE, ("sanctioned",), seen_before=load_at) if stored is not None else []
        stale = [{"id": r["id"], "subject": r["subject"]} for r in open_
                 if (r.get("attrs") or {}).get("asset") in self.assets
                 and (r.get("attrs") or {}).get("asset") not in partial]
        body = json.dumps({"delisted": sorted(r["id"] for r in stale), "load_at": load_at}).encode()
        yield Page(body=body, url=f"derive:{SOURCE}:delisting", method=DELISTING,
                   data={"delisted": stale, "load_at": load_at},
                   state={"source": src, "load_at": load_at, "done": list(done), "complete": True})

    def transform(self, page: Page) -> Iterator[Record]:
        if page.method == DELISTING:
            yield from delisted(page.data["delisted"], page.data["load_at"])
            return
        asset, load_at = page.data["asset"], page.data["load_at"]
        addresses, unread = read_list(page.body, page.data["fmt"])
        for u in unread:
            yield rejection(self.name, u.value, u.reason + f"; nothing of the {asset} list is delisted by this load",
                            load_at, f"{asset} sha256:{u.digest[:16]}")
        for raw in addresses:
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

