"""Configuration: defaults of each connector, then a TOML file, then ``TRACER_*`` variables.

Every base URL, limit and start point lives here, defaulting to the real public endpoint.
Nested keys are reached from the environment with double underscores, for example
``TRACER_CONNECTORS__OFAC_ADDRESSES__BASE_URL=/data/lists`` or ``TRACER_DB=/var/lib/tracer.db``.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from connectors.base import ConfigError

DEFAULT_DB = "tracer.db"
ENV_PREFIX = "TRACER_"
_NOT_CONFIG = {"TRACER_CONFIG", "TRACER_NOW", "TRACER_FIXTURES", "TRACER_DEBUG"}


def now() -> str:
    """RFC 3339 UTC time; ``TRACER_NOW`` pins it (reproducible runs and tests)."""
    pinned = os.environ.get("TRACER_NOW")
    if pinned:
        return pinned
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``over`` into a copy of ``base``; tables merge, everything else replaces."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _env_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def env_overrides(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``TRACER_A__B__C=v`` -> ``{"a": {"b": {"c": v}}}`` (values parsed as JSON when they are)."""
    env = os.environ if environ is None else environ
    out: dict[str, Any] = {}
    for key, raw in env.items():
        if not key.startswith(ENV_PREFIX) or key in _NOT_CONFIG:
            continue
        path = [p.lower() for p in key[len(ENV_PREFIX):].split("__") if p]
        if not path:
            continue
        node = out
        for p in path[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{key}: {p} is both a value and a table")
        if isinstance(node.get(path[-1]), dict):  # TRACER_A__B came first, now TRACER_A
            raise ConfigError(f"{key}: {path[-1]} is both a value and a table")
        node[path[-1]] = _env_value(raw)
    return out


def load_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    p = Path(path)
    try:
        with p.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {p} not found") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {p} is not valid TOML: {e}") from None


def load(path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None,
         ) -> dict[str, Any]:
    """The user's configuration (file + environment), without connector defaults."""
    env = os.environ if environ is None else environ
    cfg: dict[str, Any] = {}
    path = path or env.get("TRACER_CONFIG")
    if path:
        cfg = load_file(path)
    cfg = deep_merge(cfg, env_overrides(env))
    cfg.setdefault("db", DEFAULT_DB)
    cfg.setdefault("connectors", {})
    if not isinstance(cfg["connectors"], dict):
        raise ConfigError("[connectors] must be a table")
    return cfg


def connector_config(cfg: Mapping[str, Any], name: str, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """One connector's effective configuration: its defaults overlaid by the user's section."""
    user = cfg.get("connectors", {}).get(name, {})
    if not isinstance(user, Mapping):
        raise ConfigError(f"[connectors.{name}] must be a table")
    return deep_merge(dict(defaults), user)
