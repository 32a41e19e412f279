"""Investigator queries as pure, bounded graph walks: neighbours, shortest path, funding, timeline.

The walks never open a database.  They pull edges through a ``fetch`` callable (``tracer.queries``
backs it with indexed SQL on the store; :func:`rows_fetch` backs it with plain rows), so a query
on a 1M-edge store only touches the few thousand edges it needs.  Every walk is bounded (depth,
node and edge budgets) and stops at hubs (exchanges, bridges, very high-degree wallets): an
exchange touches everyone, and expanding it would drown the case in unrelated people.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

EdgeRow = Mapping[str, Any]
#: ``fetch(node_ids, direction, kinds)`` -> edges with ``src`` in node_ids (direction "out") or
#: ``dst`` in node_ids ("in"), optionally only those kinds.
Fetch = Callable[[Sequence[str], str, Sequence[str] | None], Iterable[EdgeRow]]
#: ``classify(node_ids)`` -> {node_id: reason} for the nodes that have the property (hub, risky).
Classify = Callable[[Collection[str]], Mapping[str, str]]

DIRECTIONS = ("out", "in", "both")


def _none(_: Collection[str]) -> Mapping[str, str]:
    return {}


@dataclass
class Subgraph:
    """A bounded neighbourhood: node -> hop, edge id -> row, hubs not expanded and why."""

    start: str
    nodes: dict[str, int] = field(default_factory=dict)
    edges: dict[str, EdgeRow] = field(default_factory=dict)
    hubs: dict[str, str] = field(default_factory=dict)
    truncated: bool = False


def _dirs(direction: str) -> tuple[str, ...]:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}")
    return ("out", "in") if direction == "both" else (direction,)


def _other(edge: EdgeRow, node: str) -> str:
    return str(edge["dst"] if edge["src"] == node else edge["src"])


def _expand(fetch: Fetch, frontier: Sequence[str], dirs: Sequence[str],
            kinds: Sequence[str] | None) -> list[tuple[str, EdgeRow]]:
    """(frontier node, edge) pairs for every edge touching the frontier in the wanted directions."""
    fr = set(frontier)
    out: list[tuple[str, EdgeRow]] = []
    for d in dirs:
        for e in fetch(frontier, d, kinds):
            node = e["src"] if d == "out" else e["dst"]
            if node in fr:
                out.append((str(node), e))
    return out


def neighbourhood(fetch: Fetch, start: str, depth: int = 1, kinds: Sequence[str] | None = None,
                  direction: str = "both", max_nodes: int = 500, is_hub: Classify = _none) -> Subgraph:
    """Everything within ``depth`` hops of ``start`` (breadth first), hubs reached but not expanded.

    Stops adding nodes at ``max_nodes`` and says so (``truncated``) rather than returning a
    hairball the browser cannot draw.
    """
    dirs = _dirs(direction)
    g = Subgraph(start, nodes={start: 0})
    frontier = [start]
    for hop in range(1, depth + 1):
        if not frontier:
            break
        nxt: list[str] = []
        pairs = _expand(fetch, frontier, dirs, kinds)
        fan: dict[str, int] = {}
        for node, _ in pairs:
            fan[node] = fan.get(node, 0) + 1
        # When the node budget runs out, drop the widest fan-outs first, not whatever came last.
        pairs.sort(key=lambda p: fan[p[0]])
        for node, e in pairs:
            other = _other(e, node)
            if other not in g.nodes:
                if len(g.nodes) >= max_nodes:
                    g.truncated = True
                    continue
                g.nodes[other] = hop
                nxt.append(other)
            g.edges[str(e["id"])] = e
        hubs = is_hub(nxt) if nxt else {}
        g.hubs.update(hubs)
        frontier = [n for n in nxt if n not in hubs]
    return g


def shortest_path(fetch: Fetch, a: str, b: str, max_depth: int = 6, kinds: Sequence[str] | None = None,
                  max_nodes: int = 20_000, is_hub: Classify = _none) -> list[EdgeRow] | None:
    """Fewest-hops path between two nodes, edges taken in either direction, not through hubs.

    Bidirectional breadth-first search: it meets in the middle, so a 6-hop path costs about two
    3-hop neighbourhoods instead of one 6-hop one.  Returns the edges from ``a`` to ``b``, or None.
    """
    if a == b:
        return []
    parents: list[dict[str, tuple[str, EdgeRow] | None]] = [{a: None}, {b: None}]
    frontiers = [[a], [b]]
    blocked: set[str] = set()
    hops = 0
    while frontiers[0] and frontiers[1] and hops < max_depth:
        side = 0 if len(frontiers[0]) <= len(frontiers[1]) else 1
        mine, theirs = parents[side], parents[1 - side]
        nxt: list[str] = []
        meet: str | None = None
        for node, e in _expand(fetch, frontiers[side], ("out", "in"), kinds):
            other = _other(e, node)
            if other in mine or other in blocked:
                continue
            mine[other] = (node, e)
            if other in theirs:
                meet = other
                break
            nxt.append(other)
        hops += 1
        if meet is not None:
            return _join(parents[0], parents[1], meet)
        if sum(len(p) for p in parents) > max_nodes:
            return None
        hubs = is_hub(nxt) if nxt else {}
        for h in hubs:  # a hub may end a path but never joins two halves of one
            blocked.add(h)
            mine.pop(h, None)
        frontiers[side] = [n for n in nxt if n not in hubs]
    return None


def _join(pa: dict[str, tuple[str, EdgeRow] | None], pb: dict[str, tuple[str, EdgeRow] | None],
          meet: str) -> list[EdgeRow]:
    left: list[EdgeRow] = []
    node = meet
    while (step := pa[node]) is not None:
        node, e = step
        left.append(e)
    right: list[EdgeRow] = []
    node = meet
    while (step := pb[node]) is not None:
        node, e = step
        right.append(e)
    return list(reversed(left)) + right


@dataclass
class Funder:
    """A wallet that paid into the subject's funding tree, ``hop`` payments back."""

    id: str
    hop: int
    via: str
    asset: str
    amount: int
    decimals: int | None
    payments: int
    first_time: str | None
    edges: list[str]
    hub: str | None = None


