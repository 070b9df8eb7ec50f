"""Helpers of the partner API tests that build gateways of their own (on SQLite or PostgreSQL).

A :class:`Stack` is a whole gateway served over real HTTP (uvicorn in a thread) on a data folder
and, optionally, a database URL; "crashing" one stops its server without the graceful part of
shutdown. :class:`HookReceiver` is a real HTTP server on a fixed port that can be down (nothing
listening: connection refused) and come up later, recording every webhook POST it answers.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest
import uvicorn
from pydantic import SecretStr
from sqlalchemy import select

from chain_client.ledger import CustodyLedgerClient, object_id
from chain_client.node import AnvilConfig, AnvilNode, free_port
from chain_client.signers import LocalSigner
from gateway.core.config import Settings
from gateway.core.services import Services
from gateway.main import create_app
from gateway.partner.tables import SubmissionRow, WebhookDeliveryRow
from gateway.partner.worker import OutboxWorker
from gateway.stack import ensure_deployed

pytestmark = pytest.mark.integration

GTIN = "00614141812349"
_serials = itertools.count(1)


def item_urn(serial: str) -> str:
    return f"urn:epc:id:sgtin:0614141.081234.{serial}"


def new_serial(prefix: str = "X") -> str:
    return f"{prefix}{next(_serials)}"


@dataclass
class Stack:
    url: str
    services: Services
    server: uvicorn.Server
    thread: threading.Thread
    admin_key: str

    @property
    def worker(self) -> OutboxWorker:
        assert self.services.worker is not None
        return self.services.worker

    @property
    def ledger(self) -> CustodyLedgerClient:
        return self.services.ledger

    def client(self, key: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)

    def stop(self, crash: bool = False) -> None:
        if crash:
            self.worker._release_lease = lambda: None  # type: ignore[method-assign] # a dead process frees nothing
        self.server.should_exit = True
        self.thread.join(timeout=20)
        assert not self.thread.is_alive()


def start_stack(
    data_dir: Path, rpc_url: str, *, run_worker: bool, database_url: str | None = None, batch_size: int = 200
) -> Stack:
    settings = Settings(
        data_dir=data_dir,
        gateway_port=free_port(),
        keystore_passphrase=SecretStr("test-passphrase"),
        keystore_scrypt_n=2**12,  # still scrypt-encrypted, just cheaper to open in tests
        run_worker=run_worker,
        batch_size=batch_size,
        database_url=database_url,
    )
    ensure_deployed(settings, rpc_url)
    app = create_app(settings, rpc_url=rpc_url)
    services: Services = app.state.services
    admin_key = services.api_keys.create("admin", name="test admin").key
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=settings.gateway_port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the gateway did not start"
        time.sleep(0.02)
    return Stack(f"http://127.0.0.1:{settings.gateway_port}", services, server, thread, admin_key)


@contextmanager
def running(data_dir: Path, rpc_url: str, **kwargs: Any) -> Iterator[Stack]:
    stack = start_stack(data_dir, rpc_url, **kwargs)
    try:
        yield stack
    finally:
        if stack.thread.is_alive():
            stack.stop()


@contextmanager
def own_node(directory: Path) -> Iterator[AnvilNode]:
    with AnvilNode(AnvilConfig(log_path=directory / "anvil.log")) as node:
        yield node


class Onboarded(NamedTuple):
    partner_id: int
    key: str
    account: str | None  # custodial, held by the gateway
    own: LocalSigner | None  # the partner's own key (non-custodial)


def onboard(stack: Stack, *, custodial: bool = True) -> Onboarded:
    """Registers a manufacturer through the admin API."""
    own = None if custodial else LocalSigner.generate()
    with stack.client(stack.admin_key) as admin:
        response = admin.post("/v1/admin/partners", json={
            "name": f"maker-{next(_serials)}", "role": "manufacturer", "custodial": custodial,
            "accounts": [own.address] if own else [],
        })  # fmt: skip
    assert response.status_code == 201, response.text
    body = response.json()
    return Onboarded(body["partner_id"], body["api_key"]["key"], body["custodial_account"], own)


def submit_items(client: httpx.Client, count: int, idempotency_key: str | None = None) -> list[tuple[str, str]]:
    """``count`` submissions of one new item each, in one batch request: (submission id, object id)."""
    serials = [new_serial("R") for _ in range(count)]
    body = {"operations": [{"operation": "register_items", "items": [{"gtin": GTIN, "serial": s}]} for s in serials]}
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    response = client.post("/v1/batch", json=body, headers=headers)
    assert response.status_code == 202, response.text
    subs = response.json()
    assert [s["status"] for s in subs] == ["pending"] * count
    return [(sub["id"], object_id(item_urn(serial))) for sub, serial in zip(subs, serials, strict=True)]


def signed_body(stack: Stack, own: LocalSigner, nonce: int, serial: str | None = None) -> dict[str, Any]:
    """A partner-signed registerItems call with ``nonce`` (the body of POST /v1/signed-calls)."""
    call = stack.ledger.sign(own, "registerItems", [(item_urn(serial or new_serial("SG")), "", 0, 0, 0)],
                             nonce=nonce, deadline=int(time.time()) + 600)  # fmt: skip
    return {"signer": call.signer, "data": "0x" + call.data.hex(), "nonce": call.nonce, "deadline": call.deadline,
            "signature": "0x" + call.signature.hex()}  # fmt: skip


def statuses(stack: Stack) -> Counter[str]:
    with stack.services.sessions() as session:
        return Counter(r.status for r in session.scalars(select(SubmissionRow)))


def deliveries(stack: Stack) -> list[WebhookDeliveryRow]:
    with stack.services.sessions() as session:
        rows = list(session.scalars(select(WebhookDeliveryRow).order_by(WebhookDeliveryRow.created_at)))
        session.expunge_all()
        return rows


def drive(stack: Stack, until: Callable[[], bool], timeout: float = 60.0) -> None:
    """Runs the outbox worker by hand until ``until()``."""
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, f"timed out; statuses {statuses(stack)}"
        if not stack.worker.run_once():
            time.sleep(0.05)


def all_final(stack: Stack) -> Callable[[], bool]:
    return lambda: set(statuses(stack)) <= {"confirmed", "failed"}


def settle_all(client: httpx.Client, ids: list[str], timeout: float = 60.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    finals = []
    for sid in ids:
        while True:
            body = client.get(f"/v1/submissions/{sid}").json()
            if body["status"] in ("confirmed", "failed"):
                finals.append(body)
                break
            assert time.monotonic() < deadline, body
            time.sleep(0.05)
    return finals


def fast_webhooks(stack: Stack, **changes: Any) -> None:
    """Retries within a test's patience: 0.1 s, 0.2 s, 0.4 s … (capped at 1 s)."""
    notifier = stack.services.notifier
    defaults: dict[str, Any] = {"base_delay": 0.1, "max_delay": 1.0, "poll_interval": 0.05, "timeout": 2.0}
    notifier.settings = dataclasses.replace(notifier.settings, **{**defaults, **changes})


