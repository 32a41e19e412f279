"""The SQLite store's file machinery: the write lock beside the database and the WAL checkpointer.

Why apart: these talk to the operating system (flock, a thread with its own connection), not to
the schema; the store class only calls :func:`acquire`, :func:`release` and :class:`Checkpointer`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import time

from tracer.store.faults import LockedError, lock_fault


class Checkpointer(threading.Thread):
    """Copies the WAL into the database every ``interval`` s from its own connection.

    Why a thread: with SQLite's automatic checkpoint the writing thread stops every 64 MB to copy
    and fsync (a fifth of a bulk sync's time); ``PRAGMA wal_checkpoint`` is one SQLite call that
    runs without the GIL, so here it overlaps with the sync on the other core.
    """

    def __init__(self, path: str, interval: float) -> None:
        super().__init__(name="tracer-checkpoint", daemon=True)
        self.path, self.interval = path, interval
        self.done = threading.Event()
        self.wake = threading.Event()

    def run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            return  # no harm: the writer's own autocheckpoint resumes after the sync
        try:
            conn.execute("PRAGMA busy_timeout=1000")
            while True:
                self.wake.wait(self.interval)
                if self.done.is_set():
                    break
                self.wake.clear()
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            pass  # likewise
        finally:
            conn.close()

    def now(self) -> None:
        """Checkpoint now, not at the end of the interval (the writes are about to end)."""
        self.wake.set()

    def stop(self) -> None:
        self.done.set()
        self.wake.set()
        self.join()


def acquire(lock_path: str, what: str, wait: float = 0.0, why: str = "") -> int:
    """Take the flock ``lock_path`` (waiting up to ``wait`` s) and write who holds it into it.

    Held elsewhere past ``wait``: :class:`LockedError` naming the holder, with ``why`` appended."""
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise lock_fault(e, lock_path) from e
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() < deadline:
                time.sleep(0.02)
                continue
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
            os.close(fd)
            raise LockedError(f"another tracer run holds {lock_path} ({holder or 'unknown'}){why}; "
                              "it will be refused until that run ends") from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} {what}".encode(), 0)
    except OSError as e:
        release(fd)
        raise lock_fault(e, lock_path) from e
    return fd


def release(fd: int) -> None:
    """Give the flock back (and clear the holder line)."""
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
