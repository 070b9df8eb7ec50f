"""Custodial signing: partner keys held by the gateway in encrypted Ethereum keystores (v3).

One keystore file per account under ``<data_dir>/keys/<partner id>/<address>.json``; the
passphrase comes from ``CUSTODY_KEYSTORE_PASSPHRASE`` or the file named by
``CUSTODY_KEYSTORE_PASSPHRASE_FILE``. Decrypted keys are cached in memory for the process's
life. A KMS or HSM signer would implement :class:`chain_client.signers.Signer` and be returned by
:meth:`Keyring.signer` instead.

The ledger has the last word on which accounts act for a partner: an account the admin removed
(``removePartnerAccount``) keeps its keystore file but is never chosen for signing again. Callers
pass ``owner_of`` (the ledger's ``partner_of``) to :meth:`Keyring.address` and
:meth:`Keyring.signer` to have that checked.

:attr:`Keyring.owners` remembers the ledger's latest answers about the accounts (an
:class:`OwnerCache`): accepting a submission chooses its signer from those answers while they are
recent, renewing them in the background before they age out, instead of a chain read per request
(the outbox worker, which runs in another process, reads the chain again before every signing
round, and takes another account, or fails the submission, if the first was removed meanwhile).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from eth_utils.address import to_checksum_address

from chain_client.signers import KeystoreSigner, LocalSigner, Signer, create_keystore

__all__ = ["Keyring", "KeyringError", "OwnerCache", "OwnerOf"]

OwnerOf = Callable[[str], int]  # an account's partner id on the ledger (0: none)


class KeyringError(Exception):
    """No usable custodial key: ``keyring.unavailable`` (none held, no passphrase) or
    ``keyring.account_removed`` (the keys held are no longer the partner's on the ledger)."""

    def __init__(self, message: str, code: str = "keyring.unavailable") -> None:
        super().__init__(message)
        self.code = code


class OwnerCache:
    """The ledger's latest answers to "which partner does this account act for?", with their age."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._answers: dict[str, tuple[int, float]] = {}
        self._refreshing: set[str] = set()
        self._lock = threading.Lock()

    def put(self, account: str, partner_id: int) -> None:
        with self._lock:
            self._answers[to_checksum_address(account)] = (partner_id, self._clock())

    def _aged(self, account: str) -> tuple[int, float] | None:
        """The answer about ``account`` and its age in seconds, or None."""
        with self._lock:
            answer = self._answers.get(to_checksum_address(account))
        return None if answer is None else (answer[0], self._clock() - answer[1])

    def get(self, account: str, max_age: float) -> int | None:
        """The answer read at most ``max_age`` seconds ago, or None."""
        aged = self._aged(account)
        return None if aged is None or aged[1] > max_age else aged[0]

    def forget(self, account: str | None = None) -> None:
        """Drops the answer about ``account`` (every answer when None): its next use asks the ledger."""
        with self._lock:
            if account is None:
                self._answers.clear()
            else:
                self._answers.pop(to_checksum_address(account), None)

    def remembering(self, owner_of: OwnerOf) -> OwnerOf:
        """``owner_of`` (a chain read) that records each answer here."""

        def read(account: str) -> int:
            partner_id = owner_of(account)
            self.put(account, partner_id)
            return partner_id

        return read

    def recent(self, owner_of: OwnerOf, max_age: float, refresh_after: float | None = None) -> OwnerOf:
        """Answers at most ``max_age`` seconds old, else ``owner_of`` (recorded here).

        With ``refresh_after``, an answer older than that (and still within ``max_age``) is used
        and read again in a background thread, one read per account at a time: while an account
        is in use, its answer is renewed before it ages out, and no caller waits for the chain
        (an ``eth_call`` waits for a node that is mining or estimating: 40-120 ms measured).
        A failed background read leaves the answer to age out as it would have."""
        fresh = self.remembering(owner_of)

        def read(account: str) -> int:
            aged = self._aged(account)
            if aged is None or aged[1] > max_age:
                return fresh(account)
            if refresh_after is not None and aged[1] > refresh_after:
                self._refresh(to_checksum_address(account), fresh)
            return aged[0]

        return read

    def _refresh(self, account: str, fresh: OwnerOf) -> None:
        with self._lock:
            if account in self._refreshing:
                return
            self._refreshing.add(account)

        def run() -> None:
            try:
                fresh(account)
            except Exception:  # the node is away: the answer ages out, the next use reads in line
                pass
            finally:
                with self._lock:
                    self._refreshing.discard(account)

        threading.Thread(target=run, name="owner-refresh", daemon=True).start()


class Keyring:
    def __init__(self, directory: Path, passphrase: str | None, scrypt_n: int = 2**18) -> None:
        self.directory = directory
        self._passphrase = passphrase
        self._scrypt_n = scrypt_n
        self._cache: dict[str, Signer] = {}
        self._lock = threading.Lock()
        self.owners = OwnerCache()

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

    def usable(self, partner_id: int, owner_of: OwnerOf) -> list[str]:
        """The partner's custodial accounts that still act for it on the ledger."""
        return [a for a in self.accounts(partner_id) if owner_of(a) == partner_id]

    def address(self, partner_id: int, owner_of: OwnerOf | None = None) -> str:
        """The partner's first custodial account (still on the ledger, when ``owner_of`` is
        given), without decrypting anything."""
        accounts = self._held(partner_id)
        if owner_of is not None:
            accounts = [a for a in accounts if owner_of(a) == partner_id]
            if not accounts:
                raise KeyringError(
                    f"Every key the gateway holds for partner {partner_id} was removed from it on the ledger; "
                    "add an account or sign your own operations.",
                    "keyring.account_removed",
                )
        return accounts[0]

    def signer(self, partner_id: int, address: str | None = None, owner_of: OwnerOf | None = None) -> Signer:
        """The signer of one of the partner's custodial accounts (the first usable when not named)."""
        accounts = self._held(partner_id)
        chosen = to_checksum_address(address) if address else self.address(partner_id, owner_of)
        if chosen not in accounts:
            raise KeyringError(f"The gateway holds no key {chosen} for partner {partner_id}.")
        if owner_of is not None and owner_of(chosen) != partner_id:
            raise KeyringError(
                f"Account {chosen} no longer acts for partner {partner_id} on the ledger.", "keyring.account_removed"
            )
        with self._lock:
            if chosen not in self._cache:
                path = self.directory / str(partner_id) / f"{chosen}.json"
                self._cache[chosen] = KeystoreSigner(path, self.require_passphrase())
            return self._cache[chosen]

    def _held(self, partner_id: int) -> list[str]:
        accounts = self.accounts(partner_id)
        if not accounts:
            raise KeyringError(f"The gateway holds no key for partner {partner_id}; it must sign its own operations.")
        return accounts
