"""The UnixFS file importer: the DAG that Kubo's ``ipfs add`` builds with its defaults.

Defaults reproduced (go-unixfs/boxo ``balanced`` layout): fixed 262144-byte chunks, at most
174 links per node, CIDv0 with dag-pb leaves; ``cid_version=1`` implies raw leaves, as
``ipfs add --cid-version=1`` does. Kubo corner cases kept exactly:

* an empty file is one leaf without a Data field (``QmbFMke1…``), or the empty raw block;
* a one-chunk file is the leaf itself, never wrapped in a parent;
* the tree grows upward lazily: a full node is only closed when more data arrives, so 174
  chunks make one level and the 175th makes a new root over [full node, node with 1 leaf];
  deeper remainders are chains of single-child nodes, exactly like ``fillNodeRec``.

The builder is streaming: it holds one chunk plus at most 174 pending links per level, so
memory stays flat whatever the file size. Blocks go to a ``BlockSink`` as soon as they exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from gateway.documents.cid import DAG_PB, RAW, Cid, block_cid
from gateway.documents.dagpb import PBLink, encode_pbnode, encode_unixfs_file, leaf_parts
from gateway.documents.errors import TooLarge

__all__ = [
    "CHUNK_SIZE",
    "MAX_LINKS",
    "BlockSink",
    "ByteSource",
    "ImportedFile",
    "SupportsRead",
    "import_file",
    "iter_chunks",
]

CHUNK_SIZE = 262144
MAX_LINKS = 174


class SupportsRead(Protocol):
    def read(self, size: int = -1, /) -> bytes | None: ...


Buffer = bytes | bytearray | memoryview
ByteSource = SupportsRead | Iterable[Buffer] | Buffer
"""What ``add`` accepts: a binary file object, an iterable of byte strings (a generator, an
upload stream), or a bytes-like object for small content."""


class BlockSink(Protocol):
    """Where the importer sends each finished block, as parts to be concatenated."""

    def put(self, cid: Cid, parts: Sequence[bytes]) -> None: ...


@dataclass(frozen=True, slots=True)
class ImportedFile:
    cid: Cid
    size: int
    """File content bytes."""
    dag_size: int
    """Cumulative serialized size of every block of the DAG (what Kubo calls the root's Tsize)."""
    blocks: int
    """Blocks produced (a repeated chunk counts each time)."""


@dataclass(frozen=True, slots=True)
class _Child:
    cid: Cid
    tsize: int
    filesize: int


def _read_exact(source: SupportsRead, size: int) -> bytes:
    first = source.read(size)
    if first is None:
        raise BlockingIOError("the stream is non-blocking and has no data ready")
    if len(first) >= size or not first:
        return first
    pieces = [first]
    have = len(first)
    while have < size:
        piece = source.read(size - have)
        if piece is None:
            raise BlockingIOError("the stream is non-blocking and has no data ready")
        if not piece:
            break
        pieces.append(piece)
        have += len(piece)
    return b"".join(pieces)


def iter_chunks(source: ByteSource, size: int = CHUNK_SIZE, *, max_size: int | None = None) -> Iterator[bytes]:
    """Fixed-size chunks of ``source`` (the last one shorter); never an empty chunk.

    Chunk boundaries depend only on the content, never on how the source happens to split its
    reads, which is what makes the CID reproducible. ``max_size`` raises ``TooLarge`` as soon as
    one byte more than allowed has been read, without reading the rest.
    """
    total = 0

    def counted(chunk: bytes) -> bytes:
        nonlocal total
        total += len(chunk)
        if max_size is not None and total > max_size:
            raise TooLarge(f"content is larger than the {max_size}-byte limit", limit=max_size)
        return chunk

    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        for start in range(0, len(data), size):
            yield counted(data[start : start + size])
        return
    read = getattr(source, "read", None)
    if callable(read):
        reader: SupportsRead = source  # type: ignore[assignment]
        while True:
            chunk = _read_exact(reader, size)
            if not chunk:
                return
            yield counted(chunk)
            if len(chunk) < size:
                return
    pending = bytearray()
    for piece in source:  # type: ignore[union-attr]
        if not isinstance(piece, bytes | bytearray | memoryview):
            raise TypeError(f"byte source yielded {type(piece).__name__}, not bytes")
        pending += piece
        while len(pending) >= size:
            with memoryview(pending) as view:  # one copy, not a bytearray slice and then bytes of it
                chunk = bytes(view[:size])
            del pending[:size]  # O(1) amortised: CPython moves the bytearray's start
            yield counted(chunk)
    if pending:
        yield counted(bytes(pending))


class _Builder:
    def __init__(self, sink: BlockSink, *, cid_version: int, raw_leaves: bool, max_links: int) -> None:
        self.sink = sink
        self.cid_version = cid_version
        self.raw_leaves = raw_leaves
        self.max_links = max_links
        self.blocks = 0
        # levels[k] holds the finished children waiting for their depth-(k+1) parent.
        self.levels: list[list[_Child]] = [[]]

    def leaf(self, chunk: bytes) -> _Child:
        if self.raw_leaves:
            parts: Sequence[bytes] = (chunk,)
            cid = block_cid(parts, version=1, codec=RAW)
        else:
            prefix, suffix = leaf_parts(len(chunk))
            parts = (prefix, chunk, suffix)
            cid = block_cid(parts, version=self.cid_version, codec=DAG_PB)
        self.sink.put(cid, parts)
        self.blocks += 1
        return _Child(cid, sum(len(p) for p in parts), len(chunk))

    def branch(self, children: Sequence[_Child]) -> _Child:
        blocksizes = [child.filesize for child in children]
        filesize = sum(blocksizes)
        head, tail = encode_unixfs_file(None, filesize, blocksizes)
        links = [PBLink(child.cid, "", child.tsize) for child in children]
        block = encode_pbnode(links, head + tail)
        cid = block_cid((block,), version=self.cid_version, codec=DAG_PB)
        self.sink.put(cid, (block,))
        self.blocks += 1
        return _Child(cid, len(block) + sum(child.tsize for child in children), filesize)

    def push(self, depth: int, child: _Child) -> None:
        """Adds ``child`` at ``depth``; a full node there is closed first and moves up."""
        level = self.levels[depth]
        if len(level) == self.max_links:
            if depth + 1 == len(self.levels):
                self.levels.append([])
            self.push(depth + 1, self.branch(level))
            level.clear()
        level.append(child)

    def finish(self) -> _Child:
        if not self.levels[0]:
            return self.leaf(b"")
        if len(self.levels) == 1 and len(self.levels[0]) == 1:
            return self.levels[0][0]
        depth = 0
        while depth < len(self.levels) - 1:
            node = self.branch(self.levels[depth])
            self.levels[depth].clear()
            self.push(depth + 1, node)  # may add a level: the loop bound is re-read
            depth += 1
        return self.branch(self.levels[depth])


def import_file(
    source: ByteSource,
    sink: BlockSink,
    *,
    cid_version: int = 0,
    raw_leaves: bool | None = None,
    chunk_size: int = CHUNK_SIZE,
    max_links: int = MAX_LINKS,
    max_size: int | None = None,
) -> ImportedFile:
    """Chunks ``source`` into a balanced UnixFS DAG, sending every block to ``sink``.

    ``raw_leaves`` defaults to ``cid_version == 1`` (Kubo's rule). Raises ``TooLarge`` past
    ``max_size`` bytes; blocks already sent stay in the sink unreferenced.
    """
    if cid_version not in (0, 1):
        raise ValueError(f"cid_version must be 0 or 1, not {cid_version}")
    if chunk_size < 1 or max_links < 2:
        raise ValueError("chunk_size must be positive and max_links at least 2")
    builder = _Builder(
        sink,
        cid_version=cid_version,
        raw_leaves=cid_version == 1 if raw_leaves is None else raw_leaves,
        max_links=max_links,
    )
    size = 0
    for chunk in iter_chunks(source, chunk_size, max_size=max_size):
        size += len(chunk)
        builder.push(0, builder.leaf(chunk))
    root = builder.finish()
    return ImportedFile(root.cid, size, root.tsize, builder.blocks)
