"""The sync's per-stream live view: one row per stream with its status, progress, records, retries, error.

Why: an operator watching ``tracer sync`` or ``tracer run`` must see which stream is slow, retrying or
failing while it happens, not only in the summary at the end.  On a terminal the rows are a rich
table redrawn in place (rich is imported only then: ``--help`` and cron runs stay light); elsewhere
(cron, CI logs) each event is one plain line: a stream started, retried (1st, 2nd, 4th, 8th... time,
with the latest reason) and ended.  A count of retries alone does not tell a busy server (503, 429)
from a dead one (timeouts, refused connections), so while a stream waits to retry its row says why:
"retrying (3): HTTP 503 Service Unavailable, next in 2.0s"; once a page arrives after that wait, or
the stream ends, the row is back to its progress (an ended row keeps only the count).  The view is a :class:`tracer.pipeline.Watch`; the pipeline's errors and notes arrive
already redacted (the run's redactor), and are cut to one line here.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

from msgspec import Struct

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from tracer.pipeline import Progress, StreamResult

STATUSES = ("waiting", "running", "ok", "skipped", "failed", "interrupted")
_STYLE = {"waiting": "dim", "running": "cyan", "retrying": "magenta", "ok": "green", "skipped": "yellow",
          "failed": "bold red", "interrupted": "red"}


def one_line(text: str | None, limit: int = 300) -> str:
    """The first line of ``text``, at most ``limit`` characters (an error body may span many)."""
    if not text:
        return ""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[:limit - 1] + "…"


class Row(Struct):
    """One stream as the view shows it; ``res`` is the pipeline's live result once the stream started."""

    stream: str
    status: str = "waiting"
    done: int = 0
    total: int | None = None
    note: str = ""
    res: StreamResult | None = None
    t0: float | None = None
    t1: float | None = None
    retry_until: float | None = None  # monotonic time the latest retry tries again; None: no retry pending

    @property
    def records(self) -> int:
        return self.res.records if self.res is not None else 0

    @property
    def retries(self) -> int:
        return self.res.retries if self.res is not None else 0

    @property
    def error(self) -> str:
        """The stream's error, or why it was skipped: one line."""
        if self.res is None:
            return ""
        return one_line(self.res.error or (self.res.note if self.status == "skipped" else None))

    def retrying(self) -> str:
        """While the latest news of a running stream is a retry: its count, reason and the wait left."""
        if self.status != "running" or self.retry_until is None or self.res is None:
            return ""
        left = self.retry_until - time.monotonic()
        when = f"next in {left:.1f}s" if left > 0 else "trying again"
        return f"retrying ({self.retries}): {one_line(self.res.retry_reason, 200)}, {when}"

    def progress(self) -> str:
        """``done/total`` where the source gave a total, else the count so far ("0/?" never)."""
        if self.status in ("waiting", "skipped"):
            return ""
        return f"{self.done:,}/{self.total:,}" if self.total is not None else f"{self.done:,}"

    def seconds(self) -> float | None:
        if self.t0 is None:
            return None
        return (self.t1 if self.t1 is not None else time.monotonic()) - self.t0


