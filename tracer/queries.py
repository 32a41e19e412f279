"""Investigator queries over the store: find, neighbours, path, funding, exposure, cluster, timeline.

Each function asks the store's named reads (``tracer.store.reads.Reads``: the store, or the
server's read-only store; the SQL lives there, indexed and parameterised) and hands edges to the
pure walks in ``graphs.queries``.  Everything is bounded — depth, nodes, edges — so a query on a
1M-edge store costs the neighbourhood it touches, not the store, and a hub cannot turn a click
into a scan.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from connectors import ids
from graphs import queries as gq

if TYPE_CHECKING:
    from tracer.store import StoreBackend
    from tracer.store.reads import Reads

HUB_CATEGORIES = ("exchange", "bridge", "mixer", "service")
HUB_KINDS = ("gpu", "jurisdiction", "token")  # reference nodes: everyone renting an H100 shares one
RISK_PREDICATES = ("sanctioned", "listed")
RISK_LEVELS = ("high", "severe")
MAX_DEPTH = 4
MAX_HOPS = 6
MAX_NODES = 2_000
MAX_EDGES = 20_000
HUB_DEGREE = 1_000
_ID = re.compile(r"[a-z][a-z0-9_]*:[A-Za-z0-9:._/\-@+#~=,() ]{1,300}")
_KIND = re.compile(r"[a-z_]{1,40}")
_CHUNK = 500


class QueryError(ValueError):
    """A bad or unknown query argument; ``status`` is the HTTP code the API answers with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def check_id(value: Any, what: str = "id") -> str:
    """A graph id as the store spells it (``wallet:evm:0x...``), or QueryError saying what is wrong."""
    if not isinstance(value, str) or not value:
        raise QueryError(f"{what} is required, e.g. wallet:evm:0x00000000000000000000000000000000000000aa")
    if len(value) > 300:
        raise QueryError(f"{what} is {len(value)} characters long; ids are at most 300")
    if not _ID.fullmatch(value):
        raise QueryError(f"{what} {value[:80]!r} is not a tracer id (kind:rest, e.g. wallet:evm:0x..., "
                         "provider:akash:akash1...); use find to look up a name or address")
    return value


def check_kinds(kinds: Sequence[str] | None) -> list[str] | None:
    """Edge kinds to follow (``paid``, ``rented``...), validated."""
    if not kinds:
        return None
    out = []
    for k in kinds:
        if not isinstance(k, str) or not _KIND.fullmatch(k):
            raise QueryError(f"edge kind {str(k)[:40]!r} is not valid (lower-case letters and _, e.g. paid)")
        out.append(k)
    return out


def check_int(value: Any, what: str, lo: int, hi: int) -> int:
    """An integer parameter inside [lo, hi]; bounds are what keeps every query cheap."""
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise QueryError(f"{what} must be an integer between {lo} and {hi}, not {str(value)[:40]!r}") from None
    if isinstance(value, bool) or not lo <= n <= hi:
        raise QueryError(f"{what} must be between {lo} and {hi}, not {n}")
    return n


def _chunks(items: Sequence[str]) -> list[list[str]]:
    return [list(items[i:i + _CHUNK]) for i in range(0, len(items), _CHUNK)]


def has_table(store: Reads, name: str) -> bool:
    """Whether the store has table ``name`` (flags and evidence exist only once scoring ran)."""
    return store.has_table(name)


