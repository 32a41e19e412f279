"""EVM payments: exact ERC-20 (and, kept apart, ERC-721) transfers from any EVM JSON-RPC endpoint.

One configured section per chain under ``chains``; one stream per chain, ``evm.<chain>_transfers``,
sorted by block with the cursor = the last block whose rows are fully stored.  Why this shape:
investigators need every payment exactly (uint256 as decimal text), from several chains, fast
enough to re-sync token histories, and never polluted by an orphaned block — so the stream only
syncs to ``head - confirmations``, keeps block hashes, and rewinds past any stored block whose hash
changed before it goes on.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import random
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from msgspec import Struct

from connectors import facts, ids
from connectors.base import (
    EDGES,
    ENTITIES,
    OBSERVATIONS,
    REJECTED,
    Column,
    ConfigError,
    ConnectorError,
    Delete,
    Page,
    Probe,
    Record,
    Rows,
    RunContext,
    Stream,
    Table,
    item_records,
    rejection,
    snippet,
)
from connectors.config import TypedConfig
from connectors.evm.config import EvmConfig, chain_defaults
from connectors.evm.decode import (
    CACHED_LOG_INDEXES,
    EDGE_COLUMNS,
    SEL_DECIMALS,
    SEL_NAME,
    SEL_SYMBOL,
    EdgeSpec,
    LogsAnswer,
    chunks,
    decode_edge_rows,
    decode_sanctioned,
    decode_string,
    fast_edge_rows,
    is_address,
    iso_time,
    logs_filter,
    parse_header,
    python_edge_rows,
    sanctions_call_data,
    worker_init,
)
from connectors.evm.rpc import RangeTooLarge, Rpc, WindowPlan, Windows
from connectors.http import JsonRpcError

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

log = logging.getLogger("tracer.evm")

EVM_BLOCKS = Table(
    "evm_blocks",
    (Column("chain"), Column("number", "INTEGER"), Column("hash"), Column("parent_hash"),
     Column("timestamp", "INTEGER")),
    pk=("chain", "number"),
)
EVM_TOKENS = Table(
    "evm_tokens",
    (Column("chain"), Column("address"), Column("symbol"), Column("decimals", "INTEGER"), Column("name"),
     Column("status")),
    pk=("chain", "address"),
)



def chain_settings(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each enabled chain's settings (chain defaults overlaid by its section), validated."""
    out = {}
    defaults = chain_defaults()
    for name, sec in (config.get("chains") or {}).items():
        if not isinstance(sec, dict):
            raise ConfigError(f"[connectors.evm.chains.{name}] must be a table")
        c = {**defaults, **sec}
        if not c.get("enabled", True):
            continue
        if not c.get("rpc_url"):
            raise ConfigError(f"evm chain {name}: set rpc_url")
        toks = c["tokens"]
        if toks != "all":
            if not isinstance(toks, list) or not all(isinstance(t, str) and is_address(t) for t in toks):
                raise ConfigError(f"evm chain {name}: tokens must be \"all\" or a list of 0x addresses")
            c["tokens"] = sorted({t.lower() for t in toks})
        for k in ("window", "max_window", "concurrency", "batch_size", "confirmations", "target_logs",
                  "decode_workers", "offload_bytes"):
            lo = 0 if k in ("confirmations", "target_logs", "decode_workers", "offload_bytes") else 1
            if not isinstance(c[k], int) or isinstance(c[k], bool) or c[k] < lo:
                raise ConfigError(f"evm chain {name}: {k} must be a whole number >= {lo}, not {c[k]!r}")
        if c["reorg_depth"] is None:
            c["reorg_depth"] = max(16, c["confirmations"])
        out[name] = c
    return out


def rewind_deletes(chain: str, start: int, end: int) -> list[Delete]:
    """Deletes of every row derived from blocks ``start..end`` of ``chain`` (a reorg rewind)."""
    out: list[Delete] = []
    for n in range(start, end + 1):
        out += [Delete("edges", {"kind": "paid", "chain": chain, "block": n}),
                Delete("edges", {"kind": "nft_transfer", "chain": chain, "block": n}),
                Delete("evm_blocks", {"chain": chain, "number": n})]
    return out


class _Times(dict[int, str]):
    """Block times (``iso_time``) by number, those the logs carried made when first read: the C
    scanner writes each row's time itself, so a page's map is read only when Python makes its
    rows (a sparse sync has a block per transfer or two: ~6,000 strings nobody read)."""

    def __init__(self, known: dict[int, str], stamps: dict[int, int]) -> None:
        super().__init__(known)
        self.stamps = stamps

    def __missing__(self, n: int) -> str:
        if n not in self.stamps:
            raise KeyError(n)
        when = self[n] = iso_time(self.stamps[n])
        return when


