"""The ``tracer`` command line: thin commands over library functions.

Exit codes: 0 ok, 1 failure (a sync stream failed, an endpoint answered an error), 2 usage
(bad option, bad config, bad input).  User errors print one line, never a traceback; set
``TRACER_DEBUG=1`` to see tracebacks of unexpected errors.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import signal
import sqlite3
import sys
from gettext import gettext
from typing import TYPE_CHECKING, Any

import click

from connectors.errors import ConfigError, ConnectorError
from tracer.entry import startup_over
from tracer.output import emit, one_line, output_options
from tracer.store import LockedError, Opening, StoreError, store_fault

if TYPE_CHECKING:
    from tracer.store import StoreBackend

# Startup is kept lean (tests/test_startup.py, bench/startup.py): `tracer --help` imports click and
# little else, and `tracer sync` only what its connectors need.  asyncio, the config schemas, the
# store backends and every command module are imported where they are used.

# Commands living in other modules, loaded only when used (fast --help, independent modules).
LAZY_COMMANDS: dict[str, str] = {
    "demo": "tracer.demo:demo_command",
    "lists": "tracer.commands.lists:lists_command",
    "screen": "tracer.commands.lists:screen_command",
    "find": "tracer.commands.investigate:find_command",
    "neighbours": "tracer.commands.investigate:neighbours_command",
    "path": "tracer.commands.investigate:path_command",
    "funding": "tracer.commands.investigate:funding_command",
    "exposure": "tracer.commands.investigate:exposure_command",
    "cluster": "tracer.commands.investigate:cluster_command",
    "timeline": "tracer.commands.investigate:timeline_command",
    "serve": "tracer.commands.investigate:serve_command",
    "export": "tracer.commands.export:export_group",
    "diff": "tracer.commands.export:diff_command",
    "run": "tracer.commands.run:run_command",
    "score": "tracer.commands.scoring:score_command",
    "rules": "tracer.commands.scoring:rules_command",
    "explain": "tracer.commands.scoring:explain_command",
    "changes": "tracer.commands.scoring:changes_command",
    "flags": "tracer.commands.scoring:flags_command",
    "simulate": "tracer.commands.scoring:simulate_command",
    "config": "tracer.commands.config:config_group",
    "migrate": "tracer.commands.migrate:migrate_command",
    "judge": "tracer.commands.cases:judge_command",
    "judgements": "tracer.commands.cases:judgements_command",
    "note": "tracer.commands.cases:note_command",
    "case": "tracer.commands.cases:case_command",
}

# What `tracer --help` lists for each lazy command: the first paragraph of its help, so listing the
# commands imports none of them (tests/test_startup.py checks each against the command itself).
LAZY_SUMMARIES: dict[str, str] = {
    "demo": "Run the main job offline on a generated world served from 127.0.0.1.",
    "lists": "Restricted-party and attribution sources in the store: snapshot date and counts.",
    "screen": "Is this wallet or party on a list? Answers with each match and its evidence.",
    "find": "Find nodes by address, name or id: the usual first step of a case.",
    "neighbours": "Edges around a node, hop by hop, with exact amounts.",
    "path": "The shortest chain of edges between two nodes, not through exchanges or bridges.",
    "funding": "Who funded a wallet, hop by hop back, with exact summed amounts per asset.",
    "exposure": "Sanctioned, listed or high-flagged wallets within N payments (in and out), with the path.",
    "cluster": "The actor cluster of a node: every wallet scoring linked to it as the same actor, and why.",
    "timeline": "Payments, leases and facts about a node in time order.",
    "serve": "Serve the queries as a read-only JSON API and the graph web page.",
    "export": "Write watch-lists (CSV, JSON Lines, FollowTheMoney), graphs for Gephi and an HTML report.",
    "diff": "Who entered, who left and whose level or score changed between two watch-lists, and why.",
    "run": "Sync due connectors, screen names, score, export and notify; once or every N.",
    "score": "Score every renter and provider in the store and write the flags and evidence tables.",
    "rules": "List the scoring rules with their user-facing descriptions (from the rule docstrings).",
    "explain": "Why is ID flagged: every piece of evidence, its path, and where each fact came from.",
    "changes": "What changed since the previous scoring: new flags, flags gone, level up or down.",
    "flags": "The flagged subjects of the latest scoring, severe first: the case queue.",
    "simulate": "Write a scenario world with planted patterns and decoys into the store (for tests and demos).",
    "config": "Show the effective configuration, or write a commented sample config file.",
    "migrate": "Copy every table of store SRC into store DST, row for row (raw payloads included).",
    "judge": "Confirm, dismiss or escalate a flag, with a reason and your name, stored with the time.",
    "judgements": "Judgement history, newest first: who judged which flag, when, why, and whether it still holds.",
    "note": "Attach a free-text case note to any node (flagged or not); shown by explain and the API.",
    "case": "Write one subject's case file: flag, evidence with provenance, judgements, notes and graph.",
}


INTERRUPTED = "interrupted: work stored so far is kept; run again to resume"


class _Context(click.Context):
    """Closing the context (the store, on_close callbacks) under Ctrl-C: one line, not "Aborted!"."""

    def close(self) -> None:
        try:
            super().close()
        except KeyboardInterrupt:
            click.echo(INTERRUPTED, err=True)
            sys.exit(130)


class TracerGroup(click.Group):
    """A click group that loads listed commands lazily and turns user errors into one line."""

    context_class = _Context

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(LAZY_COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS:
            mod, _, attr = LAZY_COMMANDS[cmd_name].partition(":")
            return getattr(importlib.import_module(mod), attr)  # type: ignore[no-any-return]
        return super().get_command(ctx, cmd_name)

    def _listed(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command as ``--help`` lists it: a lazy one is a stand-in carrying its summary."""
        if cmd_name in LAZY_COMMANDS and cmd_name in LAZY_SUMMARIES:
            return click.Command(cmd_name, help=LAZY_SUMMARIES[cmd_name])
        return self.get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # click's own listing, except that lazy commands are not imported for their one line
        commands = [(name, cmd) for name in self.list_commands(ctx)
                    for cmd in [self._listed(ctx, name)] if cmd is not None and not cmd.hidden]
        if commands:
            limit = formatter.width - 6 - max(len(name) for name, _ in commands)
            rows = [(name, cmd.get_short_help_str(limit)) for name, cmd in commands]
            with formatter.section(gettext("Commands")):
                formatter.write_dl(rows)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # A NUL cannot come from a shell (argv strings end at one) but can from a script's exec
        # call; os and SQLite then raise ValueError deep inside a command: one usage line instead.
        if ctx.parent is None and any("\x00" in a for a in args):
            raise click.UsageError("an argument contains a NUL character", ctx)
        return super().parse_args(ctx, args)

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        # Ctrl-C while click parses the arguments: the same one line as anywhere else, not click's
        # own "Aborted!" with exit 1 (its main() turns a KeyboardInterrupt it sees into that).
        try:
            return super().make_context(info_name, args, parent, **extra)
        except KeyboardInterrupt:
            click.echo(INTERRUPTED, err=True)
            sys.exit(130)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (ConfigError, LockedError) as e:
            click.echo(f"error: {one_line(e)}", err=True)
            sys.exit(2 if isinstance(e, ConfigError) else 1)
        except ConnectorError as e:
            click.echo(f"error: {one_line(e)}", err=True)
            sys.exit(1)
        except StoreError as e:  # 2 for a path that holds no store, 1 for a fault of its file or disk
            click.echo(f"error: {one_line(e)}", err=True)
            sys.exit(e.exit_code)
        except sqlite3.Error as e:  # a store fault met outside tracer.store (full disk, read-only, damaged)
            env = ctx.find_object(Env)
            fault = store_fault(e, str(env.cfg.get("db", "the store")) if env else "the store")
            if fault is None:
                raise  # an SQL error is a bug: "internal error" (TRACER_DEBUG=1 shows where)
            click.echo(f"error: {one_line(fault)}", err=True)
            sys.exit(fault.exit_code)
        except KeyboardInterrupt:
            click.echo(INTERRUPTED, err=True)
            sys.exit(130)


