"""``tracer config show`` and ``tracer config init``: the effective configuration and a sample file."""

from __future__ import annotations

import difflib
import json
import sys
from pathlib import Path
from typing import Any

import click

from connectors.base import ConfigError
from tracer import config as cfgmod


@click.group("config")
def config_group() -> None:
    """Show the effective configuration, or write a commented sample config file.

    Configuration is layered: each connector's defaults < the --config file (TOML) < TRACER_*
    variables (path joined with __). A mistyped key at any level, or a value of the wrong type, is
    an error (exit 2) naming the key and the nearest valid one.

    \b
    Examples:
      tracer config init                     # ./tracer.toml: every key, its default and what it does
      tracer --config tracer.toml config show    # what a run would use, secrets masked
      TRACER_CONNECTORS__AKASH__PAGE_SIZE=50 tracer config show connectors.akash.page_size
    """


def _pick(data: dict[str, Any], key: str) -> dict[str, Any]:
    """``data`` reduced to the dotted ``key`` (kept nested, so the TOML keeps its table headers)."""
    node: Any = data
    path = [p for p in key.split(".") if p]
    for i, p in enumerate(path):
        if not isinstance(node, dict) or p not in node:
            where = ".".join(path[:i]) or "the configuration"
            known = list(node) if isinstance(node, dict) else []
            near = difflib.get_close_matches(p, known, n=1, cutoff=0.6)
            hint = f" (did you mean {near[0]}?)" if near else (f" (known: {', '.join(known)})" if known else "")
            raise ConfigError(f"config: no key {p} in {where}{hint}")
        node = node[p]
    for p in reversed(path):
        node = {p: node}
    return node  # type: ignore[no-any-return]


@config_group.command("show")
@click.argument("key", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of TOML.")
@click.pass_obj
def show_command(env: Any, key: str | None, as_json: bool) -> None:
    """Print the effective configuration: defaults + --config file + TRACER_* variables.

    Every key tracer reads is shown with the value a run would use. Secrets (API keys, tokens,
    export.webhook) print as "***" and keys inside URLs (Infura /v3/<key>, ?apikey=) are masked,
    so the output can be pasted into a bug report. KEY narrows it to one table or value.

    \b
    Examples:
      tracer config show                              # TOML; valid as a --config file
      tracer --config prod.toml config show connectors.evm.chains
      TRACER_CONNECTORS__IONET__TOKEN=eyJ... tracer config show connectors.ionet   # token = "***"
      tracer config show --json | jq .connectors.akash.limits
    """
    from connectors.config import to_toml

    data = cfgmod.shown(env.cfg)
    if key:
        data = _pick(data, key)
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        click.echo(to_toml(data), nl=False)


@config_group.command("init")
@click.argument("path", default="tracer.toml", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
def init_command(path: str, force: bool) -> None:
    """Write a commented sample config file (default ./tracer.toml; - for stdout).

    Every connector section is written with its default values and one comment line per key;
    optional keys without a default (API keys) are commented out. Delete what you keep as is,
    change the rest. An existing file is never overwritten without --force.

    \b
    Examples:
      tracer config init                       # ./tracer.toml
      tracer config init /etc/tracer.toml
      tracer config init - | less              # read it first
      tracer config init --force               # start over
    Then: tracer --config tracer.toml doctor
    """
    text = cfgmod.sample_file()
    if path == "-":
        click.echo(text, nl=False)
        return
    p = Path(path)
    try:
        with p.open("w" if force else "x", encoding="utf-8") as f:
            f.write(text)
    except FileExistsError:
        raise ConfigError(f"{p} exists; pass --force to overwrite it") from None  # usage: exit 2
    except OSError as e:
        click.echo(f"error: cannot write {p}: {e.strerror or e}", err=True)
        sys.exit(1)
    click.echo(f"wrote {p}: edit it, then run: tracer --config {p} doctor", err=True)
