"""Emergency pause against a real Anvil node: every partner operation stops, unpause restores, pauser only.

The module runs on a ledger of its own, so that a failing test cannot leave the session's ledger paused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest

from chain_client.errors import ContractRevert
from chain_client.events import GenericEvent, ItemRegistered, RoleGranted, SignedCallFailed
from chain_client.ledger import PAUSER_ROLE, CustodyLedgerClient
from chain_client.models import DocumentType, GenealogyInput, LotOutput, PartnerRole, Registration, ShipmentInfo, Status
from chain_client.node import AnvilConfig, AnvilNode
from tests.conftest import Network, build_network, lgtin, sgtin, sscc, unique_serial

pytestmark = pytest.mark.integration

CID = bytes.fromhex("1220" + "cd" * 32)


@contextmanager
def reverts(name: str, code: str, **arguments: Any) -> Iterator[None]:
    """Expects the block to revert with exactly this custom error, code and arguments."""
    with pytest.raises(ContractRevert) as info:
        yield
    assert (info.value.name, info.value.code, info.value.arguments) == (name, code, arguments)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    log: Path = tmp_path_factory.mktemp("anvil-pause") / "anvil.log"
    with AnvilNode(AnvilConfig(log_path=log)) as node:
        yield build_network(node)


@dataclass
class Objects:
    item: str
    inbound: str  # in transit from the maker to the distributor
    case: str
    packed: str
    lot: str
    lot2: str


@pytest.fixture(scope="module")
def objects(net: Network) -> Objects:
    maker = net.as_(net.maker)
    item, inbound, packed = net.register_many(3)
    case = net.register_sscc()
    maker.pack(case, [packed])
    maker.ship([inbound], ShipmentInfo(net.distributor.id))
    return Objects(item, inbound, case, packed, net.register_lot(10), net.register_lot(10))


@pytest.fixture
def paused(net: Network, objects: Objects) -> Iterator[Objects]:
    net.ledger.pause()
    yield objects
    net.ledger.unpause()


def is_paused(net: Network) -> bool:
    return bool(net.ledger.contract.functions.paused().call())


def lot_output() -> LotOutput:
    number = unique_serial("LOT")
    return LotOutput(Registration(lgtin(number), number), 1, "KGM")


def partner(net: Network, name: str) -> CustodyLedgerClient:
    return net.as_(net.partners[name])


OPERATIONS: list[Any] = [
    pytest.param(
        lambda n, o: partner(n, "maker").register_item(Registration(sgtin(unique_serial()))), id="register_items"
    ),
    pytest.param(lambda n, o: partner(n, "maker").register_lot(lot_output()), id="register_lot"),
    pytest.param(
        lambda n, o: partner(n, "distributor").register_logistic_units([sscc(unique_serial())]), id="register_sscc"
    ),
    pytest.param(lambda n, o: partner(n, "maker").ship([o.item], ShipmentInfo(n.distributor.id)), id="ship"),
    pytest.param(lambda n, o: partner(n, "distributor").receive([o.inbound]), id="receive"),
    pytest.param(lambda n, o: partner(n, "distributor").reject([o.inbound], "late"), id="reject"),
    pytest.param(lambda n, o: partner(n, "maker").cancel_shipment([o.inbound]), id="cancel"),
    pytest.param(lambda n, o: partner(n, "maker").transfer([o.item], n.distributor.id), id="transfer"),
    pytest.param(lambda n, o: partner(n, "maker").transfer_ownership([o.item], n.pharmacy.id), id="transfer_ownership"),
    pytest.param(lambda n, o: partner(n, "maker").pack(o.case, [o.item]), id="pack"),
    pytest.param(lambda n, o: partner(n, "maker").unpack(o.case, [o.packed]), id="unpack"),
    pytest.param(lambda n, o: partner(n, "maker").split_lot(o.lot, [lot_output()]), id="split"),
    pytest.param(lambda n, o: partner(n, "maker").merge_lots([o.lot, o.lot2], lot_output()), id="merge"),
    pytest.param(
        lambda n, o: partner(n, "maker").transform([GenealogyInput(o.lot, 1)], [lot_output()]), id="transform"
    ),
    pytest.param(lambda n, o: partner(n, "maker").set_status([o.item], Status.QUARANTINED), id="set_status"),
    pytest.param(lambda n, o: partner(n, "maker").recall(o.item, "contamination"), id="recall"),
    pytest.param(lambda n, o: n.ledger.recall(o.item, "regulator"), id="recall-by-admin"),
    pytest.param(
        lambda n, o: partner(n, "maker").anchor_document(o.item, DocumentType.OTHER, CID), id="anchor_document"
    ),
    pytest.param(lambda n, o: partner(n, "auditor").anchor_event_batch(b"\x07" * 32, 1), id="anchor_event_batch"),
    pytest.param(lambda n, o: n.as_(n.outsider).register_item(Registration(sgtin(unique_serial()))), id="outsider"),
]


@pytest.mark.parametrize("operation", OPERATIONS)
def test_every_partner_operation_stops_while_paused(
    net: Network, paused: Objects, operation: Callable[[Network, Objects], object]
) -> None:
    assert is_paused(net)
    with reverts("EnforcedPause", "pausable.enforced_pause"):
        operation(net, paused)
    view = net.ledger.custody_of(paused.item)
    assert (view.status, view.custodian, view.owner) == (Status.ACTIVE, net.maker.id, net.maker.id)


def test_relayed_operations_stop_too(net: Network, paused: Objects) -> None:
    call = net.ledger.sign(net.maker.signer, "transfer", [bytes.fromhex(paused.item[2:])], net.distributor.id)
    with reverts("EnforcedPause", "pausable.enforced_pause"):
        net.ledger.execute_signed(call)
    result = net.ledger.execute_signed_batch([call])  # the relay runs, the ledger refuses the entry
    failure = result.of(SignedCallFailed)[0]
    decoded = CustodyLedgerClient.revert_decoder().decode(failure.reason)
    assert isinstance(decoded, ContractRevert) and decoded.name == "EnforcedPause"
    assert net.ledger.custodian_of(paused.item) == net.maker.id


def test_reads_and_the_directory_work_while_paused(net: Network, paused: Objects) -> None:
    assert net.as_(net.auditor).custody_of(paused.item).custodian == net.maker.id
    assert net.ledger.lot_balance(paused.lot) == (10, "KGM")
    # the admin can still act on the directory in an emergency, e.g. suspend a compromised partner
    net.ledger.set_partner_active(net.maker2.id, False)
    net.ledger.set_partner_active(net.maker2.id, True)
    assert net.ledger.partner(net.maker2.id) == (PartnerRole.MANUFACTURER, True)


def test_pause_twice_and_unpause_twice(net: Network, objects: Objects) -> None:
    with reverts("ExpectedPause", "pausable.expected_pause"):
        net.ledger.unpause()
    net.ledger.pause()
    try:
        with reverts("EnforcedPause", "pausable.enforced_pause"):
            net.ledger.pause()
    finally:
        net.ledger.unpause()
    assert not is_paused(net)


def test_unpause_restores_operations(net: Network, objects: Objects) -> None:
    admin = net.admin.address
    paused = net.ledger.pause()
    assert paused.events == [GenericEvent(meta=ANY, name="Paused", args={"account": admin})]
    try:
        with reverts("EnforcedPause", "pausable.enforced_pause"):
            net.as_(net.maker).register_item(Registration(sgtin(unique_serial())))
    finally:
        unpaused = net.ledger.unpause()
    assert unpaused.events == [GenericEvent(meta=ANY, name="Unpaused", args={"account": admin})]
    assert not is_paused(net)
    item = net.as_(net.maker).register_item(Registration(sgtin(unique_serial()))).of(ItemRegistered)[0].object_id
    net.as_(net.maker).transfer([item], net.distributor.id)
    assert net.ledger.custodian_of(item) == net.distributor.id


def test_only_the_pauser_pauses(net: Network, objects: Objects) -> None:
    for who in (net.maker.signer, net.outsider):
        client = net.as_(who)
        with reverts(
            "AccessControlUnauthorizedAccount",
            "access_control.unauthorized_account",
            account=who.address,
            neededRole=PAUSER_ROLE,
        ):
            client.pause()
    net.ledger.pause()
    try:
        with reverts(
            "AccessControlUnauthorizedAccount",
            "access_control.unauthorized_account",
            account=net.maker.signer.address,
            neededRole=PAUSER_ROLE,
        ):
            net.as_(net.maker).unpause()
    finally:
        net.ledger.unpause()


def test_a_granted_pauser_pauses(net: Network, objects: Objects) -> None:
    guardian = net.outsider
    assert not net.ledger.has_role(PAUSER_ROLE, guardian.address)
    granted = net.ledger.grant_role(PAUSER_ROLE, guardian.address)
    assert granted.events == [
        RoleGranted(meta=ANY, role=PAUSER_ROLE, account=guardian.address, sender=net.admin.address)
    ]
    net.as_(guardian).pause()
    try:
        assert is_paused(net)
    finally:
        net.as_(guardian).unpause()
    assert not is_paused(net)
