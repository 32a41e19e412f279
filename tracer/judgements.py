"""Analyst judgements on flags and case notes: what a person decided about a flag, and why.

A judgement (``confirmed``, ``dismissed``, ``escalated``) is appended to the ``judgements`` table
with the analyst's name, the time, the reason and the **evidence digest**: a hash of the flag's
evidence ids and scores at that moment.  Nothing is copied into ``flags``: whether a judgement still
holds is worked out whenever it is read, by comparing its digest with the digest of the evidence
stored now (after the latest ``tracer score``):

- ``current``: the evidence is what the analyst saw; a current ``dismissed`` judgement suppresses
  the flag (watch-list exports and ``tracer score``'s list leave it out and say how many);
- ``stale``: the evidence changed since (a new payment, a new listing, a rule's new wording), so the
  flag is back on every list until someone judges it again; ``explain`` says "evidence changed since".

Why derived, not stored on the flag: one source of truth (a judgement recorded after scoring takes
effect at once; a re-score cannot lose it), and both scoring engines stay untouched.

Library code for the CLI (``tracer.commands.cases``), ``explain``, exports and the HTTP API.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tracer import queries as q

if TYPE_CHECKING:
    from tracer.store.cases import CaseStore

VERDICTS = ("confirmed", "dismissed", "escalated")
MAX_REASON = 2_000
MAX_ANALYST = 100
MAX_NOTE = 10_000


class JudgementError(q.QueryError):
    """Input a judgement or note cannot be recorded with (CLI exit 2; HTTP ``status``: 400 bad input,
    404 unknown subject, 409 a subject without a flag to judge)."""


def _now() -> str:
    from tracer.config import now

    return now()


def _new_id(prefix: str) -> str:
    """Sortable in the order of recording even when ``TRACER_NOW`` pins created_at (tests, replays)."""
    return f"{prefix}-{time.time_ns():020d}-{os.urandom(3).hex()}"


def clean_text(value: Any, what: str, max_len: int, one_line: bool) -> str:
    """``value`` stripped, or :class:`JudgementError` saying what is wrong (empty, too long, control
    characters, invalid UTF-8): what a person typed must be stored as a person can read it back."""
    if not isinstance(value, str) or not value.strip():
        raise JudgementError(f"{what} is required (non-empty text)")
    text = value.strip()
    if len(text) > max_len:
        raise JudgementError(f"{what} is {len(text)} characters long; at most {max_len}")
    allowed = "" if one_line else "\n\t"
    for c in text:
        if 0xD800 <= ord(c) < 0xE000 or c == "\ufffd":
            raise JudgementError(f"{what} is not valid UTF-8 text")
        if (ord(c) < 32 or 0x7F <= ord(c) < 0xA0) and c not in allowed:
            raise JudgementError(f"{what} contains a control character ({c!r}); "
                                 + ("give one line" if one_line else "only newlines and tabs are kept"))
    return text


def check_verdict(value: Any) -> str:
    """``confirmed`` / ``dismissed`` / ``escalated`` (``confirm``, ``dismiss``, ``escalate`` accepted)."""
    v = value.strip().lower() if isinstance(value, str) else ""
    v = {"confirm": "confirmed", "dismiss": "dismissed", "escalate": "escalated"}.get(v, v)
    if v not in VERDICTS:
        raise JudgementError(f"verdict {str(value)[:40]!r} is not one of {', '.join(VERDICTS)}")
    return v


def evidence_digest(evidence: Iterable[Mapping[str, Any]]) -> str:
    """A digest of evidence ids and scores: an evidence id hashes subject, rule and detail (amounts,
    counterparties, list entries), so any change of what a flag rests on changes the digest."""
    lines = sorted(f"{e['id']}={float(e['score'] or 0):.4f}" for e in evidence)
    return "sha256:" + hashlib.sha256("\n".join(lines).encode()).hexdigest()[:32]


def _subject(store: CaseStore, subject: Any) -> str:
    subject = q.check_id(subject, "subject")
    if not q.exists(store, subject):
        raise JudgementError(f"subject {subject} is not in the store; try find with part of its address or name",
                             404)
    return subject


def record_judgement(store: CaseStore, subject: Any, verdict: Any, reason: Any, analyst: Any,
                     now: str | None = None) -> dict[str, Any]:
    """Validate and append one judgement of ``subject``'s current flag; returns it with its state."""
    verdict = check_verdict(verdict)
    reason = clean_text(reason, "reason", MAX_REASON, one_line=False)
    analyst = clean_text(analyst, "analyst", MAX_ANALYST, one_line=True)
    subject = _subject(store, subject)
    flag = store.flag_of(subject)
    if flag is None:
        raise JudgementError(f"{subject} has no flag to judge (run tracer score, or write a case note with "
                             "tracer note)", 409)
    row = {"id": _new_id("jdg"), "subject": subject, "verdict": verdict, "reason": reason, "analyst": analyst,
           "created_at": now or _now(), "evidence_digest": evidence_digest(store.evidence_scores([subject])),
           "rules_version": flag.get("rules_version") or ""}
    store.add_judgement(row)
    return with_state(row, row["evidence_digest"])


