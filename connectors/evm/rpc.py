"""JSON-RPC access for the EVM connector: raw calls, provider range limits, adaptive windows.

Why raw: the node's answer bytes are the provenance we keep, and parsing them with orjson (msgspec
for eth_getLogs, see ``call_parsed``) instead of web3's per-call formatters is what makes the sync
~10x faster.  Transport faults (timeouts, 429, 5xx, truncated bodies) are retried by
:class:`connectors.http.HttpClient`; JSON-RPC error objects are classified here: "too many results /
range too large" halves the window, anything else is retried a bounded number of times (nodes
answer transient -32000/-32603 errors under load).
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

import orjson
from msgspec import Struct

from connectors.base import ConnectorError
from connectors.http import BodyTooLarge, HttpClient, HttpError, JsonRpcError

# Real refusals of eth_getLogs by node software and hosted providers (lower-cased substrings):
# geth/bor/Infura "query returned more than 10000 results"; geth --rpc.rangelimit "exceed maximum
# block range: N"; Alchemy "Log response size exceeded. ... this block range should work: [0x..,
# 0x..]"; QuickNode "eth_getLogs is limited to a 10,000 range"; Erigon "query exceeds max results";
# Ankr "block range is too wide"; Chainstack "Block range limit exceeded"; BlockPI "... limited to
# 1024 block range"; publicnode "exceed maximum block range: 50000"; Nethermind "too many logs";
# Cloudflare/others "response size exceeded", "query timeout exceeded", drpc "ranges over 10000
# blocks are not supported".
RANGE_ERROR = re.compile(
    r"(?i)(returned more than \d+ results|more than \d+ (?:results|logs)|exceeds? max(?:imum)? "
    r"(?:results|block range|range)|response size (?:exceeded|is larger|too large)|size exceeded|"
    r"limited to (?:a )?[\d,]+ ?(?:block )?range|block range (?:is )?too (?:wide|large|big)|range too "
    r"(?:large|wide)|block range limit|too many (?:logs|results|blocks)|query timeout exceeded|"
    r"ranges over [\d,]+ blocks|range (?:limit )?exceeded|max(?:imum)? block range|result window)"
)
_SUGGESTED = re.compile(r"\[(0x[0-9a-fA-F]+),\s*(0x[0-9a-fA-F]+)\]")


class RangeTooLarge(ConnectorError):
    """The node refused a block range; ``suggested_end`` is the range end it proposed, if any."""

    def __init__(self, message: str, suggested_end: int | None = None) -> None:
        super().__init__(message)
        self.suggested_end = suggested_end


def range_error(e: Exception) -> RangeTooLarge | None:
    """A :class:`RangeTooLarge` if ``e`` is a provider's "range/result too large" refusal."""
    msg = e.rpc_message if isinstance(e, JsonRpcError) else str(e)
    if isinstance(e, JsonRpcError) and e.data is not None:
        msg += " " + str(e.data)
    if isinstance(e, HttpError) and e.status == 413:
        return RangeTooLarge(msg)
    if not RANGE_ERROR.search(msg):
        return None
    m = _SUGGESTED.search(msg)
    return RangeTooLarge(msg, int(m.group(2), 16) if m else None)


def parse_answer(body: bytes) -> tuple[str, Any]:
    """A JSON-RPC answer's bytes as ``("ok", result)``, ``("error", error object)``, ``("invalid",
    why)`` (garbled: ask again) or ``("not-rpc", why)`` (valid JSON, not an answer: give up)."""
    try:
        d = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "invalid", f"invalid JSON-RPC answer ({len(body)} bytes)"
    if isinstance(d, dict) and d.get("error"):
        return "error", d["error"]
    if not isinstance(d, dict) or "result" not in d:
        return "not-rpc", type(d).__name__ if not isinstance(d, dict) else "no result"
    return "ok", d["result"]


class RpcAnswer(Struct):
    """A JSON-RPC answer: the exact bytes received and the parsed result(s)."""

    body: bytes
    result: Any
    url: str


