"""Custody hand-overs against a real Anvil node: ship/receive/reject/cancel, transfer, ownership, GLN checks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest.mock import ANY

import pytest

from chain_client.errors import ContractRevert
from chain_client.events import (
    CustodyTransferred,
    ObjectReceived,
    ObjectRejected,
    ObjectShipped,
    OwnershipTransferred,
    ShipmentCancelled,
    ShipmentDispatched,
)
from chain_client.ledger import object_id
from chain_client.models import PartnerRole, ShipmentInfo, ShipmentRecord, Status
from tests.conftest import DISTRIBUTOR_GLN, MAKER2_GLN, MAKER_GLN, PHARMACY_GLN, Network, sgtin, unique_serial

pytestmark = pytest.mark.integration

IN_TRANSIT = int(Status.IN_TRANSIT)


@contextmanager
def reverts(name: str, code: str, **arguments: Any) -> Iterator[None]:
    """Expects the block to revert with exactly this custom error, code and arguments."""
    with pytest.raises(ContractRevert) as info:
        yield
    assert (info.value.name, info.value.code, info.value.arguments) == (name, code, arguments)


def block_time(network: Network, block_number: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(network.w3.eth.get_block(block_number)["timestamp"], dt.UTC)


def state(network: Network, object_id_: str) -> tuple[Status, int, int, int, int]:
    """(status, custodian, owner, pending receiver, shipment id) as the ledger reports them."""
    v = network.ledger.custody_of(object_id_)
    return v.status, v.custodian, v.owner, v.pending_receiver, v.shipment_id


# --- ship ----------------------------------------------------------------------------------------


def test_ship_puts_objects_in_transit(network: Network) -> None:
    items = network.register_many(2)
    m, d = network.maker.id, network.distributor.id
    info = ShipmentInfo(d, ship_from_gln=MAKER_GLN, ship_to_gln=DISTRIBUTOR_GLN)

    result = network.as_(network.maker).ship(items, info)

    sid = result.of(ShipmentDispatched)[0].shipment_id
    assert result.events == [
        ShipmentDispatched(
            meta=ANY,
            shipment_id=sid,
            sender=m,
            receiver=d,
            ship_from_gln=MAKER_GLN,
            ship_to_gln=DISTRIBUTOR_GLN,
            transfer_ownership=False,
            object_count=2,
        ),
        ObjectShipped(meta=ANY, object_id=items[0], shipment_id=sid),
        ObjectShipped(meta=ANY, object_id=items[1], shipment_id=sid),
    ]
    for item in items:
        assert state(network, item) == (Status.IN_TRANSIT, m, m, d, sid)
        assert network.ledger.custodian_of(item) == m  # custody stays with the sender until receipt
    assert network.ledger.shipment(sid) == ShipmentRecord(
        sid, m, d, False, block_time(network, result.receipt.block_number)
    )


def test_shipment_ids_count_up(network: Network) -> None:
    maker = network.as_(network.maker)
    first = maker.ship([network.register()], ShipmentInfo(network.distributor.id)).of(ShipmentDispatched)[0]
    second = maker.ship([network.register()], ShipmentInfo(network.pharmacy.id)).of(ShipmentDispatched)[0]
    assert second.shipment_id == first.shipment_id + 1


def test_ship_many_objects_in_one_transaction(network: Network) -> None:
    items = network.register_many(40)
    result = network.as_(network.maker).ship(items, ShipmentInfo(network.pharmacy.id))
    assert result.of(ShipmentDispatched)[0].object_count == 40
    assert [e.object_id for e in result.of(ObjectShipped)] == items
    network.as_(network.pharmacy).receive(items)
    assert {network.ledger.custodian_of(i) for i in items} == {network.pharmacy.id}


# --- receive -------------------------------------------------------------------------------------


def test_receive_takes_custody_but_not_ownership(network: Network) -> None:
    items = network.register_many(2)
    m, d = network.maker.id, network.distributor.id
    sid = network.as_(network.maker).ship(items, ShipmentInfo(d)).of(ShipmentDispatched)[0].shipment_id

    result = network.as_(network.distributor).receive(items, DISTRIBUTOR_GLN)

    assert result.events == [
        ObjectReceived(meta=ANY, object_id=items[0], shipment_id=sid, receiver=d, gln=DISTRIBUTOR_GLN),
        ObjectReceived(meta=ANY, object_id=items[1], shipment_id=sid, receiver=d, gln=DISTRIBUTOR_GLN),
    ]
    for item in items:
        assert state(network, item) == (Status.ACTIVE, d, m, 0, 0)
    assert network.ledger.shipment(sid).receiver == d  # the shipment record stays


def test_receive_without_gln(network: Network) -> None:
    item = network.register()
    sid = network.as_(network.maker).ship([item], ShipmentInfo(network.distributor.id)).of(ShipmentDispatched)[0]
    result = network.as_(network.distributor).receive([item])
    assert result.events == [
        ObjectReceived(meta=ANY, object_id=item, shipment_id=sid.shipment_id, receiver=network.distributor.id, gln=None)
    ]


def test_receipt_passes_ownership_when_the_shipment_says_so(network: Network) -> None:
    item = network.register()
    m, d = network.maker.id, network.distributor.id
    ship = network.as_(network.maker).ship([item], ShipmentInfo(d, transfer_ownership=True))
    sid = ship.of(ShipmentDispatched)[0].shipment_id
    assert ship.of(ShipmentDispatched)[0].transfer_ownership is True
    assert network.ledger.shipment(sid).transfer_ownership is True
    assert state(network, item) == (Status.IN_TRANSIT, m, m, d, sid)  # title passes on receipt, not on dispatch

    result = network.as_(network.distributor).receive([item])

    assert result.events == [
        ObjectReceived(meta=ANY, object_id=item, shipment_id=sid, receiver=d, gln=None),
        OwnershipTransferred(meta=ANY, object_id=item, previous_owner=m, new_owner=d),
    ]
    assert state(network, item) == (Status.ACTIVE, d, d, 0, 0)


def test_receipt_by_the_owner_emits_no_ownership_transfer(network: Network) -> None:
    """Title passed to the receiver while the goods travelled: receipt moves custody only."""
    item = network.register()
    d = network.distributor.id
    network.as_(network.maker).ship([item], ShipmentInfo(d, transfer_ownership=True))
    network.as_(network.maker).transfer_ownership([item], d)
    result = network.as_(network.distributor).receive([item])
    assert [type(e) for e in result.events] == [ObjectReceived]
    assert state(network, item) == (Status.ACTIVE, d, d, 0, 0)


def test_receive_part_of_a_shipment_and_reject_the_rest(network: Network) -> None:
    good, damaged = network.register_many(2)
    m, d = network.maker.id, network.distributor.id
    sid = network.as_(network.maker).ship([good, damaged], ShipmentInfo(d)).of(ShipmentDispatched)[0].shipment_id
    distributor = network.as_(network.distributor)
    distributor.receive([good])

    result = distributor.reject([damaged], "damaged")

    assert result.events == [ObjectRejected(meta=ANY, object_id=damaged, shipment_id=sid, receiver=d, reason="damaged")]
    assert state(network, good) == (Status.ACTIVE, d, m, 0, 0)
    assert state(network, damaged) == (Status.ACTIVE, m, m, 0, 0)  # custody stays with the sender
    network.as_(network.maker).ship([damaged], ShipmentInfo(network.pharmacy.id))  # and it may ship again


def test_receive_is_for_the_receiver_only(network: Network) -> None:
    item, at_rest = network.register_many(2)
    m, d, p = network.maker.id, network.distributor.id, network.pharmacy.id
    sid = network.as_(network.maker).ship([item], ShipmentInfo(d)).of(ShipmentDispatched)[0].shipment_id
    for partner, partner_id in ((network.pharmacy, p), (network.maker, m)):
        with reverts(
            "CustodyNotReceiver", "custody.not_receiver", objectId=item, partnerId=partner_id, pendingReceiver=d
        ):
            network.as_(partner).receive([item])
        with reverts(
            "CustodyNotReceiver", "custody.not_receiver", objectId=item, partnerId=partner_id, pendingReceiver=d
        ):
            network.as_(partner).reject([item], "not mine")
    distributor = network.as_(network.distributor)
    with reverts("CustodyNotReceiver", "custody.not_receiver", objectId=at_rest, partnerId=d, pendingReceiver=0):
        distributor.receive([at_rest])
    with reverts("CustodyNotReceiver", "custody.not_receiver", objectId=at_rest, partnerId=d, pendingReceiver=0):
        distributor.receive([item, at_rest])  # all or nothing
    assert state(network, item) == (Status.IN_TRANSIT, m, m, d, sid)
    distributor.receive([item])
    with reverts("CustodyNotReceiver", "custody.not_receiver", objectId=item, partnerId=d, pendingReceiver=0):
        distributor.receive([item])  # not twice
    aid = network.auditor.id
    with reverts("CustodyRoleNotAllowed", "custody.role_not_allowed", partnerId=aid, role=PartnerRole.AUDITOR):
        network.as_(network.auditor).receive([item])


def test_receive_at_a_location_of_another_partner(network: Network) -> None:
    item = network.register()
    network.as_(network.maker).ship([item], ShipmentInfo(network.distributor.id))
    for gln in (PHARMACY_GLN, MAKER_GLN, "0614141999996"):
        with reverts("CustodyInvalidLocation", "custody.invalid_location", gln=int(gln)):
            network.as_(network.distributor).receive([item], gln)
    assert network.ledger.custody_of(item).status is Status.IN_TRANSIT


def test_receive_reject_cancel_unknown_object(network: Network) -> None:
    missing = object_id(sgtin(unique_serial("NEVER")))
    for operation in (
        lambda: network.as_(network.distributor).receive([missing]),
        lambda: network.as_(network.distributor).reject([missing], "x"),
        lambda: network.as_(network.maker).cancel_shipment([missing]),
    ):
        with reverts("CustodyUnknownObject", "custody.unknown_object", objectId=missing):
            operation()


# --- cancel --------------------------------------------------------------------------------------


def test_cancel_shipment_returns_objects_to_the_sender(network: Network) -> None:
    item = network.register()
    m, d = network.maker.id, network.distributor.id
    sid = network.as_(network.maker).ship([item], ShipmentInfo(d)).of(ShipmentDispatched)[0].shipment_id

    result = network.as_(network.maker).cancel_shipment([item])

    assert result.events == [ShipmentCancelled(meta=ANY, object_id=item, shipment_id=sid, sender=m)]
    assert state(network, item) == (Status.ACTIVE, m, m, 0, 0)
    with reverts("CustodyNotReceiver", "custody.not_receiver", objectId=item, partnerId=d, pendingReceiver=0):
        network.as_(network.distributor).receive([item])


def test_cancel_is_for_the_sender_of_a_pending_shipment(network: Network) -> None:
    item, at_rest = network.register_many(2)
    m, d = network.maker.id, network.distributor.id
    network.as_(network.maker).ship([item], ShipmentInfo(d))
    with reverts("CustodyNotCustodian", "custody.not_custodian", objectId=item, partnerId=d, custodian=m):
        network.as_(network.distributor).cancel_shipment([item])
    with reverts("CustodyInvalidStatus", "custody.invalid_status", objectId=at_rest, status=int(Status.ACTIVE)):
        network.as_(network.maker).cancel_shipment([at_rest])
    with reverts("CustodyEmptyBatch", "custody.empty_batch"):
        network.as_(network.maker).cancel_shipment([])
    network.as_(network.distributor).receive([item])
    with reverts("CustodyInvalidStatus", "custody.invalid_status", objectId=item, status=int(Status.ACTIVE)):
        network.as_(network.maker).cancel_shipment([item])  # too late once received


# --- ship: what may not ship ---------------------------------------------------------------------


def test_only_the_custodian_ships(network: Network) -> None:
    item = network.register()
    m, d = network.maker.id, network.distributor.id
    with reverts("CustodyNotCustodian", "custody.not_custodian", objectId=item, partnerId=d, custodian=m):
        network.as_(network.distributor).ship([item], ShipmentInfo(network.pharmacy.id))
    with reverts("CustodyNotCustodian", "custody.not_custodian", objectId=item, partnerId=d, custodian=m):
        network.as_(network.distributor).transfer([item], network.pharmacy.id)
    aid = network.auditor.id
    with reverts("CustodyRoleNotAllowed", "custody.role_not_allowed", partnerId=aid, role=PartnerRole.AUDITOR):
        network.as_(network.auditor).ship([item], ShipmentInfo(d))


def test_objects_in_transit_do_not_ship_again(network: Network) -> None:
    item, other = network.register_many(2)
    maker = network.as_(network.maker)
    sid = maker.ship([item], ShipmentInfo(network.distributor.id)).of(ShipmentDispatched)[0].shipment_id
    with reverts("CustodyInvalidStatus", "custody.invalid_status", objectId=item, status=IN_TRANSIT):
        maker.ship([item], ShipmentInfo(network.pharmacy.id))
    with reverts("CustodyInvalidStatus", "custody.invalid_status", objectId=item, status=IN_TRANSIT):
        maker.transfer([item], network.pharmacy.id)
    with reverts("CustodyInvalidStatus", "custody.invalid_status", objectId=other, status=IN_TRANSIT):
        maker.ship([other, other], ShipmentInfo(network.pharmacy.id))  # the same object twice in one shipment
    assert state(network, other) == (Status.ACTIVE, network.maker.id, network.maker.id, 0, 0)
    assert network.ledger.custody_of(item).shipment_id == sid


def test_a_failing_object_ships_none(network: Network) -> None:
    mine = network.register()
    theirs = network.register(by=network.maker2)
    with reverts(
        "CustodyNotCustodian",
        "custody.not_custodian",
        objectId=theirs,
        partnerId=network.maker.id,
        custodian=network.maker2.id,
    ):
        network.as_(network.maker).ship([mine, theirs], ShipmentInfo(network.distributor.id))
    assert state(network, mine) == (Status.ACTIVE, network.maker.id, network.maker.id, 0, 0)


@pytest.mark.parametrize("receiver", ["self", "auditor", "unknown", "zero"])
def test_invalid_receivers(network: Network, receiver: str) -> None:
    receiver_id = {"self": network.maker.id, "auditor": network.auditor.id, "unknown": 999_999, "zero": 0}[receiver]
    item = network.register()
    maker = network.as_(network.maker)
    with reverts("CustodyInvalidReceiver", "custody.invalid_receiver", receiver=receiver_id):
        maker.ship([item], ShipmentInfo(receiver_id))
    with reverts("CustodyInvalidReceiver", "custody.invalid_receiver", receiver=receiver_id):
        maker.transfer([item], receiver_id)
    with reverts("CustodyInvalidReceiver", "custody.invalid_receiver", receiver=receiver_id):
        maker.transfer_ownership([item], receiver_id)
    assert state(network, item) == (Status.ACTIVE, network.maker.id, network.maker.id, 0, 0)


def test_ship_from_and_to_locations_must_be_the_partners(network: Network) -> None:
    item = network.register()
    maker = network.as_(network.maker)
    d = network.distributor.id
    for info, bad in [
        (ShipmentInfo(d, ship_from_gln=DISTRIBUTOR_GLN), DISTRIBUTOR_GLN),  # the receiver's, not the sender's
        (ShipmentInfo(d, ship_from_gln=MAKER2_GLN), MAKER2_GLN),
        (ShipmentInfo(d, ship_to_gln=MAKER_GLN), MAKER_GLN),  # the sender's, not the receiver's
        (ShipmentInfo(d, ship_to_gln=PHARMACY_GLN), PHARMACY_GLN),
        (ShipmentInfo(d, ship_from_gln="0614141999996"), "0614141999996"),  # nobody's
    ]:
        with reverts("CustodyInvalidLocation", "custody.invalid_location", gln=int(bad)):
            maker.ship([item], info)
    assert network.ledger.custody_of(item).status is Status.ACTIVE


def test_ship_batch_limits(network: Network) -> None:
    maker = network.as_(network.maker)
    with reverts("CustodyEmptyBatch", "custody.empty_batch"):
        maker.ship([], ShipmentInfo(network.distributor.id))
    with reverts("CustodyEmptyBatch", "custody.empty_batch"):
        maker.transfer([], network.distributor.id)
    with reverts("CustodyEmptyBatch", "custody.empty_batch"):
        network.as_(network.distributor).receive([])
    with reverts("CustodyEmptyBatch", "custody.empty_batch"):
        network.as_(network.distributor).reject([], "x")
    with reverts("CustodyEmptyBatch", "custody.empty_batch"):
        maker.transfer_ownership([], network.distributor.id)
    too_many = ["0x" + f"{i + 1:064x}" for i in range(1001)]
    with reverts("CustodyBatchTooLarge", "custody.batch_too_large", size=1001, maxSize=1000):
        maker.ship(too_many, ShipmentInfo(network.distributor.id))
    with reverts("CustodyBatchTooLarge", "custody.batch_too_large", size=1001, maxSize=1000):
        maker.transfer(too_many, network.distributor.id)


def test_ship_unknown_object(network: Network) -> None:
    missing = object_id(sgtin(unique_serial("NEVER")))
    with reverts("CustodyUnknownObject", "custody.unknown_object", objectId=missing):
        network.as_(network.maker).ship([missing], ShipmentInfo(network.distributor.id))
    with reverts("CustodyUnknownObject", "custody.unknown_object", objectId=missing):
        network.as_(network.maker).transfer([missing], network.distributor.id)
    with reverts("CustodyUnknownObject", "custody.unknown_object", objectId=missing):
        network.as_(network.maker).transfer_ownership([missing], network.distributor.id)


# --- one-step transfer ---------------------------------------------------------------------------


def test_transfer_hands_over_custody_in_one_step(network: Network) -> None:
    items = network.register_many(2)
    m, d = network.maker.id, network.distributor.id

    result = network.as_(network.maker).transfer(items, d)

    assert result.events == [CustodyTransferred(meta=ANY, object_id=i, sender=m, receiver=d) for i in items]
    for item in items:
        assert state(network, item) == (Status.ACTIVE, d, m, 0, 0)  # ownership is unchanged
    network.as_(network.distributor).transfer(items, network.pharmacy.id)
    assert {network.ledger.custodian_of(i) for i in items} == {network.pharmacy.id}


# --- ownership -----------------------------------------------------------------------------------


def test_transfer_ownership_passes_title_without_moving(network: Network) -> None:
    item = network.register()
    m, d, p = network.maker.id, network.distributor.id, network.pharmacy.id

    result = network.as_(network.maker).transfer_ownership([item], p)

    assert result.events == [OwnershipTransferred(meta=ANY, object_id=item, previous_owner=m, new_owner=p)]
    assert state(network, item) == (Status.ACTIVE, m, p, 0, 0)
    with reverts("CustodyNotOwner", "custody.not_owner", objectId=item, partnerId=m, owner=p):
        network.as_(network.maker).transfer_ownership([item], d)  # the custodian is no longer the owner
    # the owner passes title on though it does not hold the object
    network.as_(network.pharmacy).transfer_ownership([item], d)
    assert state(network, item) == (Status.ACTIVE, m, d, 0, 0)


def test_ownership_may_pass_while_in_transit(network: Network) -> None:
    item = network.register()
    m, d, p = network.maker.id, network.distributor.id, network.pharmacy.id
    sid = network.as_(network.maker).ship([item], ShipmentInfo(d)).of(ShipmentDispatched)[0].shipment_id
    network.as_(network.maker).transfer_ownership([item], p)  # a drop shipment sold on the way
    assert state(network, item) == (Status.IN_TRANSIT, m, p, d, sid)


def test_only_the_owner_passes_title(network: Network) -> None:
    item = network.register()
    m, d = network.maker.id, network.distributor.id
    network.as_(network.maker).transfer([item], d)  # the distributor holds it for the maker (a 3PL)
    with reverts("CustodyNotOwner", "custody.not_owner", objectId=item, partnerId=d, owner=m):
        network.as_(network.distributor).transfer_ownership([item], network.pharmacy.id)
    assert network.ledger.custody_of(item).owner == m


def test_a_custodian_that_does_not_own_cannot_pass_title_by_shipping(network: Network) -> None:
    """A 3PL holding the maker's goods ships them with transferOwnership: title is not the 3PL's to pass.

    transferOwnership() requires the caller to own the object (CustodyNotOwner); shipping with
    ShipmentInfo.transferOwnership must not be a way around that check.
    """
    item = network.register()
    m, d, p = network.maker.id, network.distributor.id, network.pharmacy.id
    network.as_(network.maker).transfer([item], d)
    with reverts("CustodyNotOwner", "custody.not_owner", objectId=item, partnerId=d, owner=m):
        network.as_(network.distributor).ship([item], ShipmentInfo(p, transfer_ownership=True))
    assert network.ledger.custody_of(item).owner == m
