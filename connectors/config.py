"""Typed configuration: each connector declares its keys as a msgspec struct, and this module checks,
documents and masks a configuration against such a schema.

Why structs and not free dicts: a typo (``bse_url``) used to be silently ignored, so the crawl ran
against the default endpoint; a string where a number belongs failed deep inside a stream. A schema
names every key, its type, its default and its doc line, and marks secrets, so one walk can reject an
unknown key with the nearest valid name, print a commented sample file, and mask what must not be
shown. Connectors keep reading plain dicts (``default_config()`` is the struct's defaults as a dict).

Conventions for a schema (see ``connectors/*/config.py``):

- ``msgspec.Struct`` with ``forbid_unknown_fields=True, kw_only=True``; every field has a default
  unless a missing value must be an error (a list source's ``url``).
- ``Annotated[T, Meta(description="...")]`` is the field's doc (``tracer config init`` prints it).
- ``Annotated[str | None, SECRET]``: the value is a secret; ``SECRET_URL``: a URL whose key parts
  (query keys, userinfo, long path segments of hosted RPC URLs) are secrets.
- ``dict[str, Struct]`` is a user-extensible table of entries (list sources, EVM chains).

This module imports no ``tracer`` code and no HTTP client (``connectors.http`` is imported lazily).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from typing import Annotated, Any, Literal, Union
from urllib.parse import urlsplit

import msgspec
from msgspec import Meta, Struct

from connectors.base import ConfigError

__all__ = ["SECRET", "SECRET_URL", "ConnectorConfig", "Deferred", "Limits", "SchemaError", "TypedConfig", "check", "coerce_env", "defaults",
           "describe", "doc_of", "limits", "mask", "secret_values", "to_dict", "to_toml", "url_key_parts"]


class _Mark:
    """A marker in ``Annotated[...]`` metadata (msgspec ignores metadata it does not know)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


SECRET = _Mark("SECRET")
SECRET_URL = _Mark("SECRET_URL")


class Deferred:
    """``Annotated[Any, Deferred(load)]``: the real type is ``load()``, imported only when a value
    for the field is present (a section whose schema lives in a heavy module, or is found at run time)."""

    def __init__(self, load: Callable[[], Any]) -> None:
        self.load = load


class SchemaError(ConfigError):
    """A configuration that does not fit its schema: ``path`` (keys from the root) and one line."""

    def __init__(self, path: tuple[str, ...], problem: str) -> None:
        super().__init__(problem)
        self.path = path
        self.problem = problem


def _doc(text: str) -> Meta:
    return Meta(description=text)


class Limits(Struct, forbid_unknown_fields=True, kw_only=True):
    """Per-host request limits (every connector has this table; defaults as connectors.http.HostLimits)."""

    concurrency: Annotated[int, Meta(ge=1), _doc("requests in flight per host")] = 4
    rate: Annotated[float, Meta(ge=0), _doc("request starts per second per host (0 = unlimited)")] = 0.0
    max_retries: Annotated[int, Meta(ge=0), _doc(
        "retries on 429/5xx/408, timeouts, dropped connections and truncated JSON")] = 6
    backoff_base: Annotated[float, Meta(ge=0), _doc("full-jitter exponential backoff base, seconds")] = 0.5
    backoff_max: Annotated[float, Meta(ge=0), _doc("cap of one backoff delay, seconds")] = 30.0
    timeout: Annotated[float, Meta(gt=0), _doc("seconds per request")] = 30.0
    retry_after_max: Annotated[float, Meta(ge=0), _doc("a longer Retry-After is clamped to this, seconds")] = 300.0
    max_body_bytes: Annotated[int, Meta(ge=1), _doc(
        "an answer larger than this fails its stream (read in chunks, never buffered whole)")] = 32 * 1024 * 1024
    parse_tries: Annotated[int, Meta(ge=1), _doc("downloads of an answer that is not valid JSON before giving up")] = 3


class ConnectorConfig(Struct, forbid_unknown_fields=True, kw_only=True):
    """Keys every connector's table has (each connector's struct extends this)."""

    enabled: Annotated[bool, _doc("run this connector when `tracer sync` names no connector")] = True
    every: Annotated[str | None, _doc(
        "`tracer run`: sync this connector only when this long has passed since its last good sync "
        "(e.g. \"1d\", \"6h\"); unset = every cycle")] = None


def limits(**values: Any) -> Any:
    """A ``limits`` field whose defaults differ from :class:`Limits` for one connector."""
    return msgspec.field(default_factory=functools.partial(Limits, **values))


# -- types --------------------------------------------------------------------------------------------

