"""Connectors are found through the ``tracer.connectors`` entry point group (built-ins too).

A connector's configuration schema (a msgspec struct, see :mod:`connectors.config`) is found without
importing the connector itself, so validating a config file stays cheap for every command: the
``SCHEMAS`` dict of the ``config`` module next to the connector's module (``connectors.lists.config``
for ``connectors.lists.ofac``), else the connector class's ``config_schema`` attribute, else none
(its section is then only checked to be a table).

Connector modules are imported only when a connector is used: :func:`plan` (what ``tracer sync``
runs) loads the selected or enabled connectors and no other, so a sync of one chain does not pay
for importing every other source's parser.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
from collections.abc import Mapping
from typing import Any

from connectors.base import ConfigError, Connector, Stream
from tracer.entry_points import EntryPointLike, entry_points

GROUP = "tracer.connectors"

Plan = list[tuple[Connector, list[Stream]]]


@functools.cache
def _entry_points() -> dict[str, EntryPointLike]:
    """The registered connectors' entry points by name, in name order (nothing imported).

    Read once per process, like :func:`config_schemas`: scanning the installed distributions
    costs tens of milliseconds a time."""
    return {ep.name: ep for ep in sorted(entry_points(GROUP), key=lambda e: e.name)}


def names() -> list[str]:
    """Every registered connector's name, in name order, without importing any connector."""
    return list(_entry_points())


def connectors() -> dict[str, Connector]:
    """Every registered connector, by name, in name order."""
    out: dict[str, Connector] = {}
    for name, ep in _entry_points().items():
        cls = ep.load()
        out[name] = cls()
    return out


@functools.cache
def config_schemas() -> dict[str, type | None]:
    """Each registered connector's configuration schema by name (None: it declares none)."""
    out: dict[str, type | None] = {}
    for ep in _entry_points().values():
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
    """One registered connector (only its module is imported)."""
    eps = _entry_points()
    if name not in eps:
        raise ConfigError(f"unknown connector {name!r}; known: {', '.join(eps) or 'none'}")
    return eps[name].load()()  # type: ignore[no-any-return]


def _enabled_by_default(name: str) -> bool:
    """The ``enabled`` default of a connector, from its schema (the connector's module stays unimported)."""
    schema = config_schemas().get(name)
    if schema is None:
        return bool(get(name).default_config().get("enabled", True))
    from connectors.config import to_dict

    return bool(to_dict(schema()).get("enabled", True))


def plan(selectors: list[str], cfg: Mapping[str, Any]) -> tuple[Plan, dict[str, dict[str, Any]]]:
    """What ``tracer sync`` runs: :func:`select` over the user's config ``cfg``, importing only the
    connectors selected (or, without selectors, enabled); returns the plan and the effective
    configuration of each connector in it."""
    from tracer import config as cfgmod

    known = names()
    if selectors:
        chosen = _wanted(selectors, known)
    else:
        chosen = {}
        for n in known:
            user = cfgmod.connector_config(cfg, n, {})  # the user's section ("must be a table" checked)
            if user["enabled"] if "enabled" in user else _enabled_by_default(n):
                chosen[n] = None
    found = {n: get(n) for n in chosen}
    configs = {n: cfgmod.connector_config(cfg, n, conn.default_config()) for n, conn in found.items()}
    return _streams(chosen, found, configs), configs


def select(selectors: list[str], configs: dict[str, dict[str, Any]]) -> Plan:
    """Resolve ``CONNECTOR`` / ``CONNECTOR.STREAM`` selectors (none = every enabled connector)."""
    found = connectors()
    wanted: dict[str, set[str] | None] = {}
    if not selectors:
        wanted = {n: None for n in found if configs.get(n, {}).get("enabled", True)}
    wanted.update(_wanted(selectors, list(found)))
    return _streams(wanted, found, configs)


def _wanted(selectors: list[str], known: list[str]) -> dict[str, set[str] | None]:
    """Selected connector names, each with its selected stream names (None: every stream)."""
    wanted: dict[str, set[str] | None] = {}
    for sel in selectors:
        cname, _, sname = sel.partition(".")
        if cname not in known:
            raise ConfigError(f"unknown connector {cname!r} in {sel!r}; known: {', '.join(known)}")
        if sname:
            cur = wanted.get(cname, set())
            if cur is not None:
                cur.add(f"{cname}.{sname}")
                wanted[cname] = cur
        else:
            wanted[cname] = None
    return wanted


def _streams(wanted: dict[str, set[str] | None], found: Mapping[str, Connector],
             configs: Mapping[str, dict[str, Any]]) -> Plan:
    """Each wanted connector with its streams (all, or the named ones: an unknown name is an error)."""
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
