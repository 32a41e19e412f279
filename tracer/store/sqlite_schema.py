"""The SQLite store's schema: table DDL, the numbered migrations and the upsert statement.

Split from :mod:`tracer.store.sqlite` so the store class reads as its behaviour; what a migration
does to an existing file is here, one function per version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracer.store.sqlite_lean import Database

from connectors.base import CORE_TABLES, Table
from tracer.store.base import PROVENANCE_COLUMNS, SIGHTING_COLUMNS


def _create_table_sql(t: Table) -> str:
    """The CREATE TABLE of a stream's table: its columns, the provenance columns and its primary key."""
    cols = ", ".join(f'"{c.name}" {c.type}' for c in t.columns)
    prov = ', "raw_sha256" TEXT, "run_id" TEXT'
    pk = ", ".join(f'"{c}"' for c in t.pk)
    return f'CREATE TABLE IF NOT EXISTS "{t.name}" ({cols}{prov}, PRIMARY KEY ({pk}))'


def _m1_core(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE IF NOT EXISTS runs (
            run_id TEXT PRIMARY KEY, command TEXT, started_at TEXT, ended_at TEXT,
            status TEXT, duration_s REAL, records INTEGER, error TEXT);
        CREATE TABLE IF NOT EXISTS run_streams (
            run_id TEXT, stream TEXT, started_at TEXT, ended_at TEXT, status TEXT,
            pages INTEGER, records INTEGER, error TEXT, PRIMARY KEY (run_id, stream));
        CREATE TABLE IF NOT EXISTS raw_payloads (
            sha256 TEXT PRIMARY KEY, stream TEXT, url TEXT, method TEXT, fetched_at TEXT,
            run_id TEXT, bytes INTEGER, body BLOB);
        CREATE TABLE IF NOT EXISTS stream_state (
            stream TEXT PRIMARY KEY, state TEXT, updated_at TEXT, run_id TEXT);
        """
    )
    for t in CORE_TABLES:
        ensure_table(db, t)


def _m2_indexes(db: Database) -> None:
    db.executescript(
        """
        CREATE INDEX IF NOT EXISTS idx_raw_payloads_stream ON raw_payloads(stream, fetched_at);
        CREATE INDEX IF NOT EXISTS idx_run_streams_stream ON run_streams(stream);
        """
    )


def _m3_deferred(db: Database) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS deferred_indexes (name TEXT PRIMARY KEY, tbl TEXT, sql TEXT)")


def _m4_evm_ids(db: Database) -> None:
    # EVM transfer ids were evm:<chain>:<tx>:<log index>; now the log's place on the chain (see
    # connectors.evm.edge_id), so that a re-sync upserts the same rows instead of adding twins.
    db.execute(
        "UPDATE OR REPLACE edges SET id = 'evm:' || chain || ':' || printf('%012d', block) || ':' || "
        "printf('%06d', json_extract(attrs, '$.log_index')) "
        "WHERE source = 'evm:' || chain AND kind IN ('paid', 'nft_transfer') AND block IS NOT NULL "
        "AND id = 'evm:' || chain || ':' || tx || ':' || json_extract(attrs, '$.log_index')")


def _m5_cases(db: Database) -> None:
    # The analyst's records (tracer.store.cases): appended, never replaced; no provenance columns,
    # since a person, not a source, said them.
    db.executescript(
        """
        CREATE TABLE IF NOT EXISTS judgements (
            id TEXT PRIMARY KEY, subject TEXT, verdict TEXT, reason TEXT, analyst TEXT, created_at TEXT,
            evidence_digest TEXT, rules_version TEXT);
        CREATE INDEX IF NOT EXISTS idx_judgements_subject ON judgements(subject, created_at);
        CREATE TABLE IF NOT EXISTS notes (
            id TEXT PRIMARY KEY, subject TEXT, text TEXT, analyst TEXT, created_at TEXT);
        CREATE INDEX IF NOT EXISTS idx_notes_subject ON notes(subject, created_at);
        """
    )


def _m6_flag_changes(db: Database) -> None:
    # What changed between scoring runs (tracer.store.flag_history): one row per run, and one row
    # per subject that entered, left or moved level in it (a log of changes, not of runs x flags).
    db.executescript(
        """
        CREATE TABLE IF NOT EXISTS scoring_runs (
            seq INTEGER PRIMARY KEY, computed_at TEXT, previous_at TEXT, rules_version TEXT, flags INTEGER,
            n_new INTEGER, n_left INTEGER, n_up INTEGER, n_down INTEGER);
        CREATE INDEX IF NOT EXISTS idx_scoring_runs_computed_at ON scoring_runs(computed_at);
        CREATE TABLE IF NOT EXISTS flag_changes (
            seq INTEGER, subject TEXT, computed_at TEXT, change TEXT, old_level TEXT, new_level TEXT,
            old_score REAL, new_score REAL, PRIMARY KEY (seq, subject));
        CREATE INDEX IF NOT EXISTS idx_flag_changes_computed_at ON flag_changes(computed_at);
        CREATE INDEX IF NOT EXISTS idx_flag_changes_subject ON flag_changes(subject, seq);
        """
    )


def _m7_clusters(db: Database) -> None:
    # The actor clusters of the latest scoring run that hold a flagged subject (tracer.store.flag_history):
    # every member, and every link that joined them (heuristic, strength, detail, refs as JSON).
    db.executescript(
        """
        CREATE TABLE IF NOT EXISTS cluster_members (
            cluster TEXT, member TEXT, computed_at TEXT, PRIMARY KEY (cluster, member));
        CREATE INDEX IF NOT EXISTS idx_cluster_members_member ON cluster_members(member);
        CREATE TABLE IF NOT EXISTS cluster_links (
            cluster TEXT, seq INTEGER, a TEXT, b TEXT, heuristic TEXT, strength REAL, detail TEXT, refs TEXT,
            PRIMARY KEY (cluster, seq));
        """
    )


MIGRATIONS: list[tuple[int, str, Any]] = [
    (1, "core tables: runs, raw payloads, stream state, entities, edges, observations", _m1_core),
    (2, "indexes for provenance and run history", _m2_indexes),
    (3, "secondary indexes a bulk sync dropped, rebuilt by the next writer if that sync died", _m3_deferred),
    (4, "EVM transfer edge ids in chain order: evm:<chain>:<block>:<log index>", _m4_evm_ids),
    (5, "analyst judgements on flags and case notes", _m5_cases),
    (6, "scoring runs and the flags that entered, left or changed level in each", _m6_flag_changes),
    (7, "the members and links of the actor clusters that hold a flagged subject", _m7_clusters),
]


def versions(db: Database) -> set[int]:
    """The schema versions applied to ``db`` (empty for a new file)."""
    if not db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'migrations'").fetchone():
        return set()
    return {r[0] for r in db.execute("SELECT version FROM migrations").fetchall()}


def apply_migrations(db: Database) -> list[int]:
    """Apply the missing migrations, each in its own transaction (call holding the store lock)."""
    with db.conn:
        db.execute("CREATE TABLE IF NOT EXISTS migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)")
    done = versions(db)
    applied = []
    for version, name, fn in MIGRATIONS:
        if version in done:
            continue
        with db.conn:
            fn(db)
            db.execute("INSERT INTO migrations VALUES (?, ?, datetime('now'))", [version, name])
        applied.append(version)
    return applied


def ensure_table(db: Database, t: Table) -> None:
    """Create ``t`` or add its missing columns (never dropped), then its declared indexes.

    No index on ``raw_sha256`` (see :meth:`StoreBackend.ensure_tables`); a store made before keeps
    its ``idx_<table>_raw``."""
    db.execute(_create_table_sql(t))
    have = {c.name for c in db[t.name].columns}
    for c in (*t.columns,):
        if c.name not in have:
            db.execute(f'ALTER TABLE "{t.name}" ADD COLUMN "{c.name}" {c.type}')
    for cols in t.indexes:
        name = f"idx_{t.name}_{'_'.join(cols)}"
        db.execute(f'CREATE INDEX IF NOT EXISTS "{name}" ON "{t.name}" ({", ".join(cols)})')


def upsert_sql(t: Table, cols: tuple[str, ...], rows: int = 1, shared: tuple[str, ...] = ()) -> str:
    """The primary-key upsert of ``cols`` into ``t`` (semantics: :meth:`StoreBackend.write_page`),
    of ``rows`` rows at once (a later row that conflicts with an earlier one of the same statement
    updates it, as the next statement would).

    ``shared``: more columns, with one value for every row of the statement, bound once as its
    first parameters (``?1`` ...), each row's own ``cols`` following.  Why: a page's provenance
    (``raw_sha256``, ``run_id``) is the same on all its rows, and appending it to each of 200k row
    tuples, then binding it per row, cost ~15% of a bulk sync's inserts (issue 16)."""
    every = cols + shared
    keep = set(t.pk) | set(t.keep_first_seen) | set(PROVENANCE_COLUMNS)
    sets = ", ".join(f'"{c}"=excluded."{c}"' for c in every if c not in keep)
    # Provenance moves only with the content (see PROVENANCE_COLUMNS): a re-seen fact keeps
    # the page that established it, whatever order or how often pages were (re)written.
    content = [c for c in every if c not in keep and c not in SIGHTING_COLUMNS]
    if content and any(c in every for c in PROVENANCE_COLUMNS):
        changed = " OR ".join(f'"{c}" IS NOT excluded."{c}"' for c in content)
        prov = ", ".join(f'"{c}"=CASE WHEN {changed} THEN excluded."{c}" ELSE "{c}" END'
                         for c in PROVENANCE_COLUMNS if c in every)
        sets = f"{sets}, {prov}" if sets else prov
    qcols = ", ".join(f'"{c}"' for c in every)
    if shared:
        common = [f"?{i + 1}" for i in range(len(shared))]
        first, n = len(shared) + 1, len(cols)
        marks = ", ".join(f"({', '.join([f'?{first + j * n + i}' for i in range(n)] + common)})"
                          for j in range(rows))
    else:
        marks = ", ".join([f"({', '.join('?' for _ in cols)})"] * rows)
    conflict = ", ".join(f'"{c}"' for c in t.pk)
    action = f"DO UPDATE SET {sets}" if sets else "DO NOTHING"
    return f'INSERT INTO "{t.name}" ({qcols}) VALUES {marks} ON CONFLICT ({conflict}) {action}'
