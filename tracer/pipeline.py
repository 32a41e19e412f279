"""The sync engine: run selected streams, write each page atomically, keep a run log.

One aiohttp session per run; connectors run concurrently, the streams of one connector in their
declared order (later streams may read what earlier ones stored).  A stream that fails is logged
with its one-line cause; the others go on, and the run ends as ``failed`` (exit code 1).  A stream
that is not configured (:class:`connectors.base.NotConfigured`) is ``skipped`` with its reason:
neither a failure nor an "ok, 0 records" that reads as "nothing there".
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol
from urllib.parse import urlsplit

import msgspec
from msgspec import Struct, field

from connectors.base import (
    ConfigError,
    Connector,
    ConnectorError,
    NotConfigured,
    Page,
    RunContext,
    Stream,
    Table,
    all_tables,
)
from connectors.http import HostLimits, HttpClient, Redactor, RetryHook, open_session
from tracer import config as cfgmod
from tracer import registry
from tracer.entry import startup_over
from tracer.store import DEFER_INDEXES, Opening, StoreBackend, StoreError, StoreFault
from tracer.store.base import Packed, PageWriter
from tracer.store.snapshot import Snapshot

log = logging.getLogger("tracer.pipeline")

Progress = Callable[[int, int | None, str], None]
ProgressFactory = Callable[[str], Progress]


class StreamResult(Struct):
    stream: str
    status: str = "ok"
    pages: int = 0
    records: int = 0
    error: str | None = None
    note: str | None = None  # why a skipped stream did nothing ("not configured: ...")
    retries: int = 0  # HTTP retries of this stream's requests so far (the live view shows them)
    retry_reason: str = ""  # why the latest retry happened, redacted ("HTTP 503 Service Unavailable")
    retry_wait: float = 0.0  # seconds that retry waits before trying again


class Watch(Protocol):
    """What a live view (tracer.live) is told about a sync, on the event loop's thread.

    ``started`` hands over the stream's result, which the pipeline keeps updating (records, retries),
    so a view can redraw from it at any time; ``retried`` comes after each retry of the stream's
    requests, its reason and wait already in the result; ``finished`` comes last, also when the run
    is interrupted.  A stream started early that a signal stops before the run hands it over is
    ``ended`` (interrupted) without ``started``, and possibly before ``planned``.
    """

    def planned(self, streams: list[str]) -> None: ...

    def started(self, res: StreamResult) -> Progress | None: ...

    def retried(self, res: StreamResult) -> None: ...

    def ended(self, res: StreamResult) -> None: ...

    def finished(self) -> None: ...


# The stream whose task is running: tasks a stream starts inherit it, so their retries count for it.
_STREAM: contextvars.ContextVar[StreamResult | None] = contextvars.ContextVar("tracer_stream", default=None)


def _retry_hook(watch: Watch | None) -> RetryHook:
    """The run client's ``on_retry``: counts each retry, with its reason and wait, on the stream that
    asked (``_STREAM``), and tells the view.

    Why a hook and not the client's counters: the client is shared by every stream of the run, only
    the retry path calls it (a request that succeeds first time pays nothing), and it carries the
    reason an operator needs to tell a busy server from a wrong URL.
    """

    def on_retry(url: str, attempt: int, reason: str, wait: float) -> None:
        res = _STREAM.get()
        if res is None:
            return
        res.retries += 1
        res.retry_reason, res.retry_wait = reason, wait
        if watch is not None:
            watch.retried(res)

    return on_retry



# Stream statuses that leave a run ``ok``.
GOOD = frozenset({"ok", "skipped"})


class SyncResult(Struct):
    run_id: str
    status: str
    duration_s: float
    streams: list[StreamResult] = field(default_factory=list)

    @property
    def records(self) -> int:
        return sum(s.records for s in self.streams)

    @property
    def errors(self) -> list[str]:
        return [f"{s.stream}: {s.error}" for s in self.streams if s.error]

    def counts(self) -> dict[str, int]:
        """How many streams ended in each status (``ok``, ``skipped``, ``failed``...)."""
        out: dict[str, int] = {}
        for s in self.streams:
            out[s.status] = out.get(s.status, 0) + 1
        return out


def interrupted_error(e: BaseException, first: str | None = None) -> str:
    """The run log's line for a run that did not end by itself: what stopped it, and ``first``, the
    first real error before that (a cancelled run used to be recorded as a bare "CancelledError: ")."""
    from tracer.entry import Terminated

    if isinstance(e, asyncio.CancelledError | KeyboardInterrupt | Terminated):
        why = "interrupted by a signal (Ctrl-C or SIGTERM)"
    else:
        why = f"interrupted by {type(e).__name__}" + (f": {e}" if str(e) else "")
    return f"{why}; first error: {first}" if first else why


def effective_configs(cfg: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each registered connector's configuration (defaults + file + env)."""
    return {name: cfgmod.connector_config(cfg, name, conn.default_config())
            for name, conn in registry.connectors().items()}


