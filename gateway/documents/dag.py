"""Walking stored UnixFS DAGs: ranged reads, stat, export order and reachability.

Every walk uses an explicit stack, never recursion: a DAG imported from a CAR can be as deep
as its author likes. Ranged reads use the ``blocksizes`` recorded in each parent to skip whole
subtrees without loading them, so reading the last byte of a 1 GiB file loads one block per
level. Each block is verified by the blockstore when read, and each child is checked against
the size its parent claims, so a consistent-looking but lying DAG cannot shift the bytes served.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from gateway.documents.blocks import Blockstore
from gateway.documents.cid import DAG_PB, RAW, Cid
from gateway.documents.dagpb import PBNode, UnixFSData, UnixFSType, decode_pbnode, decode_unixfs
from gateway.documents.errors import MalformedBlock, NotAFile, UnsupportedContent

__all__ = ["DagReader", "NodeStat", "check_codec"]

_LINKS_TAG = b"\x12"  # PBNode field 2 (Links), wire type 2
_FILE_TYPES = (UnixFSType.FILE, UnixFSType.RAW)
_TYPE_NAMES = {
    UnixFSType.RAW: "file",
    UnixFSType.FILE: "file",
    UnixFSType.DIRECTORY: "directory",
    UnixFSType.METADATA: "metadata",
    UnixFSType.SYMLINK: "symlink",
    UnixFSType.HAMT_SHARD: "hamt-shard",
}


def check_codec(cid: Cid) -> None:
    """Refuses codecs whose links this store cannot follow (it would GC their children)."""
    if cid.codec not in (DAG_PB, RAW):
        raise UnsupportedContent(f"{cid} uses codec {cid.codec_name}; only dag-pb and raw are supported")


@dataclass(frozen=True, slots=True)
class NodeStat:
    type: str
    """``file``, ``directory``, ``symlink``, ``hamt-shard`` or ``metadata`` (UnixFS type)."""
    size: int
    """File content bytes (UnixFS filesize); for a raw block, its length."""
    cumulative_size: int
    """This block's length plus its links' Tsize: the DAG's serialized size."""
    blocks: int
    """Number of links of the root."""


@dataclass(frozen=True, slots=True)
class _Loaded:
    """A file node ready to stream: its own bytes and its children with their sizes."""

    start: int
    inline: memoryview
    children: tuple[tuple[Cid, int], ...]


def _unixfs(cid: Cid, node: PBNode) -> UnixFSData:
    if node.data is None:
        raise MalformedBlock(f"{cid} is dag-pb without UnixFS data")
    return decode_unixfs(node.data)


