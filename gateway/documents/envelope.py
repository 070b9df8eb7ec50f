"""Envelope encryption of confidential documents: what IPFS stores (and the chain anchors) is this.

Layout (everything after the header is ciphertext)::

    "CUSTENC" 0x01 | u32 header length | header (JSON) | segment 0 | segment 1 | … | last segment

* A fresh random 256-bit data key per document. The content is cut into 64 KiB segments, each
  sealed with AES-256-GCM under that key (the STREAM construction of Hoang, Reyhanitabar, Rogaway and
  Vizár, as in age or Tink's streaming AEAD): the nonce is the segment number plus a
  last-segment flag, and the associated data is the SHA-256 of the header. Reordered,
  dropped, truncated or appended segments fail to open; so does any edit of the header.
  Deterministic nonces are safe because the key is never reused. Segments keep memory flat for
  any size and let a reader decrypt while it streams.
* The data key is wrapped once per recipient with HPKE (RFC 9180, base mode:
  DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM), with ``info`` naming the recipient, so
  a wrapped key cannot be relabelled for someone else. HPKE rather than RSA-OAEP: 32-byte keys,
  80 bytes per recipient instead of 384+, key generation in microseconds, and a standard that
  fixes the KDF and nonce handling we would otherwise hand-roll. Recipients are named by partner
  id and key fingerprint in the (cleartext) header: who may read is visible, what is not.

The recipient list is inside the anchored bytes: adding a reader later means a new envelope (a
new CID, anchored again). That is the price of an on-chain anchor that covers who was given
access.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway.documents.service_errors import DecryptionFailed
from gateway.documents.unixfs import SupportsRead

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

__all__ = ["MAGIC", "SEGMENT_SIZE", "EnvelopeHeader", "Recipient", "is_envelope", "open_envelope", "seal"]

MAGIC = b"CUSTENC\x01"
SEGMENT_SIZE = 64 * 1024
_TAG = 16
_PREFIX = struct.Struct(">8sI")
_MAX_HEADER = 1 << 20
_ALGORITHM = "AES-256-GCM-STREAM-64K"
_WRAP = "HPKE-X25519-SHA256-AES256GCM"
_INFO = b"custody-document-key/v1 "


@dataclass(frozen=True, slots=True)
class Recipient:
    partner_id: int
    key_id: str
    wrapped: bytes


@dataclass(frozen=True, slots=True)
class EnvelopeHeader:
    recipients: tuple[Recipient, ...]
    segment_size: int
    raw: bytes
    """The header's bytes with the prefix, exactly as stored."""

    @property
    def digest(self) -> bytes:
        return hashlib.sha256(self.raw).digest()

    def recipient(self, partner_id: int) -> Recipient | None:
        return next((r for r in self.recipients if r.partner_id == partner_id), None)

    @property
    def partner_ids(self) -> list[int]:
        return [r.partner_id for r in self.recipients]

    def plaintext_size(self, envelope_size: int) -> int:
        body = envelope_size - len(self.raw)
        whole = self.segment_size + _TAG
        segments = max(1, -(-body // whole))
        return body - segments * _TAG


def _suite() -> Any:
    from cryptography.hazmat.primitives import hpke

    return hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)


def _info(partner_id: int, key_id: str) -> bytes:
    return _INFO + f"partner:{partner_id} key:{key_id}".encode()


def _nonce(index: int, last: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def _encode_header(recipients: Iterable[Recipient]) -> bytes:
    body = json.dumps(
        {
            "v": 1,
            "alg": _ALGORITHM,
            "wrap": _WRAP,
            "seg": SEGMENT_SIZE,
            "recipients": [{"partner": r.partner_id, "kid": r.key_id, "wk": r.wrapped.hex()} for r in recipients],
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    return _PREFIX.pack(MAGIC, len(body)) + body


def is_envelope(head: bytes) -> bool:
    return head.startswith(MAGIC)


def seal(source: SupportsRead, public_keys: Mapping[int, tuple[str, bytes]]) -> tuple[EnvelopeHeader, Iterator[bytes]]:
    """Encrypts ``source`` for the recipients ``{partner_id: (key_id, raw X25519 public key)}``.

    Returns the header at once and an iterator of the envelope's bytes (header first), read from
    ``source`` lazily, one segment ahead.
    """
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if not public_keys:
        raise ValueError("a confidential document needs at least one recipient")
    data_key = os.urandom(32)
    suite = _suite()
    recipients = tuple(
        Recipient(pid, kid, suite.encrypt(data_key, X25519PublicKey.from_public_bytes(pub), info=_info(pid, kid)))
        for pid, (kid, pub) in sorted(public_keys.items())
    )
    raw = _encode_header(recipients)
    header = EnvelopeHeader(recipients, SEGMENT_SIZE, raw)
    aead = AESGCM(data_key)
    aad = header.digest

    def read_segment() -> bytes:
        data = source.read(SEGMENT_SIZE)
        if data is None:
            raise BlockingIOError("the stream is non-blocking and has no data ready")
        while len(data) < SEGMENT_SIZE:
            more = source.read(SEGMENT_SIZE - len(data))
            if not more:
                break
            data += more
        return data

    def body() -> Iterator[bytes]:
        yield raw
        index = 0
        current = read_segment()
        while True:
            following = read_segment() if len(current) == SEGMENT_SIZE else b""
            last = not following
            yield aead.encrypt(_nonce(index, last), current, aad)
            if last:
                return
            current = following
            index += 1

    return header, body()


def read_header(prefix: bytes) -> EnvelopeHeader | None:
    """The header, if ``prefix`` (the envelope's first bytes) holds all of it; None if more is needed."""
    if len(prefix) < _PREFIX.size:
        return None
    magic, length = _PREFIX.unpack_from(prefix)
    if magic != MAGIC:
        raise DecryptionFailed("not a custody document envelope")
    if length > _MAX_HEADER:
        raise DecryptionFailed(f"envelope header of {length} bytes is implausible")
    if len(prefix) < _PREFIX.size + length:
        return None
    try:
        parsed = json.loads(prefix[_PREFIX.size : _PREFIX.size + length])
        recipients = tuple(
            Recipient(int(r["partner"]), str(r["kid"]), bytes.fromhex(r["wk"])) for r in parsed["recipients"]
        )
        segment = int(parsed["seg"])
        if parsed.get("v") != 1 or parsed.get("alg") != _ALGORITHM or parsed.get("wrap") != _WRAP or segment < 1:
            raise ValueError("unsupported envelope version or algorithm")
    except (ValueError, KeyError, TypeError) as exc:
        raise DecryptionFailed(f"malformed envelope header: {exc}") from None
    return EnvelopeHeader(recipients, segment, bytes(prefix[: _PREFIX.size + length]))


def open_envelope(
    chunks: Iterable[bytes], unwrap: Callable[[EnvelopeHeader], tuple[int, X25519PrivateKey]]
) -> Iterator[bytes]:
    """Decrypts an envelope streamed as ``chunks``. ``unwrap`` picks the reader, given the header:
    it returns (partner id, private key) or raises (``AccessDenied``…) before any plaintext."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    stream = iter(chunks)
    buffer = bytearray()
    header: EnvelopeHeader | None = None
    for chunk in stream:
        buffer += chunk
        header = read_header(bytes(buffer[: _PREFIX.size + _MAX_HEADER]))
        if header is not None:
            break
    if header is None:
        raise DecryptionFailed("the envelope ends inside its header")
    del buffer[: len(header.raw)]
    partner_id, private_key = unwrap(header)
    mine = header.recipient(partner_id)
    if mine is None:
        raise DecryptionFailed(f"partner {partner_id} is not a recipient of this envelope")
    try:
        data_key = _suite().decrypt(mine.wrapped, private_key, info=_info(partner_id, mine.key_id))
    except Exception as exc:  # cryptography raises InvalidTag or ValueError
        raise DecryptionFailed(f"the data key does not open with partner {partner_id}'s key: {exc}") from None
    aead = AESGCM(data_key)
    aad = header.digest
    whole = header.segment_size + _TAG

    def segments() -> Iterator[bytes]:
        index = 0
        ended = False
        while True:
            while len(buffer) <= whole and not ended:  # need one byte past a full segment to know it is not last
                try:
                    buffer.extend(next(stream))
                except StopIteration:
                    ended = True
            last = ended and len(buffer) <= whole
            piece = bytes(buffer[:whole])
            del buffer[:whole]
            try:
                yield aead.decrypt(_nonce(index, last), piece, aad)
            except InvalidTag:
                raise DecryptionFailed(f"segment {index} of the envelope fails authentication") from None
            if last:
                return
            index += 1

    return segments()