def _split(tp: Any) -> tuple[Any, tuple[Any, ...]]:
    """``Annotated[T, *meta]`` -> (T, meta), resolving a :class:`Deferred` type."""
    meta: tuple[Any, ...] = ()
    while typing.get_origin(tp) is Annotated:
        args = typing.get_args(tp)
        tp, meta = args[0], meta + tuple(args[1:])
    for m in meta:
        if isinstance(m, Deferred):
            return _split(m.load())[0], meta
    return tp, meta


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (Union, types.UnionType)


def _is_record(tp: Any) -> bool:
    return isinstance(tp, type) and (issubclass(tp, Struct) or dataclasses.is_dataclass(tp))


class _Field(Struct, frozen=True):
    name: str
    type: Any
    required: bool


@functools.cache
def _fields(cls: type) -> dict[str, _Field]:
    if issubclass(cls, Struct):
        return {f.name: _Field(f.name, f.type, f.required) for f in msgspec.structs.fields(cls)}
    hints = typing.get_type_hints(cls, include_extras=True)
    return {f.name: _Field(f.name, hints[f.name], f.default is dataclasses.MISSING
                           and f.default_factory is dataclasses.MISSING)
            for f in dataclasses.fields(typing.cast(Any, cls))}


def _record(tp: Any) -> type | None:
    """The struct/dataclass a (possibly optional) type holds, else None."""
    tp, _ = _split(tp)
    if _is_record(tp):
        return typing.cast(type, tp)
    if _is_union(tp):
        rest = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(rest) == 1:
            return _record(rest[0])
    return None


def _table_value(tp: Any) -> Any | None:
    """The value type of a ``dict[str, X]`` (possibly optional), else None."""
    tp, _ = _split(tp)
    if typing.get_origin(tp) is dict:
        return typing.get_args(tp)[1]
    if _is_union(tp):
        rest = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(rest) == 1:
            return _table_value(rest[0])
    return None


def doc_of(tp: Any) -> str:
    """The ``Meta(description=...)`` of a field type ('' when none)."""
    meta: tuple[Any, ...] = ()
    while typing.get_origin(tp) is Annotated:
        args = typing.get_args(tp)
        tp, meta = args[0], meta + tuple(args[1:])
    return next((m.description for m in meta if isinstance(m, Meta) and m.description), "")


def _bound(meta: tuple[Any, ...]) -> str:
    parts = []
    for m in meta:
        if isinstance(m, Meta):
            parts += [f"{op} {v:g}" for op, v in ((">=", m.ge), (">", m.gt), ("<=", m.le), ("<", m.lt))
                      if v is not None]
    return (" " + " and ".join(parts)) if parts else ""


def describe(tp: Any) -> str:
    """What a value of type ``tp`` looks like, in words for a one-line error."""
    base, meta = _split(tp)
    bound = _bound(meta)
    if base is Any:
        return "any value"
    if base is bool:
        return "true or false"
    if base is int:
        return "an integer" + bound
    if base is float:
        return "a number" + bound
    if base is str:
        return "a string"
    if base is type(None):
        return "unset"
    if _is_record(base) or typing.get_origin(base) is dict or base is dict:
        return "a table"
    if typing.get_origin(base) is Literal:
        return "one of " + ", ".join(json.dumps(v) for v in typing.get_args(base))
    if typing.get_origin(base) in (list, tuple) or base in (list, tuple):
        args = typing.get_args(base)
        inner = describe(args[0]) if args else "any value"
        return f"a list of {_plural(inner)}"
    if _is_union(base):
        return " or ".join(describe(a) for a in typing.get_args(base) if a is not type(None))
    return getattr(base, "__name__", str(base))


def _plural(words: str) -> str:
    for a in ("an ", "a "):
        if words.startswith(a):
            noun, _, rest = words[len(a):].partition(" ")
            return noun + "s" + (" " + rest if rest else "")
    return words


# -- checking -----------------------------------------------------------------------------------------

def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(path)


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _unknown(path: tuple[str, ...], key: str, known: list[str]) -> SchemaError:
    near = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"did you mean {near[0]}?" if near else f"known: {', '.join(known) or 'none'}"
    return SchemaError(path + (key,), f"unknown key {_dotted(path + (key,))} ({hint})")


