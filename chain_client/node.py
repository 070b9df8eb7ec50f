"""Lifecycle of the embedded Anvil node, and connecting to any EVM node by RPC URL.

The node runs from the pinned npm package ``@foundry-rs/anvil-linux-amd64`` in its own process
group, so that stopping it (or Ctrl-C on the parent) leaves no orphan behind. With a state file,
Anvil loads the chain at start and dumps it periodically and at exit, so a restart keeps it.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from chain_client._paths import npm_binary
from chain_client.errors import ChainIdMismatch, NodeNotReachable, NodeStartFailed, PortInUse, ToolchainError

__all__ = ["ANVIL_DEFAULT_MNEMONIC", "AnvilConfig", "AnvilNode", "free_port", "port_taken", "rpc_call", "wait_for_rpc"]

# Anvil's well-known development mnemonic: its keys are public, so they are for local chains only.
ANVIL_DEFAULT_MNEMONIC = "test test test test test test test test test test test junk"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_taken(host: str, port: int) -> bool:
    """Whether something already listens on ``host:port`` (binding there fails)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def rpc_call(url: str, method: str, params: list[Any] | None = None, timeout: float = 5.0) -> Any:
    """One JSON-RPC call with the standard library (used before web3 is wired, e.g. readiness)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise NodeNotReachable(
            f"No EVM node answers at {url} ({exc}). Start one (./scripts/start starts the embedded Anvil) "
            "or set CUSTODY_RPC_URL to a reachable node."
        ) from exc
    if "error" in payload:
        raise NodeNotReachable(f"{url} answered {method} with an error: {payload['error']}")
    return payload["result"]


def wait_for_rpc(url: str, timeout: float = 15.0, expected_chain_id: int | None = None) -> int:
    """Waits until ``url`` answers ``eth_chainId``; returns the chain id, checking it if asked."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            chain_id = int(rpc_call(url, "eth_chainId", timeout=2.0), 16)
            break
        except NodeNotReachable:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.05)
    if expected_chain_id is not None and chain_id != expected_chain_id:
        raise ChainIdMismatch(
            f"The node at {url} runs chain id {chain_id}, but {expected_chain_id} was expected. "
            "Point CUSTODY_RPC_URL at the right network or set CUSTODY_CHAIN_ID to match it."
        )
    return chain_id


@dataclass(frozen=True)
class AnvilConfig:
    """How to run the embedded node. ``port=0`` picks a free loopback port."""

    host: str = "127.0.0.1"
    port: int = 0
    chain_id: int = 31337
    block_time: float | None = None  # None: automine, one block per transaction
    state_path: Path | None = None  # load at start, dump periodically and at exit
    state_interval: int = 2  # seconds between periodic dumps (a kill -9 loses at most this much)
    accounts: int = 20  # index 19 is the local relayer (gateway.core.chain.RELAYER_INDEX)
    mnemonic: str = ANVIL_DEFAULT_MNEMONIC
    gas_limit: int = 30_000_000
    log_path: Path | None = None
    extra_args: tuple[str, ...] = field(default_factory=tuple)


class AnvilNode:
    """A running Anvil process. Use as a context manager or call :meth:`start`/:meth:`stop`."""

    def __init__(self, config: AnvilConfig | None = None) -> None:
        self.config = config or AnvilConfig()
        self.port = self.config.port
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def rpc_url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def command(self) -> list[str]:
        c = self.config
        binary = npm_binary("anvil")
        cmd = [
            str(binary),
            "--host", c.host,
            "--port", str(self.port),
            "--chain-id", str(c.chain_id),
            "--accounts", str(c.accounts),
            "--mnemonic", c.mnemonic,
            "--gas-limit", str(c.gas_limit),
        ]  # fmt: skip
        if c.block_time:
            cmd += ["--block-time", str(c.block_time)]
        if c.state_path is not None:
            # --preserve-historical-states keeps past blocks' state queryable after a reload.
            cmd += ["--state", str(c.state_path), "--state-interval", str(c.state_interval)]
        return cmd + list(c.extra_args)

    def start(self, timeout: float = 20.0) -> AnvilNode:
        if self.running:
            return self
        binary = npm_binary("anvil")
        if not binary.exists():
            raise ToolchainError(
                f"Anvil is not installed ({binary} is missing). Run ./scripts/bootstrap "
                "(it runs `npm ci --ignore-scripts`), or set CUSTODY_RPC_URL to use another node."
            )
        if self.port == 0:
            self.port = free_port(self.config.host)
        elif port_taken(self.config.host, self.port):
            raise PortInUse(
                f"Port {self.port} on {self.config.host} is already in use, so Anvil cannot listen there. "
                "Stop what uses it, or choose another port (CUSTODY_ANVIL_PORT=0 picks a free one)."
            )
        if self.config.state_path is not None:
            self.config.state_path.parent.mkdir(parents=True, exist_ok=True)
        log_path = self.config.log_path
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(log_path, "ab")  # noqa: SIM115 - kept open for the process lifetime
        self._process = subprocess.Popen(
            self.command(),
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT if self._log else subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # own process group: stop() kills the whole group
        )
        atexit.register(self.stop)
        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                raise NodeStartFailed(f"Anvil exited at start with code {code}. {self._log_tail()}")
            try:
                wait_for_rpc(self.rpc_url, timeout=0.2, expected_chain_id=self.config.chain_id)
                return self
            except NodeNotReachable:
                if time.monotonic() >= deadline:
                    self.stop()
                    raise NodeStartFailed(f"Anvil did not answer within {timeout:.0f}s. {self._log_tail()}") from None

    def _log_tail(self) -> str:
        if self.config.log_path is None or not self.config.log_path.exists():
            return ""
        tail = self.config.log_path.read_text(errors="replace").splitlines()[-10:]
        return "Last lines of its log:\n" + "\n".join(tail)

    def stop(self, timeout: float = 10.0) -> None:
        """Stops the node gracefully (SIGTERM lets Anvil dump its state), then forcibly."""
        process = self._process
        if process is None:
            return
        self._process = None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=timeout)
        if self._log is not None:
            self._log.close()
            self._log = None
        atexit.unregister(self.stop)

    def kill(self) -> None:
        """Kills the node at once (SIGKILL): simulates a crash, no final state dump."""
        process = self._process
        if process is None:
            return
        self._process = None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        atexit.unregister(self.stop)

    def __enter__(self) -> AnvilNode:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