def _host_limits(conn: Connector, c: dict[str, Any]) -> dict[str, HostLimits]:
    lim = HostLimits.from_config(c.get("limits"), f"connectors.{conn.name}.limits")
    return {urlsplit(p.url).netloc: lim for p in conn.probes(c) if p.url.startswith("http")}


def _redact_values(value: Any, redact: Redactor) -> Any:
    """Secrets out of every string in a stream state (a base URL kept to detect a config change).

    The stream then sees a changed value and starts its load over instead of resuming: slower,
    but a key never lands in the database.
    """
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_values(v, redact) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_values(v, redact) for v in value]
    return value


def _stricter(a: HostLimits, b: HostLimits) -> HostLimits:
    rates = [r for r in (a.rate, b.rate) if r]
    return msgspec.structs.replace(a, concurrency=min(a.concurrency, b.concurrency),
                                   rate=min(rates) if rates else 0.0, max_retries=min(a.max_retries, b.max_retries))


def plan_limits(plan: list[tuple[Connector, list[Stream]]], configs: dict[str, dict[str, Any]],
                ) -> dict[str, HostLimits]:
    """Per-host limits of a run. Connectors sharing a host share its budget: the stricter wins
    (two list connectors on raw.githubusercontent.com must not each spend the whole rate)."""
    out: dict[str, HostLimits] = {}
    for conn, _ in plan:
        for host, lim in _host_limits(conn, configs[conn.name]).items():
            out[host] = _stricter(out[host], lim) if host in out else lim
    return out


async def _run_stream(store: StoreBackend, stream: Stream, ctx: RunContext, res: StreamResult,
                      redact: Redactor, early: _Early | None = None) -> None:
    if early is not None:  # started before the store opened, its state checked under the lock
        try:
            await _consume(store, stream, ctx, res, _resumed(early), redact)
        finally:
            await early.drop()  # a no-op once it has ended; else its requests in flight stop now
        return
    state = store.get_state(stream.name)
    pages: Any = stream.extract(ctx, state)
    # Close the generator on any exit so its own cleanup (prefetch tasks, files) runs now.
    closing: Any = contextlib.aclosing(pages) if hasattr(pages, "aclose") else contextlib.nullcontext(pages)
    async with closing:
        await _consume(store, stream, ctx, res, pages, redact)


class _Early(Struct):
    """A stream started before the store opened (``early_start``), on a snapshot of the store
    (:mod:`tracer.store.snapshot`): its generator, and the task that runs it to its first page."""

    res: StreamResult
    ctx: RunContext
    state: dict[str, Any]  # the state it started from (a copy: compared with the store's under the lock)
    pages: Any
    first: asyncio.Future[Page | None]

    async def drop(self) -> None:
        """Stop it: its requests in flight are cancelled; none of its pages was written."""
        if not self.first.done():
            self.first.cancel()
        await asyncio.wait([self.first])
        if not self.first.cancelled():
            self.first.exception()  # retrieved: an early failure that nobody consumed is not logged
        with contextlib.suppress(Exception):
            await self.pages.aclose()