# Commands that create the store when its file does not exist; every other one refuses a missing
# store ("no tracer store at ...") instead of leaving an empty one behind a mistyped --db.
CREATES_STORE = frozenset({"sync", "run", "simulate", "demo"})


class Env:
    """What every command gets: the merged config and a lazily opened store."""

    def __init__(self, config_path: str | None, db: str | None, quiet: bool, create: bool = True) -> None:
        from tracer import config as cfgmod

        self.cfg = cfgmod.load(config_path)
        if db:
            self.cfg["db"] = db
        self.quiet = quiet
        self.create = create
        self._store: StoreBackend | None = None

    @property
    def store(self) -> StoreBackend:
        if self._store is None:
            self._store = self.opening().open()
        return self._store

    def opening(self) -> Opening:
        """The store as :func:`open_store` would open it, not opened yet (``tracer sync`` opens it
        while its first requests travel: :func:`tracer.pipeline.sync`)."""
        sc = self.cfg.get("store") or {}
        # store.read_only (TRACER_STORE__READ_ONLY=1): open read-only even where writable; a
        # file or folder that is not writable is opened read-only anyway (tracer.store.open_mode).
        return Opening(self.cfg["db"], keep_raw_max_bytes=int(sc.get("keep_raw_max_bytes", 2_000_000)),
                       create=self.create, read_only=bool(sc.get("read_only", False)))


