"""Document storage: an embedded, Kubo-compatible IPFS block store, a Kubo backend, and the
documents service that links stored documents to their on-chain anchors.

Adding a file here yields the same CID as ``ipfs add`` (UnixFS, 256 KiB chunks, balanced
DAG of 174 links, CIDv0 — or CIDv1 with raw leaves), so a CID anchored on chain can be
fetched from any IPFS node, and content fetched from anywhere can be checked against it.

The store, bottom-up: ``errors`` (the exception family), ``cid``, ``dagpb`` (protobuf codec),
``unixfs`` (the importer), ``blocks`` (what a block layout provides), ``blockstore`` (flatfs
files) and ``packstore`` (append-only packs with an index), ``pins`` (SQLite pins and the GC
lock), ``dag`` (walking stored DAGs), ``car`` (CAR v1), ``interface`` (the ``DocumentStore``
protocol), ``store`` (the embedded implementation) and ``kubo`` (the same protocol over a Kubo
node's RPC API, ``compat`` being the wire format both sides share).

Above it: ``service`` (uploads that get anchored, verified reads), ``envelope`` and ``keys``
(confidential documents), ``anchors`` (the chain's view), ``retention`` (pins, report, backup;
also ``python -m gateway.documents``), ``catalog``, ``uploads`` (streaming multipart), ``sniff``
and ``factory`` (the backend chosen by settings). Nothing here depends on FastAPI.
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
    RemoteError,
    Retained,
    StorageError,
    StoreBusy,
    TooLarge,
    UnsupportedContent,
)
from gateway.documents.interface import AddResult, DocumentStore, GcResult, ImportResult, StatResult
from gateway.documents.kubo import KuboDocumentStore
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
    "KuboDocumentStore",
    "MalformedBlock",
    "NotAFile",
    "NotPinned",
    "RemoteError",
    "Retained",
    "StatResult",
    "StorageError",
    "StoreBusy",
    "TooLarge",
    "UnsupportedContent",
]
