"""Exceptions of the indexer, under one root so callers can catch the package's failures at once.

::

    IndexerError
    ├── RpcError                  the node answered a JSON-RPC call with an error
    │   └── NodeUnavailable       the node did not answer at all (transport failure, timeout)
    ├── ChainChangedDuringFetch   a reorg happened while a range was being read; retry the range
    ├── ForeignDatabase           the database already indexes another ledger or chain
    └── InconsistentEvents        the events contradict the model (e.g. a genealogy output without its record)
"""

from __future__ import annotations

__all__ = [
    "ChainChangedDuringFetch",
    "ForeignDatabase",
    "InconsistentEvents",
    "IndexerError",
    "NodeUnavailable",
    "RpcError",
]


class IndexerError(Exception):
    """Root of the indexer's exceptions."""


class RpcError(IndexerError):
    """A JSON-RPC error response; ``code`` and ``message`` are the node's."""

    def __init__(self, method: str, code: int, message: str) -> None:
        super().__init__(f"{method} failed: {message} (code {code})")
        self.method = method
        self.code = code
        self.message = message


class NodeUnavailable(RpcError, ConnectionError):
    """No answer from the node: retrying later may help, shrinking a range will not."""

    def __init__(self, method: str, detail: str) -> None:
        super().__init__(method, 0, detail)


class ChainChangedDuringFetch(IndexerError):
    """Block hashes changed between reading logs and reading headers: the range is not consistent."""


class ForeignDatabase(IndexerError, ValueError):
    """The database holds the model of another (chain id, ledger); one database models one ledger."""


class InconsistentEvents(IndexerError, ValueError):
    """Events that cannot follow from the ledger's rules (a bug in the ledger or in the indexer)."""
