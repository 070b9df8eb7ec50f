"""Signers: who signs transactions and EIP-712 messages for an account.

:class:`Signer` is the interface; :class:`LocalSigner` holds a private key in memory and
:class:`KeystoreSigner` loads it from an encrypted Ethereum keystore (v3). A KMS or HSM signer
implements the same three members.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount

from chain_client.errors import CustodyClientError

__all__ = ["KeystoreSigner", "LocalSigner", "Signer", "create_keystore"]


@runtime_checkable
class Signer(Protocol):
    """Signs for one account."""

    @property
    def address(self) -> str: ...

    def sign_transaction(self, tx: dict[str, Any]) -> bytes:
        """Returns the raw signed transaction, ready for ``eth_sendRawTransaction``."""
        ...

    def sign_typed_data(self, typed_data: dict[str, Any]) -> bytes:
        """Returns the 65-byte EIP-712 signature (r, s, v) of a full typed-data message."""
        ...


class LocalSigner:
    """A private key held in this process's memory."""

    def __init__(self, private_key: str | bytes) -> None:
        self._account: LocalAccount = Account.from_key(private_key)

    @classmethod
    def from_mnemonic(cls, mnemonic: str, index: int = 0) -> LocalSigner:
        Account.enable_unaudited_hdwallet_features()
        account = Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{index}")
        return cls(account.key)

    @classmethod
    def generate(cls) -> LocalSigner:
        return cls(Account.create().key)

    @property
    def address(self) -> str:
        return str(self._account.address)

    @property
    def private_key(self) -> bytes:
        return bytes(self._account.key)

    def sign_transaction(self, tx: dict[str, Any]) -> bytes:
        return bytes(self._account.sign_transaction(tx).raw_transaction)

    def sign_typed_data(self, typed_data: dict[str, Any]) -> bytes:
        signable = encode_typed_data(full_message=typed_data)
        return bytes(self._account.sign_message(signable).signature)

    def __repr__(self) -> str:  # never print the key
        return f"LocalSigner({self.address})"


class KeystoreSigner(LocalSigner):
    """A key decrypted from an Ethereum keystore v3 file (scrypt or pbkdf2)."""

    def __init__(self, path: Path, passphrase: str) -> None:
        try:
            keyfile = json.loads(Path(path).read_text(encoding="utf-8"))
            key = Account.decrypt(keyfile, passphrase)
        except FileNotFoundError as exc:
            raise CustodyClientError(f"Keystore file {path} does not exist.") from exc
        except ValueError as exc:
            raise CustodyClientError(
                f"Cannot decrypt keystore {path}: wrong passphrase or corrupt file ({exc})."
            ) from exc
        super().__init__(key)
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"KeystoreSigner({self.address}, {self.path})"


def create_keystore(path: Path, passphrase: str, private_key: bytes | None = None, scrypt_n: int = 2**18) -> str:
    """Writes an encrypted keystore v3 file (scrypt, mode 0600) and returns its address.

    ``scrypt_n`` is the scrypt work factor: 2**18 (geth's "standard") by default; tests lower it.
    """
    account = Account.from_key(private_key) if private_key else Account.create()
    encrypted = Account.encrypt(account.key, passphrase, kdf="scrypt", iterations=scrypt_n)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(encrypted, f)
    return str(account.address)
