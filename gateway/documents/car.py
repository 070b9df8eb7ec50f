"""CAR v1: the archive format of ``ipfs dag export`` / ``ipfs dag import``.

Layout: ``varint(len) || dag-cbor {"roots": [CID, ...], "version": 1}``, then sections
``varint(len) || CID bytes || block``. The header is (de)coded with ``cbor2`` (CIDs are CBOR
tag 42 over ``0x00 || CID bytes``; canonical mode sorts keys length-first, as dag-cbor does).

The reader is streaming and distrustful: every length is bounded before anything is
allocated, and every block is re-hashed against its CID before it is handed on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, BinaryIO, Protocol

import cbor2

from gateway.documents.cid import Cid, multihash_sha256
from gateway.documents.dagpb import uvarint
from gateway.documents.errors import IntegrityError, InvalidCar, InvalidCID

__all__ = ["MAX_HEADER_SIZE", "MAX_SECTION_SIZE", "CarReader", "encode_header", "iter_car", "write_car"]

MAX_HEADER_SIZE = 64 * 1024
MAX_SECTION_SIZE = 2 * 1024 * 1024 + 128
"""A block of at most 2 MiB (bitswap's limit; Kubo's default chunks are 256 KiB) plus its CID."""

_CID_TAG = 42


class _Writable(Protocol):
    def write(self, data: bytes, /) -> Any: ...


def encode_header(roots: Sequence[Cid]) -> bytes:
    header = {"roots": [cbor2.CBORTag(_CID_TAG, b"\x00" + root.to_bytes()) for root in roots], "version": 1}
    body = cbor2.dumps(header, canonical=True)
    return uvarint(len(body)) + body


def write_car(out: _Writable, roots: Sequence[Cid], blocks: Iterable[tuple[Cid, bytes]]) -> int:
    """Writes a CAR v1 stream; returns the number of bytes written."""
    header = encode_header(roots)
    out.write(header)
    total = len(header)
    for cid, block in blocks:
        cid_bytes = cid.to_bytes()
        prefix = uvarint(len(cid_bytes) + len(block)) + cid_bytes
        out.write(prefix)
        out.write(block)
        total += len(prefix) + len(block)
    return total


def iter_car(roots: Sequence[Cid], blocks: Iterable[tuple[Cid, bytes]]) -> Iterator[bytes]:
    """A CAR v1 stream as byte strings (header, then one piece per section): for streaming responses."""
    yield encode_header(roots)
    for cid, block in blocks:
        cid_bytes = cid.to_bytes()
        yield uvarint(len(cid_bytes) + len(block)) + cid_bytes + block


def _read_uvarint(stream: BinaryIO) -> int | None:
    """A varint from the stream; None at a clean end of stream (before its first byte)."""
    value = 0
    for i in range(10):
        byte = stream.read(1)
        if not byte:
            if i == 0:
                return None
            raise InvalidCar("truncated varint")
        value |= (byte[0] & 0x7F) << (7 * i)
        if not byte[0] & 0x80:
            if byte[0] == 0 and i > 0:
                raise InvalidCar("non-minimal varint")
            return value
    raise InvalidCar("varint too long")


def _read_exact(stream: BinaryIO, size: int) -> bytes:
    chunks = []
    have = 0
    while have < size:
        piece = stream.read(size - have)
        if not piece:
            raise InvalidCar(f"truncated CAR: wanted {size} bytes, stream ended after {have}")
        chunks.append(piece)
        have += len(piece)
    return b"".join(chunks)


def _decode_header(raw: bytes) -> tuple[Cid, ...]:
    try:
        header = cbor2.loads(raw)
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError) as exc:
        raise InvalidCar(f"CAR header is not valid CBOR: {exc}") from None
    if not isinstance(header, dict) or header.get("version") != 1:
        raise InvalidCar("not a CAR v1 header (version must be 1)")
    roots = header.get("roots")
    if not isinstance(roots, list):
        raise InvalidCar("CAR header has no roots list")
    parsed = []
    for root in roots:
        if not (isinstance(root, cbor2.CBORTag) and root.tag == _CID_TAG and isinstance(root.value, bytes)):
            raise InvalidCar("CAR root is not a CID (CBOR tag 42)")
        if not root.value.startswith(b"\x00"):
            raise InvalidCar("CAR root CID lacks the 0x00 multibase prefix")
        try:
            parsed.append(Cid.parse(root.value[1:]))
        except InvalidCID as exc:
            raise InvalidCar(f"CAR root is not a CID: {exc}") from None
    return tuple(parsed)


class CarReader:
    """Reads a CAR v1 stream; iterate it for verified ``(cid, block)`` pairs."""

    def __init__(
        self,
        stream: BinaryIO,
        *,
        max_header_size: int = MAX_HEADER_SIZE,
        max_section_size: int = MAX_SECTION_SIZE,
    ) -> None:
        self.stream = stream
        self.max_section_size = max_section_size
        length = _read_uvarint(stream)
        if length is None or length == 0:
            raise InvalidCar("empty stream: no CAR header")
        if length > max_header_size:
            raise InvalidCar(f"CAR header of {length} bytes exceeds the {max_header_size}-byte limit")
        self.roots = _decode_header(_read_exact(stream, length))

    def __iter__(self) -> Iterator[tuple[Cid, bytes]]:
        while (length := _read_uvarint(self.stream)) is not None:
            if length > self.max_section_size:
                raise InvalidCar(f"CAR section of {length} bytes exceeds the {self.max_section_size}-byte limit")
            section = _read_exact(self.stream, length)
            try:
                cid, used = Cid.decode_prefix(section)
            except InvalidCID as exc:
                raise InvalidCar(f"CAR section does not start with a CID: {exc}") from None
            block = section[used:]
            if multihash_sha256(hashlib.sha256(block).digest()) != cid.multihash:
                raise IntegrityError(f"CAR block {cid} does not match its hash", cid=str(cid))
            yield cid, block
