"""A per-chain block clock: when was block H, for facts that carry a height but no time.

Some facts are stored with a block height only (Akash escrow deposits and leases: the LCD gives
heights, not times).  Placing them at epoch 0 would make a deposit look like a payment made in 1970,
before the wallet was funded.  The clock estimates a time from *anchors* — (chain, block, epoch)
triples from facts that carry both (tx-search transfers, EVM logs) or from what a connector measured
at the chain head (``block_time`` observations: head height, its time, seconds per block):

- between two anchors: linear interpolation;
- outside them: extrapolation at the local rate (the last/first few anchors), else the measured
  seconds per block, else the median rate of all segments;
- anchors are made non-decreasing in time first (pool-adjacent-violators), so estimates are monotone
  in height whatever the input; an estimate at or before 1970 is "unknown" (None), never 0.

Anchors are sampled as they arrive (at most ``max_anchors`` per chain, spread over the height
range, the lowest and highest always kept), so feeding a million timed EVM edges costs one dict
lookup each.
"""

from __future__ import annotations

import contextlib
import json
import statistics
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from typing import Any, cast

from connectors import ids
from connectors.facts import BlockTimeAttrs

DEFAULT_MAX_ANCHORS = 2048
_LOCAL = 8  # anchors used for the local extrapolation rate


class BlockClock:
    """Per-chain block -> epoch-seconds estimates from sampled anchors (see the module docstring)."""

    def __init__(self, anchors: Iterable[tuple[str, int, int]] = (), max_anchors: int = DEFAULT_MAX_ANCHORS) -> None:
        self.max_anchors = max(4, int(max_anchors))
        self._buckets: dict[str, dict[int, tuple[int, int]]] = {}
        self._shift: dict[str, int] = {}
        self._ends: dict[str, list[tuple[int, int]]] = {}  # [lowest, highest] anchor per chain
        self._spb: dict[str, float] = {}  # measured seconds per block (connector observation)
        self._fit: dict[str, tuple[list[int], list[float]]] = {}
        for chain, block, t in anchors:
            self.add(chain, block, t)

    # -- input ---------------------------------------------------------------------------------
    def add(self, chain: str | None, block: Any, t: int | None) -> None:
        """One anchor: ``block`` on ``chain`` was at ``t`` (epoch seconds). Unusable input is ignored."""
        if chain is None or block is None or t is None or t <= 0:
            return
        b = int(block)
        if b < 0:
            return
        chain = str(chain)
        self._fit.pop(chain, None)
        ends = self._ends.get(chain)
        if ends is None:
            self._ends[chain] = [(b, t), (b, t)]
        else:
            if b < ends[0][0]:
                ends[0] = (b, t)
            if b > ends[1][0]:
                ends[1] = (b, t)
        buckets = self._buckets.setdefault(chain, {})
        shift = self._shift.get(chain, 0)
        key = b >> shift
        if key in buckets:
            return
        buckets[key] = (b, t)
        if len(buckets) > self.max_anchors:  # coarser buckets: about half as many anchors
            shift += 1
            self._shift[chain] = shift
            thinned: dict[int, tuple[int, int]] = {}
            for bt in sorted(buckets.values()):
                thinned.setdefault(bt[0] >> shift, bt)
            self._buckets[chain] = thinned

    def add_rate(self, chain: str, seconds_per_block: float) -> None:
        """A measured average block time (used to extrapolate when anchors cannot say)."""
        if seconds_per_block and seconds_per_block > 0:
            self._spb[str(chain)] = float(seconds_per_block)
            self._fit.pop(str(chain), None)

    def add_observation(self, subject: str, value: Any, attrs: Any) -> None:
        """A ``block_time`` observation (subject ``chain:<name>``, attrs
        :class:`connectors.facts.BlockTimeAttrs`)."""
        at = cast(BlockTimeAttrs, json.loads(attrs) if isinstance(attrs, str) else (attrs or {}))
        chain = ids.chain_of_subject(subject)
        spb = at.get("seconds_per_block", value)
        with contextlib.suppress(TypeError, ValueError):
            self.add_rate(chain, float(spb))
        if at.get("head") is not None and at.get("head_time") is not None:
            from graphs.build import to_epoch

            self.add(chain, int(at["head"]), to_epoch(at["head_time"]))

    def merge(self, other: BlockClock) -> None:
        for chain, buckets in other._buckets.items():
            for b, t in buckets.values():
                self.add(chain, b, t)
        for chain, ends in other._ends.items():
            for b, t in ends:
                self.add(chain, b, t)
        for chain, spb in other._spb.items():
            self._spb.setdefault(chain, spb)

    # -- output --------------------------------------------------------------------------------
    def chains(self) -> list[str]:
        return sorted(set(self._buckets) | set(self._spb))

    def anchors(self, chain: str) -> list[tuple[int, int]]:
        """The sampled anchors of a chain, sorted by height (as given, before monotone fitting)."""
        pts = set(self._buckets.get(chain, {}).values()) | set(self._ends.get(chain, []))
        return sorted(pts)

    def _fitted(self, chain: str) -> tuple[list[int], list[float]]:
        fit = self._fit.get(chain)
        if fit is None:
            fit = self._fit[chain] = _monotone(self.anchors(chain))
        return fit

    def _rate(self, chain: str, blocks: list[int], times: list[float], at_end: bool) -> float | None:
        n = len(blocks)
        if n >= 2:
            k = min(_LOCAL, n)
            b0, b1, t0, t1 = ((blocks[-k], blocks[-1], times[-k], times[-1]) if at_end
                              else (blocks[0], blocks[k - 1], times[0], times[k - 1]))
            if b1 > b0 and t1 > t0:
                return (t1 - t0) / (b1 - b0)
        if chain in self._spb:
            return self._spb[chain]
        rates = [(times[i + 1] - times[i]) / (blocks[i + 1] - blocks[i]) for i in range(n - 1)
                 if times[i + 1] > times[i]]
        return statistics.median(rates) if rates else None

    def seconds_per_block(self, chain: str | None, block: int) -> float | None:
        """The rate the estimate of ``block`` uses (for "estimated at ~S s/block" notes)."""
        if chain is None:
            return None
        blocks, times = self._fitted(chain)
        if not blocks:
            return self._spb.get(chain)
        n, i = len(blocks), bisect_left(blocks, block)
        if i < n and blocks[i] == block:  # on an anchor: the segment beside it
            i = i + 1 if i + 1 < n else i
        if 0 < i < n:
            return (times[i] - times[i - 1]) / (blocks[i] - blocks[i - 1])
        return self._rate(chain, blocks, times, at_end=i >= n)

    def estimate(self, chain: str | None, block: Any) -> int | None:
        """Epoch seconds of ``block`` on ``chain``, or None when the clock cannot tell (or says <= 1970)."""
        if chain is None or block is None:
            return None
        b = int(block)
        blocks, times = self._fitted(str(chain))
        if not blocks:
            return None
        i = bisect_left(blocks, b)
        if i < len(blocks) and blocks[i] == b:
            t = times[i]
        elif 0 < i < len(blocks):
            b0, b1, t0, t1 = blocks[i - 1], blocks[i], times[i - 1], times[i]
            t = t0 + (t1 - t0) * (b - b0) / (b1 - b0)
        else:
            rate = self._rate(str(chain), blocks, times, at_end=i >= len(blocks))
            if rate is None:
                return None
            t = times[-1] + (b - blocks[-1]) * rate if i >= len(blocks) else times[0] - (blocks[0] - b) * rate
        est = int(round(t))
        return est if est > 0 else None

    def note(self, chain: str | None, block: Any) -> str:
        """``estimated from block height H at ~S s/block`` (what explain and timelines print)."""
        spb = self.seconds_per_block(chain, int(block)) if block is not None else None
        rate = f" at ~{spb:.2f} s/block" if spb else ""
        return f"time estimated from {chain} block height {block}{rate}"


