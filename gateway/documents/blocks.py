"""What the store needs of an on-disk block layout, so the layout can be chosen by configuration.

Two layouts implement it:

* ``flatfs`` (:mod:`gateway.documents.blockstore`): one file per block, the files Kubo writes.
  Simple to inspect and to hand to a Kubo node, but every block costs a file creation and an
  fsync, which caps ``add`` at a small fraction of hashing speed on slow disks.
* ``pack`` (:mod:`gateway.documents.packstore`): blocks appended to a few large pack files
  with an SQLite index. One fsync per batch, no per-block inode; this is what makes ``add``
  run near hashing speed.

Both verify every block against its multihash on read, and both keep the rule the store's
crash safety rests on: a block is durable before anything (index row, pin) names it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal, Protocol

from gateway.documents.cid import Cid

__all__ = ["LAYOUTS", "BlockLocation", "BlockWriting", "Blockstore", "Layout"]

Layout = Literal["flatfs", "pack"]
LAYOUTS: tuple[Layout, ...] = ("flatfs", "pack")


@dataclass(frozen=True, slots=True)
class BlockLocation:
    """Where a block's bytes sit on disk: ``length`` bytes at ``offset`` of ``path``."""

    path: Path
    offset: int
    length: int


class BlockWriting(Protocol):
    """A batch of block writes; leaving the context normally commits (makes it durable)."""

    blocks_written: int

    def put(self, cid: Cid, parts: Sequence[bytes]) -> None: ...

    def commit(self) -> None: ...

    def abort(self) -> None: ...

    def __enter__(self) -> BlockWriting: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class Blockstore(Protocol):
    layout: Layout
    root: Path
    durable: bool

    def has(self, cid: Cid) -> bool: ...

    def size_of(self, cid: Cid) -> int:
        """The block's length (``BlockNotFound`` when absent); reads no content."""
        ...

    def get(self, cid: Cid) -> bytes:
        """The block, verified against ``cid`` (``IntegrityError`` when it no longer matches)."""
        ...

    def head(self, cid: Cid, size: int) -> bytes:
        """The first ``size`` bytes, unverified (for walks that only look at the first tag)."""
        ...

    def locate(self, cid: Cid) -> BlockLocation:
        """Where the block is on disk (``BlockNotFound`` when absent): for tools and tests."""
        ...

    def writer(self, *, background: bool = True) -> BlockWriting: ...

    def put(self, cid: Cid, parts: Sequence[bytes]) -> None:
        """Stores one block as a committed one-block batch."""
        ...

    def delete_many(self, multihashes: Iterable[bytes]) -> tuple[int, int]:
        """Forgets blocks; returns (blocks removed, bytes freed). Only GC calls it."""
        ...

    def iter_multihashes(self) -> Iterator[bytes]: ...

    def finish_gc(self) -> None:
        """Housekeeping that needs the GC's exclusive lock (temp files, pack compaction)."""
        ...
