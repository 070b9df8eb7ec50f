"""The gateway's HTTP server: uvicorn, with consumers' ``GET /v1/verify`` answered in the protocol.

A verification whose lookup is in memory costs about 50 µs of Python. The way through uvicorn to
the app and back cost more than twice that: a task per request, the ASGI scope and messages, the
proxy-headers middleware, and the head and the body written by two ``send`` calls, so two socket
writes and two TCP segments (profiles in docs/benchmarks.md, issue #8).
:class:`GatewayHttpProtocol` is uvicorn's httptools protocol that answers a plain
``GET /v1/verify`` from the parser's callback, head and body in one write, when the answer is a
200 that needs no wait. Every other request, and every verification that cannot be answered so (a
missing or invalid parameter, a rate limit, a lookup to read from a remote database, a request
pipelined behind an unfinished one, an ``Expect`` or ``Upgrade`` header), takes uvicorn's own way
to the app unchanged, where :class:`gateway.api.fastpath.GatewayApp` and the route answer it.
Both ways run the same verification (:func:`gateway.api.routes.verify.answer_now` is
:func:`~gateway.api.routes.verify.verify_query` without waits), count the client the same way
(uvicorn's proxy-headers rules), and answer the same bytes.

Written against uvicorn 0.54's ``HttpToolsProtocol`` (pinned in pyproject.toml): it reads the
request state that protocol keeps (parser, url, headers, cycle, pipeline) and ends a response with
its ``on_response_complete``, as uvicorn's own responses do; tests/integration/test_verification.py
covers keep-alive, pipelining, ``Connection: close``, HTTP/1.0 and a GET with a body over real sockets.
"""

from __future__ import annotations

from typing import Any

import uvicorn
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from gateway.api.fastpath import VERIFY_PATH, _query
from gateway.api.routes.verify import answer_now, verification_of
from gateway.verification.service import VerificationService

__all__ = ["GatewayHttpProtocol", "server_config"]

_VERIFY_PATH = VERIFY_PATH.encode()
_CONTENT = b"content-type: application/json\r\ncontent-length: "
_CLOSE = b"connection: close\r\n"
# requests with these headers take uvicorn's way: it answers them in its own manner
_NOT_HERE = frozenset({b"expect", b"transfer-encoding", b"upgrade"})


class GatewayHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, answering plain ``GET /v1/verify`` itself (see the module)."""

    # the connection's verification service, looked up on its first plain verification (the app's
    # state is read through Starlette's __getattr__: several µs a time)
    _verification: VerificationService | None = None
    # the head of a 200 answer to a plain verification, without its content-length value, for
    # the current default headers (uvicorn replaces their list when the Date changes, each second)
    _head: tuple[object, bytes] = (None, b"")

    def on_headers_complete(self) -> None:
        if not self._answered_here():
            super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self.cycle is not None:  # None: the first request of the connection was answered here
            super().on_body(body)  # (a finished cycle ignores a body; one answered here has none)

    def on_message_complete(self) -> None:
        if self.cycle is not None:
            super().on_message_complete()

    def _answered_here(self) -> bool:
        """Writes the answer to a plain verification when it is a 200 that needs no wait; False to
        let uvicorn hand the request to the app (nothing was written, counted or taken then)."""
        if (
            self.parser.get_method() != b"GET"
            or (self.cycle is not None and not self.cycle.response_complete)
            or self.pipeline  # answers go out in the order of the requests
            or self.flow.write_paused  # a client not reading its answers: uvicorn's way waits for it
            or self.root_path
            or self.limit_concurrency is not None
        ):
            return False
        url = self.url
        if b"#" in url:
            return False
        mark = url.find(b"?")
        if (url if mark < 0 else url[:mark]) != _VERIFY_PATH:
            return False
        forwarded_for = None
        for name, value in self.headers:
            if name in _NOT_HERE:
                return False
            if name == b"x-forwarded-for":
                if forwarded_for is not None:
                    return False  # several such headers: rare, uvicorn's way joins them
                forwarded_for = value.decode("latin-1")
        client = self.client
        app: Any = self.app
        if (
            forwarded_for is not None
            and client is not None
            and isinstance(app, ProxyHeadersMiddleware)
            and client[0] in app.trusted_hosts
        ):
            host, port = app.trusted_hosts.get_trusted_client_address(forwarded_for)
            if host:
                client = (host, port)  # what uvicorn's middleware makes the scope's client
        query = _query(b"" if mark < 0 else url[mark + 1 :])
        service = self._verification
        if service is None:
            service = self._verification = verification_of(self.config.app)
        body = answer_now(service, query, client[0] if client else None, forwarded_for)
        if body is None:
            return False
        version = self.parser.get_http_version()
        keep_alive = version != "1.0" and self.parser.should_keep_alive()  # as uvicorn
        defaults = self.server_state.default_headers
        of, head = GatewayHttpProtocol._head
        if of is not defaults:
            head = STATUS_LINE[200]
            for name, value in defaults:  # server, date: as uvicorn sends them
                head += name + b": " + value + b"\r\n"
            head += _CONTENT
            GatewayHttpProtocol._head = (defaults, head)
        ending = b"\r\n\r\n" if keep_alive else b"\r\n" + _CLOSE + b"\r\n"
        self.transport.write(b"".join((head, str(len(body)).encode(), ending, body)))
        if self.access_log:
            address = f"{client[0]}:{client[1]}" if client else ""
            self.access_logger.info('%s - "GET %s HTTP/%s" %d', address, url.decode("latin-1"), version, 200)
        if keep_alive:
            self.on_response_complete()  # counts the request, arms the keep-alive timeout
        else:
            self.server_state.total_requests += 1
            self.transport.close()
        return True


def server_config(app: Any, **kwargs: Any) -> uvicorn.Config:
    """uvicorn's configuration for the gateway's app: :class:`GatewayHttpProtocol` for HTTP."""
    return uvicorn.Config(app, http=GatewayHttpProtocol, **kwargs)
