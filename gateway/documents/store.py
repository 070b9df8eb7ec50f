"""The embedded document store: Kubo-compatible blocks in a local directory.

Directory layout (all under ``root``)::

    blocks/SHARDING, blocks/<XY>/<KEY>.data   flatfs-style block files (layout "flatfs")
    tmp/                                      in-flight writes, renamed into blocks/
    packs/*.pack, packs/index.sqlite          pack files and their index (layout "pack")
    pins.sqlite                               recursive pins
    store.lock                                shared by writers, exclusive for GC

The block layout is chosen when the store is opened (see ``gateway.documents.blocks``);
``"auto"`` keeps whatever an existing directory already uses and picks ``pack`` for a new one.

Invariant kept by every writer: blocks are durable before the pin naming them is recorded, and
a failed add or import pins nothing, so whatever it left behind is unreachable and the next GC
removes it. Blocks are never deleted outside GC: a concurrent add may rely on a block another
add wrote (deduplication), and only GC, holding the exclusive lock, can know nobody does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, Literal

from gateway.documents.blocks import Blockstore, Layout
from gateway.documents.blockstore import FlatFSBlockstore
from gateway.documents.car import MAX_SECTION_SIZE, CarReader, write_car
from gateway.documents.cid import DAG_PB, Cid, CidLike
from gateway.documents.dag import DagReader, check_codec
from gateway.documents.dagpb import decode_pbnode
from gateway.documents.errors import BlockNotFound, InvalidRange, NotPinned, TooLarge
from gateway.documents.interface import AddResult, GcResult, ImportResult, StatResult, Writable
from gateway.documents.packstore import PackBlockstore
from gateway.documents.pins import PinSet, StoreLock
from gateway.documents.unixfs import ByteSource, import_file

__all__ = ["EmbeddedDocumentStore", "detect_layout", "open_blockstore"]


def detect_layout(root: Path) -> Layout | None:
    """The layout an existing store directory uses (None for a new or empty one)."""
    if (root / "packs" / "index.sqlite").exists():
        return "pack"
    if (root / "blocks" / "SHARDING").exists():
        return "flatfs"
    return None


def open_blockstore(root: Path, layout: Layout | Literal["auto"] = "flatfs", *, durable: bool = True) -> Blockstore:
    """The block store of ``root`` in the given layout (``auto``: the existing one, else ``pack``)."""
    if layout == "auto":
        layout = detect_layout(root) or "pack"
    if layout == "pack":
        return PackBlockstore(root, durable=durable)
    if layout == "flatfs":
        return FlatFSBlockstore(root, durable=durable)
    raise ValueError(f"unknown block layout {layout!r}")


class EmbeddedDocumentStore:
    """``DocumentStore`` over a local directory; safe to share between threads and processes.

    ``max_add_size`` bounds the content bytes of one ``add`` and the block bytes of one
    ``import_car`` (``TooLarge``). ``durable=False`` skips fsync: for scratch stores and tests,
    never for a store whose CIDs are anchored on chain. ``lock_timeout`` bounds how long a
    writer or GC waits for the other (``StoreBusy``). ``layout`` picks the on-disk block layout
    (``flatfs`` by default: Kubo's own files; ``pack`` for throughput; ``auto``).

    Every method blocks on disk I/O: async callers should run them in a worker thread. Reads
    take no lock, so content that is not pinned can disappear under a reader when GC runs.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        max_add_size: int | None = None,
        durable: bool = True,
        lock_timeout: float | None = 60.0,
        max_block_size: int = MAX_SECTION_SIZE,
        layout: Layout | Literal["auto"] = "flatfs",
    ) -> None:
        self.root = Path(root)
        self.max_add_size = max_add_size
        self.max_block_size = max_block_size
        self.blocks: Blockstore = open_blockstore(self.root, layout, durable=durable)
        self._pins = PinSet(self.root / "pins.sqlite")
        self._lock = StoreLock(self.root / "store.lock", timeout=lock_timeout)
        self._dag = DagReader(self.blocks)

    # -- writing ------------------------------------------------------------------------------

    def add(
        self, stream: ByteSource, *, cid_version: int = 0, raw_leaves: bool | None = None, pin: bool = True
    ) -> AddResult:
        """Imports ``stream`` as ``ipfs add`` does and (by default) pins it.

        ``raw_leaves`` overrides Kubo's rule (raw leaves iff CIDv1), like ``--raw-leaves``.
        """
        with self._lock.shared():
            with self.blocks.writer() as writer:
                imported = import_file(
                    stream, writer, cid_version=cid_version, raw_leaves=raw_leaves, max_size=self.max_add_size
                )
            if pin:  # after the writer's commit: the blocks are on disk before the pin is
                self._pins.add(imported.cid)
        return AddResult(imported.cid, imported.size, imported.dag_size)

    def import_car(self, stream: BinaryIO) -> ImportResult:
        """Stores a CAR v1's blocks, each verified, then pins its roots once all are complete."""
        count = 0
        total = 0
        with self._lock.shared():
            reader = CarReader(stream, max_section_size=self.max_block_size)
            with self.blocks.writer() as writer:
                for cid, block in reader:
                    check_codec(cid)
                    total += len(block)
                    if self.max_add_size is not None and total > self.max_add_size:
                        raise TooLarge(f"CAR blocks exceed the {self.max_add_size}-byte limit", limit=self.max_add_size)
                    if cid.codec == DAG_PB:
                        decode_pbnode(block)  # refuse malformed dag-pb now, not at first read
                    writer.put(cid, (block,))
                    count += 1
            for root in reader.roots:
                try:
                    self._dag.reachable([root])
                except BlockNotFound as exc:
                    raise BlockNotFound(
                        f"CAR root {root} is incomplete here, nothing pinned: {exc}", cid=exc.cid
                    ) from exc
            for root in reader.roots:
                self._pins.add(root)
        return ImportResult(reader.roots, count)

    # -- pins and GC --------------------------------------------------------------------------

    def pin(self, cid: CidLike) -> None:
        root = Cid.parse(cid)
        with self._lock.shared():
            self._dag.reachable([root])
            self._pins.add(root)

    def unpin(self, cid: CidLike) -> None:
        root = Cid.parse(cid)
        if not self._pins.remove(root):
            raise NotPinned(f"{root} is not pinned")

    def pins(self) -> list[Cid]:
        return self._pins.list()

    def gc(self, on_remove: Callable[[bytes], object] | None = None) -> GcResult:
        """Removes unpinned blocks. A pinned DAG that is damaged or incomplete aborts the GC
        before anything is deleted (as Kubo's does): deleting around a hole could lose data.

        ``on_remove`` is told the multihash of every block removed (``repo/gc`` lists them)."""
        with self._lock.exclusive():
            live = self._dag.reachable(self._pins.list())
            dead = [multihash for multihash in self.blocks.iter_multihashes() if multihash not in live]
            removed, freed = self.blocks.delete_many(dead)
            self.blocks.finish_gc()
        if on_remove is not None:
            for multihash in dead:
                on_remove(multihash)
        return GcResult(removed, freed)

    def is_pinned(self, cid: CidLike) -> bool:
        return self._pins.contains(Cid.parse(cid))

    # -- reading ------------------------------------------------------------------------------

    def has(self, cid: CidLike) -> bool:
        return self.blocks.has(Cid.parse(cid))

    def get_block(self, cid: CidLike) -> bytes:
        """One raw block, verified against its CID (``ipfs block get``)."""
        return self.blocks.get(Cid.parse(cid))

    def stat(self, cid: CidLike) -> StatResult:
        root = Cid.parse(cid)
        node = self._dag.stat(root)
        return StatResult(root, node.type, node.size, node.cumulative_size, node.blocks)

    def cat(self, cid: CidLike, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        if offset < 0 or (length is not None and length < 0):
            raise InvalidRange(f"offset and length must not be negative (got {offset}, {length})")
        return self._dag.read(Cid.parse(cid), offset, length)

    def iter_dag_blocks(self, cid: CidLike) -> Iterator[tuple[Cid, bytes]]:
        """Every block of the DAG once, verified, in ``dag export`` order."""
        return self._dag.iter_blocks(Cid.parse(cid))

    def export_car(self, cid: CidLike, out: Writable) -> None:
        root = Cid.parse(cid)
        blocks = self._dag.iter_blocks(root)
        first = next(blocks)  # a missing or damaged root raises before anything is written
        write_car(out, [root], _chain(first, blocks))


def _chain(first: tuple[Cid, bytes], rest: Iterator[tuple[Cid, bytes]]) -> Iterator[tuple[Cid, bytes]]:
    yield first
    yield from rest
