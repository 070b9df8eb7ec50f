"""The consumer verification page (``GET /verify``) and its static assets (``/static``).

The page is plain HTML/CSS/JS in gateway/web/static/ and calls the public verification API
(routes/verify.py); Digital Link paths serve the same page for browsers (routes/digital_link.py).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from gateway.web import ASSET_CACHE_CONTROL, PAGE_HEADERS, STATIC_DIR, VERSIONED_CACHE_CONTROL, verify_page

__all__ = ["AssetFiles", "router", "verify_page_response"]

router = APIRouter(tags=["verification page"])


def verify_page_response(request: Request) -> Response:
    """The verification page with its security and cache headers (304 when the browser's copy is current)."""
    page = verify_page()
    headers = {**PAGE_HEADERS, "ETag": page.etag}
    if page.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return HTMLResponse(page.html, headers=headers)


@router.get("/verify", response_class=HTMLResponse, include_in_schema=False)
def verify(request: Request) -> Response:
    return verify_page_response(request)


class AssetFiles(StaticFiles):
    """StaticFiles with cache headers: a year for content-versioned URLs (``?v=``), else revalidate."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            query: bytes = scope.get("query_string", b"")
            versioned = any(part.startswith(b"v=") for part in query.split(b"&"))
            response.headers["Cache-Control"] = VERSIONED_CACHE_CONTROL if versioned else ASSET_CACHE_CONTROL
            response.headers["X-Content-Type-Options"] = "nosniff"
        return response


router.mount("/static", AssetFiles(directory=STATIC_DIR), name="static")
