"""Named reads and writes of the analyst's own records: judgements on flags and case notes.

Why apart from :mod:`tracer.store.reads`: these rows are written by people (``tracer judge``,
``tracer note``, ``POST /api/judgements``), not derived from sources, and they are never replaced:
every judgement and note is appended, so the history of a case stays readable.  The tables are
created by schema migration 5 of both backends (``judgements``, ``notes``; see
``tracer.store.sqlite_schema`` and ``tracer.store.postgres_schema``).  Portable SQL only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tracer.store.reads import Reads

JUDGEMENT_COLUMNS = ("id", "subject", "verdict", "reason", "analyst", "created_at", "evidence_digest",
                     "rules_version")
NOTE_COLUMNS = ("id", "subject", "text", "analyst", "created_at")
_CHUNK = 400  # subjects per query: under SQLite's 999-variable floor


def _marks(n: int) -> str:
    return ", ".join("?" for _ in range(n))


class CaseStore(Reads):
    """Judgements and notes on top of the backend's ``query`` and write primitives."""

    # -- judgements --------------------------------------------------------------------------------
    def add_judgement(self, row: Mapping[str, Any]) -> None:
        """Append one judgement (every :data:`JUDGEMENT_COLUMNS` key) in its own transaction."""
        with self.transaction():
            self.execute(f"INSERT INTO judgements ({', '.join(JUDGEMENT_COLUMNS)}) "
                         f"VALUES ({_marks(len(JUDGEMENT_COLUMNS))})", [row[c] for c in JUDGEMENT_COLUMNS])

    def judgement_rows(self, subject: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Judgement history, newest first: one subject's, or every subject's ([] on a store without
        the table, e.g. an old store opened read-only)."""
        if not self.has_table("judgements"):
            return []
        cols = ", ".join(JUDGEMENT_COLUMNS)
        if subject is None:
            return self.query(f"SELECT {cols} FROM judgements ORDER BY created_at DESC, id DESC LIMIT ?", [limit])
        return self.query(f"SELECT {cols} FROM judgements WHERE subject = ? ORDER BY created_at DESC, id DESC "
                          "LIMIT ?", [subject, limit])

    def latest_judgements(self, subjects: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """The newest judgement of each subject (of ``subjects``, or of every judged subject), by subject."""
        if not self.has_table("judgements"):
            return []
        cols = ", ".join(f"j.{c}" for c in JUDGEMENT_COLUMNS)
        newest = ("NOT EXISTS (SELECT 1 FROM judgements k WHERE k.subject = j.subject AND "
                  "(k.created_at > j.created_at OR (k.created_at = j.created_at AND k.id > j.id)))")
        if subjects is None:
            return self.query(f"SELECT {cols} FROM judgements j WHERE {newest} ORDER BY j.subject")
        out: list[dict[str, Any]] = []
        todo = sorted(set(subjects))
        for i in range(0, len(todo), _CHUNK):
            chunk = todo[i:i + _CHUNK]
            out += self.query(f"SELECT {cols} FROM judgements j WHERE j.subject IN ({_marks(len(chunk))}) "
                              f"AND {newest} ORDER BY j.subject", chunk)
        return out

    def evidence_scores(self, subjects: Sequence[str]) -> list[dict[str, Any]]:
        """(subject, id, score) of the stored evidence of ``subjects``: what a judgement's digest covers."""
        if not subjects or not self.has_table("evidence"):
            return []
        out: list[dict[str, Any]] = []
        todo = sorted(set(subjects))
        for i in range(0, len(todo), _CHUNK):
            chunk = todo[i:i + _CHUNK]
            out += self.query(f"SELECT subject, id, score FROM evidence WHERE subject IN ({_marks(len(chunk))}) "
                              "ORDER BY subject, id", chunk)
        return out

    # -- notes -------------------------------------------------------------------------------------
    def add_note(self, row: Mapping[str, Any]) -> None:
        """Append one case note (every :data:`NOTE_COLUMNS` key) in its own transaction."""
        with self.transaction():
            self.execute(f"INSERT INTO notes ({', '.join(NOTE_COLUMNS)}) VALUES ({_marks(len(NOTE_COLUMNS))})",
                         [row[c] for c in NOTE_COLUMNS])

    def note_rows(self, subject: str, limit: int = 1000) -> list[dict[str, Any]]:
        """A subject's case notes, oldest first (a case reads in the order it was worked)."""
        if not self.has_table("notes"):
            return []
        return self.query(f"SELECT {', '.join(NOTE_COLUMNS)} FROM notes WHERE subject = ? "
                          "ORDER BY created_at, id LIMIT ?", [subject, limit])
