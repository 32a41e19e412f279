"""The connector interface: a stream is ``extract`` (async I/O only) plus ``transform`` (pure).

Connectors never import ``tracer``: they yield :class:`Page` objects (the raw bytes they fetched,
with where they came from and the stream state *after* the page) and turn each page into
:class:`Record` rows (or, on hot paths, :class:`Rows` batches of tuples).  The application writes a page's records, its raw-payload provenance and the
new state in one transaction, so a crash replays at most one page and upserts make it harmless.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from msgspec import Struct, field

# the errors live in connectors.errors (light to import) and are part of this interface too
from connectors.errors import ConfigError as ConfigError
from connectors.errors import ConnectorError as ConnectorError
from connectors.errors import NotConfigured as NotConfigured

if TYPE_CHECKING:
    from connectors.http import HttpClient


# The value classes below are msgspec Structs, not dataclasses: every command that touches a
# connector defines them as it starts, and a frozen dataclass took ~0.5 ms to define (it compiles
# its methods from source) against ~15 us for a Struct -- ~14 ms of the ~200 ms before ``tracer
# sync`` sends its first request (issue 16).  They behave the same: keyword or positional
# construction, defaults, equality, frozen ones hashable; copy with ``msgspec.structs.replace``.


class Column(Struct, frozen=True):
    """A column of a connector-owned table. ``type`` is an SQLite affinity: TEXT, INTEGER, REAL."""

    name: str
    type: str = "TEXT"


class Table(Struct, frozen=True):
    """Schema of a table a stream writes. Amount columns are TEXT (uint256 as decimal), never REAL.

    ``keep_first_seen`` columns are not overwritten by an upsert (first-seen style facts).
    """

    name: str
    columns: tuple[Column, ...]
    pk: tuple[str, ...]
    keep_first_seen: tuple[str, ...] = ()
    indexes: tuple[tuple[str, ...], ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


class Record(Struct, frozen=True):
    """One row for ``table``. Provenance columns (raw_sha256, run_id) are added by the pipeline."""

    table: str
    row: Mapping[str, Any]


class Rows(Struct, frozen=True):
    """Many rows of ``table`` with the same ``columns``, as tuples: the bulk form of :class:`Record`.

    Why: a payment stream yields ~100k rows a second, and building one dict per row (then turning
    it back into a tuple for SQLite) cost more CPU than decoding the logs.  Cells must already be
    SQLite values (str, int within 64 bits, float, None, bytes); the store refuses anything else.
    """

    table: str
    columns: tuple[str, ...]
    rows: Sequence[tuple[Any, ...]]

    def records(self) -> Iterator[Record]:
        for r in self.rows:
            yield Record(self.table, dict(zip(self.columns, r, strict=True)))

    def __len__(self) -> int:
        return len(self.rows)


def records_of(items: Iterable[Record | Rows]) -> Iterator[Record]:
    """A transform's output as one :class:`Record` per row (tests and tools that look at rows)."""
    for it in items:
        if isinstance(it, Rows):
            yield from it.records()
        else:
            yield it


class Delete(Struct, frozen=True):
    """Delete rows of ``table`` where every column in ``where`` equals its value (reorg rewinds)."""

    table: str
    where: Mapping[str, Any]


class Page(Struct):
    """One fetched unit of raw data and the stream state to commit once its records are stored.

    ``body`` is the exact bytes received (its sha256 is the provenance key); ``data`` is the parsed
    form handed to ``transform``; ``state`` replaces the stream's stored state after this page.
    """

    body: bytes
    url: str
    method: str
    data: Any
    state: dict[str, Any] | None
    meta: dict[str, Any] = field(default_factory=dict)
    fetched_at: str = ""
    deletes: list[Delete] = field(default_factory=list)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


class RunContext(Struct):
    """What a stream may use while extracting: the run's HTTP client, its config and the clock."""

    http: HttpClient
    config: dict[str, Any]
    now: str
    run_id: str
    state_of: Any = None  # callable(stream_name) -> state dict, for streams that read sibling state
    progress: Any = None  # callable(advance: int, total: int | None, note: str) or None
    stored: StoredFacts | None = None  # what earlier runs stored, through named questions (no SQL)

    def report(self, advance: int = 1, total: int | None = None, note: str = "") -> None:
        if self.progress is not None:
            self.progress(advance, total, note)


