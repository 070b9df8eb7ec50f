"""Custodial signing: partner keys held by the gateway in encrypted Ethereum keystores (v3).

One keystore file per account under ``<data_dir>/keys/<partner id>/<address>.json``; the
passphrase comes from ``CUSTODY_KEYSTORE_PASSPHRASE`` or the file named by
``CUSTODY_KEYSTORE_PASSPHRASE_FILE``. Decrypted keys are cached in memory for the process's
life. A KMS or HSM signer would implement :class:`chain_client.signers.Signer` and be returned by
:meth:`Keyring.signer` instead.
"""

from __future__ import annotations

import threading
from pathlib import Path

from eth_utils.address import to_checksum_address

from chain_client.signers import KeystoreSigner, LocalSigner, Signer, create_keystore

__all__ = ["Keyring", "KeyringError"]


class KeyringError(Exception):
    code = "keyring.unavailable"


class Keyring:
    def __init__(self, directory: Path, passphrase: str | None, scrypt_n: int = 2**18) -> None:
        self.directory = directory
        self._passphrase = passphrase
        self._scrypt_n = scrypt_n
        self._cache: dict[str, Signer] = {}
        self._lock = threading.Lock()

    def require_passphrase(self) -> str:
        if not self._passphrase:
            raise KeyringError(
                "Custodial signing needs a keystore passphrase: set CUSTODY_KEYSTORE_PASSPHRASE or "
                "CUSTODY_KEYSTORE_PASSPHRASE_FILE."
            )
        return self._passphrase

    def create(self, partner_id: int, private_key: bytes | None = None) -> str:
        """Creates (or imports) a key for the partner; returns its address."""
        passphrase = self.require_passphrase()
        if private_key is None:
            private_key = LocalSigner.generate().private_key
        address = to_checksum_address(LocalSigner(private_key).address)
        create_keystore(self.directory / str(partner_id) / f"{address}.json", passphrase, private_key, self._scrypt_n)
        return address

    def accounts(self, partner_id: int) -> list[str]:
        folder = self.directory / str(partner_id)
        return sorted(p.stem for p in folder.glob("*.json")) if folder.exists() else []

    def address(self, partner_id: int) -> str:
        """The partner's first custodial account, without decrypting anything."""
        accounts = self.accounts(partner_id)
        if not accounts:
            raise KeyringError(f"The gateway holds no key for partner {partner_id}; it must sign its own operations.")
        return accounts[0]

    def signer(self, partner_id: int, address: str | None = None) -> Signer:
        """The signer of one of the partner's custodial accounts (the first when not named)."""
        accounts = self.accounts(partner_id)
        if not accounts:
            raise KeyringError(f"The gateway holds no key for partner {partner_id}; it must sign its own operations.")
        chosen = to_checksum_address(address) if address else accounts[0]
        if chosen not in accounts:
            raise KeyringError(f"The gateway holds no key {chosen} for partner {partner_id}.")
        with self._lock:
            if chosen not in self._cache:
                path = self.directory / str(partner_id) / f"{chosen}.json"
                self._cache[chosen] = KeystoreSigner(path, self.require_passphrase())
            return self._cache[chosen]