class LiveView:
    """Per-stream rows of one sync at a time (``tracer run --every`` starts again at each cycle).

    ``console``: a rich Console to redraw a table on (a terminal); ``out``: where plain lines go
    otherwise.  Exactly one of them is used.
    """

    def __init__(self, out: TextIO | None = None, console: Console | None = None, refresh: float = 4) -> None:
        self.out, self.console, self.refresh = out, console, refresh
        self.rows: dict[str, Row] = {}
        self._live: Any = None

    @classmethod
    def for_stderr(cls, quiet: bool) -> LiveView | None:
        """The view a command shows: none with ``-q``; a live table if stderr is a terminal, else lines."""
        if quiet:
            return None
        if sys.stderr.isatty():
            from rich.console import Console

            return cls(console=Console(file=sys.stderr))
        return cls(out=sys.stderr)

    # -- what the pipeline tells (tracer.pipeline.Watch) --------------------------------------------

    def planned(self, streams: list[str]) -> None:
        self.stop()
        self.rows = {s: Row(s) for s in streams}
        if self.console is not None:
            from rich.live import Live

            self._live = Live(console=self.console, get_renderable=self.render,
                              refresh_per_second=self.refresh, transient=False, redirect_stdout=False,
                              redirect_stderr=False)
            self._live.start()

    def started(self, res: StreamResult) -> Progress:
        row = self.rows.setdefault(res.stream, Row(res.stream))
        row.status, row.res, row.t0 = "running", res, time.monotonic()
        self._line(f"{row.stream} running")

        def update(advance: int, total: int | None, note: str) -> None:
            if row.retry_until is not None and time.monotonic() >= row.retry_until:
                row.retry_until = None  # a page after the retry's wait: the stream is moving again
            row.done += advance
            if total is not None:
                row.total = total
            if note:
                row.note = one_line(note, 60)

        return update

    def retried(self, res: StreamResult) -> None:
        row = self.rows.get(res.stream)
        if row is not None:
            row.retry_until = time.monotonic() + res.retry_wait
        n = res.retries
        if self.out is not None and n & (n - 1) == 0:  # 1, 2, 4, 8...: a retry storm stays a few lines
            self._line(f"{res.stream} retrying: {n} {'retry' if n == 1 else 'retries'} so far; latest: "
                       f"{one_line(res.retry_reason, 200)}, next in {res.retry_wait:.1f}s")

    def ended(self, res: StreamResult) -> None:
        row = self.rows.setdefault(res.stream, Row(res.stream, res=res))
        row.status, row.res, row.t1 = res.status, res, time.monotonic()
        if self.console is not None and self._live is None:
            # No table on the terminal (an early stream a Ctrl-C stopped before the run drew it): a line.
            from rich.markup import escape

            self.console.print(escape(self.describe(row)), highlight=False)
        self._line(self.describe(row))

    def finished(self) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop redrawing (the last frame stays on the terminal); safe to call twice."""
        if self._live is not None:
            live, self._live = self._live, None
            live.stop()

    def counts(self) -> str:
        """How the streams of the last sync ended, e.g. "10 ok, 1 skipped, 1 failed" ("" before any)."""
        by: dict[str, int] = {}
        for row in self.rows.values():
            by[row.status] = by.get(row.status, 0) + 1
        return ", ".join(f"{by[s]} {s}" for s in STATUSES if s in by)

    def clear(self) -> None:
        """Forget the last sync's rows (a cycle with nothing due must not show the previous one's)."""
        self.stop()
        self.rows = {}

    # -- rendering ----------------------------------------------------------------------------------

    @staticmethod
    def describe(row: Row) -> str:
        """The plain line of a stream that ended: status, progress, records, retries, error or note."""
        if row.status == "skipped":
            return f"{row.stream} skipped: {row.error}"
        parts = [f"progress {row.progress()}"] if row.progress() else []
        parts += [f"{row.records:,} records", f"{row.retries} {'retry' if row.retries == 1 else 'retries'}"]
        secs = row.seconds()
        if secs is not None:
            parts.append(f"{secs:.1f}s")
        line = f"{row.stream} {row.status}: " + ", ".join(parts)
        return line + (f"; error: {row.error}" if row.error else "")

    def render(self) -> Table:
        """The table as it stands: one row per planned stream, in the plan's order."""
        from rich.table import Table
        from rich.text import Text

        table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
        rows = list(self.rows.values())
        # Every column but the last keeps its width; the error is what an ellipsis shortens.
        table.add_column("stream", no_wrap=True, min_width=max([6, *(len(r.stream) for r in rows)]))
        table.add_column("status", no_wrap=True, min_width=11)
        for name in ("progress", "records", "retries", "time"):
            table.add_column(name, justify="right", no_wrap=True, min_width=len(name))
        # The error (or, while a stream runs, why it retries or what it fetches) shrinks first, ends in "…".
        table.add_column("error", ratio=1)
        for row in rows:
            secs = row.seconds()
            now = row.error or ((row.retrying() or row.note) if row.status == "running" else "")
            shown = "retrying" if row.retrying() else row.status  # running, but waiting to try again
            table.add_row(row.stream, f"[{_STYLE.get(shown, '')}]{shown}[/]", row.progress(),
                          f"{row.records:,}" if row.res is not None else "",
                          str(row.retries) if row.res is not None else "",
                          f"{secs:.1f}s" if secs is not None else "", Text(now, no_wrap=True, overflow="ellipsis"))
        return table

    def _line(self, text: str) -> None:
        if self.out is not None:
            self.out.write(text + "\n")
            self.out.flush()

