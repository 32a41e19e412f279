"""The frames the Spark stages share: column contracts, exact amount comparison, the session.

Amounts are uint256 base units, which overflow Spark's widest decimal (38 digits), so a frame keeps
each amount as its canonical decimal text ``a`` (no sign, no leading zeros; ``"0"`` for zero) with
its length ``al``.  Two such amounts compare exactly as ``(al, a)`` pairs: a longer text is a larger
number, and equal lengths compare as text.  Sums and shares are computed exactly in Python (ints and
:class:`fractions.Fraction`) inside grouped functions, never as floats.

Frames (column names match the networkx graph's edge data keys):

- ``paid``: one row per ``paid`` edge: ``f`` fact id, ``src``/``dst`` store node ids, ``a``/``al``
  amount text and its length, ``s`` asset key (``asset/decimals``, as :meth:`TracerGraph.asset_key`),
  ``t`` epoch seconds or null (already placed by the block clock where the store had a height only).
- ``edges``: every edge of the graph the stages may count (degree): ``f``, ``k`` kind, ``src``, ``dst``.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column, DataFrame, SparkSession

    from graphs.build import TracerGraph

PAID_SCHEMA = "f string, src string, dst string, a string, al int, s string, t long"
EDGES_SCHEMA = "f string, k string, src string, dst string"


class SparkUnavailable(RuntimeError):
    """The Spark engine cannot start here (no pyspark, no Java): the message says what to install."""


def amount_text(a: int) -> str:
    """The canonical text of a non-negative integer amount (what ``a`` holds)."""
    if a < 0:
        raise ValueError(f"negative amount {a}")
    return str(int(a))


def ge(a: Column, al: Column, b: Column, bl: Column) -> Column:
    """``a >= b`` for canonical amount texts with their lengths, exactly (no numeric cast)."""
    return (al > bl) | ((al == bl) & (a >= b))


def java_available() -> bool:
    """True when a ``java`` binary is reachable (JAVA_HOME or PATH): pyspark needs one."""
    home = os.environ.get("JAVA_HOME")
    if home and os.path.exists(os.path.join(home, "bin", "java")):
        return True
    return shutil.which("java") is not None


def require() -> None:
    """Raise :class:`SparkUnavailable` (one line: what to install) unless pyspark and Java are here;
    cheap, so a command can check before it says it is starting Spark."""
    try:
        import pyspark  # noqa: F401
    except ImportError as e:
        raise SparkUnavailable("the Spark engine needs pyspark: pip install 'tracer[spark]'") from e
    if not java_available():
        raise SparkUnavailable("the Spark engine needs Java 17 or newer: apt-get install openjdk-17-jre-headless "
                               "(or set JAVA_HOME); the default engine (networkx) needs no Java")


def session(master: str = "local[*]", conf: Mapping[str, Any] | None = None, app: str = "tracer") -> SparkSession:
    """The Spark session for the stages (``getOrCreate``: one per process, shared by every stage).

    Raises :class:`SparkUnavailable` with one line saying what is missing, never a Java stack trace.
    """
    require()
    from pyspark.sql import SparkSession

    # Python workers run this interpreter (its venv: pandas, pyarrow, graphs), not whatever python3 PATH
    # finds; pyspark reads PYSPARK_PYTHON when the context starts.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    b = SparkSession.builder.master(master).appName(app)
    import warnings

    # pyspark warns on every UDF that it has not been certified with pandas 3 (its pandas paths are
    # not used here: Arrow UDFs and grouped Arrow functions only): one line per stage is noise.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"pyspark\.")
    warnings.filterwarnings("ignore", message="Cannot infer the eval type", module=r"pyspark\.")
    defaults = {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false",
                "spark.sql.shuffle.partitions": "8",
                "spark.sql.session.timeZone": "UTC", "spark.driver.bindAddress": "127.0.0.1",
                "spark.driver.host": "127.0.0.1"}
    for k, v in {**defaults, **dict(conf or {})}.items():
        b = b.config(k, str(v))
    try:
        s = b.getOrCreate()
    except Exception as e:  # the JVM did not start: say so in one line
        raise SparkUnavailable(f"Spark did not start ({type(e).__name__}: {str(e).splitlines()[0][:200]})") from e
    s.sparkContext.setLogLevel("ERROR")
    return s


def paid_rows(tg: TracerGraph) -> Iterator[tuple[str, str, str, str, int, str, int | None]]:
    """The ``paid`` frame's rows from a networkx graph (tests and the driver-side bridge)."""
    ids = tg.ids
    for u, nbrs in tg.g._succ.items():
        for v, kd in nbrs.items():
            for d in kd.values():
                if d["k"] == "paid":
                    a = amount_text(d["a"])
                    yield (d["f"], ids[u], ids[v], a, len(a), d.get("s", ""), d["t"])


