"""Golem providers from the public stats API, and how GLM transfers become requestor -> provider.

``GET https://api.stats.golem.network/v2/network/online`` lists the online provider nodes
(golem-stats-backend ``api2`` ``NodeSerializer``): ``node_id`` (the yagna identity, an address),
``wallet``, ``online``, ``version``, ``network`` and ``runtimes`` -- per runtime ("vm",
"vm-nvidia") the offer ``properties``, flat dotted keys as yagna publishes them.  The provider's
payee address per payment platform is ``golem.com.payment.platform.<platform>.address``
(``erc20-polygon-glm`` is GLM on Polygon); the GPU model is the experimental
``golem.!exp.gap-35.v1.inf.gpu.model``.

Requestors pay providers in GLM (Polygon ``0x0B220b82...``), directly or batched through the Golem
multi-transfer contract ``0x50100d4f...``.  The EVM connector stores those ERC-20 transfers as
``paid`` edges; :func:`golem_payments` turns the ones into a known payee into requestor -> provider
payments.  Offers carry no location.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from typing import Any, ClassVar

from connectors import facts, ids
from connectors.addresses import AddressError
from connectors.base import (
    EDGES,
    ENTITIES,
    OBSERVATIONS,
    REJECTED,
    Column,
    ConnectorError,
    Page,
    Probe,
    Record,
    RunContext,
    Stream,
    Table,
    item_records,
    rejection,
)
from connectors.config import TypedConfig
from connectors.evm.config import ETHEREUM_TOKENS, POLYGON_TOKENS
from connectors.gpu_names import gpu_id
from connectors.markets.base import offers_gpu, snapshot_page
from connectors.markets.config import GolemConfig

SOURCE = "golem-stats"
GLM_POLYGON, GLM_ETHEREUM = POLYGON_TOKENS["GLM"], ETHEREUM_TOKENS["GLM"]  # the contracts the EVM connector follows
MULTI_TRANSFER = "0x50100d4faf5f3b09987dea36dc2eddd57a3e561b"
GLM_ASSETS = frozenset({ids.token("polygon", GLM_POLYGON), ids.token("ethereum", GLM_ETHEREUM)})
NAME_KEY = "golem.node.id.name"
GPU_KEY = re.compile(r"^golem\.!exp\.gap-35\.v1\.inf\.gpu(?:\.d(\d+))?\.model$")
PAYEE_KEY = re.compile(r"^golem\.com\.payment\.platform\.([^.]+)\.address$")

NODES = Table(
    "golem_nodes",
    (Column("snapshot"), Column("node_id"), Column("name"), Column("online", "INTEGER"), Column("version"),
     Column("network"), Column("wallet"), Column("runtimes"), Column("gpus"), Column("payees")),
    pk=("snapshot", "node_id"),
    indexes=(("node_id",),),
)


def node_payees(node: Mapping[str, Any]) -> dict[str, set[str]]:
    """Payee address -> payment platforms, from every runtime's offer (plus the node's ``wallet``)."""
    out: dict[str, set[str]] = {}
    for rt in (node.get("runtimes") or {}).values():
        for k, v in ((rt or {}).get("properties") or {}).items():
            m = PAYEE_KEY.match(k)
            if m and isinstance(v, str):
                out.setdefault(v, set()).add(m.group(1))
    if isinstance(node.get("wallet"), str) and node["wallet"]:
        out.setdefault(node["wallet"], set()).add("stats:wallet")
    return out


def node_gpus(node: Mapping[str, Any]) -> list[dict[str, Any]]:
    """GPUs a node offers: one entry per (runtime, model) with the number of GPU devices listed."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for rname, rt in (node.get("runtimes") or {}).items():
        for k, v in ((rt or {}).get("properties") or {}).items():
            if GPU_KEY.match(k) and isinstance(v, str) and v:
                e = out.setdefault((rname, v), {"runtime": rname, "raw_name": v, "gpu_id": gpu_id("golem", v),
                                                "count": 0})
                e["count"] += 1
    return list(out.values())


def node_name(node: Mapping[str, Any]) -> str | None:
    for rt in (node.get("runtimes") or {}).values():
        n = ((rt or {}).get("properties") or {}).get(NAME_KEY)
        if isinstance(n, str) and n:
            return n
    return None


