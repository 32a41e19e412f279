"""Exposure to listed wallets on Spark: the twin of :func:`graphs.exposure.exposure`, same answers.

The walk is the networkx one (read :mod:`graphs.exposure` for what the taint means): taint per
(wallet, asset) as an exact fraction, each hop from the taint of earlier hops only, time order via
the first tainted time (``since``), dust limits, the share minimum, hubs that stop walks and are
reported once, the moved-on rule for unpriced assets, held receipts of valued assets kept apart
(``passive``), payout wallets exempt, and direct outgoing exposure.

How it is distributed.  The ``paid`` frame (:mod:`graphs.spark.frames`) is filtered to its non-dust
edges once and cached; the taint found so far stays on the executors as ``(v, s, sh, t, o, hp)``
rows (wallet, asset, share as exact ``"num/den"`` text, first tainted time, origin: the listed
source, the hop that found it).
One hop is one grouped pass:

1. the frontier (the listed wallets at hop 1, after that the pairs tainted at the previous hop)
   joined to the non-dust edges leaving it in the same asset; receivers that are listed or already
   tainted in that asset are dropped;
2. edges into hubs are grouped per hub (the first one in walk order is the stop); the other
   receivers are the candidates, and their whole non-dust inflow in the asset (each payer's taint,
   first tainted time and origin joined from the taint rows) and the times of their non-dust outflow
   in it (did they move it on?) are grouped per (wallet, asset).  Hop 1 adds each payer of a
   listed wallet's outflow (direct outgoing exposure);
3. one Python function per group (``applyInArrow``) does what networkx does for that wallet: sums
   amounts as ints and taint as :class:`fractions.Fraction` (never floats nor Spark decimals, which
   overflow at 38 digits), picks the best contributor, applies the share minimum, the moved-on rule
   and the passive split.

The hop's rows are kept on the executors with their lineage cut (``localCheckpoint``): the tainted
pairs are the next frontier and join the taint rows.  The driver gets the hop's results only (newly
tainted pairs with their best contributor and fact, hub stops, outgoing exposures) in one action per
hop, and rebuilds each path from them: a tainted pair's predecessor was tainted at an earlier hop.
Membership in the listed, hub and payee sets (driver-side inputs already) is a set literal in the
plan, the dust limits a map literal: no join.  The taint so far is one broadcast per hop (the
driver knows its size) serving the frontier's edges, the already-tainted check and the payers'
taint; the candidates and the payers of listed wallets are broadcast while their source is small
(``broadcast_rows``); larger sides are left to the planner (shuffle joins), so the walk scales past
one machine's memory.  On the tests' local[2] session a hop is one shuffle (the grouping) plus the
broadcasts: 6 Spark jobs with adaptive execution off, 9-10 with it on (it runs every broadcast and
cache read as its own job), about 3 s per hop on a loaded 2-core machine.

Order.  networkx keeps the first of equal candidates in its iteration order: the best contributor
of a wallet's taint (``contrib > best``) is the first largest in the wallet's in-edge order, a
payer's best listed payee the first largest in its out-edge order, and the hub stops are listed in
the order the walk meets them (frontier wallets in node order, then asset, then out-edges).  The
``paid`` frame's order columns (``i``, ``pk``, ``so``: :data:`graphs.spark.frames.PAID_SEQ_SCHEMA`,
:func:`graphs.spark.frames.paid_with_order`) give that order back: a node's edges sort by
``(pk, i)``, frontier sources by ``so``.  With them the result equals the networkx one exactly
(tests/test_spark_exposure.py).  Where it can differ: a frame without those columns gets a
stand-in order (hashes of the ids), so ties between equal contributions, equal payments to listed
wallets and the order of hub stops met at the same hop may then differ from networkx (shares,
hops, assets and which wallets are exposed do not depend on order).  And an incremental graph build
that removes a pair's first edge after adding another between the pair keeps the pair's place in
networkx but not in ``pk`` (min ``i`` of the pair's edges); scoring builds the graph afresh.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from graphs.clusters import Hub
from graphs.dust import as_fraction
from graphs.exposure import Exposure, ExposureResult, HubStop
from graphs.spark.frames import amount_text, ge

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa
    from pyspark.sql import Column, DataFrame

# What one group of a hop gets: v/s the group (a candidate wallet and asset; a hub with s = _STOP; a
# payer with s = _OUT), d the row's role (0 inflow, 1 outflow time, 2 edge into a hub, 3 payer's
# outflow), the edge (u the other end, a amount text, t time, f fact, pk/i its order), the payer's
# taint tu ("num/den"), first tainted time su and origin uo, the frontier order so/skey, lst (the
# other end is listed), pay (v is a payout wallet).
_IN_SCHEMA = ("v string, s string, d int, u string, a string, t long, f string, pk long, i long, tu string, "
              "su long, uo string, so long, skey string, lst boolean")
# What one hop brings back: k "t" (tainted pair: share sh, first tainted time t, origin o, best
# contributor pu and fact pf, passive ps), "h" (hub stop: v hub, pu via, o source, pf ref, q1..q4
# its walk order) or "o" (outgoing: v payer, s asset, sh share, o the listed wallet, pf fact).
RESULT_SCHEMA = ("k string, v string, s string, sh string, t long, o string, pu string, pf string, "
                 "ps boolean, q1 long, q2 string, q3 long, q4 long")
_STOP, _OUT = "\x00hub", "\x00out"  # group keys no asset key takes
_ORDER = ("i", "pk", "so")
DEFAULT_BROADCAST_ROWS = 200_000
_FANOUT = 100  # assumed payments per wallet when a joined side's size is not known


def _cols(schema: str) -> list[tuple[str, str]]:
    return [(c.split()[0], c.split()[1]) for c in schema.split(", ")]


def _arrow_schema() -> pa.Schema:
    import pyarrow as pa

    types = {"string": pa.string(), "long": pa.int64(), "boolean": pa.bool_()}
    return pa.schema([(n, types[t]) for n, t in _cols(RESULT_SCHEMA)])


def _frac(x: Fraction) -> str:
    return f"{x.numerator}/{x.denominator}"


def _taint(rows: list[dict[str, Any]], min_share: Fraction, valued: frozenset[str], limits: Mapping[str, int],
           held_factor: int) -> dict[str, Any] | None:
    """One candidate (v, asset): :func:`graphs.exposure._inflow_taint` and the hop's checks, exactly."""
    v, asset, pay = rows[0]["v"], rows[0]["s"], bool(rows[0]["pay"])
    total, dirty, seen = 0, Fraction(0), False
    first: int | None = None
    best: tuple[Fraction, str, str, str] | None = None
    for r in sorted((r for r in rows if r["d"] == 0), key=lambda r: (r["pk"], r["i"])):  # in-edge order
        a = int(r["a"])
        total += a
        if r["tu"] is None:
            continue
        tu = Fraction(r["tu"])
        if not tu:
            continue
        t, su = r["t"], r["su"]
        if t is not None and su is not None and t < su:
            continue  # left u before u received anything tainted in this asset
        contrib = tu * a
        dirty += contrib
        if not seen:
            first, seen = t, True
        elif first is not None:
            first = None if t is None else min(t, first)
        if best is None or contrib > best[0]:
            best = (contrib, r["u"], r["f"], r["uo"])
    if best is None:
        return None
    share = dirty / total
    if share < min_share:
        return None
    moved = any(r["t"] is None or first is None or r["t"] >= first for r in rows if r["d"] == 1)
    held = not pay and not moved
    if held and asset not in valued:
        return None  # a passive receipt of an unpriced asset: taints nothing
    _, u, fact, origin = best
    return {"k": "t", "v": v, "s": asset, "sh": _frac(share), "t": first, "o": origin, "pu": u, "pf": fact,
            "ps": held and dirty < held_factor * limits.get(asset, 1)}