class Rpc:
    """One chain's endpoint: single and batch calls, parsed with orjson, with bounded retries."""

    def __init__(self, http: HttpClient, url: str, retries: int = 6, backoff: float = 0.2) -> None:
        self.http, self.url, self.retries, self.backoff = http, url, retries, backoff
        self.stats = {"calls": 0, "rpc_errors": 0, "range_splits": 0, "offloaded": 0, "decoded_fast": 0}

    async def _post(self, payload: Any) -> tuple[bytes, Any, str]:
        for attempt in range(self.retries + 1):
            resp = await self.http.request("POST", self.url, json_body=payload, parse_json=False)
            self.stats["calls"] += 1
            try:
                return resp.body, orjson.loads(resp.body), resp.url
            except orjson.JSONDecodeError as e:
                if attempt >= self.retries:
                    raise HttpError(f"POST {resp.url}: invalid JSON-RPC answer ({len(resp.body)} bytes)") from e
                await asyncio.sleep(random.uniform(0, self.backoff * 2**attempt))
        raise AssertionError("unreachable")

    @staticmethod
    def _err(d: dict[str, Any]) -> JsonRpcError:
        err = d["error"]
        if not isinstance(err, dict):
            return JsonRpcError(None, str(err))
        return JsonRpcError(err.get("code"), str(err.get("message")), err.get("data"))

    async def call(self, method: str, params: list[Any]) -> RpcAnswer:
        """One call; a range refusal raises :class:`RangeTooLarge`, other errors are retried."""
        return await self.call_parsed(method, params, parse_answer)

    async def call_parsed(self, method: str, params: list[Any], parse: Callable[[bytes], tuple[str, Any]],
                          executor: Callable[[], Executor | None] | None = None, offload_bytes: int = 0,
                          parse_remote: Callable[[], Callable[[bytes], tuple[str, Any]]] | None = None,
                          parse_fast: Callable[[bytes], tuple[str, Any] | None] | None = None,
                          ) -> RpcAnswer:
        """:meth:`call` whose answer is parsed by ``parse`` (``parse_answer``'s contract; see also
        ``evm_decode.decode_edge_rows``), or in ``executor`` when the body has at least
        ``offload_bytes`` (``executor()``: made on first use, None for none), by the picklable function
        ``parse_remote()`` makes once the answer is in
        (so it can carry what the caller learnt meanwhile; default ``parse``); ``result`` is what it
        returned.  ``parse_fast`` (when given) is tried first, on this thread: what it answers
        (not None) is the parse, and nothing is sent to the executor.  Garbled bodies and JSON-RPC errors are retried; a range refusal raises
        :class:`RangeTooLarge`."""
        payload = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        loop = asyncio.get_running_loop()
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            try:
                resp = await self.http.request("POST", self.url, json_body=payload, parse_json=False)
            except BodyTooLarge as e:  # asked for too much at once: the caller asks for less
                self.stats["range_splits"] += 1
                raise RangeTooLarge(str(e)) from e
            except HttpError as e:
                if (r := range_error(e)) is not None:
                    raise r from e
                raise
            self.stats["calls"] += 1
            fast = parse_fast(resp.body) if parse_fast is not None else None
            if fast is not None:
                self.stats["decoded_fast"] += 1
                status, value = fast
            elif (pool := executor() if executor is not None and len(resp.body) >= offload_bytes else None):
                self.stats["offloaded"] += 1
                status, value = await loop.run_in_executor(pool, parse_remote() if parse_remote else parse, resp.body)
            else:
                status, value = parse(resp.body)
            if status == "ok":
                return RpcAnswer(resp.body, value, resp.url)
            if status == "not-rpc":
                raise ConnectorError(f"{method}: not a JSON-RPC answer from {resp.url} ({value})")
            if status == "error":
                err = self._err({"error": value})
                if (r := range_error(err)) is not None:
                    self.stats["range_splits"] += 1
                    raise r
                self.stats["rpc_errors"] += 1
                last = err
            else:  # a truncated or garbled body: asked again, like any transport fault
                last = HttpError(f"POST {resp.url}: {value}")
            await asyncio.sleep(random.uniform(0, self.backoff * 2**attempt))
        if isinstance(last, HttpError):
            raise last
        raise ConnectorError(f"{method} failed after {self.retries + 1} attempts: {last}")

    async def batch(self, calls: list[tuple[str, list[Any]]], allow_errors: bool = False) -> RpcAnswer:
        """A batch array; results in call order.  Element errors are retried (the whole batch) unless
        ``allow_errors`` (eth_call reverts are answers, returned as JsonRpcError instances)."""
        payload = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            body, d, url = await self._post(payload)
            if isinstance(d, dict) and d.get("error"):
                last = self._err(d)
            elif not isinstance(d, list) or len(d) != len(calls):
                last = ConnectorError(f"batch of {len(calls)} answered with "
                                      f"{len(d) if isinstance(d, list) else type(d).__name__}")
            else:
                out: list[Any] = [None] * len(calls)
                bad = None
                for item in d:
                    i = item.get("id") if isinstance(item, dict) else None
                    if not isinstance(i, int) or not 0 <= i < len(calls):
                        bad = ConnectorError(f"batch answer with unknown id {i!r}")
                        break
                    if item.get("error"):
                        out[i] = self._err(item)
                        if not allow_errors:
                            bad = out[i]
                    else:
                        out[i] = item.get("result")
                if bad is None:
                    return RpcAnswer(body, out, url)
                last = bad
            self.stats["rpc_errors"] += 1
            await asyncio.sleep(random.uniform(0, self.backoff * 2**attempt))
        raise ConnectorError(f"batch of {len(calls)} calls failed after {self.retries + 1} attempts: {last}")


class WindowPlan(Struct, frozen=True):
    """Where the window stands after the windows stored so far: its size (a rung of the ladder), the
    successes counted toward growth, and whether a refusal happened since the last growth.  Kept in
    the stream state with each window's last page, so a resumed run plans exactly as a clean one."""

    size: int
    ok: int = 0
    burnt: bool = False

    def as_state(self) -> dict[str, Any]:
        return {"window": self.size, "window_ok": self.ok, "window_burnt": self.burnt}