class ProvidersStream:
    """The online provider list, one page per sync (a dated snapshot of ``golem_nodes``)."""

    name: ClassVar[str] = "golem.providers"
    primary_key: ClassVar[tuple[str, ...]] = ("snapshot", "node_id")
    cursor_field: ClassVar[str | None] = "snapshot"
    is_sorted: ClassVar[bool] = True
    tables: ClassVar[tuple[Table, ...]] = (NODES, ENTITIES, EDGES, OBSERVATIONS, REJECTED)

    def __init__(self, config: dict[str, Any]) -> None:
        self.base = str(config["base_url"]).rstrip("/")

    def url(self) -> str:
        return f"{self.base}/v2/network/online"

    async def extract(self, ctx: RunContext, state: dict[str, Any]) -> AsyncIterator[Page]:
        resp = await ctx.http.get_bytes(self.url())
        ctx.report(1, 1, "online providers")
        yield snapshot_page(resp.body, resp.url, ctx.now)

    def transform(self, page: Page) -> Iterator[Record]:
        snap = page.data["snapshot"]
        nodes = json.loads(page.body)
        if not isinstance(nodes, list):
            raise ConnectorError("Golem stats network/online did not return a list of nodes")
        for node in nodes:
            nid = node.get("node_id") if isinstance(node, dict) else None
            if not isinstance(nid, str) or not nid:
                yield rejection(self.name, node, "node without a node_id", snap, "golem")
                continue
            # One node at a time: a malformed offer is one rejected_inputs row, the others are stored.
            yield from item_records(self.name, node, snap, functools.partial(self._node, snap=snap), "golem")

    def _node(self, node: dict[str, Any], snap: str) -> Iterator[Record]:
        nid = str(node["node_id"]).lower()
        pid = ids.provider("golem", nid)
        payees, gpus, name = node_payees(node), node_gpus(node), node_name(node)
        yield Record("golem_nodes", {
            "snapshot": snap, "node_id": nid, "name": name, "online": int(bool(node.get("online"))),
            "version": node.get("version"), "network": node.get("network"), "wallet": node.get("wallet"),
            "runtimes": sorted((node.get("runtimes") or {}).keys()), "gpus": gpus,
            "payees": {a: sorted(p) for a, p in sorted(payees.items())}})
        yield facts.entity(pid, SOURCE, snap, address=nid, label=name or f"Golem node {nid[:10]}",
                           attrs={"market": "golem", "node_id": nid, "name": name,
                                  "version": node.get("version"), "network": node.get("network")})
        for raw, platforms in sorted(payees.items()):
            try:
                wid = ids.wallet("evm", raw)
            except AddressError:
                continue
            # label and attrs stated (None, {}): the payee's wallet row is the stats API's view of it
            yield facts.entity_stated(wid, SOURCE, snap, kind="wallet", chain="evm", address=ids.key_of(wid),
                                      label=None, attrs={})
            yield facts.edge(ids.edge("golem", "payout_to", nid, wid), "payout_to", pid, wid, SOURCE, snap,
                             chain="evm", time=snap, attrs={"platforms": sorted(platforms)})
            yield facts.observation(wid, "role", "provider_payee", SOURCE, snap,
                                    attrs={"provider": pid, "platforms": sorted(platforms)},
                                    id_=f"obs:golem:role:{nid}:{wid}")
        for g in gpus:
            if g["gpu_id"]:
                yield offers_gpu(ids.edge("golem", "offers_gpu", nid, g["runtime"], g["gpu_id"]), pid, g["gpu_id"],
                                 SOURCE, snap, count=g["count"], raw_name=g["raw_name"], runtime=g["runtime"])


def golem_payments(edges: Iterable[Mapping[str, Any]], payee_map: Mapping[str, str]) -> list[dict[str, Any]]:
    """GLM ``paid`` edges into a known Golem payee, as requestor (renter) -> provider payments.

    ``edges`` are edge rows (``kind, src, dst, asset, amount, decimals, tx, time, attrs``) as the EVM
    connector stores ERC-20 transfers; ``payee_map`` maps payee wallet id (``wallet:evm:0x...``) to
    provider id (from ``payout_to`` edges).  A batched payment through the multi-transfer contract
    still emits a GLM Transfer from the requestor, so ``src`` is the requestor; when ``src`` is the
    contract itself the requestor is unknown (``requestor`` None, ``batched`` True).
    """
    contract = ids.wallet_raw("evm", MULTI_TRANSFER)
    out = []
    for e in edges:
        if e.get("kind") != "paid" or str(e.get("asset") or "").lower() not in GLM_ASSETS:
            continue
        provider = payee_map.get(str(e.get("dst")))
        if provider is None:
            continue
        attrs = e.get("attrs") or {}
        if isinstance(attrs, str):
            attrs = json.loads(attrs or "{}")
        via = {str(attrs.get(k) or "").lower() for k in ("tx_to", "via", "to_contract")}
        src = str(e.get("src"))
        batched = src == contract or MULTI_TRANSFER in via or contract in via
        out.append({"requestor": None if src == contract else src, "provider": provider, "payee": e.get("dst"),
                    "amount": e.get("amount"), "decimals": e.get("decimals"), "asset": e.get("asset"),
                    "tx": e.get("tx"), "time": e.get("time"), "batched": batched, "edge": e.get("id")})
    return out


class GolemConnector(TypedConfig):
    """Golem Network providers (stats API): payee wallets per payment platform and offered GPUs."""

    name: ClassVar[str] = "golem"
    description: ClassVar[str] = "Golem providers online: node ids, GLM payee wallets, GPU models (stats API)"
    schema = GolemConfig

    def streams(self, config: dict[str, Any]) -> list[Stream]:
        return [ProvidersStream(config)]

    def probes(self, config: dict[str, Any]) -> list[Probe]:
        return [Probe("network/online", ProvidersStream(config).url())]

