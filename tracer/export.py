"""Watch-lists and graph exports for people who act on tracer's flags without running tracer.

A watch-list row is one flagged actor or wallet with its score, level, top reasons, sources and
first/last seen, sorted by id so two exports diff cleanly.  Formats: CSV, JSON Lines, and
FollowTheMoney entities (CryptoWallet / Organization / Person + Sanction) that OpenSanctions and
Aleph tools read.  The graph export (GEXF / GraphML) opens in Gephi.  ``diff_watchlists`` says
who entered, who left and whose level changed, and why; ``post_webhook`` announces new
high-level entries.

Analyst judgements (:mod:`tracer.judgements`) travel with each row (``judgement``,
``judgement_status``, ``judged_by``, ``judged_at``, ``judgement_reason``); a flag dismissed on
evidence that has not changed since is left out unless asked for (``include_dismissed``).
"""

from __future__ import annotations

import csv
import hashlib
import html
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connectors import ids

if TYPE_CHECKING:
    from tracer.store.reads import Reads

COLUMNS = ["id", "kind", "chain", "address", "label", "score", "level", "top_reasons", "sources", "first_seen",
           "last_seen", "rules_version", "judgement", "judgement_status", "judged_by", "judged_at",
           "judgement_reason"]
JUDGEMENT_FIELDS = ("judgement", "judgement_status", "judged_by", "judged_at", "judgement_reason")
LEVELS = ["low", "medium", "high", "severe"]


class ExportError(ValueError):
    """An export the user asked for that cannot be made (no flags yet, unreadable old file)."""


def _reasons(raw: Any) -> list[tuple[float, str]]:
    """Reasons JSON as (score, text), whatever shape the scoring step stored (strings or objects)."""
    try:
        items = json.loads(raw) if isinstance(raw, str) else (raw or [])
    except ValueError:
        return [(0.0, str(raw))]
    if isinstance(items, dict):
        items = [items]
    out = []
    for r in items:
        if isinstance(r, dict):
            text = ": ".join(str(x) for x in (r.get("rule"), r.get("detail")) if x)
            out.append((float(r.get("score") or 0), text))
        else:
            out.append((0.0, str(r)))
    return sorted(out, key=lambda x: -x[0])


def watchlist_rows(store: Reads, min_score: float = 0.0, top: int = 3,
                   include_dismissed: bool = False) -> list[dict[str, Any]]:
    """One row per flagged subject with score >= ``min_score``, sorted by id (diff-friendly); flags
    dismissed on unchanged evidence only with ``include_dismissed``."""
    kept, dismissed = split_watchlist(store, min_score, top)
    return sorted(kept + dismissed, key=lambda r: r["id"]) if include_dismissed else kept


