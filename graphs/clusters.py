"""Actor clusters on account-based chains: wallets (and providers) one actor controls.

Each heuristic emits :class:`Link` objects saying which heuristic joined two nodes, how strongly and
on which stored facts.  Hubs (tagged exchanges, bridges, mixers, very high-degree nodes) are cut
first: being funded by Binance is not evidence of a common owner.  Clusters are the connected
components of the links at or above a strength threshold.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from graphs.build import TracerGraph, _rows

HUB_CATEGORIES = ("exchange", "bridge", "mixer", "service")
DEFAULT_MAX_DEGREE = 1000
DEFAULT_MAX_STAR = 100

# Strength of each heuristic (0..1); clusters use links >= DEFAULT_THRESHOLD.
STRENGTH = {
    "payout_to": 0.9,
    "shared_payout": 0.9,
    "deposit_reuse": 0.8,
    "escrow_third_party": 0.75,
    "common_funder": 0.7,
    "manifest_hash": 0.6,
}
DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class Hub:
    """Why a node is a hub (walks and clustering stop there): a tag or its degree."""

    node: str
    reason: str
    ref: str | None = None


@dataclass(frozen=True)
class Link:
    """Two nodes judged to be one actor by ``heuristic`` with ``strength``, on facts ``refs``."""

    a: str
    b: str
    heuristic: str
    strength: float
    refs: tuple[str, ...]
    detail: str = ""


def find_hubs(tg: TracerGraph, tags: Iterable[tuple[str, str, str, str]] = (),
              max_degree: int = DEFAULT_MAX_DEGREE,
              categories: Iterable[str] = HUB_CATEGORIES) -> dict[int, Hub]:
    """Hubs from ``tags`` rows (subject, category, label, observation id) and node degree."""
    cats = set(categories)
    hubs: dict[int, Hub] = {}
    for subject, category, label, oid in tags:
        n = tg.get(subject)
        if n is not None and category in cats:
            hubs[n] = Hub(subject, f"tagged {category}: {label}", oid)
    if max_degree > 0:
        for n, d in tg.g.degree():
            if d > max_degree and n not in hubs and tg.kind(n) == "wallet":
                hubs[n] = Hub(tg.ids[n], f"degree {d} > {max_degree}")
    return hubs


def common_funder_links(tg: TracerGraph, hubs: Mapping[int, Hub], window_s: int = 7 * 86400,
                        min_group: int = 3, max_star: int = DEFAULT_MAX_STAR) -> list[Link]:
    """Fresh wallets first funded by one (non-hub) wallet within ``window_s`` of each other.

    A funder that first-funds more than ``max_star`` wallets behaves like an untagged exchange or
    faucet and is skipped (a Sybil farm that large needs other evidence, e.g. a tag).
    """
    by_funder: dict[int, list[tuple[int, int, str]]] = defaultdict(list)
    for w, ff in tg.first_in.items():
        if ff.src in hubs or w in hubs or tg.kind(w) != "wallet":
            continue
        # Fresh: nothing left the wallet before its first funding arrived.
        if any(d["k"] == "paid" and d["t"] < ff.time for _, d in tg.out_edges(w)):
            continue
        by_funder[ff.src].append((ff.time, w, ff.fact))
    links: list[Link] = []
    for funder, funded in by_funder.items():
        if not min_group <= len(funded) <= max_star:
            continue
        funded.sort()
        group: list[tuple[int, int, str]] = []
        for item in funded + [(None, -1, "")]:  # type: ignore[list-item]
            if group and (item[0] is None or item[0] - group[-1][0] > window_s):
                if len(group) >= min_group:
                    for _t, w, fact in group:
                        links.append(Link(tg.ids[w], tg.ids[funder], "common_funder", STRENGTH["common_funder"],
                                          (fact,), f"one of {len(group)} fresh wallets funded within "
                                          f"{window_s // 3600} h by the same wallet"))
                group = []
            if item[0] is not None:
                group.append(item)
    return links


def deposit_reuse_links(tg: TracerGraph, hubs: Mapping[int, Hub], exchange_reason: str = "exchange",
                        max_senders: int = 50, min_forward_share: float = 0.9) -> list[Link]:
    """Wallets sending to the same exchange deposit address (one that forwards to an exchange)."""
    links: list[Link] = []
    seen: set[int] = set()
    for h, hub in hubs.items():
        if exchange_reason not in hub.reason:
            continue
        for d, _ in tg.in_edges(h, "paid"):
            if d in hubs or d in seen:
                continue
            seen.add(d)
            outs = [(v, e) for v, e in tg.out_edges(d, "paid")]
            to_ex = sum(1 for v, _ in outs if v in hubs and exchange_reason in hubs[v].reason)
            if not outs or to_ex / len(outs) < min_forward_share:
                continue
            senders: dict[int, str] = {}
            for s, e in tg.in_edges(d, "paid"):
                if s not in hubs:
                    senders.setdefault(s, e["f"])
            if not 2 <= len(senders) <= max_senders:
                continue
            for s, fact in senders.items():
                links.append(Link(tg.ids[s], tg.ids[d], "deposit_reuse", STRENGTH["deposit_reuse"], (fact,),
                                  f"sends to deposit address shared by {len(senders)} wallets, which "
                                  f"forwards to {hub.node}"))
    return links


def escrow_third_party_links(tg: TracerGraph, hubs: Mapping[int, Hub]) -> list[Link]:
    """A wallet paying the escrow of someone else's lease/deployment (authz-style funding)."""
    links: list[Link] = []
    for n, k in tg.g.nodes(data="k"):
        if k not in ("lease", "deployment"):
            continue
        renters = {u: d["f"] for u, d in tg.in_edges(n, "rented")}
        if not renters and k == "deployment":
            owner = tg.ids[n].split(":", 2)[2].split("/", 1)[0]
            o = tg.get(f"wallet:akash:{owner}")
            if o is not None:
                renters[o] = tg.ids[n]
        for p, d in tg.in_edges(n, "paid"):
            if p in hubs or p in renters:
                continue
            for r, rfact in renters.items():
                links.append(Link(tg.ids[p], tg.ids[r], "escrow_third_party", STRENGTH["escrow_third_party"],
                                  (d["f"], rfact), f"paid escrow of {tg.ids[n]} rented by another wallet"))
    return links


