"""The PostgreSQL side of the store's schema and SQL: types, DDL, migrations, portable-SQL translation.

Split from :mod:`tracer.store.postgres` so the store class stays about transactions and locks.
The logical schema is SQLite's (:mod:`tracer.store.sqlite`), column for column and in the same
order, so rows read back from either backend are equal: TEXT -> ``text COLLATE "C"`` (byte order,
as SQLite's BINARY collation sorts and compares, whatever the database's locale), INTEGER ->
``bigint``, REAL -> ``double precision``, BLOB -> ``bytea``.
"""

from __future__ import annotations

import functools
import re
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any

from psycopg.adapt import Loader

from connectors.base import CORE_TABLES, Table
from tracer.store.base import PROVENANCE_COLUMNS, SIGHTING_COLUMNS
from tracer.store.faults import ReadOnlyStoreError, StoreError, StoreFault

TEXT = 'text COLLATE "C"'
TYPES = {"TEXT": TEXT, "INTEGER": "bigint", "REAL": "double precision", "BLOB": "bytea"}
CASTS = {"TEXT": "text", "INTEGER": "bigint", "REAL": "double precision", "BLOB": "bytea"}
SCHEMA_VERSION = 7  # the same numbers as SQLite's migrations: one version, one logical schema


def q(name: str) -> str:
    """A double-quoted identifier."""
    return '"' + name.replace('"', '""') + '"'


def pg_type(affinity: str) -> str:
    return TYPES.get(affinity.upper(), TEXT)


def pg_cast(affinity: str) -> str:
    return CASTS.get(affinity.upper(), "text")


def create_table_sql(t: Table) -> str:
    cols = ", ".join(f"{q(c.name)} {pg_type(c.type)}" for c in t.columns)
    prov = f', "raw_sha256" {TEXT}, "run_id" {TEXT}'
    pk = ", ".join(q(c) for c in t.pk)
    return f"CREATE TABLE IF NOT EXISTS {q(t.name)} ({cols}{prov}, PRIMARY KEY ({pk}))"


def index_sqls(t: Table) -> list[tuple[str, str]]:
    """(name, CREATE INDEX statement) of a declared table's secondary indexes (SQLite's names; none on
    ``raw_sha256``: see :meth:`tracer.store.base.StoreBackend.ensure_tables`)."""
    out = []
    for cols in t.indexes:
        name = f"idx_{t.name}_{'_'.join(cols)}"
        out.append((name, f"CREATE INDEX IF NOT EXISTS {q(name)} ON {q(t.name)} ({', '.join(q(c) for c in cols)})"))
    return out


