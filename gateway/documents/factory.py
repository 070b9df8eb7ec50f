"""Builds the documents service from settings: the backend is chosen by configuration alone.

``CUSTODY_IPFS_API_URL`` set → the Kubo backend (RPC over HTTP, ``CUSTODY_IPFS_API_TOKEN`` as
Bearer); unset → the embedded store in ``<documents dir>/store`` with the block layout of
``CUSTODY_IPFS_BLOCKSTORE``. The catalog lives beside it, the recipients' keys in the keyring folder.
Verified reads look anchors up in the indexer's tables when the gateway runs the indexer
(``CUSTODY_RUN_INDEXER``), and in the chain's events otherwise.
"""

from __future__ import annotations

from pathlib import Path

from gateway.core.config import Settings
from gateway.documents.anchors import AnchorReader, IndexedAnchors
from gateway.documents.catalog import Catalog
from gateway.documents.interface import DocumentStore
from gateway.documents.keys import DocumentKeyring
from gateway.documents.kubo import KuboDocumentStore
from gateway.documents.service import ChainAccess, DocumentService
from gateway.documents.store import EmbeddedDocumentStore

__all__ = ["build_document_service", "documents_dir", "open_store"]


def documents_dir(settings: Settings) -> Path:
    return settings.documents_dir or settings.data_dir / "documents"


def open_store(settings: Settings) -> DocumentStore:
    if settings.ipfs_api_url:
        token = settings.ipfs_api_token.get_secret_value() if settings.ipfs_api_token else None
        return KuboDocumentStore(settings.ipfs_api_url, token=token, max_add_size=settings.max_upload_bytes)
    return EmbeddedDocumentStore(documents_dir(settings) / "store", layout=settings.ipfs_blockstore)


def build_document_service(settings: Settings, chain: ChainAccess) -> DocumentService:
    return DocumentService(
        open_store(settings),
        Catalog(documents_dir(settings) / "catalog.sqlite"),
        DocumentKeyring(settings.keys_dir / "documents", settings.keystore_secret()),
        AnchorReader(lambda: chain.ledger, IndexedAnchors(chain.sessions) if settings.run_indexer else None),
        chain,
        max_upload_bytes=settings.max_upload_bytes,
        compat_version=settings.ipfs_compat_version,
    )
