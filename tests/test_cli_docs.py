"""docs/cli.md is the CLI's own --help, regenerated; this keeps the two from drifting apart."""

from __future__ import annotations

from pathlib import Path

from tracer import cli
from tracer.cli_docs import render

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def test_docs_cli_md_equals_the_help_texts() -> None:
    assert DOC.read_text() == render(), "docs/cli.md is stale: run `python -m tracer.cli_docs > docs/cli.md`"


def test_every_command_is_documented() -> None:
    text = DOC.read_text()
    for name in cli.main.list_commands(None):  # type: ignore[arg-type]
        assert f"## `tracer {name}`" in text, name
