"""dag-pb (PBNode/PBLink) and UnixFS ``Data`` protobuf messages, encoded byte-exactly as Kubo does.

Why hand-written rather than generated protobuf code: the canonical dag-pb form writes
``Links`` (field 2) *before* ``Data`` (field 1), which no stock protobuf serializer does (they
emit fields in number order), and the CIDs depend on every byte. The two messages are small,
so a ~150-line encoder/decoder is easier to audit than bending a generator. No maintained
Python dag-pb library exists (PyPI's ``ipld-dag-pb`` is a 0.0.1 release).

Encoding rules reproduced from go-merkledag/go-codec-dagpb and go-unixfs (gogo-protobuf):

* PBLink: ``Hash`` (1, bytes), ``Name`` (2, string — written even when empty, as Kubo's
  builder sets ``""``), ``Tsize`` (3, varint).
* PBNode: every link (2), then ``Data`` (1) when present.
* UnixFS Data: ``Type`` (1), ``Data`` (2, omitted when nil — only the empty file), ``filesize``
  (3, always written for files), ``blocksizes`` (4, repeated, *not* packed: proto2).

Decoding is strict where dag-pb's spec is strict (no unknown PBNode/PBLink fields, links before
data, a Hash in every link) and returns ``memoryview`` slices so that a 256 KiB leaf is never
copied just to find its payload.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from gateway.documents.cid import Cid
from gateway.documents.errors import DocumentStoreError, MalformedBlock

__all__ = [
    "PBLink",
    "PBNode",
    "UnixFSData",
    "UnixFSType",
    "decode_pbnode",
    "decode_unixfs",
    "encode_pbnode",
    "encode_unixfs_file",
    "leaf_parts",
    "uvarint",
]

_WIRE_VARINT = 0
_WIRE_I64 = 1
_WIRE_LEN = 2
_WIRE_I32 = 5


class UnixFSType(IntEnum):
    RAW = 0
    DIRECTORY = 1
    FILE = 2
    METADATA = 3
    SYMLINK = 4
    HAMT_SHARD = 5


@dataclass(frozen=True, slots=True)
class PBLink:
    cid: Cid
    name: str | None
    tsize: int | None


@dataclass(frozen=True, slots=True)
class PBNode:
    links: tuple[PBLink, ...]
    data: memoryview | None


@dataclass(frozen=True, slots=True)
class UnixFSData:
    type: UnixFSType
    data: memoryview | None
    filesize: int | None
    blocksizes: tuple[int, ...]

    def content_size(self) -> int:
        """Bytes of file content under this node: ``filesize`` when set, else what it holds."""
        if self.filesize is not None:
            return self.filesize
        return (len(self.data) if self.data is not None else 0) + sum(self.blocksizes)


# -- encoding -----------------------------------------------------------------------------------


def uvarint(value: int) -> bytes:
    """Unsigned LEB128, as protobuf and multiformats use."""
    if value < 0:
        raise ValueError("varint of a negative number")
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _len_field(field_no: int, payload_len: int) -> bytes:
    return bytes(((field_no << 3) | _WIRE_LEN,)) + uvarint(payload_len)


def _varint_field(field_no: int, value: int) -> bytes:
    return bytes(((field_no << 3) | _WIRE_VARINT,)) + uvarint(value)


def encode_unixfs_file(data_len: int | None, filesize: int, blocksizes: Sequence[int] = ()) -> tuple[bytes, bytes]:
    """UnixFS ``Data`` for a file, split around the payload: (bytes before it, bytes after it).

    ``data_len`` is the payload length, or None to omit the Data field entirely. Splitting lets a
    leaf be hashed and written as three parts instead of copying the 256 KiB payload.
    """
    head = _varint_field(1, UnixFSType.FILE)
    if data_len is not None:
        head += _len_field(2, data_len)
    tail = _varint_field(3, filesize) + b"".join(_varint_field(4, size) for size in blocksizes)
    return head, tail


def _encode_link(link: PBLink) -> bytes:
    cid_bytes = link.cid.to_bytes()
    body = _len_field(1, len(cid_bytes)) + cid_bytes
    if link.name is not None:
        name = link.name.encode("utf-8")
        body += _len_field(2, len(name)) + name
    if link.tsize is not None:
        body += _varint_field(3, link.tsize)
    return _len_field(2, len(body)) + body


def encode_pbnode(links: Sequence[PBLink], data: bytes | None) -> bytes:
    """A whole PBNode in canonical order (links first)."""
    out = b"".join(_encode_link(link) for link in links)
    if data is not None:
        out += _len_field(1, len(data)) + data
    return out


def leaf_parts(payload_len: int) -> tuple[bytes, bytes]:
    """(prefix, suffix) framing a chunk as a dag-pb UnixFS file leaf: PBNode{Data: UnixFS{File,
    Data=chunk, filesize=len}}. The block is ``prefix + chunk + suffix``."""
    head, tail = encode_unixfs_file(payload_len if payload_len else None, payload_len)
    inner_len = len(head) + payload_len + len(tail)
    return _len_field(1, inner_len) + head, tail


# -- decoding -----------------------------------------------------------------------------------


def _read_varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise MalformedBlock("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise MalformedBlock("varint longer than 64 bits")


def _read_len(buf: memoryview, pos: int) -> tuple[memoryview, int]:
    length, pos = _read_varint(buf, pos)
    end = pos + length
    if end > len(buf):
        raise MalformedBlock("length-delimited field runs past the end of the block")
    return buf[pos:end], end


def _skip(buf: memoryview, pos: int, wire: int) -> int:
    if wire == _WIRE_VARINT:
        return _read_varint(buf, pos)[1]
    if wire == _WIRE_LEN:
        return _read_len(buf, pos)[1]
    if wire in (_WIRE_I64, _WIRE_I32):
        end = pos + (8 if wire == _WIRE_I64 else 4)
        if end > len(buf):
            raise MalformedBlock("truncated fixed-width field")
        return end
    raise MalformedBlock(f"unsupported protobuf wire type {wire}")


def _decode_link(buf: memoryview) -> PBLink:
    cid: Cid | None = None
    name: str | None = None
    tsize: int | None = None
    pos = 0
    last_field = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        field_no, wire = key >> 3, key & 7
        if field_no <= last_field:
            raise MalformedBlock("PBLink fields out of order or repeated")
        last_field = field_no
        if field_no == 1 and wire == _WIRE_LEN:
            raw, pos = _read_len(buf, pos)
            try:
                cid = Cid.parse(bytes(raw))
            except DocumentStoreError as exc:
                raise MalformedBlock(f"link with an unusable CID: {exc}") from None
        elif field_no == 2 and wire == _WIRE_LEN:
            raw, pos = _read_len(buf, pos)
            try:
                name = bytes(raw).decode("utf-8")
            except UnicodeDecodeError:
                raise MalformedBlock("link name is not UTF-8") from None
        elif field_no == 3 and wire == _WIRE_VARINT:
            tsize, pos = _read_varint(buf, pos)
        else:
            raise MalformedBlock(f"unexpected PBLink field {field_no} (wire type {wire})")
    if cid is None:
        raise MalformedBlock("PBLink without Hash")
    return PBLink(cid, name, tsize)


def decode_pbnode(block: bytes | memoryview) -> PBNode:
    """Parses a dag-pb block; ``data`` is a zero-copy view into ``block``."""
    buf = memoryview(block)
    links: list[PBLink] = []
    data: memoryview | None = None
    pos = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        field_no, wire = key >> 3, key & 7
        if wire != _WIRE_LEN or field_no not in (1, 2):
            raise MalformedBlock(f"unexpected PBNode field {field_no} (wire type {wire})")
        raw, pos = _read_len(buf, pos)
        if field_no == 2:
            if data is not None:
                raise MalformedBlock("PBNode has Links after Data")
            links.append(_decode_link(raw))
        else:
            if data is not None:
                raise MalformedBlock("PBNode has two Data fields")
            data = raw
    return PBNode(tuple(links), data)


def decode_unixfs(buf: memoryview) -> UnixFSData:
    """Parses UnixFS ``Data``; unknown fields (mode, mtime, future ones) are skipped."""
    kind: int | None = None
    data: memoryview | None = None
    filesize: int | None = None
    blocksizes: list[int] = []
    pos = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        field_no, wire = key >> 3, key & 7
        if field_no == 1 and wire == _WIRE_VARINT:
            kind, pos = _read_varint(buf, pos)
        elif field_no == 2 and wire == _WIRE_LEN:
            data, pos = _read_len(buf, pos)
        elif field_no == 3 and wire == _WIRE_VARINT:
            filesize, pos = _read_varint(buf, pos)
        elif field_no == 4 and wire == _WIRE_VARINT:
            size, pos = _read_varint(buf, pos)
            blocksizes.append(size)
        elif field_no == 4 and wire == _WIRE_LEN:  # tolerate a packed encoding from other writers
            packed, pos = _read_len(buf, pos)
            inner = 0
            while inner < len(packed):
                size, inner = _read_varint(packed, inner)
                blocksizes.append(size)
        else:
            pos = _skip(buf, pos, wire)
    if kind is None:
        raise MalformedBlock("UnixFS Data without Type")
    try:
        unixfs_type = UnixFSType(kind)
    except ValueError:
        raise MalformedBlock(f"unknown UnixFS type {kind}") from None
    return UnixFSData(unixfs_type, data, filesize, tuple(blocksizes))
