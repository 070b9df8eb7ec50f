"""Exceptions of the document store.

One root, combined with the matching built-in where one fits, so callers can catch broadly or
precisely. Every exception has a stable ``code`` that the gateway maps to problem+json; the
message names the CID or limit involved so an operator can act on it::

    DocumentStoreError
    ├── InvalidCID (ValueError)          ipfs.invalid_cid
    ├── UnsupportedContent (ValueError)  ipfs.unsupported
    ├── InvalidRange (ValueError)        ipfs.invalid_range
    ├── BlockNotFound (LookupError)      ipfs.not_found
    ├── NotPinned (LookupError)          ipfs.not_pinned
    ├── IntegrityError                   ipfs.integrity
    ├── MalformedBlock                   ipfs.malformed
    ├── NotAFile                         ipfs.not_a_file
    ├── TooLarge                         ipfs.too_large
    ├── InvalidCar (ValueError)          ipfs.invalid_car
    ├── StoreBusy (TimeoutError)         ipfs.busy
    ├── StorageError (OSError)           ipfs.storage
    ├── Retained                         ipfs.retained
    └── RemoteError                      ipfs.remote

Codes are part of the public contract: change a message freely, never a code.
"""

from __future__ import annotations

__all__ = [
    "BlockNotFound",
    "DocumentStoreError",
    "IntegrityError",
    "InvalidCID",
    "InvalidCar",
    "InvalidRange",
    "MalformedBlock",
    "NotAFile",
    "NotPinned",
    "RemoteError",
    "Retained",
    "StorageError",
    "StoreBusy",
    "TooLarge",
    "UnsupportedContent",
]


class DocumentStoreError(Exception):
    """Root of every error raised by ``gateway.documents``."""

    code: str = "ipfs.error"


class InvalidCID(DocumentStoreError, ValueError):
    """The text or bytes given are not a CID."""

    code = "ipfs.invalid_cid"


class UnsupportedContent(DocumentStoreError, ValueError):
    """A well-formed CID or block this store cannot handle (hash other than sha2-256, codec other
    than dag-pb/raw): refused up front rather than stored unverifiable."""

    code = "ipfs.unsupported"


class InvalidRange(DocumentStoreError, ValueError):
    """A negative offset or length was asked for."""

    code = "ipfs.invalid_range"


class BlockNotFound(DocumentStoreError, LookupError):
    """A block needed to answer is not in the store (never added, or garbage-collected)."""

    code = "ipfs.not_found"

    def __init__(self, message: str, *, cid: str | None = None) -> None:
        super().__init__(message)
        self.cid = cid


class NotPinned(DocumentStoreError, LookupError):
    """``unpin`` of a CID that has no recursive pin."""

    code = "ipfs.not_pinned"


class IntegrityError(DocumentStoreError):
    """A stored block no longer hashes to its CID: the disk copy was altered or damaged.

    Raised instead of returning the bytes, so a reader never gets wrong content silently.
    """

    code = "ipfs.integrity"

    def __init__(self, message: str, *, cid: str | None = None) -> None:
        super().__init__(message)
        self.cid = cid


class MalformedBlock(DocumentStoreError):
    """A block hashes correctly but is not valid dag-pb/UnixFS, or the DAG contradicts itself
    (a child's size differs from what its parent recorded)."""

    code = "ipfs.malformed"


class NotAFile(DocumentStoreError):
    """The CID names a UnixFS directory, symlink or HAMT shard, not file content."""

    code = "ipfs.not_a_file"


class TooLarge(DocumentStoreError):
    """An add or CAR import went past the configured byte limit; nothing was pinned."""

    code = "ipfs.too_large"

    def __init__(self, message: str, *, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class InvalidCar(DocumentStoreError, ValueError):
    """The stream is not a well-formed CAR v1 file."""

    code = "ipfs.invalid_car"


class StorageError(DocumentStoreError, OSError):
    """The store directory could not be read or written (disk full, permissions)."""

    code = "ipfs.storage"


class StoreBusy(DocumentStoreError, TimeoutError):
    """The store lock could not be taken in time (a GC, or adds that keep GC waiting)."""

    code = "ipfs.busy"


class Retained(DocumentStoreError):
    """An unpin or removal of content that must be kept: a CID anchored on chain stays pinned."""

    code = "ipfs.retained"

    def __init__(self, message: str, *, cid: str | None = None) -> None:
        super().__init__(message)
        self.cid = cid


class RemoteError(DocumentStoreError):
    """A remote backend (a Kubo node's RPC API) could not be reached or answered an error this
    package has no better type for; the message carries the node's own words."""

    code = "ipfs.remote"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
