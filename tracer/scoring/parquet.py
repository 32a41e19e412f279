"""The store as Parquet files: what the Spark scoring engine reads (``graphs.spark.load``).

Why an export rather than Spark reading the database: a SQLite file cannot be read by Spark at all
(no JDBC driver is reachable from the package registries here), and a JDBC read of PostgreSQL
would bypass the store interface and its named reads.  The export reads through exactly the
functions ``score_store`` reads through (:mod:`tracer.scoring.tables`), so both engines see the
same rows, and writes them with pyarrow in batches of ``batch_rows`` (one row group each): memory
stays bounded by one batch however many edges the store holds, and Spark splits its reads by row
group.  Amounts stay decimal text (uint256 does not fit any Parquet number); nothing becomes a float
that was not one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graphs.build import EDGE_COLUMNS
from tracer.scoring import tables

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from tracer.store.reads import Reads

DEFAULT_BATCH_ROWS = 100_000
OBS_EXPORT_COLUMNS = ("id", "subject", "predicate", "value", "confidence", "attrs", "source")
DEPLOYMENT_COLUMNS = ("id", "owner", "hash")
TOKEN_COLUMNS = ("id", "symbol")
# Row position in the store's read order (0, 1, ...): the graph's insertion order, which Spark's file
# splits do not keep (graphs.spark.load numbers edges by it, as networkx keys them).
SEQ = "seq"


def _text(v: Any) -> str | None:
    """A text cell: JSON for dicts/lists (as the store writes them), str otherwise; None stays None."""
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, dict | list):
        return json.dumps(v, sort_keys=True, separators=(",", ":"))
    return str(v)


def _amount(v: Any) -> str | None:
    """An amount cell as decimal text: money is never a float (a float here is a bug upstream)."""
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    raise ValueError(f"amount {v!r} is not decimal text or an integer")


def _int(v: Any) -> int | None:
    """An INTEGER cell (decimals, block); digits text (a loosely typed store) becomes an int."""
    if v is None or v == "":
        return None
    return int(v)


def _time(v: Any) -> str | None:
    """A time cell as text; an integer (epoch seconds) as its digits, which ``to_epoch`` reads back."""
    if isinstance(v, int | float) and not isinstance(v, bool):
        return str(int(v))
    return _text(v)


def _schemas() -> dict[str, pa.Schema]:
    import pyarrow as pa

    s, i, d = pa.string(), pa.int64(), pa.float64()
    edge_types = {"id": s, "kind": s, "src": s, "dst": s, "amount": s, "decimals": i, "asset": s, "time": s,
                  "attrs": s, "chain": s, "block": i}
    return {
        "edges": pa.schema([(c, edge_types[c]) for c in EDGE_COLUMNS] + [(SEQ, i)]),
        "observations": pa.schema([("id", s), ("subject", s), ("predicate", s), ("value", s), ("confidence", d),
                                   ("attrs", s), ("source", s), (SEQ, i)]),
        "deployments": pa.schema([(c, s) for c in DEPLOYMENT_COLUMNS]),
        "tokens": pa.schema([(c, s) for c in TOKEN_COLUMNS]),
    }


def _write(path: Path, schema: pa.Schema, rows: Iterable[Sequence[Any]], batch_rows: int) -> int:
    """Stream tuples (schema order) into one Parquet file, one row group per ``batch_rows``; written
    beside and renamed, so a reader never sees half a file.  Returns the row count."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tmp = path.with_name(path.name + ".part")
    names = schema.names
    n = 0
    with pq.ParquetWriter(tmp, schema) as w:
        cols: list[list[Any]] = [[] for _ in names]

        def flush() -> None:
            w.write_table(pa.Table.from_arrays([pa.array(c, type=schema.field(k).type) for k, c in enumerate(cols)],
                                               schema=schema))
            for c in cols:
                c.clear()

        for r in rows:
            for k, v in enumerate(r):
                cols[k].append(v)
            n += 1
            if len(cols[0]) >= batch_rows:
                flush()
        if cols[0] or n == 0:
            flush()
    os.replace(tmp, path)
    return n


def _edge_rows(store: Reads) -> Iterable[tuple[Any, ...]]:
    for n, (fid, kind, src, dst, amount, decimals, asset, time, attrs, chain, block) in enumerate(
            tables.iter_edges(store)):
        yield (fid, kind, src, dst, _amount(amount), _int(decimals), _text(asset), _time(time), _text(attrs),
               _text(chain), _int(block), n)


def export_store(store: Reads, out_dir: Path | str, *, now: str | None = None,
                 batch_rows: int = DEFAULT_BATCH_ROWS) -> dict[str, Path]:
    """Write ``edges``, ``observations``, ``deployments`` and ``tokens`` Parquet files into ``out_dir``.

    - edges: :func:`tables.iter_edges` (``graphs.build.EDGE_COLUMNS``, in its order, plus ``seq``), streamed;
    - observations: :func:`tables.observations` at ``now`` (default: the clock ``score_store`` uses), with ``seq``;
    - deployments: :func:`tables.deployments` (id, owner, manifest hash);
    - tokens: :func:`tables.token_symbols` (token id -> symbol).

    Returns the path of each file by table name."""
    if batch_rows < 1:
        raise ValueError("batch_rows must be at least 1")
    if now is None:
        from tracer.config import now as clock_now

        now = clock_now()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    schemas = _schemas()
    paths = {name: out / f"{name}.parquet" for name in schemas}
    _write(paths["edges"], schemas["edges"], _edge_rows(store), batch_rows)
    obs = ((o["id"], o["subject"], o["predicate"], _text(o["value"]),
            None if o.get("confidence") is None else float(o["confidence"]), _text(o.get("attrs")),
            _text(o.get("source")), n) for n, o in enumerate(tables.observations(store, now)))
    _write(paths["observations"], schemas["observations"], obs, batch_rows)
    deps = ((d["id"], d["owner"], d["hash"]) for d in tables.deployments(store))
    _write(paths["deployments"], schemas["deployments"], deps, batch_rows)
    toks = sorted(tables.token_symbols(store).items())
    _write(paths["tokens"], schemas["tokens"], toks, batch_rows)
    return paths