class Windows:
    """The eth_getLogs block ranges: aligned to a fixed ladder, adapted only from in-order results.

    Why: each window's answer is the raw page its transfers cite, so where windows end must not
    depend on timing.  Sizes are the rungs ``max_size, max_size // 2, max_size // 4, ...`` (down to
    ``min_size``; splits go down to one block); a window of ``S`` blocks ends at a multiple of ``S``
    (block ``m*S - 1``; the first after a change of size may be shorter), so it covers
    ``[m*S, (m+1)*S - 1]``.  A refused range is cut at the multiples of the next smaller rung (or of the
    rung that fits the node's suggested range).  :meth:`step` decides the next size from the window
    just stored, in block order: never from which concurrent request finished first.  With
    ``target`` set the size settles where an answer holds about ``target`` logs (it shrinks past 1.5x
    the target, grows one rung while the doubled window would stay under it: the 4x band keeps the
    size steady on a chain of even density); below the target it goes straight to the rung that would
    hold about the target at the density just seen (an empty window: the top rung), so a sparse chain
    reaches ``max_size`` after one window instead of one rung a window (issue 16: ~9 round trips
    saved); after a refusal growth waits for ``grow_after`` successes, then goes one rung at a time.  Measured on 200k transfers: 5k logs
    per answer extracts ~20% faster than 10k and ~35% faster than 50k, and it bounds memory.
    """

    def __init__(self, max_size: int, min_size: int = 1, target: int | None = None, grow_after: int = 4) -> None:
        top = max(1, max_size)
        ladder = [top]
        while ladder[-1] > 1:
            ladder.append(ladder[-1] // 2)
        self.ladder = sorted(set(ladder))  # every size a range is cut to, ascending
        lo = min(max(1, min_size), top)
        self.rungs = [r for r in self.ladder if r >= lo] or [top]  # the sizes a window may have
        self.target = target if target and target > 0 else None
        self.grow_after = grow_after

    def rung(self, n: int) -> int:
        """The largest window size not above ``n`` (the smallest size when ``n`` is below it)."""
        fit = [r for r in self.rungs if r <= n]
        return fit[-1] if fit else self.rungs[0]

    def start(self, state: dict[str, Any], window: int) -> WindowPlan:
        """The plan a run starts with: the stored one, else the configured first ``window``."""
        size = self.rung(int(state.get("window") or window))
        return WindowPlan(size, int(state.get("window_ok") or 0), bool(state.get("window_burnt")))

    @staticmethod
    def end(plan: WindowPlan, a: int, last: int) -> int:
        """The end of the window that starts at block ``a`` (at most ``last``)."""
        return min(last, (a // plan.size + 1) * plan.size - 1)

    def cut(self, n: int, suggested: int | None = None) -> int:
        """The piece size a refused range of ``n`` blocks is cut to (a ladder size below ``n``)."""
        limit = n - 1 if suggested is None else max(1, min(n - 1, suggested))
        return [r for r in self.ladder if r <= limit][-1]

    @staticmethod
    def pieces(a: int, b: int, size: int) -> list[tuple[int, int]]:
        """``a..b`` cut at the multiples of ``size``."""
        out = []
        while a <= b:
            e = min(b, (a // size + 1) * size - 1)
            out.append((a, e))
            a = e + 1
        return out

    def step(self, plan: WindowPlan, blocks: int, logs: int | None, refused: int | None = None) -> WindowPlan:
        """The plan after a window of ``blocks`` blocks answered ``logs`` logs (in total, when known);
        ``refused``: the smallest range length the node refused in it, if any."""
        size, ok, burnt = plan.size, plan.ok, plan.burnt
        if refused is not None:
            size, ok, burnt = min(size, self.rung(refused - 1)), 0, True
        idx = self.rungs.index(size) if size in self.rungs else 0
        up = self.rungs[idx + 1] if idx + 1 < len(self.rungs) else None
        t = self.target
        if t is not None and logs is not None and blocks > 0:
            fit = [r for r in self.rungs if r * logs <= t * blocks]
            best = fit[-1] if fit else self.rungs[0]  # the rung that holds about the target
            if 2 * size * logs > 3 * t * blocks:  # past 1.5x the target: down to it
                return WindowPlan(best, 0, burnt)
            if refused is not None:
                return WindowPlan(size, ok, burnt)
            if best > size and not burnt:  # straight up to it: an empty range jumps to the top
                return WindowPlan(best, 0, False)
            fits = up is not None and up * logs <= t * blocks
            ok = min(ok + 1, self.grow_after)
            if ok >= self.grow_after:
                return WindowPlan(up or size, 0, False) if fits else WindowPlan(size, ok, False)
            return WindowPlan(size, ok, burnt)
        if refused is not None or blocks < size:
            return WindowPlan(size, ok, burnt)
        ok = min(ok + 1, self.grow_after)
        if ok >= self.grow_after and up is not None:
            return WindowPlan(up, 0, False)
        return WindowPlan(size, ok, burnt)
