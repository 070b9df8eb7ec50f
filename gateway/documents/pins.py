"""Recursive pins, persisted in SQLite, and the lock that keeps GC away from running writes.

SQLite rather than a JSON file: pin and unpin from several gateway workers must not lose each
other's updates, and SQLite gives atomic, durable, multi-process transactions for free. The
database runs in WAL mode (still ``synchronous=FULL``, so a committed pin survives a power cut):
a commit costs one fsync instead of three, which is most of the fixed cost of a small ``add``.

The lock is ``flock`` on ``store.lock``: adds, imports and pins take it shared (they run side
by side), GC takes it exclusive. Without it a GC could delete the blocks of an add that is
still running and has not pinned its root yet — Kubo guards the same window with its GC lock.
Every acquisition opens its own descriptor, so threads of one process exclude each other too.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

from gateway.documents.cid import Cid
from gateway.documents.errors import StorageError, StoreBusy

__all__ = ["PinSet", "StoreLock"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pins (
    cid TEXT PRIMARY KEY,
    pinned_at REAL NOT NULL
)
"""


class StoreLock:
    def __init__(self, path: Path, *, timeout: float | None = 60.0) -> None:
        self.path = path
        self.timeout = timeout

    @contextlib.contextmanager
    def _hold(self, mode: int) -> Iterator[None]:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StorageError(f"cannot open the store lock {self.path}: {exc}") from exc
        try:
            deadline = None if self.timeout is None else time.monotonic() + self.timeout
            while True:
                try:
                    fcntl.flock(fd, mode | (fcntl.LOCK_NB if deadline is not None else 0))
                    break
                except BlockingIOError:
                    if deadline is not None and time.monotonic() >= deadline:
                        raise StoreBusy(f"the document store is busy (lock {self.path})") from None
                    time.sleep(0.05)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def shared(self) -> contextlib.AbstractContextManager[None]:
        return self._hold(fcntl.LOCK_SH)

    def exclusive(self) -> contextlib.AbstractContextManager[None]:
        return self._hold(fcntl.LOCK_EX)


class PinSet:
    """The set of recursively pinned root CIDs, kept as their canonical text."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with self._connect() as conn:
            conn.execute(_SCHEMA)
        with self._connect() as conn:  # WAL: one fsync per commit instead of a rollback journal's three
            conn.execute("PRAGMA journal_mode=WAL")
        # Held open, unused, so that closing an operation's connection is never the last close,
        # which would checkpoint and delete the WAL every time (two more fsyncs).
        self._keeper = sqlite3.connect(self.path, check_same_thread=False)
        self._keeper.execute("SELECT 1 FROM pins LIMIT 1").fetchall()  # attaches it to the WAL

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = sqlite3.connect(self.path, timeout=30.0)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the pin database {self.path}: {exc}") from exc
        try:
            with conn:  # one transaction: commit on success, roll back on error
                yield conn
        except sqlite3.Error as exc:
            raise StorageError(f"pin database error: {exc}") from exc
        finally:
            conn.close()

    def add(self, cid: Cid) -> None:
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO pins (cid, pinned_at) VALUES (?, ?) ON CONFLICT(cid) DO NOTHING",
                (str(cid), time.time()),
            )

    def remove(self, cid: Cid) -> bool:
        with self._connect() as conn:
            return conn.execute("DELETE FROM pins WHERE cid = ?", (str(cid),)).rowcount > 0

    def contains(self, cid: Cid) -> bool:
        with self._connect() as conn:
            return conn.execute("SELECT 1 FROM pins WHERE cid = ?", (str(cid),)).fetchone() is not None

    def list(self) -> list[Cid]:
        with self._connect() as conn:
            rows = conn.execute("SELECT cid FROM pins ORDER BY pinned_at, cid").fetchall()
        return [Cid.parse(row[0]) for row in rows]
