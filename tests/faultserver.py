"""A loopback aiohttp server in front of the OFAC demo lists that injects faults on demand.

It runs in its own thread and event loop, so the same server serves an in-process
``pipeline.sync`` and a ``tracer sync`` subprocess.  Faults are queued per file name and consumed
by successive requests for that file; the server can also kill a client process (by pid) when the
k-th request arrives, which makes crash points deterministic.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aiohttp import web

from tracer.world.ofac import demo_files

FAULTS = ("429", "500", "reset", "timeout", "truncate", "403", "404")
TRACER = str(Path(sys.executable).parent / "tracer")


class ThreadedApp:
    """An aiohttp app served on 127.0.0.1 from a thread with its own event loop, so a test (or a
    child process it watches) can talk to it synchronously.  Subclasses build the app in
    :meth:`make_app` (default: every GET goes to ``self._handle``)."""

    def __init__(self) -> None:
        self.base = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=404)

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        return app

    def start(self, timeout: float = 10) -> str:
        ready = threading.Event()

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            runner = web.AppRunner(self.make_app(), access_log=None, handler_cancellation=True)
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            self.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=main, daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError(f"loopback server did not start within {timeout} s")
        return self.base

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)


class FaultServer(ThreadedApp):
    """Serves ``files`` at any path ending in their name (so a key can sit in the path)."""

    def __init__(self, files: dict[str, bytes] | None = None, timeout_sleep: float = 1.0,
                 retry_after: str = "1") -> None:
        super().__init__()
        self.files = files if files is not None else demo_files()
        self.faults: dict[str, list[str]] = {}
        self.always: str | None = None  # a fault every request gets (fatal-status tests)
        self.timeout_sleep = timeout_sleep
        self.latency = 0.0  # added before every answer that is not a fault
        self.retry_after = retry_after
        self.log: list[tuple[float, str, str]] = []  # (monotonic time, path with query, outcome)
        self.kill_pid: int | None = None
        self.kill_at: int | None = None  # kill when this request number (1-based) arrives
        self.kill_delay: float | None = None  # ... or this long after answering it
        self.kill_signal = signal.SIGKILL

    # -- control ------------------------------------------------------------------------------
    def inject(self, name: str, *faults: str) -> None:
        for f in faults:
            assert f in FAULTS, f
        self.faults.setdefault(name, []).extend(faults)

    def reset(self) -> None:
        """Forget faults, kill plans and the request log (a server shared by several tests)."""
        self.faults.clear()
        self.log.clear()
        self.always, self.kill_pid, self.kill_at, self.kill_delay = None, None, None, None

    def served(self, outcome: str) -> int:
        return sum(1 for _, _, o in self.log if o == outcome)

    # -- serving ------------------------------------------------------------------------------
    def _kill(self) -> None:
        if self.kill_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.kill_pid, self.kill_signal)
            self.kill_pid = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        name = request.path.rsplit("/", 1)[-1]
        n = len(self.log) + 1
        if self.kill_at == n and self.kill_delay is None:
            self._kill()
            self.log.append((time.monotonic(), request.path_qs, "killed"))
            await asyncio.sleep(5)  # the client is gone; never answer
        body = self.files.get(name)
        queue = self.faults.get(name)
        fault = queue.pop(0) if queue else self.always
        self.log.append((time.monotonic(), request.path_qs, fault or ("ok" if body is not None else "404")))
        if self.kill_at == n and self.kill_delay is not None:
            asyncio.get_running_loop().call_later(self.kill_delay, self._kill)
        if fault is None and self.latency:
            await asyncio.sleep(self.latency)
        if fault in ("403", "404") or (fault is None and body is None):
            status = int(fault or 404)
            # Like many APIs, echo the request back (a key in it must still never leak).
            return web.Response(status=status, text=f"forbidden or missing: {request.path_qs}")
        assert body is not None
        if fault == "429":
            return web.Response(status=429, text="slow down", headers={"Retry-After": self.retry_after})
        if fault == "500":
            return web.Response(status=500, text="internal error")
        if fault == "timeout":
            await asyncio.sleep(self.timeout_sleep)
        if fault == "truncate":
            return web.Response(body=body[: len(body) // 2])
        if fault == "reset":
            resp = web.StreamResponse(headers={"Content-Length": str(len(body))})
            await resp.prepare(request)
            await resp.write(body[: len(body) // 2])
            assert request.transport is not None
            request.transport.close()
            return resp
        return web.Response(body=body)


def write_config(path: Path, base_url: str, db: str | Path | None = None, **ofac: Any) -> Path:
    """A TOML config pointing ofac_addresses at ``base_url`` (other keys as given); ``db`` is the
    store it names (a SQLite path or a ``postgresql://`` URL), when given."""
    import json

    lines = [f"db = {json.dumps(str(db))}"] if db is not None else []
    lines += ["[connectors.ofac_addresses]", f"base_url = {json.dumps(base_url)}"]
    limits = ofac.pop("limits", {})
    for k, v in ofac.items():
        lines.append(f"{k} = {json.dumps(v)}")
    lines.append("[connectors.ofac_addresses.limits]")
    for k, v in limits.items():
        lines.append(f"{k} = {json.dumps(v)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACER_") or k == "TRACER_FIXTURES"}
    env.update(extra)
    return env