class SqlGraph:
    """``fetch`` and classifiers for the pure walks, backed by the store's indexed reads."""

    def __init__(self, store: Reads, start: str, max_edges: int = MAX_EDGES, hub_degree: int = HUB_DEGREE) -> None:
        self.store, self.start = store, start
        self.max_edges, self.hub_degree = max_edges, hub_degree
        self.budget = max_edges
        self.degree_hubs: dict[str, str] = {}
        self.truncated = False
        self._flags = has_table(store, "flags")

    def fetch(self, nodes: Sequence[str], direction: str, kinds: Sequence[str] | None) -> list[dict[str, Any]]:
        col = "src" if direction == "out" else "dst"
        way: Literal["out", "in"] = "out" if direction == "out" else "in"
        out: list[dict[str, Any]] = []
        for chunk in _chunks([n for n in nodes if n not in self.degree_hubs]):
            if self.budget <= 0:
                self.truncated = True
                break
            rows = self.store.neighbour_edges(chunk, way, kinds, self.budget + 1)
            if len(rows) > self.budget:
                self.truncated = True
                rows = rows[: self.budget]
            self.budget -= len(rows)
            out.extend(rows)
        per: dict[str, int] = {}
        for e in out:
            per[e[col]] = per.get(e[col], 0) + 1
        heavy = {n for n, c in per.items() if c > self.hub_degree and n != self.start}
        for n in heavy:
            self.degree_hubs[n] = f"high degree (over {self.hub_degree} {direction} edges)"
        return [e for e in out if e[col] not in heavy] if heavy else out

    def hubs(self, nodes: Collection[str]) -> dict[str, str]:
        found: dict[str, str] = {n: r for n, r in self.degree_hubs.items() if n in nodes}
        for n in nodes:
            kind = ids.kind_of(n)
            if kind in HUB_KINDS and n != self.start:
                found[n] = f"shared {kind} node (links unrelated parties)"
        for chunk in _chunks(sorted(nodes)):
            for r in self.store.tag_categories(chunk):
                if r["cat"] in HUB_CATEGORIES:
                    found[r["subject"]] = f"{r['cat']}: {r['value']}"
        return found

    def risky(self, nodes: Collection[str]) -> dict[str, str]:
        found: dict[str, str] = dict(listings(self.store, nodes))
        for chunk in _chunks(sorted(nodes)):
            if self._flags:
                for r in self.store.high_flags(chunk):
                    found.setdefault(r["subject"], f"flag {r['level']} ({r['score']})")
        return found


def listings(store: Reads, nodes: Collection[str]) -> dict[str, str]:
    """Every listed party among ``nodes`` named: ``sanctioned: OFAC SDN`` for a listed wallet, and
    ``listed as OFAC SDN entry entity:ofac:41234 (Kowloon Compute Ltd)`` for one tied to a listed entity
    (the entry's name and list, not only its id), both when both hold
    (``sanctioned: OFAC SDN, entry entity:ofac:41234 (Kowloon Compute Ltd)``).

    A party on several lists names each list and each entry (at most :data:`MAX_ENTRIES`, then how
    many more), lists by name and entries by their list, so the text does not depend on the order the
    store returns rows in: a reader comparing it with a flag's reason sees the same list there."""
    own: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    tied: dict[str, set[str]] = defaultdict(set)
    for chunk in _chunks(sorted(nodes)):
        for r in store.open_listing_facts(chunk):
            own[r["subject"]][str(r["predicate"])].add(str(r["value"]))
        for r in store.listed_as_edges(chunk):
            tied[str(r["src"])].add(str(r["dst"]))
    found = {n: "; ".join(f"{pred}: {_and(sorted(vals))}" for pred, vals in sorted(by.items()))
             for n, by in own.items()}
    if tied:
        ents = sorted(set().union(*tied.values()))
        names: dict[str, str] = {}
        lists: dict[str, set[str]] = defaultdict(set)
        for chunk in _chunks(ents):
            for r in store.entity_rows(chunk):
                if r.get("label"):
                    names[r["id"]] = str(r["label"])
            for r in store.open_listing_facts(chunk):
                lists[r["subject"]].add(str(r["value"]))

        def listed(ent: str) -> str:
            return _and(sorted(lists[ent])) if ent in lists else ""

        for src, entries in tied.items():  # each entry and its name, beside "sanctioned: OFAC SDN"
            order = sorted(entries, key=lambda ent: (listed(ent), ent))
            named = [f"{ent} ({names[ent]})" if ent in names else ent for ent in order]
            if src in found:
                found[src] += f", {'entry' if len(named) == 1 else 'entries'} {_and(named, MAX_ENTRIES)}"
            else:
                found[src] = "listed as " + _and([f"{listed(ent)} entry {n}" if listed(ent) else n
                                                  for ent, n in zip(order, named, strict=True)], MAX_ENTRIES)
    return found


MAX_ENTRIES = 3  # entries named in a listing; the rest counted (explain shows every one)


