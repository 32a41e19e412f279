"""Configuration: defaults of each connector, then a TOML file, then ``TRACER_*`` variables.

Every base URL, limit and start point lives here, defaulting to the real public endpoint.
Nested keys are reached from the environment with double underscores, for example
``TRACER_CONNECTORS__OFAC_ADDRESSES__BASE_URL=/data/lists`` or ``TRACER_DB=/var/lib/tracer.db``.

The file and the environment are each checked against one typed schema (:class:`TracerConfig`, whose
``connectors`` table holds each connector's own struct, see :mod:`connectors.config`): an unknown key
at any level or a value of the wrong type is a usage error of one line naming the key, the nearest
valid name or the expected type, and where it came from. Why so strict: a mistyped key used to be
ignored, and the crawl silently ran against the default endpoint.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

from connectors.base import ConfigError, Connector
from connectors.config import SECRET, Deferred, SchemaError, check, coerce_env, defaults, mask, secret_values

if TYPE_CHECKING:
    from connectors.http import Redactor

DEFAULT_DB = "tracer.db"
ENV_PREFIX = "TRACER_"
# Process variables (and click options' variables) that share the prefix but are not config keys.
_NOT_CONFIG = {"TRACER_CONFIG", "TRACER_NOW", "TRACER_FIXTURES", "TRACER_DEBUG", "TRACER_SERVE_TOKEN",
               "TRACER_CI_BROWSER"}


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


# -- the schema of the file ---------------------------------------------------------------------------

class StoreSection(Struct, forbid_unknown_fields=True, kw_only=True):
    """How the SQLite store is opened and written."""

    keep_raw_max_bytes: Annotated[int, Meta(description=(
        "raw answers up to this size are kept (zstd) in raw_payloads; larger ones are hashed only"))] = 2_000_000
    read_only: Annotated[bool, Meta(description=(
        "open read-only even where writable (automatic when the file or its folder is not writable)"))] = False
    defer_indexes: Annotated[Literal["empty", "always", "never"], Meta(description=(
        "build secondary indexes after a sync's bulk writes: into an empty store, always, or never"))] = "empty"


class HttpSection(Struct, forbid_unknown_fields=True, kw_only=True):
    """The one HTTP session of a run."""

    user_agent: Annotated[str, Meta(description="User-Agent header of every request")] = "tracer/0.1"


class ExportSection(Struct, forbid_unknown_fields=True, kw_only=True):
    """What `tracer run` exports after each cycle."""

    dir: Annotated[str, Meta(description="folder of the watch-list files (`tracer run --out` overrides)")] = "exports"
    min_score: Annotated[float, Meta(description="flags at or above this score are exported")] = 0.5
    webhook: Annotated[str | None, SECRET, Meta(description=(
        "URL that receives a POST of new high/severe entries (a secret: never logged or shown)"))] = None


def _connectors_schema() -> type:
    """One struct whose fields are the registered connectors, each typed by its own schema."""
    from tracer.registry import config_schemas

    return _connectors_struct(tuple(config_schemas().items()))


_STRUCTS: dict[tuple[tuple[str, type | None], ...], type] = {}


def _connectors_struct(schemas: tuple[tuple[str, type | None], ...]) -> type:
    if schemas not in _STRUCTS:
        fields = [(name, schema, msgspec.field(default_factory=schema)) if schema is not None
                  else (name, dict[str, Any], msgspec.field(default_factory=dict)) for name, schema in schemas]
        _STRUCTS[schemas] = msgspec.defstruct("Connectors", fields, kw_only=True, forbid_unknown_fields=True)
    return _STRUCTS[schemas]


def _scoring_schema() -> type:
    from tracer.scoring.rules import Params

    return Params


class TracerConfig(Struct, forbid_unknown_fields=True, kw_only=True):
    """tracer's configuration (TOML file, then TRACER_* variables)."""

    db: Annotated[str, Meta(description="SQLite database file (also --db and TRACER_DB)")] = DEFAULT_DB
    connectors: Annotated[dict[str, Any], Deferred(_connectors_schema), Meta(description=(
        "one table per connector: [connectors.<name>]"))] = {}
    store: StoreSection = msgspec.field(default_factory=StoreSection)
    http: HttpSection = msgspec.field(default_factory=HttpSection)
    export: ExportSection = msgspec.field(default_factory=ExportSection)
    scoring: Annotated[dict[str, Any], Deferred(_scoring_schema), Meta(description=(
        "rule thresholds (docs/scoring.md); a table given here replaces that default table whole"))] = {}


# -- environment --------------------------------------------------------------------------------------

def _env_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _env_tree(env: Mapping[str, str], parse: bool) -> tuple[dict[str, Any], dict[tuple[str, ...], str]]:
    """``TRACER_A__B=v`` -> ``{"a": {"b": v}}`` and, per path, the variable that set it."""
    out: dict[str, Any] = {}
    origin: dict[tuple[str, ...], str] = {}
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
        node[path[-1]] = _env_value(raw) if parse else raw
        origin[tuple(path)] = key
    return out, origin