def _interrupt_early(early: dict[str, _Early], watch: Watch | None, store: StoreBackend | None = None,
                     run_id: str = "") -> None:
    """The early streams a signal stopped before the run handed them over (their requests were out,
    the store still opening or the run's row being written): interrupted like the others, told to the
    view and, once the run has its row, recorded; each once."""
    for name, e in early.items():
        if e.res.status == "interrupted":
            continue
        e.res.status, e.res.error = "interrupted", "stopped by a signal"
        if store is not None and run_id:
            store.log_stream(run_id, name, e.ctx.now, cfgmod.now(), e.res.status, 0, 0, e.res.error)
        if watch is not None:
            watch.ended(e.res)


async def _first_page(pages: Any) -> Page | None:
    try:
        page: Page = await pages.__anext__()
    except StopAsyncIteration:
        return None
    return page


async def _resumed(early: _Early) -> Any:
    """The early stream's pages: the first (or what the stream raised), then the rest."""
    page = await early.first
    if page is None:
        return
    yield page
    async for page in early.pages:
        yield page


def _start_early(snap: Snapshot, plan: list[tuple[Connector, list[Stream]]], configs: dict[str, dict[str, Any]],
                 http: HttpClient) -> dict[str, _Early]:
    """Start each connector's first stream that can start early (``early_start``) on ``snap``."""
    early: dict[str, _Early] = {}
    for conn, streams in plan:
        # Only a connector's first stream: the later ones may read what the earlier ones store.
        if not streams or not getattr(streams[0], "early_start", False):
            continue
        stream = streams[0]
        state = snap.get_state(stream.name)
        res = StreamResult(stream.name)
        ctx = RunContext(http=http, config=configs[conn.name], now=cfgmod.now(), run_id="",
                         state_of=snap.get_state, stored=snap)
        token = _STREAM.set(res)  # the task (and what it starts) counts its retries for this stream
        try:
            pages = stream.extract(ctx, json.loads(json.dumps(state)))
            first = asyncio.ensure_future(_first_page(pages))
        finally:
            _STREAM.reset(token)
        early[stream.name] = _Early(res, ctx, state, pages, first)
    return early


async def _consume(store: StoreBackend, stream: Stream, ctx: RunContext, res: StreamResult, pages: Any,
                   redact: Redactor) -> None:
    sink = store.page_writer() if getattr(stream, "write_behind", False) else None
    behind = _WriteBehind(sink, res) if sink is not None else None
    try:
        async for page in pages:
            if not page.fetched_at:
                page.fetched_at = cfgmod.now()
            page.url = redact(page.url)  # provenance must never carry a key
            records = list(stream.transform(page))
            if page.state is not None:
                page.state = _redact_values(page.state, redact)
            if behind is not None:
                await behind.put(stream.name, page, records, ctx.run_id)
            else:
                res.records += store.write_page(stream.name, page, records, ctx.run_id)
                res.pages += 1
            ctx.report(0, None, "")
    except Exception as e:
        if behind is not None:  # the pages before the failure are stored, as when written in line
            await behind.close(drain=True, cause=e)
        raise
    except BaseException:
        if behind is not None:  # interrupted: the page being written ends its transaction, no more
            await behind.close(drain=False)
        raise
    if behind is not None:
        store.writes_ending()
        await behind.close(drain=True)


class _NotWritten(Exception):
    """A page queued after a page whose write failed (or after an interruption): never written."""