class StoredFacts(Protocol):
    """The narrow read port a stream gets instead of SQL: named questions about what earlier runs stored.

    Why: connectors must not know the application's schema or its database engine (SQLite embedded,
    PostgreSQL at scale).  The store implements every method; a table a stream has not synced yet
    answers empty, never an error.  Addresses are canonical (as stored), snapshots are RFC 3339 text.
    """

    # -- EVM ---------------------------------------------------------------------------------------
    def evm_known_tokens(self, chain: str) -> dict[str, int | None]:
        """Token address -> decimals of the tokens already resolved on ``chain`` (errors excluded)."""
        ...

    def evm_block_hashes(self, chain: str, after: int, upto: int) -> list[tuple[int, str]]:
        """(number, hash) of the stored blocks of ``chain`` in (after, upto], by number."""
        ...

    def evm_transfer_wallets(self, chain: str, after: int, upto: int, cap: int) -> set[str]:
        """Addresses (without the wallet prefix) on stored transfers of blocks (after, upto], at most ``cap``."""
        ...

    # -- Akash -------------------------------------------------------------------------------------
    def akash_provider_owners(self) -> list[str]:
        """Owner addresses of the stored Akash providers, sorted."""
        ...

    def akash_lease_owners(self, limit: int) -> list[str]:
        """Owners of stored Akash leases, those with an open lease first, newest lease first."""
        ...

    def akash_group_gpus(self, deployments: Sequence[tuple[str, str]]) -> dict[str, dict[str, Any]]:
        """``owner/dseq/gseq`` -> {gpu_units, gpu_keys} of the stored groups of these (owner, dseq)."""
        ...

    def akash_bid_gpus(self, deployments: Sequence[tuple[str, str]]) -> dict[str, dict[str, Any]]:
        """``owner/dseq/gseq/oseq/provider`` -> {gpu_units, gpu_keys} of stored GPU bids of these deployments."""
        ...

    # -- lists -------------------------------------------------------------------------------------
    def list_latest_snapshot(self, source: str) -> str | None:
        """The newest stored snapshot of a list source, or None."""
        ...

    def list_members(self, source: str, snapshot: str) -> list[dict[str, Any]]:
        """Members of one snapshot: dicts with kind, key, label, list_type."""
        ...

    def open_listings(self, source: str, predicates: Sequence[str] = ("listed", "sanctioned"),
                      seen_before: str | None = None) -> list[dict[str, Any]]:
        """Still-valid listing observations of ``source``: id, subject, attrs (parsed), last_seen."""
        ...

    def tag_totals(self, source: str, stream: str, actors: bool) -> dict[str, int]:
        """{tags, addresses, rejected} of an attribution-tag source (actors: count actor entities too)."""
        ...

    # -- markets -----------------------------------------------------------------------------------
    def vastai_machines(self, snapshot: str) -> dict[Any, dict[str, Any]]:
        """machine_id -> {machine_id, host_id, gpu_name, num_gpus, country} of one Vast.ai offers snapshot."""
        ...


class Stream(Protocol):
    """A named, incremental source of pages. ``transform`` must be pure and deterministic.

    Optional class flags the pipeline reads (``getattr``, default False): ``write_behind`` (its pages
    may be stored on a writer thread while it goes on) and ``early_start`` (it may start before the
    store is open, on a read-only snapshot of it); both promise that ``extract`` reads the store
    (``ctx.stored``, ``ctx.state_of``) only before its first page.
    """

    name: ClassVar[str]
    primary_key: ClassVar[tuple[str, ...]]
    cursor_field: ClassVar[str | None]
    is_sorted: ClassVar[bool]
    tables: ClassVar[tuple[Table, ...]]

    def extract(self, ctx: RunContext, state: dict[str, Any]) -> AsyncIterator[Page]: ...

    def transform(self, page: Page) -> Iterator[Record | Rows]: ...


class Probe(Struct, frozen=True):
    """An endpoint ``tracer doctor`` checks: a GET (or JSON-RPC POST when ``rpc_method`` is set)."""

    name: str
    url: str
    rpc_method: str | None = None
    local_path: str | None = None


class Connector(Protocol):
    """A source: its default configuration, its streams, and the endpoints ``doctor`` probes."""

    name: ClassVar[str]
    description: ClassVar[str]

    def default_config(self) -> dict[str, Any]: ...

    def streams(self, config: dict[str, Any]) -> list[Stream]: ...

    def probes(self, config: dict[str, Any]) -> list[Probe]: ...

    def secrets(self, config: dict[str, Any]) -> list[str]: ...


def all_tables(streams: list[Stream]) -> dict[str, Table]:
    """The tables a set of streams writes, by name (a table shared by streams must agree)."""
    out: dict[str, Table] = {}
    for s in streams:
        for t in s.tables:
            prev = out.get(t.name)
            if prev is not None and prev != t:
                raise ConnectorError(f"table {t.name} declared twice with different schemas")
            out[t.name] = t
    return out


