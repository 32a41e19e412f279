"""``tracer run``: the scheduled job (sync due connectors, screen names, score, export, notify), for cron or a loop."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tracer.scheduler import Cycle, parse_every, run_cycle, run_every

if TYPE_CHECKING:
    from tracer.live import LiveView


def _line(c: Cycle, view: LiveView | None = None) -> str:
    """The cycle in one line; with the live view, how its sync's streams ended (12 ok, 1 skipped)."""
    streams = view.counts() if view is not None and any(s.name == "sync" for s in c.steps) else ""

    def step(name: str, status: str, records: int) -> str:
        inner = "; ".join(x for x in (f"{records}" if records else "", streams if name == "sync" else "") if x)
        return f"{name} {status}" + (f" ({inner})" if inner else "")

    steps = ", ".join(step(s.name, s.status, s.records) for s in c.steps)
    return f"run {c.run_id}: {c.status} in {c.duration_s:.1f}s — {steps}"


@click.command("run")
@click.option("--every", default=None, help="Repeat at this interval: 30s, 15m, 1h, 1d (start to start).")
@click.option("--once", is_flag=True, help="One cycle and exit (what cron or a systemd timer calls).")
@click.option("--max-runs", type=click.IntRange(1), default=None, help="Stop after N cycles (with --every).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for watchlist.{csv,jsonl,ftm.json} (default: config export.dir or ./exports).")
@click.pass_obj
def run_command(env: Any, every: str | None, once: bool, max_runs: int | None, out_dir: Path | None) -> None:
    """Sync due connectors, screen names, score, export and notify; once or every N.

    \b
    Examples:
      tracer run --once                       # from cron: */15 * * * * tracer -q run --once
      tracer run --every 15m                  # a long-running loop (systemd service)
      tracer run --every 1m --max-runs 3      # try the cadence
    Connectors with an 'every' key (e.g. connectors.ofac_addresses.every = "1d") are synced only
    when that long has passed since their last good sync. export.min_score (0.5) and
    export.webhook (POST of new high/severe entries) come from the config.
    Screening is `tracer screen --all` (stored organisation/e-mail/website facts against the
    stored lists, hits kept as name_match), so a newly listed provider is flagged by the same run.
    A run refused by the lock or with a failed step prints one line and exits 1.
    Each cycle's sync shows its streams on stderr as `tracer sync` does (a live table on a
    terminal, one line per stream event in a log), then one summary line per cycle; -q: errors only.
    History: tracer runs --streams (one row per step with duration and counts).
    """
    if not once and not every:
        raise click.UsageError("give --once or --every INTERVAL (e.g. --every 15m)")
    if once and (every or max_runs):
        raise click.UsageError("--once cannot be combined with --every/--max-runs")
    out = out_dir or Path(env.cfg.get("export", {}).get("dir", "exports"))
    from tracer.live import LiveView

    view = LiveView.for_stderr(env.quiet)  # reset by each cycle's sync
    try:
        if once:
            cycles = [asyncio.run(run_cycle(env.store, env.cfg, out, view))]
            report(cycles[0], env.quiet, view)
        else:
            seconds = parse_every(every or "")
            cycles = asyncio.run(run_every(env.store, env.cfg, out, seconds, max_runs,
                                           lambda c: report(c, env.quiet, view), view))
    finally:
        if view is not None:
            view.stop()
    if any(c.status != "ok" for c in cycles):
        sys.exit(1)


def report(c: Cycle, quiet: bool, view: LiveView | None = None) -> None:
    if c.status != "ok":
        click.echo(f"error: run {c.run_id} {c.status}: {c.error}", err=True)
    elif not quiet:
        click.echo(_line(c, view))
    if view is not None:
        view.clear()