class _WriteBehind:
    """Pages written in order on one thread while the event loop fetches and transforms the next.

    For streams whose class sets ``write_behind = True`` (the EVM transfers: ~40% of a backfill's
    time is SQLite, which releases the GIL while it works), on the store's :meth:`page_writer`
    connection.  Every guarantee of writing in line stays: one transaction per page, in order;
    after a failed write no later page is written (the stored pages are a prefix, the cursor
    never passes a lost page); at most ``depth`` pages wait, so memory stays bounded and a
    failure surfaces within ``depth`` pages.  Opt-in: a stream that reads the store while it
    extracts would not see the pages still queued."""

    def __init__(self, sink: PageWriter, res: StreamResult, depth: int = 2) -> None:
        self.sink, self.res, self.depth = sink, res, depth
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="tracer-writer")
        # Each page's sha256 and compressed raw body are made here, beside the writer and the event
        # loop (zlib and hashlib release the GIL): the writer's thread is the sync's tail.
        self.packer = ThreadPoolExecutor(1, thread_name_prefix="tracer-pack")
        self.pending: collections.deque[asyncio.Future[int]] = collections.deque()
        self.stop = False

    def _write(self, stream: str, page: Page, records: list[Any], run_id: str, packed: Future[Packed]) -> int:
        if self.stop:
            raise _NotWritten
        try:
            return self.sink.write(stream, page, records, run_id, packed)
        except BaseException:
            self.stop = True
            raise

    async def put(self, stream: str, page: Page, records: list[Any], run_id: str) -> None:
        loop = asyncio.get_running_loop()
        packed = self.packer.submit(self.sink.pack, page)
        self.pending.append(loop.run_in_executor(self.pool, self._write, stream, page, records, run_id, packed))
        while len(self.pending) > self.depth:
            await self._one()

    async def _one(self) -> None:
        fut = self.pending[0]
        n = await fut
        self.pending.popleft()
        self.res.records += n
        self.res.pages += 1

    async def close(self, drain: bool, cause: BaseException | None = None) -> None:
        """Wait for the queued pages (``drain``) or only the one being written; then close.  A
        write failure while draining after ``cause`` is raised from it."""
        try:
            if drain:
                try:
                    while self.pending:
                        await self._one()
                except Exception as e:
                    if cause is None or e is cause:
                        raise
                    raise e from cause
        finally:
            self.stop = True
            for fut in self.pending:  # failed or never written: retrieved, so asyncio does not log them
                fut.add_done_callback(lambda f: f.cancelled() or f.exception())
            self.pending.clear()
            self.pool.shutdown(wait=True)  # the page in the thread ends its transaction first
            self.packer.shutdown(wait=True, cancel_futures=True)
            self.sink.close()


