"""Every SQL statement of the derived tables (``flags``, ``evidence``) and of the reads scoring needs.

Kept in one module so a different store (PostgreSQL) only has to re-implement this file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from connectors.base import Column, Table
from tracer.store import Store

FLAGS = Table(
    "flags",
    (Column("subject"), Column("score", "REAL"), Column("level"), Column("rules_version"),
     Column("computed_at"), Column("reasons"), Column("cluster"), Column("first_seen"), Column("last_seen")),
    pk=("subject",),
    keep_first_seen=("first_seen",),
    indexes=(("level",), ("score",)),
)
EVIDENCE = Table(
    "evidence",
    (Column("id"), Column("subject"), Column("rule"), Column("score", "REAL"), Column("detail"),
     Column("refs"), Column("path"), Column("rules_version"), Column("computed_at")),
    pk=("id",),
    indexes=(("subject",), ("rule",)),
)
OBS_PREDICATES = ("sanctioned", "listed", "tag", "location", "name_match", "gpu_hours", "role", "organization")


# ---- reads for scoring ----------------------------------------------------------------------------
def iter_edges(store: Store) -> Iterator[tuple[Any, ...]]:
    """Edge rows in graphs.build.EDGE_COLUMNS order; attrs only where the graph needs them."""
    return store.iter_rows(
        "SELECT id, kind, src, dst, amount, decimals, asset, time, "
        "CASE WHEN kind IN ('uses_gpu', 'offers_gpu') THEN attrs END FROM edges")


def observations(store: Store, now: str) -> list[dict[str, Any]]:
    """Observations scoring reads, still valid at ``now`` (delisted ones have valid_to <= now)."""
    marks = ", ".join("?" for _ in OBS_PREDICATES)
    return store.query(
        f"SELECT id, subject, predicate, value, confidence, attrs, source FROM observations "
        f"WHERE predicate IN ({marks}) AND (valid_to IS NULL OR valid_to = '' OR valid_to > ?)",
        [*OBS_PREDICATES, now])


def deployments(store: Store) -> list[dict[str, Any]]:
    """Deployment entities with their manifest hash (Akash ``hash``/``version`` attrs)."""
    rows = store.query("SELECT id, attrs FROM entities WHERE kind = 'deployment' OR id LIKE 'deployment:%'")
    out = []
    for r in rows:
        at = json.loads(r["attrs"] or "{}")
        h = at.get("hash") or at.get("version") or at.get("manifest_hash")
        owner = at.get("owner")
        if not owner:
            tail = r["id"].split(":", 2)[2] if r["id"].count(":") >= 2 else ""
            owner = tail.split("/", 1)[0]
        chain = r["id"].split(":")[1] if r["id"].count(":") >= 2 else "akash"
        out.append({"id": r["id"], "owner": owner if owner.startswith("wallet:") else f"wallet:{chain}:{owner}",
                    "hash": h})
    return out


# ---- writes -----------------------------------------------------------------------------------------
def write_results(store: Store, flags: Sequence[dict[str, Any]], evidence: Sequence[dict[str, Any]]) -> None:
    """Replace the derived tables with this run's results in ONE transaction.

    Flags keep ``first_seen`` across runs; subjects no longer flagged are removed, so delisting a
    wallet removes the flags that depended on it at the next ``tracer score``.
    """
    store.ensure_tables([FLAGS, EVIDENCE])
    conn = store.db.conn
    with conn:
        conn.execute("DELETE FROM evidence")
        conn.executemany(
            "INSERT INTO evidence (id, subject, rule, score, detail, refs, path, rules_version, computed_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(e["id"], e["subject"], e["rule"], e["score"], e["detail"], json.dumps(e["refs"]),
              json.dumps(e["path"]), e["rules_version"], e["computed_at"]) for e in evidence])
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS _flag_keep (subject TEXT PRIMARY KEY)")
        conn.execute("DELETE FROM _flag_keep")
        conn.executemany("INSERT OR IGNORE INTO _flag_keep VALUES (?)", [(f["subject"],) for f in flags])
        conn.execute("DELETE FROM flags WHERE subject NOT IN (SELECT subject FROM _flag_keep)")
        conn.executemany(
            "INSERT INTO flags (subject, score, level, rules_version, computed_at, reasons, cluster, first_seen, "
            "last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(subject) DO UPDATE SET "
            "score=excluded.score, level=excluded.level, rules_version=excluded.rules_version, "
            "computed_at=excluded.computed_at, reasons=excluded.reasons, cluster=excluded.cluster, "
            "last_seen=excluded.last_seen",
            [(f["subject"], f["score"], f["level"], f["rules_version"], f["computed_at"], json.dumps(f["reasons"]),
              f.get("cluster"), f["computed_at"], f["computed_at"]) for f in flags])


# ---- reads for users ------------------------------------------------------------------------------
def read_flags(store: Store, limit: int | None = None, min_score: float = 0.0) -> list[dict[str, Any]]:
    if "flags" not in store.table_names():
        return []
    sql = ("SELECT subject, score, level, rules_version, computed_at, reasons, cluster, first_seen, last_seen "
           "FROM flags WHERE score >= ? ORDER BY score DESC, subject")
    params: list[Any] = [min_score]
    if limit:
        sql += " LIMIT ?"
        params.append(limit)
    rows = store.query(sql, params)
    for r in rows:
        r["reasons"] = json.loads(r["reasons"] or "[]")
    return rows


def read_flag(store: Store, subject: str) -> dict[str, Any] | None:
    """One subject's flag (None when it is not flagged)."""
    if "flags" not in store.table_names():
        return None
    rows = store.query("SELECT subject, score, level, rules_version, computed_at, reasons, cluster, first_seen, "
                       "last_seen FROM flags WHERE subject = ?", [subject])
    if not rows:
        return None
    rows[0]["reasons"] = json.loads(rows[0]["reasons"] or "[]")
    return rows[0]


