"""Usage checks the CLI and the HTTP API share: a filter or id that names nothing in the store is a
usage error (exit 2, HTTP 400/404), never an empty answer that reads as "no risk"."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tracer import queries as q

if TYPE_CHECKING:
    from tracer.store.reads import Reads


def known_kinds(store: Reads, kinds: Sequence[str] | None) -> list[str] | None:
    """``kinds`` validated against the edge kinds the store holds (None: every kind).

    Why against the store: a mistyped ``--kind payed`` used to answer ``[]``; the store's own kinds
    are the valid choices, listed in the error (one index probe per kind, cheap at any size)."""
    checked = q.check_kinds(kinds)
    if not checked:
        return None
    present = store.edge_kinds()
    unknown = [k for k in checked if k not in present]
    if unknown:
        choices = ", ".join(present) if present else "none (the store holds no edges yet)"
        raise q.QueryError(f"edge kind {unknown[0]!r} is not in this store; its kinds: {choices}")
    return checked


def usage_exit_code(e: Any) -> int:
    """CLI exit code of a :class:`tracer.queries.QueryError`: a bad argument (400) or an id the store
    does not know (404) is the caller's mistake, 2; anything else 1."""
    return 2 if getattr(e, "status", 400) in (400, 404) else 1
