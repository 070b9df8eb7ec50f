"""``./scripts/start``: the whole stack on one machine.

Starts the embedded Anvil node (unless CUSTODY_RPC_URL names another node) with its state in
the data folder, deploys the ledger once per chain (the record survives restarts), then serves
the gateway until Ctrl-C, and stops everything it started.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
from collections.abc import Iterator

import uvicorn

from chain_client.artifacts import load_artifact
from chain_client.deploy import Deployment, DeploymentRecord, deploy
from chain_client.errors import CustodyClientError, PortInUse
from chain_client.ledger import CONTRACT_NAME
from chain_client.node import AnvilConfig, AnvilNode, wait_for_rpc
from chain_client.reverts import RevertDecoder
from chain_client.tx import TxSender, connect
from gateway.core.chain import admin_signer
from gateway.core.config import Settings
from gateway.main import create_app

__all__ = ["ensure_deployed", "main", "running_node"]


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
    """Deploys the ledger unless the record for this chain points at live code."""
    w3 = connect(rpc_url)
    chain_id = int(w3.eth.chain_id)
    record = DeploymentRecord(settings.data_dir, chain_id)
    if record.is_live(w3, CONTRACT_NAME):
        return record.get(CONTRACT_NAME)
    signer = admin_signer(settings)
    sender = TxSender(w3, signer, RevertDecoder([load_artifact(CONTRACT_NAME).abi]))
    return deploy(sender, CONTRACT_NAME, signer.address, record=record)


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            raise PortInUse(
                f"Port {port} on {host} is already in use, so the gateway cannot listen there. Stop what "
                "uses it or set CUSTODY_GATEWAY_PORT to another port."
            ) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/start", description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)
    try:
        settings = Settings()
        _check_port_free(settings.gateway_host, settings.gateway_port)
        with running_node(settings) as rpc_url:
            deployment = ensure_deployed(settings, rpc_url)
            app = create_app(settings, rpc_url=rpc_url)
            base = f"http://{settings.gateway_host}:{settings.gateway_port}"
            kind = "embedded Anvil" if settings.embedded_node else "external node"
            print(
                "\nChain of Custody Network is up\n"
                f"  Gateway        {base}\n"
                f"  API docs       {base}/docs\n"
                f"  Health         {base}/health\n"
                f"  EVM node       {rpc_url} (chain id {settings.chain_id}, {kind})\n"
                f"  {CONTRACT_NAME:<14} {deployment.address}\n"
                f"  Data folder    {settings.data_dir}\n"
                "Press Ctrl-C to stop.\n",
                flush=True,
            )
            server = uvicorn.Server(
                uvicorn.Config(app, host=settings.gateway_host, port=settings.gateway_port, log_level="warning")
            )
            server.run()
    except CustodyClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    print("Stopped.", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
