"""Unattended runs: sync due connectors, screen names, score, export the watch-list, notify — once or every N.

One cycle is one row in ``runs`` (command ``run``) with one ``run_streams`` row per step
(``step:sync``, ``step:screen``, ``step:score``, ``step:export``, ``step:notify``) carrying its
duration and counts, so ``tracer runs --streams`` is the history an operator reads.  The sync and
the screening take the store lock and score/export run under it too, so a second ``tracer run``
started meanwhile is refused with one line.  A step that fails ends the cycle as ``failed`` with
its one-line cause.  Screening is what ``tracer screen --all`` does: every stored organisation,
e-mail and website fact against the stored restricted-party lists, hits stored as ``name_match``,
so the score that follows sees a provider whose organisation was just listed.
"""

from __future__ import annotations

import asyncio
import importlib.util
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connectors.base import ConfigError
from tracer import config as cfgmod
from tracer.store import LockedError, StoreBackend

if TYPE_CHECKING:
    from tracer.pipeline import Watch

_EVERY = re.compile(r"\s*(\d+)\s*([smhd]?)\s*")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_every(text: str | int) -> int:
    """``15m``, ``1h``, ``30s``, ``1d`` or plain seconds -> seconds (at least 1)."""
    if isinstance(text, int) and not isinstance(text, bool):
        n = text
    else:
        m = _EVERY.fullmatch(str(text))
        if not m:
            raise ConfigError(f"cannot read interval {text!r}; use e.g. 30s, 15m, 1h or 1d")
        n = int(m.group(1)) * _UNIT[m.group(2)]
    if n < 1:
        raise ConfigError(f"interval {text!r} must be at least 1 second")
    return n


@dataclass
class Step:
    name: str
    status: str = "ok"
    records: int = 0
    duration_s: float = 0.0
    error: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Cycle:
    run_id: str
    status: str
    duration_s: float
    steps: list[Step]

    @property
    def error(self) -> str | None:
        return next((f"{s.name}: {s.error}" for s in self.steps if s.error), None)


def _one_line(e: BaseException) -> str:
    from connectors.base import ConnectorError
    from tracer.store import StoreError

    known = isinstance(e, ConnectorError | StoreError | ValueError) and str(e)
    text = str(e) if known else f"{type(e).__name__}: {e}"
    return text.splitlines()[0] if text else type(e).__name__


