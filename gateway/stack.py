"""``./scripts/start``: the whole stack on one machine.

Starts the embedded Anvil node (unless CUSTODY_RPC_URL names another node) with its state in
the data folder, deploys the ledger once per chain (the record survives restarts), then serves
the gateway until Ctrl-C, and stops everything it started.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import dataclasses
import gc
import multiprocessing
import os
import secrets
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from chain_client.artifacts import load_artifact
from chain_client.deploy import Deployment, DeploymentRecord, deploy
from chain_client.errors import CustodyClientError, PortInUse
from chain_client.ledger import CONTRACT_NAME, RELAY_NAME, CustodyLedgerClient
from chain_client.node import AnvilConfig, AnvilNode, port_taken, wait_for_rpc
from chain_client.tx import TxSender, connect
from gateway.api.server import server_config
from gateway.background import background_parts, http_settings, run_background
from gateway.core.chain import admin_signer
from gateway.core.config import Settings
from gateway.core.services import Services
from gateway.demo import seed_demo
from gateway.main import create_app

__all__ = [
    "ensure_admin_key",
    "ensure_deployed",
    "listening_socket",
    "local_settings",
    "main",
    "prepare_to_serve",
    "running_node",
    "serve",
]


@contextlib.contextmanager
def running_node(settings: Settings) -> Iterator[str]:
    """Yields the RPC URL of the node to use, starting (and finally stopping) the embedded one."""
    if not settings.embedded_node:
        assert settings.rpc_url is not None
        wait_for_rpc(settings.rpc_url, timeout=3, expected_chain_id=settings.chain_id)
        yield settings.rpc_url
        return
    config = AnvilConfig(
        port=settings.anvil_port,
        chain_id=settings.chain_id,
        block_time=settings.block_time,
        state_path=settings.data_dir / "anvil" / "state.json",
        log_path=settings.data_dir / "anvil" / "anvil.log",
    )
    with AnvilNode(config) as node:
        yield node.rpc_url


def ensure_deployed(settings: Settings, rpc_url: str) -> Deployment:
    """Deploys the ledger (and, through its constructor, its relay) unless the record for this
    chain points at live code; records both."""
    w3 = connect(rpc_url)
    chain_id = int(w3.eth.chain_id)
    record = DeploymentRecord(settings.data_dir, chain_id)
    if record.is_live(w3, CONTRACT_NAME) and record.is_live(w3, RELAY_NAME):
        return record.get(CONTRACT_NAME)
    signer = admin_signer(settings)
    sender = TxSender(w3, signer, CustodyLedgerClient.revert_decoder())
    ledger = deploy(sender, CONTRACT_NAME, signer.address, record=record)
    relay = CustodyLedgerClient(sender, ledger.address).relay_address
    record.put(
        dataclasses.replace(ledger, name=RELAY_NAME, address=relay, input_hash=load_artifact(RELAY_NAME).input_hash)
    )
    return ledger


def _check_port_free(host: str, port: int) -> None:
    if port_taken(host, port):
        raise PortInUse(
            f"Port {port} on {host} is already in use, so the gateway cannot listen there. Stop what "
            "uses it or set CUSTODY_GATEWAY_PORT to another port."
        )


def _local_secret(path: Path) -> Path:
    """A random secret kept in the data folder (mode 0600), made on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
    return path


def local_settings(settings: Settings) -> Settings:
    """On the embedded local chain, fill in what production must configure: a keystore passphrase."""
    if settings.embedded_node and settings.keystore_secret() is None:
        secret = _local_secret(settings.data_dir / "keystore-passphrase")
        return settings.model_copy(update={"keystore_passphrase_file": secret})
    return settings


def ensure_admin_key(services: Services) -> Path | None:
    """Creates the first admin API key when there is none, written to the data folder (0600)."""
    if any(k.kind == "admin" and k.revoked_at is None for k in services.api_keys.list()):
        return None
    path = services.settings.data_dir / "admin-api-key"
    created = services.api_keys.create("admin", name="bootstrap admin")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(created.key + "\n")
    return path


