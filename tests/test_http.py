"""HttpClient against a real loopback server: pacing, host-wide Retry-After, bounded retries,
fatal 4xx, redaction of keys, pagination loops."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from faultserver import FaultServer

from connectors.http import (
    HostLimits,
    HttpClient,
    HttpError,
    PaginationLoop,
    Redactor,
    TokenGuard,
    backoff_delay,
    open_session,
    parse_retry_after,
    url_secrets,
)

ETH = "sanctioned_addresses_ETH.txt"


async def _get_many(base: str, names: list[str], limits: HostLimits) -> HttpClient:
    async with open_session() as session:
        http = HttpClient(session, default_limits=limits)
        await asyncio.gather(*(http.get_bytes(f"{base}/lists/{n}") for n in names))
        return http


def _max_in_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


def test_rate_is_strict_over_any_one_second_window(fault_server: FaultServer) -> None:
    """A token bucket that starts full sends 2R in the first second; a strict server 429s that."""
    rate, n = 20, 45
    t0 = time.monotonic()
    asyncio.run(_get_many(fault_server.base, [ETH] * n, HostLimits(rate=rate, concurrency=8)))
    elapsed = time.monotonic() - t0
    arrivals = [t for t, _, _ in fault_server.log]
    assert len(arrivals) == n
    assert _max_in_window(arrivals) <= rate
    assert elapsed < (n / rate) * 1.6  # still reaches the rate (noisy machine: generous bound)


def test_retry_after_pauses_the_whole_host(fault_server: FaultServer) -> None:
    """After a 429 with Retry-After: 1, no request of any task reaches the host for that second."""
    fault_server.latency = 0.2
    fault_server.inject("a", "429")
    fault_server.files["a"] = b"A"
    names = ["a"] + [ETH] * 6
    asyncio.run(_get_many(fault_server.base, names, HostLimits(concurrency=2, backoff_base=0.01)))
    [(t429, _, _)] = [e for e in fault_server.log if e[2] == "429"]
    early = [e for e in fault_server.log if t429 + 0.1 < e[0] < t429 + 0.9]
    assert early == []
    assert len(fault_server.log) == len(names) + 1  # the 429'd request was retried once


def test_server_errors_are_retried_a_bounded_number_of_times(fault_server: FaultServer) -> None:
    fault_server.always = "500"

    async def go() -> None:
        async with open_session() as s:
            await HttpClient(s, default_limits=HostLimits(max_retries=3, backoff_base=0.001)).get_bytes(
                f"{fault_server.base}/x/{ETH}")

    with pytest.raises(HttpError, match="failed after 4 attempts: HTTP 500"):
        asyncio.run(go())
    assert fault_server.served("500") == 4


def test_timeout_is_retried(fault_server: FaultServer) -> None:
    fault_server.inject(ETH, "timeout")
    fault_server.timeout_sleep = 1.0

    async def go() -> bytes:
        async with open_session() as s:
            http = HttpClient(s, default_limits=HostLimits(timeout=0.3, backoff_base=0.001))
            return (await http.get_bytes(f"{fault_server.base}/x/{ETH}")).body

    assert asyncio.run(go()) == fault_server.files[ETH]
    assert fault_server.served("timeout") == 1 and fault_server.served("ok") == 1


@pytest.mark.parametrize("status", ["403", "404"])
def test_client_errors_are_fatal_at_once_and_redacted(fault_server: FaultServer, status: str) -> None:
    fault_server.always = status
    key = "0123456789abcdef0123456789abcdef"
    url = f"{fault_server.base}/v3/{key}/{ETH}?apikey=SECRETVALUE"

    async def go() -> None:
        async with open_session() as s:
            await HttpClient(s).get_bytes(url)

    with pytest.raises(HttpError) as ei:
        asyncio.run(go())
    msg = str(ei.value)
    assert ei.value.status == int(status) and f"HTTP {status}" in msg
    assert "\n" not in msg and key not in msg and "SECRETVALUE" not in msg
    assert fault_server.served(status) == 1


def test_url_secrets_and_redaction() -> None:
    url = "https://user:pw1234@h.example/v3/0123456789abcdef0123456789abcdef/x?apikey=SECRET1&a=1"
    found = url_secrets(url)
    assert {"SECRET1", "0123456789abcdef0123456789abcdef", "pw1234"} <= set(found)
    r = Redactor()
    r.add(*found)
    out = r(f"GET {url} said: bad key 0123456789abcdef0123456789abcdef")
    for s in found:
        assert s not in out
    assert "a=1" in out and "h.example" in out
    assert Redactor()("https://x/?token=abcd&b=2") == "https://x/?token=***&b=2"  # URL patterns alone


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0 - 10) == pytest.approx(10)
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0 + 10) == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_backoff_is_bounded_full_jitter() -> None:
    import random

    rng = random.Random(1)
    delays = [backoff_delay(a, 0.5, 4.0, rng) for a in range(10) for _ in range(50)]
    assert all(0 <= d <= 4.0 for d in delays)
    assert max(backoff_delay(0, 0.5, 4.0, rng) for _ in range(200)) <= 0.5


def test_token_guard_stops_a_looping_paginator() -> None:
    g = TokenGuard("x.y")
    g.check("a")
    g.check(None)
    g.check("b")
    with pytest.raises(PaginationLoop, match="seen twice"):
        g.check("a")


@pytest.mark.slow  # ~12 s, and timing-sensitive on a loaded machine
def test_http_crawl_bench_runs_and_crawls_every_page(capsys: pytest.CaptureFixture[str]) -> None:
    """A short run of bench/http_crawl.py completes with every page stored and its summary printed.

    Throughput and late 429s are the benchmark's verdict (its exit code), not this test's: speed
    targets live in bench/, and the pacer's strictness is tested without timing above."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "http_crawl.py"
    spec = importlib.util.spec_from_file_location("http_crawl_bench", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rc = mod.main(["--rate", "20", "--pages", "80"])
    out = capsys.readouterr().out
    assert rc in (0, 1), out
    assert "(80 pages, " in out and "sequential aiohttp: 80 pages" in out
    assert re.search(r"http_crawl: tracer [0-9.]+ req/s \([0-9]+% of R\), 429 after warm-up: [0-9]+", out)


def test_a_429_despite_pacing_widens_the_margin(fault_server: FaultServer) -> None:
    fault_server.inject(ETH, "429")
    fault_server.retry_after = "0"
    http = asyncio.run(_get_many(fault_server.base, [ETH], HostLimits(rate=50, backoff_base=0.001)))
    [host] = http._hosts.values()
    assert host.limiter is not None and host.limiter.margin == pytest.approx(0.04)
    assert fault_server.served("429") == 1 and fault_server.served("ok") == 1