# The three core tables every connector may write; the store creates them in its first migration.
_PROV = (Column("source"), Column("first_seen"), Column("last_seen"))
ENTITIES = Table(
    "entities",
    (Column("id"), Column("kind"), Column("chain"), Column("address"), Column("label"), Column("attrs"))
    + _PROV,
    pk=("id",),
    keep_first_seen=("first_seen",),
    indexes=(("kind",), ("address",), ("label",)),
)
EDGES = Table(
    "edges",
    (Column("id"), Column("kind"), Column("src"), Column("dst"), Column("chain"), Column("asset"),
     Column("amount"), Column("decimals", "INTEGER"), Column("time"), Column("block", "INTEGER"),
     Column("tx"), Column("attrs")) + _PROV,
    pk=("id",),
    keep_first_seen=("first_seen",),
    indexes=(("src", "kind"), ("dst", "kind"), ("kind", "chain", "block")),
)
OBSERVATIONS = Table(
    "observations",
    (Column("id"), Column("subject"), Column("predicate"), Column("value"), Column("confidence", "REAL"),
     Column("observed_at"), Column("valid_to"), Column("attrs")) + _PROV,
    pk=("id",),
    keep_first_seen=("first_seen",),
    indexes=(("subject", "predicate"), ("predicate", "value")),
)
CORE_TABLES = (ENTITIES, EDGES, OBSERVATIONS)


def check_uint256(value: int | str) -> str:
    """uint256 amounts travel as decimal text: validate range and return the canonical string.

    Strings must be plain decimal digits: ``int()`` alone would also take "1_000", "+5" or " 7 ",
    and an amount that arrives in such a form is a parsing bug upstream, not a number to guess.
    """
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()):
            raise ValueError(f"{value!r} is not a uint256 in decimal digits")
        n = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        n = value
    else:
        raise ValueError(f"{value!r} is not a uint256")
    if not 0 <= n < 2**256:
        raise ValueError(f"{value!r} is not a uint256")
    return str(n)


# -- one bad item never costs a page ---------------------------------------------------------------
REJECTED = Table(
    "rejected_inputs",
    (Column("stream"), Column("value"), Column("context"), Column("reason"), Column("first_seen"),
     Column("last_seen")),
    pk=("stream", "value", "context"),
    keep_first_seen=("first_seen",),
)
# What a malformed item of a parsed answer can raise while it is turned into records: a missing key, a
# field of the wrong type (``None < "a"``, ``"x".get``), a number that does not parse or is out of range,
# nesting too deep to walk.  Anything else (a bug in our own code paths, MemoryError) still ends the run.
ITEM_ERRORS: tuple[type[Exception], ...] = (ArithmeticError, AttributeError, LookupError, TypeError,
                                            ValueError, RecursionError)
_INT64 = 2**63


def _storable(v: Any) -> bool:
    """Whether the store can write ``v`` as a cell (mirrors ``tracer.store``: text must be UTF-8
    encodable -- a JSON ``\\ud800`` escape decodes to a lone surrogate SQLite refuses -- and integers
    must fit 64 bits; dicts and lists are stored as JSON)."""
    t = type(v)
    if t is str:
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return "\x00" not in v  # PostgreSQL text cannot hold NUL: both backends refuse the same input
    if t is int:
        return -_INT64 <= v < _INT64
    if v is None or t in (float, bool, bytes):
        return True
    if isinstance(v, dict | list | tuple):
        try:
            import json

            json.dumps(v, sort_keys=True)
        except (TypeError, ValueError, RecursionError):
            return False
        return True
    return False


def unstorable(records: Iterable[Record]) -> str | None:
    """The first cell of ``records`` the store could not write, described, or None when all can be."""
    for r in records:
        if not isinstance(r.row, Mapping):
            return f"{r.table}: a row that is a {type(r.row).__name__}, not a mapping"
        for k, v in r.row.items():
            if not _storable(v):
                return f"{r.table}.{k}: cannot store {type(v).__name__} {ascii(v)[:60]}"
    return None


def snippet(item: Any, limit: int = 200) -> str:
    """A short, always-storable text of a raw item (sorted ASCII JSON) for ``rejected_inputs.value``."""
    import json

    try:
        text = json.dumps(item, sort_keys=True, default=str)
    except (TypeError, ValueError, RecursionError):
        text = ascii(item)
    return text[:limit]


def rejection(stream: str, item: Any, reason: str, at: str, context: str = "") -> Record:
    """One ``rejected_inputs`` row: the item (as a snippet), why it was refused, when.  The pipeline
    adds the sha256 of the raw page it came from (``raw_sha256``), like every row's provenance."""
    return Record("rejected_inputs", {"stream": stream, "value": snippet(item), "context": context,
                                      "reason": reason.encode("utf-8", "backslashreplace").decode()[:300],
                                      "first_seen": at, "last_seen": at})


def item_records(stream: str, item: Any, at: str, make: Callable[[Any], Iterable[Record]],
                 context: str = "") -> list[Record]:
    """The records of one item, or one rejection row when the item is malformed or unstorable.

    ``make(item)`` builds the item's records; it runs to completion here, so a failure half-way through an
    item never leaves part of it stored, and nothing page-wide (sorting, totals) has seen it yet.
    """
    try:
        out = list(make(item))
    except ITEM_ERRORS as e:
        return [rejection(stream, item, f"{type(e).__name__}: {e}", at, context)]
    bad = unstorable(out)
    return [rejection(stream, item, bad, at, context)] if bad else out