def _and(items: Sequence[str], most: int | None = None) -> str:
    """``a``, ``a and b``, ``a, b and c``; past ``most`` items: ``a, b, c and 2 more``."""
    if most is not None and len(items) > most:
        return f"{', '.join(items[:most])} and {len(items) - most} more"
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def asset_symbols(store: Reads, rows: Sequence[Mapping[str, Any]] = ()) -> dict[str, str]:
    """Asset -> symbol for rendering ``rows``: the store's token entities (``symbol()``), and IBC
    vouchers among the rows that no table resolves, through the denom trace stored on their edge."""
    from tracer import amounts

    symbols = dict(store.token_labels())
    vouchers = sorted({str(r["id"]) for r in rows if str(r.get("asset") or "").startswith("ibc/") and r.get("id")
                       and amounts.symbol_of(r.get("asset"), symbols) is None})
    by_id = {str(r["id"]): r.get("asset") for r in rows}
    for chunk in _chunks(vouchers):
        attrs = store.edge_attrs(chunk)
        symbols.update(amounts.traces_from_attrs((str(by_id[i]), a) for i, a in attrs.items()))
    return symbols


def exists(store: Reads, node: str) -> bool:
    """Whether any entity, edge or observation mentions ``node`` (each check uses an index)."""
    return store.node_exists(node)


def require(store: Reads, node: Any, what: str = "id") -> str:
    """A valid id that the store knows; QueryError 404 otherwise (a typo should not look like 'no risk')."""
    node = check_id(node, what)
    if not exists(store, node):
        raise QueryError(f"{what} {node} is not in the store; try find with part of its address or name", 404)
    return node


def describe(store: Reads, node_ids: Collection[str]) -> dict[str, dict[str, Any]]:
    """Kind, label, address and flag of many nodes at once (for drawing and listing)."""
    out: dict[str, dict[str, Any]] = {i: {"id": i, "kind": ids.kind_of(i), "label": None, "chain": None,
                                          "address": None, "score": None, "level": None} for i in node_ids}
    flags = has_table(store, "flags")
    for chunk in _chunks(sorted(node_ids)):
        for r in store.entity_rows(chunk):
            out[r["id"]].update({k: v for k, v in r.items() if v is not None})
        if flags:
            for r in store.flag_scores(chunk):
                out[r["subject"]].update(score=r["score"], level=r["level"])
    return out


def find(store: Reads, text: str, limit: int = 50) -> list[dict[str, Any]]:
    """Nodes whose id, address or label matches ``text``, then subjects of matching observations.

    Exact id / address hits come first (indexed); label and observation values match by substring
    (case-insensitive), so a company name, an akash1 address or a 0x address all work.
    """
    if not isinstance(text, str) or not text.strip():
        raise QueryError("search text is required (a name, an address or an id)")
    q = text.strip()
    if len(q) > 200:
        raise QueryError("search text is longer than 200 characters")
    if any(ord(c) < 32 for c in q):
        raise QueryError("search text contains control characters")
    if any("\ud800" <= c <= "\udfff" for c in q):  # undecodable argv bytes (surrogateescape), "\udcff" in JSON
        raise QueryError("search text is not valid UTF-8 (check the terminal's or the file's encoding)")
    limit = check_int(limit, "limit", 1, 500)
    hits: dict[str, str] = {}

    def add(rows: list[dict[str, Any]], how: str) -> None:
        for r in rows:
            if len(hits) < limit:
                hits.setdefault(r["id"], how)

    lowered = q.lower()
    add(store.entity_ids_among([q, lowered]), "id")
    add(store.entity_ids_by_address([q, lowered], limit), "address")
    if not hits and exists(store, q) and _ID.fullmatch(q):
        hits[q] = "id"
    if len(hits) < limit:
        add(store.entity_ids_by_label(q, limit), "label")
    if len(hits) < limit:
        add(store.subjects_by_observation_value(q, limit), "observation")
    if len(hits) < limit and len(q) >= 6:
        add(store.entity_ids_containing(q, limit), "id")
    info = describe(store, list(hits))
    return [{**info[i], "match": how} for i, how in hits.items()]