def _ts(t: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()


def due_connectors(store: StoreBackend, cfg: dict[str, Any], now: str) -> tuple[list[str], list[str]]:
    """Enabled connectors whose ``every`` interval has passed since their last good sync, and the rest.

    A connector without ``every`` is due on every cycle; ``every = "1d"`` keeps a daily list
    source from being fetched each 15 minutes.
    """
    from tracer.pipeline import effective_configs

    due, skipped = [], []
    for name, c in effective_configs(cfg).items():
        if not c.get("enabled", True):
            continue
        every = c.get("every")
        if every:
            last = store.last_ok_sync(name)
            if last and _ts(now) - _ts(last) < parse_every(every):
                skipped.append(name)
                continue
        due.append(name)
    return due, skipped


async def _sync(store: StoreBackend, cfg: dict[str, Any], step: Step, watch: Watch | None = None) -> None:
    from tracer.pipeline import sync

    due, skipped = due_connectors(store, cfg, cfgmod.now())
    step.detail = {"due": due, "not_due": skipped}
    if not due:
        return
    res = await sync(store, cfg, due, None, command="run:sync", watch=watch)
    step.records = res.records
    step.detail["sync_run"] = res.run_id
    if res.status != "ok":
        step.status, step.error = "failed", "; ".join(res.errors) or "sync failed"


def _screen(store: StoreBackend, cfg: dict[str, Any], step: Step) -> None:
    """``tracer screen --all`` as a step (takes the store lock itself, like the sync)."""
    from tracer.lists import screen_stored_facts

    listed = store.count_entities("listed_entity")
    if not listed:
        step.status, step.detail = "skipped", {"why": "no restricted-party list in the store (sync lists_csl ...)"}
        return
    step.records = screen_stored_facts(store)
    step.detail = {"listed_entities": listed}


def _score(store: StoreBackend, cfg: dict[str, Any], step: Step) -> None:
    if importlib.util.find_spec("tracer.scoring") is None or importlib.util.find_spec("tracer.scoring.run") is None:
        step.status, step.detail = "skipped", {"why": "tracer.scoring is not installed"}
        return
    from tracer.scoring.run import params_from_config, score_store

    res = score_store(store, params_from_config(cfg))
    step.records = len(res.flags)


def _export(store: StoreBackend, cfg: dict[str, Any], out_dir: Path, step: Step) -> list[dict[str, Any]]:
    from tracer import export as ex

    if not store.has_table("flags"):
        step.status, step.detail = "skipped", {"why": "no flags table (scoring has not run)"}
        return []
    exp = cfg.get("export", {})
    min_score = float(exp.get("min_score", 0.5))
    out_dir.mkdir(parents=True, exist_ok=True)
    current, previous = out_dir / "watchlist.jsonl", out_dir / "watchlist.previous.jsonl"
    old = ex.read_watchlist(current) if current.exists() else None
    if old is not None:
        current.replace(previous)
    rows = ex.write_watchlist(store, current, "jsonl", min_score)
    ex.write_watchlist(store, out_dir / "watchlist.csv", "csv", min_score)
    ex.write_watchlist(store, out_dir / "watchlist.ftm.json", "ftm", min_score)
    changes = ex.diff_watchlists(old or [], rows)
    step.records = len(rows)
    step.detail = {"dir": str(out_dir), "changes": len(changes)}
    return ex.new_high_entries(changes)


async def _notify(cfg: dict[str, Any], fresh: list[dict[str, Any]], step: Step) -> None:
    from tracer import export as ex

    url = cfg.get("export", {}).get("webhook")
    if not url:
        step.status, step.detail = "skipped", {"why": "no export.webhook configured"}
        return
    step.records = len(fresh)
    if fresh:
        await ex.post_webhook(url, fresh)


async def run_cycle(store: StoreBackend, cfg: dict[str, Any], out_dir: Path, watch: Watch | None = None) -> Cycle:
    """One scheduled cycle; every step is timed and logged, the first failure ends the cycle.

    ``watch``: told of each stream of the sync step (tracer.live's view)."""
    started = time.monotonic()
    run_id = store.start_run("run", cfgmod.now())
    steps: list[Step] = []
    fresh: list[dict[str, Any]] = []

    async def step(name: str, fn: Callable[[Step], Any]) -> bool:
        s = Step(name)
        steps.append(s)
        t0, w0 = cfgmod.now(), time.monotonic()
        try:
            r = fn(s)
            if asyncio.iscoroutine(r):
                await r
        except LockedError as e:
            s.status, s.error = "refused", str(e)
        except Exception as e:  # one line per failed step; the run log keeps it
            s.status, s.error = "failed", _one_line(e)
        s.duration_s = time.monotonic() - w0
        store.log_stream(run_id, f"step:{name}", t0, cfgmod.now(), s.status, 0, s.records, s.error)
        return s.error is None

    def locked(fn: Callable[[Step], Any]) -> Callable[[Step], Any]:
        def run(s: Step) -> Any:
            with store.lock(f"tracer run {run_id}"):
                return fn(s)
        return run

    def do_export(s: Step) -> None:
        fresh.extend(_export(store, cfg, out_dir, s))

    try:
        ok = await step("sync", lambda s: _sync(store, cfg, s, watch))
        ok = ok and await step("screen", lambda s: _screen(store, cfg, s))
        ok = ok and await step("score", locked(lambda s: _score(store, cfg, s)))
        ok = ok and await step("export", locked(do_export))
        ok = ok and await step("notify", lambda s: _notify(cfg, fresh, s))
    except BaseException as e:
        from tracer.pipeline import interrupted_error

        first = next((f"{s.name}: {s.error}" for s in steps if s.error), None)
        store.end_run(run_id, "interrupted", cfgmod.now(), time.monotonic() - started,
                      sum(s.records for s in steps), interrupted_error(e, first))
        raise
    cycle = Cycle(run_id, "ok" if ok else "failed", time.monotonic() - started, steps)
    store.end_run(run_id, cycle.status, cfgmod.now(), cycle.duration_s, sum(s.records for s in steps), cycle.error)
    return cycle


async def run_every(store: StoreBackend, cfg: dict[str, Any], out_dir: Path, every_s: int, max_runs: int | None,
                    report: Callable[[Cycle], None], watch: Watch | None = None) -> list[Cycle]:
    """Cycles on a fixed cadence (start to start, no drift) until ``max_runs`` (or forever)."""
    cycles: list[Cycle] = []
    loop = asyncio.get_running_loop()
    next_start = loop.time()
    while max_runs is None or len(cycles) < max_runs:
        c = await run_cycle(store, cfg, out_dir, watch)
        cycles.append(c)
        report(c)
        if max_runs is not None and len(cycles) >= max_runs:
            break
        next_start += every_s
        while next_start < loop.time():  # a cycle longer than the interval: skip, don't pile up
            next_start += every_s
        await asyncio.sleep(next_start - loop.time())
    return cycles
