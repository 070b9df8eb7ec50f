"""One writer at a time per SQLite database, queued inside the process.

SQLite lets one connection write at a time; the others wait in its busy handler, which polls by
sleeping (1, 2, 5 … up to 100 ms at a time), so a request storing a submission while the outbox
worker commits a batch could sleep far longer than the worker held the lock (accept p99 of
0.65 s measured for a 1 ms INSERT). The partner API's writers (accepting, the worker, webhook
deliveries) take :func:`serialized` around their write transactions instead: waiters queue on a
lock that wakes them the moment the writer is done, and, blocked, they leave the GIL to it.
Other databases lock rows, not the file: there it does nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from weakref import WeakKeyDictionary

from sqlalchemy import Engine

__all__ = ["serialized"]

_locks: WeakKeyDictionary[Engine, threading.RLock] = WeakKeyDictionary()
_guard = threading.Lock()


def _lock_of(engine: Engine) -> threading.RLock:
    with _guard:
        lock = _locks.get(engine)
        if lock is None:
            lock = _locks[engine] = threading.RLock()
        return lock


@contextmanager
def serialized(engine: Engine) -> Iterator[None]:
    """Holds this process's write turn on ``engine``'s SQLite database (re-entrant)."""
    if engine.dialect.name != "sqlite":
        yield
        return
    with _lock_of(engine):
        yield