def _edge_out(e: Mapping[str, Any], hop: int | None = None, symbols: Mapping[str, str] | None = None,
              names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """An edge for people and machines: ``amount`` (base units, as stored), ``value`` (exact, display
    unit), ``symbol`` and ``display`` (``1,750 USDC``); ``src_name``/``dst_name`` name the ends."""
    from tracer import amounts

    d = dict(e)
    d["value"] = gq.amount_text(e.get("amount"), e.get("decimals"))
    d.update(amounts.amount_fields(e.get("amount"), e.get("asset"), e.get("decimals"), symbols))
    if names is not None:
        d["src_name"], d["dst_name"] = names.get(str(e["src"])), names.get(str(e["dst"]))
    if hop is not None:
        d["hop"] = hop
    return d


def node_names(info: Mapping[str, Mapping[str, Any]], listed: Mapping[str, str]) -> dict[str, str]:
    """Node -> what a person calls it: its label, and for a listed party also its listing
    (``Kowloon Compute Ltd [sanctioned: OFAC SDN]``); nodes with neither are left out."""
    out: dict[str, str] = {}
    for n in set(info) | set(listed):
        label = (info.get(n) or {}).get("label")
        parts = [str(label)] if label else []
        if n in listed:
            parts.append(f"[{listed[n]}]")
        if parts:
            out[n] = " ".join(parts)
    return out


def neighbours(store: Reads, node: str, depth: int = 1, kinds: Sequence[str] | None = None,
               direction: str = "both", max_nodes: int = 300) -> dict[str, Any]:
    """The neighbourhood of a node for drawing: nodes (with kind, label, flag), edges, hubs."""
    node = require(store, node)
    depth = check_int(depth, "depth", 1, MAX_DEPTH)
    max_nodes = check_int(max_nodes, "max_nodes", 1, MAX_NODES)
    kinds = check_kinds(kinds)
    if direction not in gq.DIRECTIONS:
        raise QueryError(f"direction must be one of {', '.join(gq.DIRECTIONS)}")
    g = SqlGraph(store, node)
    sub = gq.neighbourhood(g.fetch, node, depth, kinds, direction, max_nodes, g.hubs)
    info = describe(store, list(sub.nodes))
    risk = listings(store, list(sub.nodes))
    names = node_names(info, risk)
    nodes = [{**info[n], "hop": h, "hub": sub.hubs.get(n) or g.degree_hubs.get(n), "listed": risk.get(n),
              "name": names.get(n)} for n, h in sub.nodes.items()]
    symbols = asset_symbols(store, list(sub.edges.values()))
    edges = [_edge_out(e, max(sub.nodes.get(e["src"], 0), sub.nodes.get(e["dst"], 0)), symbols, names)
             for e in sub.edges.values()]
    edges.sort(key=lambda e: (e["hop"], str(e.get("time") or ""), e["id"]))
    return {"start": node, "depth": depth, "nodes": nodes, "edges": edges, "merged": merge_parallel(edges, symbols),
            "truncated": sub.truncated or g.truncated}


def path(store: Reads, a: str, b: str, max_depth: int = 6, kinds: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The fewest-hops chain of edges linking two nodes (not through hubs); empty list if none."""
    a, b = require(store, a, "from"), require(store, b, "to")
    max_depth = check_int(max_depth, "max_depth", 1, MAX_HOPS)
    g = SqlGraph(store, a)
    found = gq.shortest_path(g.fetch, a, b, max_depth, check_kinds(kinds), 20_000, g.hubs) or []
    ends = sorted({str(e[c]) for e in found for c in ("src", "dst")})
    names = node_names(describe(store, ends), listings(store, ends))
    symbols = asset_symbols(store, found)
    return [_edge_out(e, i + 1, symbols, names) for i, e in enumerate(found)]


def funding(store: Reads, node: str, hops: int = 3) -> list[dict[str, Any]]:
    """Who paid this wallet, and who paid them, ``hops`` back, with exact amounts per asset."""
    node = require(store, node)
    hops = check_int(hops, "hops", 1, MAX_HOPS)
    g = SqlGraph(store, node)
    from tracer import amounts

    funders = gq.funding_sources(g.fetch, node, hops, MAX_NODES, g.hubs)
    who = sorted({f.id for f in funders})
    info = describe(store, who)
    listed = listings(store, who)
    symbols = asset_symbols(store, [{"id": f.edges[0], "asset": f.asset} for f in funders if f.edges])
    out = []
    for f in funders:
        label, level = info[f.id]["label"], info[f.id]["level"]
        out.append({"hop": f.hop, "funder": f.id, "label": label or listed_name(listed.get(f.id)),
                    "via": f.via, "asset": f.asset, "amount": gq.amount_text(f.amount, f.decimals),
                    **amounts.amount_fields(f.amount, f.asset, f.decimals, symbols), "payments": f.payments,
                    "first_time": f.first_time, "hub": f.hub,
                    "level": level or ("listed" if f.id in listed else None), "listed": listed.get(f.id),
                    "edges": f.edges[:20]})
    return out


def no_funding_note(store: Reads, node: str) -> str:
    """Why :func:`funding` found no one, in words: not a wallet (the wrong question), or no stored
    payment into it, so an empty answer is not read as "funded by nobody suspicious"."""
    kind = describe(store, [node])[node]["kind"]
    if kind != "wallet":
        return f"{node} is not a wallet (kind {kind}): funding follows payments into wallets; tracer neighbours " \
               "shows its edges"
    return f"no payment into {node} is stored: whoever funded it paid on a chain or in a token no connector " \
           "here syncs, or before the synced blocks"


def no_edges_note(node: str, kinds: Sequence[str] | None, direction: str) -> str:
    """Why :func:`neighbours` drew no edge: none is stored around ``node`` that the filters let through."""
    what = "/".join(kinds) + " edge" if kinds else "edge"
    way = {"out": "leaves", "in": "reaches"}.get(direction, "touches")
    filtered = " (the --kind/--direction filters apply)" if kinds or direction != "both" else ""
    return f"no stored {what} {way} {node}{filtered}"


def listed_name(listing: str | None) -> str | None:
    """The name a listing gives an unlabelled party (its first entry's name, in brackets after the
    entry's id), else the listing."""
    if not listing:
        return None
    m = _ENTRY_NAME.search(listing)
    return m.group(1) if m else listing


# The first named entry of a listing (``listings``): "entry <id> (<name>)", the name ending where the
# text or the next entry does (a name may hold brackets: "Kowloon (HK) Ltd").
_ENTRY_NAME = re.compile(r"entr(?:y|ies) \S+ \((.+?)\)(?=$|, | and )")


def _direct_share(store: Reads, node: str, hit: gq.Hit, symbols: Mapping[str, str]) -> str | None:
    """For a direct counterparty: its part of the subject's paid volume that way, per asset, exact
    (``500 of 1,750 USDC (28.6%)``)."""
    from tracer import amounts

    way: Literal["out", "in"] = "in" if hit.direction == "inflow" else "out"
    other = "src" if way == "in" else "dst"
    tot: dict[tuple[str, int | None], int] = {}
    part: dict[tuple[str, int | None], int] = {}
    for r in store.neighbour_edges([node], way, ["paid"], 100_000):
        dec = r.get("decimals")
        a = (str(r["asset"] or ""), None if dec is None or dec == "" else int(dec))
        tot[a] = tot.get(a, 0) + int(r["amount"] or 0)
        if r[other] == hit.id:
            part[a] = part.get(a, 0) + int(r["amount"] or 0)
    shares = [amounts.part_of_total(part[a], tot[a], a[0], a[1], symbols) for a in sorted(part, key=str)]
    return ", ".join(shares) or None


def _share_out(e: Any, direction: str) -> dict[str, Any]:
    return {"direction": direction, "source": e.source, "hop": e.hop, "asset": e.asset,
            "share": f"{float(e.share) * 100:.2f}%", "share_exact": f"{e.share.numerator}/{e.share.denominator}",
            "path": list(e.path), "refs": list(e.refs)}


def proportional_exposure(store: Reads, node: str, hops: int) -> list[dict[str, Any]] | None:
    """The graph layer's haircut exposure (``graphs.exposure``) on the subject's bounded inflow tree.

    Only the edges that can carry taint to the subject are loaded: every payment into it, into its
    payers, ... ``hops`` back (plus its own outgoing payments for direct outgoing exposure), so the
    shares are exact for sources within ``hops`` without building the whole graph.  None when the
    graph layer is not installed.
    """
    try:
        from graphs.build import build_graph
        from graphs.clusters import Hub
        from graphs.exposure import exposure as graph_exposure
    except ImportError:
        return None
    g = SqlGraph(store, node)
    sub = gq.neighbourhood(g.fetch, node, hops, ["paid"], "in", MAX_NODES, g.hubs)
    edges = list(sub.edges.values()) + g.fetch([node], "out", ["paid"])
    listed = {n for n, why in g.risky(list(sub.nodes) + [str(e["dst"]) for e in edges]).items()
              if not why.startswith("flag ")}
    if not listed:
        return []
    tg = build_graph([{**e, "attrs": None} for e in edges], derive=False)
    hubs = {n: Hub(h, why) for h, why in {**sub.hubs, **g.degree_hubs}.items() if (n := tg.get(h)) is not None}
    res = graph_exposure(tg, sorted(listed), hubs, hops)
    out = []
    if node in res.incoming:
        out.append(_share_out(res.incoming[node], "inflow"))
    if node in res.outgoing:
        out.append(_share_out(res.outgoing[node], "outflow"))
    return out


def exposure(store: Reads, node: str, hops: int = 3) -> dict[str, Any]:
    """Listed, sanctioned or high-flagged nodes within ``hops`` payments, with path and hubs hit.

    ``hits`` come from a bounded walk (every risky node reached, both ways); ``proportional`` is the
    graph layer's share-of-funds figure for the subject when available.
    """
    node = require(store, node)
    hops = check_int(hops, "hops", 1, MAX_HOPS)
    g = SqlGraph(store, node)
    hits, hubs = gq.exposure_walk(g.fetch, node, g.risky, hops, MAX_NODES, g.hubs)
    hubs.update(g.degree_hubs)
    symbols = asset_symbols(store)
    info = describe(store, [h.id for h in hits])
    rows = [{"hop": h.hop, "id": h.id, "name": info[h.id]["label"], "direction": h.direction, "reason": h.reason,
             "share": _direct_share(store, node, h, symbols) if h.hop == 1 else None, "path": h.path} for h in hits]
    listed = listings(store, [node]).get(node)
    return {"subject": node, "hops": hops, "hits": rows, "proportional": proportional_exposure(store, node, hops),
            "hubs": [{"id": k, "why": v} for k, v in sorted(hubs.items())], "truncated": g.truncated,
            "listed": listed, "notes": _exposure_notes(store, node, hops, rows, listed, len(hubs), g.truncated)}


def _exposure_notes(store: Reads, node: str, hops: int, rows: Sequence[Mapping[str, Any]], listed: str | None,
                    hubs: int, truncated: bool) -> list[str]:
    """What a person must not misread in an exposure answer: a subject that is itself listed, and an
    empty answer (how far it looked, where it stopped, and whether flags counted at all), which
    would otherwise read as "no risk"."""
    notes = [f"{node} is itself {listed}"] if listed else []
    if not rows:
        why = f"no sanctioned, listed or high-flagged party within {hops} payments either way"
        if hubs:
            why += f"; the walk stopped at {hubs} {'hub' if hubs == 1 else 'hubs'} (exchanges, bridges, mixers and " \
                   "services are not crossed)"
        if truncated:
            why += f"; it stopped at {MAX_NODES} nodes, so a party further out may be missed"
        if not has_table(store, "flags"):
            why += "; the store has not been scored yet, so only listed parties count (run tracer score)"
        notes.append(why)
    return notes


# How a person reads one clustering link: what the heuristic says ``a`` and ``b`` did (its detail follows).
def cluster(store: Reads, node: str, max_size: int = 500) -> dict[str, Any]:
    """The actor cluster of a node, every member and the links that make it one actor
    (:func:`tracer.cluster_view.cluster`)."""
    from tracer.cluster_view import cluster as cluster_of

    return cluster_of(store, node, max_size)


def timeline(store: Reads, node: str, limit: int = 500) -> list[dict[str, Any]]:
    """Payments, leases and facts about a node in time order (the story of a case)."""
    node = require(store, node)
    limit = check_int(limit, "limit", 1, 5_000)
    from tracer import amounts

    edges = store.timeline_edges(node, limit)
    obs = store.timeline_observations(node, limit)
    events = gq.timeline(edges, obs, node, block_clock(store, edges))[:limit]
    symbols = asset_symbols(store, edges)
    others = sorted({str(ev["other"]) for ev in events if ev["direction"]})  # edge events: the other end
    names = node_names(describe(store, others), listings(store, others))
    for ev in events:
        ev.update(amounts.amount_fields(ev.get("amount_base"), ev.get("asset"), ev.get("decimals"), symbols))
        if ev["other"] in names:
            ev["other_name"] = names[ev["other"]]
    return events


def block_clock(store: Reads, edges: Sequence[Mapping[str, Any]]) -> Any:
    """A block clock for the edges that have a block height and no time (None when none need one).

    Anchors are read near those heights only (``tracer.scoring.tables.block_anchors``).
    """
    need: dict[str, set[int]] = {}
    for e in edges:
        if not e.get("time") and e.get("block") is not None and e.get("chain"):
            need.setdefault(str(e["chain"]), set()).add(int(e["block"]))
    if not need:
        return None
    try:
        from graphs.timeline import BlockClock
        from tracer.scoring import tables
    except ImportError:
        return None
    clock = BlockClock()
    for chain, blocks in need.items():
        for c, b, t in tables.block_anchors(store, [chain], sorted(blocks)):
            clock.add(c, b, t)
    for o in tables.block_clock_inputs(store, sorted(need)):
        clock.add_observation(o["subject"], o["value"], o["attrs"])
    return clock


def node(store: Reads, node_id: str) -> dict[str, Any]:
    """Everything the page shows beside a node: entity, observations, flag and evidence."""
    node_id = require(store, node_id)
    ent = store.entity(node_id)
    obs = store.node_observations(node_id, 200)
    flag = store.flag_row(node_id)
    ev = store.evidence_summary(node_id, 100)
    for r in [*([ent] if ent else []), *obs, *([flag] if flag else []), *ev]:
        for k in ("attrs", "reasons", "refs", "path"):
            if isinstance(r.get(k), str):
                with contextlib.suppress(ValueError):
                    r[k] = json.loads(r[k])
    info = describe(store, [node_id])[node_id]
    listing = listings(store, [node_id]).get(node_id)
    return {"id": node_id, "entity": ent or info, "listed": listing, "observations": obs, "flag": flag,
            "evidence": ev}


def edge(store: Reads, edge_id: str) -> dict[str, Any]:
    """One edge (a payment, a lease...) with its transaction, sibling edges and raw-payload provenance."""
    edge_id = check_id(edge_id, "edge id") if ":" in str(edge_id) else _plain_edge_id(edge_id)
    row = store.edge_row(edge_id)
    if row is None:
        raise QueryError(f"edge {edge_id} is not in the store", 404)
    ends = [str(row["src"]), str(row["dst"])]
    names = node_names(describe(store, ends), listings(store, ends))
    e = _edge_out(row, None, {**store.token_labels(), **_attr_symbol(row)}, names)
    if isinstance(e.get("attrs"), str):
        with contextlib.suppress(ValueError):
            e["attrs"] = json.loads(e["attrs"])
    prov = None
    if e.get("raw_sha256"):
        prov = store.raw_payload_meta(e["raw_sha256"])
    same_tx: list[dict[str, Any]] = []
    if e.get("tx") and e.get("block") is not None:  # (kind, chain, block) is indexed, tx alone is not
        rows = store.same_tx_edges(e["kind"], e["chain"], e["block"], e["tx"], edge_id)
        same_tx = [_edge_out(r, None, asset_symbols(store, rows)) for r in rows]
    return {"edge": e, "provenance": prov, "same_tx": same_tx}


def _attr_symbol(row: Mapping[str, Any]) -> dict[str, str]:
    """The symbol an edge row's own attrs give its asset (an IBC denom trace), if any."""
    from tracer import amounts

    return amounts.traces_from_attrs([(str(row.get("asset") or ""), row.get("attrs"))])


def _plain_edge_id(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9:._/\-@+#~=,]{1,300}", value):
        raise QueryError(f"edge id {str(value)[:80]!r} is not valid")
    return value


LEVEL_ORDER = ("severe", "high", "medium", "low")


def merge_parallel(edges: Sequence[Mapping[str, Any]], symbols: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Parallel payments (same kind, ends, asset and scale, two or more) as one summary each: the exact
    total with its symbol, the count and the first and last time -- so 24 payments draw as one edge
    the page can split again (``edges`` lists the members)."""
    from tracer import amounts

    groups: dict[tuple[str, str, str, str, str], list[Mapping[str, Any]]] = {}
    for e in edges:
        if e.get("amount") in (None, ""):
            continue
        key = (str(e["kind"]), str(e["src"]), str(e["dst"]), str(e.get("asset") or ""), str(e.get("decimals")))
        groups.setdefault(key, []).append(e)
    out = []
    for (kind, src, dst, asset, _), rows in sorted(groups.items()):
        if len(rows) < 2:
            continue
        total = sum(int(r["amount"]) for r in rows)
        times = sorted(str(r["time"]) for r in rows if r.get("time"))
        first = rows[0]
        out.append({"id": f"merged|{kind}|{src}|{dst}|{asset}", "kind": kind, "src": src, "dst": dst,
                    "asset": asset or None, "count": len(rows), "amount_base": str(total),
                    "display": amounts.display(total, first.get("asset"), first.get("decimals"), symbols),
                    "first_time": times[0] if times else None, "last_time": times[-1] if times else None,
                    "edges": sorted(str(r["id"]) for r in rows)})
    return out


def _reason_texts(raw: Any, top: int = 3) -> list[str]:
    """A flag's reasons as the sentences scoring wrote (strongest first)."""
    items = raw
    if isinstance(raw, str):
        try:
            items = json.loads(raw)
        except ValueError:
            return [raw]
    if isinstance(items, dict):
        items = [items]
    out: list[tuple[float, str]] = []
    for r in items or []:
        if isinstance(r, dict):
            out.append((float(r.get("score") or 0), str(r.get("detail") or r.get("rule") or "")))
        else:
            out.append((0.0, str(r)))
    return [t for _, t in sorted(out, key=lambda x: -x[0])[:top]]


def flags_overview(store: Reads, min_level: str = "low", limit: int = 500) -> dict[str, Any]:
    """The landing view: counts by level and the flagged subjects, severe and high first, each with
    its label, top reasons, whether it is new in the latest scoring and its newest judgement."""
    from tracer import judgements as jd

    if min_level not in LEVEL_ORDER:
        raise QueryError(f"min_level must be one of {', '.join(LEVEL_ORDER)}, not {str(min_level)[:40]!r}")
    limit = check_int(limit, "limit", 1, 5_000)
    if not has_table(store, "flags"):
        return {"scored": False, "counts": dict.fromkeys(LEVEL_ORDER, 0), "flags": [], "truncated": False,
                "why_empty": "no scoring run yet: run tracer score (or tracer run)"}
    rows = store.flag_rows()
    counts = dict.fromkeys(LEVEL_ORDER, 0)
    for r in rows:
        counts[str(r["level"])] = counts.get(str(r["level"]), 0) + 1
    keep = LEVEL_ORDER[: LEVEL_ORDER.index(min_level) + 1]
    rows = sorted((r for r in rows if r["level"] in keep),
                  key=lambda r: (LEVEL_ORDER.index(r["level"]), -float(r["score"] or 0), str(r["subject"])))
    shown = rows[:limit]
    subjects = [str(r["subject"]) for r in shown]
    info = describe(store, subjects)
    names = node_names(info, listings(store, subjects))
    judged = jd.latest_states(store, subjects) if subjects else {}  # type: ignore[arg-type]
    flags = [{"subject": s, "level": r["level"], "score": r["score"], "name": names.get(s),
              "reasons": _reason_texts(r["reasons"]), "first_seen": r["first_seen"], "computed_at": r["computed_at"],
              "new": r["first_seen"] == r["computed_at"], "judgement": judged.get(s)}
             for s, r in zip(subjects, shown, strict=True)]
    why = None if flags else f"no flags at {min_level} or above in the latest scoring"
    return {"scored": True, "counts": counts, "min_level": min_level, "flags": flags,
            "truncated": len(rows) > len(shown), "why_empty": why}


def changes(store: StoreBackend, limit_runs: int = 3) -> dict[str, Any]:
    """What changed since the previous scoring run: flags new, left (with their last level), up and
    down a level, from the store's log of scoring runs; judgements whose evidence changed since they
    were made; the latest runs with their records and errors.  The keys: :func:`tracer.changes.changes`."""
    from tracer.changes import changes as since_previous

    return since_previous(store, limit_runs)
