"""Exceptions of the documents service (uploads, anchors, confidential access), above the store.

The store's own failures stay ``DocumentStoreError`` (codes ``ipfs.*``); these are about requests
and documents, with stable codes the routers turn into problem+json (or Kubo errors)::

    DocumentsError
    ├── UnsupportedMediaType      documents.unsupported_media_type   415
    ├── InvalidUpload (ValueError) documents.invalid_upload          422
    ├── AuthenticationRequired    documents.auth_required            401
    ├── AccessDenied              documents.forbidden                403
    ├── NotAnchored (LookupError) documents.not_anchored             409
    ├── DecryptionFailed          documents.decryption_failed        502
    └── NoDocumentKey             documents.no_key                   409
"""

from __future__ import annotations

__all__ = [
    "AccessDenied",
    "AuthenticationRequired",
    "DecryptionFailed",
    "DocumentsError",
    "InvalidUpload",
    "NoDocumentKey",
    "NotAnchored",
    "UnsupportedMediaType",
]


class DocumentsError(Exception):
    code: str = "documents.error"


class UnsupportedMediaType(DocumentsError):
    """The request body is not ``multipart/form-data``."""

    code = "documents.unsupported_media_type"


class InvalidUpload(DocumentsError, ValueError):
    """A multipart body that is malformed, lacks a field, or has a field with a bad value."""

    code = "documents.invalid_upload"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class AuthenticationRequired(DocumentsError):
    """A confidential document was asked for without an API key."""

    code = "documents.auth_required"


class AccessDenied(DocumentsError):
    """The caller's key is not among a confidential document's recipients."""

    code = "documents.forbidden"


class NotAnchored(DocumentsError, LookupError):
    """The CID is stored but no anchor of it is (yet) on chain, so it cannot be served as a
    verified document. ``pending`` names submissions that will anchor it once mined."""

    code = "documents.not_anchored"

    def __init__(self, message: str, *, pending: list[str] | None = None) -> None:
        super().__init__(message)
        self.pending = pending or []


class DecryptionFailed(DocumentsError):
    """A confidential envelope did not decrypt: its ciphertext or header was altered, or the
    wrapped key does not open with the recipient's key."""

    code = "documents.decryption_failed"


class NoDocumentKey(DocumentsError):
    """The gateway holds no document key for a recipient (no keystore passphrase configured)."""

    code = "documents.no_key"