def funding_sources(fetch: Fetch, start: str, hops: int = 3, max_nodes: int = 2_000,
                    is_hub: Classify = _none, kinds: Sequence[str] = ("paid",)) -> list[Funder]:
    """Who paid the subject, who paid them, ... ``hops`` back; hubs are named, not expanded.

    Amounts are summed per (funder, via, asset) with exact ints; ``first_time`` is the earliest
    payment, which is what "funded by" means for a fresh wallet.
    """
    seen = {start}
    frontier = [start]
    out: list[Funder] = []
    for hop in range(1, hops + 1):
        if not frontier:
            break
        groups: dict[tuple[str, str, str], Funder] = {}
        for node, e in _expand(fetch, frontier, ("in",), kinds):
            src = str(e["src"])
            if src == node:
                continue
            key = (src, node, str(e.get("asset") or ""))
            f = groups.get(key)
            if f is None:
                f = groups[key] = Funder(src, hop, node, key[2], 0, e.get("decimals"), 0, None, [])
            f.amount += int(e.get("amount") or 0)
            f.payments += 1
            f.edges.append(str(e["id"]))
            t = e.get("time")
            if t and (f.first_time is None or str(t) < f.first_time):
                f.first_time = str(t)
        new = sorted({f.id for f in groups.values()} - seen)
        if len(seen) + len(new) > max_nodes:
            new = new[: max(0, max_nodes - len(seen))]
        hubs = is_hub(new) if new else {}
        for f in groups.values():
            f.hub = hubs.get(f.id)
        out.extend(sorted(groups.values(), key=lambda f: (-f.amount, f.id)))
        seen.update(new)
        frontier = [n for n in new if n not in hubs]
    return out


@dataclass
class Hit:
    """A risky node reached from the subject: how many hops, along which edges, which way."""

    id: str
    hop: int
    reason: str
    direction: str
    path: list[str]


def exposure_walk(fetch: Fetch, start: str, is_risky: Classify, hops: int = 3, max_nodes: int = 2_000,
                  is_hub: Classify = _none, kinds: Sequence[str] = ("paid",)) -> tuple[list[Hit], dict[str, str]]:
    """Risky nodes within ``hops`` payments of the subject (inflow and outflow walked separately).

    A fallback for when the graph layer's proportional exposure is unavailable: it reports hop
    count and path, not the share of funds.  Returns hits and the hubs where walks stopped.
    """
    hits: list[Hit] = []
    hubs_seen: dict[str, str] = {}
    for direction, d in (("inflow", "in"), ("outflow", "out")):
        path: dict[str, list[str]] = {start: []}
        frontier = [start]
        for hop in range(1, hops + 1):
            if not frontier:
                break
            nxt: list[str] = []
            for node, e in _expand(fetch, frontier, (d,), kinds):
                other = _other(e, node)
                if other in path or len(path) >= max_nodes:
                    continue
                path[other] = path[node] + [str(e["id"])]
                nxt.append(other)
            risky = is_risky(nxt) if nxt else {}
            for n in nxt:
                if n in risky:
                    hits.append(Hit(n, hop, risky[n], direction, path[n]))
            hubs = is_hub(nxt) if nxt else {}
            hubs_seen.update(hubs)
            frontier = [n for n in nxt if n not in hubs and n not in risky]
    hits.sort(key=lambda h: (h.hop, h.id, h.direction))
    return hits, hubs_seen


