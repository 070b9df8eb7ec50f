"""The ledger against a real Anvil node: registration, custody, batches, every custom error."""

from __future__ import annotations

import datetime as dt

import pytest

from chain_client.errors import ContractRevert
from chain_client.events import CustodyTransferred, ItemRegistered, LotRegistered
from chain_client.ledger import REGISTRAR_ROLE, object_id
from chain_client.models import ObjectKind, Registration, Status
from tests.conftest import Network, sgtin, unique_serial

pytestmark = pytest.mark.integration


def test_register_item_records_master_data_and_emits_it(network: Network) -> None:
    epc = sgtin(unique_serial())
    registration = Registration(
        epc=epc,
        lot="LOT-7",
        expiry_date=dt.date(2027, 3, 31),
        production_date=dt.date(2026, 1, 15),
        origin_gln="0614141000005",
    )
    result = network.as_(network.registrar).register_item(registration, network.maker.address)

    assert len(result.events) == 1
    event = result.events[0]
    assert isinstance(event, ItemRegistered)
    assert event.object_id == object_id(epc)
    assert event.lot_id == object_id("urn:epc:class:lgtin:0614141.812345.LOT-7")
    assert (event.epc, event.lot, event.expiry_date, event.production_date) == (epc, "LOT-7", 20270331, 20260115)
    assert event.origin_gln == 614141000005
    assert event.custodian == network.maker.address
    assert event.meta.tx_hash == result.tx_hash

    record = network.ledger.object_of(object_id(epc))
    assert record.kind is ObjectKind.ITEM
    assert record.status is Status.ACTIVE
    assert record.custodian == network.maker.address
    assert record.expiry_date == dt.date(2027, 3, 31)


def test_register_lot_with_quantity(network: Network) -> None:
    epc = f"urn:epc:class:lgtin:0614141.812345.{unique_serial('LOT')}"
    result = network.as_(network.registrar).register_lot(
        Registration(epc=epc, lot=epc.rsplit(".", 1)[1]), 1500, "KGM", network.maker.address
    )
    event = result.events[0]
    assert isinstance(event, LotRegistered)
    assert (event.quantity, event.unit_of_measure) == (1500, "KGM")
    assert network.ledger.lot_quantity(object_id(epc)) == 1500
    assert network.ledger.object_of(object_id(epc)).kind is ObjectKind.LOT


def test_transfer_moves_custody_and_emits(network: Network) -> None:
    item = network.register()
    result = network.as_(network.maker).transfer(item, network.distributor.address)
    assert result.events == [
        CustodyTransferred(
            meta=result.events[0].meta,
            object_id=item,
            sender=network.maker.address,
            receiver=network.distributor.address,
        )
    ]
    assert network.ledger.custodian_of(item) == network.distributor.address


def test_batch_transfer_moves_all(network: Network) -> None:
    items = [network.register() for _ in range(10)]
    result = network.as_(network.maker).batch_transfer(items, network.pharmacy.address)
    assert [e.object_id for e in result.events] == items  # type: ignore[attr-defined]
    assert {network.ledger.custodian_of(i) for i in items} == {network.pharmacy.address}


def test_events_rebuild_custody_from_logs_alone(network: Network) -> None:
    start = network.w3.eth.block_number + 1
    item = network.register()
    network.as_(network.maker).transfer(item, network.distributor.address)
    network.as_(network.distributor).transfer(item, network.pharmacy.address)
    holder: dict[str, str] = {}
    for event in network.ledger.get_events(from_block=start):
        if isinstance(event, ItemRegistered):
            holder[event.object_id] = event.custodian
        elif isinstance(event, CustodyTransferred):
            assert holder[event.object_id] == event.sender
            holder[event.object_id] = event.receiver
    assert holder[item] == network.ledger.custodian_of(item) == network.pharmacy.address


# --- every custom error surfaces as a typed exception with its arguments ---------------------