# --- a webhook receiver that can be down --------------------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        receiver: HookReceiver = self.server.receiver  # type: ignore[attr-defined]
        status = receiver.answer()
        if status < 300:
            receiver.received.put(Received(dict(self.headers), body))
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class HookReceiver:
    """A real HTTP server on a port of its own; down (refusing connections) until :meth:`up`."""

    port: int = field(default_factory=free_port)
    received: queue.Queue[Received] = field(default_factory=queue.Queue)
    failures: list[int] = field(default_factory=list)  # statuses to answer first, then 204
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def answer(self) -> int:
        with self._lock:
            return self.failures.pop(0) if self.failures else 204

    def up(self) -> None:
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _Handler)
        server.receiver = self  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._server = server

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def drain(self) -> list[Received]:
        got: list[Received] = []
        while True:
            try:
                got.append(self.received.get_nowait())
            except queue.Empty:
                return got

    def collect(self, until: Callable[[list[Received]], bool], timeout: float = 30.0) -> list[Received]:
        """Everything received until ``until(all received so far)``."""
        got: list[Received] = []
        deadline = time.monotonic() + timeout
        while not until(got):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"timed out after {len(got)} deliveries"
            with suppress(queue.Empty):
                got.append(self.received.get(timeout=min(remaining, 0.5)))
        return got
