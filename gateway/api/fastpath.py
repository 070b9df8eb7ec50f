"""``GET /v1/verify`` answered before FastAPI's routing: the public hot path.

Consumers' scans are the gateway's busiest traffic. Matching a request against every route and
solving the route's dependencies, and FastAPI's middleware layers, cost more CPU than the
verification itself (a cached lookup); :class:`GatewayApp` recognises the one path and method
first, calls the same :func:`gateway.api.routes.verify.verify_query` the route calls, and sends
its JSON. Everything else, including other methods and paths, goes through FastAPI unchanged.
Errors are rendered by the app's own exception handlers, so a bad label gets the same
problem+json as through the route.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gateway.api.routes.verify import verification_of, verify_query

__all__ = ["VERIFY_PATH", "GatewayApp"]

VERIFY_PATH = "/v1/verify"
_JSON_HEADERS = [(b"content-type", b"application/json")]


class GatewayApp(FastAPI):
    """The gateway's FastAPI app, answering ``GET /v1/verify`` before its middleware and routing."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != VERIFY_PATH
            or scope["method"] != "GET"
            or scope.get("root_path")
        ):
            await super().__call__(scope, receive, send)
            return
        forwarded_for = None
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                forwarded_for = value.decode("latin-1")
        client = scope.get("client")
        query = _query(scope["query_string"])
        try:
            body = await verify_query(verification_of(self), query, client[0] if client else None, forwarded_for)
        except Exception as exc:
            handler = _handler_of(self, exc)
            if handler is None:
                raise  # the server answers 500 and logs it, as for any route
            scope["app"] = self
            response = handler(Request(scope, receive), exc)
            if inspect.isawaitable(response):
                response = await response
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


def _handler_of(app: FastAPI, exc: Exception) -> Callable[[Request, Any], Response | Awaitable[Response]] | None:
    """The app's handler for ``exc`` (the nearest class in its MRO), as Starlette looks it up."""
    handlers = app.exception_handlers
    for cls in type(exc).__mro__:
        if cls in handlers:
            return handlers[cls]
    return None