def component(fetch: Fetch, start: str, kinds: Sequence[str] = ("same_actor",),
              max_nodes: int = 1_000) -> Subgraph:
    """The connected component of ``start`` over ``kinds`` edges (an actor cluster), bounded."""
    return neighbourhood(fetch, start, depth=max_nodes, kinds=kinds, max_nodes=max_nodes)


def _edge_time(e: EdgeRow, clock: Any) -> tuple[str | None, str]:
    """(time, how it is known) for an edge: recorded; estimated from its block height; first seen."""
    if e.get("time"):
        return str(e["time"]), "recorded"
    if clock is not None and e.get("block") is not None and e.get("chain"):
        from graphs.timeline import iso

        est = clock.estimate(e["chain"], e["block"])
        if est is not None:
            return iso(est), clock.note(e["chain"], e["block"])
    if e.get("first_seen"):
        return str(e["first_seen"]), "not recorded; first seen by tracer then (an upper bound)"
    return None, "unknown"


def timeline(edges: Iterable[EdgeRow], observations: Iterable[Mapping[str, Any]], subject: str,
             clock: Any = None) -> list[dict[str, Any]]:
    """Payments, leases and observations about ``subject`` as one list in time order.

    An edge without a recorded time is placed by ``clock`` (a :class:`graphs.timeline.BlockClock`)
    from its block height when it can be, else at its first-seen time; ``time_basis`` says which.
    Events without any time sort last (an undated fact is still a fact, but it cannot be placed).
    """
    events: list[dict[str, Any]] = []
    for e in edges:
        outgoing = e["src"] == subject
        when, basis = _edge_time(e, clock)
        events.append({
            "time": when, "time_basis": basis, "event": str(e["kind"]),
            "direction": "out" if outgoing else "in", "other": e["dst"] if outgoing else e["src"],
            "amount": amount_text(e.get("amount"), e.get("decimals")), "asset": e.get("asset"),
            "amount_base": e.get("amount"), "decimals": e.get("decimals"), "tx": e.get("tx"), "ref": e["id"],
        })
    for o in observations:
        events.append({
            "time": o.get("observed_at") or o.get("first_seen"), "time_basis": "observed",
            "event": str(o["predicate"]),
            "direction": "", "other": o.get("value"), "amount": None, "asset": None, "amount_base": None,
            "decimals": None, "tx": None,
            "ref": o["id"],
        })
    events.sort(key=lambda ev: (ev["time"] is None, str(ev["time"] or ""), str(ev["ref"])))
    return events


def amount_text(amount: Any, decimals: Any) -> str | None:
    """A uint256 base-unit amount as exact decimal text (``1500000``, 6 -> ``1.5``); no floats."""
    if amount is None or amount == "":
        return None
    n = int(amount)
    d = int(decimals or 0)
    if d <= 0:
        return str(n)
    whole, frac = divmod(n, 10**d)
    fs = str(frac).rjust(d, "0").rstrip("0")
    return f"{whole}.{fs}" if fs else str(whole)


def rows_fetch(rows: Iterable[EdgeRow]) -> Fetch:
    """A ``fetch`` over edge rows held in memory (tests, small graphs, DataFrames' records)."""
    by_src: dict[str, list[EdgeRow]] = {}
    by_dst: dict[str, list[EdgeRow]] = {}
    for r in rows:
        by_src.setdefault(str(r["src"]), []).append(r)
        by_dst.setdefault(str(r["dst"]), []).append(r)

    def fetch(nodes: Sequence[str], direction: str, kinds: Sequence[str] | None) -> list[EdgeRow]:
        idx = by_src if direction == "out" else by_dst
        return [e for n in nodes for e in idx.get(n, ()) if kinds is None or e["kind"] in kinds]

    return fetch
