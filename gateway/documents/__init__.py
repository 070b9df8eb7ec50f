"""Document storage: an embedded, Kubo-compatible IPFS block store.

Adding a file here yields the same CID as ``ipfs add`` (UnixFS, 256 KiB chunks, balanced
DAG of 174 links, CIDv0 — or CIDv1 with raw leaves), so a CID anchored on chain can be
fetched from any IPFS node, and content fetched from anywhere can be checked against it.

Modules, bottom-up: ``errors`` (the exception family), ``cid``, ``dagpb`` (protobuf codec),
``unixfs`` (the importer), ``blockstore`` (flatfs-style files), ``pins`` (SQLite pins and the
GC lock), ``dag`` (walking stored DAGs), ``car`` (CAR v1), ``interface`` (the
``DocumentStore`` protocol) and ``store`` (the embedded implementation). Nothing here
depends on FastAPI.
"""

from __future__ import annotations

from gateway.documents.cid import Cid, CidLike
from gateway.documents.errors import (
    BlockNotFound,
    DocumentStoreError,
    IntegrityError,
    InvalidCar,
    InvalidCID,
    InvalidRange,
    MalformedBlock,
    NotAFile,
    NotPinned,
    StorageError,
    StoreBusy,
    TooLarge,
    UnsupportedContent,
)
from gateway.documents.interface import AddResult, DocumentStore, GcResult, ImportResult, StatResult
from gateway.documents.store import EmbeddedDocumentStore
from gateway.documents.unixfs import ByteSource

__all__ = [
    "AddResult",
    "BlockNotFound",
    "ByteSource",
    "Cid",
    "CidLike",
    "DocumentStore",
    "DocumentStoreError",
    "EmbeddedDocumentStore",
    "GcResult",
    "ImportResult",
    "IntegrityError",
    "InvalidCID",
    "InvalidCar",
    "InvalidRange",
    "MalformedBlock",
    "NotAFile",
    "NotPinned",
    "StatResult",
    "StorageError",
    "StoreBusy",
    "TooLarge",
    "UnsupportedContent",
]
