"""The ``DocumentStore`` contract shared by the embedded store and any remote (Kubo RPC) backend.

Results carry ``Cid`` objects (``str(cid)`` is the canonical text); inputs take a CID as text,
bytes or ``Cid``. Errors are the ``DocumentStoreError`` family from ``errors``; their ``code``
is what the gateway turns into problem+json.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol, runtime_checkable

from gateway.documents.cid import Cid, CidLike
from gateway.documents.unixfs import ByteSource

__all__ = ["AddResult", "DocumentStore", "GcResult", "ImportResult", "StatResult", "Writable"]


class Writable(Protocol):
    def write(self, data: bytes, /) -> Any: ...


@dataclass(frozen=True, slots=True)
class AddResult:
    cid: Cid
    size: int
    """File content bytes."""
    dag_size: int
    """Cumulative serialized size of the DAG (the ``Size`` Kubo's ``add`` reports)."""


@dataclass(frozen=True, slots=True)
class StatResult:
    cid: Cid
    type: str
    """``file`` for content; ``directory``, ``symlink``… for other UnixFS nodes."""
    size: int
    """File content bytes."""
    cumulative_size: int
    """Serialized size of the whole DAG."""
    blocks: int
    """Links of the root block."""


@dataclass(frozen=True, slots=True)
class GcResult:
    removed_blocks: int
    freed_bytes: int


@dataclass(frozen=True, slots=True)
class ImportResult:
    roots: tuple[Cid, ...]
    """The CAR's roots, now pinned."""
    blocks: int
    """Sections read (blocks already present count too)."""


@runtime_checkable
class DocumentStore(Protocol):
    """Content-addressed document storage with Kubo semantics.

    ``add`` pins what it adds (as ``ipfs add`` does) so GC keeps it until ``unpin``.
    ``cat`` validates the CID, the range and the root block before returning, so a caller can
    still choose its HTTP status; a block found damaged or missing later in the stream raises
    from the iterator, which must then abort the response rather than end it cleanly.
    """

    def add(self, stream: ByteSource, *, cid_version: int = 0) -> AddResult:
        """Chunks and stores ``stream`` exactly as ``ipfs add [--cid-version=1]`` would; pins the root."""
        ...

    def cat(self, cid: CidLike, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        """File bytes from ``offset``, at most ``length`` of them (all when None)."""
        ...

    def pin(self, cid: CidLike) -> None:
        """Pins recursively; the whole DAG must be present (``BlockNotFound`` otherwise)."""
        ...

    def unpin(self, cid: CidLike) -> None:
        """Removes a recursive pin (``NotPinned`` if there is none); blocks go at the next GC."""
        ...

    def pins(self) -> list[Cid]:
        """Recursively pinned roots."""
        ...

    def has(self, cid: CidLike) -> bool:
        """Whether the block named by ``cid`` is stored (not the whole DAG)."""
        ...

    def gc(self) -> GcResult:
        """Deletes every block not reachable from a pin."""
        ...

    def export_car(self, cid: CidLike, out: Writable) -> None:
        """Writes the DAG under ``cid`` as CAR v1, in ``ipfs dag export`` order."""
        ...

    def import_car(self, stream: BinaryIO) -> ImportResult:
        """Stores every block of a CAR v1 stream (each verified) and pins its roots."""
        ...

    def stat(self, cid: CidLike) -> StatResult:
        """Size and type from the root block alone."""
        ...