def record_note(store: CaseStore, subject: Any, text: Any, analyst: Any, now: str | None = None) -> dict[str, Any]:
    """Validate and append one case note about any node the store holds (flagged or not)."""
    text = clean_text(text, "text", MAX_NOTE, one_line=False)
    analyst = clean_text(analyst, "analyst", MAX_ANALYST, one_line=True)
    subject = _subject(store, subject)
    row = {"id": _new_id("note"), "subject": subject, "text": text, "analyst": analyst,
           "created_at": now or _now()}
    store.add_note(row)
    return row


def with_state(row: Mapping[str, Any], digest_now: str | None) -> dict[str, Any]:
    """A judgement row with ``status`` (current/stale), ``evidence_changed`` and ``suppressed``.

    ``digest_now``: the digest of the subject's evidence now (None when it has none: not flagged)."""
    current = digest_now is not None and digest_now == row["evidence_digest"]
    return {**row, "status": "current" if current else "stale", "evidence_changed": not current,
            "suppressed": current and row["verdict"] == "dismissed"}


def current_digests(store: CaseStore, subjects: Sequence[str]) -> dict[str, str]:
    """Subject -> digest of its stored evidence, for ``subjects`` that have any."""
    by: dict[str, list[dict[str, Any]]] = {}
    for r in store.evidence_scores(subjects):
        by.setdefault(r["subject"], []).append(r)
    return {s: evidence_digest(rows) for s, rows in by.items()}


def latest_states(store: CaseStore, subjects: Sequence[str] | None = None,
                  evidence: Iterable[Mapping[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """Subject -> its newest judgement with its state, for every judged subject (or ``subjects``).

    ``evidence``: the evidence rows to compare with (a scoring run's, before or without writing
    them); default the stored evidence."""
    latest = store.latest_judgements(subjects)
    if not latest:
        return {}
    judged = [r["subject"] for r in latest]
    if evidence is None:
        digests = current_digests(store, judged)
    else:
        wanted = set(judged)
        by: dict[str, list[Mapping[str, Any]]] = {}
        for e in evidence:
            if e["subject"] in wanted:
                by.setdefault(e["subject"], []).append(e)
        digests = {s: evidence_digest(rows) for s, rows in by.items()}
    return {r["subject"]: with_state(r, digests.get(r["subject"])) for r in latest}


def history(store: CaseStore, subject: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    """Judgements newest first (one subject's or all), each with its state against the evidence now."""
    rows = store.judgement_rows(subject, limit)
    digests = current_digests(store, sorted({r["subject"] for r in rows}))
    return [with_state(r, digests.get(r["subject"])) for r in rows]


def case(store: CaseStore, subject: Any) -> dict[str, Any]:
    """Everything recorded about one subject: its judgement state, history and notes (the API's GET)."""
    subject = _subject(store, subject)
    hist = history(store, subject)
    return {"subject": subject, "judgement": hist[0] if hist else None, "judgements": hist,
            "notes": store.note_rows(subject)}


def summary(state: Mapping[str, Any] | None) -> str:
    """One line: ``dismissed by alice at 2026-03-01T10:00:00Z: reason`` (+ ``; evidence changed since``)."""
    if not state:
        return ""
    reason = " ".join(str(state["reason"]).split())
    line = f"{state['verdict']} by {state['analyst']} at {state['created_at']}: {reason}"
    return line + ("; evidence changed since" if state["evidence_changed"] else "")
