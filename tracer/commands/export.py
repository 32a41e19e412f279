"""``tracer export watchlist|graph|report`` and ``tracer diff OLD NEW``: thin shells over tracer.export."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click

from tracer import export as ex
from tracer.output import emit, one_line, output_options

DIFF_COLUMNS = ["change", "id", "old_level", "new_level", "old_score", "new_score", "why"]


def _fail(e: Exception, code: int = 1) -> None:
    click.echo(f"error: {one_line(e)}", err=True)
    sys.exit(code)


def _out_file(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """``-o ''`` is the current folder to pathlib (click only refuses folders that exist by name)."""
    if value is not None and str(value) in ("", "."):
        raise click.BadParameter("give a file name, not an empty path", ctx, param)
    return value


@click.group("export")
def export_group() -> None:
    """Write watch-lists (CSV, JSON Lines, FollowTheMoney), graphs for Gephi and an HTML report."""


@export_group.command("watchlist")
@click.option("--min-score", type=click.FloatRange(0, 1), default=0.5, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "ftm"]), default="csv", show_default=True)
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              callback=_out_file)
@click.option("--previous", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Last export (csv/jsonl): print what changed and POST new high entries to --webhook.")
@click.option("--webhook", help="URL to POST new high/severe entries to (JSON), only when there are some.")
@click.option("--include-dismissed", is_flag=True,
              help="Also list flags an analyst dismissed whose evidence has not changed since (tracer judge).")
@click.pass_obj
def watchlist_command(env: Any, min_score: float, fmt: str, out: Path, previous: Path | None,
                      webhook: str | None, include_dismissed: bool) -> None:
    """One row per flagged actor or wallet, sorted by id for clean diffs.

    \b
    Examples:
      tracer export watchlist --min-score 0.7 --format csv -o watchlist.csv
      tracer export watchlist --format ftm -o watchlist.ftm.json     # OpenSanctions / Aleph tools
      tracer export watchlist -o today.csv --previous last.csv --webhook https://hooks.example/tracer
    Columns: id, kind, chain, address, label, score, level, top_reasons, sources, first_seen,
    last_seen, rules_version, and the newest analyst judgement: judgement, judgement_status
    (current, or stale once the evidence changed), judged_by, judged_at, judgement_reason.
    A flag dismissed on evidence that has not changed since is left out (the count is printed).
    """
    try:
        kept, dismissed = ex.split_watchlist(env.store, min_score)
        listed = sorted(kept + dismissed, key=lambda r: r["id"]) if include_dismissed else kept
        rows = ex.write_watchlist(env.store, out, fmt, min_score, rows=listed)
    except ex.ExportError as e:
        _fail(e)
    left_out = "" if include_dismissed or not dismissed else (
        f"; left out {len(dismissed)} dismissed on unchanged evidence (--include-dismissed lists them)")
    click.echo(f"wrote {len(rows)} entries to {one_line(out)}{left_out}")
    if previous is not None:
        try:
            changes = ex.diff_watchlists(ex.read_watchlist(previous), rows)
        except ex.ExportError as e:
            _fail(e)
        click.echo(f"{len(changes)} change(s) since {one_line(previous)}")
        fresh = ex.new_high_entries(changes)
        if webhook and fresh:
            try:
                status = asyncio.run(ex.post_webhook(webhook, fresh))
            except Exception as e:  # network errors: one line, exit 1
                _fail(ex.ExportError(f"webhook {webhook} failed: {e}"))
            click.echo(f"posted {len(fresh)} new high entries to {webhook} (HTTP {status})")


@export_group.command("graph")
@click.option("--format", "fmt", type=click.Choice(["gexf", "graphml"]), default="gexf", show_default=True)
@click.option("--min-score", type=click.FloatRange(0, 1), default=0.0, show_default=True)
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              callback=_out_file)
@click.pass_obj
def graph_command(env: Any, fmt: str, min_score: float, out: Path) -> None:
    """Flagged subjects and every edge touching them, for Gephi (GEXF) or any GraphML tool.

    \b
    Example:
      tracer export graph --format gexf -o case.gexf
    Node attributes: label, kind, chain, level, score; edge attributes: kind, amount, asset, time, tx.
    """
    try:
        n, m = ex.graph_export(env.store, out, fmt, min_score)
    except ex.ExportError as e:
        _fail(e)
    click.echo(f"wrote {n} nodes and {m} edges to {one_line(out)}")


@export_group.command("report")
@click.option("--min-level", type=click.Choice(ex.LEVELS), default="medium", show_default=True,
              help="Lowest level listed (low only when asked: every level is still counted in the summary).")
@click.option("--min-score", type=click.FloatRange(0, 1), default=0.0, show_default=True)
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              callback=_out_file)
@click.pass_obj
def report_command(env: Any, min_level: str, min_score: float, out: Path) -> None:
    """A static HTML report: summary, contents, then every flag with its evidence and provenance.

    
    The summary table comes first (subjects by level, the top ten), then the contents, then one
    section per subject: its judgement, each piece of evidence as a sentence and every fact it cites
    with the raw payload (sha256, URL) it came from.
    
    Examples:
      tracer export report -o report.html                  # medium, high and severe
      tracer export report --min-level low -o all.html     # every flag
    """
    n = ex.html_report(env.store, out, min_score, min_level)
    click.echo(f"wrote {n} flags at {min_level} or above to {one_line(out)}")


@click.command("diff")
@click.argument("old", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("new", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@output_options
def diff_command(old: Path, new: Path, fmt: str | None) -> None:
    """Who entered, who left and whose level or score changed between two watch-lists, and why.

    \b
    Example:
      tracer diff watchlist-2026-03-01.csv watchlist-2026-03-02.csv --table
    Works on CSV and JSON Lines exports. On stderr: no change at all, and exports scored by
    different rules versions (a change may then come from the rules, not the facts).
    """
    try:
        before, after = ex.read_watchlist(old), ex.read_watchlist(new)
    except ex.ExportError as e:
        _fail(e, 2)
    changes = ex.diff_watchlists(before, after)
    emit(changes, fmt, columns=DIFF_COLUMNS, title=one_line(f"{old} -> {new}: {len(changes)} change(s)"))
    for note in ex.diff_notes(before, after, changes):  # stderr: the rows on stdout stay machine-readable
        click.echo(one_line(note), err=True)