class TransfersStream:
    """Transfer logs of one chain, window by window, stored in block order (cursor = last block).

    Make it with :meth:`for_chain`: each chain is its own stream (own state and cursor), and the
    :class:`~connectors.base.Stream` protocol names a stream by a class attribute, so every chain gets
    a subclass carrying its name.
    """

    name: ClassVar[str] = "evm.transfers"  # the name pattern; a chain's subclass says evm.<chain>_transfers
    primary_key: ClassVar[tuple[str, ...]] = ("id",)
    cursor_field: ClassVar[str | None] = "block"
    is_sorted: ClassVar[bool] = True
    # Pages may be stored on a writer thread while the next windows are fetched (tracer.pipeline):
    # this stream reads the store only before its first page.
    write_behind: ClassVar[bool] = True
    # For the same reason it may start before the store is open, on a read-only snapshot of it
    # (tracer.pipeline: its first requests travel while the store opens; restarted if the state
    # read under the lock is not the one it started from).
    early_start: ClassVar[bool] = True
    tables: ClassVar[tuple[Table, ...]] = (EDGES, ENTITIES, OBSERVATIONS, EVM_BLOCKS, EVM_TOKENS, REJECTED)

    def __init__(self, chain: str, settings: dict[str, Any]) -> None:
        self.chain, self.c = chain, settings
        self.source = f"evm:{chain}"
        self.contracts: list[str] | None = None if settings["tokens"] == "all" else settings["tokens"]
        self.stats: dict[str, int] = collections.Counter()
        self._executor: ProcessPoolExecutor | None = None
        self._known: dict[str, int | None] = {}  # token -> decimals, of the tokens stored (extract's)
        self._asked: set[str] = set()  # tokens whose metadata was asked for ahead
        self._token_tasks: dict[tuple[str, ...], asyncio.Task[tuple[Page, dict[str, int | None]]]] = {}
        # The decimals of every token read so far (stored, or answered in this run), for the decoder to
        # put in the rows; replaced, never changed in place: a worker's pickling thread may be reading it.
        self._spec = EdgeSpec(chain, self.source, ids.prefix("token", chain), ids.prefix("wallet", "evm"),
                              ids.evm_transfer_edge_prefix, {})

    @staticmethod
    def for_chain(chain: str, settings: dict[str, Any]) -> TransfersStream:
        """The transfers stream of ``chain`` (named ``evm.<chain>_transfers``)."""
        return _chain_class(chain)(chain, settings)

    # -- extract ------------------------------------------------------------------------------
    async def extract(self, ctx: RunContext, state: dict[str, Any]) -> AsyncIterator[Page]:
        c = self.c
        rpc = Rpc(ctx.http, c["rpc_url"], retries=int(c["rpc_retries"]))
        windows = Windows(int(c["max_window"]), int(c["min_window"]), target=int(c["target_logs"] or 0))
        conc = int(c["concurrency"])
        known: dict[str, int | None] = {}
        if ctx.stored is not None:
            known.update(ctx.stored.evm_known_tokens(self.chain))
        self._known, self._asked = known, set()
        # The stored tokens' decimals go to the decoder with each big answer: all of them when few (a
        # chain section's own tokens), else only those read in this run (their rows come from transfers).
        self._spec = self._spec._replace(decimals={})  # a new run: what the store says now
        self._learn({t: known[t] for t in self.contracts if t in known} if self.contracts
                    else known if len(known) <= 5000 else {})
        # Windows in flight, by range: the next one is certain (the plan after the last stored window);
        # the ones after it are guesses (the plan stepped as if each answered the last density).  A
        # guess the stored windows contradict is dropped and its range asked again as planned.
        inflight: dict[tuple[int, int], asyncio.Task[_Fetched]] = {}
        # ``target - reorg_depth``, once the head is known: windows ending above it also fetch their
        # end block's header (the next run's reorg memory); below it the check never looks.
        near: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        resumed = state.get("cursor") is not None
        reorg_task: asyncio.Future[_ReorgHeaders | None] | None = None
        try:
            # The head and chain id are asked at once, and with them (when the first block is known
            # without the head: a resumed run, or start_block >= 0) the first ``concurrency`` windows
            # as the plan would ask them (a resumed run's: up to the last run's target), a resumed
            # run's reorg check and the configured tokens' metadata: on a far node each
            # round trip is time the user waits (issue 16).  A window the plan then does not want
            # (past the target, or after a rewind) is dropped like any wrong guess.
            # The head's and the tokens' requests are made before the windows' so they take the first
            # HTTP slots (the client's limit is first come, first served): behind a window-full of
            # logs requests they came back a round trip late, and so did every window after the
            # first ones, which wait for the head (issue 16, a 50 ms node: ~60 ms of the sync).
            head_task = self._head(rpc)
            if self.contracts:  # most syncs find all their tokens in one window: ask before the first one
                self._tokens_ahead(rpc, set(self.contracts))
            # A resumed run's reorg check asks the headers of stored blocks, so not after the head but
            # with it: an incremental run (a scheduled job) was three round trips (head, check, windows).
            # Its answers are judged once the chain id is checked.
            if resumed:
                reorg_task = asyncio.ensure_future(self._reorg_headers(ctx, rpc, int(state["cursor"])))
            first = (int(state["cursor"]) + 1 if resumed
                     else int(c["start_block"]) if int(c["start_block"]) >= 0 else None)
            if first is not None:
                guess, a = windows.start(state, int(c["window"])), first
                # Guessed windows stop at the last run's target when the state has it: those blocks
                # exist and stay below this run's target.  Past it, an incremental run's guesses were
                # all past the head, dropped, and some sent again on the node's error: ~concurrency
                # eth_getLogs wasted per scheduled run, of the provider's rate limit and credits.
                last_target = int(state["head"]) - int(c["confirmations"]) if resumed and "head" in state else None
                for _ in range(conc):
                    b = windows.end(guess, a, a + guess.size)
                    if last_target is not None and b > last_target:
                        break
                    inflight[(a, b)] = asyncio.create_task(self._window(rpc, windows, a, b, near))
                    a = b + 1
            try:
                head = await head_task
            except BaseException:
                _drop(head_task)
                raise
            target = head - int(c["confirmations"])
            near.set_result(target - int(c["reorg_depth"]))
            skipped = int(state.get("skipped_malformed", 0))
            last_state: dict[str, Any] = dict(state)  # what the end of the sanctions check commits
            if state.get("cursor") is None:
                start = int(c["start_block"])
                cursor = (max(0, target + start) if start < 0 else start) - 1
            else:
                cursor = int(state["cursor"])
                assert reorg_task is not None
                rewind = self._rewind(rpc, cursor, await reorg_task)
                if rewind is not None:
                    cursor = rewind.state["cursor"] if rewind.state else cursor
                    if rewind.state is not None and state.get("sanctions_from") is not None:
                        rewind.state["sanctions_from"] = min(int(state["sanctions_from"]), cursor)
                    last_state = dict(rewind.state or last_state)
                    yield rewind
            plan = windows.start(last_state, int(c["window"]))
            wallets: set[str] = set()
            # The sanctions check covers every block since the last completed check: ``sanctions_from``
            # in the committed state is the block after which the wallets are still unchecked, so a run
            # that resumes after a kill also checks the wallets of the pages the killed run stored.
            sanctions_from: int | None = None
            if c.get("check_sanctions") and c.get("sanctions_oracle"):
                prev = state.get("sanctions_from")
                sanctions_from = cursor if prev is None else min(int(prev), cursor)
                wallets = self._stored_wallets(ctx, sanctions_from, cursor)
            carry = {k: state[k] for k in ("sanctions_unchecked",) if k in state}
            total = max(0, target - cursor)
            seen: tuple[int, int] | None = None  # (blocks, logs) of the last stored window
            nxt = cursor + 1
            ahead = 8 * conc
            budget = conc * windows.target if windows.target else None
            def schedule(plan: WindowPlan, seen: tuple[int, int] | None, nxt: int) -> tuple[int, int]:
                """Put the windows from ``nxt`` in flight as the plan and the last density guess them
                (dropping those it no longer wants); returns the next one, the certain one."""
                ranges: list[tuple[int, int]] = []
                guess, a, guessed = plan, nxt, 0
                while len(ranges) < ahead and a <= target:
                    b = windows.end(guess, a, target)
                    n = b - a + 1
                    logs = seen[1] * n // max(1, seen[0]) if seen is not None else None
                    # Past ``concurrency`` windows, more go ahead only while the logs they are guessed
                    # to hold fit in ``concurrency`` full answers: sparse windows are cheap, and on a far
                    # node only requests in flight hide its latency (the HTTP limits still apply).
                    if len(ranges) >= conc and (logs is None or budget is None or guessed + logs > budget):
                        break
                    ranges.append((a, b))
                    if logs is not None:
                        guessed += logs
                        guess = windows.step(guess, n, logs)
                    a = b + 1
                for r in [r for r in inflight if r not in ranges]:
                    _drop(inflight.pop(r))
                    self.stats["windows_dropped"] += 1
                for r in ranges:
                    if r not in inflight:
                        inflight[r] = asyncio.create_task(self._window(rpc, windows, *r, near))
                return ranges[0]

            while nxt <= target:
                a, b = schedule(plan, seen, nxt)
                fetched = await inflight.pop((a, b))
                pages = await self._in_order(rpc, fetched, known)
                plan = windows.step(plan, b - a + 1, fetched.logs, fetched.refused)
                seen = (b - a + 1, fetched.logs)
                nxt = b + 1
                if nxt <= target:  # the next windows go out before this one's pages are stored
                    schedule(plan, seen, nxt)
                logs_pages = [p for p in pages if p.meta.get("kind") == "logs"]
                for p in logs_pages:
                    skipped += p.data["malformed"]
                    if c.get("check_sanctions") and len(wallets) < int(c["sanctions_max_wallets"]):
                        wallets.update(_page_wallets(p.data, len(self._spec.wallet)))
                # The state moves once per window, with its last page: a run stopped inside a window
                # asks for the whole window again (same ranges, same answers, same pages).
                last = logs_pages[-1]
                last.state = {"cursor": b, **plan.as_state(), "skipped_malformed": skipped, "head": head, **carry}
                if sanctions_from is not None:
                    last.state["sanctions_from"] = sanctions_from
                last_state = last.state
                for p in pages:
                    yield p
                ctx.report(b - a + 1, total, self.chain)
        finally:
            pending: list[asyncio.Future[Any]] = [*inflight.values(), *self._token_tasks.values()]
            for t in [*pending, reorg_task] if reorg_task is not None else pending:
                _drop(t)
            self._token_tasks.clear()
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None
            self.stats.update({f"rpc_{k}": v for k, v in rpc.stats.items()})
        if c.get("check_sanctions") and c.get("sanctions_oracle") and wallets:
            done = {k: v for k, v in last_state.items() if k not in ("sanctions_from", "sanctions_unchecked")}
            retry_from = sanctions_from if sanctions_from is not None else cursor
            async for p in self._sanctions(ctx, rpc, sorted(wallets), target, done, retry_from,
                                           clear=bool(state.get("sanctions_unchecked"))):
                yield p

    def _stored_wallets(self, ctx: RunContext, after: int, upto: int) -> set[str]:
        """Wallets of the transfers stored in blocks ``after+1..upto`` (by a run stopped before its
        sanctions check), capped like the run's own set (``StoredFacts.evm_transfer_wallets``)."""
        if ctx.stored is None or after >= upto:
            return set()
        cap = int(self.c["sanctions_max_wallets"])
        return set(ctx.stored.evm_transfer_wallets(self.chain, after, upto, cap))

    async def _reorg_headers(self, ctx: RunContext, rpc: Rpc, cursor: int) -> _ReorgHeaders | None:
        """The node's headers of the stored blocks among the last ``reorg_depth`` (None: none stored)."""
        if ctx.stored is None:
            return None
        depth = int(self.c["reorg_depth"])
        stored = ctx.stored.evm_block_hashes(self.chain, cursor - depth, cursor)
        if not stored:
            return None
        calls = [("eth_getBlockByNumber", [hex(number), False]) for number, _ in stored]
        bodies: list[bytes] = []
        now: dict[int, str] = {}
        for part in chunks(calls, int(self.c["batch_size"])):
            ans = await rpc.batch(part)
            bodies.append(ans.body)
            for h in ans.result:
                if h:
                    now[int(h["number"], 16)] = h["hash"]
        return _ReorgHeaders(stored, bodies, now)

    def _rewind(self, rpc: Rpc, cursor: int, got: _ReorgHeaders | None) -> Page | None:
        """Compare the stored hashes of the last ``reorg_depth`` blocks with the node's; the rewind
        page if they differ (its state moves the cursor back, its deletes drop what was stored above)."""
        if got is None:
            return None
        depth = int(self.c["reorg_depth"])
        bad = [number for number, h in got.stored if got.now.get(number) != h]
        if not bad:
            return None
        fork = min(bad)
        good = [number for number, _ in got.stored if number < fork]
        new_cursor = max(good) if good else cursor - depth
        if not good:
            log.warning("evm %s: reorg deeper than reorg_depth=%d; rewinding %d blocks", self.chain, depth, depth)
        self.stats["reorgs"] += 1
        return Page(body=b"".join(got.bodies), url=rpc.url, method="POST eth_getBlockByNumber",
                    data={"rewind_from": new_cursor + 1, "rewind_to": cursor},
                    state={"cursor": new_cursor, "window": self.c["window"]},
                    meta={"kind": "rewind"}, deletes=rewind_deletes(self.chain, new_cursor + 1, cursor))

    async def _logs(self, rpc: Rpc, windows: Windows, a: int, b: int) -> tuple[list[tuple[int, int, Any]], int | None]:
        """``eth_getLogs`` over a..b, cut into aligned pieces while the node refuses; returns the
        answered pieces in block order and the smallest refused range length (None: no refusal).

        Each answer comes back parsed and decoded into edge rows (``decode_edge_rows``): in the
        worker process when it is big, so the event loop's core keeps fetching and storing meanwhile."""
        try:
            ans = await rpc.call_parsed("eth_getLogs", [logs_filter(a, b, self.contracts)], self._decode,
                                        self._pool, int(self.c["offload_bytes"]), self._remote_decoder,
                                        self._decode_fast if self.c.get("native_decode", True) else None)
        except RangeTooLarge as e:
            if a == b:
                raise ConnectorError(f"evm {self.chain}: the node refuses even one block ({a}): {e}") from e
            n = b - a + 1
            sugg = e.suggested_end - a + 1 if e.suggested_end is not None and e.suggested_end >= a else None
            self.stats["splits"] += 1
            out: list[tuple[int, int, Any]] = []
            refused = n
            for s, t in windows.pieces(a, b, windows.cut(n, sugg)):
                got, r = await self._logs(rpc, windows, s, t)
                out += got
                refused = min(refused, r or refused)
            return out, refused
        return [(a, b, ans)], None

    def _pool(self) -> ProcessPoolExecutor | None:
        """The decode workers (``decode_workers``), made at the first big answer the C decoder leaves to
        Python: most syncs never need them, and making the pool imports multiprocessing and starts its
        resource tracker (~20 ms before the first request, and more at exit)."""
        n = int(self.c["decode_workers"])
        if self._executor is None and n > 0:
            self._executor = _quiet_pool(n)
        return self._executor

    def _decode(self, body: bytes) -> tuple[str, Any]:
        """A small ``eth_getLogs`` answer the C decoder left to Python, decoded on the event loop."""
        return python_edge_rows(self._spec, body)

    def _decode_fast(self, body: bytes) -> tuple[str, Any] | None:
        """The C decoder, on the event loop whatever the answer's size: it takes ~1 us a log, less than
        sending the rows back from a worker would (None: it leaves the answer to Python).

        The configured tokens whose decimals are not known yet (their metadata is asked for with the
        first windows, and the first answers often come back before it) go in as None: the rows'
        decimals are then what ``_in_order`` compares with the stored ones, and it makes the rows
        again from the same bytes when they differ (~15 ms for 5,000 logs), where leaving the answer
        to Python started a worker process and decoded it there (~0.3 s of CPU)."""
        spec = self._spec
        if self.contracts and any(t not in spec.decimals for t in self.contracts):
            spec = spec._replace(decimals={**dict.fromkeys(self.contracts), **spec.decimals})
        got = fast_edge_rows(spec, body)
        return ("ok", got) if got is not None else None

    def _remote_decoder(self) -> Callable[[bytes], tuple[str, Any]]:
        """The same for a worker process: a picklable function carrying the decimals known now."""
        return functools.partial(python_edge_rows, self._spec)

    def _learn(self, decimals: dict[str, int | None]) -> None:
        """Token decimals the decoder may put in rows (a new dict: never changed in place)."""
        if any(self._spec.decimals.get(t, -1) != d for t, d in decimals.items()):
            self._spec = self._spec._replace(decimals={**self._spec.decimals, **decimals})

    def _head(self, rpc: Rpc) -> asyncio.Future[int]:
        """The node's head block, its chain id checked when configured (both asked at once; their
        request tasks are made now, so they are scheduled before any made after this call)."""
        head = asyncio.ensure_future(rpc.call("eth_blockNumber", []))
        if self.c.get("chain_id") is None:
            return asyncio.ensure_future(self._head_of(head, None))
        return asyncio.ensure_future(self._head_of(head, asyncio.ensure_future(rpc.call("eth_chainId", []))))

    async def _head_of(self, head: asyncio.Future[Any], chain: asyncio.Future[Any] | None) -> int:
        if chain is None:
            return int((await head).result, 16)
        try:
            chain_ans, head_ans = await asyncio.gather(chain, head)
        except BaseException:
            _drop(head)
            _drop(chain)
            raise
        got = int(chain_ans.result, 16)
        if got != int(self.c["chain_id"]):
            raise ConnectorError(f"evm chain {self.chain}: the node at rpc_url is chain id {got}, "
                                 f"configured chain_id is {self.c['chain_id']}")
        return int(head_ans.result, 16)

    async def _window(self, rpc: Rpc, windows: Windows, a: int, b: int, near: asyncio.Future[int]) -> _Fetched:
        """The logs of one window and the headers it needs (fetched ahead, in any order).

        A block's time and hash come from its logs when the node sends ``blockTimestamp`` in them
        (then the logs page also writes its ``evm_blocks`` rows); other blocks with transfers, and
        the window's end block when it ends above ``near`` (``target - reorg_depth``: the reorg
        check's memory), come from their headers.  ``near`` may still be unknown (a window asked
        for with the head): then that header is asked for once the logs and the head are in."""
        # The end block's header is needed unless its logs carry its time: asked for alongside the
        # logs (one round trip instead of two); dropped when not needed, so the pages stay the same.
        end_header = asyncio.create_task(self._headers(rpc, [b])) if near.done() and b > near.result() else None
        try:
            return await self._window_pages(rpc, windows, a, b, near, end_header)
        except BaseException:
            if end_header is not None:
                _drop(end_header)
            raise

    async def _window_pages(self, rpc: Rpc, windows: Windows, a: int, b: int, near: asyncio.Future[int],
                            end_header: asyncio.Task[Page] | None) -> _Fetched:
        pieces, refused = await self._logs(rpc, windows, a, b)
        end = b > await near
        decoded: list[tuple[int, int, Any, LogsAnswer]] = []
        seen_hash: dict[int, str] = {}
        stamps: dict[int, int | None] = {}
        n_logs = 0
        for s, e, ans in pieces:
            got: LogsAnswer = ans.result  # checked per block: the decoder summed up its logs by block
            if got.result != "list":
                raise ConnectorError(f"evm {self.chain}: eth_getLogs {s}..{e} answered {got.result}")
            n_logs += got.logs
            for blk, bhash in got.hashes.items():
                if not s <= blk <= e:
                    raise ConnectorError(f"evm {self.chain}: node returned a log of block {blk} for {s}..{e}")
                if seen_hash.setdefault(blk, bhash) != bhash:
                    got = got._replace(twice=blk)
            if got.twice is not None:
                raise ConnectorError(f"evm {self.chain}: logs of block {got.twice} carry two block hashes "
                                     "(reorg above confirmations); run sync again")
            stamps.update(got.stamps)
            decoded.append((s, e, ans, got))
        self._tokens_ahead(rpc, set().union(*(d[3].contracts for d in decoded)))
        from_logs = {n: ts for n, ts in stamps.items() if ts is not None and seen_hash.get(n)}
        blocks = ({b} if end else set()) | set(seen_hash)
        blocks -= set(from_logs)
        times: dict[int, str] = {}
        hashes: dict[int, str] = {}
        pages: list[Page] = []
        headers: Page | None = None
        if end_header is not None and blocks == {b}:
            headers = await end_header
        else:
            if end_header is not None:
                _drop(end_header)
            headers = await self._headers(rpc, sorted(blocks)) if blocks else None
        if headers is not None:
            pages.append(headers)
            times, hashes = headers.data["times"], headers.data["hashes"]
        for blk, h in seen_hash.items():
            if blk in hashes and h and hashes[blk] != h:
                # The logs and the header disagree: the block was replaced meanwhile; retry later.
                raise ConnectorError(f"evm {self.chain}: block {blk} changed during the sync "
                                     "(reorg above confirmations); run sync again")
        times = _Times(times, from_logs)
        for s, e, ans, got in decoded:
            rows = [(self.chain, n, seen_hash[n], None, ts) for n, ts in sorted(from_logs.items()) if s <= n <= e]
            pages.append(Page(body=ans.body, url=ans.url, method="POST eth_getLogs",
                              data={"start": s, "end": e, "transfers": got.transfers, "edges": got.rows,
                                    "malformed": got.malformed, "times": times, "decimals": {}, "blocks": rows},
                              state=None, meta={"kind": "logs", "contracts": sorted(got.contracts),
                                                "row_decimals": got.decimals}))
        return _Fetched(pages, n_logs, refused)

    async def _in_order(self, rpc: Rpc, got: _Fetched, known: dict[str, int | None]) -> list[Page]:
        """A fetched window's pages in write order, once the windows before it are stored: first the
        metadata of the tokens no earlier window had (one page, so which page a token row cites does
        not depend on which window was fetched first), then headers and logs with their decimals."""
        pages = list(got.pages)
        logs_pages = [p for p in pages if p.meta.get("kind") == "logs"]
        new = sorted({c for p in logs_pages for c in p.meta["contracts"] if c not in known})
        if new:
            ahead = self._token_tasks.pop(tuple(new), None)
            if ahead is not None:  # asked for when the window arrived: the same calls, so the same page
                page, found = await ahead
                known.update(found)
            else:
                page = await self._tokens(rpc, new, known)
            self._learn({t: known.get(t) for t in new})
            pages.insert(0, page)
        for p in logs_pages:
            p.data["decimals"] = {c: known.get(c) for c in p.meta.pop("contracts")}
            used = p.meta.pop("row_decimals")
            if p.data["edges"] is not None and used != p.data["decimals"]:
                # Rows made with decimals of a metadata answer that is not the one stored (a token asked
                # twice, answered differently): made again from the same bytes with the stored ones.
                self._learn(known)
                self.stats["rows_remade"] += 1
                again: LogsAnswer = decode_edge_rows(self._spec, p.body)[1]
                p.data.update(edges=again.rows, transfers=again.transfers)
        return pages

    async def _headers(self, rpc: Rpc, numbers: list[int]) -> Page:
        """Headers (lean, no transactions) of the blocks that carry transfers plus the window end."""
        bodies: list[bytes] = []
        rows: list[dict[str, Any]] = []
        times: dict[int, str] = {}
        hashes: dict[int, str] = {}
        for part in chunks(numbers, int(self.c["batch_size"])):
            ans = await rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in part])
            bodies.append(ans.body)
            for n, h in zip(part, ans.result, strict=True):
                if not h:
                    raise ConnectorError(f"evm {self.chain}: the node has no block {n} yet")
                hd = parse_header(h)
                times[n] = iso_time(hd.timestamp)
                hashes[n] = hd.hash
                rows.append({"chain": self.chain, "number": n, "hash": hd.hash, "parent_hash": hd.parent_hash,
                             "timestamp": hd.timestamp})
        return Page(body=b"\n".join(bodies), url=rpc.url, method="POST eth_getBlockByNumber",
                    data={"rows": rows, "times": times, "hashes": hashes}, state=None, meta={"kind": "blocks"})

    def _tokens_ahead(self, rpc: Rpc, contracts: set[str]) -> None:
        """Ask for the metadata of tokens no stored window had yet (those of a fetched window, or the
        configured ones at the start), before their window's turn comes: on a far node that page
        would otherwise wait a round trip behind the windows fetched ahead.  :meth:`_in_order` uses
        it when its new tokens are exactly these (the same calls: the same page), else asks itself."""
        new = tuple(sorted(c for c in contracts if c not in self._known and c not in self._asked))
        if new:
            self._asked.update(new)

            async def fetch() -> tuple[Page, dict[str, int | None]]:
                found: dict[str, int | None] = {}
                page = await self._tokens(rpc, list(new), found)
                self._learn(found)  # the windows decoded from now on carry these decimals in their rows
                return page, found

            self._token_tasks[new] = asyncio.create_task(fetch())

    async def _tokens(self, rpc: Rpc, contracts: list[str], known: dict[str, int | None]) -> Page:
        """symbol/decimals/name of new token contracts (eth_call; reverts and bytes32 tolerated).

        A call the node failed (an error that is not a revert: "header not found", -32603 under
        load) asks the batch again, ``rpc_retries`` times at most: the decimals go into every edge
        of the token stored in this run, so a transient fault must not leave them empty."""
        calls = [("eth_call", [{"to": t, "data": sel}, "latest"])
                 for t in contracts for sel in (SEL_SYMBOL, SEL_DECIMALS, SEL_NAME)]
        results: list[Any] = []
        bodies = []
        for part in chunks(calls, int(self.c["batch_size"])):
            for attempt in range(rpc.retries + 1):
                ans = await rpc.batch(part, allow_errors=True)
                if attempt == rpc.retries or not any(isinstance(r, JsonRpcError) and not _reverted(r)
                                                     for r in ans.result):
                    break
                rpc.stats["rpc_errors"] += 1
                await asyncio.sleep(random.uniform(0, rpc.backoff * 2**attempt))
            bodies.append(ans.body)
            results += ans.result
        rows = []
        for i, t in enumerate(contracts):
            raw = results[3 * i:3 * i + 3]
            sym_r, dec_r, name_r = (r if isinstance(r, str) else None for r in raw)
            symbol, how = decode_string(sym_r)
            name, _ = decode_string(name_r)
            dec = decode_uint_small(dec_r)
            err = raw[1] if isinstance(raw[1], JsonRpcError) else None
            if dec is not None:
                status = "ok"
            elif err is not None and not _reverted(err):
                status = "error"  # the node failed, not the token: asked again on the next run
            else:
                status = "reverted" if err is not None or not dec_r or dec_r == "0x" else "invalid"
            if status == "ok" and how == "bytes32":
                status = "ok-bytes32"
            known[t] = dec
            rows.append({"chain": self.chain, "address": t, "symbol": symbol, "decimals": dec, "name": name,
                         "status": status})
        return Page(body=b"\n".join(bodies), url=rpc.url, method="POST eth_call",
                    data={"rows": rows}, state=None, meta={"kind": "tokens"})

    async def _sanctions(self, ctx: RunContext, rpc: Rpc, wallets: list[str], block: int, done: dict[str, Any],
                         retry_from: int, clear: bool = False) -> AsyncIterator[Page]:
        """``isSanctioned(address)`` of the Chainalysis oracle for the wallets of the blocks not yet
        checked; the last page commits ``done`` (the state without ``sanctions_from``): a run
        stopped before that asks again for the whole set (same batches, so the same pages).

        A wallet whose call fails at the block and again at ``latest`` (a revert, a node error, an
        answer that is not one ABI bool) is not "not sanctioned": it becomes a ``rejected_inputs``
        row, the state keeps ``sanctions_from = retry_from`` (the next run asks again for those
        blocks' wallets) and ``sanctions_unchecked`` (their count).  ``clear``: the last check left
        wallets unchecked, so each wallet answered now drops its rejection row."""
        oracle = str(self.c["sanctions_oracle"]).lower()
        parts = list(chunks(wallets, int(self.c["batch_size"])))
        unchecked = 0
        for i, part in enumerate(parts):
            tag: str = hex(block)
            data = [sanctions_call_data(w) for w in part]
            ans = await rpc.batch([("eth_call", [{"to": oracle, "data": d}, tag]) for d in data],
                                  allow_errors=True)
            if any(isinstance(r, JsonRpcError) for r in ans.result):
                # A pruned (non-archive) node may not have that block's state: ask at "latest".
                tag = "latest"
                ans = await rpc.batch([("eth_call", [{"to": oracle, "data": d}, tag]) for d in data],
                                      allow_errors=True)
            hits: list[str] = []
            failed: dict[str, str] = {}
            for w, r in zip(part, ans.result, strict=True):
                v = decode_sanctioned(r) if isinstance(r, str) else None
                if isinstance(r, JsonRpcError):
                    failed[w] = (f"isSanctioned failed at block {block} and at latest: "
                                 f"JSON-RPC error {r.code}: {r.rpc_message}")
                elif v is None:
                    failed[w] = f"isSanctioned at {tag} answered {ascii(r)[:80]}, not one ABI bool"
                elif v:
                    hits.append(w)
            unchecked += len(failed)
            src = f"chainalysis-oracle:{self.chain}:{oracle}"
            deletes = [Delete("rejected_inputs", {"stream": self.name, "value": snippet(w), "context": src})
                       for w in part if w not in failed] if clear else []
            state = None
            if i == len(parts) - 1:
                state = dict(done)
                if unchecked:
                    state.update(sanctions_from=retry_from, sanctions_unchecked=unchecked)
                    log.warning("evm %s: %d of %d wallets not checked by the sanctions oracle %s (recorded in "
                                "rejected_inputs); the next run asks again", self.chain, unchecked,
                                len(wallets), oracle)
                self.stats["sanctions_unchecked"] = unchecked
            yield Page(body=ans.body, url=rpc.url, method="POST eth_call",
                       data={"hits": hits, "oracle": oracle, "block": block if tag != "latest" else "latest",
                             "at": ctx.now, "unchecked": failed},
                       state=state, meta={"kind": "sanctions"}, deletes=deletes)

    # -- transform ----------------------------------------------------------------------------
    def transform(self, page: Page) -> Iterator[Record | Rows]:
        kind = page.meta.get("kind")
        if kind == "logs":
            yield from self._transfer_records(page.data)
            if page.data.get("blocks"):  # blocks whose time and hash came with their logs
                yield Rows("evm_blocks", ("chain", "number", "hash", "parent_hash", "timestamp"), page.data["blocks"])
        elif kind == "blocks":  # row by row: a header the store cannot hold is one rejected_inputs row
            for r in page.data["rows"]:
                yield from item_records(self.name, r, page.fetched_at, lambda x: [Record("evm_blocks", x)], "evm")
        elif kind == "tokens":
            for r in page.data["rows"]:
                yield from item_records(self.name, r, page.fetched_at, self._token_records, "evm")
        elif kind == "sanctions":
            d = page.data
            src = f"chainalysis-oracle:{self.chain}:{d['oracle']}"
            for w in d["hits"]:
                wid = ids.wallet_raw("evm", w)
                # The id predates facts.observation_id (it has no predicate); kept so stores update in place.
                yield facts.observation(wid, "sanctioned", "chainalysis-oracle", src, d["at"],
                                        id_=f"obs:{src}:{wid}",
                                        attrs={"chain": self.chain, "contract": d["oracle"], "block": d["block"]})
            for w, why in sorted(d.get("unchecked", {}).items()):
                yield rejection(self.name, w, why, d["at"], src)

    def _token_records(self, r: dict[str, Any]) -> list[Record]:
        # Token metadata is read once per token: no sighting times (at=None), as the rows always had.
        return [Record("evm_tokens", r),
                facts.entity_stated(ids.token(self.chain, r["address"]), self.source, None, chain=self.chain,
                                    address=r["address"], label=r["symbol"],
                                    attrs={"name": r["name"], "decimals": r["decimals"]})]

    def _transfer_records(self, d: dict[str, Any]) -> Iterator[Rows]:
        """One :class:`Rows` batch of edges per logs page (tuples: this is the sync's hottest loop).

        Per block: the id prefix and the time; per contract: the asset id, decimals and the start of
        ``attrs``; per log index: its two spellings (measured: ~25% less than formatting each row)."""
        if d.get("edges") is not None:  # made by the decoder (connectors.evm.decode.decode_edge_rows)
            if d["edges"]:
                yield Rows("edges", EDGE_COLUMNS, d["edges"])
            return
        chain, source, times, decs = self.chain, self.source, d["times"], d["decimals"]
        rows: list[tuple[Any, ...]] = []
        append = rows.append
        # Ids from connectors.ids, by prefix: one function call per row would cost ~10% of the extraction.
        asset, wallet = ids.prefix("token", chain), ids.prefix("wallet", "evm")
        per: dict[str, tuple[str, int | None, str]] = {}
        lis: list[tuple[str, str]] = []  # log index -> (6 digits, as is)
        last, bp, when = -1, "", ""
        for kind, contract, src, dst, value, block, _bh, tx, li in d["transfers"]:
            if block != last:  # transfers come in block order: the id prefix and time once per block
                last, bp, when = block, ids.evm_transfer_edge_prefix(chain, block), times[block]
            if not 0 <= li < CACHED_LOG_INDEXES:
                l6, ls = f"{li:06d}", str(li)
            else:
                if li >= len(lis):
                    lis.extend((f"{i:06d}", str(i)) for i in range(len(lis), li + 1))
                l6, ls = lis[li]
            p = per.get(contract)
            if p is None:
                p = per[contract] = (asset + contract, decs.get(contract), f'{{"contract":"{contract}","log_index":')
            # bp + l6 == ids.evm_transfer_edge(chain, block, li), the per-row part inlined
            if kind == "erc20":
                append((bp + l6, "paid", wallet + src, wallet + dst, chain, p[0], str(value), p[1], when, block, tx,
                        p[2] + ls + "}", source, when, when))
            else:
                append((bp + l6, "nft_transfer", wallet + src, wallet + dst, chain, p[0], None, None, when, block,
                        tx, f'{p[2]}{ls},"token_id":"{value}"}}', source, when, when))
        if rows:
            yield Rows("edges", EDGE_COLUMNS, rows)




