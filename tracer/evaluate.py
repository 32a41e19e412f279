"""Held-out evaluation of the flags through the real connectors (issue 12).

For one scenario (:func:`tracer.world.scenario.draw_scenario`): serve its parts on loopback, sync
them into a fresh SQLite store with :func:`tracer.pipeline.sync` exactly as ``tracer demo`` does,
screen every stored name (what ``tracer screen --all`` does), score (``tracer score``), then
measure the flags against the scenario's labels: precision / recall per typology and overall at
>= medium and >= high, false positives by decoy typology (and unlabelled subjects), and whether every
true positive's evidence has a path and refs that resolve to stored facts. Nothing is written to the
store by hand: every fact comes through a connector.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tracer.world.scenario import Label, Scenario

LEVELS = ("low", "medium", "high", "severe")
CUTS = ("medium", "high")


@dataclass
class Metrics:
    """Quality of the flags at one cut (a subject counts when its level is at or above it)."""

    cut: str
    tp: list[str] = field(default_factory=list)
    fn: list[str] = field(default_factory=list)
    fp: list[str] = field(default_factory=list)  # labelled decoys and unlabelled subjects
    tn: int = 0
    per_typology: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def precision(self) -> float:
        n = len(self.tp) + len(self.fp)
        return len(self.tp) / n if n else 1.0

    @property
    def recall(self) -> float:
        n = len(self.tp) + len(self.fn)
        return len(self.tp) / n if n else 1.0


def at_or_above(level: str | None, cut: str) -> bool:
    return level in LEVELS and LEVELS.index(level) >= LEVELS.index(cut)


def measure(labels: Iterable[Label], flags: Iterable[dict[str, Any]], cut: str = "medium") -> Metrics:
    """Precision/recall of ``flags`` (dicts with subject and level) against ``labels`` at ``cut``.

    Per typology: ``n`` labelled subjects and ``hit`` of them at or above the cut (for a positive
    typology hits are true positives, for a decoy typology false positives). Flagged subjects with
    no label are false positives under the typology ``unlabelled``.
    """
    lab = {lb.subject: lb for lb in labels}
    flagged = {f["subject"] for f in flags if at_or_above(f.get("level"), cut)}
    m = Metrics(cut)
    for s, lb in sorted(lab.items()):
        row = m.per_typology.setdefault(lb.typology, {"positive": lb.positive, "n": 0, "hit": 0, "subjects": []})
        row["n"] += 1
        if s in flagged:
            row["hit"] += 1
            row["subjects"].append(s)
            (m.tp if lb.positive else m.fp).append(s)
        elif lb.positive:
            m.fn.append(s)
        else:
            m.tn += 1
    extra = sorted(flagged - set(lab))
    if extra:
        m.per_typology["unlabelled"] = {"positive": False, "n": len(extra), "hit": len(extra), "subjects": extra}
        m.fp.extend(extra)
    return m


def merge(metrics: Sequence[Metrics]) -> Metrics:
    """Sum of several worlds' metrics at one cut."""
    out = Metrics(metrics[0].cut if metrics else "medium")
    for m in metrics:
        out.tp += m.tp
        out.fn += m.fn
        out.fp += m.fp
        out.tn += m.tn
        for t, row in m.per_typology.items():
            o = out.per_typology.setdefault(t, {"positive": row["positive"], "n": 0, "hit": 0, "subjects": []})
            o["n"] += row["n"]
            o["hit"] += row["hit"]
            o["subjects"] += row["subjects"]
    return out


def typology_rows(by_cut: dict[str, Metrics]) -> list[dict[str, Any]]:
    """One row per typology, the worst first: recall for positives, 1 - FP rate for decoys (>= medium)."""
    med = by_cut["medium"]
    rows = []
    for t, row in med.per_typology.items():
        hi = by_cut.get("high", med).per_typology.get(t, {"hit": 0})
        n = row["n"]
        if t == "unlabelled":
            q_med = q_hi = None
        else:
            q_med = row["hit"] / n if row["positive"] else 1 - row["hit"] / n
            q_hi = hi["hit"] / n if row["positive"] else 1 - hi["hit"] / n
        rows.append({"typology": t, "kind": "positive" if row["positive"] else "decoy", "n": n,
                     "medium": row["hit"], "high": hi["hit"], "quality_medium": q_med, "quality_high": q_hi})
    rows.sort(key=lambda r: (r["quality_medium"] if r["quality_medium"] is not None else -1.0, r["typology"]))
    return rows


@dataclass
class WorldRun:
    """What one world produced: flags, metrics per cut, evidence problems, missing label subjects."""

    seed: int
    kind: str
    flags: list[dict[str, Any]]
    metrics: dict[str, Metrics]
    evidence_problems: list[str]
    missing_subjects: list[str]  # labelled subjects the connectors did not store
    unscored_subjects: list[str]  # labelled subjects tracer does not score (not a renter or provider)
    sync_status: str
    sync_errors: list[str]
    timings: dict[str, float]
    labels: list[Label]
    stats: dict[str, Any] = field(default_factory=dict)


