"""``tracer lists`` (what each list source holds, by snapshot) and ``tracer screen`` (is this
address or name on a list, and why): thin shells over :mod:`tracer.lists`."""

from __future__ import annotations

import sys
from typing import Any

import click

from connectors.base import ConfigError
from tracer.lists import (
    list_summary,
    match_row,
    screen_address,
    screen_stored_facts,
    screener,
    snapshot_diff,
    snapshots,
)
from tracer.output import emit, one_line, output_options
from tracer.screening import (
    DEFAULT_THRESHOLD,
    NameScreener,
    address_problem,
    candidate_wallet_ids,
    looks_like_address,
)


@click.command("lists")
@click.option("--diff", "diff_source", metavar="SOURCE", help="What was added/removed between the last two snapshots.")
@output_options
@click.pass_obj
def lists_command(env: Any, diff_source: str | None, fmt: str | None) -> None:
    """Restricted-party and attribution sources in the store: snapshot date and counts.

    \b
    Examples:
      tracer lists                           # one row per source (newest snapshot, its age in days)
      tracer lists --diff ofac-thomasgregg   # added / removed since the previous snapshot
      tracer lists --diff ofac-sdn-csv --csv > changes.csv
    Load lists with `tracer sync lists_ofac lists_csl lists_un lists_opensanctions lists_tags`.
    """
    store = env.store
    if diff_source:
        if not store.has_table("list_snapshots"):  # no list synced into this store yet
            raise click.UsageError(f"no snapshots of {diff_source!r}; `tracer lists` shows the loaded sources")
        try:
            d = snapshot_diff(store, diff_source)
        except ConfigError as e:
            raise click.UsageError(str(e)) from None
        rows = [{"change": "added", **r} for r in d["added"]] + [{"change": "removed", **r} for r in d["removed"]]
        emit(rows, fmt, columns=["change", "kind", "key", "label", "list_type"],
             title=f"{diff_source}: {d['older']} -> {d['newer']}: +{len(d['added'])} -{len(d['removed'])}")
        return
    emit(list_summary(store), fmt, columns=["source", "kind", "snapshot", "loaded_at", "entities", "addresses",
                                            "rejected", "snapshots", "delisted", "age_days"])


@click.command("screen")
@click.argument("queries", nargs=-1, metavar="ADDRESS|NAME...")
@click.option("--threshold", type=click.FloatRange(0, 100), default=DEFAULT_THRESHOLD, show_default=True,
              help="Minimum fuzzy score (0-100) for a name match.")
@click.option("--as", "as_", type=click.Choice(["auto", "address", "name", "email", "website"]), default="auto",
              show_default=True, help="How to read QUERY (auto: an address if it is valid on some chain).")
@click.option("--all", "all_", is_flag=True,
              help="Screen every stored organization / e-mail / website fact and store name_match facts.")
@output_options
@click.pass_obj
def screen_command(env: Any, queries: tuple[str, ...], threshold: float, as_: str, all_: bool,
                   fmt: str | None) -> None:
    """Is this wallet or party on a list? Answers with each match and its evidence.

    \b
    Examples:
      tracer screen 0x8589427373D6D84E98730D7795D8f6f8731FDA16     # exact wallet match
      tracer screen "Sino Bright Import & Export Co"                 # fuzzy name match
      tracer screen --as website https://www.gicdf.org
      tracer screen --all                                            # screen stored providers
    Evidence: list, snapshot, uid, programme, score (100 = exact) and the stored payload hash.
    Exit code 0 with matches printed, 1 when nothing matched (stderr names each loaded source and
    its newest snapshot: what the answer covers), 2 on bad usage.
    """
    store = env.store
    if all_:
        n = screen_stored_facts(store, threshold)
        click.echo(f"stored {n} name_match fact(s) (threshold {threshold:g})")
        return
    if not queries:
        raise click.UsageError("give an ADDRESS or NAME (or --all)")
    sc: NameScreener | None = None
    snaps = snapshots(store)
    rows: list[dict[str, Any]] = []
    for q in queries:
        kind = as_
        if kind == "auto":
            problem = address_problem(q)
            if problem:
                raise click.UsageError(f"{problem} (use --as name to screen it as a name)")
            kind = "address" if looks_like_address(q) else ("email" if "@" in q else "name")
        if kind == "address":
            if not candidate_wallet_ids(q):
                raise click.UsageError(f"{q!r} is not a valid address of any known chain")
            rows += screen_address(store, q)
            continue
        sc = sc or screener(store, threshold)
        rows += [match_row(m, snaps) for m in sc.screen(q, kind)]
    emit(rows, fmt, columns=["query", "kind", "match", "score", "list", "entity", "label", "uid", "programme",
                             "snapshot", "delisted", "source", "raw_sha256"])
    if not rows:  # what was screened against, and as of when: a miss on stale or missing lists is no clearance
        if snaps:
            against = ", ".join(f"{src} {snap[:10]}" for src, snap in sorted(snaps.items()))
            names = f" (names at score {threshold:g} or more)" if sc is not None else ""
            hint = f"{names} in the loaded sources, newest snapshots: {against}"
        else:
            hint = " (no list is loaded yet: run `tracer sync lists_ofac lists_csl lists_un`)"
        click.echo(one_line(f"no match{hint}"), err=True)
        sys.exit(1)
