"""``tracer lists`` (what each list source holds, by snapshot) and ``tracer screen`` (is this
address or name on a list, and why). What to read and write is decided here (the SQL is the store's
named reads); the matching itself is in :mod:`tracer.screening`."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from connectors.base import OBSERVATIONS, Page, Record
from tracer import config as cfgmod
from tracer.output import emit, output_options
from tracer.screening import (
    DEFAULT_THRESHOLD,
    Match,
    NameScreener,
    address_problem,
    candidate_wallet_ids,
    candidates_from_entities,
    looks_like_address,
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
    return rows


def snapshot_diff(store: StoreBackend, source: str, older: str | None = None, newer: str | None = None) -> dict[str, Any]:
    """What changed in ``source`` between two snapshots (default: the last two loaded)."""
    snaps = store.list_snapshot_names(source)
    if not snaps:
        raise click.UsageError(f"no snapshots of {source!r}; `tracer lists` shows the loaded sources")
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


def _snapshots(store: StoreBackend) -> dict[str, str]:
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


def _match_row(m: Match, snaps: dict[str, str]) -> dict[str, Any]:
    return {"query": m.query, "match": m.matched_text, "kind": f"name_match:{m.matched_field}",
            "list": m.list_type, "entity": m.entity_id, "label": m.label, "uid": m.uid,
            "programme": m.programmes, "snapshot": snaps.get(m.source, ""), "delisted": "",
            "score": m.score, "source": m.source, "raw_sha256": ""}


def screen_stored_facts(store: StoreBackend, threshold: float = DEFAULT_THRESHOLD, now: str | None = None) -> int:
    """Screen every stored ``organization``/``email``/``website`` fact; store hits as ``name_match``."""
    sc = screener(store, threshold)
    snaps = _snapshots(store)
    at = now or cfgmod.now()
    facts = store.screenable_facts()
    records = []
    for f in facts:
        for m in sc.screen(f["value"], f["predicate"]):
            attrs = {**m.as_row(), "threshold": threshold, "snapshot": snaps.get(m.source, "")}
            records.append(Record("observations", {
                "id": f"obs:{SCREEN_SOURCE}:{f['subject']}:{f['predicate']}:{m.entity_id}",
                "subject": f["subject"], "predicate": "name_match", "value": m.entity_id,
                "confidence": round(m.score / 100, 3), "observed_at": at, "valid_to": None, "attrs": attrs,
                "source": SCREEN_SOURCE, "first_seen": at, "last_seen": at}))
    body = json.dumps([r.row for r in records], sort_keys=True, default=str).encode()
    store.ensure_tables([OBSERVATIONS])
    with store.lock("screen"):
        run_id = store.start_run("screen --all", at)
        page = Page(body=body, url="derive:screening", method="derive:screening", data=None, state=None,
                    fetched_at=at)
        n = store.write_page("screening", page, records, run_id)
        store.end_run(run_id, "ok", at, 0.0, n)
    return n


@click.command("lists")
@click.option("--diff", "diff_source", metavar="SOURCE", help="What was added/removed between the last two snapshots.")
@output_options
@click.pass_obj
def lists_command(env: Any, diff_source: str | None, fmt: str | None) -> None:
    """Restricted-party and attribution sources in the store: snapshot date and counts.

    \b
    Examples:
      tracer lists                           # one row per source (newest snapshot)
      tracer lists --diff ofac-thomasgregg   # added / removed since the previous snapshot
      tracer lists --diff ofac-sdn-csv --csv > changes.csv
    Load lists with `tracer sync lists_ofac lists_csl lists_un lists_opensanctions lists_tags`.
    """
    store = env.store
    if diff_source:
        d = snapshot_diff(store, diff_source)
        rows = [{"change": "added", **r} for r in d["added"]] + [{"change": "removed", **r} for r in d["removed"]]
        emit(rows, fmt, columns=["change", "kind", "key", "label", "list_type"],
             title=f"{diff_source}: {d['older']} -> {d['newer']}: +{len(d['added'])} -{len(d['removed'])}")
        return
    emit(list_summary(store), fmt, columns=["source", "kind", "snapshot", "loaded_at", "entities", "addresses",
                                            "rejected", "snapshots", "delisted"])


@click.command("screen")
@click.argument("queries", nargs=-1, metavar="ADDRESS|NAME...")
@click.option("--threshold", type=click.FloatRange(0, 100), default=DEFAULT_THRESHOLD, show_default=True,
              help="Minimum fuzzy score (0-100) for a name match.")
@click.option("--as", "as_", type=click.Choice(["auto", "address", "name", "email", "website"]), default="auto",
              show_default=True, help="How to read QUERY (auto: an address if it is valid on some chain).")
@click.option("--all", "all_", is_flag=True,
              help="Screen every stored organization / e-mail / website fact and store name_match facts.")
@output_options
@click.pass_obj
def screen_command(env: Any, queries: tuple[str, ...], threshold: float, as_: str, all_: bool,
                   fmt: str | None) -> None:
    """Is this wallet or party on a list? Answers with each match and its evidence.

    \b
    Examples:
      tracer screen 0x8589427373D6D84E98730D7795D8f6f8731FDA16     # exact wallet match
      tracer screen "Sino Bright Import & Export Co"                 # fuzzy name match
      tracer screen --as website https://www.gicdf.org
      tracer screen --all                                            # screen stored providers
    Evidence: list, snapshot, uid, programme, score (100 = exact) and the stored payload hash.
    Exit code 0 with matches printed, 1 when nothing matched, 2 on bad usage.
    """
    store = env.store
    if all_:
        n = screen_stored_facts(store, threshold)
        click.echo(f"stored {n} name_match fact(s) (threshold {threshold:g})")
        return
    if not queries:
        raise click.UsageError("give an ADDRESS or NAME (or --all)")
    sc: NameScreener | None = None
    snaps = _snapshots(store)
    rows: list[dict[str, Any]] = []
    for q in queries:
        kind = as_
        if kind == "auto":
            problem = address_problem(q)
            if problem:
                raise click.UsageError(f"{problem} (use --as name to screen it as a name)")
            kind = "address" if looks_like_address(q) else ("email" if "@" in q else "name")
        if kind == "address":
            if not candidate_wallet_ids(q):
                raise click.UsageError(f"{q!r} is not a valid address of any known chain")
            rows += screen_address(store, q)
            continue
        sc = sc or screener(store, threshold)
        rows += [_match_row(m, snaps) for m in sc.screen(q, kind)]
    emit(rows, fmt, columns=["query", "kind", "match", "score", "list", "entity", "label", "uid", "programme",
                             "snapshot", "delisted", "source", "raw_sha256"])
    if not rows:
        loaded = _snapshots(store)
        hint = "" if loaded else " (no list is loaded yet: run `tracer sync lists_ofac lists_csl lists_un`)"
        click.echo(f"no match{hint}", err=True)
        sys.exit(1)


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
