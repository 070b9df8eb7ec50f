"""Commissioning of items (SGTIN), lots (LGTIN) and logistic units (SSCC) against a real Anvil node."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest.mock import ANY

import pytest

from chain_client.errors import ContractRevert, CustodyClientError
from chain_client.events import ItemRegistered, LogisticUnitRegistered, LotRegistered
from chain_client.gs1 import Lgtin, Sgtin
from chain_client.ledger import object_id
from chain_client.models import LotOutput, ObjectKind, PartnerRole, Registration, Status
from tests.conftest import MAKER_GLN, Network, lgtin, sgtin, sscc, unique_serial

pytestmark = pytest.mark.integration

UINT232_MAX = 2**232 - 1
NO_LOT = "0x" + "00" * 32


@contextmanager
def reverts(name: str, code: str, **arguments: Any) -> Iterator[None]:
    """Expects the block to revert with exactly this custom error, code and arguments."""
    with pytest.raises(ContractRevert) as info:
        yield
    assert (info.value.name, info.value.code, info.value.arguments) == (name, code, arguments)


def block_time(network: Network, block_number: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(network.w3.eth.get_block(block_number)["timestamp"], dt.UTC)


def lot_output(quantity: int = 100, unit: str = "KGM", number: str | None = None) -> LotOutput:
    number = number or unique_serial("LOT")
    return LotOutput(Registration(lgtin(number), number), quantity, unit)


# --- items ---------------------------------------------------------------------------------------


def test_register_item_records_master_data(network: Network) -> None:
    epc = sgtin(unique_serial())
    registration = Registration(
        epc=epc,
        lot="LOT-7",
        expiry_date=dt.date(2031, 3, 31),
        production_date=dt.date(2026, 1, 15),
        origin_gln=MAKER_GLN,
    )
    result = network.as_(network.maker).register_item(registration)

    item = object_id(epc)
    lot_id = object_id("urn:epc:class:lgtin:0614141.812345.LOT-7")
    assert result.events == [
        ItemRegistered(
            meta=ANY,
            object_id=item,
            lot_id=lot_id,
            partner_id=network.maker.id,
            epc=epc,
            lot="LOT-7",
            expiry_date=20310331,
            production_date=20260115,
            origin_gln=MAKER_GLN,
        )
    ]
    assert result.events[0].meta.tx_hash == result.tx_hash
    view = network.ledger.custody_of(item)
    assert view.object_id == item
    assert (view.kind, view.status) == (ObjectKind.ITEM, Status.ACTIVE)
    assert (view.custodian, view.owner, view.registrant) == (network.maker.id,) * 3
    assert (view.pending_receiver, view.shipment_id) == (0, 0)
    assert view.expiry_date == dt.date(2031, 3, 31)
    assert view.registered_at == block_time(network, result.receipt.block_number)
    assert (view.parent, view.root, view.lot) == (None, item, lot_id)
    assert (view.quantity, view.unit_of_measure) == (0, "")
    assert network.ledger.custodian_of(item) == network.maker.id


def test_the_ledger_derives_object_ids_like_the_client(network: Network) -> None:
    for epc in (sgtin(unique_serial()), lgtin("L1"), sscc("0000000001"), "urn:epc:id:sgtin:0614141.812345.%2F"):
        assert "0x" + bytes(network.ledger.contract.functions.objectIdOf(epc).call()).hex() == object_id(epc)


def test_register_items_in_one_batch(network: Network) -> None:
    epcs = [sgtin(unique_serial()) for _ in range(3)]
    result = network.as_(network.maker).register_items([Registration(epc) for epc in epcs])
    assert [e.object_id for e in result.of(ItemRegistered)] == [object_id(epc) for epc in epcs]
    assert [e.lot_id for e in result.of(ItemRegistered)] == [NO_LOT] * 3
    assert {network.ledger.custodian_of(object_id(epc)) for epc in epcs} == {network.maker.id}
    assert network.ledger.custody_of(object_id(epcs[0])).lot is None


@pytest.mark.parametrize(
    "lot",
    [
        pytest.param("B-2026-07", id="plain"),
        pytest.param("A/B&C", id="escaped"),
        pytest.param('%"<>?', id="all-escapes"),
    ],
)
def test_lot_id_is_the_id_of_the_lgtin_urn(network: Network, lot: str) -> None:
    epc = sgtin(unique_serial())
    expected = object_id(Lgtin(Sgtin.from_epc_urn(epc).gtin, lot).epc_urn)
    result = network.as_(network.maker).register_item(Registration(epc, lot=lot))
    assert result.of(ItemRegistered)[0].lot_id == expected
    assert network.ledger.custody_of(object_id(epc)).lot == expected


def test_items_point_at_their_registered_lot(network: Network) -> None:
    number = unique_serial("LOT")
    maker = network.as_(network.maker)
    lot = maker.register_lot(lot_output(50, "EA", number)).of(LotRegistered)[0].object_id
    item = maker.register_item(Registration(sgtin(unique_serial()), lot=number)).of(ItemRegistered)[0]
    assert item.lot_id == lot == object_id(lgtin(number))


def test_an_object_is_registered_once(network: Network) -> None:
    maker = network.as_(network.maker)
    registration = Registration(sgtin(unique_serial()))
    maker.register_item(registration)
    item = object_id(registration.epc)
    with reverts("CustodyAlreadyRegistered", "custody.already_registered", objectId=item):
        maker.register_item(registration)
    with reverts("CustodyAlreadyRegistered", "custody.already_registered", objectId=item):
        network.as_(network.maker2).register_item(registration)  # not by another manufacturer either
    twin = Registration(sgtin(unique_serial()))
    with reverts("CustodyAlreadyRegistered", "custody.already_registered", objectId=object_id(twin.epc)):
        maker.register_items([twin, twin])
    with pytest.raises(ContractRevert):
        network.ledger.custodian_of(object_id(twin.epc))  # the batch left nothing behind


def test_a_lot_and_an_sscc_are_registered_once(network: Network) -> None:
    maker = network.as_(network.maker)
    output = lot_output()
    maker.register_lot(output)
    with reverts("CustodyAlreadyRegistered", "custody.already_registered", objectId=object_id(output.registration.epc)):
        maker.register_lot(output)
    urn = sscc(f"{int(unique_serial('')):010d}")
    maker.register_logistic_units([urn])
    with reverts("CustodyAlreadyRegistered", "custody.already_registered", objectId=object_id(urn)):
        network.as_(network.distributor).register_logistic_units([urn])


def test_only_manufacturers_commission_items_and_lots(network: Network) -> None:
    for partner in (network.distributor, network.pharmacy, network.auditor):
        client = network.as_(partner)
        with reverts("CustodyRoleNotAllowed", "custody.role_not_allowed", partnerId=partner.id, role=partner.role):
            client.register_item(Registration(sgtin(unique_serial())))
        with reverts("CustodyRoleNotAllowed", "custody.role_not_allowed", partnerId=partner.id, role=partner.role):
            client.register_lot(lot_output())
    item = network.as_(network.maker2).register_item(Registration(sgtin(unique_serial())))
    assert item.of(ItemRegistered)[0].partner_id == network.maker2.id


def test_an_account_without_partner_commissions_nothing(network: Network) -> None:
    outsider = network.as_(network.outsider)
    with reverts("CustodyUnknownAccount", "custody.unknown_account", account=network.outsider.address):
        outsider.register_item(Registration(sgtin(unique_serial())))
    with reverts("CustodyUnknownAccount", "custody.unknown_account", account=network.outsider.address):
        outsider.register_lot(lot_output())


@pytest.mark.parametrize(
    "registration",
    [
        pytest.param(Registration(""), id="empty-epc"),
        pytest.param(Registration("", lot="L1"), id="empty-epc-with-lot"),
        pytest.param(Registration("urn:epc:id:sscc:0614141.1234567890", lot="L1"), id="lot-on-an-sscc"),
        pytest.param(Registration("urn:epc:id:sgtin:0614141812345", lot="L1"), id="sgtin-without-dots"),
        pytest.param(Registration("urn:epc:id:sgtin:0614141.812345", lot="L1"), id="sgtin-without-serial-dot"),
        pytest.param(Registration("urn:epc:id:sgtin:", lot="L1"), id="bare-prefix"),
    ],
)
def test_malformed_item_epc_is_rejected(network: Network, registration: Registration) -> None:
    with reverts("CustodyInvalidRegistration", "custody.invalid_registration", field="epc"):
        network.as_(network.maker).register_item(registration)


@pytest.mark.parametrize(
    "epc",
    [
        pytest.param("urn:epc:id:sscc:0614141.{n:010d}", id="sscc-urn"),
        pytest.param("not an epc {n}", id="free-text"),
    ],
)
def test_an_item_epc_must_be_an_sgtin_urn_even_without_lot(network: Network, epc: str) -> None:
    """registerItems: "each EPC is a non-empty SGTIN URN not yet registered" (ObjectRegistry NatSpec)."""
    urn = epc.format(n=int(unique_serial("")))
    with reverts("CustodyInvalidRegistration", "custody.invalid_registration", field="epc"):
        network.as_(network.maker).register_item(Registration(urn))


# --- lots ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "epc",
    [
        pytest.param("urn:epc:id:sgtin:0614141.812345.{n}", id="sgtin-urn"),
        pytest.param("urn:epc:id:sscc:0614141.{n:010d}", id="sscc-urn"),
        pytest.param("urn:epc:class:lgtin:", id="bare-prefix"),
    ],
)
def test_a_lot_epc_must_be_an_lgtin_urn(network: Network, epc: str) -> None:
    urn = epc.format(n=int(unique_serial("")))
    with reverts("CustodyInvalidRegistration", "custody.invalid_registration", field="epc"):
        network.as_(network.maker).register_lot(LotOutput(Registration(urn, "L1"), 1, "EA"))


def test_register_lot_with_quantity_and_unit(network: Network) -> None:
    number = unique_serial("LOT")
    output = LotOutput(
        Registration(lgtin(number), number, dt.date(2030, 12, 31), dt.date(2026, 2, 1), MAKER_GLN), 1500, "KGM"
    )
    result = network.as_(network.maker).register_lot(output)

    lot = object_id(lgtin(number))
    assert result.events == [
        LotRegistered(
            meta=ANY,
            object_id=lot,
            partner_id=network.maker.id,
            epc=lgtin(number),
            lot=number,
            expiry_date=20301231,
            production_date=20260201,
            origin_gln=MAKER_GLN,
            quantity=1500,
            unit_of_measure="KGM",
        )
    ]
    view = network.ledger.custody_of(lot)
    assert (view.kind, view.status, view.quantity, view.unit_of_measure) == (ObjectKind.LOT, Status.ACTIVE, 1500, "KGM")
    assert (view.custodian, view.owner, view.registrant, view.lot) == (network.maker.id,) * 3 + (None,)
    assert view.expiry_date == dt.date(2030, 12, 31)
    assert network.ledger.lot_balance(lot) == (1500, "KGM")


def test_the_largest_lot_quantity(network: Network) -> None:
    output = lot_output(UINT232_MAX, "EA")
    network.as_(network.maker).register_lot(output)
    assert network.ledger.lot_balance(object_id(output.registration.epc)) == (UINT232_MAX, "EA")


def test_lot_registration_is_checked(network: Network) -> None:
    maker = network.as_(network.maker)
    no_number = LotOutput(Registration(lgtin(unique_serial("LOT"))), 10, "KGM")
    with reverts("CustodyInvalidRegistration", "custody.invalid_registration", field="lot"):
        maker.register_lot(no_number)
    with reverts("CustodyInvalidRegistration", "custody.invalid_registration", field="epc"):
        maker.register_lot(LotOutput(Registration("", "L1"), 10, "KGM"))
    with reverts("CustodyInvalidRegistration", "custody.invalid_registration", field="unitOfMeasure"):
        maker.register_lot(lot_output(10, "\x00"))  # a bytes3 of zeros: no unit
    for quantity in (0, UINT232_MAX + 1):
        output = lot_output(quantity)
        lot = object_id(output.registration.epc)
        with reverts(
            "CustodyInvalidQuantity",
            "custody.invalid_quantity",
            objectId=lot,
            requested=quantity,
            available=UINT232_MAX,
        ):
            maker.register_lot(output)


def test_lot_balance_of_other_objects_is_empty(network: Network) -> None:
    item = network.register()
    assert network.ledger.lot_balance(item) == (0, "")
    assert network.ledger.lot_balance(object_id(lgtin(unique_serial("NEVER")))) == (0, "")


# --- logistic units ------------------------------------------------------------------------------


def test_register_logistic_units_by_any_holder(network: Network) -> None:
    for partner in (network.maker, network.distributor, network.pharmacy):
        urns = [sscc(f"{int(unique_serial('')):010d}") for _ in range(2)]
        result = network.as_(partner).register_logistic_units(urns)
        assert result.events == [
            LogisticUnitRegistered(meta=ANY, object_id=object_id(urn), partner_id=partner.id, epc=urn) for urn in urns
        ]
        view = network.ledger.custody_of(object_id(urns[0]))
        assert (view.kind, view.custodian, view.owner, view.registrant) == (ObjectKind.LOGISTIC_UNIT,) + (
            partner.id,
        ) * 3
        assert (view.lot, view.quantity, view.expiry_date) == (None, 0, None)


def test_logistic_unit_registration_is_checked(network: Network) -> None:
    aid = network.auditor.id
    with reverts("CustodyRoleNotAllowed", "custody.role_not_allowed", partnerId=aid, role=PartnerRole.AUDITOR):
        network.as_(network.auditor).register_logistic_units([sscc(unique_serial())])
    with reverts("CustodyInvalidRegistration", "custody.invalid_registration", field="epc"):
        network.as_(network.distributor).register_logistic_units([sscc(f"{int(unique_serial('')):010d}"), ""])


# --- batches and lookups -------------------------------------------------------------------------


def test_empty_and_oversized_batches(network: Network) -> None:
    maker = network.as_(network.maker)
    with reverts("CustodyEmptyBatch", "custody.empty_batch"):
        maker.register_items([])
    with reverts("CustodyEmptyBatch", "custody.empty_batch"):
        maker.register_logistic_units([])
    with reverts("CustodyBatchTooLarge", "custody.batch_too_large", size=251, maxSize=250):
        maker.register_items([Registration(sgtin(f"big{i}")) for i in range(251)])
    with reverts("CustodyBatchTooLarge", "custody.batch_too_large", size=251, maxSize=250):
        maker.register_logistic_units([sscc(f"big{i}") for i in range(251)])


def test_a_full_batch_of_item_registrations_fits_in_a_block(network: Network) -> None:
    """MAX_CREATE_BATCH keeps a registration batch under a block's gas (LedgerBase)."""
    max_batch = network.ledger.contract.functions.MAX_CREATE_BATCH().call()
    assert max_batch == 250
    registrations = [Registration(sgtin(unique_serial("MAX")), lot="L1") for _ in range(max_batch)]
    result = network.as_(network.maker).register_items(registrations)
    assert len(result.of(ItemRegistered)) == max_batch


