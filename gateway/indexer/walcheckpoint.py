"""SQLite write-ahead-log checkpoints in a thread of their own, off the indexer's commits.

By default SQLite checkpoints inside the commit that takes the log past 1,000 pages: the
committing thread copies the log's pages into the database file and waits for them to reach the
disk. An indexer batch of tens of thousands of events commits tens of megabytes, so at a million
events about a tenth of indexing was spent in those commits. The indexer turns automatic
checkpoints off on its own connection while it writes a batch (:func:`batch_pragmas`) and wakes a
:class:`WalCheckpointer` after each commit: a ``PASSIVE`` checkpoint, on another connection,
copies what no reader still needs while the next batch is being built (SQLite lets a checkpoint
run alongside one writer, and the driver releases the GIL while it runs). Other connections keep
their automatic checkpoints, so the log is still bounded when the indexer is idle.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

from sqlalchemy import Connection, Engine

__all__ = ["WalCheckpointer", "batch_pragmas"]

_log = logging.getLogger(__name__)

AUTOCHECKPOINT_PAGES = 1000  # SQLite's default, restored when a batch is done
IDLE_SECONDS = 5.0  # the thread ends after this long without a request (a new one starts on demand)


@contextlib.contextmanager
def batch_pragmas(connection: Connection, cache_kib: int) -> Iterator[None]:
    """For one batch on ``connection`` (SQLite, outside a transaction): a page cache of
    ``cache_kib`` and no automatic checkpoint; the checkpoint setting is restored afterwards.
    Set on the driver's connection: a pragma needs no transaction of SQLAlchemy's."""
    cursor = connection.connection.cursor()
    try:
        cursor.execute(f"PRAGMA cache_size=-{cache_kib}")
        cursor.execute("PRAGMA wal_autocheckpoint=0")
        yield
    finally:
        cursor.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
        cursor.close()


class WalCheckpointer:
    """Runs ``PRAGMA wal_checkpoint(PASSIVE)`` on ``engine`` in a daemon thread when woken."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.checkpoints = 0  # completed, for tests and diagnostics
        self._wanted = threading.Event()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._busy = False  # a checkpoint is asked for or running
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        """Asks for a checkpoint soon (requests made while one runs are served by the next)."""
        with self._lock:
            self._busy = True
            self._wanted.set()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="indexer-wal-checkpoint", daemon=True)
                self._thread.start()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Waits until every checkpoint asked for has run; False if ``timeout`` seconds passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._busy, timeout)

    def _run(self) -> None:
        while True:
            if not self._wanted.wait(IDLE_SECONDS):
                with self._lock:
                    if not self._wanted.is_set():
                        self._thread = None
                        return
            self._wanted.clear()
            try:
                with self.engine.connect() as connection:
                    cursor = connection.connection.cursor()
                    cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    cursor.close()
                self.checkpoints += 1
            except Exception as exc:  # a checkpoint left undone is retried by the next one
                _log.debug("WAL checkpoint failed: %s", exc)
            with self._idle:
                if not self._wanted.is_set():
                    self._busy = False
                    self._idle.notify_all()
