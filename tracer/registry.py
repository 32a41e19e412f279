"""Connectors are found through the ``tracer.connectors`` entry point group (built-ins too).

A connector's configuration schema (a msgspec struct, see :mod:`connectors.config`) is found without
importing the connector itself, so validating a config file stays cheap for every command: the
``SCHEMAS`` dict of the ``config`` module next to the connector's module (``connectors.lists.config``
for ``connectors.lists.ofac``), else the connector class's ``config_schema`` attribute, else none
(its section is then only checked to be a table).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
from importlib.metadata import entry_points
from typing import Any

from connectors.base import ConfigError, Connector, Stream

GROUP = "tracer.connectors"


def connectors() -> dict[str, Connector]:
    """Every registered connector, by name, in name order."""
    out: dict[str, Connector] = {}
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        cls = ep.load()
        out[ep.name] = cls()
    return out


@functools.cache
def config_schemas() -> dict[str, type | None]:
    """Each registered connector's configuration schema by name (None: it declares none)."""
    out: dict[str, type | None] = {}
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        schema = None
        package = ep.module.rpartition(".")[0]
        if package:
            with contextlib.suppress(ImportError):
                schema = getattr(importlib.import_module(f"{package}.config"), "SCHEMAS", {}).get(ep.name)
        if schema is None:
            schema = getattr(ep.load(), "config_schema", None)
        out[ep.name] = schema
    return out


def get(name: str) -> Connector:
    found = connectors()
    if name not in found:
        raise ConfigError(f"unknown connector {name!r}; known: {', '.join(found) or 'none'}")
    return found[name]


def select(selectors: list[str], configs: dict[str, dict[str, Any]]) -> list[tuple[Connector, list[Stream]]]:
    """Resolve ``CONNECTOR`` / ``CONNECTOR.STREAM`` selectors (none = every enabled connector)."""
    found = connectors()
    wanted: dict[str, set[str] | None] = {}
    if not selectors:
        wanted = {n: None for n in found if configs.get(n, {}).get("enabled", True)}
    for sel in selectors:
        cname, _, sname = sel.partition(".")
        if cname not in found:
            raise ConfigError(f"unknown connector {cname!r} in {sel!r}; known: {', '.join(found)}")
        if sname:
            cur = wanted.get(cname, set())
            if cur is not None:
                cur.add(f"{cname}.{sname}")
                wanted[cname] = cur
        else:
            wanted[cname] = None
    out = []
    for cname, snames in wanted.items():
        conn = found[cname]
        streams = conn.streams(configs[cname])
        if snames is not None:
            known = {s.name for s in streams}
            missing = snames - known
            if missing:
                raise ConfigError(f"unknown stream(s) {', '.join(sorted(missing))}; "
                                  f"{cname} has {', '.join(sorted(known))}")
            streams = [s for s in streams if s.name in snames]
        out.append((conn, streams))
    return out
