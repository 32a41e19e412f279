"""The investigation graph: a networkx MultiDiGraph over integer node ids, built from store rows.

Graph code never opens a database: ``tracer`` reads rows (tuples, dicts or a DataFrame) and hands
them over.  To keep a million-edge graph in memory, nodes are small ints (``TracerGraph.ids`` maps
them back to store ids) and each edge keeps only what the walks need: kind, amount (int), time
(epoch seconds), asset key and the id of the stored fact behind it.  Everything else stays in the
store and is looked up by that fact id when a flag is explained.

Time: an edge's ``t`` is epoch seconds or None (unknown), never a made-up 0.  A fact with a block
height but no time gets the estimate of a per-chain :class:`graphs.timeline.BlockClock` (anchored
on the facts that carry both, and on ``block_time`` observations) and is marked ``te`` (estimated),
with ``b``/``c`` holding the height and chain it was estimated from.  Where times are compared, known
times order before unknown ones.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import networkx as nx

from connectors import facts, ids
from connectors.ids import NodeId
from graphs.timeline import BlockClock

# Column order of the tuples ``add_edges`` / ``add_observations`` accept (dicts use these keys).
# ``chain`` and ``block`` come last so older 9-column rows still work (no block: no estimate).
EDGE_COLUMNS = ("id", "kind", "src", "dst", "amount", "decimals", "asset", "time", "attrs", "chain", "block")
OBS_COLUMNS = ("id", "subject", "predicate", "value", "attrs")

NODE_KINDS = {
    "wallet": "wallet", "provider": "provider", "lease": "lease", "job": "lease",
    "deployment": "deployment", "gpu": "gpu_model", "entity": "entity", "jurisdiction": "jurisdiction",
    "machine": "machine", "offer": "offer", "token": "token", "cluster": "cluster",
}
# Edges whose attrs carry a GPU count the compute accounting needs.
_UNIT_KINDS = {"uses_gpu", "offers_gpu"}


def node_kind(node_id: str) -> str:
    """The node type of a store id's kind (``wallet:evm:0x..`` -> ``wallet``); called once per node."""
    return NODE_KINDS.get(ids.kind_of(node_id), "other")


def to_epoch(t: Any) -> int | None:
    """Seconds since 1970 for an ISO-8601 text or an int; None (unknown) for None/""; naive = UTC."""
    if t is None or t == "":
        return None
    if isinstance(t, int | float):
        return int(t)
    s = str(t)
    if s.isdigit():
        return int(s)
    d = datetime.fromisoformat(s.replace("Z", "+00:00"))
    if d.tzinfo is None:
        d = d.replace(tzinfo=UTC)
    return int(d.timestamp())


def _before(t: int | None, fid: str, t2: int | None, fid2: str) -> bool:
    """Whether (t, fid) orders before (t2, fid2): known times first, then by time and fact id."""
    return (t is None, t or 0, fid) < (t2 is None, t2 or 0, fid2)


def _rows(rows: Any, cols: Sequence[str]) -> Iterator[tuple[Any, ...]]:
    """Tuples in ``cols`` order from tuples, dicts or a pandas DataFrame."""
    if hasattr(rows, "itertuples") and hasattr(rows, "columns"):
        rows = rows.astype(object).where(rows.notna(), None)  # NaN (missing) -> None
        have = list(rows.columns)
        idx = [have.index(c) if c in have else None for c in cols]
        for t in rows.itertuples(index=False, name=None):
            yield tuple(t[i] if i is not None else None for i in idx)
        return
    for r in rows:
        if isinstance(r, Mapping):
            yield tuple(r.get(c) for c in cols)
        else:
            t = tuple(r)
            yield t + (None,) * (len(cols) - len(t)) if len(t) < len(cols) else t


@dataclass
class FirstFunding:
    """The first ``paid`` edge into a wallet: who funded it, when, how much, which fact."""

    src: int
    time: int | None  # None: no payment into the wallet has a known or estimable time
    amount: int
    asset: str
    fact: str