def edge_rows(tg: TracerGraph) -> Iterator[tuple[str, str, str, str]]:
    """The ``edges`` frame's rows (every edge now in the graph, derived ``funded_by`` included)."""
    ids = tg.ids
    for u, nbrs in tg.g._succ.items():
        for v, kd in nbrs.items():
            for d in kd.values():
                yield (d["f"], d["k"], ids[u], ids[v])


def frame(spark: SparkSession, rows: Any, schema: str) -> DataFrame:
    """A DataFrame from Python rows with one of the schemas above."""
    return spark.createDataFrame(list(rows), schema)


# -- insertion order (optional column ``i``) ----------------------------------------------------------
# networkx iterates nodes in insertion order (first appearance in the edge rows, src before dst) and
# each node's adjacency by neighbour (in order of the first edge between the pair, of any kind) then by
# edge.  Stages whose answers are lists in that order (graphs.clusters' links) need it back: the
# ``edges`` frame may carry ``i``, the edge's insertion sequence in the graph -- store row order, then
# the observations' ``located_in`` edges, then the derived ``funded_by`` -- which is exactly the
# networkx edge key of :class:`graphs.build.TracerGraph` (a graph-wide counter).  Loaders that number
# edge rows as they read them give the same order.
EDGES_SEQ_SCHEMA = EDGES_SCHEMA + ", i long"


def edge_rows_seq(tg: TracerGraph) -> Iterator[tuple[str, str, str, str, int]]:
    """The ``edges`` frame's rows with ``i``, the edge's insertion sequence (its networkx key)."""
    ids = tg.ids
    for u, nbrs in tg.g._succ.items():
        for v, kd in nbrs.items():
            for key, d in kd.items():
                yield (d["f"], d["k"], ids[u], ids[v], int(key))


def node_order(edges: DataFrame) -> DataFrame:
    """``(n, o)``: each node of an ``edges`` frame with ``i`` and a key ``o`` that orders nodes as
    networkx inserted them (``2 i`` of its first edge, ``+ 1`` when it first appeared as its dst)."""
    from pyspark.sql import functions as F

    ends = edges.select(F.col("src").alias("n"), (F.col("i") * 2).alias("o")).union(
        edges.select(F.col("dst").alias("n"), (F.col("i") * 2 + 1).alias("o")))
    return ends.groupBy("n").agg(F.min("o").alias("o"))


def with_pair_order(edges: DataFrame) -> DataFrame:
    """The ``edges`` frame plus ``pk``, the ``i`` of the first edge between its (src, dst) pair: a
    node's out- (or in-) edges iterate in networkx order when sorted by ``(pk, i)``."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    return edges.withColumn("pk", F.min("i").over(Window.partitionBy("src", "dst")))


# -- the ``paid`` frame in networkx order (optional columns ``i``, ``pk``, ``so``) ---------------------
# Stages whose answers depend on which of several equal candidates networkx meets first (exposure: the
# best contributor of a wallet's taint is the first largest in its in-edge order; the hub stops are
# listed in the order the walk meets them) need the order back on the ``paid`` frame: ``i`` is the
# edge's insertion sequence (its networkx key, as ``edges.i``), ``pk`` the ``i`` of the first edge of
# any kind between its (src, dst) pair, ``so`` a key that orders its src as networkx inserted nodes.
# A node's out- or in-edges iterate in networkx order sorted by ``(pk, i)``; the walk's frontier
# iterates sources by ``so``.  From a loader's frames: :func:`paid_with_order`.
PAID_SEQ_SCHEMA = PAID_SCHEMA + ", i long, pk long, so long"


def paid_rows_seq(tg: TracerGraph) -> Iterator[tuple[str, str, str, str, int, str, int | None, int, int, int]]:
    """The ``paid`` frame's rows with ``i``, ``pk`` and ``so`` (``so``: the src's int node id)."""
    ids = tg.ids
    for u, nbrs in tg.g._succ.items():
        for v, kd in nbrs.items():
            pk = None
            for key, d in kd.items():
                pk = int(key) if pk is None else pk  # keys are a growing counter: the first is the pair's
                if d["k"] == "paid":
                    a = amount_text(d["a"])
                    yield (d["f"], ids[u], ids[v], a, len(a), d.get("s", ""), d["t"], int(key), pk, int(u))


def paid_with_order(paid: DataFrame, edges: DataFrame) -> DataFrame:
    """A ``paid`` frame that carries ``i`` (the same sequence as ``edges.i``) plus ``pk`` and ``so``,
    derived from the ``edges`` frame with ``i`` (:func:`with_pair_order`, :func:`node_order`)."""
    from pyspark.sql import functions as F

    pk = with_pair_order(edges).select("i", "pk")
    so = node_order(edges).select(F.col("n").alias("src"), F.col("o").alias("so"))
    return paid.join(pk, "i").join(so, "src")
