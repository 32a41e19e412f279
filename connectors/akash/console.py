"""Akash Console API streams and renter-wallet funding (Cosmos tx event search).

Console (``console-api.akash.network``) adds what the chain does not hold: the provider host's IP
geolocation, uptime, GPU models and which auditor signed each attribute, plus a cheap per-provider
deployment list (tenant, dseq, leases).  Funding walks back from tenant wallets through bank sends and
IBC receives found with ``/cosmos/tx/v1beta1/txs`` event queries: SDK 0.50 nodes take ``query=``
(page/limit), older ones ``events=`` (pagination.offset/limit); the first answer decides.
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from typing import Any, ClassVar

from connectors.akash.parse import addr, with_query
from connectors.akash.records import (
    PROVIDERS,
    REJECTED,
    console_deployment_records,
    console_provider_records,
    funding_records,
    funding_senders,
)
from connectors.base import (
    EDGES,
    ENTITIES,
    ITEM_ERRORS,
    OBSERVATIONS,
    ConnectorError,
    NotConfigured,
    Page,
    Record,
    RunContext,
    Table,
    item_records,
)

CORE = (ENTITIES, EDGES, OBSERVATIONS, REJECTED)


def _safe(stream: str, item: Any, at: str, gen: Callable[[Any], Iterable[Record]]) -> Iterator[Record]:
    """One item's records, or one ``rejected_inputs`` row (context ``akash``) when it is malformed."""
    return iter(item_records(stream, item, at, gen, "akash"))


class ConsoleProvidersStream:
    """``GET /v1/providers``: every provider with IP geolocation, uptime, GPU models, audited attributes."""

    name: ClassVar[str] = "akash.console_providers"
    primary_key: ClassVar[tuple[str, ...]] = ("owner",)
    cursor_field: ClassVar[str | None] = None
    is_sorted: ClassVar[bool] = False
    tables: ClassVar[tuple[Table, ...]] = (*CORE, PROVIDERS)

    def __init__(self, config: dict[str, Any]) -> None:
        self.base = str(config["console_url"]).rstrip("/")

    async def extract(self, ctx: RunContext, state: dict[str, Any]) -> AsyncIterator[Page]:
        resp = await ctx.http.get_json(self.base + "/v1/providers")
        if not isinstance(resp.data, list):
            raise ConnectorError(f"GET {resp.url}: expected a JSON array of providers")
        ctx.report(len(resp.data), len(resp.data), "providers")
        yield Page(body=resp.body, url=resp.url, method="GET", data=resp.data,
                   state={"console": self.base, "providers": len(resp.data)})

    def transform(self, page: Page) -> Iterator[Record]:
        for c in page.data:
            yield from _safe(self.name, c, page.fetched_at, lambda x: console_provider_records(x, page.fetched_at))


def _providers(ctx: RunContext, config: Mapping[str, Any]) -> list[str]:
    """Providers to list deployments for: configured ones, else every provider already stored."""
    wanted = [addr(p) for p in config.get("console_providers") or []]
    if wanted or ctx.stored is None:
        return wanted
    return ctx.stored.akash_provider_owners()


class ConsoleDeploymentsStream:
    """``GET /v1/providers/{p}/deployments/{skip}/{limit}`` for each provider: tenant <-> provider edges."""

    name: ClassVar[str] = "akash.console_deployments"
    primary_key: ClassVar[tuple[str, ...]] = ("owner", "dseq")
    cursor_field: ClassVar[str | None] = None
    is_sorted: ClassVar[bool] = True
    tables: ClassVar[tuple[Table, ...]] = CORE

    def __init__(self, config: dict[str, Any]) -> None:
        self.base = str(config["console_url"]).rstrip("/")
        self.limit = max(1, min(100, int(config.get("console_page_size", 100))))
        self.config = config

    async def extract(self, ctx: RunContext, state: dict[str, Any]) -> AsyncIterator[Page]:
        provs = _providers(ctx, self.config)
        if not provs:  # nobody to ask about: "ok, 0 records" would read as "no deployments"
            raise NotConfigured("no providers to list deployments for: set [connectors.akash] "
                                "console_providers, or sync akash.providers first")
        resume = state.get("complete") is False and state.get("console") == self.base
        done = list(state.get("done") or []) if resume else []
        cur, skip = (state.get("current"), int(state.get("skip") or 0)) if resume else (None, 0)
        for p in provs:
            if p in done:
                continue
            start = skip if p == cur else 0
            while True:
                url = f"{self.base}/v1/providers/{p}/deployments/{start}/{self.limit}"
                resp = await ctx.http.get_json(url)
                deps = (resp.data or {}).get("deployments") if isinstance(resp.data, dict) else None
                if not isinstance(deps, list):
                    raise ConnectorError(f"GET {resp.url}: no 'deployments' list in the answer")
                total = int(resp.data.get("total") or 0)
                start += len(deps)
                last = not deps or start >= total
                if last:
                    done.append(p)
                yield Page(body=resp.body, url=resp.url, method="GET", data={"provider": p, "deployments": deps},
                           state={"console": self.base, "done": done, "current": p, "skip": start,
                                  "complete": False})
                if last:
                    break
            ctx.report(1, len(provs), p[:16])
        yield Page(body=json.dumps({"providers": len(provs)}).encode(), url=self.base, method="note:done",
                   data={"provider": None, "deployments": []},
                   state={"console": self.base, "done": [], "complete": True})

    def transform(self, page: Page) -> Iterator[Record]:
        p = page.data["provider"]
        for d in page.data["deployments"]:
            yield from _safe(self.name, d, page.fetched_at, lambda x: console_deployment_records(p, x, page.fetched_at))