pass_env = click.make_pass_decorator(Env)


@click.group(cls=TracerGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--config", "config_path", type=click.Path(dir_okay=False), envvar="TRACER_CONFIG",
              help="TOML config file (also TRACER_CONFIG). Values can be overridden with TRACER_* variables.")
@click.option("--db", type=click.Path(dir_okay=False), envvar="TRACER_DB",
              help="The store: an SQLite file or a postgresql:// URL (also TRACER_DB; default ./tracer.db).")
@click.option("-q", "--quiet", is_flag=True,
              help="Errors only: no live view (terminal) or per-stream lines (logs), no progress bars.")
@click.option("-v", "--verbose", count=True, help="Log retries and requests to stderr (-vv for debug).")
@click.version_option(package_name="tracer")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, db: str | None, quiet: bool, verbose: int) -> None:
    """tracer: follow rented GPU compute and its crypto payments to restricted parties.

    \b
    Typical session:
      tracer demo                      # offline world on loopback -> ./tracer-demo/
      tracer doctor                    # can every configured endpoint be reached?
      tracer sync                      # crawl every enabled connector, resumable
      tracer sync ofac_addresses       # one connector (or CONNECTOR.STREAM)
      tracer runs                      # history: duration, records, errors
      tracer state show                # where each stream will resume
      tracer score                     # graph, clusters, exposure -> flags with evidence
      tracer find Kowloon              # start a case from a name, address or id
      tracer explain ID                # every piece of evidence down to the raw payload
      tracer serve                     # JSON API + graph page on 127.0.0.1:8765
      tracer export watchlist -o w.csv # one row per flagged actor, sorted for diffs

    Configuration: --config FILE (TOML) and TRACER_* variables, e.g.
    TRACER_CONNECTORS__OFAC_ADDRESSES__BASE_URL=/data/lists. Secrets in URLs are never logged.
    """
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    try:
        ctx.obj = Env(config_path, db, quiet, create=ctx.invoked_subcommand in CREATES_STORE)
    except ConfigError as e:
        click.echo(f"error: {one_line(e)}", err=True)
        sys.exit(2)
    except (UnicodeDecodeError, OSError, ValueError) as e:  # the --config file cannot be read as text
        path = one_line(config_path or os.environ.get("TRACER_CONFIG"))
        if isinstance(e, UnicodeDecodeError):  # tomllib reads UTF-8 (a binary or UTF-16 file)
            click.echo(f"error: config file {path} is not UTF-8 text", err=True)
        elif isinstance(e, OSError):  # a name too long, a permission, a fifo...
            click.echo(f"error: cannot read config file {path}: {e.strerror or e}", err=True)
        elif "null" in str(e):  # open() refuses a NUL in a path
            click.echo(f"error: config file name {path} contains a NUL character", err=True)
        else:
            raise
        sys.exit(2)
    if ctx.invoked_subcommand != "sync":  # tracer sync: once its first requests are out (tracer.pipeline)
        startup_over()