def run_cli(args: Iterable[str], env: dict[str, str] | None = None, timeout: float = 60,
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TRACER, *args], capture_output=True, text=True, env=env or cli_env(),
                          timeout=timeout)


# Run identity everywhere and the wall clock of raw payloads; everything else must match row for
# row (tests pin TRACER_NOW, so first_seen/last_seen/updated_at must match too).
IGNORED_COLUMNS = {"run_id"}
IGNORED_BY_TABLE = {"raw_payloads": {"fetched_at"}}
NOT_DATA = {"runs", "run_streams", "migrations"}


def snapshot(db_path: str | Path, ignore: Iterable[str] = ()) -> dict[str, list[tuple[Any, ...]]]:
    """Every data table's rows (sorted), without run ids and wall-clock columns.

    ``db_path`` is any ``db`` value: a SQLite file is read with ``sqlite3`` (no migration, no lock),
    a ``postgresql://`` URL through the store's own reads (:func:`_store_snapshot`)."""
    from tracer.store import sqlite_path

    skip = IGNORED_COLUMNS | set(ignore)
    path = sqlite_path(db_path)
    if path is None:
        return _store_snapshot(str(db_path), skip)
    con = sqlite3.connect(path)
    try:
        out: dict[str, list[tuple[Any, ...]]] = {}
        tables = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
        for t in sorted(tables):
            if t in NOT_DATA:
                continue
            drop = skip | IGNORED_BY_TABLE.get(t, set())
            cols = [r[1] for r in con.execute(f'PRAGMA table_info("{t}")') if r[1] not in drop]
            sel = ", ".join(f'"{c}"' for c in cols)
            rows = con.execute(f'SELECT {sel} FROM "{t}"').fetchall()
            out[t] = sorted(rows, key=repr)
        return out
    finally:
        con.close()


def _store_snapshot(db: str, skip: set[str]) -> dict[str, list[tuple[Any, ...]]]:
    """:func:`snapshot` of a store opened through ``open_store`` (PostgreSQL): the same tables,
    columns in the table's order, the same sorting."""
    from tracer.store import open_store

    store = open_store(db, create=False)
    try:
        out: dict[str, list[tuple[Any, ...]]] = {}
        for t in sorted(store.table_names()):
            if t in NOT_DATA or t.startswith("sqlite_"):
                continue
            drop = skip | IGNORED_BY_TABLE.get(t, set())
            cols = [c for c in store.table_columns(t) if c not in drop]
            sel = ", ".join(f'"{c}"' for c in cols)
            rows = [tuple(r.values()) for r in store.query(f'SELECT {sel} FROM "{t}"')]
            out[t] = sorted(rows, key=repr)
        return out
    finally:
        store.close()
