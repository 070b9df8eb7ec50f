"""Shared fixtures: a real Anvil node per session, the ledger deployed on it, partner signers."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import uvicorn
from web3 import Web3

from chain_client.artifacts import load_artifact
from chain_client.deploy import deploy
from chain_client.ledger import PARTNER_ROLE, REGISTRAR_ROLE, CustodyLedgerClient
from chain_client.models import Registration
from chain_client.node import ANVIL_DEFAULT_MNEMONIC, AnvilConfig, AnvilNode, free_port
from chain_client.reverts import RevertDecoder
from chain_client.signers import LocalSigner
from chain_client.tx import NonceManager, TxSender, connect
from gateway.core.config import Settings
from gateway.main import create_app
from gateway.stack import ensure_deployed

_serials = itertools.count(1)


def unique_serial(prefix: str = "S") -> str:
    """A serial no other test in this session uses, so tests share one chain without interfering."""
    return f"{prefix}{next(_serials)}"


def sgtin(serial: str, company_prefix: str = "0614141", item_ref: str = "812345") -> str:
    return f"urn:epc:id:sgtin:{company_prefix}.{item_ref}.{serial}"


@dataclass
class Network:
    node: AnvilNode
    w3: Web3
    admin: LocalSigner
    registrar: LocalSigner
    maker: LocalSigner
    distributor: LocalSigner
    pharmacy: LocalSigner
    outsider: LocalSigner
    ledger: CustodyLedgerClient  # sends as admin

    def as_(self, signer: LocalSigner) -> CustodyLedgerClient:
        return self.ledger.as_signer(signer)

    def register(self, custodian: LocalSigner | None = None, lot: str = "L1") -> str:
        """Registers a fresh item held by ``custodian`` (default: maker); returns its object id."""
        registration = Registration(epc=sgtin(unique_serial()), lot=lot)
        result = self.as_(self.registrar).register_item(registration, (custodian or self.maker).address)
        return str(result.events[0].object_id)  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    log = tmp_path_factory.mktemp("anvil") / "anvil.log"
    with AnvilNode(AnvilConfig(log_path=log)) as node:
        yield node


@pytest.fixture(scope="session")
def network(anvil: AnvilNode) -> Network:
    w3 = connect(anvil.rpc_url)
    signers = [LocalSigner.from_mnemonic(ANVIL_DEFAULT_MNEMONIC, i) for i in range(6)]
    admin, registrar, maker, distributor, pharmacy, outsider = signers
    nonces = NonceManager(w3)
    sender = TxSender(w3, admin, RevertDecoder([load_artifact("CustodyLedger").abi]), nonces)
    deployment = deploy(sender, "CustodyLedger", admin.address)
    ledger = CustodyLedgerClient(sender, deployment.address)
    ledger.grant_role(REGISTRAR_ROLE, registrar.address)
    for partner in (maker, distributor, pharmacy):
        ledger.grant_role(PARTNER_ROLE, partner.address)
    return Network(anvil, w3, admin, registrar, maker, distributor, pharmacy, outsider, ledger)


@dataclass
class Gateway:
    url: str
    settings: Settings
    server: uvicorn.Server


@pytest.fixture(scope="session")
def gateway(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """The gateway app served over real HTTP (uvicorn in a thread) against the session's node."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("gateway-data"), gateway_port=free_port())
    ensure_deployed(settings, anvil.rpc_url)
    app = create_app(settings, rpc_url=anvil.rpc_url)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=settings.gateway_port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{settings.gateway_port}"
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the gateway did not start")
        time.sleep(0.02)
    yield Gateway(url, settings, server)
    server.should_exit = True
    thread.join(timeout=10)
