"""Reading block ranges from the node: logs and headers that belong to one chain, decoded, read ahead.

A range's logs are only usable with the headers of the same chain (block times, hashes for reorg
detection). The last block's header is read before and after ``eth_getLogs``: hashes chain, so if
that hash did not change, no block of the range changed while it was read. The headers of the
blocks with logs must carry the hashes the logs name.

:meth:`RangeReader.ahead` reads the next ranges in a thread while the caller writes the current
one to the database: waiting for the node, parsing its JSON and decoding overlap with SQL work
(SQLite and the socket release the GIL), which is worth about a third of the wall-clock time.
Ranges are sized for the node (``target_logs``, which providers cap) but written in larger
transactions: consecutive ranges are joined into one batch of up to ``merge_events`` events
(:meth:`Batch.join`), since each transaction reloads and rewrites the objects it touches.
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from chain_client.events import LedgerEvent
from gateway.indexer.decode import FastEventDecoder
from gateway.indexer.errors import ChainChangedDuringFetch, NodeUnavailable, RpcError
from gateway.indexer.ranges import AdaptiveRange
from gateway.indexer.source import BlockHeader, ChainSource

__all__ = ["Batch", "RangeReader"]


@dataclass(frozen=True)
class Batch:
    """Blocks ``[first, last]``: their events, and the headers of ``first``, ``last`` and blocks with logs."""

    first: int
    last: int
    logs: int
    events: list[LedgerEvent]
    headers: dict[int, BlockHeader]
    parent_hash: str | None = None  # the hash block ``first - 1`` had in the same read (a part of a range)

    @property
    def first_parent_hash(self) -> str:
        """The hash block ``first - 1`` had when this batch was read."""
        return self.headers[self.first].parent_hash if self.parent_hash is None else self.parent_hash

    @staticmethod
    def join(batches: Sequence[Batch]) -> Batch:
        """Consecutive batches as one; each must extend the one before (its first block's parent is
        the hash the previous batch read for its last block), else the chain changed between reads."""
        head = batches[0]
        if len(batches) == 1:
            return head
        headers = dict(head.headers)
        for before, after in itertools.pairwise(batches):
            if after.first != before.last + 1 or after.first_parent_hash != before.headers[before.last].hash:
                raise ChainChangedDuringFetch(f"block {after.first} does not extend block {before.last} read before")
            headers.update(after.headers)
        events = [e for b in batches for e in b.events]
        return Batch(head.first, batches[-1].last, sum(b.logs for b in batches), events, headers, head.parent_hash)

    def parts(self, max_events: int) -> Iterator[Batch]:
        """This range as consecutive ranges of whole blocks with about ``max_events`` events each.

        A range sized for ``target_logs`` may hold far more (the first range, before the density is
        known): each part is then written in its own transaction, which bounds memory and WAL size.
        Every part but the last ends on a block with events, so its header is known.
        """
        if len(self.events) <= max_events:
            yield self
            return
        first, parent_hash, start = self.first, self.parent_hash, 0
        events = self.events
        while len(events) - start > max_events:
            end = start + max_events  # cut after the block of the event at end - 1
            block = events[end - 1].meta.block_number
            while end < len(events) and events[end].meta.block_number == block:
                end += 1
            if end == len(events):
                break
            part = events[start:end]
            yield Batch(first, block, len(part), part, self.headers, parent_hash)
            first, parent_hash, start = block + 1, self.headers[block].hash, end
        rest = events[start:]
        yield Batch(first, self.last, len(rest), rest, self.headers, parent_hash)


class RangeReader:
    def __init__(
        self,
        source: ChainSource,
        addresses: Sequence[str],
        decoder: FastEventDecoder,
        ranges: AdaptiveRange,
        *,
        header_cache: int = 10_000,
    ) -> None:
        self.source = source
        self.addresses = list(addresses)
        self.decoder = decoder
        self.ranges = ranges
        self._cache_size = header_cache
        self._headers: OrderedDict[int, BlockHeader] = OrderedDict()

    def forget_after(self, block: int) -> None:
        """Drops cached headers above ``block`` (they belong to an abandoned fork)."""
        for number in [n for n in self._headers if n > block]:
            del self._headers[number]

    def _fetch_headers(self, numbers: Sequence[int], *, fresh: bool = False) -> dict[int, BlockHeader]:
        wanted = list(numbers) if fresh else [n for n in numbers if n not in self._headers]
        if wanted:
            for number, header in self.source.headers(wanted).items():
                self._headers[number] = header
                self._headers.move_to_end(number)
            while len(self._headers) > self._cache_size:
                self._headers.popitem(last=False)
        return {n: self._headers[n] for n in numbers if n in self._headers}

    def read(self, first: int, last: int) -> Batch:
        """The decoded events of ``[first, last]`` with consistent headers (see the module notes)."""
        before = self.source.headers([last]).get(last)
        if before is None:
            raise ChainChangedDuringFetch(f"block {last} is no longer on the chain")
        logs = self.source.logs(self.addresses, first, last)
        hashes: dict[int, set[str]] = {}
        for log in logs:
            hashes.setdefault(int(log["blockNumber"], 16), set()).add(str(log["blockHash"]).lower())
        headers = self._fetch_headers(sorted(set(hashes) | {first}))
        stale = sorted(n for n, seen in hashes.items() if n not in headers or seen != {headers[n].hash})
        if stale:  # cached before a reorg: read again
            headers.update(self._fetch_headers(stale, fresh=True))
        headers.update(self._fetch_headers([first, last], fresh=True))
        if headers.get(last) is None or headers[last].hash != before.hash:
            raise ChainChangedDuringFetch(f"block {last} changed while blocks {first}-{last} were read")
        for number, seen in hashes.items():
            if number not in headers or seen != {headers[number].hash}:
                raise ChainChangedDuringFetch(f"logs of block {number} are from another fork")
        return Batch(first, last, len(logs), self.decoder.decode_logs(logs), headers)

    def batches(self, start: int, target: int, stopped: Callable[[], bool], merge_events: int = 0) -> Iterator[Batch]:
        """Consecutive ranges from ``start`` to ``target``, sized by :attr:`ranges` (halved when refused),
        with consecutive ranges joined while they hold at most ``merge_events`` events together."""
        pending: list[Batch] = []
        held = 0
        for batch in self._ranges(start, target, stopped):
            if pending and held + len(batch.events) > merge_events:
                yield Batch.join(pending)
                pending, held = [], 0
            pending.append(batch)
            held += len(batch.events)
        if pending:
            yield Batch.join(pending)

    def _ranges(self, start: int, target: int, stopped: Callable[[], bool]) -> Iterator[Batch]:
        next_block = start
        while next_block <= target and not stopped():
            end = self.ranges.end(next_block, target)
            try:
                batch = self.read(next_block, end)
            except NodeUnavailable:
                raise
            except RpcError:
                if not self.ranges.refused(end - next_block + 1):
                    raise  # refused even at the smallest range
                continue
            self.ranges.observed(end - next_block + 1, batch.logs)
            yield batch
            next_block = end + 1

    @contextlib.contextmanager
    def ahead(
        self, start: int, target: int, depth: int, stopped: Callable[[], bool], merge_events: int = 0
    ) -> Iterator[Iterator[Batch]]:
        """:meth:`batches`, produced by a thread up to ``depth`` batches ahead (``depth`` 0: no thread).

        Leaving the context stops the thread and discards what it read ahead; an exception of the
        thread is raised where its batch would have come.
        """
        if depth <= 0:
            yield self.batches(start, target, stopped, merge_events)
            return
        items: queue.Queue[Batch | BaseException | None] = queue.Queue(maxsize=depth)
        done = threading.Event()

        def put(item: Batch | BaseException | None) -> None:
            while not done.is_set():
                with contextlib.suppress(queue.Full):
                    items.put(item, timeout=0.05)
                    return

        def produce() -> None:
            try:
                for batch in self.batches(start, target, lambda: stopped() or done.is_set(), merge_events):
                    put(batch)
                put(None)
            except BaseException as exc:  # handed to the consumer, raised there
                put(exc)

        def consume() -> Iterator[Batch]:
            while True:
                item = items.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item

        thread = threading.Thread(target=produce, name="indexer-reader", daemon=True)
        thread.start()
        try:
            yield consume()
        finally:
            done.set()
            thread.join()
