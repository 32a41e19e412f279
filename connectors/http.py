"""One HTTP client per run: per-host concurrency and rate limits, bounded retries, redaction.

Why not retry everything: a 4xx other than 408/425/429 is the caller's mistake (a bad key, a wrong
path) and retrying it only burns the rate budget, so it fails fast with one clear line.  429, 5xx,
timeouts, dropped connections and truncated JSON bodies are transient and retried with exponential
backoff and full jitter, honouring ``Retry-After`` for the whole host.

Answers are bounded: a body is read in chunks and the request fails with one line as soon as it
passes ``max_body_bytes`` (or announces more in Content-Length), so a runaway page never sits in
memory; a body that does not parse as JSON is downloaded at most ``parse_tries`` times (a cut-off
transfer usually parses on the next try, a broken endpoint never does).  A redirect loop is one line.

A host that does not resolve or refuses the connection is not a busy server: it is a wrong URL or
no network, and six backed-off retries per request (times every stream on that host) only delay
the one line the operator needs.  Such a request is tried once more (a DNS or restart blip), then
fails as "cannot resolve host H" / "connection refused by H:P", and the host stays marked down for
the rest of the run, so later requests to it fail at once with the same line.

Each retry can be told to ``HttpClient.on_retry`` (redacted URL, attempt, reason, wait): an operator
watching a run sees *why* a stream is stuck ("HTTP 503 Service Unavailable, next in 2.0s"), not
only a count.  The hook is called on the retry path only, so an unset hook costs nothing.
"""

from __future__ import annotations

import asyncio
import collections
import email.utils
import errno
import json
import logging
import random
import re
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

_CERTS_LOCK = threading.Lock()


class _LazyCerts(ssl.SSLContext):
    """An ``SSLContext`` that loads the system's CA certificates at its first TLS handshake.

    Why: aiohttp builds its two default contexts when it is imported, and loading the certificates
    into them (``set_default_verify_paths``) is ~70 ms of every ``tracer`` command's start -- before
    a sync to an ``http://`` node (a local one, or any behind a proxy) sends its first request, which
    never needs them.  Verification is unchanged: the certificates are in the context before any
    handshake reads them (``wrap_bio`` is what asyncio calls, ``wrap_socket`` what blocking code
    calls), and until then it trusts nothing (fails closed)."""

    def _load_certs(self) -> None:
        if "_certs_pending" in self.__dict__:
            with _CERTS_LOCK:  # a second thread's handshake waits until they are all in
                if "_certs_pending" in self.__dict__:
                    ssl.SSLContext.set_default_verify_paths(self)
                    del self.__dict__["_certs_pending"]

    def wrap_bio(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        self._load_certs()
        return super().wrap_bio(*args, **kwargs)

    def wrap_socket(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        self._load_certs()
        return super().wrap_socket(*args, **kwargs)

    def get_ca_certs(self, binary_form: bool = False) -> Any:  # type: ignore[override]
        self._load_certs()
        return super().get_ca_certs(binary_form)

    def cert_store_stats(self) -> dict[str, int]:
        self._load_certs()
        return super().cert_store_stats()


def _import_aiohttp() -> None:
    """Import aiohttp with the certificates of the contexts it makes at import loaded lazily
    (:class:`_LazyCerts`); nothing changes if aiohttp is already imported."""
    if "aiohttp" in sys.modules:
        return
    deferred: list[ssl.SSLContext] = []
    real = ssl.SSLContext.set_default_verify_paths

    def later(ctx: ssl.SSLContext) -> None:
        deferred.append(ctx)

    ssl.SSLContext.set_default_verify_paths = later  # type: ignore[method-assign,assignment]
    try:
        import aiohttp  # noqa: F401
    finally:
        ssl.SSLContext.set_default_verify_paths = real  # type: ignore[method-assign]
    for ctx in deferred:
        try:
            if type(ctx) is not ssl.SSLContext:
                raise TypeError(type(ctx).__name__)
            ctx.__class__ = _LazyCerts
            ctx.__dict__["_certs_pending"] = True
        except TypeError:  # not a plain context (or a Python that refuses the swap): load them now
            real(ctx)


_import_aiohttp()

import aiohttp  # noqa: E402
from msgspec import Struct, field  # noqa: E402

from connectors.base import ConfigError, ConnectorError  # noqa: E402

log = logging.getLogger("tracer.http")

# Told of each retry before its wait: (redacted URL, attempt number from 1, redacted reason, seconds to wait).
RetryHook = Callable[[str, int, str, float], None]

RETRIABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524})
_SECRET_PARAM = re.compile(
    r"(?i)([?&](?:api[-_]?key|apikey|key|token|access[-_]?token|auth|secret|password|jwt)=)[^&#\s]+"
)
_USERINFO = re.compile(r"(?i)(https?|wss?)://[^/@\s:]+(?::[^/@\s]*)?@")
# Hosted RPC URLs carry the key as a path segment (Infura /v3/<32 hex>, Alchemy /v2/<key>, ...).
_PATH_KEY = re.compile(r"(?i)(/v[0-9]+/)([A-Za-z0-9_-]{20,})(?=$|[/?#\s])")


