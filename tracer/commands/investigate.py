"""Investigator commands: find, neighbours, path, funding, exposure, cluster, timeline.

Thin shells over ``tracer.queries`` (the same functions the HTTP API serves), each with
``--json --csv --table`` output.  A bad id or parameter, an id the store does not know and an edge
kind the store does not hold are each one line and exit code 2 (a usage error, never an empty
answer that reads as "no risk").
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click

from tracer import queries as q
from tracer.checks import known_kinds, usage_exit_code
from tracer.output import emit, one_line, output_options

EDGE_COLUMNS = ["hop", "kind", "src", "src_name", "dst", "dst_name", "display", "value", "amount", "asset", "time",
                "tx", "id"]
EDGE_TABLE = ["hop", "kind", "src", "src_name", "dst", "dst_name", "display", "time", "id"]


def _run(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except q.QueryError as e:
        click.echo(f"error: {one_line(e)}", err=True)
        sys.exit(usage_exit_code(e))


def _pass_env(f: Callable[..., Any]) -> Callable[..., Any]:
    from tracer.cli import pass_env

    return pass_env(f)


@click.command("find")
@click.argument("text")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@output_options
@_pass_env
def find_command(env: Any, text: str, limit: int, fmt: str | None) -> None:
    """Find nodes by address, name or id: the usual first step of a case.

    \b
    Examples:
      tracer find "Kowloon"                       # label or observed organisation name
      tracer find 0x8589427373d6d84e98730d7795d8f6f8731fda16
      tracer find akash1...                       # provider or tenant address
    Nothing found: stderr says what was searched (exit 0; the formats print no rows).
    """
    rows = _run(lambda: q.find(env.store, text, limit))
    emit(rows, fmt, columns=["id", "kind", "label", "level", "score", "match"])
    if not rows:  # an empty answer says what was searched, so it is not read as "not in any source"
        click.echo(one_line(f"nothing matches {text.strip()!r}: find looks at whole ids and addresses, part of a "
                            "label or an observed value (names, tags; any case) and part of an id (6 characters "
                            "or more)"), err=True)


@click.command("neighbours")
@click.argument("node_id", metavar="ID")
@click.option("--depth", type=click.IntRange(1, q.MAX_DEPTH), default=1, show_default=True,
              help="Hops to expand (hubs such as exchanges are shown but never expanded).")
@click.option("--kind", "kinds", multiple=True, help="Follow only these edge kinds (repeatable): paid, rented... A kind the store does not hold is an "
                   "error that lists its kinds.")
@click.option("--direction", type=click.Choice(["both", "out", "in"]), default="both", show_default=True)
@click.option("--max-nodes", type=click.IntRange(1, q.MAX_NODES), default=300, show_default=True)
@output_options
@_pass_env
def neighbours_command(env: Any, node_id: str, depth: int, kinds: tuple[str, ...], direction: str,
                       max_nodes: int, fmt: str | None) -> None:
    """Edges around a node, hop by hop, with exact amounts.

    \b
    Examples:
      tracer neighbours wallet:evm:0xabc... --depth 2
      tracer neighbours wallet:evm:0xabc... --kind paid --direction in --csv
    No edge found: stderr says so, with the filters that applied.
    """
    r = _run(lambda: q.neighbours(env.store, node_id, depth, known_kinds(env.store, kinds), direction, max_nodes))
    hubs = [n for n in r["nodes"] if n.get("hub")]
    title = f"{len(r['nodes'])} nodes, {len(r['edges'])} edges" + (" (truncated)" if r["truncated"] else "")
    if hubs:
        title += "; hubs not expanded: " + ", ".join(f"{n['id']} ({n['hub']})" for n in hubs)
    emit(r["edges"], fmt, columns=EDGE_COLUMNS, title=title, table_columns=EDGE_TABLE)
    if not r["edges"]:
        click.echo(one_line(q.no_edges_note(r["start"], kinds, direction)), err=True)


@click.command("path")
@click.argument("a", metavar="FROM")
@click.argument("b", metavar="TO")
@click.option("--max-depth", type=click.IntRange(1, q.MAX_HOPS), default=6, show_default=True)
@click.option("--kind", "kinds", multiple=True, help="Follow only these edge kinds (repeatable).")
@output_options
@_pass_env
def path_command(env: Any, a: str, b: str, max_depth: int, kinds: tuple[str, ...], fmt: str | None) -> None:
    """The shortest chain of edges between two nodes, not through exchanges or bridges.

    \b
    Example:
      tracer path wallet:evm:0xfunder... provider:akash:akash1...
    Exits 1 when no path exists within --max-depth.
    """
    rows = _run(lambda: q.path(env.store, a, b, max_depth, known_kinds(env.store, kinds)))
    emit(rows, fmt, columns=EDGE_COLUMNS, title=f"path {a} -> {b}: {len(rows)} hops", table_columns=EDGE_TABLE)
    if not rows:
        click.echo(f"no path within {max_depth} hops (hubs are not crossed)", err=True)
        sys.exit(1)


@click.command("funding")
@click.argument("node_id", metavar="ID")
@click.option("--hops", type=click.IntRange(1, q.MAX_HOPS), default=3, show_default=True)
@output_options
@_pass_env
def funding_command(env: Any, node_id: str, hops: int, fmt: str | None) -> None:
    """Who funded a wallet, hop by hop back, with exact summed amounts per asset.

    \b
    Example:
      tracer funding wallet:evm:0xabc... --hops 3 --table
    Hubs (exchanges, bridges) are listed with their tag but not walked through. No funder found:
    stderr says why (not a wallet, or no stored payment into it).
    """
    rows = _run(lambda: q.funding(env.store, node_id, hops))
    emit(rows, fmt, columns=["hop", "funder", "label", "level", "listed", "via", "display", "amount", "amount_base",
                             "asset", "payments", "first_time", "hub"],
         table_columns=["hop", "funder", "label", "level", "listed", "via", "display", "payments", "first_time", "hub"])
    if not rows:
        click.echo(one_line(_run(lambda: q.no_funding_note(env.store, q.require(env.store, node_id)))), err=True)


@click.command("exposure")
@click.argument("node_id", metavar="ID")
@click.option("--hops", type=click.IntRange(1, q.MAX_HOPS), default=3, show_default=True)
@output_options
@_pass_env
def exposure_command(env: Any, node_id: str, hops: int, fmt: str | None) -> None:
    """Sanctioned, listed or high-flagged wallets within N payments (in and out), with the path.

    \b
    Example:
      tracer exposure wallet:evm:0xabc... --hops 3
    Direct counterparties show their share of the subject's volume per asset. A subject that is
    itself listed, and an empty answer (how far it looked, where it stopped), are said on stderr.
    """
    r = _run(lambda: q.exposure(env.store, node_id, hops))
    title = f"exposure of {r['subject']} within {hops} hops"
    if r["hubs"]:
        title += "; stopped at: " + ", ".join(f"{h['id']} ({h['why']})" for h in r["hubs"])
    emit(r["hits"], fmt, columns=["hop", "id", "name", "direction", "reason", "share", "path"], title=title)
    for note in r["notes"]:  # a listed subject, an empty answer: never read as "no risk"
        click.echo(one_line(note), err=True)


@click.command("cluster")
@click.argument("node_id", metavar="ID")
@click.option("--max-size", type=click.IntRange(1, q.MAX_NODES), default=500, show_default=True)
@output_options
@_pass_env
def cluster_command(env: Any, node_id: str, max_size: int, fmt: str | None) -> None:
    """The actor cluster of a node: every wallet scoring linked to it as the same actor, and why.

    Members with their flag level and listing; each link in words (the heuristic, what it saw,
    its strength). --json prints the whole answer (members, links with refs, note), --csv the
    members. Scoring keeps the clusters that hold a flagged subject.

    \b
    Example:
      tracer cluster wallet:evm:0xabc...
    """
    r = _run(lambda: q.cluster(env.store, node_id, max_size))
    if fmt == "json" or (fmt is None and not sys.stdout.isatty()):
        click.echo(json.dumps(r, indent=2, default=str))
        return
    columns = ["hop", "id", "label", "level", "score", "listed", "via"]
    if fmt == "csv":
        emit(r["members"], fmt, columns=columns)
        return
    click.echo(one_line(cluster_summary(r)))
    if len(r["members"]) > 1:
        emit(r["members"], "table", columns=columns)
    if r["links"]:
        click.echo(f"links ({len(r['links'])}):")
        for lk in r["links"]:
            refs = f"; facts: {', '.join(lk['refs'][:3])}{' ...' if len(lk['refs']) > 3 else ''}" if lk["refs"] else ""
            click.echo("  " + one_line(lk["sentence"] + refs))


def cluster_summary(r: dict[str, Any]) -> str:
    """The first line of ``tracer cluster``: whose cluster, how many members and links, or why none."""
    if len(r["members"]) <= 1:
        return f"{r['subject']}: {r['note']}"
    listed = sum(1 for m in r["members"] if m.get("listed"))
    flagged = sum(1 for m in r["members"] if m.get("level"))
    cut = " (cut at --max-size)" if r["truncated"] else ""
    text = (f"actor cluster {r['cluster'] or '(same_actor links)'} of {r['subject']}: {len(r['members'])} members "
            f"({flagged} flagged, {listed} listed), {len(r['links'])} links{cut}")
    return text + (f"; {r['note']}" if r["note"] else "")


@click.command("timeline")
@click.argument("node_id", metavar="ID")
@click.option("--limit", type=click.IntRange(1, 5000), default=500, show_default=True)
@output_options
@_pass_env
def timeline_command(env: Any, node_id: str, limit: int, fmt: str | None) -> None:
    """Payments, leases and facts about a node in time order.

    \b
    Example:
      tracer timeline wallet:evm:0xabc... --csv > case-timeline.csv
    """
    rows = _run(lambda: q.timeline(env.store, node_id, limit))
    emit(rows, fmt, columns=["time", "event", "direction", "other", "other_name", "display", "amount", "amount_base",
                             "asset", "tx", "ref"],
         table_columns=["time", "event", "direction", "other", "other_name", "display", "ref"])


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind. Anything but 127.0.0.1/localhost/::1 requires --token.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True)
@click.option("--token", envvar="TRACER_SERVE_TOKEN", default=None,
              help="Bearer token required on /api (also TRACER_SERVE_TOKEN); at least 16 characters.")
@click.option("--allow-judgements", is_flag=True,
              help="Let the page and API record analyst judgements and case notes (POST /api/judgements, "
                   "/api/notes); facts stay read-only. Without it those requests are refused (403).")
@click.pass_obj
def serve_command(env: Any, host: str, port: int, token: str | None, allow_judgements: bool) -> None:
    """Serve the queries as a read-only JSON API and the graph web page.

    \b
    Examples:
      tracer serve                          # http://127.0.0.1:8765/  (page), /openapi.json (API)
      tracer --db case.db serve --port 9000
      TRACER_SERVE_TOKEN=$(openssl rand -hex 16) tracer serve --host 0.0.0.0
    With a token, open the page as http://HOST:PORT/#token=<token>; API clients send
    'Authorization: Bearer <token>'. The database is opened read-only; with --allow-judgements
    a second connection records judgements and notes only (tracer serve --allow-judgements).
    """
    import asyncio

    from tracer.server import ServeError, serve_forever

    def announce(base: str) -> None:
        mode = "read-only, judgements and notes recorded" if allow_judgements else "read-only"
        click.echo(f"serving {base}/ (API: {base}/openapi.json), {mode} {env.cfg['db']}; Ctrl-C stops")

    try:
        asyncio.run(serve_forever(env.cfg["db"], host, port, token, announce, allow_judgements))
    except ServeError as e:
        click.echo(f"error: {one_line(e)}", err=True)
        sys.exit(2)
    except OSError as e:
        click.echo(f"error: cannot listen on {host}:{port}: {e.strerror or e}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("stopped")
