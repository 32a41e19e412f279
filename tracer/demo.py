"""``tracer demo``: the main job, offline, on a world served from loopback.

It builds the demo world (generated data in the real source shapes, plus the real files of
``../shared/fixtures`` when present), serves it with aiohttp on 127.0.0.1, points every connector
at it, runs the same sync as a live run into a fresh SQLite file, then the post-sync steps
(score, export, report as they land), and says where everything is.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # aiohttp and the store load when the demo runs, not for `tracer demo --help`
    from aiohttp import web

    from tracer.world import DemoPart

# Each entry: "module:function" returning a DemoPart. Connectors join the demo by adding a line.
DEMO_PARTS: list[str] = [
    "tracer.world.ofac:demo_part",
    "tracer.world.lists:demo_part",
    "tracer.world.markets:demo_part",
    "tracer.world.evm:demo_part",
    "tracer.world.akash:demo_part",
]
# Each entry: "module:function(store, cfg, out_dir) -> dict of name -> path"; run after the sync.
DEMO_STEPS: list[str] = ["tracer.lists:demo_step", "tracer.scoring.run:demo_step", "tracer.export:demo_step"]


CONFIG_NAME = "demo-config.toml"


def write_config(path: Path, cfg: dict[str, Any]) -> Path:
    """The demo's configuration as a TOML file ``--config`` reads, so every command can be pointed
    at the demo store with ``tracer --config tracer-demo/demo-config.toml ...``."""
    from connectors.config import to_toml

    head = ("# Written by `tracer demo`: the demo store and the connector settings of its run.\n"
            "# Use it with any command that reads the store: tracer --config THIS_FILE find Kowloon.\n"
            "# The connector URLs name the demo's loopback server, which ran only during the demo.\n")
    path.write_text(head + to_toml(cfg), encoding="utf-8")
    return path


def _load(spec: str) -> Any:
    mod, _, attr = spec.partition(":")
    return getattr(importlib.import_module(mod), attr)


async def serve_parts(parts: list[DemoPart]) -> tuple[web.AppRunner, str]:
    """Serve every part under ``/{part}/`` on an ephemeral loopback port; returns runner and base URL."""
    from aiohttp import web

    app = web.Application()
    for p in parts:
        sub = web.Application()
        sub.add_routes(p.routes)
        app.add_subapp(f"/{p.name}/", sub)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


async def run_demo(out: Path, progress: Any = None) -> dict[str, Any]:
    """Build, serve, sync and post-process the demo world into ``out``; returns a summary."""
    from tracer.pipeline import sync
    from tracer.registry import connectors
    from tracer.store import Store

    out.mkdir(parents=True, exist_ok=True)
    db_path = out / "tracer.db"
    for suffix in ("", "-wal", "-shm", ".lock"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)
    parts = [_load(s)() for s in DEMO_PARTS]
    for p in parts:
        if p.start:
            await p.start()
    runner, base = await serve_parts(parts)
    try:
        conn_cfg: dict[str, Any] = {name: {"enabled": False} for name in connectors()}
        for p in parts:
            for cname, c in p.config(f"{base}/{p.name}").items():
                conn_cfg[cname] = {**c, "enabled": True}
        cfg = {"db": str(db_path), "connectors": conn_cfg}
        config_path = write_config(out / CONFIG_NAME, {**cfg, "db": str(db_path.absolute())})
        store = Store(db_path)
        res = await sync(store, cfg, [], progress, command="demo")
        outputs: dict[str, str] = {"database": str(db_path), "config": str(config_path)}
        for step in DEMO_STEPS:
            outputs.update(_load(step)(store, cfg, out))
        counts = {t: store.count(t) for t in ("entities", "edges", "observations")}
        from tracer.queries import flags_overview

        flag_counts = flags_overview(store, "severe", 1)["counts"]
        store.close()
    finally:
        await runner.cleanup()
        for p in parts:
            if p.stop:
                await p.stop()
    summary = {"run_id": res.run_id, "status": res.status, "errors": res.errors, "counts": counts,
               "flags": flag_counts,
               "streams": {s.stream: s.records for s in res.streams}, "outputs": outputs,
               "parts": {p.name: p.notes for p in parts}}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


@click.command("demo")
@click.option("-o", "--out", type=click.Path(file_okay=False), default="tracer-demo", show_default=True,
              help="Folder for the demo database and outputs (its database is recreated).")
@click.option("--clean", is_flag=True, help="Delete the whole output folder first.")
@click.pass_obj
def demo_command(env: Any, out: str, clean: bool) -> None:
    """Run the main job offline on a generated world served from 127.0.0.1.

    \b
    Uses the same connectors, store and pipeline as a live sync; no internet needed.
    Real recorded data from ../shared/fixtures joins in when present (TRACER_FIXTURES
    points elsewhere). Ends by printing where the database and outputs are.
    """
    from tracer.cli import _progress_factory

    path = Path(out)
    if clean and path.exists():
        shutil.rmtree(path)
    prog, factory = _progress_factory(env.quiet if env else False)
    if prog is not None:
        prog.start()
    try:
        summary = asyncio.run(run_demo(path, factory))
    finally:
        if prog is not None:
            prog.stop()
    click.echo(f"demo sync {summary['status']}: " + ", ".join(f"{k} {v}" for k, v in summary["counts"].items()))
    for name, p in summary["outputs"].items():
        click.echo(f"  {name:<12} {p}")
    click.echo(f"  {'summary':<12} {path / 'summary.json'}")
    flags = summary.get("flags") or {}
    if flags:
        click.echo("flags: " + ", ".join(f"{flags.get(lv, 0)} {lv}" for lv in ("severe", "high", "medium", "low")))
        db = f"--db {summary['outputs'].get('database', path / 'tracer.db')}"
        click.echo(f"next: tracer {db} flags        # the case queue, severe first\n"
                   f"      tracer {db} explain ID   # why one subject is flagged, down to the raw payload\n"
                   f"      tracer {db} serve        # the case workspace on http://127.0.0.1:8765")
    for err in summary["errors"]:
        click.echo(f"error: {err}", err=True)
    if summary["status"] != "ok":
        sys.exit(1)