def read_evidence(store: Store, subject: str | None = None, evidence_id: str | None = None) -> list[dict[str, Any]]:
    if "evidence" not in store.table_names():
        return []
    if evidence_id:
        rows = store.query("SELECT * FROM evidence WHERE id = ?", [evidence_id])
    else:
        rows = store.query("SELECT * FROM evidence WHERE subject = ? ORDER BY score DESC, rule", [subject])
    for r in rows:
        r["refs"] = json.loads(r["refs"] or "[]")
        r["path"] = json.loads(r["path"] or "[]")
        r.pop("raw_sha256", None)
        r.pop("run_id", None)
    return rows


def fact(store: Store, ref: str) -> dict[str, Any] | None:
    """A stored fact by id (edge, observation or entity) with its raw-payload provenance."""
    for table, cols in (("edges", "id, kind, src, dst, chain, asset, amount, decimals, time, tx, source"),
                        ("observations", "id, subject, predicate, value, confidence, observed_at, valid_to, source"),
                        ("entities", "id, kind, chain, address, label, source")):
        rows = store.query(
            f"SELECT {cols}, t.raw_sha256 AS raw_sha256, p.url AS raw_url, p.stream AS raw_stream, "
            f"p.fetched_at AS raw_fetched_at FROM {table} t LEFT JOIN raw_payloads p ON p.sha256 = t.raw_sha256 "
            f"WHERE t.id = ?", [ref])
        if rows:
            return {"table": table, **rows[0]}
    return None


def fact_exists(store: Store, ref: str) -> bool:
    return any(store.query(f"SELECT 1 FROM {t} WHERE id = ? LIMIT 1", [ref])
               for t in ("edges", "observations", "entities"))


def has_other_sources(store: Store, source: str) -> bool:
    """True when the core tables hold rows from any source other than ``source`` (synced data)."""
    return any(store.query(f"SELECT 1 FROM {t} WHERE source IS NOT ? LIMIT 1", [source])
               for t in ("entities", "edges", "observations"))
