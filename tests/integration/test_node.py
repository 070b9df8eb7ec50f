"""Node lifecycle: persisted state survives a restart; clear errors for the usual mistakes."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from chain_client.deploy import DeploymentRecord, deploy
from chain_client.errors import ChainIdMismatch, NodeNotReachable, PortInUse, ToolchainError
from chain_client.events import ItemRegistered
from chain_client.ledger import CustodyLedgerClient, object_id
from chain_client.models import PartnerRole, Registration
from chain_client.node import ANVIL_DEFAULT_MNEMONIC, AnvilConfig, AnvilNode, free_port, wait_for_rpc
from chain_client.signers import LocalSigner
from chain_client.tx import TxSender, connect

pytestmark = pytest.mark.integration


def _ledger(node: AnvilNode, address: str | None = None, record: DeploymentRecord | None = None) -> CustodyLedgerClient:
    w3 = connect(node.rpc_url)
    admin = LocalSigner.from_mnemonic(ANVIL_DEFAULT_MNEMONIC, 0)
    sender = TxSender(w3, admin, CustodyLedgerClient.revert_decoder())
    if address is None:
        address = deploy(sender, "CustodyLedger", admin.address, record=record).address
    return CustodyLedgerClient(sender, address)


def test_restart_with_persisted_state_keeps_the_chain(tmp_path: Path) -> None:
    config = AnvilConfig(state_path=tmp_path / "state.json")
    epc = "urn:epc:id:sgtin:0614141.812345.persist-1"
    record = DeploymentRecord(tmp_path, 31337)
    with AnvilNode(config) as node:
        ledger = _ledger(node, record=record)
        admin = ledger.sender.address
        partner_id = ledger.register_partner("maker", PartnerRole.MANUFACTURER, [admin]).events[0].partner_id  # type: ignore[attr-defined]
        ledger.register_item(Registration(epc=epc, lot="P1"))
        block = ledger.sender.w3.eth.block_number
    assert config.state_path is not None and config.state_path.exists()

    with AnvilNode(config) as node:  # a new process loads the dumped state
        reloaded = DeploymentRecord(tmp_path, 31337)
        ledger = _ledger(node, reloaded.get("CustodyLedger").address)
        assert reloaded.is_live(ledger.sender.w3, "CustodyLedger")
        assert ledger.sender.w3.eth.block_number == block
        assert ledger.custodian_of(object_id(epc)) == partner_id
        events = [e for e in ledger.get_events() if isinstance(e, ItemRegistered)]
        assert [e.epc for e in events] == [epc]  # past logs are still served after the reload


def test_killed_node_keeps_state_up_to_last_periodic_dump(tmp_path: Path) -> None:
    config = AnvilConfig(state_path=tmp_path / "state.json", state_interval=1)
    with AnvilNode(config) as node:
        ledger = _ledger(node)
        time.sleep(2.5)  # let at least one periodic dump happen after the deployment
        node.kill()
    with AnvilNode(config) as node:
        assert len(connect(node.rpc_url).eth.get_code(ledger.address)) > 0  # type: ignore[arg-type]


def test_chain_id_is_checked(anvil: AnvilNode) -> None:
    assert wait_for_rpc(anvil.rpc_url, expected_chain_id=31337) == 31337
    with pytest.raises(ChainIdMismatch, match="CUSTODY_CHAIN_ID"):
        wait_for_rpc(anvil.rpc_url, expected_chain_id=1)


def test_custom_chain_id_and_block_time(tmp_path: Path) -> None:
    with AnvilNode(AnvilConfig(chain_id=4242, block_time=1)) as node:
        assert wait_for_rpc(node.rpc_url, expected_chain_id=4242) == 4242


def test_port_taken_is_a_clear_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(PortInUse, match=f"Port {port}.*CUSTODY_ANVIL_PORT"):
            AnvilNode(AnvilConfig(port=port)).start()


def test_unreachable_node_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(NodeNotReachable, match="CUSTODY_RPC_URL"):
        wait_for_rpc(url, timeout=0.3)
    with pytest.raises(NodeNotReachable, match="CUSTODY_RPC_URL"):
        connect(url)


def test_missing_anvil_binary_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("chain_client._paths.NODE_MODULES", tmp_path)
    with pytest.raises(ToolchainError, match="bootstrap"):
        AnvilNode().start()


def test_stop_leaves_no_process(tmp_path: Path) -> None:
    node = AnvilNode().start()
    pid = node.pid
    assert pid is not None
    node.stop()
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
