"""Errors of the audit read side, each with an HTTP status and a stable ``code``.

AuditError
├── AuditNotFound (LookupError)        404 audit.object_not_found | audit.recall_not_found
└── AuditInvalidQuery (ValueError)     422 audit.invalid_depth | audit.invalid_window | audit.invalid_identifier | …
"""

from __future__ import annotations

from typing import Any

__all__ = ["AuditError", "AuditInvalidQuery", "AuditNotFound"]


class AuditError(Exception):
    status = 500
    title = "Audit error"

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra


class AuditNotFound(AuditError, LookupError):
    """The object (or recall) is not in the ledger's index."""

    status = 404
    title = "Not found"


class AuditInvalidQuery(AuditError, ValueError):
    """A query parameter that cannot be answered (negative depth, an inverted time window, …)."""

    status = 422
    title = "Invalid query"

    def __init__(self, code: str, field: str, message: str) -> None:
        super().__init__(code, message, field=field)
        self.field = field
