"""Packing and unpacking against a real Anvil node: nested containers move as one, contents stay with them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest.mock import ANY

import pytest

from chain_client.errors import ContractRevert
from chain_client.events import (
    LogisticUnitRegistered,
    ObjectPacked,
    ObjectReceived,
    ObjectShipped,
    ObjectUnpacked,
    OwnershipTransferred,
    ShipmentDispatched,
)
from chain_client.ledger import object_id
from chain_client.models import GenealogyInput, LotOutput, PartnerRole, Registration, ShipmentInfo, Status
from tests.conftest import Network, lgtin, sgtin, sscc, unique_serial

pytestmark = pytest.mark.integration


@contextmanager
def reverts(name: str, code: str, **arguments: Any) -> Iterator[None]:
    """Expects the block to revert with exactly this custom error, code and arguments."""
    with pytest.raises(ContractRevert) as info:
        yield
    assert (info.value.name, info.value.code, info.value.arguments) == (name, code, arguments)


def ssccs(network: Network, n: int, by: Any = None) -> list[str]:
    urns = [sscc(f"{int(unique_serial('')):010d}") for _ in range(n)]
    result = network.as_(by or network.maker).register_logistic_units(urns)
    return [e.object_id for e in result.of(LogisticUnitRegistered)]


def placement(network: Network, object_id_: str) -> tuple[str | None, str, int, int, Status, int]:
    """(parent, root, custodian, owner, status, pending receiver) as the ledger reports them."""
    v = network.ledger.custody_of(object_id_)
    return v.parent, v.root, v.custodian, v.owner, v.status, v.pending_receiver


def parent_of(network: Network, object_id_: str) -> str:
    return "0x" + bytes(network.ledger.contract.functions.parentOf(bytes.fromhex(object_id_[2:])).call()).hex()


# --- pack ----------------------------------------------------------------------------------------


def test_pack_items_into_a_case(network: Network) -> None:
    items = network.register_many(3)
    case = network.register_sscc()
    m = network.maker.id

    result = network.as_(network.maker).pack(case, items)

    assert result.events == [ObjectPacked(meta=ANY, child=i, parent=case, partner_id=m) for i in items]
    for item in items:
        assert placement(network, item) == (case, case, m, m, Status.ACTIVE, 0)
        assert parent_of(network, item) == case
    assert placement(network, case) == (None, case, m, m, Status.ACTIVE, 0)
    assert parent_of(network, case) == "0x" + "00" * 32


def test_items_and_lots_are_containers_or_contents(network: Network) -> None:
    kit, component = network.register_many(2)
    lot = network.register_lot(40, "KGM")
    case = network.register_sscc()
    maker = network.as_(network.maker)
    maker.pack(kit, [component])  # a serialized kit holds a serialized component
    maker.pack(case, [kit, lot])  # a case holds a kit and a lot
    assert placement(network, component)[:2] == (kit, case)
    assert placement(network, lot)[:2] == (case, case)
    assert network.ledger.lot_balance(lot) == (40, "KGM")


def test_shipping_the_outermost_container_moves_four_levels(network: Network) -> None:
    m, d = network.maker.id, network.distributor.id
    maker = network.as_(network.maker)
    items = network.register_many(4)
    case1, case2, pallet, container = ssccs(network, 4)
    maker.pack(case1, items[:2])
    maker.pack(case2, items[2:])
    maker.pack(pallet, [case1, case2])
    maker.pack(container, [pallet])
    innermost = items[0]
    assert placement(network, innermost) == (case1, container, m, m, Status.ACTIVE, 0)

    shipped = maker.ship([container], ShipmentInfo(d, transfer_ownership=True))

    sid = shipped.of(ShipmentDispatched)[0].shipment_id
    assert shipped.of(ShipmentDispatched)[0].object_count == 1
    assert shipped.of(ObjectShipped) == [ObjectShipped(meta=ANY, object_id=container, shipment_id=sid)]
    for obj in [*items, case1, case2, pallet, container]:
        view = network.ledger.custody_of(obj)
        assert (view.status, view.custodian, view.pending_receiver, view.shipment_id, view.root) == (
            Status.IN_TRANSIT,
            m,
            d,
            sid,
            container,
        )

    received = network.as_(network.distributor).receive([container])

    assert received.events == [
        ObjectReceived(meta=ANY, object_id=container, shipment_id=sid, receiver=d, gln=None),
        OwnershipTransferred(meta=ANY, object_id=container, previous_owner=m, new_owner=d),
    ]
    assert placement(network, innermost) == (case1, container, d, d, Status.ACTIVE, 0)
    assert network.ledger.custodian_of(innermost) == d
    assert {network.ledger.custodian_of(i) for i in items} == {d}
    assert network.ledger.custody_of(innermost).shipment_id == 0


def test_a_packed_object_moves_only_with_its_container(network: Network) -> None:
    item = network.register()
    lot = network.register_lot(10, "KGM")
    case, other_case = ssccs(network, 2)
    m, d = network.maker.id, network.distributor.id
    maker = network.as_(network.maker)
    maker.pack(case, [item, lot])

    for child in (item, lot):
        with reverts("CustodyPackedObject", "custody.packed_object", objectId=child, parent=case):
            maker.ship([child], ShipmentInfo(d))
        with reverts("CustodyPackedObject", "custody.packed_object", objectId=child, parent=case):
            maker.transfer([child], d)
        with reverts("CustodyPackedObject", "custody.packed_object", objectId=child, parent=case):
            maker.transfer_ownership([child], d)
        with reverts("CustodyPackedObject", "custody.packed_object", objectId=child, parent=case):
            maker.pack(other_case, [child])
        with reverts("CustodyPackedObject", "custody.packed_object", objectId=child, parent=case):
            maker.pack(child, [other_case])  # nor serve as a container while packed
    number = unique_serial("LOT")
    with reverts("CustodyPackedObject", "custody.packed_object", objectId=lot, parent=case):
        maker.split_lot(lot, [LotOutput(Registration(lgtin(number), number), 1, "KGM")])
    with reverts("CustodyPackedObject", "custody.packed_object", objectId=item, parent=case):
        maker.transform([GenealogyInput(item, 1)], item_outputs=[Registration(sgtin(unique_serial()))])

    maker.ship([case], ShipmentInfo(d))
    with reverts("CustodyNotReceiver", "custody.not_receiver", objectId=item, partnerId=d, pendingReceiver=0):
        network.as_(network.distributor).receive([item])  # the container is received, not its contents
    with reverts("CustodyInvalidStatus", "custody.invalid_status", objectId=item, status=int(Status.ACTIVE)):
        maker.cancel_shipment([item])
    assert placement(network, item) == (case, case, m, m, Status.IN_TRANSIT, d)


def test_packing_cannot_make_a_cycle(network: Network) -> None:
    case, pallet = ssccs(network, 2)
    maker = network.as_(network.maker)
    maker.pack(pallet, [case])
    with reverts("CustodyPackedObject", "custody.packed_object", objectId=case, parent=pallet):
        maker.pack(case, [pallet])


# --- pack: what may not be packed ----------------------------------------------------------------


def test_a_lot_is_no_container(network: Network) -> None:
    lot = network.register_lot()
    with reverts("CustodyInvalidContainer", "custody.invalid_container", objectId=lot):
        network.as_(network.maker).pack(lot, [network.register()])


def test_a_container_does_not_hold_itself(network: Network) -> None:
    case = network.register_sscc()
    with reverts("CustodyInvalidContainer", "custody.invalid_container", objectId=case):
        network.as_(network.maker).pack(case, [case])


def test_pack_needs_active_objects(network: Network) -> None:
    item, quarantined_item = network.register_many(2)
    case, quarantined_case = ssccs(network, 2)
    maker = network.as_(network.maker)
    maker.set_status([quarantined_item, quarantined_case], Status.QUARANTINED, "temperature")
    with reverts(
        "CustodyInvalidStatus", "custody.invalid_status", objectId=quarantined_case, status=int(Status.QUARANTINED)
    ):
        maker.pack(quarantined_case, [item])
    with reverts(
        "CustodyInvalidStatus", "custody.invalid_status", objectId=quarantined_item, status=int(Status.QUARANTINED)
    ):
        maker.pack(case, [item, quarantined_item])
    assert placement(network, item)[0] is None  # all or nothing


def test_pack_needs_custody_of_container_and_contents(network: Network) -> None:
    m, m2, d = network.maker.id, network.maker2.id, network.distributor.id
    case = network.register_sscc()
    theirs = network.register(by=network.maker2)
    with reverts("CustodyNotCustodian", "custody.not_custodian", objectId=theirs, partnerId=m, custodian=m2):
        network.as_(network.maker).pack(case, [theirs])
    with reverts("CustodyNotCustodian", "custody.not_custodian", objectId=case, partnerId=d, custodian=m):
        network.as_(network.distributor).pack(case, [network.register_sscc(by=network.distributor)])
    aid = network.auditor.id
    with reverts("CustodyRoleNotAllowed", "custody.role_not_allowed", partnerId=aid, role=PartnerRole.AUDITOR):
        network.as_(network.auditor).pack(case, [theirs])


def test_contents_share_their_containers_owner(network: Network) -> None:
    m, p = network.maker.id, network.pharmacy.id
    sold, unsold = network.register_many(2)
    case = network.register_sscc()
    maker = network.as_(network.maker)
    maker.transfer_ownership([sold], p)  # the maker still holds it, for the pharmacy
    with reverts("CustodyNotOwner", "custody.not_owner", objectId=sold, partnerId=m, owner=p):
        maker.pack(case, [unsold, sold])
    assert placement(network, unsold)[0] is None  # all or nothing
    maker.transfer_ownership([case], p)
    maker.pack(case, [sold])  # a case of the pharmacy's goods
    assert placement(network, sold) == (case, case, m, p, Status.ACTIVE, 0)


def test_objects_in_transit_are_not_packed(network: Network) -> None:
    item, moving = network.register_many(2)
    case, moving_case = ssccs(network, 2)
    maker = network.as_(network.maker)
    maker.ship([moving, moving_case], ShipmentInfo(network.distributor.id))
    in_transit = int(Status.IN_TRANSIT)
    with reverts("CustodyInvalidStatus", "custody.invalid_status", objectId=moving_case, status=in_transit):
        maker.pack(moving_case, [item])
    with reverts("CustodyInvalidStatus", "custody.invalid_status", objectId=moving, status=in_transit):
        maker.pack(case, [moving])


def test_pack_a_child_twice_or_an_unknown_child(network: Network) -> None:
    item = network.register()
    case = network.register_sscc()
    maker = network.as_(network.maker)
    with reverts("CustodyPackedObject", "custody.packed_object", objectId=item, parent=case):
        maker.pack(case, [item, item])
    missing = object_id(sgtin(unique_serial("NEVER")))
    with reverts("CustodyUnknownObject", "custody.unknown_object", objectId=missing):
        maker.pack(case, [missing])
    with reverts("CustodyUnknownObject", "custody.unknown_object", objectId=missing):
        maker.pack(missing, [item])
    with reverts("CustodyEmptyBatch", "custody.empty_batch"):
        maker.pack(case, [])


def test_containers_nest_eight_levels_deep_and_no_deeper(network: Network) -> None:
    maker = network.as_(network.maker)
    item = network.register()
    levels = ssccs(network, 9)
    inner = item
    for container in levels[:8]:
        maker.pack(container, [inner])
        inner = container
    assert network.ledger.custody_of(item).root == levels[7]
    assert network.ledger.contract.functions.MAX_NESTING().call() == 8

    with reverts("CustodyNestingTooDeep", "custody.nesting_too_deep", parent=levels[8], depth=9):
        maker.pack(levels[8], [levels[7]])

    maker.ship([levels[7]], ShipmentInfo(network.distributor.id))  # eight levels still move as one
    assert network.ledger.custody_of(item).status is Status.IN_TRANSIT


# --- unpack --------------------------------------------------------------------------------------


def test_unpack_level_by_level_after_receipt(network: Network) -> None:
    m, d = network.maker.id, network.distributor.id
    maker = network.as_(network.maker)
    items = network.register_many(2)
    case, pallet = ssccs(network, 2)
    maker.pack(case, items)
    maker.pack(pallet, [case])
    maker.ship([pallet], ShipmentInfo(d))  # custody passes, ownership does not
    distributor = network.as_(network.distributor)
    distributor.receive([pallet])

    with reverts("CustodyPackedObject", "custody.packed_object", objectId=case, parent=pallet):
        distributor.unpack(case, items)  # the outer level first

    result = distributor.unpack(pallet, [case])
    assert result.events == [ObjectUnpacked(meta=ANY, child=case, parent=pallet, partner_id=d)]
    assert placement(network, case) == (None, case, d, m, Status.ACTIVE, 0)
    assert placement(network, items[0]) == (case, case, d, m, Status.ACTIVE, 0)

    result = distributor.unpack(case, items)
    assert result.events == [ObjectUnpacked(meta=ANY, child=i, parent=case, partner_id=d) for i in items]
    for item in items:
        assert placement(network, item) == (None, item, d, m, Status.ACTIVE, 0)
    distributor.transfer([items[0]], network.pharmacy.id)  # unpacked, it moves on its own
    assert network.ledger.custodian_of(items[0]) == network.pharmacy.id
    assert network.ledger.custodian_of(items[1]) == d


def test_unpacked_contents_take_the_containers_owner(network: Network) -> None:
    m, d = network.maker.id, network.distributor.id
    item = network.register()
    case = network.register_sscc()
    maker = network.as_(network.maker)
    maker.pack(case, [item])
    maker.ship([case], ShipmentInfo(d, transfer_ownership=True))
    network.as_(network.distributor).receive([case])
    assert network.ledger.custody_of(item).owner == d  # a packed object's owner is its container's
    network.as_(network.distributor).unpack(case, [item])
    assert placement(network, item) == (None, item, d, d, Status.ACTIVE, 0)
    with reverts("CustodyNotOwner", "custody.not_owner", objectId=item, partnerId=m, owner=d):
        maker.transfer_ownership([item], network.pharmacy.id)


def test_unpack_checks(network: Network) -> None:
    m, d = network.maker.id, network.distributor.id
    maker = network.as_(network.maker)
    packed, loose = network.register_many(2)
    case, other = ssccs(network, 2)
    maker.pack(case, [packed])
    with reverts("CustodyNotPacked", "custody.not_packed", objectId=loose, parent=case):
        maker.unpack(case, [loose])
    with reverts("CustodyNotPacked", "custody.not_packed", objectId=packed, parent=other):
        maker.unpack(other, [packed])
    with reverts("CustodyNotPacked", "custody.not_packed", objectId=packed, parent=case):
        maker.unpack(case, [packed, packed])
    missing = object_id(sgtin(unique_serial("NEVER")))
    with reverts("CustodyUnknownObject", "custody.unknown_object", objectId=missing):
        maker.unpack(case, [missing])
    with reverts("CustodyEmptyBatch", "custody.empty_batch"):
        maker.unpack(case, [])
    with reverts("CustodyNotCustodian", "custody.not_custodian", objectId=case, partnerId=d, custodian=m):
        network.as_(network.distributor).unpack(case, [packed])
    maker.ship([case], ShipmentInfo(d))
    with reverts("CustodyInvalidStatus", "custody.invalid_status", objectId=case, status=int(Status.IN_TRANSIT)):
        maker.unpack(case, [packed])
    assert placement(network, packed)[0] == case
