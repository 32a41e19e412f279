"""The ``tracer`` console script: Ctrl-C and SIGTERM handled from its first instruction.

This module imports nothing but the standard library's ``gc``, ``signal`` and ``sys`` (and
``warnings`` as it quits on a signal): it runs before click, the store, aiohttp and the connectors
are imported (about a second on a cold start), so a signal that arrives while they load is one line
and the conventional exit code (130 for Ctrl-C, 143 for SIGTERM) instead of a KeyboardInterrupt
traceback from inside an import or a silent death by signal. Later in the run the same exceptions
reach the commands: ``KeyboardInterrupt`` as Python raises it (``asyncio.run`` keeps its own
cancelling handler, since SIGINT's handler stays the default one) and :class:`Terminated` for
SIGTERM (``tracer sync`` turns it into a cancellation of its run, which is recorded as
interrupted).

Nothing is left half-written: every store write is an SQLite transaction, rolled back when one of
these exceptions unwinds it, and the lock is an ``flock`` the kernel releases with the process.
Only the interpreter's own start-up (before this module runs: about 40 ms with an editable install,
whose finder imports pathlib from a ``.pth`` file) is not covered; a signal then gets Python's
default behaviour.  Once the command has finished, signals are ignored while the interpreter exits
(its exit code stands); a process stuck there still dies with SIGKILL.
"""

from __future__ import annotations

import gc
import signal
import sys
from types import FrameType

INTERRUPTED = "interrupted: work stored so far is kept; run again to resume"
TERMINATED = "terminated: work stored so far is kept; run again to resume"


class Terminated(BaseException):  # noqa: N818 - named like KeyboardInterrupt, its SIGTERM twin
    """SIGTERM arrived (cron timeout, systemd stop, kill): unwinds like KeyboardInterrupt does."""


_terminated: list[int] = []  # SIGTERMs received, in case library code swallowed the exception
_paused: list[bool] = []  # the cyclic collector, paused by run() until startup_over()


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    _terminated.append(signum)
    raise Terminated


def install() -> None:
    """SIGTERM raises :class:`Terminated`; SIGINT keeps (or gets back) Python's KeyboardInterrupt.

    A signal the parent set to be ignored (``nohup``, a background job) stays ignored."""
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)
    if signal.getsignal(signal.SIGINT) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _quit(code: int, line: str) -> None:
    """One line, then exit; further signals are ignored while the process ends."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    # A coroutine the signal stopped before it started (made for asyncio.run, not yet run by it)
    # would be reported on the way out as "coroutine ... was never awaited": that is this
    # interruption, which the one line already tells.
    import warnings

    warnings.filterwarnings("ignore", message=r"coroutine .* was never awaited", category=RuntimeWarning)
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # stderr closed or a broken pipe: the exit code still tells
        pass
    sys.exit(code)


def startup_over() -> None:
    """The cyclic garbage collector back on, with what start-up made frozen out of its reach.

    Why: :func:`run` pauses the collector while click, the config, asyncio, aiohttp and the
    connector load: they make tens of thousands of objects that live as long as the process, and
    its collections walked them again and again (~15 ms of the ~200 ms before ``tracer sync``
    sends its first request; issue 16).  Frozen (:func:`gc.freeze`), later collections skip them.
    A command calls this once its own imports are done (``tracer sync``: once its first requests
    are out, :func:`tracer.pipeline.sync`; every other command as it starts, ``tracer.cli.main``);
    a no-op unless :func:`run` paused the collector (tests and library use never do)."""
    if _paused:
        _paused.clear()
        gc.freeze()
        gc.enable()


def run() -> None:
    """The console script (``[project.scripts] tracer``)."""
    if gc.isenabled():  # until the command's imports are done: see startup_over
        gc.disable()
        _paused.append(True)
    try:
        install()
        from tracer.cli import run as cli_run

        cli_run()
    except KeyboardInterrupt:
        _quit(130, INTERRUPTED)
    except Terminated:
        _quit(143, TERMINATED)
    except SystemExit:
        # A bare ``except:`` in some imported library can swallow the exception; the process
        # still ends as terminated (after the command: its writes were transactions anyway).
        if _terminated:
            _quit(143, TERMINATED)
        raise
    else:
        if _terminated:
            _quit(143, TERMINATED)
    finally:
        # The command is over and its exit code final: a signal while the interpreter shuts down
        # (where Python puts the default handlers back) must not turn it into a death by signal.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        # Nor collect garbage: Python's shutdown collections over everything a sync left in memory
        # took ~80 ms of a short `tracer sync` after its last write (issue 16, bench/evm_timeline.py);
        # the work is stored and closed, and the kernel frees the memory.
        gc.disable()
        gc.freeze()