async def sync(
    store: StoreBackend | Opening,
    cfg: dict[str, Any],
    selectors: list[str] | None = None,
    progress: ProgressFactory | None = None,
    command: str = "sync",
    plan: list[tuple[Connector, list[Stream]]] | None = None,
    watch: Watch | None = None,
) -> SyncResult:
    """Sync the selected connectors/streams into ``store`` under the write lock.

    ``store``: an open store, or an :class:`tracer.store.Opening` (``tracer sync``): then it is opened
    on a worker thread while the streams that can (``early_start``) send their first requests on a
    read-only snapshot of it (~60 ms of SQLite, sqlite-utils and the lock off the time to the first
    request; issue 16); under the lock each such stream's state is compared with the snapshot's,
    and a stream whose state changed meanwhile starts again.  ``plan`` (library use, benchmarks)
    gives connector instances and streams directly instead of resolving registered connectors from
    ``selectors``.  ``watch``: told of each stream (a live view).
    """
    # Only the connectors of this run are imported and configured (a fast start for one chain).
    if plan is None:
        plan, configs = registry.plan(selectors or [], cfg)
    else:
        registered = set(registry.names())
        configs = {conn.name: cfgmod.connector_config(cfg, conn.name, registry.get(conn.name).default_config())
                   for conn, _ in plan if conn.name in registered}
    for conn, _ in plan:
        if conn.name not in configs:
            configs[conn.name] = cfgmod.connector_config(cfg, conn.name, conn.default_config())
    # This run's secrets (each connector's own, keys in configured URLs, export.webhook) travel with it.
    redact = cfgmod.redactor(cfg, [(conn, configs[conn.name]) for conn, _ in plan])
    limits = plan_limits(plan, configs)  # a bad limits table is a usage error before any run starts
    defer = (cfg.get("store") or {}).get("defer_indexes", "empty")
    if defer not in DEFER_INDEXES:
        raise ConfigError(f"store.defer_indexes must be one of {', '.join(DEFER_INDEXES)}, not {defer!r}")
    async with open_session(cfg.get("http", {}).get("user_agent", "tracer/0.1")) as session:
        http = HttpClient(session, limits, redactor=redact, on_retry=_retry_hook(watch))
        early: dict[str, _Early] = {}
        if isinstance(store, Opening):
            opening, snap = store, store.peek()
            try:
                if snap is not None:
                    early = _start_early(snap, plan, configs, http)
                    await asyncio.sleep(0)  # each runs to its first request before the open takes the GIL
                startup_over()
                store = await asyncio.to_thread(opening.open)
                return await _locked(store, plan, configs, defer, redact, command, progress, watch, http,
                                     early, snap)
            except (KeyboardInterrupt, asyncio.CancelledError):  # Ctrl-C before the run had its row
                _interrupt_early(early, watch)
                if watch is not None:
                    watch.finished()
                raise
            finally:
                for e in early.values():
                    await e.drop()
                if snap is not None:
                    snap.close()
        startup_over()
        return await _locked(store, plan, configs, defer, redact, command, progress, watch, http)


async def _locked(store: StoreBackend, plan: list[tuple[Connector, list[Stream]]],
                  configs: dict[str, dict[str, Any]], defer: str, redact: Redactor, command: str,
                  progress: ProgressFactory | None, watch: Watch | None, http: HttpClient,
                  early: dict[str, _Early] | None = None, snap: Snapshot | None = None) -> SyncResult:
    """The run under the store's lock: the run row, the tables, the bulk writes, every stream."""
    early = early if early is not None else {}
    with store.lock_streams(command, [s.name for _, streams in plan for s in streams]):
        # The early streams read the snapshot; under the lock nobody else writes them: if a stream's
        # state is still the one it started from, nothing it read has changed (only it writes its
        # own facts), and it goes on reading the store itself.  Else it starts again, on the store.
        for name, e in list(early.items()):
            if store.get_state(name) != e.state:
                log.info("%s: stored by another run since this one started; starting it again", name)
                await e.drop()
                del early[name]
            else:
                e.ctx.stored, e.ctx.state_of = store, store.get_state
        if snap is not None:
            snap.close()
        started = time.monotonic()
        # Under the lock no other run is alive: a "running" row is one that was killed (SIGKILL,
        # power loss) and never ended; say so instead of leaving it running forever.
        store.abandon_stale_runs(cfgmod.now())
        run_id = store.start_run(redact(command), cfgmod.now())
        results: list[StreamResult] = []
        tables: dict[str, Table] = {}
        for _, streams in plan:
            tables.update(all_tables(streams))
        if watch is not None:
            watch.planned([s.name for _, streams in plan for s in streams])
        try:
            store.ensure_tables(tables.values())
            with store.bulk_writes(tables, defer):
                await _sync_plan(store, plan, configs, http, run_id, results, progress, redact, watch, early)
        except BaseException as e:
            # A store fault (disk full, read-only, ...) fails the run; a signal interrupts it.  The
            # store records this best effort: a second fault while recording is not raised over the first.
            failed = isinstance(e, StoreError)
            if not failed:
                _interrupt_early(early, watch, store, run_id)
            store.end_run(run_id, "failed" if failed else "interrupted", cfgmod.now(),
                          time.monotonic() - started, sum(r.records for r in results),
                          redact(str(e) if failed else interrupted_error(e, next(
                              (f"{r.stream}: {r.error}" for r in results if r.status == "failed"), None))))
            raise
        finally:
            if watch is not None:
                watch.finished()
        status = "ok" if all(r.status in GOOD for r in results) else "failed"
        duration = time.monotonic() - started
        first_error = next((f"{r.stream}: {r.error}" for r in results if r.error), None)
        store.end_run(run_id, status, cfgmod.now(), duration, sum(r.records for r in results), first_error)
    return SyncResult(run_id, status, duration, results)