def _stop(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One hub: the first edge into it in walk order (frontier source, asset, out-edge order)."""
    r = min(rows, key=lambda r: (r["so"], r["skey"], r["pk"], r["i"]))
    return {"k": "h", "v": r["v"], "o": r["uo"], "pu": r["u"], "pf": r["f"], "q1": r["so"], "q2": r["skey"],
            "q3": r["pk"], "q4": r["i"]}


def _outgoing(rows: list[dict[str, Any]], min_share: Fraction) -> dict[str, Any] | None:
    """One payer: the share of its non-dust outflow (per asset) paid to listed wallets, as networkx."""
    total: dict[str, int] = {}
    to_listed: dict[str, int] = {}
    best: dict[str, tuple[int, str, str]] = {}
    for r in sorted(rows, key=lambda r: (r["pk"], r["i"])):  # the payer's out-edge order
        asset, a = r["skey"], int(r["a"])
        total[asset] = total.get(asset, 0) + a
        if r["lst"]:
            to_listed[asset] = to_listed.get(asset, 0) + a
            if asset not in best or a > best[asset][0]:
                best[asset] = (a, r["u"], r["f"])
    cands = [(Fraction(x, total[a]), a) for a, x in to_listed.items() if total[a] and x]
    if not cands:
        return None
    share, asset = max(cands)
    if share < min_share:
        return None
    _, v, fact = best[asset]
    return {"k": "o", "v": rows[0]["v"], "s": asset, "sh": _frac(share), "o": v, "pf": fact}


def _hop_group(min_share: Fraction, valued: frozenset[str], limits: Mapping[str, int], held_factor: int,
               table: pa.Table) -> pa.Table:
    """One group of a hop (a candidate pair, a hub or a payer): its result row, if any."""
    import pyarrow as pa

    schema = _arrow_schema()
    rows = table.to_pylist()
    out = None
    if rows:
        kind = rows[0]["s"]
        if kind == _STOP:
            out = _stop(rows)
        elif kind == _OUT:
            out = _outgoing(rows, min_share)
        else:
            out = _taint(rows, min_share, valued, limits, held_factor)
    if out is None:
        return schema.empty_table()
    return pa.Table.from_pylist([{n: out.get(n) for n in schema.names}], schema=schema)


def _grouped(fn: Any, *args: Any) -> Any:
    """``fn`` with its leading arguments bound, for ``applyInArrow``: a plain function without type hints
    (pyspark 4.3 infers the UDF kind from hints and fails on a ``functools.partial``)."""

    def run(table):  # type: ignore[no-untyped-def]
        return fn(*args, table)

    return run


def _ordered(paid: DataFrame) -> DataFrame:
    """``paid`` with the order columns: its own (networkx order) or a documented stand-in (hashes)."""
    from pyspark.sql import functions as F

    if all(c in paid.columns for c in _ORDER):
        return paid
    return paid.withColumn("i", F.xxhash64("f")).withColumn("pk", F.xxhash64("src", "dst")) \
        .withColumn("so", F.xxhash64("src"))


def _non_dust(paid: DataFrame, limits: Mapping[str, int]) -> DataFrame:
    """The ``paid`` edges at or above their asset's dust limit (an asset without one: non-zero)."""
    from pyspark.sql import functions as F

    lim: Column = F.lit("1")
    if limits:  # a map literal: no join, no job to ship a table of limits
        pairs = [x for s, v in sorted(limits.items()) for x in (F.lit(s), F.lit(amount_text(max(int(v), 0))))]
        lim = F.coalesce(F.create_map(*pairs)[F.col("s")], F.lit("1"))
    p = _ordered(paid).withColumn("l", lim)
    return p.where(ge(F.col("a"), F.col("al"), F.col("l"), F.length("l"))) \
        .select("f", "src", "dst", "a", "s", "t", "i", "pk", "so")


def _member(col: str, ids: Collection[str]) -> Column:
    """``col`` is one of ``ids`` (a set literal in the plan: the sets are driver-side inputs already)."""
    from pyspark.sql import functions as F

    return F.col(col).isin(sorted(ids)) if ids else F.lit(False)


def _part(df: DataFrame, **cols: Column | str) -> DataFrame:
    """``df`` as rows of :data:`_IN_SCHEMA` (columns named in ``cols`` or by their own name, else null)."""
    from pyspark.sql import functions as F

    out = []
    for n, t in _cols(_IN_SCHEMA):
        c = cols.get(n, n if n in df.columns else None)
        out.append((F.col(c) if isinstance(c, str) else F.lit(None) if c is None else c).cast(t).alias(n))
    return df.select(*out)


def exposure(paid: DataFrame, listed: Iterable[str], hubs: Mapping[str, Hub], hops: int,
             min_share: Fraction | float, dust: Mapping[str, int], priced: Collection[str],
             held_factor: int, payees: Collection[str] = (),
             broadcast_rows: int = DEFAULT_BROADCAST_ROWS) -> ExposureResult:
    """Incoming exposure within ``hops`` of the ``listed`` wallets, and direct outgoing exposure.

    The arguments of :func:`graphs.exposure.exposure` over the ``paid`` frame, with store node ids:
    ``hubs`` keyed by node id, ``dust`` the per-asset limits, ``priced`` the valued assets,
    ``payees`` the payout wallets (``TracerGraph.payees`` as ids).  Same :class:`ExposureResult`.
    ``broadcast_rows``: a joined side the driver knows has at most this many rows is broadcast."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    share_min = as_fraction(min_share)
    limits = {str(k): int(v) for k, v in dust.items()}
    listed_nodes = sorted({n for n in listed if n not in hubs})
    res = ExposureResult()

    def small(df: DataFrame, rows: int) -> DataFrame:
        return F.broadcast(df) if rows <= broadcast_rows else df

    nd = _non_dust(paid, limits).persist(StorageLevel.MEMORY_AND_DISK)
    n_listed = len(listed_nodes)
    group_fn = _grouped(_hop_group, share_min, frozenset(priced), limits, held_factor)

    taint: DataFrame | None = None  # every pair tainted so far: v, s, sh, t, o and hp, the hop
    n_taint = 0
    n_front = n_listed  # pairs tainted at the previous hop (hop 1: the listed wallets)
    pred: dict[tuple[str, str], tuple[str, str]] = {}
    stopped: set[str] = set()

    def path_of(n: str, asset: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        nodes, facts = [n], []
        while (n, asset) in pred:
            n, fact = pred[(n, asset)]
            nodes.append(n)
            facts.append(fact)
        return tuple(reversed(nodes)), tuple(reversed(facts))

    def hop_rows(h: int) -> DataFrame:
        """The hop's grouped pass (see the module docstring), as a frame of :data:`RESULT_SCHEMA`."""
        tb = None  # the taint so far (hop hp) under its own names: one broadcast for the three joins below
        if taint is None:  # hop 1: the listed wallets' payments, every asset
            edges = nd.where(_member("src", listed_nodes)).withColumn("o", F.col("src")) \
                .withColumn("skey", F.lit(""))
        else:  # the payments of the pairs tainted at the previous hop, in that asset
            tb = small(taint.select(F.col("v").alias("tv"), F.col("s").alias("ts"), F.col("sh").alias("tu"),
                                    F.col("t").alias("su"), F.col("o").alias("uo"), "hp"), n_taint)
            edges = nd.join(tb, (F.col("src") == F.col("tv")) & (F.col("s") == F.col("ts")) & (F.col("hp") == h - 1)) \
                .select(*nd.columns, F.col("uo").alias("o"), F.col("s").alias("skey"))
        edges = edges.where(~_member("dst", listed_nodes))
        if tb is not None:
            edges = edges.join(tb, (F.col("dst") == F.col("tv")) & (F.col("s") == F.col("ts")), "left_anti")
        to_hub = _member("dst", list(hubs))
        stops = _part(edges.where(to_hub), v="dst", s=F.lit(_STOP), d=F.lit(2), u="src", uo="o")
        # one broadcast of the candidates, used by both semi-joins below
        cand = small(edges.where(~to_hub).select(F.col("dst").alias("cv"), F.col("s").alias("cs")), n_front * _FANOUT)
        ins = nd.join(cand, (F.col("dst") == F.col("cv")) & (F.col("s") == F.col("cs")), "left_semi")
        listed_u = _member("src", listed_nodes)
        if tb is not None:
            ins = ins.join(tb, (F.col("src") == F.col("tv")) & (F.col("s") == F.col("ts")), "left")
            tu, su, uo = F.col("tu"), F.col("su"), F.col("uo")
        else:
            tu = su = uo = F.lit(None)
        ins = _part(ins, v="dst", d=F.lit(0), u="src", tu=F.when(listed_u, F.lit("1")).otherwise(tu),
                    su=F.when(listed_u, F.lit(None)).otherwise(su), uo=F.when(listed_u, F.col("src")).otherwise(uo),
                    so=F.lit(None))
        outs = _part(nd.join(cand, (F.col("src") == F.col("cv")) & (F.col("s") == F.col("cs")), "left_semi"), v="src",
                     d=F.lit(1), a=F.lit(None), f=F.lit(None), pk=F.lit(None), i=F.lit(None), so=F.lit(None))
        parts = ins.unionByName(outs).unionByName(stops)
        if h == 1:
            parts = parts.unionByName(_outgoing_rows(nd, paid, listed_nodes, list(hubs), small))
        return parts.withColumn("pay", _member("v", list(payees))).groupBy("v", "s") \
            .applyInArrow(group_fn, RESULT_SCHEMA)

    try:
        for h in range(1, hops + 1):
            # Kept on the executors with its lineage cut (the next hop reads it; a plan grown hop by hop
            # costs more to plan than to run), computed once by the hop's one action, the collect.
            found = hop_rows(h).localCheckpoint(eager=False)
            rows = found.collect()

            for r in sorted((r for r in rows if r.k == "h"), key=lambda r: (r.q1, r.q2, r.q3, r.q4)):
                if r.v not in stopped:  # a hub is reported once, at the first hop that reaches it
                    stopped.add(r.v)
                    hub = hubs[r.v]
                    res.stops.append(HubStop(hub.node, hub.reason, h, r.pu, r.o, r.pf))
            for r in rows:
                if r.k == "o":
                    res.outgoing[r.v] = Exposure(r.v, r.o, 1, Fraction(r.sh), r.s, (r.v, r.o), (r.pf,))
            new = sorted((r for r in rows if r.k == "t"), key=lambda r: (r.v, r.s))
            for r in new:
                pred[(r.v, r.s)] = (r.pu, r.pf)
            for r in new:  # per wallet in asset order, as networkx (the first of equal shares stays)
                share = Fraction(r.sh)
                path, refs = path_of(r.v, r.s)
                e = Exposure(r.v, r.o, h, share, r.s, path, refs)
                res.by_asset.setdefault(r.v, {})[r.s] = e
                into = res.passive if r.ps else res.incoming
                cur = into.get(r.v)
                if cur is None or share > cur.share:
                    into[r.v] = e
            if not new:
                break
            step = found.where(F.col("k") == "t").select("v", "s", "sh", "t", "o", F.lit(h).alias("hp"))
            n_front = len(new)
            taint = step if taint is None else taint.unionByName(step)
            n_taint += len(new)
        if hops < 1:  # no walk: the outgoing exposure alone
            only = _outgoing_rows(nd, paid, listed_nodes, list(hubs), small).withColumn("pay", F.lit(False))
            for r in only.groupBy("v", "s").applyInArrow(group_fn, RESULT_SCHEMA).collect():
                res.outgoing[r.v] = Exposure(r.v, r.o, 1, Fraction(r.sh), r.s, (r.v, r.o), (r.pf,))
    finally:
        nd.unpersist()
    return res


def _outgoing_rows(nd: DataFrame, paid: DataFrame, listed: list[str], hubs: list[str], small: Any) -> DataFrame:
    """Each payer of a listed wallet (not a hub, not listed; a payment of any amount makes a payer) with
    its whole non-dust outflow, grouped as ``(payer, _OUT)``."""
    from pyspark.sql import functions as F

    payers = paid.where(_member("dst", listed) & ~_member("src", listed) & ~_member("src", hubs)).select("src")
    rows = nd.join(small(payers, len(listed) * _FANOUT), "src", "left_semi")
    return _part(rows, v="src", s=F.lit(_OUT), d=F.lit(3), u="dst", t=F.lit(None), skey="s", so=F.lit(None),
                 lst=_member("dst", listed))
