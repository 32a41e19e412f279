"""Explain a flag: the flag, every piece of evidence and the provenance of every fact it cites.

Library code shared by ``tracer explain``, the HTTP API and tests (no click here)."""

from __future__ import annotations

from typing import Any


def fact_time(fact: dict[str, Any]) -> str:
    """A fact's time as stored, else its block-clock estimate with the basis, else 'unknown time'."""
    if fact.get("time"):
        return str(fact["time"])
    if fact.get("time_estimated"):
        return f"~{fact['time_estimated']} ({fact.get('time_note')})"
    return str(fact.get("time_note") or "unknown time")


def explain_data(store: Any, ident: str) -> dict[str, Any] | None:
    """The flag, every piece of evidence and the provenance of every fact it cites."""
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
    return {"subject": subject, "flag": flag, "evidence": ev}
