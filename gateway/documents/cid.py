"""Content identifiers, restricted to what this store can verify.

A CID is kept as its parts (version, codec, multihash bytes) rather than as a
``multiformats.CID`` object: building one of those costs ~150 µs, which matters when an add
mints one CID per 256 KiB chunk. ``multiformats`` is still used where it fits best: parsing
text in any multibase and decoding varints strictly (minimal encoding, bounded length).

Only sha2-256 multihashes are accepted, because every block read is re-hashed and a CID
whose hash we cannot recompute could not be verified.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from multiformats import CID as _MfCID
from multiformats import multibase, varint

from gateway.documents.errors import InvalidCID, UnsupportedContent

__all__ = ["DAG_PB", "RAW", "SHA2_256", "Cid", "CidLike", "block_cid", "multihash_sha256"]

DAG_PB = 0x70
RAW = 0x55
SHA2_256 = 0x12
_SHA2_256_LEN = 32
_CODEC_NAMES = {DAG_PB: "dag-pb", RAW: "raw"}
_BASE58 = multibase.get("base58btc")


def multihash_sha256(digest: bytes) -> bytes:
    """The multihash bytes (``0x12 0x20`` + digest) of a sha2-256 digest."""
    return bytes((SHA2_256, _SHA2_256_LEN)) + digest


@dataclass(frozen=True, slots=True)
class Cid:
    """A CIDv0 or CIDv1 with a sha2-256 multihash.

    ``str(cid)`` is the canonical text: base58btc for v0 (``Qm…``), lowercase base32 for v1
    (``bafy…``/``bafk…``), which is what Kubo prints.
    """

    version: int
    codec: int
    multihash: bytes
    _text: str = field(default="", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.version not in (0, 1):
            raise InvalidCID(f"CID version {self.version} is not 0 or 1")
        if self.version == 0 and self.codec != DAG_PB:
            raise InvalidCID("a CIDv0 is always dag-pb")
        if len(self.multihash) != 2 + _SHA2_256_LEN or self.multihash[0] != SHA2_256:
            raise UnsupportedContent(
                f"only sha2-256 multihashes are supported (got prefix {self.multihash[:2].hex() or 'none'})"
            )

    # -- constructors -------------------------------------------------------------------------

    @classmethod
    def parse(cls, value: CidLike) -> Cid:
        """A Cid from its text (any multibase for v1), its binary form, or a Cid (returned as is)."""
        if isinstance(value, Cid):
            return value
        if isinstance(value, str):
            text = value.strip()
            if not text:
                raise InvalidCID("empty CID")
            try:
                parsed = _MfCID.decode(text)
            except Exception as exc:  # multiformats raises several unrelated types
                raise InvalidCID(f"{text[:80]!r} is not a CID: {exc}") from None
            return cls(parsed.version, parsed.codec.code, bytes(parsed.digest))
        if isinstance(value, bytes | bytearray | memoryview):
            cid, used = cls.decode_prefix(bytes(value))
            if used != len(value):
                raise InvalidCID(f"{len(value) - used} trailing bytes after the CID")
            return cid
        raise InvalidCID(f"expected a CID string or bytes, got {type(value).__name__}")

    @classmethod
    def decode_prefix(cls, buf: bytes | memoryview) -> tuple[Cid, int]:
        """Decodes the binary CID at the start of ``buf``; returns it and the bytes it used.

        Used for CAR sections, where the CID is immediately followed by the block.
        """
        view = memoryview(buf)
        if len(view) >= 2 and view[0] == SHA2_256 and view[1] == _SHA2_256_LEN:
            if len(view) < 34:
                raise InvalidCID("truncated CIDv0")
            return cls(0, DAG_PB, bytes(view[:34])), 34
        try:
            version, n1, _ = varint.decode_raw(view)
            codec, n2, _ = varint.decode_raw(view[n1:])
            code, n3, _ = varint.decode_raw(view[n1 + n2 :])
            length, n4, _ = varint.decode_raw(view[n1 + n2 + n3 :])
        except ValueError as exc:
            raise InvalidCID(f"malformed binary CID: {exc}") from None
        if version != 1:
            raise InvalidCID(f"binary CID has version {version}")
        start = n1 + n2
        end = start + n3 + n4 + length
        if end > len(view):
            raise InvalidCID("truncated binary CID")
        if code != SHA2_256:
            raise UnsupportedContent(f"only sha2-256 multihashes are supported (got 0x{code:x})")
        return cls(1, codec, bytes(view[start:end])), end

    # -- views ----------------------------------------------------------------------------------

    @property
    def digest(self) -> bytes:
        """The raw 32-byte sha2-256 digest."""
        return self.multihash[2:]

    @property
    def codec_name(self) -> str:
        return _CODEC_NAMES.get(self.codec, f"0x{self.codec:x}")

    def to_bytes(self) -> bytes:
        """The binary CID, as written in dag-pb links and CAR sections."""
        if self.version == 0:
            return self.multihash
        return b"\x01" + varint.encode(self.codec) + self.multihash

    def to_v1(self) -> Cid:
        return self if self.version == 1 else Cid(1, self.codec, self.multihash)

    def __str__(self) -> str:
        if not self._text:
            if self.version == 0:
                text = _BASE58.encode(self.multihash)[1:]  # CIDv0 has no multibase prefix
            else:
                text = "b" + base64.b32encode(self.to_bytes()).decode("ascii").lower().rstrip("=")
            object.__setattr__(self, "_text", text)
        return self._text


CidLike = str | bytes | Cid


def block_cid(parts: Iterable[bytes | memoryview], *, version: int, codec: int) -> Cid:
    """The CID of the block made of ``parts`` concatenated, hashed without concatenating them."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part)
    return Cid(version, codec, multihash_sha256(h.digest()))