def payout_links(tg: TracerGraph, hubs: Mapping[int, Hub]) -> list[Link]:
    """A provider and its payout wallets; providers sharing a payout wallet join through it."""
    links: list[Link] = []
    by_wallet: dict[int, list[int]] = defaultdict(list)
    for n, k in tg.g.nodes(data="k"):
        if k != "provider":
            continue
        for w, d in tg.out_edges(n, "payout_to"):
            if w in hubs:
                continue
            by_wallet[w].append(n)
            links.append(Link(tg.ids[n], tg.ids[w], "payout_to", STRENGTH["payout_to"], (d["f"],),
                              "provider pays out to this wallet"))
    for w, provs in by_wallet.items():
        if len(provs) > 1:
            for p in provs[1:]:
                links.append(Link(tg.ids[provs[0]], tg.ids[p], "shared_payout", STRENGTH["shared_payout"],
                                  (), f"providers share payout wallet {tg.ids[w]}"))
    return links


def manifest_links(deployments: object, max_owners: int = 10) -> list[Link]:
    """Owners deploying the identical manifest hash (rows: deployment id, owner wallet id, hash).

    A hash shared by more than ``max_owners`` owners is a public template, not a fingerprint.
    """
    by_hash: dict[str, dict[str, str]] = defaultdict(dict)
    for dep, owner, h in _rows(deployments, ("id", "owner", "hash")):
        if h and owner:
            by_hash[str(h)].setdefault(str(owner), str(dep))
    links: list[Link] = []
    for h, owners in by_hash.items():
        if not 2 <= len(owners) <= max_owners:
            continue
        items = sorted(owners.items())
        first, first_dep = items[0]
        for o, dep in items[1:]:
            links.append(Link(first, o, "manifest_hash", STRENGTH["manifest_hash"], (first_dep, dep),
                              f"identical deployment manifest hash {h[:16]} across {len(owners)} owners"))
    return links


@dataclass
class Clusters:
    """Connected components of the strong links: node id -> cluster id, and each cluster's links."""

    of: dict[str, str]
    members: dict[str, list[str]]
    links: dict[str, list[Link]]

    def cluster(self, node_id: str) -> str | None:
        return self.of.get(node_id)

    def peers(self, node_id: str) -> list[str]:
        c = self.of.get(node_id)
        return self.members[c] if c else [node_id]


def cluster_links(links: Iterable[Link], threshold: float = DEFAULT_THRESHOLD) -> Clusters:
    """Union-find over links with strength >= threshold; cluster ids are stable hashes of members."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:
            parent[x], x = root, parent[x]
        return root

    kept: list[Link] = []
    for lk in links:
        if lk.strength < threshold:
            continue
        kept.append(lk)
        ra, rb = find(lk.a), find(lk.b)
        parent.setdefault(lk.a, lk.a)
        parent.setdefault(lk.b, lk.b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[str, list[str]] = defaultdict(list)
    for x in parent:
        groups[find(x)].append(x)
    of: dict[str, str] = {}
    members: dict[str, list[str]] = {}
    root_cid: dict[str, str] = {}
    for root, ms in groups.items():
        ms.sort()
        cid = "cluster:" + hashlib.sha256(ms[0].encode()).hexdigest()[:16]
        root_cid[root] = cid
        members[cid] = ms
        for m in ms:
            of[m] = cid
    by_cluster: dict[str, list[Link]] = defaultdict(list)
    for lk in kept:
        by_cluster[root_cid[find(lk.a)]].append(lk)
    return Clusters(of, members, dict(by_cluster))


def all_links(tg: TracerGraph, hubs: Mapping[int, Hub], deployments: object = (),
              window_s: int = 7 * 86400, min_group: int = 3, max_star: int = DEFAULT_MAX_STAR) -> list[Link]:
    """Every heuristic's links (the input of :func:`cluster_links`)."""
    return (common_funder_links(tg, hubs, window_s, min_group, max_star) + deposit_reuse_links(tg, hubs)
            + escrow_third_party_links(tg, hubs) + payout_links(tg, hubs) + manifest_links(deployments))
