"""A case file: one subject's flag, evidence as sentences with provenance, judgements, notes and its
neighbourhood, as one self-contained HTML document (inline CSS and SVG, no scripts, no external
assets) a compliance officer can file, mail or print; and that HTML printed to PDF by headless
Chromium.

Why one module for the sentences too: the case file, the HTML report and the page must say the
same thing about a fact ("A paid B 1,750 USDC on 2026-03-01; raw payload sha256 ... from URL"),
so the wording lives here once.  Library code (no click): ``tracer case``, ``GET /api/case`` and
:func:`tracer.export.html_report` call it.
"""

from __future__ import annotations

import html
import math
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tracer import queries as q

LEVEL_COLOURS = {"severe": "#b3261e", "high": "#e8710a", "medium": "#b08600", "low": "#6b7385"}
CSS = ("body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#1d2330;padding:0 1rem}"
       "h1{font-size:22px}h2{font-size:17px;margin-top:1.6rem;border-bottom:1px solid #dde1e8}"
       "table{border-collapse:collapse;width:100%;margin:.4rem 0}td,th{border:1px solid #ccd;padding:.2rem .4rem;"
       "vertical-align:top;text-align:left;font-size:13px}th{background:#f1f3f6}code{word-break:break-all;"
       "font-size:12px}.prov{color:#4b5568;font-size:12px}.lvl{color:#fff;padding:0 .35rem;border-radius:3px}"
       ".severe{background:#b3261e}.high{background:#e8710a}.medium{background:#b08600}.low{background:#6b7385}"
       ".muted{color:#6b7385}li{margin:.25rem 0}svg{max-width:100%;height:auto;border:1px solid #dde1e8}"
       "@media print{body{margin:0;max-width:none}}")
MAX_GRAPH_NODES = 40


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def who(node: str, names: Mapping[str, str]) -> str:
    """A node as a sentence names it: its label (and listing) with the id, else the id."""
    name = names.get(node)
    if name and name.startswith("[") and name.endswith("]"):  # unlabelled listed party: its listing
        return f"{node} ({name[1:-1]})"
    return f"{name} ({node})" if name else node


def fact_sentence(fact: Mapping[str, Any], names: Mapping[str, str] | None = None) -> str:
    """One stored fact as a sentence a person can check, e.g. ``wallet A paid 1,750 USDC to wallet B
    on 2026-03-01T10:00:00Z (tx 0xab..., block 123)``; never raw JSON, never base units in prose."""
    from tracer.explain import fact_time

    names = names or {}
    if fact.get("missing"):
        return f"Fact {fact.get('id')} is cited but no longer in the store."
    table = fact.get("table")
    if table == "edges":
        src, dst = who(str(fact["src"]), names), who(str(fact["dst"]), names)
        when = fact_time(dict(fact))
        where = ", ".join(x for x in (f"tx {fact['tx']}" if fact.get("tx") else "",
                                      f"block {fact['block']}" if fact.get("block") is not None else "",
                                      str(fact.get("chain") or "")) if x)
        tail = f" ({where})" if where else ""
        if fact.get("kind") == "paid":
            amount = fact.get("display") or "an amount of unknown scale"
            return f"{src} paid {amount} to {dst} at {when}{tail}."
        verb = str(fact.get("kind") or "linked").replace("_", " ")
        return f"{src} {verb} {dst} at {when}{tail}."
    if table == "observations":
        subject = who(str(fact["subject"]), names)
        pred = str(fact.get("predicate") or "").replace("_", " ")
        conf = fact.get("confidence")
        sure = f", confidence {conf}" if conf not in (None, "", 1, 1.0) else ""
        since = f" as of {fact['observed_at']}" if fact.get("observed_at") else ""
        until = f", until {fact['valid_to']}" if fact.get("valid_to") else ""
        return f"{subject}: {pred} {fact.get('value')}{since}{until}{sure}."
    label = f" labelled {fact['label']}" if fact.get("label") else ""
    return f"{fact.get('kind') or 'entity'} {fact.get('id')}{label} is in the store."


