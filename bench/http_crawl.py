"""HTTP crawl benchmark: tracer's pipeline against a rate-limited, slow loopback API.

The server adds ``--latency`` (50 ms) to every request and enforces ``R`` requests per second over
a sliding one-second window: a request over the limit gets 429 with ``Retry-After: 1``.  It serves
``N`` cursor-paginated JSON pages (``{"page", "total_pages", "items", "next"}``).

Two crawls of the same pages run side by side in one process:

* tracer: a small stream defined here, run through ``tracer.pipeline.sync(..., plan=...)`` with
  ``limits.rate = R`` and enough concurrency to cover the latency.  A ``next``-token paginator is
  sequential by nature, so the stream reads ``total_pages`` from the first answer and then fetches
  the numbered pages concurrently (yielding them in order, so its cursor stays resumable).
* sequential: plain aiohttp following ``next`` tokens one request after another.

Run: ``.venv/bin/python bench/http_crawl.py`` (defaults R=40, N=400; finishes in < 60 s).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import multiprocessing
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, ClassVar

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from connectors.base import Column, Page, Probe, Record, RunContext, Table  # noqa: E402

ITEMS_PER_PAGE = 20


class RateLimitedApi:
    """The loopback API: fixed latency, strict sliding-window rate limit, token pagination."""

    def __init__(self, pages: int, rate: int, latency: float) -> None:
        self.pages, self.rate, self.latency = pages, rate, latency
        self.window: collections.deque[float] = collections.deque()
        self.served: list[float] = []
        self.rejected: list[float] = []

    def reset(self) -> None:
        self.window.clear()
        self.served.clear()
        self.rejected.clear()

    def _body(self, page: int) -> bytes:
        items = [{"id": f"item-{page}-{i}", "value": str(page * 1000 + i)} for i in range(ITEMS_PER_PAGE)]
        nxt = f"tok{page + 1:06d}x" if page < self.pages else None
        return json.dumps({"page": page, "total_pages": self.pages, "items": items, "next": nxt}).encode()

    async def handle(self, request: web.Request) -> web.Response:
        now = time.monotonic()
        while self.window and self.window[0] <= now - 1.0:
            self.window.popleft()
        if len(self.window) >= self.rate:
            self.rejected.append(now)
            return web.Response(status=429, text="rate limited", headers={"Retry-After": "1"})
        self.window.append(now)
        self.served.append(now)
        await asyncio.sleep(self.latency)
        cursor = request.query.get("cursor")
        page = int(request.query.get("page", "1"))
        if cursor:
            page = int(cursor[3:9])
        if not 1 <= page <= self.pages:
            return web.Response(status=404, text="no such page")
        return web.Response(body=self._body(page), content_type="application/json")

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response({"served": self.served, "rejected": self.rejected})

    async def do_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})

    def serve_forever(self, port_out: Any) -> None:
        """Run in its own process: its clock and GIL are not the crawler's."""
        async def run() -> None:
            app = web.Application()
            app.router.add_get("/items", self.handle)
            app.router.add_get("/_stats", self.stats)
            app.router.add_post("/_reset", self.do_reset)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port_out.put(runner.addresses[0][1])
            await asyncio.Event().wait()

        asyncio.run(run())


class ApiProcess:
    """The API in a child process (CLOCK_MONOTONIC is shared, so timestamps compare)."""

    def __init__(self, pages: int, rate: int, latency: float) -> None:
        ctx = multiprocessing.get_context("fork")
        self._q: Any = ctx.Queue()
        self._proc = ctx.Process(target=RateLimitedApi(pages, rate, latency).serve_forever, args=(self._q,),
                                 daemon=True)
        self.base = ""

    def start(self) -> None:
        self._proc.start()
        self.base = f"http://127.0.0.1:{self._q.get(timeout=20)}"

    def stop(self) -> None:
        self._proc.terminate()
        self._proc.join(10)

    async def stats(self) -> tuple[list[float], list[float]]:
        async with aiohttp.ClientSession() as s, s.get(f"{self.base}/_stats") as r:
            d = await r.json()
        return d["served"], d["rejected"]

    async def reset(self) -> None:
        async with aiohttp.ClientSession() as s, s.post(f"{self.base}/_reset") as r:
            await r.read()


ITEMS = Table("bench_items", (Column("id"), Column("page", "INTEGER"), Column("value")), pk=("id",))


class PagesStream:
    """All pages: the first answer gives ``total_pages``; the rest are fetched concurrently."""

    name: ClassVar[str] = "bench.pages"
    primary_key: ClassVar[tuple[str, ...]] = ("id",)
    cursor_field: ClassVar[str | None] = "page"
    is_sorted: ClassVar[bool] = True
    tables: ClassVar[tuple[Table, ...]] = (ITEMS,)

    def __init__(self, config: dict[str, Any]) -> None:
        self.base = config["base_url"]
        self.prefetch = int(config.get("prefetch", 16))

    def _page(self, resp: Any, page: int) -> Page:
        return Page(body=resp.body, url=resp.url, method="GET", data=resp.data, state={"page": page})

    async def extract(self, ctx: RunContext, state: dict[str, Any]) -> AsyncIterator[Page]:
        done = int(state.get("page", 0))
        first = await ctx.http.get_json(f"{self.base}/items", params={"page": 1})
        total = int(first.data["total_pages"])
        if done < 1:
            yield self._page(first, 1)
            done = 1
        todo = collections.deque(range(done + 1, total + 1))
        inflight: collections.deque[tuple[int, asyncio.Task[Any]]] = collections.deque()
        try:
            while todo or inflight:
                while todo and len(inflight) < self.prefetch:
                    p = todo.popleft()
                    inflight.append((p, asyncio.create_task(ctx.http.get_json(f"{self.base}/items",
                                                                               params={"page": p}))))
                p, task = inflight.popleft()
                yield self._page(await task, p)  # in order: the stored cursor is always contiguous
        finally:
            for _, task in inflight:
                task.cancel()

    def transform(self, page: Page) -> Iterator[Record]:
        for it in page.data["items"]:
            yield Record("bench_items", {"id": it["id"], "page": page.data["page"], "value": it["value"]})


