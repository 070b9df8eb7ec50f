"""``GET /v1/verify`` (and partners' submissions) answered before FastAPI's routing: the hot paths.

Consumers' scans are the gateway's busiest traffic. Matching a request against every route and
solving the route's dependencies, and FastAPI's middleware layers, cost more CPU than the
verification itself (a cached lookup); :class:`GatewayApp` recognises the one path and method
first, calls the same :func:`gateway.api.routes.verify.verify_query` the route calls, and sends
its JSON. Everything else, including other methods and paths, goes through FastAPI unchanged.
Errors are rendered by the app's own exception handlers, so a bad label gets the same
problem+json as through the route.

Partners' submissions (``POST /v1/transfers`` and the other one-operation endpoints of
:mod:`gateway.api.routes.partner`) are the other busy path: their happy path (a JSON body the
operation's model accepts, a partner key with the ``submit`` scope) is answered here too, with
one hop to the thread pool for authenticating, validating and storing together (the route takes
two). Anything else (no or a bad key, a body the model refuses, a GS1 error, an idempotency
conflict, an unusual header) is handed to FastAPI's route with the body replayed, so every error
is the route's own: accepting stores nothing until its last step, so a refused request leaves
nothing behind to answer differently the second time.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl

import anyio.to_thread
from fastapi import FastAPI
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from gateway.api.routes.partner import _ENDPOINTS, ENDPOINT_PREFIX, _accepted
from gateway.api.routes.verify import verification_of, verify_query
from gateway.core.services import Services
from gateway.partner.outbox import SubmissionView

__all__ = ["PARTNER_PATHS", "VERIFY_PATH", "GatewayApp"]

VERIFY_PATH = "/v1/verify"
_JSON_HEADERS = [(b"content-type", b"application/json")]


class GatewayApp(FastAPI):
    """The gateway's FastAPI app, answering ``GET /v1/verify`` and partners' accepted one-operation
    submissions before its middleware and routing."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] in PARTNER_PATHS
            and not scope.get("root_path")
        ):
            await _submit(self, scope, receive, send)
            return
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


# path → the operation model its body is, for the one-operation partner endpoints
PARTNER_PATHS: Mapping[str, type[BaseModel]] = MappingProxyType(
    {ENDPOINT_PREFIX + path: model for path, model, _ in _ENDPOINTS}
)
_MAX_FAST_BODY = 1 << 20  # larger bodies (and bodies of unknown length) take the route
_IDEMPOTENCY_KEY_MAX = 200  # as the route's Idempotency-Key header declares


async def _submit(app: FastAPI, scope: Scope, receive: Receive, send: Send) -> None:
    """A partner's submission: stored and answered here, or handed to the route (see the module)."""
    wanted = {b"authorization": None, b"content-type": None, b"content-length": None, b"idempotency-key": None}
    for name, value in scope["headers"]:
        if name in wanted and wanted[name] is None:  # the first of repeated ones, as Starlette's get
            wanted[name] = value
        elif name == b"transfer-encoding":
            wanted[b"content-length"] = None
            break
    authorization, content_type = wanted[b"authorization"], wanted[b"content-type"]
    length, idempotency_key = wanted[b"content-length"], wanted[b"idempotency-key"]
    if (
        content_type != b"application/json"
        or authorization is None
        or length is None
        or not length.isdigit()
        or int(length) > _MAX_FAST_BODY
        or (idempotency_key is not None and len(idempotency_key) > _IDEMPOTENCY_KEY_MAX)
    ):
        await FastAPI.__call__(app, scope, receive, send)
        return
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            return
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    services: Services = app.state.services
    model = PARTNER_PATHS[scope["path"]]
    key = idempotency_key.decode("latin-1") if idempotency_key is not None else None
    view = await anyio.to_thread.run_sync(_accept, services, model, authorization, body, key)
    if view is None:
        await FastAPI.__call__(app, scope, _replay(body, receive), send)
        return
    # what the route answers: its status and headers (``_accepted``) on the response_model's JSON
    headers = Response()
    del headers.headers["content-length"]
    public = _accepted(headers, view)
    response = Response(public.model_dump_json(by_alias=True), headers.status_code, media_type="application/json")
    response.headers.raw.extend(headers.headers.raw)
    await response(scope, receive, send)


def _accept(
    services: Services, model: type[BaseModel], authorization: bytes, body: bytes, key: str | None
) -> SubmissionView | None:
    """The stored submission, or None where the route must answer (nothing was stored then)."""
    scheme, _, api_key = authorization.decode("latin-1").partition(" ")
    if scheme.lower() != "bearer" or not api_key.strip():
        return None
    try:
        principal = services.api_keys.authenticate(api_key.strip())
        if principal.kind != "partner" or not principal.has("submit"):
            return None
        operation = model.model_validate(json.loads(body))  # as the route: Starlette's json(), then the model
        return services.outbox.submit(principal, operation, key)
    except Exception:  # an unknown key, a refused body, a GS1 error, a conflict…: the route answers it
        return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` with the body already read delivered first."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