def provenance_sentence(fact: Mapping[str, Any]) -> str:
    """Where a fact came from: its source and the raw payload (sha256, URL, stream, fetch time)."""
    if fact.get("missing"):
        return "no provenance: the fact is missing"
    parts = [f"source {fact.get('source') or 'unknown'}"]
    if fact.get("raw_sha256"):
        fetched = f", fetched {fact['raw_fetched_at']}" if fact.get("raw_fetched_at") else ""
        stream = f" by {fact['raw_stream']}" if fact.get("raw_stream") else ""
        url = f" from {fact['raw_url']}" if fact.get("raw_url") else ""
        parts.append(f"raw payload sha256 {fact['raw_sha256']}{url}{stream}{fetched}")
    else:
        parts.append("no raw payload recorded")
    return "; ".join(parts)


def fact_names(store: Any, facts: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Names of every party the facts mention (labels and listings), for the sentences."""
    ends = sorted({str(f[c]) for f in facts for c in ("src", "dst", "subject") if f.get(c)})
    return q.node_names(q.describe(store, ends), q.listings(store, ends)) if ends else {}


def explained(store: Any, subject: str) -> dict[str, Any] | None:
    """``explain`` data of ``subject`` with ``names`` for its sentences (None when never flagged)."""
    from tracer.explain import explain_data

    data = explain_data(store, subject)
    if data is None:
        return None
    data["names"] = fact_names(store, [f for e in data["evidence"] for f in e["facts"]])
    return data


def _judgement_html(data: Mapping[str, Any]) -> list[str]:
    out = ["<h2 id='judgements'>Analyst judgements</h2>"]
    hist = data.get("judgements") or []
    if not hist:
        out.append("<p class='muted'>No analyst has judged this flag yet.</p>")
    else:
        j = hist[0]
        stale = " The evidence has changed since, so it no longer holds." if j.get("evidence_changed") else \
            " It holds: the evidence is unchanged."
        out.append(f"<p>Latest: <b>{_e(j['verdict'])}</b> by {_e(j['analyst'])} at {_e(j['created_at'])}: "
                   f"{_e(j['reason'])}.{_e(stale)}</p>")
        out.append("<table><tr><th>when</th><th>verdict</th><th>analyst</th><th>reason</th><th>status</th></tr>")
        for r in hist:
            out.append(f"<tr><td>{_e(r['created_at'])}</td><td>{_e(r['verdict'])}</td><td>{_e(r['analyst'])}</td>"
                       f"<td>{_e(r['reason'])}</td><td>{_e(r['status'])}</td></tr>")
        out.append("</table>")
    out.append("<h2 id='notes'>Case notes</h2>")
    notes = data.get("notes") or []
    if not notes:
        out.append("<p class='muted'>No case notes.</p>")
    for n in notes:
        text = "<br>".join(_e(line) for line in str(n["text"]).splitlines())
        out.append(f"<p><b>{_e(n['analyst'])}</b>, {_e(n['created_at'])}:<br>{text}</p>")
    return out


def evidence_html(data: Mapping[str, Any], heading: str = "h2", anchor: str | None = "evidence") -> list[str]:
    """Each piece of evidence as its rule's sentence, then every fact it cites as a sentence with its
    provenance beneath (shared by the case file and the HTML report)."""
    names = data.get("names") or {}
    ident = f" id='{_e(anchor)}'" if anchor else ""
    out = [f"<{heading}{ident}>Evidence</{heading}>"]
    if not data.get("evidence"):
        out.append("<p class='muted'>No evidence rows are stored for this subject.</p>")
    out.append("<ol>")
    for ev in data.get("evidence") or []:
        out.append(f"<li><p><b>{_e(ev['detail'])}</b> <span class='muted'>(rule {_e(ev['rule'])}, "
                   f"weight {_e(ev['score'])})</span></p>")
        if ev.get("path"):
            out.append(f"<p class='prov'>Path: {_e(' → '.join(who(str(p), names) for p in ev['path']))}</p>")
        if ev.get("facts"):
            out.append("<ul>")
            for f in ev["facts"]:
                out.append(f"<li>{_e(fact_sentence(f, names))}<br><span class='prov'>Fact {_e(f.get('id'))}: "
                           f"{_e(provenance_sentence(f))}.</span></li>")
            out.append("</ul>")
        out.append("</li>")
    out.append("</ol>")
    return out


def svg_graph(subject: str, nodes: Sequence[Mapping[str, Any]], edges: Sequence[Mapping[str, Any]]) -> str:
    """The neighbourhood as an inline SVG: the subject in the middle, the others on a circle, one line
    per (merged) edge with its amount; no script, so it prints and mails as it is."""
    others = [n for n in nodes if n["id"] != subject][:MAX_GRAPH_NODES]
    w, h, r = 760, 520, 200
    pos = {subject: (w / 2, h / 2)}
    for i, n in enumerate(others):
        angle = 2 * math.pi * i / max(1, len(others))
        pos[str(n["id"])] = (w / 2 + r * 1.45 * math.cos(angle), h / 2 + r * math.sin(angle))
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {w} {h}' width='{w}' height='{h}' "
             "role='img' aria-label='neighbourhood graph'>",
             "<defs><marker id='arr' viewBox='0 0 10 10' refX='9' refY='5' markerWidth='6' markerHeight='6' "
             "orient='auto'><path d='M0,0 L10,5 L0,10 z' fill='#8a93a6'/></marker></defs>"]
    for e in edges:
        a, b = pos.get(str(e["src"])), pos.get(str(e["dst"]))
        if a is None or b is None:
            continue
        colour = "#1a56b0" if e.get("kind") == "paid" else "#b5bccb"
        parts.append(f"<line x1='{a[0]:.0f}' y1='{a[1]:.0f}' x2='{b[0]:.0f}' y2='{b[1]:.0f}' stroke='{colour}' "
                     f"stroke-width='{2.5 if e.get('count') else 1.2}' marker-end='url(#arr)'/>")
        label = e.get("label")
        if label:
            parts.append(f"<text x='{(a[0] + b[0]) / 2:.0f}' y='{(a[1] + b[1]) / 2 - 3:.0f}' font-size='9' "
                         f"text-anchor='middle' fill='#4b5568'>{_e(label)}</text>")
    by_id = {str(n["id"]): n for n in nodes}
    for nid, (x, y) in pos.items():
        n = by_id.get(nid, {})
        colour = LEVEL_COLOURS.get(str(n.get("level") or ""), "#9aa3b5")
        ring = " stroke='#b3261e' stroke-width='3'" if n.get("listed") else ""
        rad = 12 if nid == subject else 8
        caption = str(n.get("label") or nid)
        caption = caption if len(caption) <= 28 else caption[:16] + "…" + caption[-8:]
        parts.append(f"<circle cx='{x:.0f}' cy='{y:.0f}' r='{rad}' fill='{colour}'{ring}><title>{_e(nid)}</title>"
                     f"</circle><text x='{x:.0f}' y='{y + rad + 11:.0f}' font-size='10' text-anchor='middle'>"
                     f"{_e(caption)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def graph_rows(store: Any, subject: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]], bool]:
    """(nodes, edges with parallel payments merged, truncated) of the subject's one-hop neighbourhood."""
    nb = q.neighbours(store, subject, 1, None, "both", 200)
    merged_ids = {i for m in nb["merged"] for i in m["edges"]}
    names = q.node_names({n["id"]: n for n in nb["nodes"]}, {n["id"]: n["listed"] for n in nb["nodes"] if n["listed"]})
    edges: list[dict[str, Any]] = []
    for m in nb["merged"]:
        span = m["first_time"] if m["first_time"] == m["last_time"] else f"{m['first_time']} – {m['last_time']}"
        edges.append({**m, "label": f"{m['display']} ({m['count']}×)", "when": span,
                      "src_name": names.get(m["src"]), "dst_name": names.get(m["dst"])})
    for e in nb["edges"]:
        if e["id"] in merged_ids:
            continue
        edges.append({**e, "label": e.get("display") or "", "when": e.get("time") or "", "count": None})
    return nb["nodes"], edges, bool(nb["truncated"])


def case_html(store: Any, subject: str, now: str | None = None) -> str:
    """The self-contained case file of ``subject`` (a flagged node, or any node with notes)."""
    from tracer.config import now as clock

    subject = q.require(store, subject, "subject")
    data = explained(store, subject)
    if data is None:
        from tracer.explain import case_records

        data = {"subject": subject, "flag": None, "evidence": [], "names": {}, **case_records(store, subject)}
    info = q.describe(store, [subject])[subject]
    listed = q.listings(store, [subject]).get(subject)
    title = info.get("label") or subject
    f = data["flag"]
    out = ["<!doctype html><html lang='en'><head><meta charset='utf-8'>",
           f"<title>Case file: {_e(title)}</title><style>{CSS}</style></head><body>",
           f"<h1>Case file: {_e(title)}</h1>",
           f"<p class='muted'>Subject <code>{_e(subject)}</code>; prepared by tracer at {_e(now or clock())} from the "
           "store's facts, each cited with the raw payload it was read from.</p>",
           "<p>Contents: <a href='#flag'>Flag</a> · <a href='#evidence'>Evidence</a> · "
           "<a href='#judgements'>Judgements</a> · <a href='#notes'>Notes</a> · <a href='#graph'>Graph</a> · "
           "<a href='#payments'>Edges</a></p>",
           "<h2 id='flag'>Flag</h2>"]
    if f:
        out.append(f"<p><span class='lvl {_e(f['level'])}'>{_e(f['level'])}</span> score {_e(f['score'])} under rules "
                   f"{_e(f['rules_version'])}, computed {_e(f['computed_at'])}, first flagged {_e(f['first_seen'])}."
                   + (f" Actor cluster {_e(f['cluster'])}." if f.get("cluster") else "") + "</p>")
        out.append("<ul>" + "".join(f"<li>{_e(t)}</li>" for t in q._reason_texts(f["reasons"], 10)) + "</ul>")
    else:
        out.append("<p>Not flagged by the latest scoring run.</p>")
    if listed:
        out.append(f"<p><b>Listed:</b> {_e(listed)}</p>")
    out += evidence_html(data)
    out += _judgement_html(data)
    nodes, edges, truncated = graph_rows(store, subject)
    out.append("<h2 id='graph'>Graph</h2><p class='muted'>The subject (centre) and its direct counterparties; "
               "parallel payments are merged into one line with their total and count. Red ring: listed party."
               + (" The neighbourhood was cut at 200 nodes." if truncated else "") + "</p>")
    out.append(svg_graph(subject, nodes, edges))
    out.append("<h2 id='payments'>Edges</h2><table><tr><th>from</th><th>kind</th><th>to</th><th>amount</th>"
               "<th>payments</th><th>when</th></tr>")
    for e in edges:
        out.append(f"<tr><td>{_e(who(str(e['src']), {k: v for k, v in [(e['src'], e.get('src_name'))] if v}))}</td>"
                   f"<td>{_e(e['kind'])}</td>"
                   f"<td>{_e(who(str(e['dst']), {k: v for k, v in [(e['dst'], e.get('dst_name'))] if v}))}</td>"
                   f"<td>{_e(e.get('display') or '')}</td><td>{_e(e.get('count') or 1)}</td><td>{_e(e['when'])}</td></tr>")
    out.append("</table></body></html>\n")
    return "\n".join(out)


class CaseError(RuntimeError):
    """A case file that cannot be made (no Chromium for the PDF, Chromium failed)."""


def find_chromium() -> str | None:
    """The headless browser that prints the PDF: Debian's chromium, else Chrome."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def write_pdf(html_path: Path, pdf_path: Path, browser: str | None = None, timeout: float = 120.0) -> None:
    """Print the case file to PDF with headless Chromium (the HTML has no script and no external asset,
    so what prints is what the HTML shows)."""
    exe = browser or find_chromium()
    if exe is None:
        raise CaseError("cannot print the PDF: no chromium on PATH (apt-get install chromium); "
                        f"the HTML case file is {html_path}")
    pdf_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
           "--no-pdf-header-footer", f"--print-to-pdf={pdf_path.resolve()}", html_path.resolve().as_uri()]
    try:
        res = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise CaseError(f"chromium could not print the PDF: {type(e).__name__}") from None
    if res.returncode != 0 or not pdf_path.is_file() or pdf_path.stat().st_size == 0:
        last = (res.stderr.decode("utf-8", "replace").strip().splitlines() or ["no output"])[-1][:200]
        raise CaseError(f"chromium could not print the PDF (exit {res.returncode}): {last}")
