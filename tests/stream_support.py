"""A connector around one stream a test wrote itself, for driving ``tracer.pipeline.sync`` with
``plan=[(conn, conn.streams({}))]`` (the store's bulk writes, the early start)."""

from __future__ import annotations

from typing import Any


class OneStream:
    """A connector named ``name`` whose only stream is ``stream`` (no config, probes or secrets)."""

    description = "test"

    def __init__(self, name: str, stream: Any) -> None:
        self.name, self.stream = name, stream

    def default_config(self) -> dict[str, Any]:
        return {}

    def streams(self, config: dict[str, Any]) -> list[Any]:
        return [self.stream]

    def probes(self, config: dict[str, Any]) -> list[Any]:
        return []

    def secrets(self, config: dict[str, Any]) -> list[str]:
        return []
