"""The indexer: follows a ledger and its relay, and keeps the query model in step with the chain.

One *batch* is a block range: read consistently by :class:`~gateway.indexer.reader.RangeReader`
(a reorg during the read is retried, never half-applied) — ahead, in a thread — and applied with
the checkpoint in one database transaction, so a crash leaves the model at a batch boundary and
a restart resumes from the checkpoint. A batch must start on the block its checkpoint names (its
parent hash), and events already stored (same ``(tx_hash, log_index)``) are skipped, which makes
re-indexing any range a no-op.

Before each sync the stored hash of the checkpoint block is compared with the node's; on a
mismatch the highest stored block the node still agrees with is the fork point, everything
derived from later blocks is rolled back (:mod:`gateway.indexer.rollback`) and those blocks are
indexed again. Only blocks with at least ``confirmations`` blocks on top are indexed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from chain_client.artifacts import load_artifact
from chain_client.events import GenericEvent, LedgerEvent
from gateway.indexer import tables as t
from gateway.indexer.bulk import bulk_insert
from gateway.indexer.codec import event_args
from gateway.indexer.decode import FastEventDecoder
from gateway.indexer.errors import ChainChangedDuringFetch, ForeignDatabase, IndexerError, RpcError
from gateway.indexer.projector import Projector
from gateway.indexer.ranges import AdaptiveRange
from gateway.indexer.reader import Batch, RangeReader
from gateway.indexer.rollback import rollback_to
from gateway.indexer.source import BlockHeader, ChainSource
from gateway.indexer.state import WorkingSet
from gateway.indexer.walcheckpoint import WalCheckpointer, batch_pragmas

__all__ = ["Checkpoint", "Indexer", "IndexerConfig", "SyncReport", "gc_paused", "ledger_decoder"]

_log = logging.getLogger(__name__)
_RELAY_SELECTOR = "0x" + keccak(text="relay()")[:4].hex()


_SQLITE_CACHE_KIB = 128 * 1024  # page cache of the indexer's SQLite connection while it writes a batch


def ledger_decoder() -> FastEventDecoder:
    """A decoder of the ledger's and the relay's events."""
    return FastEventDecoder(load_artifact("CustodyLedger").abi, load_artifact("CustodyRelay").abi)


@dataclass(frozen=True)
class IndexerConfig:
    """How the indexer reads the chain.

    ``undo_window``: blocks below the head whose changes are saved for a cheap rollback; a reorg
    deeper than that is still rolled back exactly, by replaying the stored events. Blocks the node
    reports finalized (the ``finalized`` block tag) get no undo entries either: consensus does not
    reorganise them, and if a development node is told to, the replay still rolls back exactly.
    ``pause_gc``: suspend Python's cyclic garbage collector while a batch is processed. A batch
    creates hundreds of thousands of short-lived, acyclic objects (freed by reference counting
    anyway), and on CPython 3.11 the collector's repeated scans of them cost about 40 % of the
    time; the pause lasts one batch and the previous state is restored.
    ``initial_range``: blocks of the first ``eth_getLogs``; later ranges are sized for
    ``target_logs`` logs (growing at most twofold a step). It starts small because the density is
    not known yet: on a dense chain a first range of thousands of blocks is one enormous response,
    read while the writer waits (a million events took 34 s before the first write).
    ``prefetch``: batches read ahead by a thread while a batch is written (0: read in line).
    ``max_batch_events``: the most events written in one transaction. Consecutive ranges are joined
    up to it (each transaction reloads and rewrites the objects it touches, so fewer are cheaper),
    and a range holding more (ranges hold whole blocks) is written in several transactions of whole
    blocks with about this many events each, which bounds the memory and WAL a transaction takes.
    ``carry_objects``: the objects a batch loaded and changed stay in memory for the next batch
    while they are at most this many (0: every batch loads its own). Looking them up again costs
    more than writing them: at a million events, 1.2M lookups took about 37 s of 190 s.
    """

    confirmations: int = 0
    start_block: int = 0
    undo_window: int = 1024
    initial_range: int = 1
    max_range: int = 100_000
    target_logs: int = 5_000
    header_cache: int = 10_000
    fork_search_step: int = 64
    max_retries: int = 5
    pause_gc: bool = True
    prefetch: int = 2
    max_batch_events: int = 50_000
    carry_objects: int = 500_000

    def __post_init__(self) -> None:
        if self.confirmations < 0 or self.start_block < 0 or self.undo_window < 0:
            raise ValueError("confirmations, start_block and undo_window cannot be negative")
        if self.max_batch_events < 1:
            raise ValueError("max_batch_events must be at least 1")


@dataclass(frozen=True)
class Checkpoint:
    last_block: int
    last_block_hash: str | None
    undo_floor: int


@dataclass(frozen=True)
class SyncReport:
    """What one :meth:`Indexer.sync_once` did."""

    from_block: int
    to_block: int  # the checkpoint afterwards
    events: int  # new events applied
    logs: int  # logs read (new or not)
    seconds: float
    rolled_back_to: int | None = None
    rollback: str | None = None  # "undo" or "replay"


@contextlib.contextmanager
def gc_paused(enabled: bool = True) -> Iterator[None]:
    """Suspends Python's cyclic garbage collector for one batch (or one trace, gateway.audit.trace).

    Such work allocates tens of thousands of acyclic objects (freed by reference counting anyway);
    each counts towards the collector's thresholds, and a full collection in the middle scans the
    whole heap: that made the slowest traces three times slower than the median in a process
    holding much else."""
    if not enabled or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


_Mark = tuple[int, str | None, dt.datetime]  # a checkpoint row's block, hash and time
_Carried = tuple[WorkingSet, _Mark]


def _mark(cp: t.CheckpointRow) -> _Mark:
    return cp.last_block, cp.last_block_hash, cp.updated_at


def _event_name(event: LedgerEvent) -> str:
    return event.name if isinstance(event, GenericEvent) else type(event).event_name


class Indexer:
    """Indexes one ledger (and its relay) on one chain into the ``idx_*`` tables of ``engine``."""

    def __init__(
        self,
        engine: Engine,
        source: ChainSource,
        ledger: str,
        *,
        relay: str | None = None,
        config: IndexerConfig | None = None,
        decoder: FastEventDecoder | None = None,
    ) -> None:
        self.engine = engine
        self.source = source
        self.config = config or IndexerConfig()
        self.ledger = to_checksum_address(ledger)
        self.relay = to_checksum_address(relay) if relay else self._discover_relay()
        self.chain_id = source.chain_id()
        self.decoder = decoder or ledger_decoder()
        c = self.config
        self.ranges = AdaptiveRange(size=c.initial_range, maximum=c.max_range, target_logs=c.target_logs)
        self.reader = RangeReader(
            source, [self.ledger, self.relay], self.decoder, self.ranges, header_cache=c.header_cache
        )
        self._stop = threading.Event()
        self._checkpointer = WalCheckpointer(engine)
        # the working set of the last committed batch, and the checkpoint (block, hash, time) it wrote
        self._carried: _Carried | None = None
        self._ensure_checkpoint()

    # -- setup ----------------------------------------------------------------------------------

    def _discover_relay(self) -> str:
        word = self.source.call(self.ledger, _RELAY_SELECTOR)
        if len(word) < 42:
            raise IndexerError(f"{self.ledger} did not answer relay(); is it a CustodyLedger?")
        return to_checksum_address("0x" + word[-40:])

    def _key(self) -> Any:
        return (t.CheckpointRow.chain_id == self.chain_id) & (t.CheckpointRow.contract == self.ledger)

    def _ensure_checkpoint(self) -> None:
        with Session(self.engine) as session, session.begin():
            rows = session.scalars(select(t.CheckpointRow)).all()
            mine = [r for r in rows if (r.chain_id, r.contract) == (self.chain_id, self.ledger)]
            if not mine and rows:
                other = rows[0]
                raise ForeignDatabase(
                    f"This database models ledger {other.contract} on chain {other.chain_id}; one database "
                    f"models one ledger. Use a fresh database for {self.ledger} on chain {self.chain_id}."
                )
            if not mine:
                start = self.config.start_block - 1
                session.add(
                    t.CheckpointRow(
                        chain_id=self.chain_id,
                        contract=self.ledger,
                        relay=self.relay,
                        last_block=start,
                        last_block_hash=None,
                        undo_floor=start,
                        updated_at=dt.datetime.now(dt.UTC),
                    )
                )

    def wait_for_log_checkpoint(self, timeout: float | None = None) -> bool:
        """SQLite: waits until what the indexer committed has been checkpointed into the database
        file (see :mod:`~gateway.indexer.walcheckpoint`); True at once on other databases.
        Benchmarks count this wait as indexing time."""
        return self._checkpointer.wait_idle(timeout)

    def checkpoint(self) -> Checkpoint:
        with Session(self.engine) as session:
            row = session.scalars(select(t.CheckpointRow).where(self._key())).one()
            return Checkpoint(row.last_block, row.last_block_hash, row.undo_floor)

    # -- following the chain --------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()

    def run_forever(self, poll_interval: float = 2.0) -> None:
        """Syncs every ``poll_interval`` seconds until :meth:`stop`; transient failures are logged and retried."""
        self._stop.clear()
        while not self._stop.is_set():
            try:
                report = self.sync_once()
                if report.events or report.rolled_back_to is not None:
                    _log.info("indexed up to block %d: %d events", report.to_block, report.events)
            except (RpcError, ChainChangedDuringFetch, DBAPIError) as exc:
                _log.warning("sync failed, retrying in %.1fs: %s", poll_interval, exc)
            self._stop.wait(poll_interval)

    def sync_once(self, to_block: int | None = None) -> SyncReport:
        """Rolls back a reorg if there was one, then indexes every confirmed block (up to ``to_block``)."""
        started = time.perf_counter()
        head = self.source.head()
        target = head - self.config.confirmations
        if to_block is not None:
            target = min(target, to_block)
        rolled_back_to, path = self._handle_reorg()
        undo_from = self._undo_from(head)
        first = self.checkpoint().last_block + 1
        events = logs = retries = 0
        while (start := self.checkpoint().last_block + 1) <= target and not self._stop.is_set():
            try:
                c = self.config
                with self.reader.ahead(start, target, c.prefetch, self._stop.is_set, c.max_batch_events) as batches:
                    for batch in batches:
                        for part in batch.parts(c.max_batch_events):
                            events += self._apply(part, undo_from)
                        logs += batch.logs
            except ChainChangedDuringFetch:
                retries += 1
                if retries > self.config.max_retries:
                    raise
                fork, fork_path = self._handle_reorg()
                if fork is not None:
                    rolled_back_to, path = fork, fork_path
        return SyncReport(
            first, self.checkpoint().last_block, events, logs, time.perf_counter() - started, rolled_back_to, path
        )

    # -- reorgs ---------------------------------------------------------------------------------

    def _handle_reorg(self) -> tuple[int | None, str | None]:
        """Rolls the model back to the fork point when the checkpoint block is no longer canonical."""
        cp = self.checkpoint()
        if cp.last_block_hash is None:
            return None, None
        node = self.source.headers([cp.last_block]).get(cp.last_block)
        if node is not None and node.hash == cp.last_block_hash:
            return None, None
        fork = self.find_fork_point()
        path = self.rollback(fork)
        _log.warning("reorg: block %d changed; rolled back to block %d by %s", cp.last_block, fork, path)
        return fork, path

    def find_fork_point(self) -> int:
        """The highest indexed block whose stored hash the node still has (start_block - 1 if none)."""
        blocks = t.table_of(t.BlockRow)
        below: int | None = None
        with Session(self.engine) as session:
            while True:
                query = select(blocks.c.number, blocks.c.hash).order_by(blocks.c.number.desc())
                if below is not None:
                    query = query.where(blocks.c.number < below)
                page = session.execute(query.limit(self.config.fork_search_step)).all()
                if not page:
                    return self.config.start_block - 1
                node = self.source.headers([number for number, _ in page])
                for number, stored in page:
                    header = node.get(number)
                    if header is not None and header.hash == stored:
                        return int(number)
                below = page[-1][0]

    def rollback(self, fork_block: int) -> str:
        """Removes everything derived from blocks after ``fork_block``; returns the path taken."""
        self.reader.forget_after(fork_block)
        self._carried = None
        with Session(self.engine) as session, session.begin():
            cp = session.scalars(select(t.CheckpointRow).where(self._key()).with_for_update()).one()
            path = rollback_to(session, fork_block, cp.undo_floor)
            stored = session.get(t.BlockRow, fork_block)
            cp.last_block = fork_block
            cp.last_block_hash = stored.hash if stored is not None else None
            if path == "replay":
                cp.undo_floor = fork_block
            cp.updated_at = dt.datetime.now(dt.UTC)
        return path

    # -- one batch ------------------------------------------------------------------------------

    def index_range(self, first: int, last: int, *, head: int | None = None) -> tuple[int, int]:
        """Indexes blocks ``[first, last]`` in one transaction; returns (logs read, new events applied).

        ``first`` may not lie beyond the checkpoint + 1 (that would leave a gap); blocks already
        indexed are skipped event by event, so re-indexing a range changes nothing.
        """
        batch = self.reader.read(first, last)
        return batch.logs, self._apply(batch, self._undo_from(self.source.head() if head is None else head))

    def _undo_from(self, head: int) -> int:
        """The first block whose changes get undo entries: within ``undo_window`` of ``head``, and
        above the node's finalized block when it names one."""
        undo_from = head - self.config.undo_window + 1
        finalized = self.source.finalized()
        return undo_from if finalized is None else max(undo_from, finalized + 1)

    def _apply(self, batch: Batch, undo_from: int) -> int:
        """Writes one batch and the checkpoint in one transaction; returns the number of new events."""
        times = {n: dt.datetime.fromtimestamp(h.timestamp, dt.UTC) for n, h in batch.headers.items()}
        sqlite = self.engine.dialect.name == "sqlite"
        try:
            with gc_paused(self.config.pause_gc), self.engine.connect() as connection:
                # SQLite: a batch inserts into indexes keyed by hashes, all over the B-trees, so a larger
                # page cache than SQLite's 2 MiB; and the log is checkpointed by another thread.
                pragmas = batch_pragmas(connection, _SQLITE_CACHE_KIB) if sqlite else contextlib.nullcontext()
                with pragmas, Session(bind=connection) as session, session.begin():
                    count, written = self._write(session, batch, times, undo_from)
        except BaseException:
            self._carried = None  # it may hold changes the database does not
            raise
        self._carried = written if written[0].size <= self.config.carry_objects else None
        if sqlite:
            self._checkpointer.wake()
        return count

    def _working_set(self, session: Session, cp: t.CheckpointRow, undo_from: int) -> WorkingSet:
        """The previous batch's working set if it was committed and the checkpoint is still the one
        it wrote (nobody else has written the model since), else a new one."""
        carried, self._carried = self._carried, None  # in use: a failure must not leave it behind
        if carried is not None and carried[1] == _mark(cp):
            carried[0].begin(session, undo_from=undo_from)
            return carried[0]
        return WorkingSet(session, undo_from=undo_from)

    def _write(
        self, session: Session, batch: Batch, times: dict[int, dt.datetime], undo_from: int
    ) -> tuple[int, _Carried]:
        """The batch and the checkpoint, in ``session``'s transaction; returns the number of new
        events, and the working set with the checkpoint it wrote."""
        first, last, headers = batch.first, batch.last, batch.headers
        cp = session.scalars(select(t.CheckpointRow).where(self._key()).with_for_update()).one()
        if first > cp.last_block + 1:
            raise IndexerError(f"range {first}-{last} would leave blocks {cp.last_block + 1}-{first - 1} unindexed")
        extends = first != cp.last_block + 1 or cp.last_block_hash in (None, batch.first_parent_hash)
        if not extends:  # the chain changed below this range since the last batch
            raise ChainChangedDuringFetch(f"block {first} does not extend the indexed block {cp.last_block}")
        self._check_stored_hashes(session, first, last, headers)
        ws = self._working_set(session, cp, undo_from)
        # The batch's rows are freed when _project returns, while the collector is still paused:
        # alive when it resumes, its first pass would walk all of them.
        count = self._project(session, batch, times, ws)
        undo = t.table_of(t.UndoRow)
        session.execute(delete(undo).where(undo.c.block_number < undo_from))
        cp.undo_floor = max(cp.undo_floor, undo_from - 1)
        if last >= cp.last_block:
            cp.last_block, cp.last_block_hash = last, headers[last].hash
        cp.updated_at = dt.datetime.now(dt.UTC)
        return count, (ws, _mark(cp))

    def _project(self, session: Session, batch: Batch, times: dict[int, dt.datetime], ws: WorkingSet) -> int:
        """Applies the batch's new events to the model through ``ws``, stores them raw with their
        blocks and the undo entries; returns how many were new."""
        fresh = self._new_events(session, batch.first, batch.last, batch.events)
        projector = Projector(ws, times)
        projector.prepare(fresh)
        for event in fresh:
            projector.apply(event)
        projector.flush()
        self._store_raw(session, fresh, times)
        self._store_blocks(session, {e.meta.block_number for e in fresh} | {batch.last}, batch.headers)
        bulk_insert(session.connection(), t.table_of(t.UndoRow), ws.undo_rows)
        return len(fresh)

    @staticmethod
    def _check_stored_hashes(session: Session, first: int, last: int, headers: dict[int, BlockHeader]) -> None:
        """Re-indexing known blocks: their stored hashes must still be the node's (else: a reorg to roll back)."""
        blocks = t.table_of(t.BlockRow)
        stored = session.execute(select(blocks.c.number, blocks.c.hash).where(blocks.c.number.between(first, last)))
        for number, block_hash in stored:
            header = headers.get(number)
            if header is not None and header.hash != block_hash:
                raise ChainChangedDuringFetch(f"block {number} was indexed with another hash")

    @staticmethod
    def _new_events(session: Session, first: int, last: int, events: list[LedgerEvent]) -> list[LedgerEvent]:
        ev = t.table_of(t.EventRow)
        query = select(ev.c.tx_hash, ev.c.log_index).where(ev.c.block_number.between(first, last))
        known = {(tx_hash, log_index) for tx_hash, log_index in session.execute(query)}
        if not known:
            return events
        return [e for e in events if (e.meta.tx_hash, e.meta.log_index) not in known]

    @staticmethod
    def _store_raw(session: Session, events: list[LedgerEvent], times: dict[int, dt.datetime]) -> None:
        if events:
            rows = [
                {
                    "block_number": e.meta.block_number,
                    "log_index": e.meta.log_index,
                    "tx_hash": e.meta.tx_hash,
                    "block_hash": e.meta.block_hash,
                    "block_time": times[e.meta.block_number],
                    "contract": e.meta.contract,
                    "event": _event_name(e),
                    "args": event_args(e),
                }
                for e in events
            ]
            bulk_insert(session.connection(), t.table_of(t.EventRow), rows)

    @staticmethod
    def _store_blocks(session: Session, numbers: set[int], headers: dict[int, BlockHeader]) -> None:
        blocks = t.table_of(t.BlockRow)
        known = set(session.scalars(select(blocks.c.number).where(blocks.c.number.in_(sorted(numbers)))))
        rows = [
            {
                "number": n,
                "hash": headers[n].hash,
                "block_time": dt.datetime.fromtimestamp(headers[n].timestamp, dt.UTC),
            }
            for n in sorted(numbers - known)
        ]
        bulk_insert(session.connection(), blocks, rows)