def _progress_factory(quiet: bool) -> Any:
    """A rich progress bar per stream on a terminal; nothing in cron or when piped."""
    if quiet or not sys.stderr.isatty():
        return None, None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    prog = Progress(TextColumn("{task.description:<32}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[note]}"), TimeElapsedColumn(), transient=False)
    tasks: dict[str, Any] = {}

    def factory(stream: str) -> Any:
        tasks[stream] = prog.add_task(stream, total=None, note="")

        def update(advance: int, total: int | None, note: str) -> None:
            kw: dict[str, Any] = {"advance": advance}
            if total is not None:
                kw["total"] = total
            if note:
                kw["note"] = note
            prog.update(tasks[stream], **kw)

        return update

    return prog, factory


async def _stoppable(coro: Any) -> Any:
    """Run ``coro`` so that SIGTERM cancels it like Ctrl-C does (asyncio.run only handles SIGINT)."""
    import asyncio

    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    previous = signal.getsignal(signal.SIGTERM)  # tracer.entry's handler: back in force afterwards
    try:
        if task is not None:
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
    except (NotImplementedError, RuntimeError):  # not the main thread, or no signal support
        pass
    try:
        return await coro
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError, TypeError):
            loop.remove_signal_handler(signal.SIGTERM)  # (this resets SIGTERM to SIG_DFL)
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)


@main.command()
@click.argument("selectors", nargs=-1, metavar="[CONNECTOR[.STREAM]]...")
@output_options
@pass_env
def sync(env: Env, selectors: tuple[str, ...], fmt: str | None) -> None:
    """Crawl sources into the store, resuming each stream where it stopped.

    \b
    Examples:
      tracer sync                          # every enabled connector
      tracer sync ofac_addresses           # one connector
      tracer sync evm.ethereum_transfers   # one stream
    Safe in cron: a lock refuses overlapping runs, each page is committed with its cursor,
    and the exit code is 1 (with one line per failed stream) when anything failed.
    While it runs, stderr shows each stream (status, progress, records, retries and why, error): a live
    table on a terminal, one line per stream event in a log; -q shows errors only.
    """
    import asyncio

    from tracer.live import LiveView
    from tracer.pipeline import sync as run_sync

    view = LiveView.for_stderr(env.quiet)
    opening = env.opening()
    try:
        res = asyncio.run(_stoppable(run_sync(opening, env.cfg, list(selectors), watch=view)))
    except asyncio.CancelledError:  # SIGTERM (cron timeout, systemd stop): the run is marked interrupted
        click.echo("terminated: work stored so far is kept; run again to resume", err=True)
        sys.exit(143)
    finally:
        env._store = env._store or opening.store
        if view is not None:
            view.stop()
    rows = [{"stream": s.stream, "status": s.status, "pages": s.pages, "records": s.records,
             "error": s.error, "note": s.note} for s in res.streams]
    if fmt or not env.quiet:
        counts = ", ".join(f"{n} {status}" for status, n in sorted(res.counts().items()))
        emit(rows, fmt, title=f"run {res.run_id}: {res.status} in {res.duration_s:.1f}s; streams: {counts}")
    for err in res.errors:
        click.echo(f"error: {err}", err=True)
    if res.status != "ok":
        sys.exit(1)


@main.group()
def state() -> None:
    """Show or reset where each stream resumes (its cursor).

    \b
    Examples:
      tracer state show                    # every stream's cursor
      tracer state reset ofac_addresses    # next sync of it starts over (data kept)
    """


@state.command("show")
@output_options
@pass_env
def state_show(env: Env, fmt: str | None) -> None:
    """List every stream's stored cursor and when it was written.

    Example: tracer state show --json | jq '.[].stream'
    """
    emit(env.store.states(), fmt, columns=["stream", "state", "updated_at", "run_id"])


@state.command("reset")
@click.argument("streams", nargs=-1, metavar="[CONNECTOR[.STREAM]]...")
@click.option("--all", "all_", is_flag=True, help="Reset every stream.")
@pass_env
def state_reset(env: Env, streams: tuple[str, ...], all_: bool) -> None:
    """Forget cursors so the next sync starts over; stored data is kept (upserts dedupe).

    Example: tracer state reset ofac_addresses
    """
    if not streams and not all_:
        raise click.UsageError("name the streams to reset, or pass --all")
    for s in streams:  # argv bytes that are not UTF-8 arrive as lone surrogates SQLite cannot encode
        if _surrogates(s):
            raise click.UsageError(f"stream name {s!r} is not valid UTF-8 text")
    with env.store.lock("state reset"):
        n = env.store.reset_state(None if all_ else list(streams))
    click.echo(f"reset {n} stream state(s)")


