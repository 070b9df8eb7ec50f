"""Document recipients' X25519 key pairs, held by the gateway next to the custodial signing keys.

One encrypted PKCS#8 PEM per partner under ``<keys_dir>/documents/partner-<id>.pem``, protected
by the same passphrase as the keystores (``CUSTODY_KEYSTORE_PASSPHRASE``), created the first time
a partner is made a recipient. Auditors are partners (role auditor) and get their pair the same way.

Trust: the gateway holding every recipient's private key is custodial — whoever controls the
gateway host and its passphrase can read every confidential document, exactly as it can already
sign for every custodial partner. What the envelope protects against is everything *outside*
the gateway: IPFS nodes, pinning services, CAR backups and anyone fetching the CID. A partner
that wants end-to-end confidentiality would register only its public key (``import_public``),
keep the private key itself and decrypt client-side; the gateway then cannot serve it plaintext.

``cryptography`` is imported lazily so the gateway still starts without it; only confidential
documents need it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.documents.service_errors import NoDocumentKey

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

__all__ = ["DocumentKeyring", "key_id"]


def key_id(public_key: bytes) -> str:
    """A short fingerprint of a raw X25519 public key (names the key in envelope headers)."""
    return hashlib.sha256(public_key).hexdigest()[:16]


class DocumentKeyring:
    def __init__(self, directory: Path, passphrase: str | None) -> None:
        self.directory = directory
        self._passphrase = passphrase
        self._private: dict[int, X25519PrivateKey] = {}
        self._lock = threading.Lock()

    def _path(self, partner_id: int, suffix: str = ".pem") -> Path:
        return self.directory / f"partner-{partner_id}{suffix}"

    def _secret(self) -> bytes:
        if not self._passphrase:
            raise NoDocumentKey(
                "Confidential documents need a keystore passphrase (CUSTODY_KEYSTORE_PASSPHRASE or "
                "CUSTODY_KEYSTORE_PASSPHRASE_FILE): the recipients' document keys are encrypted with it."
            )
        return self._passphrase.encode()

    def public_key(self, partner_id: int) -> bytes:
        """The partner's raw public key, creating its key pair when it has none yet."""
        from cryptography.hazmat.primitives import serialization

        public = self._path(partner_id, ".pub")
        if public.exists():
            return public.read_bytes()
        if not self._path(partner_id).exists():
            self._create(partner_id)
        return (
            self.private_key(partner_id)
            .public_key()
            .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        )

    def import_public(self, partner_id: int, public_key: bytes) -> None:
        """Registers a partner's own public key (the gateway will not be able to decrypt for it)."""
        if len(public_key) != 32:
            raise ValueError("an X25519 public key is 32 bytes")
        self.directory.mkdir(parents=True, exist_ok=True)
        self._path(partner_id, ".pub").write_bytes(public_key)

    def private_key(self, partner_id: int) -> X25519PrivateKey:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

        with self._lock:
            cached = self._private.get(partner_id)
            if cached is not None:
                return cached
            path = self._path(partner_id)
            try:
                pem = path.read_bytes()
            except FileNotFoundError:
                raise NoDocumentKey(f"The gateway holds no document key for partner {partner_id}.") from None
            key = serialization.load_pem_private_key(pem, password=self._secret())
            if not isinstance(key, X25519PrivateKey):
                raise NoDocumentKey(f"{path} is not an X25519 key")
            self._private[partner_id] = key
            return key

    def _create(self, partner_id: int) -> None:
        """Writes a new key pair atomically; a concurrent creator (another worker) wins cleanly."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

        key = X25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(self._secret()),
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.directory / f".partner-{partner_id}.{secrets.token_hex(4)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, pem)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, self._path(partner_id))  # fails if another process created it first
        except FileExistsError:
            pass
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
