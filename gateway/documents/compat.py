"""The Kubo RPC wire format, shared by the gateway's ``/api/v0`` compatibility API (server side)
and the Kubo backend (client side): response shapes, error bodies, version answer.

Errors: Kubo answers ``{"Message": …, "Code": n, "Type": "error"}`` — HTTP 400 with ``Code``
1 for a bad argument (go-ipfs-cmds ``ErrClient``), HTTP 500 with ``Code`` 0 for everything
else — and that is what Kubo clients parse, so ``/api/v0`` speaks it. The gateway's stable
problem code rides along in the ``X-Custody-Code`` header (and ``Code`` stays numeric), so
our own Kubo backend, pointed at a gateway, recovers the exact error type; against a real
Kubo node it falls back to reading the message. Two statuses deviate from Kubo on purpose,
because they are HTTP-level facts every client and proxy understands: 401/403 for a missing or
insufficient API key, 413 for an upload over ``CUSTODY_MAX_UPLOAD_BYTES``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gateway.documents.cid import Cid
from gateway.documents.errors import (
    BlockNotFound,
    DocumentStoreError,
    InvalidCID,
    NotAFile,
    NotPinned,
    RemoteError,
    TooLarge,
)

__all__ = [
    "API_VERSION",
    "CODE_HEADER",
    "ERR_CLIENT",
    "ERR_NORMAL",
    "error_body",
    "error_from_response",
    "ndjson",
    "version_body",
]

CODE_HEADER = "X-Custody-Code"
ERR_NORMAL = 0
ERR_CLIENT = 1

API_VERSION = "0.7.0"
"""The version ``/api/v0/version`` reports by default. The subset served (add, cat, pin
add/ls/rm, block get/stat, dag export/import, files stat, repo gc, version) behaves as in
go-ipfs 0.7 and every Kubo since, and ipfshttpclient 0.7 — the one client that checks —
accepts only daemons ``>= 0.4.23, < 0.8.0``. Clients that do not check (Kubo's Go client,
kubo-rpc-client) ignore it. ``CUSTODY_IPFS_COMPAT_VERSION`` overrides it."""


def error_body(message: str, code: int = ERR_NORMAL) -> dict[str, Any]:
    return {"Message": message, "Code": code, "Type": "error"}


def version_body(version: str = API_VERSION) -> dict[str, str]:
    return {"Version": version, "Commit": "custody-gateway", "Repo": "10", "System": "python", "Golang": "none"}


def ndjson(*items: Mapping[str, Any]) -> bytes:
    """Kubo's streamed JSON: one object per line."""
    return b"".join(json.dumps(item, separators=(",", ":")).encode() + b"\n" for item in items)


def add_line(name: str, cid: Cid, dag_size: int) -> dict[str, str]:
    """One ``add`` output object; Kubo prints ``Size`` (the DAG's size) as a string."""
    return {"Name": name, "Hash": str(cid), "Size": str(dag_size)}


def _by_message(message: str, status: int) -> DocumentStoreError:
    lowered = message.lower()
    if status == 413:
        return TooLarge(message, limit=0)
    if "not pinned" in lowered:
        return NotPinned(message)
    if any(s in lowered for s in ("invalid path", "invalid cid", "selected encoding", "cid too short", "varint")):
        return InvalidCID(message)
    if any(s in lowered for s in ("not found", "could not find", "no link named")):
        return BlockNotFound(message)
    if "is a directory" in lowered or "not a file" in lowered or "unixfs node" in lowered:
        return NotAFile(message)
    return RemoteError(f"Kubo answered HTTP {status}: {message}", status=status)


def error_from_response(status: int, headers: Mapping[str, str], body: bytes) -> DocumentStoreError:
    """The typed error behind a failed RPC answer: by ``X-Custody-Code`` when the server is a
    custody gateway, else from Kubo's message."""
    try:
        parsed = json.loads(body)
        message = str(parsed.get("Message", "")) if isinstance(parsed, dict) else ""
    except ValueError:
        message = body.decode("utf-8", "replace").strip()
    message = message or f"HTTP {status}"
    code = headers.get(CODE_HEADER)
    if code:
        from gateway.documents import errors  # the family, looked up by code

        for name in errors.__all__:
            cls = getattr(errors, name)
            if getattr(cls, "code", None) == code:
                try:
                    return cls(message)  # type: ignore[no-any-return]
                except TypeError:  # classes with keyword-only extras
                    if cls is TooLarge:
                        return TooLarge(message, limit=0)
                    break
    return _by_message(message, status)
