"""Scoring's writes and their history: what changed between one scoring run and the previous one.

Why apart from :mod:`tracer.store.reads`: the ``flags`` table holds only the current result, so
"which flags left" or "whose level rose" cannot be read from it after the fact.  Each scoring write
therefore compares the flags it replaces with the new ones, in the same transaction, and appends:

- ``scoring_runs``: one row per scoring write (``seq``, ``computed_at``, ``previous_at``,
  ``rules_version``, ``flags`` and the counts ``n_new``/``n_left``/``n_up``/``n_down``), so "the
  previous run" is known even when nothing changed;
- ``flag_changes``: one row per subject that entered (``new``), ``left`` or moved level (``up``,
  ``down``) in that run, with the old and new level and score.  A score that moves within its level
  is not logged: the log grows with changes, not with runs x flags.

Both tables come from schema migration 6 of both backends (``tracer.store.sqlite_schema``,
``tracer.store.postgres_schema``).

The same write replaces the stored actor clusters (migration 7), because ``flags.cluster`` names a
flagged subject's cluster but neither its members that are not flagged (the listed wallet of "same
actor cluster as listed wallet X" is often one) nor the links that joined them:

- ``cluster_members(cluster, member, computed_at)``, primary key (cluster, member), indexed by member;
- ``cluster_links(cluster, seq, a, b, heuristic, strength, detail, refs)``, primary key (cluster, seq):
  each link clustering kept, in its order (``seq`` from 0), ``refs`` the stored facts as a JSON list.

Only clusters that hold at least one flagged subject are kept (the caller picks them,
``tracer.scoring.tables.cluster_rows``): the tables grow with the flags, not with every cluster of
the graph.  Portable SQL only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tracer.store.reads import (
    CLUSTER_LINK_COLUMNS,
    CLUSTER_MEMBER_COLUMNS,
    EVIDENCE_COLUMNS,
    FLAG_COLUMNS,
    Reads,
)

CHANGES = ("new", "left", "up", "down")
#: Levels from the highest down (``tracer.scoring.combine.LEVELS``); callers may pass their own.
LEVELS = ("severe", "high", "medium", "low")
RUN_COLUMNS = ("seq", "computed_at", "previous_at", "rules_version", "flags", "n_new", "n_left", "n_up", "n_down")
CHANGE_COLUMNS = ("seq", "subject", "computed_at", "change", "old_level", "new_level", "old_score", "new_score")


def _marks(n: int) -> str:
    return ", ".join("?" for _ in range(n))


def _num(v: Any) -> float | None:
    return None if v is None else float(v)


Change = tuple[str, str, Any, Any, float | None, float | None]


def diff_flags(old: Mapping[str, tuple[Any, Any]], new: Sequence[Mapping[str, Any]],
               levels: Sequence[str] = LEVELS) -> list[Change]:
    """(subject, change, old_level, new_level, old_score, new_score) of every subject that is new, left
    or moved level between ``old`` (subject -> (level, score)) and the ``new`` flag rows, by subject.

    ``levels``: level names from the highest down.  A level outside them is ranked by score; the
    same level name is never a change, whatever the score did."""
    rank = {name: len(levels) - i for i, name in enumerate(levels)}
    out: list[Change] = []
    seen = set()
    for f in new:
        s = f["subject"]
        seen.add(s)
        lv, sc = f.get("level"), _num(f.get("score"))
        if s not in old:
            out.append((s, "new", None, lv, None, sc))
            continue
        olv, osc = old[s][0], _num(old[s][1])
        if olv == lv:
            continue
        up = rank[lv] > rank[olv] if olv in rank and lv in rank else (sc or 0.0) > (osc or 0.0)
        out.append((s, "up" if up else "down", olv, lv, osc, sc))
    out += [(s, "left", lv, None, _num(sc), None) for s, (lv, sc) in old.items() if s not in seen]
    return sorted(out)


class FlagHistory(Reads):
    """Scoring's write of flags, evidence and clusters, with the change log, and the reads of that log."""

    def replace_scoring_results(self, flags: Sequence[Mapping[str, Any]], evidence: Sequence[Mapping[str, Any]],
                                computed_at: str | None = None, rules_version: str | None = None,
                                levels: Sequence[str] = LEVELS,
                                cluster_members: Sequence[Mapping[str, Any]] = (),
                                cluster_links: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
        """Scoring: replace evidence, flags and the stored clusters with one run's rows (cells as stored)
        in ONE transaction, and log what changed against the flags replaced (see the module docstring).

        ``cluster_members`` ({cluster, member}) and ``cluster_links`` (``CLUSTER_LINK_COLUMNS``, refs
        as JSON text): the run's clusters that hold a flagged subject; none given, the previous
        run's are removed all the same (stored clusters never describe another run's flags).

        Flags keep ``first_seen`` across runs; subjects no longer flagged are removed.  The tables must
        exist (``ensure_tables``).  ``computed_at`` / ``rules_version`` of the run default to the first
        flag's.  Returns the run's ``scoring_runs`` row.  One read of the old flags, one insert per
        change: a 30k-flag rescore that changes nothing writes one log row."""
        ev_cols, fl_cols = ", ".join(EVIDENCE_COLUMNS), ", ".join(FLAG_COLUMNS)
        update = ", ".join(f"{c}=excluded.{c}" for c in FLAG_COLUMNS if c not in ("subject", "first_seen"))
        if computed_at is None:
            computed_at = str(flags[0]["computed_at"]) if flags else None
        if rules_version is None and flags:
            rules_version = flags[0].get("rules_version")
        with self.transaction():
            old = {r["subject"]: (r["level"], r["score"], r["computed_at"])
                   for r in self.query("SELECT subject, level, score, computed_at FROM flags")}
            last = self.query("SELECT seq, computed_at FROM scoring_runs ORDER BY seq DESC LIMIT 1")
            self.execute("DELETE FROM evidence")
            self.executemany(f"INSERT INTO evidence ({ev_cols}) VALUES ({_marks(len(EVIDENCE_COLUMNS))})",
                             [tuple(e[c] for c in EVIDENCE_COLUMNS) for e in evidence])
            keep = {f["subject"] for f in flags}
            self.executemany("DELETE FROM flags WHERE subject = ?", [(s,) for s in old if s not in keep])
            self.executemany(f"INSERT INTO flags ({fl_cols}) VALUES ({_marks(len(FLAG_COLUMNS))}) "
                             f"ON CONFLICT(subject) DO UPDATE SET {update}",
                             [tuple(f.get(c) for c in FLAG_COLUMNS) for f in flags])
            # The previous run: the last one logged, else (a store scored before migration 6) the
            # time of the flags it left, else none (the first scoring of this store).
            previous = last[0]["computed_at"] if last else max(
                (str(t) for _, _, t in old.values() if t is not None), default=None)
            seq = int(last[0]["seq"]) + 1 if last else 1
            changes = diff_flags({s: (lv, sc) for s, (lv, sc, _) in old.items()}, flags, levels)
            self.executemany(f"INSERT INTO flag_changes ({', '.join(CHANGE_COLUMNS)}) "
                             f"VALUES ({_marks(len(CHANGE_COLUMNS))})",
                             [(seq, s, computed_at, *rest) for s, *rest in changes])
            counts = {c: sum(1 for x in changes if x[1] == c) for c in CHANGES}
            run = {"seq": seq, "computed_at": computed_at, "previous_at": previous, "rules_version": rules_version,
                   "flags": len(flags), "n_new": counts["new"], "n_left": counts["left"], "n_up": counts["up"],
                   "n_down": counts["down"]}
            self.execute(f"INSERT INTO scoring_runs ({', '.join(RUN_COLUMNS)}) VALUES ({_marks(len(RUN_COLUMNS))})",
                         [run[c] for c in RUN_COLUMNS])
            self._replace_clusters(cluster_members, cluster_links, computed_at)
        return run

    def _replace_clusters(self, members: Sequence[Mapping[str, Any]], links: Sequence[Mapping[str, Any]],
                          computed_at: str | None) -> None:
        """Inside scoring's transaction: the stored clusters become ``members`` and ``links`` (two
        deletes and two bulk inserts, as the flags write)."""
        self.execute("DELETE FROM cluster_members")
        self.execute("DELETE FROM cluster_links")
        self.executemany(f"INSERT INTO cluster_members ({', '.join(CLUSTER_MEMBER_COLUMNS)}) "
                         f"VALUES ({_marks(len(CLUSTER_MEMBER_COLUMNS))})",
                         [(m["cluster"], m["member"], computed_at) for m in members])
        self.executemany(f"INSERT INTO cluster_links ({', '.join(CLUSTER_LINK_COLUMNS)}) "
                         f"VALUES ({_marks(len(CLUSTER_LINK_COLUMNS))})",
                         [tuple(lk[c] for c in CLUSTER_LINK_COLUMNS) for lk in links])

    # ---- reads (tracer changes, /api/changes, tracer explain) -------------------------------------
    def scoring_run_rows(self, limit: int = 1) -> list[dict[str, Any]]:
        """The newest logged scoring runs, newest first ([] on a store never scored since migration 6)."""
        if not self.has_table("scoring_runs"):
            return []
        return self.query(f"SELECT {', '.join(RUN_COLUMNS)} FROM scoring_runs ORDER BY seq DESC LIMIT ?", [limit])

    def flag_changes_of_run(self, seq: int) -> list[dict[str, Any]]:
        """What scoring run ``seq`` changed: one row per subject new, left, up or down, by change and subject."""
        if not self.has_table("flag_changes"):
            return []
        return self.query(f"SELECT {', '.join(CHANGE_COLUMNS)} FROM flag_changes WHERE seq = ? "
                          "ORDER BY change, subject", [seq])

    def flag_history(self, subject: str, limit: int = 200) -> list[dict[str, Any]]:
        """One subject's flag changes, oldest first: when it was flagged, left, and every level it moved to."""
        if not self.has_table("flag_changes"):
            return []
        rows = self.query(f"SELECT {', '.join(CHANGE_COLUMNS)} FROM flag_changes WHERE subject = ? "
                          "ORDER BY seq DESC LIMIT ?", [subject, limit])
        return rows[::-1]
