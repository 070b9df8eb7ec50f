"""The verification page as served: verify.html with content-versioned asset URLs, plus its headers.

verify.html links its assets as ``/static/<name>``; :func:`verify_page` rewrites each link to
``/static/<name>?v=<content hash>``, so the page itself is revalidated on every visit
(``no-cache`` + ETag) while a versioned asset can be cached for a year: a new deploy changes the
hash, hence the URL. Unversioned asset URLs (e.g. verify.html served as a plain file) are
revalidated every time instead.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

__all__ = [
    "ASSET_CACHE_CONTROL",
    "PAGE_HEADERS",
    "STATIC_DIR",
    "VERIFY_PAGE",
    "VERSIONED_CACHE_CONTROL",
    "VerifyPage",
    "verify_page",
]

STATIC_DIR = Path(__file__).resolve().parent / "static"
VERIFY_PAGE = STATIC_DIR / "verify.html"

VERSIONED_CACHE_CONTROL = "public, max-age=31536000, immutable"
ASSET_CACHE_CONTROL = "public, no-cache"

# Sent with the page (verify.html also carries the CSP in a <meta>, for servers that send the file as is).
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "media-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
}

_ASSET_LINK = re.compile(r'(?P<attr>\b(?:href|src))="/static/(?P<name>[A-Za-z0-9._-]+)"')


@dataclass(frozen=True)
class VerifyPage:
    html: str
    etag: str  # a strong validator, quoted


def verify_page() -> VerifyPage:
    """verify.html with versioned asset URLs (rebuilt only when a file changes on disk)."""
    names = sorted({m["name"] for m in _ASSET_LINK.finditer(VERIFY_PAGE.read_text(encoding="utf-8"))})
    stamps = tuple((name, _mtime(STATIC_DIR / name)) for name in names)
    return _build(_mtime(VERIFY_PAGE), stamps)


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return -1


@lru_cache(maxsize=4)
def _build(page_mtime: int, stamps: tuple[tuple[str, int], ...]) -> VerifyPage:
    versions = {name: _content_hash(STATIC_DIR / name) for name, mtime in stamps if mtime >= 0}

    def versioned(m: re.Match[str]) -> str:
        version = versions.get(m["name"])
        suffix = f"?v={version}" if version else ""
        return f'{m["attr"]}="/static/{m["name"]}{suffix}"'

    html = _ASSET_LINK.sub(versioned, VERIFY_PAGE.read_text(encoding="utf-8"))
    return VerifyPage(html, f'"{hashlib.sha256(html.encode()).hexdigest()[:32]}"')


def _content_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