def _page_wallets(d: dict[str, Any], cut: int) -> Iterator[str]:
    """The source and destination addresses of a logs page's transfers (``cut``: the wallet id
    prefix's length, for pages whose rows the decoder made)."""
    if d.get("edges") is not None:
        for r in d["edges"]:
            yield r[2][cut:]
            yield r[3][cut:]
    else:
        for t in d["transfers"]:
            yield t[2]
            yield t[3]


def _reverted(err: JsonRpcError) -> bool:
    """An ``eth_call`` error that is the contract's answer (a revert), not the node failing."""
    return "revert" in err.rpc_message.lower() or err.code == 3


def decode_uint_small(data: str | None) -> int | None:
    """``decimals()``: a uint8 in one word (some tokens return a uint256); larger is invalid."""
    from connectors.evm.decode import decode_uint

    n = decode_uint(data)
    return n if n is not None and n <= 255 else None


def _quiet_pool(n: int) -> ProcessPoolExecutor:
    """``n`` spawned decode workers that never see Ctrl-C, not even while they start.

    A terminal sends SIGINT to the whole process group; a worker still importing its first modules
    (before :func:`worker_init` ignores it) died with "Fatal Python error: init_import_site" on
    stderr.  The pool starts its processes inside ``submit``, so SIGINT is blocked around it: the
    blocked mask is inherited through fork and exec, and a Ctrl-C meanwhile stays pending for the
    sync, not lost."""
    import multiprocessing as mp
    import signal
    from concurrent.futures import ProcessPoolExecutor

    class QuietPool(ProcessPoolExecutor):
        def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
            old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            try:
                return super().submit(fn, *args, **kwargs)
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, old)

    return QuietPool(n, mp_context=mp.get_context("spawn"), initializer=worker_init)