class BenchConnector:
    name: ClassVar[str] = "bench"
    description: ClassVar[str] = "benchmark pages on loopback"

    def __init__(self, base: str, rate: float, concurrency: int) -> None:
        self._defaults = {"base_url": base, "prefetch": concurrency * 2,
                          "limits": {"rate": rate, "concurrency": concurrency, "max_retries": 8}}

    def default_config(self) -> dict[str, Any]:
        return dict(self._defaults)

    def streams(self, config: dict[str, Any]) -> list[Any]:
        return [PagesStream(config)]

    def probes(self, config: dict[str, Any]) -> list[Probe]:
        return [Probe("items", f"{config['base_url']}/items")]

    def secrets(self, config: dict[str, Any]) -> list[str]:
        return []


async def crawl_tracer(api: ApiProcess, rate: float, concurrency: int, db: Path,
                       ) -> tuple[float, float, int, int]:
    """Returns (sync wall time incl. setup, crawl time from first request to return, rows, pages)."""
    from tracer.pipeline import sync
    from tracer.store import Store

    conn = BenchConnector(api.base, rate, concurrency)
    store = Store(db)
    t0 = time.monotonic()
    res = await sync(store, {"db": str(db), "connectors": {}}, plan=[(conn, conn.streams(conn.default_config()))],
                     command="bench")
    t_end = time.monotonic()
    items = store.count("bench_items")
    store.close()
    if res.status != "ok":
        raise SystemExit(f"tracer crawl failed: {res.errors}")
    served, rejected = await api.stats()
    first = min(served + rejected)
    return t_end - t0, t_end - first, items, sum(s.pages for s in res.streams)


async def crawl_sequential(api: ApiProcess) -> tuple[float, int]:
    t0 = time.monotonic()
    pages = 0
    async with aiohttp.ClientSession() as s:
        params: dict[str, str] = {}
        while True:
            async with s.get(f"{api.base}/items", params=params) as r:
                if r.status == 429:
                    await asyncio.sleep(float(r.headers.get("Retry-After", "1")))
                    continue
                d = await r.json()
            pages += 1
            if not d["next"]:
                break
            params = {"cursor": d["next"]}
    return time.monotonic() - t0, pages


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", "-R", type=int, default=40, help="server limit, requests/s (default 40)")
    ap.add_argument("--pages", "-N", type=int, default=400, help="pages to crawl (default 400)")
    ap.add_argument("--latency", type=float, default=0.05, help="seconds added per request (default 0.05)")
    ap.add_argument("--concurrency", type=int, default=8, help="tracer's per-host concurrency (default 8)")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds before 429s count (default 2)")
    args = ap.parse_args(argv)

    api = ApiProcess(args.pages, args.rate, args.latency)
    api.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.monotonic()
            wall, elapsed, items, pages = asyncio.run(crawl_tracer(api, args.rate, args.concurrency,
                                                                   Path(tmp) / "bench.db"))
            served, rejected = asyncio.run(api.stats())
            requests = len(served) + len(rejected)
            late_429 = sum(1 for t in rejected if t - t0 > args.warmup)
            all_429 = len(rejected)
        assert items == args.pages * ITEMS_PER_PAGE and pages == args.pages, (items, pages)
        time.sleep(1.1)  # let the server's window empty before the second crawl
        asyncio.run(api.reset())
        seq_elapsed, seq_pages = asyncio.run(crawl_sequential(api))
        assert seq_pages == args.pages
    finally:
        api.stop()
    # Rate over the crawl: first request sent to the last page stored.  The sync's wall time also
    # holds one-off setup (loading every registered connector, opening the store): printed apart.
    tracer_rps = requests / elapsed
    seq_rps = seq_pages / seq_elapsed
    pct = 100.0 * tracer_rps / args.rate
    print(f"server: R={args.rate}/s sliding window, +{args.latency * 1000:.0f} ms per request, N={args.pages} pages")
    print(f"tracer: {requests} requests ({pages} pages, {items} rows) in {elapsed:.2f}s of crawl "
          f"= {tracer_rps:.1f} req/s; whole sync incl. setup {wall:.2f}s = {requests / wall:.1f} req/s; "
          f"{all_429} x 429 in total")
    print(f"sequential aiohttp: {seq_pages} pages in {seq_elapsed:.2f}s = {seq_rps:.1f} req/s")
    print(f"http_crawl: tracer {tracer_rps:.1f} req/s ({pct:.0f}% of R), 429 after warm-up: {late_429}, "
          f"sequential {seq_rps:.1f} req/s, ratio {tracer_rps / seq_rps:.2f}")
    return 0 if late_429 == 0 and pct >= 90 else 1


if __name__ == "__main__":
    sys.exit(main())
