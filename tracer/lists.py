"""Lists and screening as library code: what each list source holds, snapshot diffs, address and name
screening of stored facts (``tracer lists``/``tracer screen``, the scheduler and the demo call these).
The SQL is the store's named reads; the matching itself is in :mod:`tracer.screening`."""

from __future__ import annotations

import json
from typing import Any

from connectors import facts
from connectors.base import OBSERVATIONS, ConfigError, Page
from tracer import config as cfgmod
from tracer.screening import (
    DEFAULT_THRESHOLD,
    Match,
    NameScreener,
    candidate_wallet_ids,
    candidates_from_entities,
)
from tracer.store import StoreBackend

SCREEN_SOURCE = "screening"


def list_summary(store: StoreBackend) -> list[dict[str, Any]]:
    """One row per list source: newest snapshot, its counts, how many snapshots and delistings."""
    if not store.has_table("list_snapshots"):
        return []
    rows = store.list_snapshot_summary()
    if store.has_table("tag_sources"):
        rows += store.tag_source_summary()
    today = cfgmod.now()[:10]
    for r in rows:  # how old the newest snapshot is: a screen against a stale list is no clearance
        r["age_days"] = age_days(r.get("snapshot"), today)
    return rows


def age_days(snapshot: Any, today: str) -> int | None:
    """Whole days from a snapshot's date (``2019-06-12``, ``2026-12-02T03:20:17Z``) to ``today``
    (``YYYY-MM-DD``); None when the snapshot has no date."""
    import datetime as dt

    try:
        return (dt.date.fromisoformat(today[:10]) - dt.date.fromisoformat(str(snapshot)[:10])).days
    except ValueError:
        return None


def snapshot_diff(store: StoreBackend, source: str, older: str | None = None, newer: str | None = None) -> dict[str, Any]:
    """What changed in ``source`` between two snapshots (default: the last two loaded)."""
    snaps = store.list_snapshot_names(source) if store.has_table("list_snapshots") else []
    if not snaps:
        raise ConfigError(f"no snapshots of {source!r}; `tracer lists` shows the loaded sources")
    newer = newer or snaps[-1]
    older = older or (snaps[-2] if len(snaps) > 1 else None)

    def members(snap: str | None) -> dict[tuple[str, str], dict[str, Any]]:
        if snap is None:
            return {}
        return {(r["kind"], r["key"]): r for r in store.list_snapshot_members(source, snap)}

    a, b = members(older), members(newer)
    return {"source": source, "older": older, "newer": newer,
            "added": [b[k] for k in sorted(set(b) - set(a))],
            "removed": [a[k] for k in sorted(set(a) - set(b))]}


def screener(store: StoreBackend, threshold: float) -> NameScreener:
    return NameScreener(candidates_from_entities(store.listed_entities()), threshold)


def snapshots(store: StoreBackend) -> dict[str, str]:
    """Source -> its newest loaded snapshot (a screening answer names the snapshot it matched)."""
    return store.latest_list_snapshots()


def screen_address(store: StoreBackend, query: str) -> list[dict[str, Any]]:
    """Exact wallet matches: ``sanctioned`` facts, ``listed_as`` parties and attribution tags."""
    wids = candidate_wallet_ids(query)
    if not wids:
        return []
    out = []
    for r in store.screening_hits(wids):
        attrs = json.loads(r["attrs"] or "{}")
        ent = attrs.get("entity")
        label = store.entity_label(ent) if ent else ""
        out.append({"query": query, "match": r["subject"], "kind": r["predicate"], "list": r["value"],
                    "entity": ent or "", "label": label or attrs.get("category", ""),
                    "uid": attrs.get("uid", ""), "programme": attrs.get("programme", ""),
                    "snapshot": attrs.get("snapshot") or r["observed_at"], "delisted": r["valid_to"] or "",
                    "score": 100.0 if r["predicate"] == "sanctioned" else round(100 * (r["confidence"] or 0), 1),
                    "source": r["source"], "raw_sha256": r["raw_sha256"]})
    return out


def match_row(m: Match, snaps: dict[str, str]) -> dict[str, Any]:
    """One name match as an output row, with the snapshot of the list it was found in."""
    return {"query": m.query, "match": m.matched_text, "kind": f"name_match:{m.matched_field}",
            "list": m.list_type, "entity": m.entity_id, "label": m.label, "uid": m.uid,
            "programme": m.programmes, "snapshot": snaps.get(m.source, ""), "delisted": "",
            "score": m.score, "source": m.source, "raw_sha256": ""}


def screen_stored_facts(store: StoreBackend, threshold: float = DEFAULT_THRESHOLD, now: str | None = None) -> int:
    """Screen every stored ``organization``/``email``/``website`` fact; store hits as ``name_match``."""
    sc = screener(store, threshold)
    snaps = snapshots(store)
    at = now or cfgmod.now()
    stored = store.screenable_facts()
    records = []
    for f in stored:
        for m in sc.screen(f["value"], f["predicate"]):
            attrs = {**m.as_row(), "threshold": threshold, "snapshot": snaps.get(m.source, "")}
            records.append(facts.observation(
                f["subject"], "name_match", m.entity_id, SCREEN_SOURCE, at, confidence=round(m.score / 100, 3),
                attrs=attrs, id_=f"obs:{SCREEN_SOURCE}:{f['subject']}:{f['predicate']}:{m.entity_id}"))
    body = json.dumps([r.row for r in records], sort_keys=True, default=str).encode()
    store.ensure_tables([OBSERVATIONS])
    with store.lock("screen"):
        run_id = store.start_run("screen --all", at)
        page = Page(body=body, url="derive:screening", method="derive:screening", data=None, state=None,
                    fetched_at=at)
        n = store.write_page("screening", page, records, run_id)
        store.end_run(run_id, "ok", at, 0.0, n)
    return n


def demo_step(store: StoreBackend, cfg: dict[str, Any], out_dir: Any) -> dict[str, str]:
    """``tracer demo`` post-sync step: screen every stored provider fact, write the matches as CSV."""
    import csv
    from pathlib import Path

    screen_stored_facts(store)
    rows = store.name_matches()
    path = Path(out_dir) / "name_matches.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["subject", "query_field", "query", "entity", "label", "list_type", "matched_text", "score"])
        for r in rows:
            a = json.loads(r["attrs"] or "{}")
            w.writerow([r["subject"], a.get("query_field"), a.get("query"), r["entity"], a.get("label"),
                        a.get("list_type"), a.get("matched_text"), a.get("score")])
    return {"name_matches": str(path)}