def test_unknown_object(network: Network) -> None:
    missing = object_id(sgtin("never-registered"))
    with pytest.raises(ContractRevert) as info:
        network.ledger.custodian_of(missing)
    assert info.value.name == "CustodyUnknownObject"
    assert info.value.code == "custody.unknown_object"
    assert info.value.arguments == {"objectId": missing}
    with pytest.raises(ContractRevert, match="CustodyUnknownObject"):
        network.as_(network.maker).transfer(missing, network.distributor.address)


def test_already_registered(network: Network) -> None:
    registration = Registration(epc=sgtin(unique_serial()))
    network.as_(network.registrar).register_item(registration, network.maker.address)
    with pytest.raises(ContractRevert) as info:
        network.as_(network.registrar).register_item(registration, network.maker.address)
    assert info.value.name == "CustodyAlreadyRegistered"
    assert info.value.arguments == {"objectId": object_id(registration.epc)}


def test_not_custodian(network: Network) -> None:
    item = network.register()
    with pytest.raises(ContractRevert) as info:
        network.as_(network.distributor).transfer(item, network.pharmacy.address)
    assert info.value.code == "custody.not_custodian"
    assert info.value.arguments == {
        "objectId": item,
        "account": network.distributor.address,
        "custodian": network.maker.address,
    }
    assert network.ledger.custodian_of(item) == network.maker.address


def test_missing_role(network: Network) -> None:
    with pytest.raises(ContractRevert) as info:
        network.as_(network.outsider).register_item(Registration(epc=sgtin(unique_serial())), network.maker.address)
    assert info.value.name == "AccessControlUnauthorizedAccount"
    assert info.value.code == "access_control.unauthorized_account"
    assert info.value.arguments == {"account": network.outsider.address, "neededRole": REGISTRAR_ROLE}


def test_receiver_must_be_partner(network: Network) -> None:
    item = network.register()
    with pytest.raises(ContractRevert) as info:
        network.as_(network.maker).transfer(item, network.outsider.address)
    assert info.value.name == "CustodyInvalidReceiver"
    assert info.value.arguments == {"receiver": network.outsider.address}


def test_empty_batch(network: Network) -> None:
    with pytest.raises(ContractRevert) as info:
        network.as_(network.maker).batch_transfer([], network.distributor.address)
    assert info.value.name == "CustodyEmptyBatch"


def test_oversized_batch(network: Network) -> None:
    ids = [object_id(sgtin(f"x{i}")) for i in range(1001)]
    with pytest.raises(ContractRevert) as info:
        network.as_(network.maker).batch_transfer(ids, network.distributor.address)
    assert info.value.name == "CustodyBatchTooLarge"
    assert info.value.arguments == {"size": 1001, "maxSize": 1000}


def test_failed_batch_changes_nothing(network: Network) -> None:
    good = [network.register() for _ in range(3)]
    foreign = network.register(custodian=network.distributor)
    with pytest.raises(ContractRevert, match="CustodyNotCustodian"):
        network.as_(network.maker).batch_transfer([*good, foreign], network.pharmacy.address)
    assert {network.ledger.custodian_of(i) for i in good} == {network.maker.address}


def test_invalid_registration_and_quantity(network: Network) -> None:
    registrar = network.as_(network.registrar)
    with pytest.raises(ContractRevert) as info:
        registrar.register_item(Registration(epc=""), network.maker.address)
    assert (info.value.name, info.value.arguments) == ("CustodyInvalidRegistration", {"field": "epc"})
    with pytest.raises(ContractRevert) as info:
        registrar.register_item(Registration(epc="urn:epc:id:sgtin:nodots", lot="L"), network.maker.address)
    assert info.value.arguments == {"field": "epc"}
    lot_epc = f"urn:epc:class:lgtin:0614141.812345.{unique_serial('Q')}"
    with pytest.raises(ContractRevert) as info:
        registrar.register_lot(Registration(epc=lot_epc, lot="Q"), 0, "EA", network.maker.address)
    assert (info.value.name, info.value.arguments) == ("CustodyInvalidQuantity", {"quantity": 0})
