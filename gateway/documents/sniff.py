"""Media types: sniffed from a document's first bytes when nobody declared one, and made safe.

The sniffer knows the formats supply-chain documents come in (PDF, images, office files as
ZIP, XML, JSON, CSV/plain text) and answers ``application/octet-stream`` otherwise. It never
answers ``text/html`` or SVG: content served from the gateway's origin must not run script, so
markup is labelled ``text/plain`` and every content response also carries
``Content-Security-Policy: sandbox`` (see ``SAFE_HEADERS``).
"""

from __future__ import annotations

__all__ = ["OCTET_STREAM", "SAFE_HEADERS", "SNIFF_BYTES", "safe_media_type", "sniff"]

OCTET_STREAM = "application/octet-stream"
SNIFF_BYTES = 512
SAFE_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"}

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
    (b"CUSTENC\x01", OCTET_STREAM),  # a confidential envelope: ciphertext
)
_SCRIPTABLE = {"text/html", "application/xhtml+xml", "image/svg+xml", "text/xml+svg", "application/javascript",
               "text/javascript"}  # fmt: skip


def sniff(head: bytes) -> str:
    """A media type for content starting with ``head`` (its first ``SNIFF_BYTES`` bytes)."""
    for magic, media_type in _MAGIC:
        if head.startswith(magic):
            return media_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not just a character cut at the end of the sample
            return OCTET_STREAM
        text = head[: exc.start].decode("utf-8")
    if any(ord(c) < 9 or 13 < ord(c) < 32 for c in text):
        return OCTET_STREAM
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("<?xml"):
        return "text/plain; charset=utf-8" if "<svg" in stripped[:SNIFF_BYTES] else "application/xml"
    if stripped[:1] in ("{", "["):
        return "application/json"
    return "text/plain; charset=utf-8"


def safe_media_type(declared: str | None) -> str | None:
    """A declared media type, unless it could run script from our origin (then ``text/plain``)."""
    if not declared:
        return None
    essence = declared.split(";")[0].strip().lower()
    if essence in _SCRIPTABLE or "/" not in essence:
        return "text/plain; charset=utf-8" if essence in _SCRIPTABLE else None
    return declared
