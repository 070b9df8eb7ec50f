"""An independent reference UnixFS importer, used only to check ``gateway.documents``.

Written from the dag-pb/UnixFS specs and go-unixfs' ``balanced.Layout``, sharing no code with
the production package: it builds the tree top-down with the same recursion as go-unixfs
(``fillNodeRec``) whereas production builds it bottom-up with a streaming stack; protobuf bytes
are concatenated literally here; base58/base32 text is produced by hand. It keeps everything
in memory, which is fine for tests and would not be for production.
"""

from __future__ import annotations

import base64
import hashlib
import random
from dataclasses import dataclass, field

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def pseudo_random(size: int, seed: int = 7) -> bytes:
    """Deterministic incompressible test content."""
    return random.Random(seed).randbytes(size)


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def cid_text(cid: bytes) -> str:
    """Text form of a binary CID: base58btc for v0 (starts 0x12 0x20), base32 for v1."""
    if cid[:2] == b"\x12\x20":
        number = int.from_bytes(cid, "big")
        digits = ""
        while number:
            number, rest = divmod(number, 58)
            digits = _B58[rest] + digits
        return "1" * (len(cid) - len(cid.lstrip(b"\x00"))) + digits
    return "b" + base64.b32encode(cid).decode().lower().rstrip("=")


@dataclass
class RefNode:
    cid: bytes
    block: bytes
    tsize: int
    filesize: int
    children: list[RefNode] = field(default_factory=list)


class RefImporter:
    def __init__(
        self,
        data: bytes,
        *,
        cid_version: int = 0,
        raw_leaves: bool | None = None,
        chunk: int = 262144,
        width: int = 174,
    ) -> None:
        self.chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
        self.taken = 0
        self.version = cid_version
        self.raw = cid_version == 1 if raw_leaves is None else raw_leaves
        self.width = width

    def _cid(self, block: bytes, codec: int) -> bytes:
        multihash = b"\x12\x20" + hashlib.sha256(block).digest()
        if codec == 0x70 and self.version == 0:
            return multihash
        return b"\x01" + bytes([codec]) + multihash

    def _leaf(self, chunk: bytes) -> RefNode:
        if self.raw:
            return RefNode(self._cid(chunk, 0x55), chunk, len(chunk), len(chunk))
        unixfs = b"\x08\x02"
        if chunk:
            unixfs += b"\x12" + varint(len(chunk)) + chunk
        unixfs += b"\x18" + varint(len(chunk))
        block = b"\x0a" + varint(len(unixfs)) + unixfs
        return RefNode(self._cid(block, 0x70), block, len(block), len(chunk))

    def _node(self, children: list[RefNode]) -> RefNode:
        block = b""
        for child in children:
            link = b"\x0a" + varint(len(child.cid)) + child.cid + b"\x12\x00" + b"\x18" + varint(child.tsize)
            block += b"\x12" + varint(len(link)) + link
        total = sum(child.filesize for child in children)
        unixfs = b"\x08\x02" + b"\x18" + varint(total) + b"".join(b"\x20" + varint(c.filesize) for c in children)
        block += b"\x0a" + varint(len(unixfs)) + unixfs
        tsize = len(block) + sum(child.tsize for child in children)
        return RefNode(self._cid(block, 0x70), block, tsize, total, children)

    def _take_leaf(self) -> RefNode:
        chunk = self.chunks[self.taken]
        self.taken += 1
        return self._leaf(chunk)

    def _fill(self, children: list[RefNode], depth: int) -> RefNode:
        while len(children) < self.width and self.taken < len(self.chunks):
            children.append(self._take_leaf() if depth == 1 else self._fill([], depth - 1))
        return self._node(children)

    def build(self) -> RefNode:
        if not self.chunks:
            return self._leaf(b"")
        root = self._take_leaf()
        depth = 1
        while self.taken < len(self.chunks):
            root = self._fill([root], depth)
            depth += 1
        return root


def ref_add(data: bytes, **options: int | bool | None) -> RefNode:
    return RefImporter(data, **options).build()  # type: ignore[arg-type]


def dfs_blocks(root: RefNode) -> list[tuple[bytes, bytes]]:
    """(cid, block) in depth-first pre-order, each CID once: ``ipfs dag export`` order."""
    seen: set[bytes] = set()
    out: list[tuple[bytes, bytes]] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if node.cid in seen:
            continue
        seen.add(node.cid)
        out.append((node.cid, node.block))
        stack.extend(reversed(node.children))
    return out
