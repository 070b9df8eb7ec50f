"""``GET /v1/verify`` answered before FastAPI's routing: the public hot path.

Consumers' scans are the gateway's busiest traffic. Matching a request against every route and
solving the route's dependencies costs FastAPI more CPU than the verification itself (a cached
lookup); this pure ASGI middleware recognises the one path and method, calls the same
:func:`gateway.api.routes.verify.verify_query` the route calls, and sends its JSON. Everything
else, including other methods and paths, goes on to the app unchanged. Errors are rendered by
the app's own exception handlers, so a bad label gets the same problem+json as through the route.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.api.routes.verify import verification_of, verify_query

__all__ = ["VERIFY_PATH", "VerifyFastPath"]

VERIFY_PATH = "/v1/verify"
_JSON_HEADERS = [(b"content-type", b"application/json")]


class VerifyFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != VERIFY_PATH
            or scope["method"] != "GET"
            or scope.get("root_path")
        ):
            await self.app(scope, receive, send)
            return
        app = scope["app"]  # the FastAPI app (Starlette puts itself in the scope)
        forwarded_for = None
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                forwarded_for = value.decode("latin-1")
        client = scope.get("client")
        query = _query(scope["query_string"])
        try:
            body = await verify_query(verification_of(app), query, client[0] if client else None, forwarded_for)
        except Exception as exc:
            handler = _handler_of(app, exc)
            if handler is None:
                raise
            response = await handler(Request(scope, receive), exc)
            await response(scope, receive, send)
            return
        headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@functools.lru_cache(maxsize=8192)
def _query(query_string: bytes) -> Mapping[str, str]:
    """The parameters (the last of repeated ones wins, as with Starlette's QueryParams.get); cached,
    read-only: the same labels are scanned again and again."""
    return MappingProxyType(dict(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)))


def _handler_of(app: object, exc: Exception) -> Callable[[Request, Exception], Awaitable[Response]] | None:
    """The app's handler for ``exc`` (the nearest class in its MRO), as Starlette looks it up."""
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = getattr(app, "exception_handlers", {})
    for cls in type(exc).__mro__:
        if cls in handlers:
            return handlers[cls]
    return None