def test_a_transaction_too_big_for_a_block_fails_with_a_client_error(network: Network) -> None:
    """Every failure of chain_client is a CustodyClientError with a stable code (chain_client.errors):
    a transaction asking for more gas than a block holds is refused by the node -> tx.rejected."""
    maker = network.as_(network.maker)
    data = maker.encode("registerItems", [Registration(sgtin(unique_serial("BIG")), lot="L1").as_abi_tuple()])
    with pytest.raises(CustodyClientError) as info:
        maker.sender.send({"to": maker.address, "data": data}, gas=50_000_000)
    assert info.value.code == "tx.rejected"


def test_unknown_object_and_shipment(network: Network) -> None:
    missing = object_id(sgtin(unique_serial("NEVER")))
    with reverts("CustodyUnknownObject", "custody.unknown_object", objectId=missing):
        network.ledger.custody_of(missing)
    with reverts("CustodyUnknownObject", "custody.unknown_object", objectId=missing):
        network.ledger.custodian_of(missing)
    with reverts("CustodyUnknownShipment", "custody.unknown_shipment", shipmentId=2**40 - 1):
        network.ledger.shipment(2**40 - 1)
    with reverts("CustodyUnknownShipment", "custody.unknown_shipment", shipmentId=0):
        network.ledger.shipment(0)