@dataclass
class TracerGraph:
    """A MultiDiGraph over int nodes plus the int <-> store-id side table and the first fundings."""

    g: nx.MultiDiGraph = field(default_factory=nx.MultiDiGraph)
    ids: list[str] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)
    first_in: dict[int, FirstFunding] = field(default_factory=dict)
    payees: set[int] = field(default_factory=set)  # targets of payout_to: providers' payout wallets
    paid_assets: set[str] = field(default_factory=set)  # asset keys of paid edges
    clock: BlockClock = field(default_factory=BlockClock)
    _unplaced: list[tuple[int, int, int, str, int]] = field(default_factory=list)  # (u, v, key, chain, block)
    _assets: dict[str, str] = field(default_factory=dict)
    _parsed: dict[int, NodeId | None] = field(default_factory=dict)  # node -> its parsed id (see parsed)
    _nkeys: int = 0  # edge keys are a graph-wide counter: networkx's own key search is the slow part

    def _add(self, src: int, dst: int, data: dict[str, Any]) -> int:
        """Add one edge (both ends exist: :meth:`node` made them) with a fresh ``data`` dict.

        What ``MultiDiGraph.add_edge`` does for a new key, without its per-call checks, copy and
        cache clearing (a third of a million-edge build): keys are a graph-wide counter, so the key is
        always new; the key dict is shared by ``_succ`` and ``_pred`` exactly as networkx shares it.
        Callers that add edges call :meth:`_touched` once afterwards (networkx's view caches)."""
        self._nkeys += 1
        succ = self.g._succ[src]
        keydict = succ.get(dst)
        if keydict is None:
            keydict = succ[dst] = {}
            self.g._pred[dst][src] = keydict
        keydict[self._nkeys] = data
        return self._nkeys

    def _touched(self) -> None:
        """Clear networkx's cached views after edges were added directly (see :meth:`_add`)."""
        nx._clear_cache(self.g)

    # -- nodes ---------------------------------------------------------------------------------
    def node(self, node_id: str) -> int:
        """The int id of a store id, adding the node (typed by its prefix) if new."""
        n = self.index.get(node_id)
        if n is None:
            n = len(self.ids)
            node_id = sys.intern(node_id)
            self.ids.append(node_id)
            self.index[node_id] = n
            self.g.add_node(n, k=node_kind(node_id))
        return n

    def id_of(self, n: int) -> str:
        return self.ids[n]

    def get(self, node_id: str) -> int | None:
        return self.index.get(node_id)

    def parsed(self, n: int) -> NodeId | None:
        """Node ``n``'s id parsed (:func:`connectors.ids.parse`; None when it is not a node id), once
        per node: walks that ask "whose lease is this" call it per edge."""
        try:
            return self._parsed[n]
        except KeyError:
            p = self._parsed[n] = ids.try_parse(self.ids[n])
            return p

    def kind(self, n: int) -> str:
        return str(self.g.nodes[n]["k"])

    def nodes_of_kind(self, kind: str) -> list[str]:
        return [self.ids[n] for n, k in self.g.nodes(data="k") if k == kind]

    def asset_key(self, asset: Any, decimals: Any) -> str:
        """One interned ``asset/decimals`` string per asset, shared by all its edges."""
        raw = f"{asset or ''}/{'' if decimals is None else int(decimals)}"
        key = self._assets.get(raw)
        if key is None:
            key = self._assets[raw] = sys.intern(raw)
        return key

    # -- edges ---------------------------------------------------------------------------------
    def add_edges(self, rows: Any) -> int:
        """Add ``edges`` rows (EDGE_COLUMNS); incremental: call again with new rows. Returns count.

        Rows with a time and a block feed the chain's clock; rows with a block and no time are placed
        by it once all rows are read (``te`` marks them); rows with neither keep time None.
        """
        add, node, n_added, clock, unplaced = self._add, self.node, 0, self.clock, self._unplaced
        for fid, kind, src, dst, amount, decimals, asset, time, attrs, chain, block in _rows(rows, EDGE_COLUMNS):
            u, v = node(src), node(dst)
            a = int(amount) if amount not in (None, "") else 0
            t = to_epoch(time)
            data: dict[str, Any] = {"k": sys.intern(kind), "a": a, "t": t, "f": fid}
            place = block is not None and block != "" and chain
            if place and t is not None:
                clock.add(chain, block, t)
            if kind == "paid":
                data["s"] = self.asset_key(asset, decimals)
                self.paid_assets.add(data["s"])
                prev = self.first_in.get(v)
                if prev is None or _before(t, fid, prev.time, prev.fact):
                    self.first_in[v] = FirstFunding(u, t, a, data["s"], fid)
            elif kind == "payout_to":
                self.payees.add(v)
            elif kind in _UNIT_KINDS and attrs:
                at = json.loads(attrs) if isinstance(attrs, str) else attrs
                units = facts.gpu_units(kind, at)
                if units is not None:
                    data["u"] = units
                hours = facts.lease_hours(at)
                if hours is not None:
                    data["h"] = hours
            key = add(u, v, data)
            if place and t is None:
                unplaced.append((u, v, key, sys.intern(str(chain)), int(block)))
            n_added += 1
        if unplaced:
            self.place_by_block()
        self._touched()
        return n_added

    def place_by_block(self) -> int:
        """Give edges with a block and no time the clock's estimate; returns how many were placed."""
        still: list[tuple[int, int, int, str, int]] = []
        funded: set[int] = set()
        for item in self._unplaced:
            u, v, key, chain, block = item
            est = self.clock.estimate(chain, block)
            data = self.g.get_edge_data(u, v, key)
            if data is None:  # removed since (an incremental build dropped it)
                continue
            if est is None:
                still.append(item)
                continue
            data.update(t=est, te=True, b=block, c=chain)
            if data["k"] == "paid":
                funded.add(v)
        placed = len(self._unplaced) - len(still)
        self._unplaced = still
        for v in funded:  # first funding again, now that some payments into v have a time
            best: FirstFunding | None = None
            for u, _, d in self.g.in_edges(v, data=True):
                if d["k"] == "paid" and (best is None or _before(d["t"], d["f"], best.time, best.fact)):
                    best = FirstFunding(u, d["t"], d["a"], d["s"], d["f"])
            if best is not None:
                self.first_in[v] = best
        return placed

    def ignore_dust_fundings(self, limits: Mapping[str, int]) -> int:
        """Re-derive first fundings without dust (``limits``: per asset key, the smallest amount that
        is not dust, :func:`graphs.dust.dust_limits`).  A dust transfer is not a funding: a listed
        wallet dusting fresh wallets must not become their "first funder" (common funder, star,
        freshness); their first real funding takes its place.  ``funded_by`` edges follow.  Returns
        how many wallets changed."""
        changed: dict[int, FirstFunding | None] = {}
        for v, ff in self.first_in.items():
            if ff.amount >= limits.get(ff.asset, 1):
                continue
            best: FirstFunding | None = None
            for u, _, d in self.g.in_edges(v, data=True):
                if d["k"] == "paid" and d["a"] >= limits.get(d["s"], 1) and (
                        best is None or _before(d["t"], d["f"], best.time, best.fact)):
                    best = FirstFunding(u, d["t"], d["a"], d["s"], d["f"])
            changed[v] = best
        for v, best in changed.items():
            stale = [(v, w, key) for _, w, key, k in self.g.out_edges(v, keys=True, data="k") if k == "funded_by"]
            self.g.remove_edges_from(stale)
            if best is None:
                del self.first_in[v]
                continue
            self.first_in[v] = best
            if stale:  # funded_by was derived: derive it again for the new first funding
                self._add(v, best.src, {"k": "funded_by", "a": best.amount, "t": best.time, "f": best.fact})
        self._touched()
        return len(changed)

    def time_note(self, data: Mapping[str, Any]) -> str | None:
        """For an edge whose time was estimated: ``time estimated from <chain> block height H at ~S s/block``."""
        return self.clock.note(data.get("c"), data.get("b")) if data.get("te") else None

    def add_observations(self, rows: Any) -> int:
        """Turn ``location`` observations into ``located_in`` edges to ``jurisdiction:<ISO2>``;
        ``block_time`` observations (``chain:<name>``) become block-clock anchors."""
        n_added, clocked = 0, False
        for oid, subject, predicate, value, attrs in _rows(rows, OBS_COLUMNS):
            if predicate == "block_time":
                self.clock.add_observation(subject, value, attrs)
                clocked = True
                continue
            if predicate != "location" or not value:
                continue
            at = json.loads(attrs) if isinstance(attrs, str) else (attrs or {})
            self._add(self.node(subject), self.node(ids.jurisdiction(str(value))),
                      {"k": "located_in", "a": 0, "t": None, "f": oid, "layer": facts.location_layer(at)})
            n_added += 1
        if clocked and self._unplaced:
            self.place_by_block()
        self._touched()
        return n_added

    def derive_funded_by(self) -> int:
        """Add ``funded_by`` edges (wallet -> its first funder), the reverse of each first ``paid``."""
        for v, ff in self.first_in.items():
            self._add(v, ff.src, {"k": "funded_by", "a": ff.amount, "t": ff.time, "f": ff.fact})
        self._touched()
        return len(self.first_in)

    def add_links(self, links: Iterable[Any]) -> int:
        """Add ``same_actor`` edges from clustering links (graphs.clusters.Link)."""
        n = 0
        for lk in links:
            self._add(self.node(lk.a), self.node(lk.b), {"k": "same_actor", "a": 0, "t": None,
                      "f": lk.refs[0] if lk.refs else "", "h": lk.heuristic, "w": lk.strength})
            n += 1
        self._touched()
        return n

    # -- walks ---------------------------------------------------------------------------------
    def out_edges(self, n: int, kind: str | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
        for _, v, d in self.g.out_edges(n, data=True):
            if kind is None or d["k"] == kind:
                yield v, d

    def in_edges(self, n: int, kind: str | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
        for u, _, d in self.g.in_edges(n, data=True):
            if kind is None or d["k"] == kind:
                yield u, d

    def degree(self, n: int) -> int:
        return int(self.g.degree(n))


def build_graph(edges: Any, observations: Any = (), derive: bool = True,
                graph: TracerGraph | None = None, clock: BlockClock | None = None) -> TracerGraph:
    """Build (or extend ``graph``) from edge and observation rows; ``derive`` adds ``funded_by``.

    ``clock`` adds block-time anchors read elsewhere (``tracer.scoring.tables.block_anchors``);
    ``block_time`` observations among ``observations`` are anchors too, read before the edges.
    """
    tg = graph or TracerGraph()
    if clock is not None:
        tg.clock.merge(clock)
    obs = list(_rows(observations, OBS_COLUMNS))
    for _oid, subject, predicate, value, attrs in obs:
        if predicate == "block_time":
            tg.clock.add_observation(subject, value, attrs)
    tg.add_edges(edges)
    tg.add_observations(obs)
    if derive:
        # Incremental builds: drop funded_by edges from a previous derive before re-deriving.
        if graph is not None:
            stale = [(u, v, key) for u, v, key, k in tg.g.edges(keys=True, data="k") if k == "funded_by"]
            tg.g.remove_edges_from(stale)
        tg.derive_funded_by()
    return tg