def url_secrets(url: str) -> list[str]:
    """Secret values carried by a URL (query keys, userinfo, a hosted-RPC path key) to register.

    Registering the bare values lets the redactor also hide them where a server echoes them back
    outside URL syntax (an error body saying "invalid key 0123...").
    """
    found = [m.group(0).split("=", 1)[1] for m in _SECRET_PARAM.finditer(url)]
    m = re.match(r"(?i)(?:https?|wss?)://([^/@\s]+)@", url)
    if m:
        found += [p for p in m.group(1).split(":") if p]
    found += [m.group(2) for m in _PATH_KEY.finditer(url)]
    return found


class Redactor:
    """Removes secrets (registered values and well-known URL patterns) from any text.

    One per run, built from that run's effective configuration (``tracer.config.redactor``) and
    handed to the :class:`HttpClient` and to whatever formats the run's errors: the secrets travel
    with the run instead of piling up in a process-wide registry (a server or a test that runs many
    configurations would otherwise mix them, and could never forget one).
    """

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets: set[str] = set()
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        """Register more secret values (shorter than 4 characters: ignored, they would mask noise)."""
        for s in secrets:
            if s and len(s) >= 4:
                self._secrets.add(s)

    @property
    def secrets(self) -> frozenset[str]:
        return frozenset(self._secrets)

    def __call__(self, text: str) -> str:
        for s in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(s, "***")
        text = _USERINFO.sub(lambda m: f"{m.group(1)}://***@", text)
        text = _SECRET_PARAM.sub(lambda m: f"{m.group(1)}***", text)
        return _PATH_KEY.sub(lambda m: f"{m.group(1)}***", text)