async def _sync_plan(store: StoreBackend, plan: list[tuple[Connector, list[Stream]]],
                     configs: dict[str, dict[str, Any]], http: HttpClient, run_id: str,
                     results: list[StreamResult], progress: ProgressFactory | None,
                     redact: Redactor, watch: Watch | None = None,
                     early: dict[str, _Early] | None = None) -> None:
    """Every connector of the plan concurrently (streams of one connector in order), on one session."""

    async def run_connector(conn: Connector, streams: list[Stream]) -> None:
        for stream in streams:
            pre = (early or {}).pop(stream.name, None)  # started before the store opened
            res = pre.res if pre is not None else StreamResult(stream.name)
            results.append(res)
            _STREAM.set(res)  # this connector's task (and what it starts) runs this stream now
            t0 = pre.ctx.now if pre is not None else cfgmod.now()
            own = watch.started(res) if watch is not None else None
            prog = progress(stream.name) if progress else None
            if pre is not None:
                ctx = pre.ctx
                ctx.run_id, ctx.progress = run_id, _both(own, prog)
            else:
                ctx = RunContext(http=http, config=configs[conn.name], now=t0, run_id=run_id,
                                 state_of=store.get_state, stored=store, progress=_both(own, prog))
            try:
                await _run_stream(store, stream, ctx, res, redact, pre)
            except NotConfigured as e:
                res.status, res.note = "skipped", redact(f"not configured: {e}")
                if ctx.progress is not None:
                    ctx.progress(0, 0, "not configured")
                store.log_stream(run_id, stream.name, t0, cfgmod.now(), res.status, res.pages,
                                 res.records, res.note)
                if watch is not None:
                    watch.ended(res)
                continue
            except (KeyboardInterrupt, asyncio.CancelledError):
                res.status, res.error = "interrupted", "stopped by a signal"
                store.log_stream(run_id, stream.name, t0, cfgmod.now(), res.status, res.pages,
                                 res.records, res.error)
                if watch is not None:
                    watch.ended(res)
                raise
            except StoreFault as e:  # the store's disk or file failed: every stream would, the run stops
                res.status, res.error = "failed", str(e)
                store.log_stream(run_id, stream.name, t0, cfgmod.now(), res.status, res.pages,
                                 res.records, res.error)
                if watch is not None:
                    watch.ended(res)
                raise
            except ConnectorError as e:
                res.status, res.error = "failed", redact(str(e))
            except Exception as e:  # a bug or an unexpected answer: logged, not hidden
                log.debug("stream %s crashed", stream.name, exc_info=True)
                res.status = "failed"
                res.error = redact(f"{type(e).__name__}: {e}")
            store.log_stream(run_id, stream.name, t0, cfgmod.now(), res.status, res.pages,
                             res.records, res.error)
            if watch is not None:
                watch.ended(res)

    await asyncio.gather(*(run_connector(c, s) for c, s in plan))


def _both(a: Progress | None, b: Progress | None) -> Progress | None:
    """One progress callback telling both the live view and a caller's own (either may be absent)."""
    if a is None or b is None:
        return a or b

    def both(advance: int, total: int | None, note: str) -> None:
        a(advance, total, note)
        b(advance, total, note)

    return both
