"""Envelope encryption: round trips, who can open, and every way of altering an envelope failing."""

from __future__ import annotations

import io
import json
import struct
import threading
from pathlib import Path

import pytest

pytest.importorskip("cryptography")

from gateway.documents.envelope import MAGIC, SEGMENT_SIZE, open_envelope, read_header, seal
from gateway.documents.keys import DocumentKeyring, key_id
from gateway.documents.service_errors import DecryptionFailed, NoDocumentKey
from tests.unit.documents.unixfs_reference import pseudo_random


@pytest.fixture(scope="module")
def keyring(tmp_path_factory: pytest.TempPathFactory) -> DocumentKeyring:
    return DocumentKeyring(tmp_path_factory.mktemp("keys"), "correct horse")


def recipients(keyring: DocumentKeyring, *ids: int) -> dict[int, tuple[str, bytes]]:
    return {pid: (key_id(keyring.public_key(pid)), keyring.public_key(pid)) for pid in ids}


def sealed(keyring: DocumentKeyring, data: bytes, *ids: int) -> bytes:
    _, body = seal(io.BytesIO(data), recipients(keyring, *ids))
    return b"".join(body)


def opened(keyring: DocumentKeyring, envelope: bytes, reader: int, piece: int = 10_000) -> bytes:
    chunks = [envelope[i : i + piece] for i in range(0, len(envelope), piece)]
    return b"".join(open_envelope(chunks, lambda _: (reader, keyring.private_key(reader))))


@pytest.mark.parametrize("size", [0, 1, SEGMENT_SIZE - 1, SEGMENT_SIZE, SEGMENT_SIZE + 1, 3 * SEGMENT_SIZE, 500_000])
def test_round_trip_for_every_recipient(keyring: DocumentKeyring, size: int) -> None:
    data = pseudo_random(size, seed=size)
    envelope = sealed(keyring, data, 1, 2)
    header = read_header(envelope)
    assert header is not None and header.partner_ids == [1, 2]
    assert header.plaintext_size(len(envelope)) == size
    for reader in (1, 2):
        for piece in (1, 4096, 1 << 20):
            assert opened(keyring, envelope, reader, piece) == data


def test_a_fresh_key_and_ciphertext_every_time(keyring: DocumentKeyring) -> None:
    data = b"same plaintext" * 1000
    first, second = sealed(keyring, data, 1), sealed(keyring, data, 1)
    assert first != second and data[:20] not in first


def test_the_header_is_public_the_content_is_not(keyring: DocumentKeyring) -> None:
    envelope = sealed(keyring, b"TOP SECRET FORMULA", 1, 7)
    assert envelope.startswith(MAGIC) and b"TOP SECRET" not in envelope
    length = struct.unpack(">I", envelope[8:12])[0]
    header = json.loads(envelope[12 : 12 + length])
    assert header["alg"] == "AES-256-GCM-STREAM-64K" and header["wrap"] == "HPKE-X25519-SHA256-AES256GCM"
    assert [r["partner"] for r in header["recipients"]] == [1, 7]
    assert all(len(bytes.fromhex(r["wk"])) == 80 for r in header["recipients"])


def test_a_non_recipient_cannot_open(keyring: DocumentKeyring) -> None:
    envelope = sealed(keyring, b"for 1 only", 1)
    keyring.public_key(3)  # 3 has a key pair, just not a wrapped copy of this data key
    with pytest.raises(DecryptionFailed, match="not a recipient"):
        opened(keyring, envelope, 3)
    with pytest.raises(DecryptionFailed, match="does not open"):  # 3's key claimed to be 1's
        b"".join(open_envelope([envelope], lambda _: (1, keyring.private_key(3))))


def test_wrapped_keys_cannot_be_moved_to_another_recipient(keyring: DocumentKeyring) -> None:
    envelope = sealed(keyring, b"relabel me", 1, 2)
    header = read_header(envelope)
    assert header is not None
    w1, w2 = (r.wrapped.hex() for r in header.recipients)
    body = header.raw[12:].replace(w1.encode(), b"X" * len(w1)).replace(w2.encode(), w1.encode())
    body = body.replace(b"X" * len(w1), w2.encode())
    swapped = header.raw[:12] + body + envelope[len(header.raw) :]
    with pytest.raises(DecryptionFailed):
        opened(keyring, swapped, 2)