class FundingStream:
    """Bank sends and IBC receives into followed wallets -> ``paid`` edges (who funded the renter).

    The walk is breadth-first: the tenants (configured, then stored lease owners) are hop 1; once a
    wallet's pages are read, the Akash senders of its bank sends (``MsgSend``, ``MsgMultiSend`` inputs,
    authz-executed sends; not IBC senders, whose accounts are on other chains) join the queue at hop + 1
    up to ``funding_hops``.  At most ``funding_max_tenants`` wallets are followed in all (configured
    tenants always are) and at most ``funding_max_pages`` pages are read per wallet (a capped wallet is
    listed in the state's ``capped``).  The queue is part of the committed state, so a run killed after
    any page resumes to the same content as an uninterrupted one.
    """

    name: ClassVar[str] = "akash.funding"
    primary_key: ClassVar[tuple[str, ...]] = ("id",)
    cursor_field: ClassVar[str | None] = None
    is_sorted: ClassVar[bool] = True
    tables: ClassVar[tuple[Table, ...]] = CORE

    def __init__(self, config: dict[str, Any]) -> None:
        self.base = str(config["lcd_url"]).rstrip("/")
        self.limit = int(config.get("funding_page_size", 50))
        self.hops = max(1, int(config.get("funding_hops", 3) or 1))
        self.max_pages = max(0, int(config.get("funding_max_pages", 20) or 0))  # 0 = no cap
        self.config = config

    def _configured(self) -> list[str]:
        out: list[str] = []
        for t in self.config.get("tenants") or []:
            a = addr(t)
            if a not in out:
                out.append(a)
        return out

    def bound(self) -> int:
        """Wallets followed per run, every hop included (configured tenants are always followed)."""
        return max(int(self.config.get("funding_max_tenants", 1000) or 0), len(self._configured()))

    def tenants(self, ctx: RunContext) -> list[str]:
        """Configured tenants, then stored lease owners (bounded): open leases first, newest first."""
        out = self._configured()
        n = int(self.config.get("funding_max_tenants", 1000) or 0)
        if self.config.get("follow_store_tenants", True) and n > 0 and ctx.stored is not None:
            seen = set(out)
            out += [o for o in ctx.stored.akash_lease_owners(n) if o not in seen]
        return out[:self.bound()]

    async def _fetch(self, ctx: RunContext, mode: str, tenant: str, page: int) -> tuple[Any, Any]:
        url = self.base + "/cosmos/tx/v1beta1/txs"
        q = f"transfer.recipient='{tenant}'"
        if mode == "query":
            params = {"query": q, "page": str(page + 1), "limit": str(self.limit), "order_by": "ORDER_BY_ASC"}
        else:
            params = {"events": q, "pagination.offset": str(page * self.limit),
                      "pagination.limit": str(self.limit), "pagination.count_total": "true",
                      "order_by": "ORDER_BY_ASC"}
        resp = await ctx.http.request("GET", with_query(url, params), ok_status=frozenset({200, 400}))
        return resp, params

    def follows_nobody(self) -> bool:
        """No tenant configured and none taken from the store: the walk has no wallet to start from."""
        store = bool(self.config.get("follow_store_tenants", True)) and int(
            self.config.get("funding_max_tenants", 1000) or 0) > 0
        return not self._configured() and not store

    async def extract(self, ctx: RunContext, state: dict[str, Any]) -> AsyncIterator[Page]:
        if self.follows_nobody():  # a config that follows nobody is not "ok, 0 records"
            raise NotConfigured("no tenant wallets to follow: set [connectors.akash] tenants, or "
                                "follow_store_tenants = true with funding_max_tenants > 0")
        resume = state.get("complete") is False and state.get("node") == self.base
        done: list[str] = list(state.get("done") or []) if resume else []
        cur, at_page = (state.get("current"), int(state.get("page") or 0)) if resume else (None, 0)
        mode = state.get("mode") if resume else None
        capped: list[str] = list(state.get("capped") or []) if resume else []
        dropped = int(state.get("dropped") or 0) if resume else 0
        by_hop: dict[str, int] = dict(state.get("by_hop") or {}) if resume else {}
        # The queue holds the wallet being read (at its head) and every wallet waiting, with its hop.
        if resume and isinstance(state.get("queue"), list):
            # (a lowered funding_hops or bound since the stop applies to what is left of the walk)
            queue = [(str(a), int(h)) for a, h in state["queue"] if int(h) <= self.hops]
            queue = queue[:max(0, self.bound() - len(done))]
        else:  # a fresh walk, or a state written before the queue was kept: the tenants are hop 1
            queue = [(t, 1) for t in self.tenants(ctx) if t not in done]
        bound = self.bound()
        known = set(done) | {a for a, _ in queue}
        if done:
            ctx.report(len(done), len(done) + len(queue), "resumed")

        def st(complete: bool, page: int) -> dict[str, Any]:
            return {"node": self.base, "mode": mode, "done": list(done), "current": cur, "page": page,
                    "queue": [[a, h] for a, h in queue], "capped": list(capped), "dropped": dropped,
                    "by_hop": dict(by_hop), "complete": complete}

        while queue:
            t, hop = queue[0]
            page = at_page if t == cur else 0
            cur = t
            while True:
                if mode is None:  # SDK 0.50 first; a 400 means the node wants the older events= form
                    resp, _ = await self._fetch(ctx, "query", t, page)
                    mode = "query" if resp.status == 200 else "events"
                    if mode == "events":
                        resp, _ = await self._fetch(ctx, mode, t, page)
                else:
                    resp, _ = await self._fetch(ctx, mode, t, page)
                if resp.status != 200:
                    raise ConnectorError(f"GET {resp.url} -> HTTP {resp.status}: tx search not supported")
                d = resp.data or {}
                txs = d.get("tx_responses") or []
                total = int(d.get("total") or (d.get("pagination") or {}).get("total") or 0)
                page += 1
                last = not txs or page * self.limit >= total
                if not last and self.max_pages and page >= self.max_pages:
                    last = True
                    capped.append(t)
                if hop < self.hops:  # the funders of this wallet are followed one hop further back
                    for txr in txs:
                        try:
                            senders = funding_senders(txr, t)
                        except ITEM_ERRORS:  # transform records the malformed tx as rejected
                            continue
                        for s in senders:
                            if s in known:
                                continue
                            if len(done) + len(queue) >= bound:
                                dropped += 1
                                continue
                            known.add(s)
                            queue.append((s, hop + 1))
                if last:
                    queue.pop(0)
                    done.append(t)
                    by_hop[str(hop)] = by_hop.get(str(hop), 0) + 1
                yield Page(body=resp.body, url=resp.url, method="GET", data={"tenant": t, "txs": txs},
                           state=st(False, page))
                if last:
                    break
            ctx.report(1, len(done) + len(queue), f"hop {hop} {t[:16]}" + (" (page cap)" if t in capped else ""))
        summary = {"followed": len(done), "by_hop": by_hop, "capped": capped, "dropped": dropped}
        yield Page(body=json.dumps(summary).encode(), url=self.base, method="note:done",
                   data={"tenant": None, "txs": []},
                   state={"node": self.base, "mode": mode, "done": [], "complete": True, **summary})

    def transform(self, page: Page) -> Iterator[Record]:
        t = page.data["tenant"]
        for txr in page.data["txs"]:
            what = txr.get("txhash") if isinstance(txr, Mapping) else txr  # shown in rejected_inputs
            yield from _safe(self.name, what, page.fetched_at, functools.partial(self._tx, txr, t, page.fetched_at))

    @staticmethod
    def _tx(txr: Any, tenant: str, at: str, _shown: Any) -> Iterator[Record]:
        return funding_records(txr, {tenant}, at)
