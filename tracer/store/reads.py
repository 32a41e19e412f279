"""Named reads: every question the application asks the store, one method each, SQL kept here.

Shared by both backends: the SQL is portable (``?`` placeholders, which the PostgreSQL backend
translates; JSON attributes through :meth:`Reads.json_text`).  Callers (queries, exports, lists,
scoring tables, scheduler, server) call these methods and never write SQL themselves.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any


class Reads:
    """Mixin of named read methods; the backend provides ``query`` and ``iter_rows``."""

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        raise NotImplementedError

    def iter_rows(self, sql: str, params: Sequence[Any] = (), size: int = 50_000) -> Iterator[tuple[Any, ...]]:
        raise NotImplementedError

    def json_text(self, column: str, key: str) -> str:
        """SQL for the text of ``column``'s top-level JSON ``key`` (SQLite; PostgreSQL overrides)."""
        return f"json_extract({column}, '$.{key}')"
