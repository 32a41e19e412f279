"""The command reference (docs/cli.md) generated from the CLI's own ``--help``, so it cannot drift.

``python -m tracer.cli_docs > docs/cli.md`` rewrites it; a test fails when the file and the
help texts differ.
"""

from __future__ import annotations

import click

from tracer.cli import main


def _commands(cmd: click.Command, ctx: click.Context, path: list[str]) -> list[tuple[list[str], click.Context]]:
    out = [(path, ctx)]
    if isinstance(cmd, click.Group):
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                out += _commands(sub, click.Context(sub, info_name=name, parent=ctx), path + [name])
    return out


def render() -> str:
    """Markdown with the help text of ``tracer`` and of every command and subcommand."""
    # The group's context settings (``-h``/``--help``) as a real invocation would get them; children
    # inherit them, and click caches each command's help option from the first context it sees.
    settings = {**main.context_settings, "terminal_width": 100, "max_content_width": 100}
    root = click.Context(main, info_name="tracer", **settings)
    parts = ["# tracer command reference", "",
             "Generated from `--help` by `python -m tracer.cli_docs > docs/cli.md`; a test keeps it equal.",
             ""]
    for path, ctx in _commands(main, root, []):
        ctx.terminal_width = ctx.max_content_width = 100
        title = " ".join(["tracer", *path])
        parts += [f"## `{title}`", "", "```", ctx.command.get_help(ctx).rstrip(), "```", ""]
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