def check(value: Any, tp: Any, path: tuple[str, ...] = (), *, complete: bool = False,
          default: Any = None) -> None:
    """Raise :class:`SchemaError` (one line naming the path) unless ``value`` fits ``tp``.

    ``complete=False`` checks a partial layer (a file or the environment: keys and types only);
    ``complete=True`` checks the merged result, where required fields must be present. ``default``
    is the defaults' value at this place (to suggest an existing entry for a mistyped new one).
    """
    base, _ = _split(tp)
    if base is Any:
        return
    rec = _record(tp)
    if rec is not None and not (value is None and _optional(tp)):
        if not isinstance(value, Mapping):
            raise SchemaError(path, f"{_dotted(path)} must be a table, not {_shown(value)}")
        fields = _fields(rec)
        for k, v in value.items():
            f = fields.get(k)
            if f is None:
                raise _unknown(path, str(k), list(fields))
            check(v, f.type, path + (k,), complete=complete,
                  default=default.get(k) if isinstance(default, Mapping) else None)
        if complete:
            missing = [f.name for f in fields.values() if f.required and f.name not in value]
            if missing:
                raise SchemaError(path, f"{_dotted(path)} needs {', '.join(missing)}")
        return
    inner = _table_value(tp)
    if inner is not None and not (value is None and _optional(tp)):
        if not isinstance(value, Mapping):
            raise SchemaError(path, f"{_dotted(path)} must be a table, not {_shown(value)}")
        known = [str(k) for k in default] if isinstance(default, Mapping) else []
        for k, v in value.items():
            try:
                check(v, inner, path + (str(k),), complete=complete,
                      default=default.get(k) if isinstance(default, Mapping) else None)
            except SchemaError as e:
                # A new entry that lacks what every entry needs is most likely a mistyped name.
                near = difflib.get_close_matches(str(k), known, n=1, cutoff=0.6)
                if complete and k not in known and near and e.path == path + (str(k),):
                    raise SchemaError(e.path, f"{e.problem} (did you mean {near[0]}?)") from None
                raise
        return
    try:
        msgspec.convert(value, tp)
    except msgspec.ValidationError:
        raise SchemaError(path, f"{_dotted(path)} must be {describe(tp)}, not {_shown(value)}") from None


def _optional(tp: Any) -> bool:
    base, _ = _split(tp)
    return _is_union(base) and type(None) in typing.get_args(base)


def _accepts(value: Any, tp: Any) -> bool:
    try:
        msgspec.convert(value, tp)
    except (msgspec.ValidationError, TypeError):
        return False
    return True


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def coerce_env(raw: Any, tp: Any) -> Any:
    """Environment text -> typed values, guided by the schema.

    A value is read as JSON when that fits the field (``5``, ``["ETH"]``, ``null``), else kept as the
    text (a numeric API key stays a string), and a boolean also accepts 1/0, yes/no, on/off.
    Unknown keys keep their JSON value (:func:`check` rejects them afterwards)."""
    if isinstance(raw, dict):
        rec = _record(tp)
        if rec is not None:
            fields = _fields(rec)
            return {k: coerce_env(v, fields[k].type if k in fields else Any) for k, v in raw.items()}
        inner = _table_value(tp)
        return {k: coerce_env(v, inner if inner is not None else Any) for k, v in raw.items()}
    text = str(raw)
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = text
    candidates = [parsed, text]
    if text.strip().lower() in _TRUE | _FALSE:
        candidates.append(text.strip().lower() in _TRUE)
    base, _ = _split(tp)
    if base is Any:
        return parsed
    return next((c for c in candidates if _accepts(c, tp)), parsed)


# -- defaults, secrets, masking -----------------------------------------------------------------------

def to_dict(obj: Any) -> dict[str, Any]:
    """A struct (or dataclass) as the plain dict connectors read; unset optional values stay None."""
    out = msgspec.to_builtins(obj)
    if not isinstance(out, dict):
        raise TypeError(f"{type(obj).__name__} is not a record")
    return out


def defaults(schema: type) -> dict[str, Any]:
    """The schema's defaults as a dict (deferred sections are filled from their own schemas)."""
    out = to_dict(schema())
    for name, f in _fields(schema).items():
        if any(isinstance(m, Deferred) for m in typing.get_args(f.type)[1:]):
            real = _record(f.type)
            if real is not None:
                out[name] = defaults(real)
    return out


def _walk(value: Any, tp: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any, tuple[Any, ...]]]:
    """(path, value, metadata) of every leaf of ``value`` that the schema knows."""
    _, meta = _split(tp)
    rec = _record(tp)
    if rec is not None and isinstance(value, Mapping):
        fields = _fields(rec)
        for k, v in value.items():
            if k in fields:
                yield from _walk(v, fields[k].type, path + (k,))
        return
    inner = _table_value(tp)
    if inner is not None and isinstance(value, Mapping):
        for k, v in value.items():
            yield from _walk(v, inner, path + (str(k),))
        return
    yield path, value, meta


def url_key_parts(url: str) -> list[str]:
    """Key parts of an RPC-style URL: what ``url_secrets`` finds, plus long path segments (QuickNode
    ``/<token>/``, Ankr ``/eth/<key>``); the host stays readable."""
    from connectors.http import url_secrets

    return url_secrets(url) + [seg for seg in urlsplit(url).path.split("/") if len(seg) >= 16]


def secret_values(schema: Any, config: Mapping[str, Any]) -> list[str]:
    """Every secret the schema marks in ``config``: whole values, and the key parts of secret URLs."""
    out: list[str] = []
    for _, value, meta in _walk(config, schema):
        if not isinstance(value, str) or not value:
            continue
        if any(m is SECRET for m in meta):
            out.append(value)
        elif any(m is SECRET_URL for m in meta):
            out += url_key_parts(value)
    return out