class DagReader:
    def __init__(self, blocks: Blockstore) -> None:
        self.blocks = blocks

    def stat(self, cid: Cid) -> NodeStat:
        """What the root block says about the DAG; loads nothing else."""
        check_codec(cid)
        block = self.blocks.get(cid)
        if cid.codec == RAW:
            return NodeStat("file", len(block), len(block), 0)
        node = decode_pbnode(block)
        fs = _unixfs(cid, node)
        cumulative = len(block) + sum(link.tsize or 0 for link in node.links)
        return NodeStat(_TYPE_NAMES[fs.type], fs.content_size(), cumulative, len(node.links))

    def read(self, root: Cid, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        """File bytes ``[offset, offset+length)`` of the UnixFS file at ``root``, in order.

        The root block is loaded and checked now, so a missing, damaged or non-file root raises
        here; the other blocks are loaded lazily as the iterator advances. Bytes past the end of
        the file are simply absent.
        """
        first = self._load(root, 0, None)
        end = None if length is None else offset + length
        return self._stream(first, offset, end)

    def _load(self, cid: Cid, start: int, expected: int | None) -> _Loaded:
        check_codec(cid)
        block = self.blocks.get(cid)
        if cid.codec == RAW:
            if expected is not None and len(block) != expected:
                raise MalformedBlock(f"raw block {cid} has {len(block)} bytes, its parent says {expected}")
            return _Loaded(start, memoryview(block), ())
        node = decode_pbnode(block)
        fs = _unixfs(cid, node)
        if fs.type not in _FILE_TYPES:
            raise NotAFile(f"{cid} is a UnixFS {fs.type.name.lower()}, not a file")
        if len(fs.blocksizes) != len(node.links):
            raise MalformedBlock(f"{cid} has {len(node.links)} links but {len(fs.blocksizes)} blocksizes")
        inline = fs.data if fs.data is not None else memoryview(b"")
        held = len(inline) + sum(fs.blocksizes)
        if fs.filesize is not None and fs.filesize != held:
            raise MalformedBlock(f"{cid} claims {fs.filesize} bytes but holds {held}")
        if expected is not None and held != expected:
            raise MalformedBlock(f"{cid} holds {held} bytes, its parent says {expected}")
        children = tuple(zip((link.cid for link in node.links), fs.blocksizes, strict=True))
        return _Loaded(start, inline, children)

    def _stream(self, first: _Loaded, offset: int, end: int | None) -> Iterator[bytes]:
        if end is not None and end <= offset:
            return
        stack: list[tuple[Cid, int, int]] = []  # (cid, file position, size) still to visit
        loaded: _Loaded | None = first
        while True:
            if loaded is None:
                if not stack:
                    return
                cid, start, size = stack.pop()
                loaded = self._load(cid, start, size)
            yield from _clip(loaded.inline, loaded.start, offset, end)
            pos = loaded.start + len(loaded.inline)
            wanted: list[tuple[Cid, int, int]] = []
            for child, size in loaded.children:
                if end is not None and pos >= end:
                    break
                if size > 0 and pos + size > offset:
                    wanted.append((child, pos, size))
                pos += size
            stack.extend(reversed(wanted))
            loaded = None

    def iter_blocks(self, root: Cid) -> Iterator[tuple[Cid, bytes]]:
        """Every block of the DAG once, depth-first pre-order, links in order: the order of
        ``ipfs dag export`` (go-car with links traversed only once)."""
        seen: set[bytes] = set()
        stack = [root]
        while stack:
            cid = stack.pop()
            check_codec(cid)
            key = cid.to_bytes()
            if key in seen:
                continue
            seen.add(key)
            block = self.blocks.get(cid)
            yield cid, block
            if cid.codec == DAG_PB:
                stack.extend(reversed([link.cid for link in decode_pbnode(block).links]))

    def reachable(self, roots: Iterable[Cid]) -> set[bytes]:
        """Multihashes of every block under ``roots``; raises if any block is missing.

        Only blocks that have links are read whole (and verified). In canonical dag-pb, links
        come before data and the decoder rejects any other order, so a block whose first byte
        is the Data tag (0x0a) has none: a 256 KiB CIDv0 leaf costs a 1-byte read, and a GC
        over a large store reads the small internal nodes, not the content. Raw blocks only
        need to exist. A subtree shared by several roots or repeated in a file is walked once.
        """
        visited: set[tuple[int, bytes]] = set()  # (codec, multihash): the links depend on both
        stack = list(roots)
        while stack:
            cid = stack.pop()
            check_codec(cid)
            if (cid.codec, cid.multihash) in visited:
                continue
            if cid.codec == RAW:
                self.blocks.size_of(cid)  # raises BlockNotFound
            elif self.blocks.head(cid, 1) == _LINKS_TAG:
                stack.extend(link.cid for link in decode_pbnode(self.blocks.get(cid)).links)
            visited.add((cid.codec, cid.multihash))
        return {multihash for _, multihash in visited}


def _clip(data: memoryview, start: int, offset: int, end: int | None) -> Iterator[bytes]:
    """The part of ``data`` (which sits at file position ``start``) inside [offset, end)."""
    lo = max(offset - start, 0)
    hi = len(data) if end is None else min(end - start, len(data))
    if lo < hi:
        yield bytes(data[lo:hi])
