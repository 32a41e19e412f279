"""Explain a flag: the flag, every piece of evidence and the provenance of every fact it cites.

Library code shared by ``tracer explain``, the HTTP API and tests (no click here)."""

from __future__ import annotations

from typing import Any


def fact_time(fact: dict[str, Any]) -> str:
    """A fact's time as stored, else its block-clock estimate with the basis, else 'unknown time'."""
    if fact.get("time") and str(fact["time"]) not in ("None", "null"):
        return str(fact["time"])
    if fact.get("time_estimated"):
        return f"~{fact['time_estimated']} ({fact.get('time_note')})"
    return str(fact.get("time_note") or "unknown time")


def explain_data(store: Any, ident: str) -> dict[str, Any] | None:
    """The flag, every piece of evidence and the provenance of every fact it cites, and the subject's
    ``level_history`` (its flag changes, oldest first).  None when ``ident`` has no flag or evidence
    (a subject no longer flagged: its history is :func:`tracer.changes.level_history`)."""
    from tracer.changes import level_history
    from tracer.scoring import tables

    if ident.startswith("ev:"):
        ev = tables.read_evidence(store, evidence_id=ident)
        subject = ev[0]["subject"] if ev else None
    else:
        subject = ident
        ev = tables.read_evidence(store, subject=ident)
    if subject is None:
        return None
    flag = tables.read_flag(store, subject)
    if flag is None and not ev:
        return None
    for e in ev:
        e["facts"] = [tables.fact(store, r) or {"id": r, "missing": True} for r in e["refs"]]
    add_display(store, [f for e in ev for f in e["facts"]])
    from tracer import queries as q

    # Who the subject is before why: its label and every list it is on (an unlabelled wallet's only name).
    return {"subject": subject, "name": q.describe(store, [subject])[subject]["label"],
            "listed": q.listings(store, [subject]).get(subject), "flag": flag, "evidence": ev,
            "level_history": level_history(store, subject), **case_records(store, subject)}


def case_records(store: Any, subject: str) -> dict[str, Any]:
    """What analysts recorded: the newest judgement with its state against the evidence now
    (``evidence_changed``), the whole judgement history (newest first) and the case notes."""
    from tracer import judgements

    hist = judgements.history(store, subject)
    return {"judgement": hist[0] if hist else None, "judgements": hist, "notes": store.note_rows(subject)}


def add_display(store: Any, facts: list[dict[str, Any]]) -> None:
    """Give every edge fact with an amount its ``display`` (``2.106000754537 AKT``) and ``symbol``;
    the stored ``amount`` (base units) and ``decimals`` stay as they are for machines."""
    from tracer import amounts
    from tracer.queries import asset_symbols

    paid = [f for f in facts if f.get("table") == "edges" and f.get("amount") not in (None, "")]
    if not paid:
        return
    symbols = asset_symbols(store, paid)
    for f in paid:
        f["display"] = amounts.display(f["amount"], f.get("asset"), f.get("decimals"), symbols)
        f["symbol"] = amounts.symbol_of(f.get("asset"), symbols)


def fact_line(fact: dict[str, Any]) -> str:
    """One edge fact as ``explain`` prints it: ``paid A -> B 1,750 USDC at <time or 'unknown time'>``
    (never "at None"; the base amount and decimals stay in ``--json``)."""
    amount = f" {fact.get('display')}" if fact.get("display") else (
        f" {fact['amount']} {fact.get('asset') or ''} (base units)" if fact.get("amount") else "")
    return f"{fact['kind']} {fact['src']} -> {fact['dst']}{amount} at {fact_time(fact)}"