def _surrogates(text: str) -> bool:
    """``text`` holds lone surrogates (how Python decodes argv bytes that are not UTF-8)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _run_limit(ctx: click.Context, param: click.Parameter, value: int) -> int:
    """1..10^9: SQLite overflows past 2^63 and PostgreSQL refuses a negative LIMIT."""
    if not 1 <= value <= 1_000_000_000:
        raise click.BadParameter(f"{value} is not in the range 1<=x<=1000000000", ctx, param)
    return value


@main.command()
@click.option("--limit", default=20, show_default=True, callback=_run_limit, help="How many runs to show.")
@click.option("--streams", "show_streams", is_flag=True, help="One row per stream of each run.")
@output_options
@pass_env
def runs(env: Env, limit: int, show_streams: bool, fmt: str | None) -> None:
    """Run history: status, duration, records and the first error of each run.

    \b
    Examples:
      tracer runs                          # the last 20 runs
      tracer runs --streams --limit 1      # per-stream pages, records, errors of the last run
      tracer runs --json                   # for monitoring (status: ok, failed, interrupted, abandoned)
    """
    if show_streams:
        emit(env.store.recent_run_streams(limit), fmt)
    else:
        emit(env.store.runs(limit), fmt,
             columns=["run_id", "command", "started_at", "status", "duration_s", "records", "error"])


@main.command()
@output_options
@click.option("--timeout", default=10.0, show_default=True, help="Seconds per probe.")
@pass_env
def doctor(env: Env, fmt: str | None, timeout: float) -> None:
    """Probe every configured endpoint and list source before the first run.

    Prints one row per probe (ok or FAIL, the HTTP status or the error), then a summary line on
    stderr; exits 1 if any failed. --json keeps ok as true/false. A host that does not resolve
    or refuses the connection says so ("cannot resolve host ...").

    \b
    Examples:
      tracer doctor
      tracer --config prod.toml doctor --timeout 5 --json
    """
    import asyncio

    from tracer.doctor import run_doctor

    rows = asyncio.run(run_doctor(env.cfg, timeout))
    shown = fmt or ("table" if sys.stdout.isatty() else "json")
    printed = rows if shown == "json" else [{**r, "ok": "ok" if r["ok"] else "FAIL"} for r in rows]
    emit(printed, fmt, columns=["connector", "probe", "url", "ok", "detail"])
    failed = sum(1 for r in rows if not r["ok"])
    if failed:  # an error line, like every other failing command's (cron mails it)
        click.echo(f"error: doctor: {failed} of {len(rows)} probes failed, {len(rows) - failed} ok", err=True)
        sys.exit(1)
    click.echo(f"doctor: all {len(rows)} probes ok", err=True)


@main.command("connectors")
@output_options
@pass_env
def connectors_cmd(env: Env, fmt: str | None) -> None:
    """List registered connectors, their streams and whether they are enabled.

    Example: tracer connectors --csv
    """
    from tracer.pipeline import effective_configs
    from tracer.registry import connectors

    configs = effective_configs(env.cfg)
    rows = []
    for name, conn in connectors().items():
        c = configs[name]
        rows.append({"connector": name, "enabled": c.get("enabled", True),
                     "streams": ", ".join(s.name for s in conn.streams(c)), "description": conn.description})
    emit(rows, fmt)


def run() -> None:
    """Entry point wrapper that hides tracebacks of unexpected errors unless TRACER_DEBUG is set."""
    try:
        main(standalone_mode=True)
    except SystemExit:
        raise
    except Exception as e:  # pragma: no cover - last resort
        if os.environ.get("TRACER_DEBUG"):
            raise
        click.echo(f"internal error: {type(e).__name__}: {e} (TRACER_DEBUG=1 shows the traceback)", err=True)
        sys.exit(1)