def split_watchlist(store: Reads, min_score: float = 0.0, top: int = 3,
                    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(rows to list, rows left out because an analyst dismissed them and the evidence is unchanged),
    each sorted by id, with the newest judgement's fields on every row."""
    from tracer.judgements import latest_states

    if not store.has_table("flags"):
        raise ExportError("no flags table yet: run tracer score (or tracer run) first")
    judged = latest_states(store)  # type: ignore[arg-type]
    rows: list[dict[str, Any]] = []
    dismissed: list[dict[str, Any]] = []
    for f in store.watchlist_flags(min_score):
        srcs = {f["source"]} if f["source"] else set()
        srcs |= store.observation_sources(f["subject"])
        subject = str(f["subject"])
        wallet = ids.try_parse(subject) if ids.kind_of(subject) == "wallet" else None
        target = dismissed if judged.get(subject, {}).get("suppressed") else rows
        target.append({
            "id": subject, "kind": f["kind"] or ids.kind_of(subject), "chain": f["chain"] or (wallet.space if wallet else ""),
            "address": f["address"] or (wallet.key if wallet else ""),
            "label": f["label"] or "", "score": round(float(f["score"]), 4), "level": f["level"],
            "top_reasons": "; ".join(t for _, t in _reasons(f["reasons"])[:top]),
            "sources": ";".join(sorted(srcs)), "first_seen": f["first_seen"] or "", "last_seen": f["last_seen"] or "",
            "rules_version": f["rules_version"] or "", **judgement_fields(judged.get(subject)),
        })
    return rows, dismissed


def judgement_fields(state: dict[str, Any] | None) -> dict[str, str]:
    """The watch-list's judgement columns of one subject (empty strings when never judged)."""
    if not state:
        return dict.fromkeys(JUDGEMENT_FIELDS, "")
    return {"judgement": state["verdict"], "judgement_status": state["status"], "judged_by": state["analyst"],
            "judged_at": state["created_at"], "judgement_reason": " ".join(str(state["reason"]).split())}


def _csv_safe(v: Any) -> Any:
    """Neutralise spreadsheet formulas: labels come from third parties and the CSV goes to Excel."""
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v
    return v


def write_csv(rows: Sequence[dict[str, Any]], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, COLUMNS, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({c: _csv_safe(r.get(c, "")) for c in COLUMNS})


def write_jsonl(rows: Iterable[dict[str, Any]], path: Path) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps({c: r.get(c) for c in COLUMNS}, ensure_ascii=False, sort_keys=False) + "\n")


def read_watchlist(path: Path) -> list[dict[str, Any]]:
    """A watch-list written by :func:`write_csv` or :func:`write_jsonl` (for diffs)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ExportError(f"{path} is not a UTF-8 watch-list export (CSV or JSON Lines)") from None
    except (OSError, ValueError) as e:
        raise ExportError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
    if path.suffix == ".csv":
        rows = list(csv.DictReader(text.splitlines()))
        for r in rows:
            r["score"] = float(r["score"]) if r.get("score") else 0.0
        return rows
    try:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except ValueError as e:
        raise ExportError(f"{path} is neither a watch-list CSV nor JSON Lines: {e}") from None


def _ftm_id(subject: str) -> str:
    return "tracer-" + hashlib.sha1(subject.encode()).hexdigest()[:24]


def ftm_entities(store: Reads, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """FollowTheMoney entity dicts for watch-list rows: the subject, and a Sanction per listing fact."""
    from followthemoney import model

    out: list[dict[str, Any]] = []
    for r in rows:
        obs = store.subject_observations(r["id"])
        listings = [o for o in obs if o["predicate"] in ("sanctioned", "listed")]
        if r["kind"] == "wallet":
            p = model.make_entity("CryptoWallet")
            p.add("publicKey", r["address"])
            p.add("blockchain", r["chain"])
        else:
            attrs = store.entity_attrs(r["id"])
            kind = str(json.loads(attrs).get("schema", "") if attrs else "").lower()
            p = model.make_entity("Person" if kind in ("person", "individual") else "Organization")
            for o in obs:
                if o["predicate"] == "location" and o["value"] and len(str(o["value"])) == 2:
                    p.add("country", str(o["value"]).lower(), quiet=True)
                if o["predicate"] in ("website", "email"):
                    p.add(o["predicate"], o["value"], quiet=True)
        p.id = _ftm_id(r["id"])
        p.add("name", r["label"] or r["address"] or r["id"])
        p.add("notes", f"tracer {r['level']} ({r['score']}, rules {r['rules_version']}): {r['top_reasons']}")
        p.add("notes", f"tracer id: {r['id']}; sources: {r['sources']}")
        if r.get("judgement"):
            stale = "; evidence changed since" if r.get("judgement_status") == "stale" else ""
            p.add("notes", f"analyst judgement: {r['judgement']} by {r['judged_by']} at {r['judged_at']}: "
                           f"{r['judgement_reason']}{stale}")
        topic = "sanction" if listings else "sanction.linked" if r["level"] in ("high", "severe") else "export.risk"
        p.add("topics", topic)
        if r["last_seen"]:
            p.add("modifiedAt", str(r["last_seen"])[:19], quiet=True)
        out.append(p.to_dict())
        for o in listings:
            s = model.make_entity("Sanction")
            s.id = _ftm_id(f"{r['id']}|{o['id']}")
            s.add("entity", p.id)
            s.add("authority", o["value"] or o["source"])
            s.add("program", (json.loads(o["attrs"]) if o["attrs"] else {}).get("programme") or o["value"])
            s.add("reason", f"{o['predicate']} per {o['source']}")
            if o["observed_at"]:
                s.add("listingDate", str(o["observed_at"])[:10], quiet=True)
            out.append(s.to_dict())
    return out


def write_ftm(store: Reads, rows: Sequence[dict[str, Any]], path: Path) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for ent in ftm_entities(store, rows):
            fh.write(json.dumps(ent, sort_keys=True, ensure_ascii=False) + "\n")


def write_watchlist(store: Reads, path: Path, fmt: str, min_score: float = 0.0,
                    rows: Sequence[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Write the watch-list in ``fmt`` (csv, jsonl, ftm) and return its rows (``rows``: already made,
    e.g. by :func:`split_watchlist`; default :func:`watchlist_rows`, dismissed flags left out)."""
    rows = list(rows) if rows is not None else watchlist_rows(store, min_score)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        write_csv(rows, path)
    elif fmt == "jsonl":
        write_jsonl(rows, path)
    elif fmt == "ftm":
        write_ftm(store, rows, path)
    else:
        raise ExportError(f"unknown format {fmt!r}; use csv, jsonl or ftm")
    return rows


def diff_watchlists(old: Sequence[dict[str, Any]], new: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Who entered, who left and whose level or score changed between two exports, and why."""
    a = {str(r["id"]): r for r in old}
    b = {str(r["id"]): r for r in new}
    out: list[dict[str, Any]] = []
    for i in sorted(a.keys() | b.keys()):
        o, n = a.get(i), b.get(i)
        if o is None and n is not None:
            out.append({"change": "added", "id": i, "old_level": None, "new_level": n.get("level"),
                        "old_score": None, "new_score": n.get("score"), "why": n.get("top_reasons") or ""})
        elif n is None and o is not None:
            out.append({"change": "removed", "id": i, "old_level": o.get("level"), "new_level": None,
                        "old_score": o.get("score"), "new_score": None,
                        "why": "no longer flagged above the export threshold"})
        elif o is not None and n is not None:
            why = []
            if o.get("level") != n.get("level"):
                why.append(f"level {o.get('level')} -> {n.get('level')}")
            if float(o.get("score") or 0) != float(n.get("score") or 0):
                why.append(f"score {o.get('score')} -> {n.get('score')}")
            if (o.get("top_reasons") or "") != (n.get("top_reasons") or ""):
                why.append(f"reasons now: {n.get('top_reasons')}")
            if "judgement" in o and "judgement" in n and (o["judgement"] or "", o.get("judgement_status") or "") \
                    != (n["judgement"] or "", n.get("judgement_status") or ""):
                why.append(f"judgement {_verdict(o)} -> {_verdict(n)}")
            if why:
                out.append({"change": "changed", "id": i, "old_level": o.get("level"), "new_level": n.get("level"),
                            "old_score": o.get("score"), "new_score": n.get("score"), "why": "; ".join(why)})
    return out


def diff_notes(old: Sequence[dict[str, Any]], new: Sequence[dict[str, Any]],
               changes: Sequence[dict[str, Any]]) -> list[str]:
    """What a diff's rows cannot say: exports scored by different rules versions (a change may come
    from the rules, not the facts), and no change at all (said, not an empty answer)."""
    notes = []
    before = sorted({str(r.get("rules_version")) for r in old if r.get("rules_version")})
    after = sorted({str(r.get("rules_version")) for r in new if r.get("rules_version")})
    if before and after and before != after:
        notes.append(f"rules {', '.join(before)} -> {', '.join(after)}: a change may come from the rules, not the "
                     "facts (tracer rules shows the current ones)")
    if not changes:
        notes.append(f"no change: the {len(old)} entries are the same in both, at the same level, score and reasons"
                     if old else "no change: both watch-lists are empty")
    return notes


def _verdict(row: dict[str, Any]) -> str:
    """``dismissed by jd`` / ``confirmed by jd (stale)`` / ``none``, for a diff's why."""
    if not row.get("judgement"):
        return "none"
    stale = " (stale)" if row.get("judgement_status") == "stale" else ""
    return f"{row['judgement']} by {row.get('judged_by') or '?'}{stale}"


def new_high_entries(changes: Sequence[dict[str, Any]], levels: Sequence[str] = ("high", "severe")) -> list[dict[str, Any]]:
    """Entries that became high or severe: added at that level, or raised to it."""
    return [c for c in changes if c["new_level"] in levels and c["old_level"] not in levels]


async def post_webhook(url: str, entries: Sequence[dict[str, Any]], timeout: float = 10.0) -> int:
    """POST new high-level entries as JSON; nothing is sent when there is nothing new. Returns status."""
    import aiohttp

    if not entries:
        return 0
    body = {"event": "tracer.watchlist.new_high", "count": len(entries), "entries": list(entries)}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as s, \
                s.post(url, json=body) as r:
            if r.status >= 300:
                raise ExportError(f"webhook {webhook_host(url)} answered HTTP {r.status}")
            return r.status
    except (aiohttp.ClientError, TimeoutError, OSError) as e:
        raise ExportError(f"webhook {webhook_host(url)} unreachable: {type(e).__name__}") from None


def webhook_host(url: str) -> str:
    """What an error may show of a webhook URL: scheme and host only.  Hook URLs are credentials (Slack
    and Teams carry the token in the path, others in the query), so neither is ever printed."""
    from urllib.parse import urlsplit

    try:
        u = urlsplit(url)
        host = u.hostname or "?"
        port = f":{u.port}" if u.port else ""
    except ValueError:
        return "<unparsable URL>"
    return f"{u.scheme or '?'}://{host}{port}/***"


def graph_export(store: Reads, path: Path, fmt: str, min_score: float = 0.0, max_edges: int = 200_000) -> tuple[int, int]:
    """Flagged subjects and every edge touching them (with both ends) as GEXF or GraphML for Gephi."""
    import networkx as nx

    from tracer import amounts
    from tracer.queries import asset_symbols, listed_name, listings

    rows = watchlist_rows(store, min_score)
    g = nx.MultiDiGraph()
    seen: set[str] = set()
    picked: list[dict[str, Any]] = []
    for r in rows:
        for col in ("src", "dst"):
            for e in store.neighbour_edges([r["id"]], "out" if col == "src" else "in", None, max_edges):
                if e["id"] in seen or len(seen) >= max_edges:
                    continue
                seen.add(e["id"])
                picked.append(e)
    symbols = asset_symbols(store, picked)
    for e in picked:
        # amount: exact, in the display unit (what Gephi shows); amount_base: the integer as stored
        attrs = {"kind": e["kind"], "chain": e["chain"], "asset": e["asset"],
                 "amount": amounts.decimal_text(e["amount"], amounts.exponent_of(e["asset"], e["decimals"])),
                 "amount_base": e["amount"], "decimals": e["decimals"],
                 "symbol": amounts.symbol_of(e["asset"], symbols),
                 "label": amounts.display(e["amount"], e["asset"], e["decimals"], symbols) or e["kind"],
                 "time": e["time"], "tx": e["tx"]}
        g.add_edge(e["src"], e["dst"], key=e["id"], **{k: str(v) for k, v in attrs.items() if v is not None})
    for r in rows:
        g.add_node(r["id"])
    flagged = {r["id"]: r for r in rows}
    info = {}
    nodes = list(g.nodes)
    for i in range(0, len(nodes), 500):
        chunk = nodes[i:i + 500]
        for e in store.entity_rows(chunk):
            info[e["id"]] = e
    listed = listings(store, nodes)
    for n in g.nodes:
        e = info.get(n, {})
        f = flagged.get(n)
        attrs = {"label": e.get("label") or listed_name(listed.get(n)) or n, "kind": e.get("kind") or ids.kind_of(n),
                 "chain": e.get("chain"), "level": f["level"] if f else "none",
                 "score": float(f["score"]) if f else 0.0, "listed": listed.get(n)}
        g.nodes[n].update({k: v for k, v in attrs.items() if v is not None})
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "gexf":
        nx.write_gexf(g, path)
    elif fmt == "graphml":
        nx.write_graphml(g, path)
    else:
        raise ExportError(f"unknown graph format {fmt!r}; use gexf or graphml")
    return g.number_of_nodes(), g.number_of_edges()


REPORT_TOP = 10


def html_report(store: Reads, path: Path, min_score: float = 0.0, min_level: str = "medium") -> int:
    """A static HTML report for a reader without tracer: a summary table (counts by level, the top
    subjects), contents, then every flag at ``min_level`` or above with its evidence as sentences and
    each fact's provenance.  Returns how many subjects it lists."""
    from tracer import case
    from tracer.config import now

    if min_level not in LEVELS:
        raise ExportError(f"unknown level {min_level!r}; use one of {', '.join(LEVELS)}")
    scored = store.has_table("flags")
    rows, dismissed = split_watchlist(store, min_score) if scored else ([], [])
    counts = {lv: sum(1 for r in rows if r["level"] == lv) for lv in reversed(LEVELS)}
    keep = set(LEVELS[LEVELS.index(min_level):])
    shown = sorted((r for r in rows if r["level"] in keep), key=lambda r: (-float(r["score"]), r["id"]))
    e = html.escape
    anchors = {r["id"]: f"s{i + 1}" for i, r in enumerate(shown)}
    parts = ["<!doctype html><html lang='en'><head><meta charset='utf-8'><title>tracer report</title>",
             f"<style>{case.CSS}</style></head><body>",
             "<h1>tracer report</h1>",
             f"<p class='muted'>Generated {e(now())}. Flags at {e(min_level)} or above"
             + (f" with score &ge; {min_score}" if min_score else "") + f": {len(shown)} subject(s)."
             + (f" {len(dismissed)} flag(s) an analyst dismissed on unchanged evidence are left out." if dismissed
                else "") + (" Lower levels are counted below and listed with --min-level low." if min_level != "low"
                            else "") + "</p>",
             "<h2 id='summary'>Summary</h2><table><tr><th>level</th><th>flagged subjects</th><th>in this report</th></tr>"]
    for lv, n in counts.items():
        parts.append(f"<tr><td><span class='lvl {lv}'>{lv}</span></td><td>{n}</td>"
                     f"<td>{n if lv in keep else 0}</td></tr>")
    parts.append(f"<tr><th>total</th><th>{sum(counts.values())}</th><th>{len(shown)}</th></tr></table>")
    if not scored:
        parts.append("<p>No flags: run <code>tracer score</code> after a sync.</p>")
    elif not shown:
        parts.append(f"<p>No flags at {e(min_level)} or above.</p>")
    else:
        parts.append(f"<h3>Top {min(REPORT_TOP, len(shown))} subjects</h3><table><tr><th>level</th><th>score</th>"
                     "<th>subject</th><th>main reason</th><th>judgement</th></tr>")
        for r in shown[:REPORT_TOP]:
            flag = store.flag_of(r["id"]) or {}
            first = _reasons(flag.get("reasons") or "[]")[:1]
            parts.append(f"<tr><td><span class='lvl {e(r['level'])}'>{e(r['level'])}</span></td><td>{r['score']}</td>"
                         f"<td><a href='#{anchors[r['id']]}'>{e(r['label'] or r['id'])}</a></td>"
                         f"<td>{e(_detail(first))}</td><td>{e(r.get('judgement') or '')}</td></tr>")
        parts.append("</table><h2 id='contents'>Contents</h2><ol>")
        for r in shown:
            parts.append(f"<li><a href='#{anchors[r['id']]}'>{e(r['level'])} {r['score']}: "
                         f"{e(r['label'] or r['id'])}</a></li>")
        parts.append("</ol>")
    for r in shown:
        parts.append(f"<h2 class='subject' id='{anchors[r['id']]}'><span class='lvl {e(str(r['level']))}'>"
                     f"{e(str(r['level']))}</span> {r['score']} &mdash; {e(r['label'] or r['id'])}</h2>")
        parts.append(f"<p class='muted'><code>{e(r['id'])}</code>; rules {e(str(r['rules_version']))}; sources "
                     f"{e(r['sources'])}; first flagged {e(str(r['first_seen']))}, last scored "
                     f"{e(str(r['last_seen']))}.</p>")
        if r.get("judgement"):
            stale = " (stale: the evidence changed since)" if r["judgement_status"] == "stale" else ""
            parts.append(f"<p>Analyst judgement: <b>{e(r['judgement'])}</b>{e(stale)} by {e(r['judged_by'])} "
                         f"at {e(r['judged_at'])}: {e(r['judgement_reason'])}</p>")
        data = case.explained(store, r["id"])
        if data and data["evidence"]:
            parts += case.evidence_html(data, "h3", None)
        else:
            parts.append(f"<p>{e(r['top_reasons'])}</p>")
        parts.append("<p><a href='#contents'>&uarr; contents</a></p>")
    parts.append("</body></html>\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
    return len(shown)


def _detail(reasons: list[tuple[float, str]]) -> str:
    """The sentence of a reason ``rule: detail`` without its rule name."""
    if not reasons:
        return ""
    text = reasons[0][1]
    return text.split(": ", 1)[1] if ": " in text else text


def demo_step(store: Reads, cfg: dict[str, Any], out_dir: Path) -> dict[str, str]:
    """DEMO_STEPS entry (after scoring): the watch-list, a Gephi graph and a one-page HTML report."""
    out = Path(out_dir)
    paths = {"watchlist": out / "watchlist.csv", "ftm": out / "watchlist.ftm.json",
             "graph": out / "graph.gexf", "report": out / "report.html"}
    if store.has_table("flags"):
        write_watchlist(store, paths["watchlist"], "csv", 0.0)
        write_watchlist(store, paths["ftm"], "ftm", 0.0)
        graph_export(store, paths["graph"], "gexf", 0.0)
    else:  # no scoring step installed: say so in the report rather than fail the demo
        paths = {"report": paths["report"]}
    html_report(store, paths["report"], 0.0)  # medium and above, like tracer export report
    return {k: str(v) for k, v in paths.items()}
