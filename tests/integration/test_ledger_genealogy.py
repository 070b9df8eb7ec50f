"""Lot genealogy against a real Anvil node: split, merge, transform; quantities conserved, events linked by id."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest.mock import ANY

import pytest

from chain_client.errors import ContractRevert
from chain_client.events import (
    GenealogyInputConsumed,
    GenealogyOutputProduced,
    GenealogyRecorded,
    ItemRegistered,
    LotRegistered,
    StatusChanged,
)
from chain_client.ledger import object_id
from chain_client.models import (
    GenealogyInput,
    GenealogyKind,
    LotOutput,
    ObjectKind,
    PartnerRole,
    Registration,
    ShipmentInfo,
    Status,
)
from tests.conftest import Network, lgtin, sgtin, unique_serial

pytestmark = pytest.mark.integration

UINT232_MAX = 2**232 - 1


@contextmanager
def reverts(name: str, code: str, **arguments: Any) -> Iterator[None]:
    """Expects the block to revert with exactly this custom error, code and arguments."""
    with pytest.raises(ContractRevert) as info:
        yield
    assert (info.value.name, info.value.code, info.value.arguments) == (name, code, arguments)


def out(quantity: int, unit: str = "KGM") -> LotOutput:
    number = unique_serial("LOT")
    return LotOutput(Registration(lgtin(number), number), quantity, unit)


def oid(output: LotOutput | Registration) -> str:
    epc = output.registration.epc if isinstance(output, LotOutput) else output.epc
    return object_id(epc)


def unit_hex(unit: str) -> str:
    return "0x" + unit.encode().ljust(3, b"\0").hex()


def lot_registered(output: LotOutput, partner_id: int) -> LotRegistered:
    r = output.registration
    return LotRegistered(
        meta=ANY,
        object_id=oid(output),
        partner_id=partner_id,
        epc=r.epc,
        lot=r.lot,
        expiry_date=0,
        production_date=0,
        origin_gln=None,
        quantity=output.quantity,
        unit_of_measure=output.unit_of_measure,
    )


def registered_lot(network: Network, quantity: int, unit: str = "KGM") -> LotOutput:
    """Registers a lot by the maker and returns what was registered (its id is ``oid(...)``)."""
    output = out(quantity, unit)
    network.as_(network.maker).register_lot(output)
    return output


def balances(network: Network, lots: list[str]) -> list[int]:
    return [network.ledger.lot_balance(lot)[0] for lot in lots]


# --- split ---------------------------------------------------------------------------------------


def test_split_moves_quantity_from_the_lot_to_new_lots(network: Network) -> None:
    lot = network.register_lot(100, "KGM")
    m = network.maker.id
    outputs = [out(30), out(20)]

    result = network.as_(network.maker).split_lot(lot, outputs)

    gid = result.of(GenealogyRecorded)[0].genealogy_id
    assert result.events == [
        GenealogyRecorded(meta=ANY, genealogy_id=gid, kind=GenealogyKind.SPLIT, partner_id=m),
        GenealogyInputConsumed(meta=ANY, genealogy_id=gid, input=lot, quantity=50, remaining=50),
        lot_registered(outputs[0], m),
        GenealogyOutputProduced(meta=ANY, genealogy_id=gid, output=oid(outputs[0]), quantity=30),
        lot_registered(outputs[1], m),
        GenealogyOutputProduced(meta=ANY, genealogy_id=gid, output=oid(outputs[1]), quantity=20),
    ]
    assert balances(network, [lot, oid(outputs[0]), oid(outputs[1])]) == [50, 30, 20]
    assert sum(balances(network, [lot, oid(outputs[0]), oid(outputs[1])])) == 100
    for new in outputs:
        view = network.ledger.custody_of(oid(new))
        assert (view.kind, view.status, view.unit_of_measure) == (ObjectKind.LOT, Status.ACTIVE, "KGM")
        assert (view.custodian, view.owner, view.registrant) == (m, m, m)


def test_split_off_everything_leaves_an_empty_lot_that_does_not_move(network: Network) -> None:
    lot = network.register_lot(10, "EA")
    maker = network.as_(network.maker)
    whole = out(10, "EA")
    maker.split_lot(lot, [whole])
    assert balances(network, [lot, oid(whole)]) == [0, 10]
    with reverts("CustodyInvalidQuantity", "custody.invalid_quantity", objectId=lot, requested=0, available=0):
        maker.ship([lot], ShipmentInfo(network.distributor.id))
    with reverts("CustodyInvalidQuantity", "custody.invalid_quantity", objectId=lot, requested=0, available=0):
        maker.transfer([lot], network.distributor.id)
    with reverts("CustodyInvalidQuantity", "custody.invalid_quantity", objectId=lot, requested=1, available=0):
        maker.split_lot(lot, [out(1, "EA")])


def test_split_by_a_distributor_registers_the_new_lots_to_it(network: Network) -> None:
    lot = network.register_lot(60, "KGM")
    d = network.distributor.id
    network.as_(network.maker).transfer([lot], d)
    piece = out(15)
    result = network.as_(network.distributor).split_lot(lot, [piece])
    assert result.of(GenealogyRecorded)[0].partner_id == d
    view = network.ledger.custody_of(oid(piece))
    assert (view.custodian, view.owner, view.registrant) == (d, d, d)
    assert balances(network, [lot, oid(piece)]) == [45, 15]


def test_split_checks_quantity_and_unit(network: Network) -> None:
    lot = network.register_lot(100, "KGM")
    maker = network.as_(network.maker)
    with reverts("CustodyInvalidQuantity", "custody.invalid_quantity", objectId=lot, requested=101, available=100):
        maker.split_lot(lot, [out(60), out(41)])
    wrong_unit = out(10, "LTR")
    with reverts(
        "CustodyUnitMismatch",
        "custody.unit_mismatch",
        objectId=oid(wrong_unit),
        expected=unit_hex("KGM"),
        actual=unit_hex("LTR"),
    ):
        maker.split_lot(lot, [out(10), wrong_unit])
    zero = out(0)
    with reverts(
        "CustodyInvalidQuantity", "custody.invalid_quantity", objectId=oid(zero), requested=0, available=UINT232_MAX
    ):
        maker.split_lot(lot, [zero])
    existing = registered_lot(network, 1)  # outputs are always new objects
    with reverts("CustodyAlreadyRegistered", "custody.already_registered", objectId=oid(existing)):
        maker.split_lot(lot, [LotOutput(existing.registration, 1, "KGM")])
    with reverts("CustodyEmptyBatch", "custody.empty_batch"):
        maker.split_lot(lot, [])
    assert network.ledger.lot_balance(lot) == (100, "KGM")  # nothing changed


def test_split_needs_an_active_lot_at_rest_in_hand(network: Network) -> None:
    m, d = network.maker.id, network.distributor.id
    maker = network.as_(network.maker)
    item = network.register()
    with reverts("CustodyInvalidKind", "custody.invalid_kind", objectId=item, kind=int(ObjectKind.ITEM)):
        maker.split_lot(item, [out(1)])
    case = network.register_sscc()
    with reverts("CustodyInvalidKind", "custody.invalid_kind", objectId=case, kind=int(ObjectKind.LOGISTIC_UNIT)):
        maker.split_lot(case, [out(1)])
    lot = network.register_lot(10)
    with reverts("CustodyNotCustodian", "custody.not_custodian", objectId=lot, partnerId=d, custodian=m):
        network.as_(network.distributor).split_lot(lot, [out(1)])
    aid = network.auditor.id
    with reverts("CustodyRoleNotAllowed", "custody.role_not_allowed", partnerId=aid, role=PartnerRole.AUDITOR):
        network.as_(network.auditor).split_lot(lot, [out(1)])
    maker.set_status([lot], Status.QUARANTINED, "sampling")
    with reverts("CustodyInvalidStatus", "custody.invalid_status", objectId=lot, status=int(Status.QUARANTINED)):
        maker.split_lot(lot, [out(1)])
    maker.set_status([lot], Status.ACTIVE, "released")
    maker.ship([lot], ShipmentInfo(d))
    with reverts("CustodyInvalidStatus", "custody.invalid_status", objectId=lot, status=int(Status.IN_TRANSIT)):
        maker.split_lot(lot, [out(1)])
    missing = object_id(lgtin(unique_serial("NEVER")))
    with reverts("CustodyUnknownObject", "custody.unknown_object", objectId=missing):
        maker.split_lot(missing, [out(1)])
    assert network.ledger.lot_balance(lot) == (10, "KGM")


# --- merge ---------------------------------------------------------------------------------------


def test_merge_whole_lots_into_one(network: Network) -> None:
    lots = [network.register_lot(q, "KGM") for q in (30, 20, 50)]
    m = network.maker.id
    merged = out(100)

    result = network.as_(network.maker).merge_lots(lots, merged)

    gid = result.of(GenealogyRecorded)[0].genealogy_id
    assert result.events == [
        GenealogyRecorded(meta=ANY, genealogy_id=gid, kind=GenealogyKind.MERGE, partner_id=m),
        GenealogyInputConsumed(meta=ANY, genealogy_id=gid, input=lots[0], quantity=30, remaining=0),
        GenealogyInputConsumed(meta=ANY, genealogy_id=gid, input=lots[1], quantity=20, remaining=0),
        GenealogyInputConsumed(meta=ANY, genealogy_id=gid, input=lots[2], quantity=50, remaining=0),
        lot_registered(merged, m),
        GenealogyOutputProduced(meta=ANY, genealogy_id=gid, output=oid(merged), quantity=100),
    ]
    assert balances(network, [*lots, oid(merged)]) == [0, 0, 0, 100]


def test_merge_checks_units_and_total(network: Network) -> None:
    kg1, kg2 = network.register_lot(5, "KGM"), network.register_lot(7, "KGM")
    litres = network.register_lot(3, "LTR")
    maker = network.as_(network.maker)
    with reverts(
        "CustodyUnitMismatch",
        "custody.unit_mismatch",
        objectId=litres,
        expected=unit_hex("KGM"),
        actual=unit_hex("LTR"),
    ):
        maker.merge_lots([kg1, litres], out(8))
    too_much = out(13)
    with reverts(
        "CustodyInvalidQuantity", "custody.invalid_quantity", objectId=oid(too_much), requested=13, available=12
    ):
        maker.merge_lots([kg1, kg2], too_much)
    too_little = out(11)
    with reverts(
        "CustodyInvalidQuantity", "custody.invalid_quantity", objectId=oid(too_little), requested=11, available=12
    ):
        maker.merge_lots([kg1, kg2], too_little)
    with reverts("CustodyEmptyBatch", "custody.empty_batch"):
        maker.merge_lots([], out(1))
    assert balances(network, [kg1, kg2, litres]) == [5, 7, 3]


def test_merging_a_lot_twice_counts_it_once(network: Network) -> None:
    lot = network.register_lot(9, "KGM")
    maker = network.as_(network.maker)
    doubled = out(18)
    with reverts(
        "CustodyInvalidQuantity", "custody.invalid_quantity", objectId=oid(doubled), requested=18, available=9
    ):
        maker.merge_lots([lot, lot], doubled)
    once = out(9)
    maker.merge_lots([lot, lot], once)
    assert balances(network, [lot, oid(once)]) == [0, 9]


def test_merge_needs_lots_in_hand(network: Network) -> None:
    m, m2 = network.maker.id, network.maker2.id
    mine, theirs = network.register_lot(1), network.register_lot(1, by=network.maker2)
    item = network.register()
    maker = network.as_(network.maker)
    with reverts("CustodyNotCustodian", "custody.not_custodian", objectId=theirs, partnerId=m, custodian=m2):
        maker.merge_lots([mine, theirs], out(2))
    with reverts("CustodyInvalidKind", "custody.invalid_kind", objectId=item, kind=int(ObjectKind.ITEM)):
        maker.merge_lots([mine, item], out(2))
    assert balances(network, [mine, theirs]) == [1, 1]


# --- transform -----------------------------------------------------------------------------------


def test_transform_consumes_inputs_and_produces_new_lots_and_items(network: Network) -> None:
    m = network.maker.id
    flour = network.register_lot(100, "KGM")
    component = network.register()
    loaves = out(500, "EA")
    assembly = Registration(sgtin(unique_serial()))

    result = network.as_(network.maker).transform(
        [GenealogyInput(flour, 10), GenealogyInput(component, 1)], [loaves], [assembly]
    )

    gid = result.of(GenealogyRecorded)[0].genealogy_id
    assert result.events == [
        GenealogyRecorded(meta=ANY, genealogy_id=gid, kind=GenealogyKind.TRANSFORM, partner_id=m),
        GenealogyInputConsumed(meta=ANY, genealogy_id=gid, input=flour, quantity=10, remaining=90),
        GenealogyInputConsumed(meta=ANY, genealogy_id=gid, input=component, quantity=1, remaining=0),
        StatusChanged(
            meta=ANY,
            object_id=component,
            previous=Status.ACTIVE,
            status=Status.DECOMMISSIONED,
            reason="consumed",
            partner_id=m,
        ),
        lot_registered(loaves, m),
        GenealogyOutputProduced(meta=ANY, genealogy_id=gid, output=oid(loaves), quantity=500),
        ItemRegistered(
            meta=ANY,
            object_id=oid(assembly),
            lot_id="0x" + "00" * 32,
            partner_id=m,
            epc=assembly.epc,
            lot="",
            expiry_date=0,
            production_date=0,
            origin_gln=None,
        ),
        GenealogyOutputProduced(meta=ANY, genealogy_id=gid, output=oid(assembly), quantity=1),
    ]
    assert network.ledger.lot_balance(flour) == (90, "KGM")
    assert network.ledger.lot_balance(oid(loaves)) == (500, "EA")
    assert network.ledger.custody_of(component).status is Status.DECOMMISSIONED
    assert network.ledger.custody_of(oid(assembly)).kind is ObjectKind.ITEM


def test_transform_is_for_manufacturers(network: Network) -> None:
    for partner in (network.distributor, network.pharmacy, network.auditor):
        with reverts("CustodyRoleNotAllowed", "custody.role_not_allowed", partnerId=partner.id, role=partner.role):
            network.as_(partner).transform([GenealogyInput(network.register_lot(1), 1)], [out(1)])


def test_transform_checks_inputs(network: Network) -> None:
    maker = network.as_(network.maker)
    lot = network.register_lot(10, "KGM")
    item = network.register()
    case = network.register_sscc()
    product = [out(1, "EA")]
    with reverts("CustodyInvalidQuantity", "custody.invalid_quantity", objectId=lot, requested=0, available=10):
        maker.transform([GenealogyInput(lot, 0)], product)
    with reverts("CustodyInvalidQuantity", "custody.invalid_quantity", objectId=lot, requested=11, available=10):
        maker.transform([GenealogyInput(lot, 11)], product)
    with reverts("CustodyInvalidQuantity", "custody.invalid_quantity", objectId=lot, requested=6, available=5):
        maker.transform([GenealogyInput(lot, 5), GenealogyInput(lot, 6)], product)  # the same lot twice
    with reverts("CustodyInvalidQuantity", "custody.invalid_quantity", objectId=item, requested=2, available=1):
        maker.transform([GenealogyInput(item, 2)], product)
    decommissioned = int(Status.DECOMMISSIONED)
    with reverts("CustodyInvalidStatus", "custody.invalid_status", objectId=item, status=decommissioned):
        maker.transform([GenealogyInput(item, 1), GenealogyInput(item, 1)], product)  # consumed once only
    with reverts("CustodyInvalidKind", "custody.invalid_kind", objectId=case, kind=int(ObjectKind.LOGISTIC_UNIT)):
        maker.transform([GenealogyInput(case, 1)], product)
    theirs = network.register_lot(3, by=network.maker2)
    with reverts(
        "CustodyNotCustodian",
        "custody.not_custodian",
        objectId=theirs,
        partnerId=network.maker.id,
        custodian=network.maker2.id,
    ):
        maker.transform([GenealogyInput(theirs, 1)], product)
    with reverts("CustodyEmptyBatch", "custody.empty_batch"):
        maker.transform([], product)
    with reverts("CustodyEmptyBatch", "custody.empty_batch"):
        maker.transform([GenealogyInput(lot, 1)], [], [])
    assert network.ledger.lot_balance(lot) == (10, "KGM")
    assert network.ledger.custody_of(item).status is Status.ACTIVE


def test_transform_a_consumed_item_again(network: Network) -> None:
    item = network.register()
    maker = network.as_(network.maker)
    maker.transform([GenealogyInput(item, 1)], [out(1, "EA")])
    with reverts("CustodyInvalidStatus", "custody.invalid_status", objectId=item, status=int(Status.DECOMMISSIONED)):
        maker.transform([GenealogyInput(item, 1)], [out(1, "EA")])


# --- events link outputs to inputs ---------------------------------------------------------------


def test_genealogy_events_rebuild_the_graph_from_a_lot_to_its_descendants(network: Network) -> None:
    start = network.w3.eth.block_number + 1
    maker = network.as_(network.maker)
    origin = network.register_lot(100, "KGM")
    a, b = out(40), out(60)
    maker.split_lot(origin, [a, b])
    other = network.register_lot(10, "KGM")
    merged = out(50)
    maker.merge_lots([oid(a), other], merged)
    product = out(7, "EA")
    maker.transform([GenealogyInput(oid(merged), 50)], [product])

    inputs: dict[str, list[str]] = defaultdict(list)
    outputs: dict[str, list[str]] = defaultdict(list)
    kinds: dict[str, GenealogyKind] = {}
    for event in network.ledger.get_events(from_block=start):
        if isinstance(event, GenealogyRecorded):
            kinds[event.genealogy_id] = event.kind
        elif isinstance(event, GenealogyInputConsumed):
            inputs[event.genealogy_id].append(event.input)
        elif isinstance(event, GenealogyOutputProduced):
            outputs[event.genealogy_id].append(event.output)

    assert list(kinds.values()) == [GenealogyKind.SPLIT, GenealogyKind.MERGE, GenealogyKind.TRANSFORM]
    assert len(set(kinds)) == 3  # a fresh id per event
    assert [(inputs[g], outputs[g]) for g in kinds] == [
        ([origin], [oid(a), oid(b)]),
        ([oid(a), other], [oid(merged)]),
        ([oid(merged)], [oid(product)]),
    ]
    children: dict[str, set[str]] = defaultdict(set)
    for g in kinds:
        for i in inputs[g]:
            children[i] |= set(outputs[g])  # every output derives from every input of the same id
    descendants: set[str] = set()
    frontier = [origin]
    while frontier:
        node = frontier.pop()
        for child in children[node] - descendants:
            descendants.add(child)
            frontier.append(child)
    assert descendants == {oid(a), oid(b), oid(merged), oid(product)}  # forward trace of the origin lot
    assert other not in descendants
    # quantities: what left the origin family sits in its lots or went into the transformation
    assert balances(network, [origin, oid(a), oid(b)]) == [0, 0, 60]
    assert network.ledger.lot_balance(oid(merged)) == (0, "KGM")


def test_genealogy_outputs_are_always_new_objects(network: Network) -> None:
    registered = registered_lot(network, 5)
    lot = oid(registered)
    maker = network.as_(network.maker)
    itself = LotOutput(registered.registration, 1, "KGM")
    with reverts("CustodyAlreadyRegistered", "custody.already_registered", objectId=lot):
        maker.split_lot(lot, [itself])  # a lot cannot become its own descendant
    with reverts("CustodyAlreadyRegistered", "custody.already_registered", objectId=lot):
        maker.merge_lots([lot], LotOutput(registered.registration, 5, "KGM"))
    with reverts("CustodyAlreadyRegistered", "custody.already_registered", objectId=lot):
        maker.transform([GenealogyInput(lot, 1)], [itself])
    assert network.ledger.lot_balance(lot) == (5, "KGM")