def _live_urls(value: Any) -> list[str]:
    """URLs in a config value, skipping every table that says ``enabled = false``."""
    if isinstance(value, dict):
        if value.get("enabled", True) is False:
            return []
        return [u for v in value.values() for u in _live_urls(v)]
    if isinstance(value, list | tuple):
        return [u for v in value for u in _live_urls(v)]
    return [value] if isinstance(value, str) and "://" in value else []


def loopback_only(cfg: dict[str, Any]) -> list[str]:
    """URLs of enabled connectors that do not point at 127.0.0.1 (must be empty: no network)."""
    from tracer.pipeline import effective_configs

    return [f"{name}: {u}" for name, c in effective_configs(cfg).items() for u in _live_urls(c)
            if urlsplit(u).hostname not in ("127.0.0.1", "localhost")]


def check_evidence(store: Any, evidence: Sequence[dict[str, Any]], subjects: Iterable[str]) -> list[str]:
    """Problems with the evidence of ``subjects``: none at all, an empty path, refs not stored."""
    from tracer.scoring import tables

    by: dict[str, list[dict[str, Any]]] = {}
    for e in evidence:
        by.setdefault(e["subject"], []).append(e)
    problems = []
    for s in subjects:
        evs = [e for e in by.get(s, []) if e["score"] > 0]
        if not evs:
            problems.append(f"{s}: flagged without evidence")
            continue
        if not any(e["refs"] for e in evs):
            problems.append(f"{s}: no evidence names a fact")
        for e in evs:
            if not e["path"]:
                problems.append(f"{s}: {e['rule']} evidence has an empty path")
            missing = [r for r in e["refs"] if not tables.fact_exists(store, r)]
            if missing:
                problems.append(f"{s}: {e['rule']} cites {len(missing)} unstored fact(s), e.g. {missing[0]}")
    return problems


def stored(store: Any, subject: str) -> bool:
    """The id is in the store: an entity, an edge endpoint or an observation subject."""
    return bool(store.node_exists(subject))


async def sync_scenario(sc: Scenario, db_path: Path) -> tuple[Any, Any]:
    """Serve the scenario's parts and sync every part's connector into ``db_path`` (like ``tracer demo``)."""
    from tracer.demo import serve_parts
    from tracer.pipeline import sync
    from tracer.registry import connectors
    from tracer.store import Store

    for p in sc.parts:
        if p.start:
            await p.start()
    runner, base = await serve_parts(sc.parts)
    try:
        conn_cfg: dict[str, Any] = {name: {"enabled": False} for name in connectors()}
        for p in sc.parts:
            for cname, c in p.config(f"{base}/{p.name}").items():
                conn_cfg[cname] = {**c, "enabled": True}
        cfg = {"db": str(db_path), "connectors": conn_cfg}
        bad = loopback_only(cfg)
        if bad:
            raise RuntimeError("scenario config reaches outside loopback: " + "; ".join(bad[:3]))
        store = Store(db_path)
        res = await sync(store, cfg, [], None, command="evaluate")
    finally:
        await runner.cleanup()
        for p in sc.parts:
            if p.stop:
                await p.stop()
    return store, res


def run_scenario(sc: Scenario, workdir: Path | None = None, params: Any = None) -> WorldRun:
    """Serve -> sync -> screen names -> score -> measure, for one scenario."""
    from tracer.lists import screen_stored_facts
    from tracer.scoring.run import score_store, subjects

    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix=f"tracer-eval-{sc.kind}-{sc.seed}-") as tmp:
        db = (workdir or Path(tmp)) / f"{sc.kind}-{sc.seed}.db"
        for suffix in ("", "-wal", "-shm", ".lock"):
            Path(str(db) + suffix).unlink(missing_ok=True)
        t0 = time.monotonic()
        store, res = asyncio.run(sync_scenario(sc, db))
        timings["sync"] = time.monotonic() - t0
        try:
            t1 = time.monotonic()
            screen_stored_facts(store)
            timings["screen"] = time.monotonic() - t1
            t2 = time.monotonic()
            scored = score_store(store, params)
            timings["score"] = time.monotonic() - t2
            metrics = {cut: measure(sc.labels, scored.flags, cut) for cut in CUTS}
            problems = check_evidence(store, scored.evidence, metrics["medium"].tp)
            missing = [lb.subject for lb in sc.labels if not stored(store, lb.subject)]
            scored_set = set(subjects(scored.context)) if scored.context is not None else set()
            unscored = [lb.subject for lb in sc.labels if lb.subject not in scored_set]
        finally:
            store.close()
    return WorldRun(sc.seed, sc.kind, scored.flags, metrics, problems, missing, unscored, res.status, res.errors,
                    timings, sc.labels, scored.stats)
