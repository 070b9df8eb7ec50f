"""GLN → partner: whose location (or party GLN) an EPCIS source or destination names.

EPCIS names trading partners by GLN; the ledger by partner id. The ledger's partner directory
records which partner registered each GLN (``locationOwner``), and the custody functions check
ship-from, ship-to and receiving GLNs against it, so the capture resolves them the same way,
before anything is stored. The mapping takes a :class:`LocationOwners` so that it can be
tested without a node.
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["LedgerLocations", "LocationOwners", "StaticLocations"]


class LocationOwners(Protocol):
    def owner(self, gln: str) -> int:
        """The partner id that registered ``gln`` (13 digits), 0 when none did."""
        ...


class LedgerLocations:
    """Reads ``locationOwner(gln)`` from the ledger, caching answers for one capture.

    A GLN is registered once and never moves to another partner, so a cached owner stays
    right; an unregistered GLN (0) is cached only for the capture this object serves.
    """

    def __init__(self, contract: Any) -> None:
        self._contract = contract
        self._owners: dict[str, int] = {}

    def owner(self, gln: str) -> int:
        if gln not in self._owners:
            self._owners[gln] = int(self._contract.functions.locationOwner(int(gln)).call())
        return self._owners[gln]


class StaticLocations:
    """A fixed GLN → partner table (tests, tools)."""

    def __init__(self, owners: dict[str, int]) -> None:
        self._owners = dict(owners)

    def owner(self, gln: str) -> int:
        return self._owners.get(gln, 0)