def _monotone(points: list[tuple[int, int]]) -> tuple[list[int], list[float]]:
    """Unique heights with non-decreasing times (isotonic fit, pool adjacent violators)."""
    merged: list[list[float]] = []  # [block, time sum, count] per unique height
    for b, t in points:
        if merged and merged[-1][0] == b:
            merged[-1][1] += t
            merged[-1][2] += 1
        else:
            merged.append([b, float(t), 1.0])
    # blocks of pooled points: [first index, last index, mean time, weight]
    pools: list[list[float]] = []
    for i, (_, s, c) in enumerate(merged):
        pools.append([i, i, s / c, c])
        while len(pools) > 1 and pools[-2][2] > pools[-1][2]:
            a, z = pools[-2], pools.pop()
            w = a[3] + z[3]
            a[2] = (a[2] * a[3] + z[2] * z[3]) / w
            a[1], a[3] = z[1], w
    blocks = [int(m[0]) for m in merged]
    times = [0.0] * len(merged)
    for lo, hi, mean, _ in pools:
        for j in range(int(lo), int(hi) + 1):
            times[j] = mean
    return blocks, times


def iso(t: int | None) -> str | None:
    """Epoch seconds as RFC 3339 UTC text (``2026-03-01T10:00:00Z``); None stays None."""
    if t is None:
        return None
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def clock_from_observations(rows: Iterable[Mapping[str, Any]]) -> BlockClock:
    """A clock from ``block_time`` observation rows (dicts with subject, value, attrs)."""
    c = BlockClock()
    for o in rows:
        if o.get("predicate", "block_time") == "block_time":
            c.add_observation(str(o["subject"]), o.get("value"), o.get("attrs"))
    return c
