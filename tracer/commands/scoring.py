"""``tracer score``, ``tracer rules``, ``tracer explain`` and ``tracer simulate``: thin shells over
:mod:`tracer.scoring.run`, :mod:`tracer.scoring.rules` and :mod:`tracer.simulate`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from tracer.cli import Env, pass_env
from tracer.explain import explain_data, fact_line
from tracer.output import emit, one_line, output_options


@click.command("score")
@click.option("--top", default=20, show_default=True, help="How many top flags to print.")
@click.option("--min-level", type=click.Choice(["low", "medium", "high", "severe"]), default="low",
              show_default=True, help="Print only flags at this level or above.")
@click.option("--dry-run", is_flag=True, help="Compute and print, but do not write flags/evidence.")
@click.option("--include-dismissed", is_flag=True,
              help="Also print flags an analyst dismissed whose evidence has not changed since (tracer judge).")
@click.option("--engine", type=click.Choice(["networkx", "spark"]), default=None,
              help="Where scoring runs: networkx (in memory, the default) or spark (Apache Spark jobs: "
                   "the graph-wide stages, then the rules per actor; for stores whose payment graph does "
                   "not fit one machine; needs Java and pip install 'tracer[spark]').  Default: [scoring] "
                   "engine, else networkx.")
@click.option("--spark-master", default=None, metavar="URL",
              help="Spark master for --engine spark: local[*] (default: this machine), spark://host:7077, "
                   "yarn, k8s://...  Default: [scoring] spark_master.")
@output_options
@pass_env
def score_command(env: Env, top: int, min_level: str, dry_run: bool, include_dismissed: bool, engine: str | None,
                  spark_master: str | None, fmt: str | None) -> None:
    """Score every renter and provider in the store and write the flags and evidence tables.

    \b
    Builds the graph from the store, clusters wallets one actor controls, traces exposure to
    listed wallets (hop by hop, with the share of funds), sums rented compute per cluster,
    runs every rule (see `tracer rules`) and combines them into a score and a level.
    \b
    Examples:
      tracer score                       # write flags + evidence, print the top 20
      tracer score --min-level high --csv
      tracer score --dry-run --json      # compute only
      tracer score --engine spark        # same flags, computed on Spark (local[*])
      tracer score --engine spark --spark-master spark://head:7077
    Thresholds: [scoring] keys in the config file (hops, name_match_min, utilisation, ...);
    engine settings: [scoring] engine, spark_master, spark_conf, spark_workdir (docs/scale.md).
    Judgements (tracer judge) are kept: a dismissed flag whose evidence is unchanged is left out of
    the list (the count is printed); when its evidence changed, the judgement is stale and it is back.
    """
    from tracer.scoring.run import params_from_config, score_store
    from tracer.scoring.spark_engine import engine_from_config

    params = params_from_config(env.cfg)
    eng = engine_from_config(env.cfg, engine, spark_master)
    if spark_master and eng.name != "spark":
        raise click.UsageError("--spark-master needs --engine spark (or [scoring] engine = \"spark\")")
    progress = None
    if eng.name == "spark" and not env.quiet:  # minutes on a big store: say which stage runs
        import time

        t0 = time.monotonic()

        def progress(stage: str) -> None:
            click.echo(f"  spark engine: {stage} ({time.monotonic() - t0:.0f}s)", err=True)

    try:
        if dry_run:
            res = score_store(env.store, params, write=False, engine=eng, progress=progress)
        else:
            with env.store.lock("score"):
                res = score_store(env.store, params, engine=eng, progress=progress)
    except RuntimeError as e:
        from graphs.spark.frames import SparkUnavailable

        if not isinstance(e, SparkUnavailable):
            raise
        click.echo(f"error: {one_line(str(e))}", err=True)
        sys.exit(1)
    from tracer.judgements import latest_states

    order = ["low", "medium", "high", "severe"]
    judged = latest_states(env.store, evidence=res.evidence)
    shown = [f for f in res.flags if f["level"] in order[order.index(min_level):]]
    dismissed = [f for f in shown if judged.get(f["subject"], {}).get("suppressed")]
    if not include_dismissed:
        shown = [f for f in shown if not judged.get(f["subject"], {}).get("suppressed")]
    rows = [{"subject": f["subject"], "score": f["score"], "level": f["level"],
             "reasons": "; ".join(r["detail"] for r in f["reasons"]),
             "judgement": _judgement_cell(judged.get(f["subject"]))} for f in shown][:top]
    if not env.quiet or fmt:
        emit(rows, fmt, columns=["subject", "score", "level", "reasons", "judgement"],
             title=f"{len(res.flags)} flags, {len(res.evidence)} evidence ({res.timings.get('total', 0):.1f}s)")
    if dismissed and not include_dismissed:  # stderr, so --json/--csv stay data; said even with -q
        click.echo(f"left out {len(dismissed)} dismissed flag(s) whose evidence is unchanged since the judgement "
                   "(--include-dismissed shows them; tracer judgements lists who and why)", err=True)
    flagged = {f["subject"] for f in res.flags}
    stale = sorted(s for s, j in judged.items() if j["evidence_changed"] and s in flagged)
    if stale and not env.quiet:
        click.echo(f"{len(stale)} judgement(s) stale, evidence changed since: {', '.join(stale[:5])}"
                   f"{' ...' if len(stale) > 5 else ''} (tracer explain ID)", err=True)
    if not env.quiet:
        by_level: dict[str, int] = {}
        for f in res.flags:
            by_level[f["level"]] = by_level.get(f["level"], 0) + 1
        levels = ", ".join(f"{k} {v}" for k, v in sorted(by_level.items()))
        click.echo(f"{'computed' if dry_run else 'wrote'} {len(res.flags)} flags"
                   f"{f' ({levels})' if levels else ''}; "
                   f"{res.stats['clusters']} clusters, {res.stats['hubs']} hubs, "
                   f"{res.stats['hub_stops']} exposure walks stopped at hubs", err=True)
        if not dry_run:
            _echo_since_previous(env.store.scoring_run_rows(1))
        if eng.name == "spark":
            ss = res.stats
            click.echo(f"spark engine ({ss.get('spark_master')}): {ss.get('edges', 0):,} graph edges; the driver held "
                       f"{ss.get('driver_edges', 0):,} (market side and {ss.get('relevant_wallets', 0):,} relevant "
                       f"wallets); rules on {ss.get('rule_subjects', 0):,} subjects in {ss.get('rule_bundles', 0):,} actor "
                       f"bundles ({ss.get('rule_bytes', 0) / 1e6:.1f} MB); " + ", ".join(f"{k} {v:.1f}s" for k, v in res.timings.items() if k != "total"),
                       err=True)
        stops = res.context.exposure.stops if res.context else []
        for st in stops[:10]:
            click.echo(f"  walk from listed {st.source} stopped at {st.hub} ({st.reason}) at hop {st.hop}, "
                       f"via {st.via} [{st.ref}]", err=True)
        if len(stops) > 10:
            click.echo(f"  ... and {len(stops) - 10} more hub stops", err=True)


def _echo_since_previous(logged: list[dict[str, Any]]) -> None:
    """One stderr line: what this scoring changed against the previous one (``tracer changes`` lists it)."""
    if not logged or logged[0]["previous_at"] is None:
        return
    r = logged[0]
    click.echo(f"since the previous scoring ({r['previous_at']}): {r['n_new']} new, {r['n_left']} no longer "
               f"flagged, {r['n_up']} level up, {r['n_down']} level down (tracer changes lists them)", err=True)


def _judgement_cell(state: dict[str, Any] | None) -> str:
    """``dismissed by alice`` / ``confirmed by bob (stale: evidence changed)`` / empty."""
    if not state:
        return ""
    return f"{state['verdict']} by {state['analyst']}" + (" (stale: evidence changed)"
                                                          if state["evidence_changed"] else "")


@click.command("rules")
@click.option("--markdown", is_flag=True, help="Markdown (the docs/scoring.md rule table is generated this way).")
@output_options
def rules_command(markdown: bool, fmt: str | None) -> None:
    """List the scoring rules with their user-facing descriptions (from the rule docstrings).

    \b
    Examples:
      tracer rules
      tracer rules --markdown > rules.md
    """
    from tracer.scoring.combine import RULES_VERSION
    from tracer.scoring.combine import __doc__ as formula
    from tracer.scoring.rules import rules_doc

    rows = rules_doc()
    if markdown:
        click.echo(f"Rules version `{RULES_VERSION}`.\n\n| rule | kind | description |\n|---|---|---|")
        for r in rows:
            click.echo(f"| `{r['rule']}` | {r['kind']} | {r['description']} |")
        click.echo("\nCombination:\n\n" + "\n".join("    " + line if line.strip() else ""
                                                   for line in (formula or "").strip().splitlines()))
        return
    emit(rows, fmt, columns=["rule", "kind", "description"], title=f"rules {RULES_VERSION}")


@click.command("explain")
@click.argument("ident", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Everything as one JSON object.")
@pass_env
def explain_command(env: Env, ident: str, as_json: bool) -> None:
    """Why is ID flagged: every piece of evidence, its path, and where each fact came from.

    \b
    ID is a flagged subject (wallet:..., provider:...) or an evidence id (ev:...).
    Under the score: the subject's name and every list it is on.
    For each fact on the path: the stored edge/observation, its source, and the raw payload
    (sha256, URL, stream, fetch time) it was parsed from.
    \b
    Examples:
      tracer explain wallet:evm:0x1234...
      tracer explain provider:akash:akash1... --json
    """
    try:
        ident.encode("utf-8")
    except UnicodeEncodeError:  # argv bytes that are not UTF-8 (lone surrogates SQLite cannot encode)
        click.echo(f"error: ID {one_line(ident)} is not valid UTF-8 text (check the terminal's encoding)", err=True)
        sys.exit(2)
    from tracer.changes import history_line, level_history

    data = explain_data(env.store, ident)
    if data is None:
        from tracer.commands.common import refuse_unknown_id

        refuse_unknown_id(env.store, ident)  # an id the store does not hold: a usage error (exit 2)
        history = level_history(env.store, ident)
        if history:  # flagged once, no longer: say when it left and what it was
            if as_json:
                click.echo(json.dumps({"subject": ident, "flag": None, "evidence": [], "level_history": history},
                                      indent=2, default=str))
                return
            click.echo(f"{ident}: no flag in the latest scoring\n  level history: {history_line(history)}")
            return
        click.echo(f"error: {one_line(ident)} has no flag or evidence (run `tracer score` first?)", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
        return
    f = data["flag"]
    head = f"{data['subject']}: " + (f"score {f['score']} ({f['level']}), rules {f['rules_version']}, "
                                     f"computed {f['computed_at']}" if f else "no flag (score 0)")
    click.echo(head)
    if data.get("name"):
        click.echo(f"  name: {one_line(data['name'])}")
    if data.get("listed"):
        click.echo(f"  listed: {one_line(data['listed'])}")
    if f and f.get("cluster"):
        click.echo(f"  actor cluster {f['cluster']}")
    if data.get("level_history"):
        click.echo(f"  level history: {history_line(data['level_history'])}")
    _echo_judgement(data)
    for e in data["evidence"]:
        click.echo(f"\n[{e['rule']}] {e['score']}: {e['detail']}")
        if e["path"]:
            click.echo("  path: " + " -> ".join(e["path"]))
        for fact in e["facts"]:
            if fact.get("missing"):
                click.echo(f"  - {fact['id']}: NOT IN STORE")
                continue
            if fact["table"] == "edges":
                what = fact_line(fact)
            elif fact["table"] == "observations":
                what = f"{fact['predicate']} {fact['subject']} = {fact['value']} (confidence {fact['confidence']})"
            else:
                what = f"entity {fact['kind']} {fact['id']}"
            click.echo(f"  - {fact['id']}: {what}")
            click.echo(f"      source {fact.get('source')}; raw {fact.get('raw_sha256')} "
                       f"{fact.get('raw_url') or ''} ({fact.get('raw_stream') or '?'}, {fact.get('raw_fetched_at') or '?'})")
    if data.get("notes"):
        click.echo(f"\nnotes ({len(data['notes'])}):")
        for n in data["notes"]:
            lines = str(n["text"]).splitlines() or [""]
            click.echo(f"  {n['created_at']} {one_line(n['analyst'])}: {one_line(lines[0])}")
            for more in lines[1:]:
                click.echo(f"      {one_line(more)}")


def _echo_judgement(data: dict[str, Any]) -> None:
    """The newest judgement (who, when, why) and whether the evidence changed since it was made."""
    from tracer.judgements import summary

    j = data.get("judgement")
    if not j:
        return
    click.echo(f"  judgement: {one_line(summary(j))}")
    if j["evidence_changed"]:
        click.echo(f"    the flag's evidence is not what {one_line(j['analyst'])} judged (digest "
                   f"{j['evidence_digest']}): the judgement is stale and the flag is back on every list")
    elif j["suppressed"]:
        click.echo("    dismissed: left out of watch-lists and tracer score's list until the evidence changes")
    if len(data.get("judgements") or []) > 1:
        click.echo(f"    {len(data['judgements']) - 1} earlier judgement(s): tracer judgements {data['subject']}")


@click.command("changes")
@click.option("--runs", default=3, show_default=True, help="How many of the latest runs to list.")
@click.option("--json", "as_json", is_flag=True, help="Everything as one JSON object (the /api/changes answer).")
@pass_env
def changes_command(env: Env, runs: int, as_json: bool) -> None:
    """What changed since the previous scoring: new flags, flags gone, level up or down.

    \b
    Each scoring run logs the flags that entered, left or moved level against the run before it
    (tracer score prints the counts); this lists them, most severe first, with the names of listed
    parties, then judgements whose evidence changed since they were made and the latest runs.
    \b
    Examples:
      tracer changes
      tracer changes --json | jq '.level_up'
    """
    from tracer.changes import changes
    from tracer.queries import QueryError

    try:
        c = changes(env.store, runs)
    except QueryError as e:
        raise click.UsageError(str(e)) from None
    if as_json:
        click.echo(json.dumps(c, indent=2, default=str))
        return
    for line in changes_lines(c):
        click.echo(line)


def _who(f: dict[str, Any]) -> str:
    return one_line(f["subject"]) + (f" ({one_line(f['name'])})" if f.get("name") else "")


def changes_lines(c: dict[str, Any]) -> list[str]:
    """``tracer changes`` as sentences: the comparison, then each list under its own heading."""
    if c["scored_at"] is None:
        return [str(c["why_empty"])]
    n = c["counts"]
    if not c["previous"]:
        head = f"latest scoring {c['scored_at']}: {c['why_empty']} ({c['first_run_flags']} flags)"
    else:
        since = f" of {c['previous_at']}" if c["previous_at"] else ""
        head = (f"latest scoring {c['scored_at']}, against the previous one{since}: {n['new']} new, "
                f"{n['left']} no longer flagged, {n['up']} level up, {n['down']} level down")
    out = [head]
    if c["previous"] and not c["tracked"]:
        out.append("  (this store was last scored before tracer logged changes: flags that left or moved level "
                   "are listed from the next tracer score on)")
    sections = [
        ("new flags", c["new_flags"], "new", lambda f: f"  {f['level']} {f['score']}  {_who(f)}"
         + (f": {one_line(f['reasons'][0])}" if f.get("reasons") else "")),
        ("no longer flagged", c["left_flags"], "left", lambda f: f"  {_who(f)}: was {f['level']} ({f['score']})"),
        ("level up", c["level_up"], "up", lambda f: f"  {_who(f)}: {f['old_level']} -> {f['level']} "
         f"({f['old_score']} -> {f['score']})"),
        ("level down", c["level_down"], "down", lambda f: f"  {_who(f)}: {f['old_level']} -> {f['level']} "
         f"({f['old_score']} -> {f['score']})"),
    ]
    for title, rows, key, line in sections:
        if rows:
            more = f", the first {len(rows)} shown" if n[key] > len(rows) else ""
            out.append(f"{title} ({n[key]}{more}):")
            out += [line(f) for f in rows]
    if c["stale_judgements"]:
        out.append(f"judgements whose evidence changed since they were made ({len(c['stale_judgements'])}):")
        out += [f"  {one_line(j['subject'])}: {one_line(j['verdict'])} by {one_line(j['analyst'])} at "
                f"{j['created_at']}" for j in c["stale_judgements"]]
    if c["previous"] and c["why_empty"]:
        out.append(str(c["why_empty"]))
    if c["runs"]:
        out.append("latest runs:")
        out += [f"  {r['command'] or '?'} {r['started_at'] or ''}: {r['status'] or '?'}"
                + (f", {r['records']} records" if r.get("records") is not None else "")
                + (f" ({one_line(r['error'])})" if r.get("error") else "") for r in c["runs"]]
    return out


@click.command("simulate")
@click.option("--seed", default="tracer-sim", show_default=True, help="World seed (same seed, same world).")
@click.option("--background", default=200, show_default=True, help="Background wallets with no signal.")
@click.option("--truth", "truth_path", type=click.Path(dir_okay=False), default=None,
              help="Write the planted ground truth (positives, negatives) as JSON here.")
@click.option("--score/--no-score", "do_score", default=True, show_default=True,
              help="Score the store afterwards and print precision and recall.")
@click.option("--force", is_flag=True, help="Write into a store that already holds synced (non-simulated) data.")
@click.option("--via-connectors", is_flag=True,
              help="Publish the EVM listed wallets as an OFAC list on 127.0.0.1 and sync it through the "
                   "real ofac_addresses connector (instead of writing their rows).")
@pass_env
def simulate_command(env: Env, seed: str, background: int, truth_path: str | None, do_score: bool,
                     force: bool, via_connectors: bool) -> None:
    """Write a scenario world with planted patterns and decoys into the store (for tests and demos).

    \b
    Planted: a listed renter, renters funded 1-3 hops from a listed wallet, a Sybil cluster
    renting H100s under every single threshold, a provider in a D:5 country offering 3A090.a
    GPUs, an Entity-List name match, clustering by manifest hash, escrow and deposit address.
    Decoys: renters behind exchange hubs, RTX 4080 renters, a listed wallet 6 hops away
    through an exchange, one large lawful renter, a D:5 provider with only RTX 4080s.
    \b
    Examples:
      tracer --db sim.db simulate --truth truth.json
      tracer --db sim2.db simulate --via-connectors   # lists through the real OFAC connector
      tracer --db sim.db explain wallet:evm:0x...
    """
    from tracer.scoring import tables
    from tracer.scoring.run import params_from_config, score_store
    from tracer.simulate import SOURCE, quality, simulate

    try:
        seed.encode("utf-8")
    except UnicodeEncodeError:  # argv bytes that are not UTF-8: the seed is hashed and stored as text
        click.echo(f"error: seed {one_line(seed)} is not valid UTF-8 text (check the terminal's encoding)", err=True)
        sys.exit(2)
    if truth_path and not Path(truth_path).absolute().parent.is_dir():  # before the world is written
        raise click.BadParameter(f"folder {one_line(Path(truth_path).parent)} does not exist",
                                 param_hint="'--truth'")
    if not force and tables.has_other_sources(env.store, SOURCE):
        raise click.UsageError(f"{env.store.path} holds synced data; simulate into its own file "
                               "(tracer --db sim.db simulate) or pass --force")
    import contextlib

    # The connector sync takes the store lock itself; the plain writer holds it here.
    with contextlib.nullcontext() if via_connectors else env.store.lock("simulate"):
        truth = simulate(env.store, seed, background, via_connectors)
        if truth_path:
            try:
                Path(truth_path).write_text(json.dumps(truth.to_json(), indent=2, sort_keys=True))
            except OSError as e:  # a permission, a full disk: the simulated world itself is stored
                click.echo(f"error: cannot write {one_line(truth_path)}: {e.strerror or e}", err=True)
                sys.exit(1)
        click.echo(f"simulated world {seed!r}: {len(truth.positives)} planted positives, "
                   f"{len(truth.negatives)} decoys/negatives in {env.store.path}")
        if do_score:
            res = score_store(env.store, params_from_config(env.cfg))
            q = quality(res.flags, truth)
            click.echo(f"flags >= medium: precision {q['precision']:.2f}, recall {q['recall']:.2f} "
                       f"({q['tp']} true, {len(q['fp'])} false positives, {len(q['fn'])} missed)")


@click.command("flags")
@click.option("--min-level", type=click.Choice(["low", "medium", "high", "severe"]), default="medium",
              show_default=True, help="List flags at this level or above (the counts cover every level).")
@click.option("--limit", default=100, show_default=True, help="At most this many subjects.")
@output_options
@pass_env
def flags_command(env: Env, min_level: str, limit: int, fmt: str | None) -> None:
    """The flagged subjects of the latest scoring, severe first: the case queue.

    \b
    The page's landing view in the terminal: how many subjects each level holds, then each flagged
    subject with its name or listing, its strongest reason, `new` when the latest scoring flagged it
    first, and the newest analyst verdict (stale when the evidence changed since).  Reads only.
    \b
    Examples:
      tracer flags                       # medium and above
      tracer flags --min-level severe --csv
      tracer flags --json | jq '.[0]'
    Then: tracer explain ID (why), tracer judge ID (your verdict), tracer changes (since last run).
    """
    from tracer.queries import QueryError, flags_overview

    try:
        data = flags_overview(env.store, min_level, limit)
    except QueryError as e:
        raise click.UsageError(str(e)) from None
    rows = [{"level": f["level"], "score": f["score"], "subject": f["subject"], "name": f["name"] or "",
             "new": "new" if f["new"] else "",
             "judgement": "" if not f["judgement"] else f["judgement"]["verdict"]
             + (" (stale)" if f["judgement"].get("evidence_changed") else ""),
             "reason": (f["reasons"] or [""])[0]} for f in data["flags"]]
    if fmt in ("json", "csv") or (fmt is None and not sys.stdout.isatty()):
        emit(rows, fmt, columns=list(rows[0]) if rows else ["level", "score", "subject", "name", "new", "judgement",
                                                              "reason"])
        return
    counts = ", ".join(f"{data['counts'].get(lv, 0)} {lv}" for lv in ("severe", "high", "medium", "low"))
    click.echo(f"flagged by the latest scoring: {counts}")
    if not rows:
        click.echo(str(data["why_empty"]))
        return
    emit(rows, "table", table_columns=["level", "subject", "name", "new", "judgement", "reason"])
    if data["truncated"]:
        click.echo(f"(the first {len(rows)} shown: --limit N for more)")