class _Fetched(Struct):
    """One window as fetched: headers then logs pages (no state yet), its log count, and the smallest
    range length the node refused in it (None: none)."""

    pages: list[Page]
    logs: int
    refused: int | None


class _ReorgHeaders(Struct):
    """The reorg check's answers: the stored (block, hash) pairs, the node's answer bodies (the
    rewind page's provenance) and the hashes the node has now, by block."""

    stored: list[tuple[int, str]]
    bodies: list[bytes]
    now: dict[int, str]


def _drop(task: asyncio.Future[Any]) -> None:
    """Cancel a window fetched ahead that the plan no longer wants; its failure, if any, is nobody's."""
    task.cancel()
    task.add_done_callback(lambda t: t.cancelled() or t.exception())


@functools.cache
def _chain_class(chain: str) -> type[TransfersStream]:
    """The subclass of one chain, made once: its class attribute ``name`` names the chain's stream."""
    return type(f"TransfersStream_{chain}", (TransfersStream,), {"name": f"evm.{chain}_transfers",
                                                                  "__module__": __name__})



class EvmConnector(TypedConfig):
    """ERC-20 payments (and ERC-721 transfers, kept apart) from EVM JSON-RPC nodes, one per chain."""

    name: ClassVar[str] = "evm"
    description: ClassVar[str] = "EVM token transfers (ERC-20 payments, ERC-721 apart) via JSON-RPC eth_getLogs"
    schema = EvmConfig

    def streams(self, config: dict[str, Any]) -> list[Stream]:
        return [TransfersStream.for_chain(name, c) for name, c in chain_settings(config).items()]

    def probes(self, config: dict[str, Any]) -> list[Probe]:
        return [Probe(f"{name} eth_blockNumber", c["rpc_url"], rpc_method="eth_blockNumber")
                for name, c in chain_settings(config).items()]

