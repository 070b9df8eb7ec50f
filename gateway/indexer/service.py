"""The indexer as a gateway service: a thread that follows the chain into the gateway's database.

Readers (the audit and verification APIs) query the ``idx_*`` tables; :meth:`catch_up` lets a
request or a test index up to the current head first, and :meth:`status` tells how fresh the
model is. One lock serialises the thread's syncs with ``catch_up`` calls, so two syncs never
write one batch twice.

With several gateway replicas on one database, run the indexer in one of them
(``CUSTODY_RUN_INDEXER=false`` in the others) or as its own process
(``python -m gateway.indexer sync``): two writers would only contend on the same unique keys.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from gateway.indexer.errors import ChainChangedDuringFetch, RpcError
from gateway.indexer.indexer import Indexer, IndexerConfig, SyncReport
from gateway.indexer.source import RpcSource

__all__ = ["IndexerService", "IndexerStatus"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexerStatus:
    """How far the model is: its last indexed block, the node's head, and when it last synced."""

    last_block: int
    last_block_hash: str | None
    head: int | None  # None when the node did not answer
    lag_blocks: int | None
    confirmations: int
    last_sync_at: dt.datetime | None
    last_error: str | None
    running: bool


class IndexerService:
    """Runs an :class:`Indexer` on the gateway's engine, in a daemon thread or on demand."""

    def __init__(
        self,
        engine: Engine,
        rpc_url: str,
        ledger: str,
        relay: str | None,
        config: IndexerConfig,
        poll_interval: float = 1.0,
    ) -> None:
        self._source = RpcSource(rpc_url)
        self.indexer = Indexer(engine, self._source, ledger, relay=relay, config=config)
        self.poll_interval = poll_interval
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_sync_at: dt.datetime | None = None
        self._last_error: str | None = None

    def catch_up(self) -> SyncReport:
        """Indexes every block the configured confirmations allow, now; returns what it did."""
        with self._lock:
            report = self.indexer.sync_once()
            self._last_sync_at = dt.datetime.now(dt.UTC)
            self._last_error = None
            return report

    def status(self) -> IndexerStatus:
        checkpoint = self.indexer.checkpoint()
        try:
            head: int | None = self._source.head()
        except RpcError:
            head = None
        return IndexerStatus(
            last_block=checkpoint.last_block,
            last_block_hash=checkpoint.last_block_hash,
            head=head,
            lag_blocks=None if head is None else max(head - checkpoint.last_block, 0),
            confirmations=self.indexer.config.confirmations,
            last_sync_at=self._last_sync_at,
            last_error=self._last_error,
            running=self._thread is not None and self._thread.is_alive(),
        )

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="indexer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.indexer.stop()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self._source.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                report = self.catch_up()
                if report.events or report.rolled_back_to is not None:
                    log.info("indexed up to block %d: %d events", report.to_block, report.events)
            except (RpcError, ChainChangedDuringFetch, DBAPIError) as exc:
                # Node restarts and reorgs during a read are routine: the next poll retries.
                self._last_error = str(exc)
                log.warning("indexer sync failed, retrying in %.1fs: %s", self.poll_interval, exc)
            except Exception as exc:  # keep following; a bug must not silently stop the read model
                self._last_error = repr(exc)
                log.exception("indexer sync failed")
            self._stop.wait(self.poll_interval)
