"""Named reads of the application's own commands (CLI, scheduler, server, pipeline, evaluation).

Why a mixin apart from :mod:`tracer.store.reads`: those are the investigator's questions (queries,
exports, lists, scoring); these are the bookkeeping the commands show (status, runs, doctor
checks).  Portable SQL only, as documented in :mod:`tracer.store.base`.
"""

from __future__ import annotations

from typing import Any

from tracer.store.reads import Reads


class AppReads(Reads):
    """Bookkeeping reads on top of the backend's ``query``."""

    # -- run history (tracer runs, tracer run) ----------------------------------------------------
    def recent_run_streams(self, runs: int) -> list[dict[str, Any]]:
        """Every ``run_streams`` row of the newest ``runs`` runs, newest stream first."""
        return self.query(
            "SELECT s.* FROM run_streams s JOIN (SELECT run_id FROM runs ORDER BY started_at DESC LIMIT ?) r "
            "USING (run_id) ORDER BY s.started_at DESC, s.stream", [runs])

    def last_ok_sync(self, connector: str) -> str | None:
        """When a stream of ``connector`` last ended ``ok`` (RFC 3339), or None: the scheduler's ``every``."""
        rows = self.query("SELECT max(ended_at) AS t FROM run_streams WHERE stream LIKE ? AND status = 'ok'",
                          [f"{connector}.%"])
        return rows[0]["t"] if rows else None

    # -- facts, counted (scheduler, evaluation) ---------------------------------------------------
    def count_entities(self, kind: str) -> int:
        """How many entities of ``kind`` are stored (e.g. listed_entity: is any list loaded?)."""
        return int(self.query("SELECT count(*) AS n FROM entities WHERE kind = ?", [kind])[0]["n"])
