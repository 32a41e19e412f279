"""What can go wrong with the store's file or disk, and the one line each fault prints.

Split from :mod:`tracer.store` so the store's write path stays readable: the error classes the CLI
maps to exit codes, the mapping from SQLite / OS errors to a line that names the cause and what to
do (:func:`store_fault`), how an existing store is opened when it cannot be written
(:func:`open_mode`), and the refusal of files that are not tracer stores (:func:`_check_file`).
"""

from __future__ import annotations

import errno
import os
import sqlite3

SQLITE_MAGIC = b"SQLite format 3\x00"


class StoreError(Exception):
    """A store problem the user can act on (locked, unreadable, newer schema): one line, exit 1."""

    exit_code = 1


class LockedError(StoreError):
    """Another run holds the write lock."""


class StoreFault(StoreError):
    """The store's file or file system failed (disk full, read-only, damaged, I/O error).

    A run stops at the first one (every later write would fail the same way); what was committed
    before is kept, and indexes a bulk sync dropped stay recorded for the next writer to rebuild."""


class ReadOnlyStoreError(StoreFault):
    """A write to a store that is opened read-only or lives on a read-only file system."""


class NotAStoreError(StoreError):
    """The path holds no tracer store: missing (for a command that only reads), empty, or another
    program's file. Refused, never replaced: a usage error (exit 2)."""

    exit_code = 2


class StoreUrlError(StoreError):
    """A ``db`` config value that names no backend tracer knows: a usage error (exit 2)."""

    exit_code = 2


_FULL = "free space on its file system (or move the store and point --db at it), then run again; " \
        "everything committed before is kept"
_RO_HINT = "read commands work; write commands need write access to the file and its folder"


def store_fault(e: BaseException, path: str) -> StoreError | None:
    """The one-line :class:`StoreError` for a database or file-system error on the store at ``path``.

    None when ``e`` is not a fault of the store's file or disk (a constraint violation or an SQL
    error is a bug and keeps its traceback behind TRACER_DEBUG)."""
    if isinstance(e, StoreError):
        return e
    if isinstance(e, OSError) and not isinstance(e, sqlite3.Error):
        why = e.strerror or str(e)
        where = e.filename or path
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            return StoreFault(f"disk full: cannot write {where} ({why}); {_FULL}")
        if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return ReadOnlyStoreError(f"cannot write {where} ({why}): {_RO_HINT}")
        return StoreFault(f"cannot use {where} ({why}): check the disk and the store's folder, then run again")
    if not isinstance(e, sqlite3.Error):
        return None
    msg = str(e)
    code = (getattr(e, "sqlite_errorcode", None) or 0) & 0xFF
    low = msg.lower()
    if code == sqlite3.SQLITE_FULL or "disk is full" in low:
        return StoreFault(f"disk full: {path} cannot grow ({msg}); {_FULL}")
    if code in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM) or "readonly database" in low:
        return ReadOnlyStoreError(f"{path} is read-only ({msg}): {_RO_HINT}")
    if code == sqlite3.SQLITE_NOTADB or "not a database" in low:
        return NotAStoreError(f"{path} is not a tracer store ({msg}): point --db at the store, or move this "
                              "file aside")
    if code == sqlite3.SQLITE_CORRUPT or "malformed" in low:
        return StoreFault(f"{path} is damaged ({msg}): restore it from a backup, or move it aside and sync "
                          "into a new store")
    if code == sqlite3.SQLITE_CANTOPEN or "unable to open" in low:
        return StoreFault(f"cannot open {path} ({msg}): check that the file and its folder exist and are "
                          "readable (and writable, for write commands)")
    if code == sqlite3.SQLITE_IOERR or "i/o error" in low:
        return StoreFault(f"I/O error on {path} ({msg}): check the disk (free space, kernel log), then run "
                          "again; everything committed before is kept")
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "database is locked" in low:
        return StoreFault(f"{path} stayed locked by another process ({msg}): run again when it ends")
    return None


def open_mode(path: str, read_only: bool = False) -> tuple[str, str]:
    """How to open the existing store at ``path``: ``("rw", "")``, or ``("ro" | "immutable", why)``.

    Read-only when asked, or when the file or its folder is not writable (a read-only file system,
    an immutable file, permissions).  SQLite reads a WAL database read-only only if it can open or
    create the ``-shm`` file beside it; in a folder it cannot write, with no ``-shm`` left there, the
    file is opened ``immutable`` (no locking; a ``-wal`` without its ``-shm`` is then not read).
    """
    folder = os.path.dirname(os.path.abspath(path))
    if read_only:
        why = "store.read_only is set"
    elif not os.access(path, os.W_OK) or not os.access(folder, os.W_OK):
        try:
            ro_fs = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
        except OSError:
            ro_fs = False
        why = ("it is on a read-only file system" if ro_fs else
               "the file is not writable" if not os.access(path, os.W_OK) else "its folder is not writable")
    else:
        return "rw", ""
    if os.access(folder, os.W_OK) or os.path.exists(path + "-shm"):
        return "ro", why
    return "immutable", why


def _check_file(path: str) -> None:
    """Refuse a file that cannot be a tracer store before SQLite would write into it."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_MAGIC))
    except IsADirectoryError:
        raise NotAStoreError(f"{path} is a folder, not a tracer store: point --db at the store's file") from None
    except OSError as e:
        raise StoreFault(f"cannot read {path} ({e.strerror}): check its permissions and the disk") from e
    if not head:
        raise NotAStoreError(f"{path} is an empty file (0 bytes), not a tracer store: delete it if a new "
                             "store was meant, else restore the store from a backup")
    if head != SQLITE_MAGIC:
        raise NotAStoreError(f"{path} is not a tracer store (not an SQLite database): point --db at the "
                             "store, or move this file aside")


def lock_fault(e: OSError, lock_path: str) -> StoreFault:
    """The one line for a lock file that cannot be written (full disk, read-only, other)."""
    why = e.strerror or str(e)
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return StoreFault(f"disk full: cannot write the lock file {lock_path} ({why}); {_FULL}")
    if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return ReadOnlyStoreError(f"cannot write the lock file {lock_path} ({why}): {_RO_HINT}")
    return StoreFault(f"cannot write the lock file {lock_path} ({why}): check the disk and the store's "
                      "folder, then run again")
