"""One writer at a time per SQLite database, queued inside the process.

SQLite lets one connection write at a time; the others wait in its busy handler, which polls by
sleeping (1, 2, 5 … up to 100 ms at a time), so a request storing a submission while the outbox
worker commits a batch could sleep far longer than the worker held the lock (accept p99 of
0.65 s measured for a 1 ms INSERT). The partner API's writers (accepting, the worker, webhook
deliveries) take :func:`serialized` around their write transactions instead: waiters queue on a
lock that wakes them the moment the writer is done, and, blocked, they leave the GIL to it.
The outbox worker runs in a process of its own (D25) and replicas accept too, so the turn is
also a ``flock`` on a file next to the database: the kernel queues the processes the same way.
The partner tables have a file of their own (D28), so the indexer, which writes only the read
model, neither takes the turn nor holds up its holders. Other databases lock rows, not the file:
there it does nothing.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from weakref import WeakKeyDictionary

from sqlalchemy import Engine

__all__ = ["serialized"]


class _WriteTurn:
    """A re-entrant lock held by one thread of one process at a time: a thread lock, then (for a
    database in a file) an exclusive ``flock`` on ``<database>-writer``."""

    def __init__(self, path: str | None) -> None:
        self._lock = threading.RLock()
        self._path = path
        self._fd: int | None = None
        self._depth = 0

    def __enter__(self) -> None:
        self._lock.acquire()
        try:
            if self._depth == 0 and self._path is not None:
                if self._fd is None:
                    self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._lock.release()
            raise
        self._depth += 1

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        try:
            if self._depth == 0 and self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._lock.release()


_locks: WeakKeyDictionary[Engine, _WriteTurn] = WeakKeyDictionary()
_guard = threading.Lock()


def _lock_of(engine: Engine) -> _WriteTurn:
    with _guard:
        lock = _locks.get(engine)
        if lock is None:
            database = engine.url.database
            in_file = bool(database) and database != ":memory:" and not str(database).startswith("file:")
            lock = _locks[engine] = _WriteTurn(f"{database}-writer" if in_file else None)
        return lock


@contextmanager
def serialized(engine: Engine) -> Iterator[None]:
    """Holds the write turn on ``engine``'s SQLite database, among this process's threads and
    every process using the same file (re-entrant)."""
    if engine.dialect.name != "sqlite":
        yield
        return
    with _lock_of(engine):
        yield
