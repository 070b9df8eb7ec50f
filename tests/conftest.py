"""Shared fixtures: a real Anvil node per session, the ledger deployed on it, a partner network."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import uvicorn
from web3 import Web3

from chain_client.deploy import deploy
from chain_client.events import ItemRegistered, LogisticUnitRegistered, LotRegistered
from chain_client.ledger import CustodyLedgerClient
from chain_client.models import LotOutput, PartnerRole, Registration
from chain_client.node import ANVIL_DEFAULT_MNEMONIC, AnvilConfig, AnvilNode, free_port
from chain_client.signers import LocalSigner
from chain_client.tx import NonceManager, TxSender, connect
from gateway.api.server import server_config
from gateway.core.config import Settings
from gateway.core.services import Services
from gateway.main import create_app
from gateway.stack import ensure_deployed

_serials = itertools.count(1)

COMPANY_PREFIX = "0614141"
# GLNs with valid GS1 check digits, one per partner location.
MAKER_GLN = "0614141000005"
MAKER2_GLN = "0614141000012"
DISTRIBUTOR_GLN = "0614141000029"
PHARMACY_GLN = "0614141000036"
AUDITOR_GLN = "0614141000043"


def unique_serial(prefix: str = "S") -> str:
    """A serial no other test in this session uses, so tests share one chain without interfering."""
    return f"{prefix}{next(_serials)}"


def sgtin(serial: str, item_ref: str = "812345") -> str:
    return f"urn:epc:id:sgtin:{COMPANY_PREFIX}.{item_ref}.{serial}"


def lgtin(lot: str, item_ref: str = "812345") -> str:
    return f"urn:epc:class:lgtin:{COMPANY_PREFIX}.{item_ref}.{lot}"


def sscc(serial_ref: str) -> str:
    return f"urn:epc:id:sscc:{COMPANY_PREFIX}.{serial_ref}"


@dataclass
class Partner:
    name: str
    role: PartnerRole
    signer: LocalSigner
    gln: str
    id: int = 0


@dataclass
class Network:
    node: AnvilNode
    w3: Web3
    admin: LocalSigner
    ledger: CustodyLedgerClient  # sends as admin
    partners: dict[str, Partner]
    outsider: LocalSigner
    _clients: dict[str, CustodyLedgerClient] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Partner:
        try:
            return self.partners[name]
        except KeyError:
            raise AttributeError(name) from None

    def as_(self, who: Partner | LocalSigner) -> CustodyLedgerClient:
        signer = who.signer if isinstance(who, Partner) else who
        if signer.address not in self._clients:
            self._clients[signer.address] = self.ledger.as_signer(signer)
        return self._clients[signer.address]

    def register(self, lot: str = "L1", by: Partner | None = None) -> str:
        """Registers a fresh item commissioned by ``by`` (default: maker); returns its object id."""
        result = self.as_(by or self.partners["maker"]).register_item(Registration(epc=sgtin(unique_serial()), lot=lot))
        return str(result.of(ItemRegistered)[0].object_id)

    def register_many(self, n: int, lot: str = "L1", by: Partner | None = None) -> list[str]:
        regs = [Registration(epc=sgtin(unique_serial()), lot=lot) for _ in range(n)]
        result = self.as_(by or self.partners["maker"]).register_items(regs)
        return [e.object_id for e in result.of(ItemRegistered)]

    def register_lot(self, quantity: int = 100, unit: str = "KGM", by: Partner | None = None) -> str:
        lot = unique_serial("LOT")
        output = LotOutput(Registration(epc=lgtin(lot), lot=lot), quantity, unit)
        result = self.as_(by or self.partners["maker"]).register_lot(output)
        return str(result.of(LotRegistered)[0].object_id)

    def register_sscc(self, by: Partner | None = None) -> str:
        ref = f"{next(_serials):010d}"
        result = self.as_(by or self.partners["maker"]).register_logistic_units([sscc(ref)])
        return str(result.of(LogisticUnitRegistered)[0].object_id)


def build_network(node: AnvilNode) -> Network:
    """Deploys a ledger on ``node`` and registers five partners (accounts 1-5 of the dev mnemonic)."""
    w3 = connect(node.rpc_url)
    admin = LocalSigner.from_mnemonic(ANVIL_DEFAULT_MNEMONIC, 0)
    sender = TxSender(w3, admin, CustodyLedgerClient.revert_decoder(), NonceManager(w3))
    ledger = CustodyLedgerClient(sender, deploy(sender, "CustodyLedger", admin.address).address)
    specs = [
        ("maker", PartnerRole.MANUFACTURER, MAKER_GLN),
        ("maker2", PartnerRole.MANUFACTURER, MAKER2_GLN),
        ("distributor", PartnerRole.DISTRIBUTOR, DISTRIBUTOR_GLN),
        ("pharmacy", PartnerRole.DISPENSER, PHARMACY_GLN),
        ("auditor", PartnerRole.AUDITOR, AUDITOR_GLN),
    ]
    partners: dict[str, Partner] = {}
    for index, (name, role, gln) in enumerate(specs, start=1):
        signer = LocalSigner.from_mnemonic(ANVIL_DEFAULT_MNEMONIC, index)
        result = ledger.register_partner(name, role, [signer.address], [gln])
        partners[name] = Partner(name, role, signer, gln, result.events[0].partner_id)  # type: ignore[attr-defined]
    outsider = LocalSigner.from_mnemonic(ANVIL_DEFAULT_MNEMONIC, 9)
    return Network(node, w3, admin, ledger, partners, outsider)


@pytest.fixture(scope="session")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    log = tmp_path_factory.mktemp("anvil") / "anvil.log"
    with AnvilNode(AnvilConfig(log_path=log)) as node:
        yield node


@pytest.fixture(scope="session")
def network(anvil: AnvilNode) -> Network:
    return build_network(anvil)


@dataclass
class Gateway:
    url: str
    settings: Settings
    server: uvicorn.Server
    services: Services
    admin_key: str

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


@pytest.fixture(scope="session")
def gateway(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """The gateway app served over real HTTP (uvicorn in a thread) against the session's node."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("gateway-data"),
        gateway_port=free_port(),
        keystore_passphrase="test-passphrase",
        keystore_scrypt_n=2**12,  # keystores still scrypt-encrypted, just cheaper to open in tests
        # its own admin account, so its nonces never race the `network` fixture's (account 0)
        deployer_key=LocalSigner.from_mnemonic(ANVIL_DEFAULT_MNEMONIC, 8).private_key.hex(),
    )
    ensure_deployed(settings, anvil.rpc_url)
    app = create_app(settings, rpc_url=anvil.rpc_url)
    services: Services = app.state.services
    admin_key = services.api_keys.create("admin", name="test admin").key
    server = uvicorn.Server(server_config(app, host="127.0.0.1", port=settings.gateway_port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{settings.gateway_port}"
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the gateway did not start")
        time.sleep(0.02)
    yield Gateway(url, settings, server, services, admin_key)
    server.should_exit = True
    thread.join(timeout=10)
