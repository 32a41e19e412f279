"""``tracer judge``, ``tracer judgements``, ``tracer note`` and ``tracer case``: an analyst's records about
a case, and the case file.

Thin shells over :mod:`tracer.judgements`.  A bad or unknown subject, a subject without a flag to
judge and bad text are one line and exit code 2.  Judgements and notes are appended in their own
small transaction without the store's run lock, so an analyst can record one while a sync runs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from tracer import judgements as jd
from tracer.output import emit, one_line, output_options

JUDGEMENT_COLUMNS = ["created_at", "subject", "verdict", "analyst", "reason", "status", "rules_version",
                     "evidence_digest", "id"]
JUDGEMENT_TABLE = ["created_at", "subject", "verdict", "analyst", "reason", "status"]


def _pass_env(f: Callable[..., Any]) -> Callable[..., Any]:
    from tracer.cli import pass_env

    return pass_env(f)


def _run(fn: Callable[[], Any]) -> Any:
    """``fn()``, with a :class:`tracer.queries.QueryError` (bad, unknown or unflagged subject, bad
    text) as one line and exit 2: the caller's mistake, never a traceback."""
    from tracer.queries import QueryError

    try:
        return fn()
    except QueryError as e:
        click.echo(f"error: {one_line(e)}", err=True)
        sys.exit(2)


@click.command("judge")
@click.argument("subject", metavar="ID")
@click.option("--confirm", is_flag=True, help="The flag is right: the subject is what the evidence says.")
@click.option("--dismiss", is_flag=True,
              help="The flag is wrong: leave it out of watch-lists and score's list until its evidence changes.")
@click.option("--escalate", is_flag=True, help="Needs a second look by someone else (counsel, a senior analyst).")
@click.option("--reason", required=True, help="Why, in words a colleague can check (required).")
@click.option("--analyst", required=True, help="Who decides (name or initials; required).")
@_pass_env
def judge_command(env: Any, subject: str, confirm: bool, dismiss: bool, escalate: bool, reason: str,
                  analyst: str) -> None:
    """Confirm, dismiss or escalate a flag, with a reason and your name, stored with the time.

    \b
    The judgement records a digest of the flag's evidence: it holds while the evidence is the same
    and turns stale (shown in explain; a dismissed flag is back on every list) when a later
    `tracer score` finds different evidence.
    \b
    Examples:
      tracer judge wallet:evm:0xabc... --dismiss --reason "exchange deposit address, KYC'd" --analyst "J. Doe"
      tracer judge provider:akash:akash1... --escalate --reason "H100s in a D:5 country" --analyst jd
      tracer judgements wallet:evm:0xabc...        # the history
    """
    chosen = [v for v, on in (("confirmed", confirm), ("dismissed", dismiss), ("escalated", escalate)) if on]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --confirm, --dismiss, --escalate")
    row = _run(lambda: jd.record_judgement(env.store, subject, chosen[0], reason, analyst))
    flag = env.store.flag_of(row["subject"]) or {}
    click.echo(f"{row['verdict']} {row['subject']} (score {flag.get('score')}, {flag.get('level')}) by "
               f"{one_line(row['analyst'])} at {row['created_at']}; holds until its evidence changes")


@click.command("judgements")
@click.argument("subject", metavar="[ID]", required=False)
@click.option("--limit", type=click.IntRange(1, 100_000), default=1000, show_default=True)
@output_options
@_pass_env
def judgements_command(env: Any, subject: str | None, limit: int, fmt: str | None) -> None:
    """Judgement history, newest first: who judged which flag, when, why, and whether it still holds.

    \b
    status is current while the flag's evidence is what the analyst judged, stale once it changed.
    Examples:
      tracer judgements                            # every subject
      tracer judgements wallet:evm:0xabc... --json
      tracer judgements --csv > judgements.csv
    """
    if subject is not None:
        _run(lambda: jd.case(env.store, subject))  # an unknown id is exit 2, not an empty list
    rows = jd.history(env.store, subject, limit)
    emit(rows, fmt, columns=JUDGEMENT_COLUMNS, table_columns=JUDGEMENT_TABLE,
         title=f"{len(rows)} judgement(s)" + (f" of {one_line(subject)}" if subject else ""))
    if not rows:
        click.echo("no judgements recorded" + (f" of {one_line(subject)}" if subject else "") +
                   " (tracer judge ID --confirm|--dismiss|--escalate --reason ... --analyst ...)", err=True)


@click.command("note")
@click.argument("subject", metavar="ID")
@click.option("--text", required=True, help="The note (newlines kept; at most 10,000 characters).")
@click.option("--analyst", required=True, help="Who writes it (name or initials; required).")
@_pass_env
def note_command(env: Any, subject: str, text: str, analyst: str) -> None:
    """Attach a free-text case note to any node (flagged or not); shown by explain and the API.

    \b
    Examples:
      tracer note wallet:evm:0xabc... --text "Asked the exchange for KYC, ref 2026-114" --analyst jd
      tracer explain wallet:evm:0xabc...           # notes are listed at the end
    """
    row = _run(lambda: jd.record_note(env.store, subject, text, analyst))
    click.echo(f"noted on {row['subject']} by {one_line(row['analyst'])} at {row['created_at']}")


@click.command("case")
@click.argument("subject", metavar="ID")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The HTML case file to write (self-contained: no scripts, no external assets).")
@click.option("--pdf", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also print it to this PDF with headless Chromium (needs chromium on PATH).")
@_pass_env
def case_command(env: Any, subject: str, out: Path, pdf: Path | None) -> None:
    """Write one subject's case file: flag, evidence with provenance, judgements, notes and graph.

    \b
    One HTML document with everything inline (CSS, the graph as SVG), to file, mail or print; every
    fact is a sentence with the raw payload (sha256, URL) it came from.  --pdf prints it with
    headless Chromium; without Chromium the HTML is still written and the command says so.
    \b
    Examples:
      tracer case wallet:evm:0xabc... --out case.html
      tracer case provider:akash:akash1... --out case.html --pdf case.pdf
    """
    from tracer import case

    if str(out) in ("", ".") or (pdf is not None and str(pdf) in ("", ".")):
        raise click.BadParameter("give a file name, not an empty path")
    text = _run(lambda: case.case_html(env.store, subject))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as e:
        click.echo(f"error: cannot write {one_line(out)}: {e.strerror or e}", err=True)
        sys.exit(1)
    click.echo(f"wrote the case file of {one_line(subject)} to {one_line(out)}")
    if pdf is not None:
        try:
            case.write_pdf(out, pdf)
        except case.CaseError as e:
            click.echo(f"error: {one_line(e)}", err=True)
            sys.exit(1)
        click.echo(f"printed it to {one_line(pdf)}")