def mask(schema: Any, config: Any, redact: Callable[[str], str] | None = None) -> Any:
    """A copy of ``config`` fit to show: secrets are ``"***"``, secret URLs lose their key parts, and
    ``redact`` (the run's redactor) is applied to every other string."""
    def go(value: Any, tp: Any) -> Any:
        _, meta = _split(tp)
        rec = _record(tp)
        if isinstance(value, Mapping):
            if rec is not None:
                fields = _fields(rec)
                return {k: go(v, fields[k].type if k in fields else Any) for k, v in value.items()}
            inner = _table_value(tp)
            return {k: go(v, inner if inner is not None else Any) for k, v in value.items()}
        if isinstance(value, list):
            return [go(v, Any) for v in value]
        if isinstance(value, str) and value:
            if any(m is SECRET for m in meta):
                return "***"
            if any(m is SECRET_URL for m in meta):
                for part in sorted(url_key_parts(value), key=len, reverse=True):
                    value = value.replace(part, "***")
            return redact(value) if redact else value
        return value

    return go(config, schema)


# -- TOML ---------------------------------------------------------------------------------------------

_BARE_KEY = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _toml_str(s: str) -> str:
    out = []
    for ch in s:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_key(k: str) -> str:
    return k if k and set(k) <= _BARE_KEY else _toml_str(k)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v != v:
            return "nan"
        if v in (float("inf"), float("-inf")):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _toml_str(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v if x is not None) + "]"
    if isinstance(v, Mapping):
        inner = ", ".join(f"{_toml_key(str(k))} = {_toml_value(x)}" for k, x in v.items() if x is not None)
        return "{" + inner + "}" if inner else "{}"
    raise TypeError(f"no TOML form for {type(v).__name__}")


def _is_table(v: Any) -> bool:
    return isinstance(v, Mapping) and bool(v)


def _comment(text: str) -> list[str]:
    return [f"# {line}".rstrip() for line in text.strip().splitlines()] if text else []


def to_toml(values: Mapping[str, Any], schema: Any = Any, *, docs: bool = False) -> str:
    """``values`` as a TOML document (a value of None is left out: TOML has no null).

    With ``docs``: a sample file. Each table gets a comment, each key the doc line of its field (the
    first time a struct is shown: the limits of the next connector are not explained again), and a
    field unset by default (an API key) is a commented-out line, so a user uncomments what they need.
    """
    lines: list[str] = []
    documented: set[type] = set()

    def table(d: Mapping[str, Any], tp: Any, path: tuple[str, ...], doc: str) -> None:
        rec = _record(tp)
        fields = _fields(rec) if rec is not None else {}
        inner = _table_value(tp)
        key_docs = docs and (rec is None or rec not in documented)
        if rec is not None:
            documented.add(rec)
        own = [(k, v) for k, v in d.items() if not _is_table(v)]
        subs = [(k, v) for k, v in d.items() if _is_table(v)]
        if path and (own or not subs or (docs and doc)):
            lines.append("")
            if docs:
                lines.extend(_comment(doc))
            lines.append("[" + ".".join(_toml_key(p) for p in path) + "]")
        for k, v in own:
            ftp = fields[k].type if k in fields else (inner if inner is not None else Any)
            if key_docs:
                lines.extend(_comment(doc_of(ftp)))
            if v is None:
                if docs:
                    lines.append(f"# {_toml_key(str(k))} = <{describe(ftp)}>")
                continue
            lines.append(f"{_toml_key(str(k))} = {_toml_value(v)}")
        for k, v in subs:
            ftp = fields[k].type if k in fields else (inner if inner is not None else Any)
            sub = _record(ftp)
            sub_doc = doc_of(ftp) if rec is not None else ""
            if not sub_doc and sub is not None:
                sub_doc = (sub.__doc__ or "").strip().split("\n")[0]
            table(v, ftp, path + (str(k),), sub_doc)

    table(values, schema, (), "")
    return "\n".join(lines).lstrip("\n") + "\n"


class TypedConfig:
    """Mixin of a connector whose configuration is the typed schema ``schema``: its defaults (as the dict
    streams read) and its secrets (what the schema marks) come from the schema, declared once."""

    schema: Any  # the connector's msgspec Struct class (a ClassVar, or a property where it varies)

    def default_config(self) -> dict[str, Any]:
        """The schema's defaults, as the dict the streams read."""
        return to_dict(self.schema())

    def secrets(self, config: dict[str, Any]) -> list[str]:
        """What the schema marks secret (keys, tokens, key parts of RPC URLs) in ``config``."""
        return secret_values(self.schema, config)
