"""Named reads: every question the application asks the store, one method each, SQL kept here.

Shared by both backends: the SQL is portable (``?`` placeholders, which the PostgreSQL backend
translates; JSON attributes through :meth:`Reads.json_text`, case-insensitive matching through
:meth:`Reads.like_ci`).  Callers (queries, exports, lists, scoring tables, scheduler, server) call
these methods and never write SQL themselves.

Methods that take many ids take at most a few hundred per call (callers chunk, see
``tracer.queries._chunks``): SQLite builds without a raised limit refuse more bound parameters.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any, Literal

#: Edge columns the investigator queries read (everything but attrs and provenance).
EDGE_COLS = "id, kind, src, dst, chain, asset, amount, decimals, time, block, tx"
#: Columns of the derived tables scoring writes (``tracer.scoring.tables.FLAGS`` / ``EVIDENCE``).
FLAG_COLUMNS = ("subject", "score", "level", "rules_version", "computed_at", "reasons", "cluster", "first_seen",
                "last_seen")
EVIDENCE_COLUMNS = ("id", "subject", "rule", "score", "detail", "refs", "path", "rules_version", "computed_at")
#: Columns of the stored actor clusters (migration 7; written by ``tracer.store.flag_history``).
CLUSTER_MEMBER_COLUMNS = ("cluster", "member", "computed_at")
CLUSTER_LINK_COLUMNS = ("cluster", "seq", "a", "b", "heuristic", "strength", "detail", "refs")
_TIMED = "time IS NOT NULL AND time != ''"
_FACT_TABLES = (("edges", "id, kind, src, dst, chain, asset, amount, decimals, time, block, tx, source"),
                ("observations", "id, subject, predicate, value, confidence, observed_at, valid_to, source"),
                ("entities", "id, kind, chain, address, label, source"))
_CORE = ("entities", "edges", "observations")


def _marks(n: int) -> str:
    return ", ".join("?" for _ in range(n))


def _contains(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, with ``\\`` escaping its wildcards (see ``like_ci``)."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class Reads:
    """Mixin of named reads; the backend provides ``query``, ``iter_rows``, ``table_names`` and the
    write primitives (``transaction``, ``execute``, ``executemany``) the scoring writes use."""

    # ---- backend primitives ----------------------------------------------------------------------
    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        """Backend: run one read with ``?`` placeholders, rows as dicts."""
        raise NotImplementedError

    def iter_rows(self, sql: str, params: Sequence[Any] = (), size: int = 50_000) -> Iterator[tuple[Any, ...]]:
        """Backend: stream the rows of one read as tuples (large graph builds)."""
        raise NotImplementedError

    def table_names(self) -> list[str]:
        """Backend: the names of the tables in the store."""
        raise NotImplementedError

    # Write primitives of the derived tables (flags, evidence; tracer.store.flag_history writes them):
    # see tracer.store.base.StoreBackend.
    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """Backend: one write transaction, committed when the block ends, rolled back if it raises."""
        raise NotImplementedError

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Backend: run one write statement inside :meth:`transaction`; the rows it changed."""
        raise NotImplementedError

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Backend: run one write statement per row inside :meth:`transaction`."""
        raise NotImplementedError

    # ---- dialect hooks (SQLite here; PostgreSQL overrides) ---------------------------------------
    def json_text(self, column: str, key: str) -> str:
        """SQL for the text of ``column``'s top-level JSON ``key`` (SQLite; PostgreSQL overrides)."""
        return f"json_extract({column}, '$.{key}')"

    def like_ci(self, column: str) -> str:
        """SQL: ``column`` LIKE one ``?`` pattern, ignoring case, ``\\`` escapes (SQLite; PostgreSQL: ILIKE)."""
        return f"{column} LIKE ? ESCAPE '\\'"

    def table_columns(self, table: str) -> list[str]:
        """Column names of ``table`` ([] when it does not exist) (SQLite; PostgreSQL overrides)."""
        return [r["name"] for r in self.query("SELECT name FROM pragma_table_info(?)", [table])]

    def has_table(self, name: str) -> bool:
        """Whether ``name`` exists (derived tables appear only after the first scoring run); backends
        may answer with one probe."""
        return name in self.table_names()

    # ---- investigator queries (tracer.queries: find, neighbours, path, exposure, node, edge) --------
    def node_exists(self, node: str) -> bool:
        """Investigator queries: does any entity, edge or observation mention ``node`` (indexed probes)."""
        return bool(
            self.query("SELECT 1 FROM entities WHERE id = ?", [node])
            or self.query("SELECT 1 FROM edges WHERE src = ? LIMIT 1", [node])
            or self.query("SELECT 1 FROM edges WHERE dst = ? LIMIT 1", [node])
            or self.query("SELECT 1 FROM observations WHERE subject = ? LIMIT 1", [node]))

    def neighbour_edges(self, node_ids: Sequence[str], direction: Literal["out", "in"],
                        kinds: Sequence[str] | None, limit: int) -> list[dict[str, Any]]:
        """Graph walks and graph export: edges leaving (``out``) or entering ``node_ids``, at most ``limit``."""
        col = "src" if direction == "out" else "dst"
        sql = f"SELECT {EDGE_COLS} FROM edges WHERE {col} IN ({_marks(len(node_ids))})"
        params: list[Any] = list(node_ids)
        if kinds:
            sql += f" AND kind IN ({_marks(len(kinds))})"
            params += list(kinds)
        return self.query(sql + " LIMIT ?", params + [limit])

    def tag_categories(self, subjects: Sequence[str]) -> list[dict[str, Any]]:
        """Hub detection: (subject, value, cat) of the attribution tags of ``subjects``."""
        return self.query(
            f"SELECT subject, value, {self.json_text('attrs', 'category')} AS cat FROM observations "
            f"WHERE subject IN ({_marks(len(subjects))}) AND predicate = 'tag'", list(subjects))

    def open_listing_facts(self, subjects: Sequence[str]) -> list[dict[str, Any]]:
        """Risk walks: (subject, predicate, value) of still-valid ``sanctioned``/``listed`` facts of ``subjects``."""
        return self.query(
            f"SELECT subject, predicate, value FROM observations WHERE subject IN ({_marks(len(subjects))}) "
            f"AND predicate IN ('sanctioned', 'listed') AND valid_to IS NULL", list(subjects))

    def listed_as_edges(self, subjects: Sequence[str]) -> list[dict[str, Any]]:
        """Risk walks: (src, dst) of the ``listed_as`` edges leaving ``subjects``."""
        return self.query(
            f"SELECT src, dst FROM edges WHERE src IN ({_marks(len(subjects))}) AND kind = 'listed_as'",
            list(subjects))

    def high_flags(self, subjects: Sequence[str]) -> list[dict[str, Any]]:
        """Risk walks: (subject, level, score) of the high and severe flags of ``subjects`` (flags must exist)."""
        return self.query(
            f"SELECT subject, level, score FROM flags WHERE subject IN ({_marks(len(subjects))}) "
            f"AND level IN ('high', 'severe')", list(subjects))

    def entity_rows(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """Node descriptions and graph export: (id, kind, label, chain, address) of the entities among ``ids``."""
        return self.query(f"SELECT id, kind, label, chain, address FROM entities WHERE id IN ({_marks(len(ids))})",
                          list(ids))

    def flag_scores(self, subjects: Sequence[str]) -> list[dict[str, Any]]:
        """Node descriptions: (subject, score, level) of the flags of ``subjects`` (flags must exist)."""
        return self.query(f"SELECT subject, score, level FROM flags WHERE subject IN ({_marks(len(subjects))})",
                          list(subjects))

    def entity_ids_among(self, candidates: Sequence[str]) -> list[dict[str, Any]]:
        """find: rows (id) of the entities whose id is one of ``candidates``."""
        return self.query(f"SELECT id FROM entities WHERE id IN ({_marks(len(candidates))})", list(candidates))

    def entity_ids_by_address(self, candidates: Sequence[str], limit: int) -> list[dict[str, Any]]:
        """find: rows (id) of entities whose address is one of ``candidates``."""
        return self.query(f"SELECT id FROM entities WHERE address IN ({_marks(len(candidates))}) LIMIT ?",
                          [*candidates, limit])

    def entity_ids_by_label(self, text: str, limit: int) -> list[dict[str, Any]]:
        """find: rows (id) of entities whose label contains ``text`` (case-insensitive)."""
        return self.query(f"SELECT id FROM entities WHERE {self.like_ci('label')} LIMIT ?", [_contains(text), limit])

    def subjects_by_observation_value(self, text: str, limit: int) -> list[dict[str, Any]]:
        """find: rows (id) of distinct subjects of observations whose value contains ``text``."""
        return self.query(f"SELECT DISTINCT subject AS id FROM observations WHERE {self.like_ci('value')} LIMIT ?",
                          [_contains(text), limit])

    def entity_ids_containing(self, text: str, limit: int) -> list[dict[str, Any]]:
        """find: rows (id) of entities whose id contains ``text`` (case-insensitive)."""
        return self.query(f"SELECT id FROM entities WHERE {self.like_ci('id')} LIMIT ?", [_contains(text), limit])

    def paid_counterparties(self, node: str, direction: Literal["inflow", "outflow"],
                            limit: int = 100_000) -> list[dict[str, Any]]:
        """Exposure shares: (o, asset, amount) of payments into (inflow) or out of ``node``, ``o`` the other end."""
        col, other = ("dst", "src") if direction == "inflow" else ("src", "dst")
        return self.query(f"SELECT {other} AS o, asset, amount FROM edges WHERE {col} = ? AND kind = 'paid' "
                          "LIMIT ?", [node, limit])

    def flag_cluster(self, subject: str) -> str | None:
        """cluster: the cluster id scoring stored on ``subject``'s flag (None for stores scored before clusters)."""
        if not self.has_table("flags") or "cluster" not in self.table_columns("flags"):
            return None
        row = self.query("SELECT cluster FROM flags WHERE subject = ?", [subject])
        return row[0]["cluster"] if row else None

    def cluster_members(self, cluster: str, limit: int) -> list[str]:
        """cluster: the flagged subjects scoring put in ``cluster``, by id (stores scored before migration 7)."""
        return [r["subject"] for r in self.query("SELECT subject FROM flags WHERE cluster = ? ORDER BY subject "
                                                 "LIMIT ?", [cluster, limit])]

    def keeps_clusters(self) -> bool:
        """cluster: whether the store has the cluster tables (False: opened read-only below schema 7)."""
        return self.has_table("cluster_members") and self.has_table("cluster_links")

    def stored_cluster_of(self, member: str) -> str | None:
        """cluster: the stored cluster holding ``member`` (None: in no cluster that holds a flagged subject)."""
        if not self.keeps_clusters():
            return None
        rows = self.query("SELECT cluster FROM cluster_members WHERE member = ? ORDER BY cluster LIMIT 1", [member])
        return str(rows[0]["cluster"]) if rows else None

    def stored_cluster_members(self, cluster: str, limit: int) -> list[str]:
        """cluster: a stored cluster's members by id (every one, flagged or not), at most ``limit``."""
        if not self.keeps_clusters():
            return []
        return [str(r["member"]) for r in self.query(
            "SELECT member FROM cluster_members WHERE cluster = ? ORDER BY member LIMIT ?", [cluster, limit])]

    def stored_cluster_links(self, cluster: str, limit: int) -> list[dict[str, Any]]:
        """cluster: a stored cluster's links in clustering's order (``refs`` JSON text), at most ``limit``."""
        if not self.keeps_clusters():
            return []
        return self.query(f"SELECT {', '.join(CLUSTER_LINK_COLUMNS)} FROM cluster_links WHERE cluster = ? "
                          "ORDER BY seq LIMIT ?", [cluster, limit])

    def edge_attrs(self, edge_ids: Sequence[str]) -> dict[str, Any]:
        """cluster: edge id -> attrs (JSON text) of ``edge_ids`` (why two wallets are one actor)."""
        return {r["id"]: r["attrs"] for r in self.query(
            f"SELECT id, attrs FROM edges WHERE id IN ({_marks(len(edge_ids))})", list(edge_ids))}

    def timeline_edges(self, node: str, limit: int) -> list[dict[str, Any]]:
        """timeline: edges from ``node`` (at most ``limit``), then edges into it (at most ``limit``), with first_seen."""
        rows = self.query(f"SELECT {EDGE_COLS}, first_seen FROM edges WHERE src = ? LIMIT ?", [node, limit])
        return rows + self.query(f"SELECT {EDGE_COLS}, first_seen FROM edges WHERE dst = ? AND src <> ? LIMIT ?",
                                 [node, node, limit])

    def timeline_observations(self, subject: str, limit: int) -> list[dict[str, Any]]:
        """timeline: (id, predicate, value, observed_at, first_seen) of the observations about ``subject``."""
        return self.query("SELECT id, predicate, value, observed_at, first_seen FROM observations "
                          "WHERE subject = ? LIMIT ?", [subject, limit])

    def entity(self, node: str) -> dict[str, Any] | None:
        """node page: the whole entity row of ``node``, or None."""
        rows = self.query("SELECT * FROM entities WHERE id = ?", [node])
        return rows[0] if rows else None

    def node_observations(self, subject: str, limit: int = 200) -> list[dict[str, Any]]:
        """node page: the observations about ``subject`` by predicate and id."""
        return self.query("SELECT id, predicate, value, confidence, observed_at, valid_to, attrs, source "
                          "FROM observations WHERE subject = ? ORDER BY predicate, id LIMIT ?", [subject, limit])

    def flag_row(self, subject: str) -> dict[str, Any] | None:
        """node page: the whole flag row of ``subject`` (None when unflagged or never scored)."""
        if not self.has_table("flags"):
            return None
        rows = self.query("SELECT * FROM flags WHERE subject = ?", [subject])
        return rows[0] if rows else None

    def evidence_summary(self, subject: str, limit: int | None = None) -> list[dict[str, Any]]:
        """node page and HTML report: a subject's evidence (no provenance), strongest first ([] before scoring)."""
        if not self.has_table("evidence"):
            return []
        sql = ("SELECT id, rule, score, detail, refs, path, computed_at FROM evidence WHERE subject = ? "
               "ORDER BY score DESC, id")
        return self.query(sql + " LIMIT ?", [subject, limit]) if limit is not None else self.query(sql, [subject])

    def edge_row(self, edge_id: str) -> dict[str, Any] | None:
        """edge page: the whole edge row, or None."""
        rows = self.query("SELECT * FROM edges WHERE id = ?", [edge_id])
        return rows[0] if rows else None

    def raw_payload_meta(self, sha256: str) -> dict[str, Any] | None:
        """edge page: where a raw payload came from (no body), or None."""
        rows = self.query("SELECT sha256, stream, url, method, fetched_at, run_id, bytes FROM raw_payloads "
                          "WHERE sha256 = ?", [sha256])
        return rows[0] if rows else None

    def same_tx_edges(self, kind: str, chain: str | None, block: int, tx: str, exclude: str,
                      limit: int = 100) -> list[dict[str, Any]]:
        """edge page: the other edges of one transaction (``(kind, chain, block)`` is indexed, tx alone is not)."""
        same_chain = "chain IS NULL" if chain is None else "chain = ?"
        params: list[Any] = [kind] + ([] if chain is None else [chain]) + [block, tx, exclude, limit]
        return self.query(f"SELECT {EDGE_COLS} FROM edges WHERE kind = ? AND {same_chain} AND block = ? "
                          "AND tx = ? AND id <> ? LIMIT ?", params)

    # ---- watch-list exports (tracer.export) -----------------------------------------------------------
    def watchlist_flags(self, min_score: float) -> list[dict[str, Any]]:
        """Watch-list: flags with score >= ``min_score`` and their entity's kind, chain, address, label, source."""
        return self.query(
            "SELECT f.subject, f.score, f.level, f.rules_version, f.reasons, f.first_seen, f.last_seen, "
            "e.kind, e.chain, e.address, e.label, e.source FROM flags f LEFT JOIN entities e "
            "ON e.id = f.subject WHERE f.score >= ? ORDER BY f.subject", [min_score])

    def observation_sources(self, subject: str) -> set[str]:
        """Watch-list: the sources of the observations about ``subject``."""
        return {r["source"] for r in self.query(
            "SELECT DISTINCT source FROM observations WHERE subject = ? AND source IS NOT NULL", [subject])}

    def subject_observations(self, subject: str) -> list[dict[str, Any]]:
        """FollowTheMoney export: (id, predicate, value, attrs, source, observed_at) about ``subject``, by id."""
        return self.query("SELECT id, predicate, value, attrs, source, observed_at FROM observations "
                          "WHERE subject = ? ORDER BY id", [subject])

    def entity_attrs(self, entity_id: str) -> str | None:
        """FollowTheMoney export: the attrs JSON text of one entity (None when absent or empty)."""
        rows = self.query("SELECT attrs FROM entities WHERE id = ?", [entity_id])
        return rows[0]["attrs"] if rows else None

    # ---- lists and screening (tracer.lists) -------------------------------------------------------
    def list_snapshot_summary(self) -> list[dict[str, Any]]:
        """tracer lists: per list source its newest snapshot with counts, snapshot and delisting totals."""
        return self.query(
            "SELECT s.source, 'list' AS kind, s.snapshot, s.loaded_at, s.entities, s.addresses, s.rejected, "
            "(SELECT count(*) FROM list_snapshots x WHERE x.source = s.source) AS snapshots, "
            "(SELECT count(DISTINCT o.subject) FROM observations o WHERE o.source = s.source "
            "AND o.valid_to IS NOT NULL) AS delisted "
            "FROM list_snapshots s WHERE s.snapshot = (SELECT max(snapshot) FROM list_snapshots y "
            "WHERE y.source = s.source) ORDER BY s.source")

    def tag_source_summary(self) -> list[dict[str, Any]]:
        """tracer lists: one row per attribution-tag source in the shape of :meth:`list_snapshot_summary`."""
        return self.query("SELECT source, 'tags' AS kind, snapshot, loaded_at, tags AS entities, addresses, rejected, "
                          "1 AS snapshots, 0 AS delisted FROM tag_sources ORDER BY source")

    def list_snapshot_names(self, source: str) -> list[str]:
        """tracer lists --diff: the snapshots of ``source``, oldest first."""
        return [r["snapshot"] for r in self.query(
            "SELECT snapshot FROM list_snapshots WHERE source = ? ORDER BY snapshot", [source])]

    def list_snapshot_members(self, source: str, snapshot: str) -> list[dict[str, Any]]:
        """tracer lists --diff: (kind, key, label, list_type) of the members of one snapshot."""
        return self.query("SELECT kind, key, label, list_type FROM list_members WHERE source = ? AND snapshot = ?",
                          [source, snapshot])

    def latest_list_snapshots(self) -> dict[str, str]:
        """tracer screen: list source -> its newest snapshot ({} before any list was loaded)."""
        if not self.has_table("list_snapshots"):
            return {}
        return {r["source"]: r["s"] for r in self.query(
            "SELECT source, max(snapshot) AS s FROM list_snapshots GROUP BY source")}

    def listed_entities(self) -> list[dict[str, Any]]:
        """tracer screen (names): (id, label, attrs, source) of every listed party."""
        return self.query("SELECT id, label, attrs, source FROM entities WHERE kind = 'listed_entity'")

    def screening_hits(self, wallet_ids: Sequence[str]) -> list[dict[str, Any]]:
        """tracer screen (addresses): ``sanctioned`` and ``tag`` facts about ``wallet_ids``, by predicate, source."""
        return self.query(
            f"SELECT o.subject, o.predicate, o.value, o.confidence, o.observed_at, o.valid_to, o.attrs, o.source, "
            f"o.raw_sha256 FROM observations o WHERE o.subject IN ({_marks(len(wallet_ids))}) "
            f"AND o.predicate IN ('sanctioned', 'tag') ORDER BY o.predicate, o.source", list(wallet_ids))

    def entity_label(self, entity_id: str) -> str | None:
        """tracer screen: the label of one entity (None when absent or unlabelled)."""
        rows = self.query("SELECT label FROM entities WHERE id = ?", [entity_id])
        return rows[0]["label"] if rows else None

    def screenable_facts(self) -> list[dict[str, Any]]:
        """tracer screen --all: distinct (subject, predicate, value) of organization / email / website facts."""
        return self.query("SELECT DISTINCT subject, predicate, value FROM observations "
                          "WHERE predicate IN ('organization', 'email', 'website') AND value IS NOT NULL "
                          "AND value != ''")

    def name_matches(self) -> list[dict[str, Any]]:
        """Screening demo step: (subject, entity, confidence, attrs) of stored ``name_match`` facts, best first."""
        return self.query("SELECT subject, value AS entity, confidence, attrs FROM observations "
                          "WHERE predicate = 'name_match' ORDER BY confidence DESC, subject")

    # ---- scoring (tracer.scoring.tables) --------------------------------------------------------------
    def scoring_edges(self) -> Iterator[tuple[Any, ...]]:
        """Scoring graph: every edge in ``graphs.build.EDGE_COLUMNS`` order, attrs only for GPU edges."""
        return self.iter_rows(
            "SELECT id, kind, src, dst, amount, decimals, asset, time, "
            "CASE WHEN kind IN ('uses_gpu', 'offers_gpu') THEN attrs END, chain, block FROM edges ORDER BY id")

    def edge_kinds(self) -> list[str]:
        """Block clock: distinct edge kinds, skipping along the (kind, chain, block) index (one probe per kind)."""
        kinds: list[str] = []
        while True:
            row = self.query("SELECT kind FROM edges WHERE kind > ? ORDER BY kind LIMIT 1",
                             [kinds[-1] if kinds else ""])
            if not row or row[0]["kind"] is None:
                return kinds
            kinds.append(row[0]["kind"])

    def block_time_attrs(self, subject: str) -> list[str | None]:
        """Block clock: attrs JSON text of the ``block_time`` observations about ``subject`` (``chain:<chain>``)."""
        return [r["attrs"] for r in self.query(
            "SELECT attrs FROM observations WHERE subject = ? AND predicate = 'block_time'", [subject])]

    def has_timed_edges(self, kind: str, chain: str) -> bool:
        """Block clock: whether any ``kind`` edge on ``chain`` carries both a block and a time."""
        return bool(self.query(f"SELECT 1 FROM edges WHERE kind = ? AND chain = ? AND block IS NOT NULL AND {_TIMED} "
                               "LIMIT 1", [kind, chain]))

    def block_range(self, kind: str, chain: str) -> tuple[int, int]:
        """Block clock: lowest and highest block of ``kind`` edges on ``chain`` (0 when none)."""
        r = self.query("SELECT min(block) AS lo, max(block) AS hi FROM edges WHERE kind = ? AND chain = ?",
                       [kind, chain])[0]
        return int(r["lo"] or 0), int(r["hi"] or 0)

    def nearest_timed_edge(self, kind: str, chain: str, block: int, above: bool) -> list[dict[str, Any]]:
        """Block clock: (block, time) of the timed ``kind`` edge nearest ``block``, at or above / at or below it."""
        op, order = (">=", "ASC") if above else ("<=", "DESC")
        return self.query(f"SELECT block, time FROM edges WHERE kind = ? AND chain = ? AND block IS NOT NULL AND "
                          f"{_TIMED} AND block {op} ? ORDER BY block {order} LIMIT 1", [kind, chain, block])

    def block_time_observations(self, subjects: Sequence[str]) -> list[dict[str, Any]]:
        """Block clock: (id, subject, predicate, value, attrs) of the ``block_time`` facts about ``subjects``."""
        return self.query(
            f"SELECT id, subject, predicate, value, attrs FROM observations WHERE predicate = 'block_time' "
            f"AND subject IN ({_marks(len(subjects))})", list(subjects))

    def observations_for_scoring(self, predicates: Sequence[str], now: str) -> list[dict[str, Any]]:
        """Scoring: observations with one of ``predicates`` still valid at ``now`` (delisted ones end before)."""
        return self.query(
            f"SELECT id, subject, predicate, value, confidence, attrs, source FROM observations "
            f"WHERE predicate IN ({_marks(len(predicates))}) AND (valid_to IS NULL OR valid_to = '' OR valid_to > ?) ORDER BY id",
            [*predicates, now])

    def deployment_entities(self) -> list[dict[str, Any]]:
        """Scoring: (id, attrs) of every deployment entity (manifest hashes for shared-manifest rules)."""
        return self.query("SELECT id, attrs FROM entities WHERE kind = 'deployment' OR id LIKE 'deployment:%' ORDER BY id")

    def token_labels(self) -> dict[str, str]:
        """Scoring: token id -> label (the EVM connector stores ``symbol()`` there) of labelled token entities."""
        rows = self.query("SELECT id, label FROM entities WHERE kind = 'token' AND label IS NOT NULL AND label != ''")
        return {r["id"]: str(r["label"]) for r in rows}

    # ---- scoring results for users (tracer score / explain, evaluate) ---------------------------------
    def flag_rows(self, min_score: float = 0.0, limit: int | None = None) -> list[dict[str, Any]]:
        """tracer flags / explain: flags with score >= ``min_score``, strongest first ([] before scoring)."""
        if not self.has_table("flags"):
            return []
        sql = f"SELECT {', '.join(FLAG_COLUMNS)} FROM flags WHERE score >= ? ORDER BY score DESC, subject"
        params: list[Any] = [min_score]
        if limit:
            sql += " LIMIT ?"
            params.append(limit)
        return self.query(sql, params)

    def flag_of(self, subject: str) -> dict[str, Any] | None:
        """tracer explain: the flag columns of ``subject`` (None when unflagged or never scored)."""
        if not self.has_table("flags"):
            return None
        rows = self.query(f"SELECT {', '.join(FLAG_COLUMNS)} FROM flags WHERE subject = ?", [subject])
        return rows[0] if rows else None

    def evidence_rows(self, subject: str | None = None, evidence_id: str | None = None) -> list[dict[str, Any]]:
        """tracer explain: whole evidence rows, one by id or a subject's by score then rule ([] before scoring)."""
        if not self.has_table("evidence"):
            return []
        if evidence_id:
            return self.query("SELECT * FROM evidence WHERE id = ?", [evidence_id])
        return self.query("SELECT * FROM evidence WHERE subject = ? ORDER BY score DESC, rule", [subject])

    def fact_with_provenance(self, ref: str) -> dict[str, Any] | None:
        """tracer explain: a stored edge, observation or entity by id (``table`` says which) with raw-payload provenance."""
        for table, cols in _FACT_TABLES:
            rows = self.query(
                f"SELECT {cols}, t.raw_sha256 AS raw_sha256, p.url AS raw_url, p.stream AS raw_stream, "
                f"p.fetched_at AS raw_fetched_at FROM {table} t LEFT JOIN raw_payloads p ON p.sha256 = t.raw_sha256 "
                f"WHERE t.id = ?", [ref])
            if rows:
                return {"table": table, **rows[0]}
        return None

    def fact_exists(self, ref: str) -> bool:
        """Scoring checks (evaluate, tests): is ``ref`` a stored edge, observation or entity id."""
        return any(self.query(f"SELECT 1 FROM {t} WHERE id = ? LIMIT 1", [ref]) for t, _ in _FACT_TABLES)

    def has_rows_from_other_sources(self, source: str) -> bool:
        """tracer simulate: do the core tables hold rows of any source but ``source`` (synced data)."""
        return any(self.query(f"SELECT 1 FROM {t} WHERE source IS NULL OR source <> ? LIMIT 1", [source])
                   for t in _CORE)