@pytest.mark.parametrize(
    "alter",
    [
        lambda e, h: e[: h + 10] + bytes([e[h + 10] ^ 1]) + e[h + 11 :],  # a flipped ciphertext byte
        lambda e, h: e[:-1],  # the tail cut
        lambda e, h: e[: h + SEGMENT_SIZE + 16],  # cut exactly at a segment boundary
        lambda e, h: e + b"\x00" * 40,  # bytes appended
        lambda e, h: (
            e[:h]
            + e[h + SEGMENT_SIZE + 16 : h + 2 * (SEGMENT_SIZE + 16)]  # segments swapped
            + e[h : h + SEGMENT_SIZE + 16]
            + e[h + 2 * (SEGMENT_SIZE + 16) :]
        ),
        lambda e, h: e[:h] + e[h + SEGMENT_SIZE + 16 :],  # the first segment dropped
        lambda e, h: e.replace(b'"seg":65536', b'"seg":65535'),  # the header edited
    ],
)
def test_any_alteration_fails_to_open(keyring: DocumentKeyring, alter: object) -> None:
    data = pseudo_random(3 * SEGMENT_SIZE + 100, seed=5)
    envelope = sealed(keyring, data, 1)
    header = read_header(envelope)
    assert header is not None
    altered = alter(envelope, len(header.raw))  # type: ignore[operator]
    with pytest.raises(DecryptionFailed):
        opened(keyring, altered, 1)


def test_garbage_is_not_an_envelope(keyring: DocumentKeyring) -> None:
    with pytest.raises(DecryptionFailed):
        opened(keyring, b"%PDF-1.7 not an envelope at all", 1)
    with pytest.raises(DecryptionFailed):
        opened(keyring, MAGIC + b"\x00\x00\x00\x05{bad}", 1)


def test_keys_are_stored_encrypted_and_reload(tmp_path: Path) -> None:
    ring = DocumentKeyring(tmp_path, "s3cret")
    public = ring.public_key(42)
    pem = (tmp_path / "partner-42.pem").read_bytes()
    assert b"ENCRYPTED PRIVATE KEY" in pem
    assert (tmp_path / "partner-42.pem").stat().st_mode & 0o077 == 0
    again = DocumentKeyring(tmp_path, "s3cret")
    assert again.public_key(42) == public
    envelope = sealed(ring, b"persisted", 42)
    assert opened(again, envelope, 42) == b"persisted"
    with pytest.raises(ValueError):
        DocumentKeyring(tmp_path, "wrong").private_key(42)


def test_no_passphrase_no_keys(tmp_path: Path) -> None:
    with pytest.raises(NoDocumentKey):
        DocumentKeyring(tmp_path, None).public_key(1)
    with pytest.raises(NoDocumentKey):
        DocumentKeyring(tmp_path, "x").private_key(99)


def test_public_key_only_recipients_cannot_be_opened_by_the_gateway(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    own = X25519PrivateKey.generate()
    raw = own.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    ring = DocumentKeyring(tmp_path, "x")
    ring.import_public(5, raw)
    envelope = sealed(ring, b"end to end", 5)
    with pytest.raises(NoDocumentKey):
        ring.private_key(5)
    assert b"".join(open_envelope([envelope], lambda _: (5, own))) == b"end to end"  # the partner, client-side


def test_concurrent_first_use_creates_one_key(tmp_path: Path) -> None:
    rings = [DocumentKeyring(tmp_path, "x") for _ in range(4)]
    publics: list[bytes] = []
    barrier = threading.Barrier(4)

    def create(ring: DocumentKeyring) -> None:
        barrier.wait()
        publics.append(ring.public_key(8))

    threads = [threading.Thread(target=create, args=(r,)) for r in rings]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(publics)) == 1 and sorted(p.name for p in tmp_path.iterdir()) == ["partner-8.pem"]