def env_overrides(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``TRACER_A__B__C=v`` -> ``{"a": {"b": {"c": v}}}`` (values parsed as JSON when they are)."""
    return _env_tree(os.environ if environ is None else environ, parse=True)[0]


# -- loading and checking -----------------------------------------------------------------------------

def load_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    p = Path(path)
    try:
        with p.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {p} not found") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {p} is not valid TOML: {e}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {p} is not UTF-8 text") from None
    except (OSError, ValueError) as e:  # a folder, no permission, a name too long, a NUL in the path
        raise ConfigError(f"cannot read config file {p}: {getattr(e, 'strerror', None) or e}") from None


def _checked(value: Mapping[str, Any], where: str | Mapping[tuple[str, ...], str]) -> None:
    """Check one layer (the file or the environment); the error names the file or the variable."""
    try:
        check(value, TracerConfig)
    except SchemaError as e:
        if isinstance(where, str):
            src = where
        else:
            src = next((var for path, var in sorted(where.items()) if path[:len(e.path)] == e.path), "")
        raise ConfigError(f"config: {src + ': ' if src else ''}{e.problem}") from None


def load(path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None,
         ) -> dict[str, Any]:
    """The user's configuration (file + environment), checked, without connector defaults."""
    env = os.environ if environ is None else environ
    cfg: dict[str, Any] = {}
    path = path or env.get("TRACER_CONFIG")
    if path:
        cfg = load_file(path)
        _checked(cfg, str(path))
    raw, origin = _env_tree(env, parse=False)
    over = coerce_env(raw, TracerConfig)
    _checked(over, origin)
    cfg = deep_merge(cfg, over)
    cfg.setdefault("db", DEFAULT_DB)
    cfg.setdefault("connectors", {})
    if not isinstance(cfg["connectors"], dict):
        raise ConfigError("[connectors] must be a table")
    _check_complete(cfg)
    return cfg


def _check_complete(cfg: Mapping[str, Any]) -> None:
    """Each configured connector merged over its defaults must have what it needs (a new list source
    without ``url`` is most often a mistyped name of an existing one)."""
    user = cfg.get("connectors") or {}
    if not user:
        return
    from tracer.registry import config_schemas

    for name, schema in config_schemas().items():
        if schema is None or name not in user:
            continue
        base = defaults(schema)
        try:
            check(deep_merge(base, user[name]), schema, ("connectors", name), complete=True, default=base)
        except SchemaError as e:
            raise ConfigError(f"config: {e.problem}") from None


def connector_config(cfg: Mapping[str, Any], name: str, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """One connector's effective configuration: its defaults overlaid by the user's section."""
    user = cfg.get("connectors", {}).get(name, {})
    if not isinstance(user, Mapping):
        raise ConfigError(f"[connectors.{name}] must be a table")
    return deep_merge(dict(defaults), user)


# -- the effective configuration, secrets ---------------------------------------------------------------

def effective(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults + file + environment: every key tracer reads, with the value it will use."""
    from tracer.registry import config_schemas

    out = defaults(TracerConfig)
    for k, v in cfg.items():
        if k == "connectors":
            continue
        # [scoring] tables replace their default whole (tracer.scoring.run.params_from_config).
        out[k] = {**out[k], **v} if k == "scoring" and isinstance(v, Mapping) else \
            deep_merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), dict) else v
    conns: dict[str, Any] = {}
    for name, schema in config_schemas().items():
        if schema is not None:
            base = out["connectors"].get(name) or defaults(schema)
        else:
            from tracer.registry import get

            base = get(name).default_config()
        conns[name] = connector_config(cfg, name, base)
    out["connectors"] = conns
    return out


def config_urls(value: Any) -> list[str]:
    """Every URL-looking string in a configuration (their key parts are secrets wherever they sit)."""
    if isinstance(value, str):
        return [value] if "://" in value else []
    if isinstance(value, Mapping):
        return [u for v in value.values() for u in config_urls(v)]
    if isinstance(value, list | tuple):
        return [u for v in value for u in config_urls(v)]
    return []


def redactor(cfg: Mapping[str, Any], connectors: Iterable[tuple[Connector, Mapping[str, Any]]] = (),
             ) -> Redactor:
    """The run's redactor: what each connector calls secret in its effective config, every key found in
    a configured URL (a user pastes an Infura URL or ``?apikey=`` into any base_url), and the secrets
    of the top-level sections (``export.webhook``). Created per run and passed to the HTTP client and
    to every error and log line, so one run's keys never leak into another's (or a global)."""
    from connectors.http import Redactor, url_secrets

    r = Redactor()
    r.add(*secret_values(TracerConfig, {k: v for k, v in cfg.items() if k != "connectors"}))
    for conn, c in connectors:
        r.add(*conn.secrets(dict(c)))
        for url in config_urls(c):
            r.add(*url_secrets(url))
    return r


def shown(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The effective configuration fit to print: secrets are ``"***"``, URL keys are redacted."""
    from tracer.registry import connectors

    eff = effective(cfg)
    found = connectors()
    redact = redactor(eff, [(found[n], c) for n, c in eff["connectors"].items() if n in found])
    out = mask(TracerConfig, eff, redact)
    if not isinstance(out, dict):
        raise TypeError("configuration is not a table")
    return out


SAMPLE_HEADER = """\
tracer configuration (TOML). Every key is shown with its default value: delete what you keep as is.
A mistyped key is an error (exit 2) that names the nearest valid one.
Each key can also be set from the environment, TRACER_ + the path joined with __, e.g.
TRACER_CONNECTORS__OFAC_ADDRESSES__BASE_URL=/data/lists or TRACER_STORE__READ_ONLY=1.
[scoring] thresholds are documented in docs/scoring.md; `tracer config show` prints them.
"""


def sample_values() -> dict[str, Any]:
    """What ``tracer config init`` writes: the defaults of every section but ``[scoring]``."""
    values = defaults(TracerConfig)
    values.pop("scoring", None)
    return values


def sample_file() -> str:
    """A commented tracer.toml: every section with its defaults and one comment line per key."""
    from connectors.config import to_toml

    head = "\n".join(f"# {line}".rstrip() for line in SAMPLE_HEADER.splitlines())
    return head + "\n\n" + to_toml(sample_values(), TracerConfig, docs=True)