def listening_socket(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` that other processes may bind too (SO_REUSEPORT): the
    kernel then spreads new connections over the processes."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)  # exit handlers run: buffered scans are written


def _stop_on_sigterm(signum: int, frame: object) -> None:
    # uvicorn stops serving on SIGTERM, then raises it again; without a handler that would end
    # the process on the spot, leaving the embedded Anvil running. Stop as Ctrl-C does.
    raise KeyboardInterrupt


def _uvicorn(app: FastAPI) -> uvicorn.Server:
    return uvicorn.Server(server_config(app, log_level="warning", access_log=False))


def prepare_to_serve() -> None:
    """Tunes the interpreter of a process about to serve HTTP (not :func:`create_app`'s job: tests
    build many apps in one process).

    - What start-up built (modules, ABIs, schemas, the app) is moved out of the collector's
      sight: a full collection walked all of it, 80-470 ms each, stalling every request in flight
      (measured by an event-loop lag probe under load). Frozen objects are never collected.
    - The GIL is handed over every 1 ms rather than 5 ms: the scan-flush thread's Python work
      otherwise holds the event loop off for up to 5 ms a turn (paced p99 at 2,000/s: 14-15 ms
      with 5 ms, 5-8.5 ms with 1 ms in back-to-back runs)."""
    gc.collect()
    gc.freeze()
    sys.setswitchinterval(0.001)


def _replica(settings: Settings, rpc_url: str) -> None:
    """A further gateway process (``CUSTODY_GATEWAY_WORKERS`` > 1): the same app on the same port,
    without the indexer and the outbox worker, which run in background processes (D25, D29). It
    stops with the first process (SIGTERM from the kernel should that one die without stopping it)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    app = create_app(http_settings(settings), rpc_url=rpc_url)
    prepare_to_serve()
    # Bound once ready to serve: the kernel hands new connections to every bound socket, and
    # those given to a replica still starting (seconds) would wait for it.
    sock = listening_socket(settings.gateway_host, settings.gateway_port)
    _uvicorn(app).run(sockets=[sock])


class _Children:
    """The gateway's further processes (replicas, the background processes), started again when one
    ends abnormally while the gateway serves: killed by a signal (the OOM killer) or by an
    exception. One that exits cleanly (0: it was asked to stop, e.g. by Ctrl-C reaching the
    whole process group) is left stopped."""

    def __init__(self, specs: list[tuple[str, Callable[..., None], tuple[object, ...]]]) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._specs = specs
        self._processes = [self._spawn(spec) for spec in specs]
        self._restarts = [0] * len(specs)
        self._stopping = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="gateway-children", daemon=True)
        self._watcher.start()

    def _spawn(self, spec: tuple[str, Callable[..., None], tuple[object, ...]]) -> multiprocessing.process.BaseProcess:
        name, target, args = spec
        process = self._context.Process(target=target, args=args, name=name, daemon=True)
        process.start()
        return process

    def _watch(self) -> None:
        while not self._stopping.wait(1.0):
            for n, process in enumerate(self._processes):
                if process.exitcode is None or process.exitcode == 0 or self._stopping.is_set():
                    continue
                self._restarts[n] += 1
                delay = min(30.0, 2.0 ** (self._restarts[n] - 1))  # 1, 2, 4 … 30 s: no tight crash loop
                print(
                    f"{process.name} (pid {process.pid}) ended with exit code {process.exitcode}; "
                    f"starting it again in {delay:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
                if self._stopping.wait(delay):
                    return
                self._processes[n] = self._spawn(self._specs[n])

    def stop(self) -> None:
        self._stopping.set()
        self._watcher.join(timeout=5)
        for process in self._processes:  # after Ctrl-C in a terminal they stop by themselves
            process.join(timeout=2)
            if process.pid is not None and process.is_alive():
                os.kill(process.pid, signal.SIGTERM)
        for process in self._processes:
            process.join(timeout=15)
            if process.is_alive():
                process.kill()


def serve(app: FastAPI, settings: Settings, rpc_url: str) -> None:
    """Serves ``app`` until Ctrl-C or SIGTERM, in this process and ``gateway_workers - 1`` more.

    Every process keeps no state beyond caches (the database is shared), so any of them may take
    any request: the kernel balances connections between their sockets. More processes use more
    cores: one Python process serves on one core at a time. A further process that crashes is
    started again (:class:`_Children`)."""
    sock = listening_socket(settings.gateway_host, settings.gateway_port)
    specs: list[tuple[str, Callable[..., None], tuple[object, ...]]] = [
        (f"gateway-{n}", _replica, (settings, rpc_url)) for n in range(1, settings.gateway_workers)
    ]
    # D25: not threads of a process serving HTTP; and not threads of one process either (D29)
    specs += [(name, run_background, (part, rpc_url)) for name, part in background_parts(settings)]
    children = _Children(specs)
    prepare_to_serve()
    try:
        _uvicorn(app).run(sockets=[sock])
    finally:
        children.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/start", description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo", action="store_true", help="seed a demo supply network (demo-credentials.json)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        settings = local_settings(Settings())
        _check_port_free(settings.gateway_host, settings.gateway_port)
        with running_node(settings) as rpc_url:
            deployment = ensure_deployed(settings, rpc_url)
            app = create_app(http_settings(settings), rpc_url=rpc_url)
            services: Services = app.state.services
            admin_key_file = ensure_admin_key(services)
            demo = seed_demo(services) if args.demo else None
            base = f"http://{settings.gateway_host}:{settings.gateway_port}"
            kind = "embedded Anvil" if settings.embedded_node else "external node"
            print(
                "\nChain of Custody Network is up\n"
                f"  Gateway        {base}\n"
                f"  API docs       {base}/docs\n"
                f"  Health         {base}/health\n"
                f"  EVM node       {rpc_url} (chain id {settings.chain_id}, {kind})\n"
                f"  {CONTRACT_NAME:<14} {deployment.address}\n"
                f"  {RELAY_NAME:<14} {DeploymentRecord(settings.data_dir, settings.chain_id).get(RELAY_NAME).address}\n"
                f"  Data folder    {settings.data_dir}\n"
                + (f"  Admin API key  {admin_key_file} (new)\n" if admin_key_file else "")
                + (f"  Demo network   {demo}\n" if demo else "")
                + "Press Ctrl-C to stop.\n",
                flush=True,
            )
            serve(app, settings, rpc_url)
    except CustodyClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    print("Stopped.", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
