"""What changed since the previous scoring run, for people: ``/api/changes`` (the landing page),
``tracer changes`` and the level history ``tracer explain`` prints.

Why apart from :mod:`tracer.queries`: the store logs each scoring run's changes itself
(:mod:`tracer.store.flag_history`: flags new, left, up or down); this module names the subjects,
orders them most severe first and words the history, for a store scored before that log existed too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tracer.queries import LEVEL_ORDER, _reason_texts, check_int, describe, has_table, listings, node_names

if TYPE_CHECKING:
    from tracer.store import StoreBackend

MAX_LISTED = 1000  # per list: a rules change can move every flag; the counts stay whole
NO_SCORING = "no scoring run yet: run tracer score (or tracer run)"
FIRST_RUN = "first scoring run of this store: nothing earlier to compare with"


def _rank(level: Any) -> int:
    return LEVEL_ORDER.index(level) if level in LEVEL_ORDER else len(LEVEL_ORDER)


def _by_severity(items: list[dict[str, Any]], level_key: str, score_key: str) -> list[dict[str, Any]]:
    return sorted(items, key=lambda f: (_rank(f[level_key]), -float(f[score_key] or 0), f["subject"]))


def changes(store: StoreBackend, limit_runs: int = 3) -> dict[str, Any]:
    """What changed since the previous scoring run: flags new, left (with their last level), up and
    down a level; judgements whose evidence changed since they were made; the latest runs.

    Keys: ``scored_at`` (latest scoring), ``previous`` (was there an earlier one), ``previous_at``,
    ``tracked`` (the store logged this scoring's changes; False for a store last scored by a tracer
    without the log: then only new flags are known), ``counts`` (new, left, up, down: whole even when
    a list is cut at :data:`MAX_LISTED`), ``new_flags``, ``left_flags``, ``level_up``, ``level_down``,
    ``truncated``, ``first_run_flags`` (how many the first scoring flagged), ``stale_judgements``,
    ``runs`` and ``why_empty`` (a sentence when there is nothing to list)."""
    from tracer import judgements as jd

    limit_runs = check_int(limit_runs, "runs", 1, 50)
    runs = [{k: r.get(k) for k in ("run_id", "command", "started_at", "ended_at", "status", "records", "error")}
            for r in store.runs(limit_runs)]
    out: dict[str, Any] = {"scored_at": None, "previous": False, "previous_at": None, "tracked": False,
                           "counts": dict.fromkeys(("new", "left", "up", "down"), 0), "new_flags": [],
                           "left_flags": [], "level_up": [], "level_down": [], "truncated": False,
                           "first_run_flags": 0, "stale_judgements": [], "runs": runs, "why_empty": None}
    if not has_table(store, "flags"):
        return {**out, "why_empty": NO_SCORING}
    flags = {str(r["subject"]): r for r in store.flag_rows()}
    logged = store.scoring_run_rows(1)
    if logged:
        run = logged[0]
        out.update(scored_at=run["computed_at"], previous_at=run["previous_at"], tracked=True,
                   previous=run["previous_at"] is not None)
        moved = [] if not out["previous"] else store.flag_changes_of_run(int(run["seq"]))
        if not out["previous"]:
            out["first_run_flags"] = len(flags)
    else:  # scored before the log: a flag first seen at its own scoring time is new, nothing more is known
        out["scored_at"] = max((str(r["computed_at"]) for r in flags.values()), default=None)
        moved = [{"subject": s, "change": "new"} for s, r in flags.items() if r["first_seen"] == r["computed_at"]]
        out["previous"] = len(moved) < len(flags)
        if not out["previous"]:
            out["first_run_flags"], moved = len(moved), []
    by: dict[str, list[Mapping[str, Any]]] = {c: [r for r in moved if r["change"] == c] for c in out["counts"]}
    out["counts"] = {c: len(rows) for c, rows in by.items()}
    lists = _listed(store, flags, by)
    out.update(lists)
    out["truncated"] = any(len(by[c]) > len(lists[k]) for c, k in _KEYS)
    out["stale_judgements"] = [s for s in jd.latest_states(store).values() if s["evidence_changed"]]
    if not out["previous"]:
        out["why_empty"] = FIRST_RUN
    elif not any(out["counts"].values()) and not out["stale_judgements"]:
        since = f" ({out['previous_at']})" if out["previous_at"] else ""
        out["why_empty"] = (f"nothing changed since the previous scoring run{since}: no flag new, left or "
                            "moved level, and no judged evidence changed" if out["tracked"] else
                            "no new flags and no judged evidence changed since the previous scoring run")
    return out


_KEYS = (("new", "new_flags"), ("left", "left_flags"), ("up", "level_up"), ("down", "level_down"))


def _listed(store: StoreBackend, flags: Mapping[str, Mapping[str, Any]],
            by: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """The four lists, most severe first, at most :data:`MAX_LISTED` each, with names and top reasons."""
    def now(r: Mapping[str, Any]) -> dict[str, Any]:
        s = str(r["subject"])
        f = flags.get(s) or {}
        return {"subject": s, "level": f.get("level", r.get("new_level")), "score": f.get("score", r.get("new_score")),
                "reasons": _reason_texts(f.get("reasons"), 1)}

    new = _by_severity([now(r) for r in by["new"]], "level", "score")
    left = _by_severity([{"subject": str(r["subject"]), "level": r["old_level"], "score": r["old_score"]}
                         for r in by["left"]], "level", "score")
    up, down = ([{**now(r), "old_level": r["old_level"], "old_score": r["old_score"]} for r in by[c]]
                for c in ("up", "down"))
    out = {"new_flags": new, "left_flags": left, "level_up": _by_severity(up, "level", "score"),
           "level_down": _by_severity(down, "old_level", "old_score")}
    out = {k: v[:MAX_LISTED] for k, v in out.items()}
    subjects = sorted({f["subject"] for rows in out.values() for f in rows})
    names = node_names(describe(store, subjects), listings(store, subjects)) if subjects else {}
    for rows in out.values():
        for f in rows:
            f["name"] = names.get(f["subject"])
    return out


def level_history(store: StoreBackend, subject: str) -> list[dict[str, Any]]:
    """A subject's flag changes, oldest first (``change``, ``old_level``, ``new_level``, scores, ``computed_at``)."""
    return store.flag_history(subject)


def history_line(rows: Sequence[Mapping[str, Any]]) -> str | None:
    """The history as one line: ``medium (2026-04-01) -> severe (2026-04-02) -> not flagged (2026-04-05)``.

    Dates alone when every step has its own day, else the scoring times as stored; None without history."""
    if not rows:
        return None
    times = [str(r["computed_at"] or "?") for r in rows]
    days = [t[:10] for t in times]
    whens = days if len(set(days)) == len(days) else times
    steps = [] if rows[0]["change"] == "new" else [str(rows[0]["old_level"])]
    for r, when in zip(rows, whens, strict=True):
        steps.append(f"{'not flagged' if r['change'] == 'left' else r['new_level']} ({when})")
    return " -> ".join(steps)
