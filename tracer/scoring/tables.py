"""Every SQL statement of the derived tables (``flags``, ``evidence``) and of the reads scoring needs.

Kept in one module so a different store (PostgreSQL) only has to re-implement this file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

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
OBS_PREDICATES = ("sanctioned", "listed", "tag", "location", "name_match", "gpu_hours", "role", "organization",
                  "block_time")


# ---- reads for scoring ----------------------------------------------------------------------------
def iter_edges(store: Store) -> Iterator[tuple[Any, ...]]:
    """Edge rows in graphs.build.EDGE_COLUMNS order; attrs only where the graph needs them.

    ``chain`` and ``block`` let the graph builder anchor its block clock on the rows that carry a
    time and place the ones that carry only a height (no separate pass over the table).
    """
    return store.iter_rows(
        "SELECT id, kind, src, dst, amount, decimals, asset, time, "
        "CASE WHEN kind IN ('uses_gpu', 'offers_gpu') THEN attrs END, chain, block FROM edges")


_TIMED = "time IS NOT NULL AND time != ''"


class Reader(Protocol):
    """Anything with ``Store.query`` (the store, or the server's read-only view of it)."""

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]: ...


def _edge_kinds(store: Reader) -> list[str]:
    """Distinct edge kinds by skipping along the (kind, chain, block) index: one probe per kind."""
    kinds: list[str] = []
    while True:
        row = store.query("SELECT kind FROM edges WHERE kind > ? ORDER BY kind LIMIT 1", [kinds[-1] if kinds else ""])
        if not row or row[0]["kind"] is None:
            return kinds
        kinds.append(row[0]["kind"])


def block_anchors(store: Reader, chains: Sequence[str], blocks: Sequence[int] = (),
                  per_chain: int = 64) -> list[tuple[str, int, int]]:
    """(chain, block, epoch) anchors of the block clock, sampled, for ``chains`` only.

    From stored edges that carry both a block and a time (transfers found by tx search, EVM logs)
    and from ``block_time`` observations (head height and time a connector measured).  Every read
    walks the ``(kind, chain, block)`` index: with ``blocks`` (the heights to be placed, at most 256
    used) the nearest timed edge at or below and at or above each; without, ``per_chain`` timed edges
    spread over the chain's height range.  A 1M-edge store costs a few hundred index probes.
    """
    from graphs.build import to_epoch

    out: list[tuple[str, int, int]] = []
    if not chains:
        return out
    kinds = _edge_kinds(store)
    for chain in chains:
        for r in store.query("SELECT attrs FROM observations WHERE subject = ? AND predicate = 'block_time'",
                             [f"chain:{chain}"]):
            at = json.loads(r["attrs"] or "{}")
            t = to_epoch(at.get("head_time"))
            if at.get("head") is not None and t:
                out.append((chain, int(at["head"]), t))
        for kind in kinds:
            base = f"FROM edges WHERE kind = ? AND chain = ? AND block IS NOT NULL AND {_TIMED}"
            if not store.query(f"SELECT 1 {base} LIMIT 1", [kind, chain]):
                continue  # this kind never carries a time on this chain
            if blocks:
                targets = sorted(set(int(b) for b in blocks))[:256]
            else:
                lo_hi = store.query("SELECT min(block) AS lo, max(block) AS hi FROM edges WHERE kind = ? AND chain = ?",
                                    [kind, chain])[0]
                lo, hi = int(lo_hi["lo"] or 0), int(lo_hi["hi"] or 0)
                n = max(2, per_chain)
                targets = sorted({lo + (hi - lo) * i // (n - 1) for i in range(n)})
            seen: set[int] = set()
            for b in targets:
                for op, order in ((">=", "ASC"), ("<=", "DESC")):
                    for r in store.query(f"SELECT block, time {base} AND block {op} ? ORDER BY block {order} LIMIT 1",
                                         [kind, chain, b]):
                        t = to_epoch(r["time"])
                        if r["block"] not in seen and t:
                            seen.add(r["block"])
                            out.append((chain, int(r["block"]), t))
    return out


def block_clock_inputs(store: Reader, chains: Sequence[str]) -> list[dict[str, Any]]:
    """``block_time`` observations of ``chains`` (head, head_time, seconds_per_block in attrs)."""
    if not chains:
        return []
    return store.query(
        f"SELECT id, subject, predicate, value, attrs FROM observations WHERE predicate = 'block_time' "
        f"AND subject IN ({', '.join('?' for _ in chains)})", [f"chain:{c}" for c in chains])


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


def token_symbols(store: Store) -> dict[str, str]:
    """Token id -> symbol from the token entities the EVM connector writes (label = ``symbol()``)."""
    rows = store.query("SELECT id, label FROM entities WHERE kind = 'token' AND label IS NOT NULL AND label != ''")
    return {r["id"]: str(r["label"]) for r in rows}


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
    for table, cols in (("edges", "id, kind, src, dst, chain, asset, amount, decimals, time, block, tx, source"),
                        ("observations", "id, subject, predicate, value, confidence, observed_at, valid_to, source"),
                        ("entities", "id, kind, chain, address, label, source")):
        rows = store.query(
            f"SELECT {cols}, t.raw_sha256 AS raw_sha256, p.url AS raw_url, p.stream AS raw_stream, "
            f"p.fetched_at AS raw_fetched_at FROM {table} t LEFT JOIN raw_payloads p ON p.sha256 = t.raw_sha256 "
            f"WHERE t.id = ?", [ref])
        if rows:
            out = {"table": table, **rows[0]}
            if table == "edges" and not out.get("time") and out.get("block") is not None and out.get("chain"):
                out.update(estimated_time(store, out["chain"], int(out["block"])))
            return out
    return None


def estimated_time(store: Reader, chain: str, block: int) -> dict[str, Any]:
    """``time_estimated`` (RFC 3339) and ``time_note`` for a fact stored with a height and no time."""
    from graphs.timeline import BlockClock, iso

    clock = BlockClock(block_anchors(store, [chain], [block]))
    for o in block_clock_inputs(store, [chain]):
        clock.add_observation(o["subject"], o["value"], o["attrs"])
    est = clock.estimate(chain, block)
    if est is None:
        return {"time_estimated": None, "time_note": f"time unknown: no block-time anchors for {chain}"}
    return {"time_estimated": iso(est), "time_note": clock.note(chain, block)}


def fact_exists(store: Store, ref: str) -> bool:
    return any(store.query(f"SELECT 1 FROM {t} WHERE id = ? LIMIT 1", [ref])
               for t in ("edges", "observations", "entities"))


def has_other_sources(store: Store, source: str) -> bool:
    """True when the core tables hold rows from any source other than ``source`` (synced data)."""
    return any(store.query(f"SELECT 1 FROM {t} WHERE source IS NOT ? LIMIT 1", [source])
               for t in ("entities", "edges", "observations"))