def ensure_table(cur: Any, t: Table) -> None:
    """Create or extend one declared table; only what is missing is touched (no lock on a table
    that is complete, so a crawler starting beside a running one does not wait for its pages)."""
    have = [r[0] for r in cur.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = %s", [t.name]).fetchall()]
    if not have:
        cur.execute(create_table_sql(t))
    else:
        for c in t.columns:
            if c.name not in have:
                cur.execute(f"ALTER TABLE {q(t.name)} ADD COLUMN {q(c.name)} {pg_type(c.type)}")
    indexes = {r[0] for r in cur.execute(
        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = %s",
        [t.name]).fetchall()}
    for name, sql in index_sqls(t):
        if name[:63] not in indexes:  # PostgreSQL keeps the first 63 bytes of a name
            cur.execute(sql)


def _m1_core(cur: Any) -> None:
    T = TEXT
    cur.execute(f"""
        CREATE TABLE IF NOT EXISTS runs (
            run_id {T} PRIMARY KEY, command {T}, started_at {T}, ended_at {T},
            status {T}, duration_s double precision, records bigint, error {T});
        CREATE TABLE IF NOT EXISTS run_streams (
            run_id {T}, stream {T}, started_at {T}, ended_at {T}, status {T},
            pages bigint, records bigint, error {T}, PRIMARY KEY (run_id, stream));
        CREATE TABLE IF NOT EXISTS raw_payloads (
            sha256 {T} PRIMARY KEY, stream {T}, url {T}, method {T}, fetched_at {T},
            run_id {T}, bytes bigint, body bytea);
        CREATE TABLE IF NOT EXISTS stream_state (
            stream {T} PRIMARY KEY, state {T}, updated_at {T}, run_id {T});
        """)
    for t in CORE_TABLES:
        ensure_table(cur, t)


def _m2_indexes(cur: Any) -> None:
    cur.execute("CREATE INDEX IF NOT EXISTS idx_raw_payloads_stream ON raw_payloads(stream, fetched_at)")
    cur.execute("CREATE INDEX IF NOT EXISTS idx_run_streams_stream ON run_streams(stream)")


def _m3_deferred(cur: Any) -> None:
    # Kept for the same logical schema; PostgreSQL syncs never defer indexes (several crawlers
    # write one store at once), so it stays empty.
    cur.execute(f"CREATE TABLE IF NOT EXISTS deferred_indexes (name {TEXT} PRIMARY KEY, tbl {TEXT}, sql {TEXT})")


def _m4_evm_ids(cur: Any) -> None:
    # SQLite rewrote old EVM transfer ids here; a PostgreSQL store is created (or copied from an
    # SQLite store, which is upgraded when opened) with the new ids, so there is nothing to rewrite.
    return None


def _m5_cases(cur: Any) -> None:
    # The analyst's records (tracer.store.cases), column for column as SQLite's.
    T = TEXT
    cur.execute(f"""
        CREATE TABLE IF NOT EXISTS judgements (
            id {T} PRIMARY KEY, subject {T}, verdict {T}, reason {T}, analyst {T}, created_at {T},
            evidence_digest {T}, rules_version {T});
        CREATE INDEX IF NOT EXISTS idx_judgements_subject ON judgements(subject, created_at);
        CREATE TABLE IF NOT EXISTS notes (
            id {T} PRIMARY KEY, subject {T}, text {T}, analyst {T}, created_at {T});
        CREATE INDEX IF NOT EXISTS idx_notes_subject ON notes(subject, created_at);
        """)


def _m6_flag_changes(cur: Any) -> None:
    # What changed between scoring runs (tracer.store.flag_history), column for column as SQLite's.
    T = TEXT
    cur.execute(f"""
        CREATE TABLE IF NOT EXISTS scoring_runs (
            seq bigint PRIMARY KEY, computed_at {T}, previous_at {T}, rules_version {T}, flags bigint,
            n_new bigint, n_left bigint, n_up bigint, n_down bigint);
        CREATE INDEX IF NOT EXISTS idx_scoring_runs_computed_at ON scoring_runs(computed_at);
        CREATE TABLE IF NOT EXISTS flag_changes (
            seq bigint, subject {T}, computed_at {T}, change {T}, old_level {T}, new_level {T},
            old_score double precision, new_score double precision, PRIMARY KEY (seq, subject));
        CREATE INDEX IF NOT EXISTS idx_flag_changes_computed_at ON flag_changes(computed_at);
        CREATE INDEX IF NOT EXISTS idx_flag_changes_subject ON flag_changes(subject, seq);
        """)


def _m7_clusters(cur: Any) -> None:
    # The actor clusters of flagged subjects (tracer.store.flag_history), column for column as SQLite's.
    T = TEXT
    cur.execute(f"""
        CREATE TABLE IF NOT EXISTS cluster_members (
            cluster {T}, member {T}, computed_at {T}, PRIMARY KEY (cluster, member));
        CREATE INDEX IF NOT EXISTS idx_cluster_members_member ON cluster_members(member);
        CREATE TABLE IF NOT EXISTS cluster_links (
            cluster {T}, seq bigint, a {T}, b {T}, heuristic {T}, strength double precision, detail {T},
            refs {T}, PRIMARY KEY (cluster, seq));
        """)


MIGRATIONS: list[tuple[int, str, Callable[[Any], None]]] = [
    (1, "core tables: runs, raw payloads, stream state, entities, edges, observations", _m1_core),
    (2, "indexes for provenance and run history", _m2_indexes),
    (3, "secondary indexes a bulk sync dropped, rebuilt by the next writer if that sync died", _m3_deferred),
    (4, "EVM transfer edge ids in chain order: evm:<chain>:<block>:<log index>", _m4_evm_ids),
    (5, "analyst judgements on flags and case notes", _m5_cases),
    (6, "scoring runs and the flags that entered, left or changed level in each", _m6_flag_changes),
    (7, "the members and links of the actor clusters that hold a flagged subject", _m7_clusters),
]


def upsert_sql(t: Table, cols: Sequence[str], source: str | None = None) -> str:
    """The primary-key upsert of ``cols`` into ``t``, with SQLite's rule (``tracer.store.sqlite._upsert``).

    On conflict every written column is replaced except the primary key, ``keep_first_seen`` and the
    provenance columns; provenance changes only when a content column is DISTINCT FROM the stored
    value.  ``source``: a staging table to ``INSERT ... SELECT`` from (ordered by the primary key,
    so concurrent writers lock rows in one order); else ``VALUES (%s, ...)``."""
    keep = set(t.pk) | set(t.keep_first_seen) | set(PROVENANCE_COLUMNS)
    sets = [f"{q(c)}=EXCLUDED.{q(c)}" for c in cols if c not in keep]
    content = [c for c in cols if c not in keep and c not in SIGHTING_COLUMNS]
    if content and any(c in cols for c in PROVENANCE_COLUMNS):
        changed = " OR ".join(f"t.{q(c)} IS DISTINCT FROM EXCLUDED.{q(c)}" for c in content)
        sets += [f"{q(c)}=CASE WHEN {changed} THEN EXCLUDED.{q(c)} ELSE t.{q(c)} END"
                 for c in PROVENANCE_COLUMNS if c in cols]
    qcols = ", ".join(q(c) for c in cols)
    conflict = ", ".join(q(c) for c in t.pk)
    action = f"DO UPDATE SET {', '.join(sets)}" if sets else "DO NOTHING"
    if source is None:
        values = f"VALUES ({', '.join('%s' for _ in cols)})"
    else:
        values = f"SELECT {qcols} FROM {source} ORDER BY {conflict}"
    return f"INSERT INTO {q(t.name)} AS t ({qcols}) {values} ON CONFLICT ({conflict}) {action}"


# -- portable SQL -> psycopg ---------------------------------------------------------------------
_IS_NOT = re.compile(r"\bIS\s+NOT\s+(?!NULL\b|TRUE\b|FALSE\b|UNKNOWN\b|DISTINCT\b)", re.I)
_IS = re.compile(r"\bIS\s+(?!NOT\b|NULL\b|TRUE\b|FALSE\b|UNKNOWN\b|DISTINCT\b|OF\b|DOCUMENT\b|NORMALIZED\b)", re.I)
_LIKE = re.compile(r"(?<![\w.])LIKE\b", re.I)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _plain(text: str, named: bool) -> str:
    """Translate SQL text outside literals: ``?`` and ``:name`` placeholders, ``%``, IS [NOT], LIKE."""
    text = _IS_NOT.sub("IS DISTINCT FROM ", text)
    text = _IS.sub("IS NOT DISTINCT FROM ", text)
    text = _LIKE.sub("ILIKE", text)  # SQLite's LIKE ignores ASCII case
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "?":
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        elif ch == ":" and named and (m := _NAME.match(text, i + 1)) and (i == 0 or text[i - 1] != ":"):
            out.append(f"%({m.group()})s")
            i = m.end()
            continue
        else:
            out.append(ch)
        i += 1
    return "".join(out)


@functools.lru_cache(maxsize=4096)
def to_pg(sql: str, named: bool = False) -> str:
    """Portable SQL (``?`` placeholders, see :mod:`tracer.store.base`) as psycopg SQL.

    Outside string literals, quoted identifiers and comments: ``?`` -> ``%s`` (``:name`` ->
    ``%(name)s`` for dict params), ``IS NOT x`` -> ``IS DISTINCT FROM x`` and ``IS x`` -> ``IS NOT
    DISTINCT FROM x`` (SQLite's null-safe comparisons), ``LIKE`` -> ``ILIKE`` (SQLite's LIKE ignores
    ASCII case).  Every ``%`` is doubled, inside literals too (psycopg reads ``%`` everywhere)."""
    out: list[str] = []
    i, n, start = 0, len(sql), 0
    while i < n:
        ch = sql[i]
        end = -1
        if ch in "'\"":
            j = i + 1
            while True:
                k = sql.find(ch, j)
                if k < 0:
                    end = n
                    break
                if k + 1 < n and sql[k + 1] == ch:
                    j = k + 2
                    continue
                end = k + 1
                break
        elif sql.startswith("--", i):
            k = sql.find("\n", i)
            end = n if k < 0 else k
        elif sql.startswith("/*", i):
            k = sql.find("*/", i + 2)
            end = n if k < 0 else k + 2
        if end < 0:
            i += 1
            continue
        out.append(_plain(sql[start:i], named))
        out.append(sql[i:end].replace("%", "%%"))
        i = start = end
    out.append(_plain(sql[start:], named))
    return "".join(out)


# -- values ------------------------------------------------------------------------------------------
class NumericLoader(Loader):
    """numeric (sum/avg of integers) as int when integral, else float: what SQLite returns."""

    def load(self, data: Any) -> Any:
        s = bytes(data).decode()
        if s.lstrip("-").isdigit():
            return int(s)
        return float(s)


_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/@:?#]*):([^/?#]*)@")
_QUERY_PASSWORD = re.compile(r"([?&]password=)([^&#]*)", re.I)


def url_secrets(url: str) -> list[str]:
    """The password(s) a URL carries (in its user info or a ``password=`` parameter), as written and decoded."""
    found = [m.group(2) for m in (_USERINFO.match(url), *_QUERY_PASSWORD.finditer(url)) if m and m.group(2)]
    return [v for s in found for v in {s, urllib.parse.unquote(s)}]


def redact_url(url: str) -> str:
    """The URL with its password replaced by ``***`` (for every message and ``path``)."""
    return _QUERY_PASSWORD.sub(r"\1***", _USERINFO.sub(r"\1:***@", url))


def scrub(text: str, url: str) -> str:
    """``text`` (an error message) without the URL's password(s), on one line."""
    text = " ".join(text.split())
    for secret in url_secrets(url):
        text = text.replace(secret, "***")
    return text


def merge_duplicates(t: Table, cols: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """One row per primary key, as SQLite's row-by-row upserts would leave it: the last row's values,
    with the ``keep_first_seen`` columns of the first (one ``INSERT ... SELECT`` may touch a row once)."""
    idx = [cols.index(c) for c in t.pk]
    if len(idx) == 1:
        i = idx[0]
        keys = [r[i] for r in rows]
    else:
        keys = [tuple(r[j] for j in idx) for r in rows]  # type: ignore[misc]
    if len(set(keys)) == len(keys):
        return rows
    keep = [cols.index(c) for c in t.keep_first_seen if c in cols]
    out: dict[Any, tuple[Any, ...]] = {}
    for k, r in zip(keys, rows, strict=True):
        first = out.get(k)
        if first is not None and keep:
            lst = list(r)
            for j in keep:
                lst[j] = first[j]
            r = tuple(lst)
        out[k] = r
    return list(out.values())


# -- faults ----------------------------------------------------------------------------------------
_RO = "read commands work; write commands need a role and a server that may write"


def pg_fault(e: BaseException, where: str) -> StoreError | None:
    """The one-line :class:`StoreError` for a PostgreSQL error that is a fault of the server, its
    disk or the connection (not of tracer's SQL); None for anything else (a bug keeps its traceback)."""
    import psycopg
    from psycopg import errors as pe

    if isinstance(e, StoreError):
        return e
    if not isinstance(e, psycopg.Error):
        return None
    msg = " ".join(str(e).split()) or type(e).__name__
    state = getattr(e, "sqlstate", None) or ""
    if isinstance(e, pe.ReadOnlySqlTransaction):
        return ReadOnlyStoreError(f"{where} is read-only ({msg}): {_RO}")
    if isinstance(e, pe.InsufficientPrivilege):
        return ReadOnlyStoreError(f"{where}: this role may not write ({msg}): {_RO}")
    if isinstance(e, pe.DiskFull) or state == "53100":
        return StoreFault(f"disk full: the PostgreSQL server of {where} cannot grow ({msg}); free space on "
                          "its disk, then run again; everything committed before is kept")
    if state.startswith("53"):
        return StoreFault(f"the PostgreSQL server of {where} is out of resources ({msg}); run again later")
    if isinstance(e, pe.DataCorrupted | pe.IndexCorrupted):
        return StoreFault(f"{where} is damaged ({msg}): restore it from a backup")
    if state.startswith(("08", "57P")) or (isinstance(e, psycopg.OperationalError) and not state):
        return StoreFault(f"lost the connection to {where} ({msg}): check the server, then run again; "
                          "everything committed before is kept")
    return None