class HttpError(ConnectorError):
    """A request that failed for good: the message is one line naming endpoint and status."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class BodyTooLarge(HttpError):
    """An answer larger than ``limits.max_body_bytes`` (never retried: it would be as large again).
    A caller that can ask for less (a smaller eth_getLogs range) catches it and does."""


class PaginationLoop(ConnectorError):
    """A paginator received a page token it had already followed (the source is looping)."""


class JsonRpcError(ConnectorError):
    """A JSON-RPC error object returned by a node."""

    def __init__(self, code: int | None, message: str, data: Any = None) -> None:
        super().__init__(f"JSON-RPC error {code}: {message}")
        self.code = code
        self.rpc_message = message
        self.data = data


class HostLimits(Struct, frozen=True):
    """Limits for one host. ``rate`` is requests per second (0 = unlimited)."""

    concurrency: int = 4
    rate: float = 0.0
    max_retries: int = 6
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    timeout: float = 30.0
    retry_after_max: float = 300.0
    max_body_bytes: int = 32 * 1024 * 1024
    parse_tries: int = 3

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None, where: str = "limits") -> HostLimits:
        """Validated limits: a typo or a zero concurrency must fail loudly, not hang a cron job."""
        if not cfg:
            return cls()
        unknown = sorted(set(cfg) - set(cls.__struct_fields__))
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; "
                              f"known: {', '.join(cls.__struct_fields__)}")
        vals: dict[str, Any] = {}
        for k, v in cfg.items():
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise ConfigError(f"{where}.{k} must be a number, not {v!r}")
            vals[k] = v
        lim = cls(**vals)
        if not (isinstance(lim.concurrency, int) and lim.concurrency >= 1):
            raise ConfigError(f"{where}.concurrency must be a whole number >= 1, not {lim.concurrency!r}")
        if not (isinstance(lim.max_retries, int) and lim.max_retries >= 0):
            raise ConfigError(f"{where}.max_retries must be a whole number >= 0, not {lim.max_retries!r}")
        for k in ("max_body_bytes", "parse_tries"):
            if not (isinstance(getattr(lim, k), int) and getattr(lim, k) >= 1):
                raise ConfigError(f"{where}.{k} must be a whole number >= 1, not {getattr(lim, k)!r}")
        for k in ("rate", "backoff_base", "backoff_max", "retry_after_max"):
            if getattr(lim, k) < 0:
                raise ConfigError(f"{where}.{k} must be >= 0, not {getattr(lim, k)!r}")
        if lim.timeout <= 0:
            raise ConfigError(f"{where}.timeout must be > 0 seconds, not {lim.timeout!r}")
        return lim


class Response(Struct):
    """What a request returned: the exact body bytes (for hashing) and the parsed JSON."""

    status: int
    body: bytes
    data: Any
    url: str  # redacted
    headers: Mapping[str, str] = field(default_factory=dict)


class Pacer:
    """Request pacing for a host: at most ``rate`` request starts in any one-second window.

    Why not a token bucket: aiolimiter's ``AsyncLimiter(rate, 1)`` starts full, so it lets ``rate``
    requests through at once and then ``rate`` more in the same second; a server that enforces
    its limit over a sliding window answers that burst with 429s.  Starts follow a grid ``1/rate``
    apart (so sleep overshoot does not accumulate and the full rate is reached), and a start is
    also held until the ``rate``-th previous actual start is more than one second (+ ``margin``
    for loopback/network jitter) old, which bounds every window even when the grid catches up.
    """

    def __init__(self, rate: float, margin: float = 0.02) -> None:
        self.interval = 1.0 / rate
        self.margin = margin
        self._grid = -1e18
        self._starts: collections.deque[float] = collections.deque(maxlen=max(1, int(rate)))
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            now = time.monotonic()
            # Catch up at most one interval after idling, never burst a whole backlog.
            target = max(self._grid + self.interval, now - self.interval)
            if len(self._starts) == self._starts.maxlen:
                target = max(target, self._starts[0] + 1.0 + self.margin)
            while (wait := target - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            self._grid = target
            self._starts.append(time.monotonic())

    def widen(self, cap: float = 0.2) -> None:
        """A 429 despite pacing: the server's clock sees our starts closer than we sent them
        (scheduling and network jitter), so keep a wider safety margin from now on."""
        self.margin = min(cap, self.margin * 2)


class _Host(Struct):
    limits: HostLimits
    sem: asyncio.Semaphore
    limiter: Pacer | None
    not_before: float = 0.0
    down: str | None = None  # why the host is unreachable for this run (does not resolve, refuses)

    async def wait_pause(self) -> None:
        """Sleep while the host asked everyone to back off (Retry-After applies to the host)."""
        while (wait := self.not_before - time.monotonic()) > 0:
            await asyncio.sleep(wait)


# Retries left for a host that does not resolve or refuses the connection (see the module docstring).
UNREACHABLE_RETRIES = 1


class _Transient(Exception):
    def __init__(self, reason: str, retry_after: float | None = None, status: int | None = None,
                 bad_body: bool = False, unreachable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.status = status
        self.bad_body = bad_body  # the answer arrived whole but does not parse
        self.unreachable = unreachable  # no DNS answer or a refused connection: at most one retry


def _unreachable(e: aiohttp.ClientConnectorError) -> str | None:
    """The one-line cause when ``e`` says the host cannot be reached at all (else None)."""
    if isinstance(e, aiohttp.ClientConnectorDNSError):
        return f"cannot resolve host {e.host}"
    if e.os_error.errno == errno.ECONNREFUSED or isinstance(e.os_error, ConnectionRefusedError):
        return f"connection refused by {e.host}:{e.port}"
    return None


def _status_line(status: int, phrase: str | None, retry_after: str | None) -> str:
    """"HTTP 503 Service Unavailable" (+ ", Retry-After 2" when the server asked for a pause): the
    phrase says what a bare number does not (520-524 are Cloudflare's, not in any standard table)."""
    line = f"HTTP {status}"
    phrase = (phrase or "").strip()
    if phrase:
        line += " " + (phrase if len(phrase) <= 60 else phrase[:59] + "…")
    if retry_after:
        line += f", Retry-After {retry_after.strip()[:40]}"
    return line


def _size(n: int) -> str:
    return f"{n / 1048576:g} MB" if n % 1048576 == 0 else f"{n} bytes"


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        dt = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, dt.timestamp() - (now if now is not None else time.time()))


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Full-jitter exponential backoff (AWS architecture blog): uniform(0, min(cap, base*2^n))."""
    r = rng or random
    return r.uniform(0, min(cap, base * (2**attempt)))


class HttpClient:
    """The run's HTTP client. Create with :func:`open_client`; one per run, shared by all streams."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        host_limits: Mapping[str, HostLimits] | None = None,
        default_limits: HostLimits | None = None,
        redactor: Redactor | None = None,
        on_retry: RetryHook | None = None,
    ) -> None:
        self.session = session
        self.on_retry = on_retry  # see RetryHook; called only when a request is retried
        self._configured = dict(host_limits or {})
        self._default = default_limits or HostLimits()
        self._hosts: dict[str, _Host] = {}
        self.redact = redactor if redactor is not None else Redactor()
        self.stats: dict[str, int] = {"requests": 0, "retries": 0, "status_429": 0}

    def set_limits(self, url_or_host: str, limits: HostLimits) -> None:
        """Configure limits for the host of ``url_or_host`` (before its first request)."""
        host = urlsplit(url_or_host).netloc or url_or_host
        self._configured[host] = limits
        self._hosts.pop(host, None)

    def _host(self, url: str) -> _Host:
        host = urlsplit(url).netloc
        h = self._hosts.get(host)
        if h is None:
            lim = self._configured.get(host, self._default)
            h = _Host(lim, asyncio.Semaphore(lim.concurrency), Pacer(lim.rate) if lim.rate else None)
            self._hosts[host] = h
        return h

    async def request(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        parse_json: bool = True,
        ok_status: frozenset[int] = frozenset({200}),
    ) -> Response:
        """Send one request with retries; returns the body and, if asked, the parsed JSON."""
        if not url.startswith(("http://", "https://")):
            return await read_local(url, parse_json)
        host = self._host(url)
        lim = host.limits
        self.redact.add(*url_secrets(url))  # a server may echo the bare key back in an error body
        shown = self.redact(url)
        last = ""
        bad_bodies = 0
        for attempt in range(lim.max_retries + 1):
            if host.down is not None:
                raise HttpError(f"{method} {shown}: {self.redact(host.down)}")
            await host.wait_pause()
            try:
                async with host.sem:
                    # A pause set while this request queued for a slot applies to it too.
                    await host.wait_pause()
                    if host.limiter is not None:
                        await host.limiter.acquire()
                    await host.wait_pause()
                    return await self._once(method, url, shown, json_body, params, headers, parse_json,
                                            ok_status, lim)
            except _Transient as t:
                last = t.reason
                if t.status == 429 and host.limiter is not None:
                    host.limiter.widen()
                bad_bodies += t.bad_body
                if t.unreachable and attempt >= min(lim.max_retries, UNREACHABLE_RETRIES):
                    host.down = t.reason  # every later request to the host fails at once
                    raise HttpError(f"{method} {shown}: {self.redact(t.reason)}") from None
                if bad_bodies >= lim.parse_tries:
                    raise HttpError(f"{method} {shown}: the answer is not valid JSON in {bad_bodies} "
                                    f"download(s) (limits.parse_tries = {lim.parse_tries}): "
                                    f"{self.redact(last)}") from None
                if attempt >= lim.max_retries:
                    break
                self.stats["retries"] += 1
                delay = backoff_delay(attempt, lim.backoff_base, lim.backoff_max)
                if t.retry_after is not None:
                    delay = max(delay, min(t.retry_after, lim.retry_after_max))
                    host.not_before = max(host.not_before, time.monotonic() + delay)
                why = self.redact(last)
                log.info("retry %d/%d %s %s in %.2fs: %s", attempt + 1, lim.max_retries, method, shown, delay, why)
                if self.on_retry is not None:  # the wait includes a host-wide Retry-After pause
                    self.on_retry(shown, attempt + 1, why, max(delay, host.not_before - time.monotonic()))
                await asyncio.sleep(delay)
        raise HttpError(f"{method} {shown} failed after {lim.max_retries + 1} attempts: {self.redact(last)}")

    async def _once(self, method: str, url: str, shown: str, json_body: Any, params: Any, headers: Any,
                    parse_json: bool, ok_status: frozenset[int], lim: HostLimits) -> Response:
        self.stats["requests"] += 1
        timeout = aiohttp.ClientTimeout(total=lim.timeout)
        try:
            async with self.session.request(method, url, json=json_body, params=params, headers=headers,
                                            timeout=timeout) as resp:
                status = resp.status
                hdrs = {k: v for k, v in resp.headers.items()}
                body = await self._read_capped(resp, method, shown, lim.max_body_bytes)
        except TimeoutError as e:
            raise _Transient(f"timeout after {lim.timeout:g}s") from e
        except aiohttp.TooManyRedirects as e:
            at = self.redact(str(e.history[-1].url)) if e.history else shown
            raise HttpError(f"{method} {shown}: redirect loop at {at} after {len(e.history)} redirects") from None
        except aiohttp.ClientConnectorError as e:  # before the request was sent: DNS, connect, TLS
            why = _unreachable(e)
            if why is not None:
                raise _Transient(why, unreachable=True) from e
            raise _Transient(f"connection error: {type(e).__name__}: {e}") from e
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as e:
            raise _Transient(f"connection error: {type(e).__name__}: {e}") from e
        except aiohttp.ClientError as e:  # an invalid URL or answer: the same on every try
            raise HttpError(f"{method} {shown}: {type(e).__name__}: {self.redact(str(e))}") from None
        if status == 429:
            self.stats["status_429"] += 1
        if status in RETRIABLE_STATUS:
            asked = hdrs.get("Retry-After")
            raise _Transient(_status_line(status, resp.reason, asked), parse_retry_after(asked), status)
        if status not in ok_status:
            snippet = body[:200].decode("utf-8", "replace").replace("\n", " ").strip()
            raise HttpError(f"{method} {shown} -> HTTP {status}: {self.redact(snippet) or 'no body'}", status)
        data: Any = None
        if parse_json:
            try:
                data = json.loads(body)
            except ValueError as e:
                raise _Transient(f"invalid or truncated JSON ({len(body)} bytes): {e}", bad_body=True) from e
        return Response(status, body, data, shown, hdrs)

    async def _read_capped(self, resp: aiohttp.ClientResponse, method: str, shown: str, cap: int) -> bytes:
        """The body, read in chunks; past ``cap`` bytes the read stops and the request fails for good
        (the connection is dropped, not drained: the rest of the body is never downloaded)."""
        declared = resp.content_length
        too_big = f"{method} {shown}: the answer is larger than {_size(cap)} (limits.max_body_bytes = {cap})"
        if declared is not None and declared > cap:
            resp.close()
            raise BodyTooLarge(f"{too_big}: Content-Length {declared}", resp.status)
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(1 << 16):
            size += len(chunk)
            if size > cap:
                resp.close()
                raise BodyTooLarge(f"{too_big}; stopped reading", resp.status)
            chunks.append(chunk)
        return b"".join(chunks)

    async def get_json(self, url: str, params: Mapping[str, Any] | None = None,
                       headers: Mapping[str, str] | None = None) -> Response:
        return await self.request("GET", url, params=params, headers=headers)

    async def get_bytes(self, url: str, headers: Mapping[str, str] | None = None) -> Response:
        return await self.request("GET", url, headers=headers, parse_json=False)

    async def post_json(self, url: str, body: Any, headers: Mapping[str, str] | None = None) -> Response:
        return await self.request("POST", url, json_body=body, headers=headers)

    async def rpc(self, url: str, method: str, params: list[Any]) -> tuple[Any, Response]:
        """One JSON-RPC 2.0 call; raises JsonRpcError on an error object."""
        resp = await self.post_json(url, {"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        d = resp.data
        if not isinstance(d, dict):
            raise HttpError(f"POST {resp.url} {method}: not a JSON-RPC response")
        if d.get("error"):
            err = d["error"]
            raise JsonRpcError(err.get("code"), str(err.get("message")), err.get("data"))
        return d.get("result"), resp

    async def rpc_batch(self, url: str, calls: list[tuple[str, list[Any]]]) -> tuple[list[Any], Response]:
        """A JSON-RPC batch array; returns results in call order (JsonRpcError instances for errors)."""
        payload = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
        resp = await self.post_json(url, payload)
        d = resp.data
        if isinstance(d, dict) and d.get("error"):  # some nodes answer a whole batch with one error
            err = d["error"]
            raise JsonRpcError(err.get("code"), str(err.get("message")), err.get("data"))
        if not isinstance(d, list) or len(d) != len(calls):
            raise HttpError(f"POST {resp.url}: batch of {len(calls)} answered with "
                            f"{len(d) if isinstance(d, list) else type(d).__name__}")
        out: list[Any] = [None] * len(calls)
        for item in d:
            i = item.get("id")
            if not isinstance(i, int) or not 0 <= i < len(calls):
                raise HttpError(f"POST {resp.url}: batch answer with unknown id {i!r}")
            err = item.get("error")
            out[i] = JsonRpcError(err.get("code"), str(err.get("message")), err.get("data")) if err \
                else item.get("result")
        return out, resp


async def read_local(path: str, parse_json: bool = True) -> Response:
    """Read a local file (``file://`` URL or path) as if it had been fetched."""
    p = Path(path[7:] if path.startswith("file://") else path)
    try:
        body = await asyncio.to_thread(p.read_bytes)
    except OSError as e:
        raise HttpError(f"cannot read {p}: {e.strerror or e}") from e
    data: Any = None
    if parse_json:
        try:
            data = json.loads(body)
        except ValueError as e:
            raise HttpError(f"{p} is not valid JSON: {e}") from e
    return Response(200, body, data, str(p))


class TokenGuard:
    """Remembers pagination tokens; raises :class:`PaginationLoop` when one comes back."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._seen: set[str] = set()

    def check(self, token: str | None) -> None:
        if token is None or token == "":
            return
        if token in self._seen:
            raise PaginationLoop(f"{self.what}: page token {token[:40]!r} seen twice; the source is looping")
        self._seen.add(token)


def open_session(user_agent: str = "tracer/0.1 (+https://github.com/tracer)", limit_per_host: int = 16,
                 ) -> aiohttp.ClientSession:
    """The one aiohttp session of a run (must be created inside the running event loop)."""
    connector = aiohttp.TCPConnector(limit=64, limit_per_host=limit_per_host)
    return aiohttp.ClientSession(connector=connector, headers={"User-Agent": user_agent})
