"""Lifecycle status against a real Anvil node: quarantine, expiry, dispensing, decommissioning, recall.

Tests that move the chain's clock run on a network of their own (``timed``): on the session's
chain a later block time would void the signed calls that other tests sign with wall-clock deadlines.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest

from chain_client.errors import ContractRevert
from chain_client.events import ItemRegistered, RecallInitiated, ShipmentDispatched, StatusChanged
from chain_client.ledger import object_id
from chain_client.models import LotOutput, Registration, ShipmentInfo, Status
from chain_client.node import AnvilConfig, AnvilNode
from tests.conftest import Network, build_network, lgtin, sgtin, unique_serial

pytestmark = pytest.mark.integration

ACTIVE, IN_TRANSIT, QUARANTINED, RECALLED, EXPIRED, DISPENSED, DECOMMISSIONED = (int(s) for s in Status)


@contextmanager
def reverts(name: str, code: str, **arguments: Any) -> Iterator[None]:
    """Expects the block to revert with exactly this custom error, code and arguments."""
    with pytest.raises(ContractRevert) as info:
        yield
    assert (info.value.name, info.value.code, info.value.arguments) == (name, code, arguments)


def changed(object_id_: str, previous: Status, status: Status, reason: str, partner_id: int) -> StatusChanged:
    return StatusChanged(
        meta=ANY, object_id=object_id_, previous=previous, status=status, reason=reason, partner_id=partner_id
    )


def not_authorized(object_id_: str, partner_id: int) -> Any:
    return reverts("CustodyNotAuthorized", "custody.not_authorized", subject=object_id_, partnerId=partner_id)


def invalid_transition(object_id_: str, from_: int, to: int) -> Any:
    return reverts(
        "CustodyInvalidTransition", "custody.invalid_transition", objectId=object_id_, **{"from": from_, "to": to}
    )


def status(network: Network, object_id_: str) -> Status:
    return network.ledger.custody_of(object_id_).status


def item_with_expiry(network: Network, expiry: dt.date | None) -> str:
    result = network.as_(network.maker).register_item(Registration(sgtin(unique_serial()), "L1", expiry_date=expiry))
    return str(result.of(ItemRegistered)[0].object_id)


# --- quarantine ----------------------------------------------------------------------------------


def test_custodian_quarantines_and_registrant_releases(network: Network) -> None:
    item = network.register()
    m, d = network.maker.id, network.distributor.id
    network.as_(network.maker).transfer([item], d)

    result = network.as_(network.distributor).set_status([item], Status.QUARANTINED, "temperature")
    assert result.events == [changed(item, Status.ACTIVE, Status.QUARANTINED, "temperature", d)]
    assert status(network, item) is Status.QUARANTINED

    result = network.as_(network.maker).set_status([item], Status.ACTIVE, "released")
    assert result.events == [changed(item, Status.QUARANTINED, Status.ACTIVE, "released", m)]
    assert status(network, item) is Status.ACTIVE


def test_a_quarantined_object_does_not_move(network: Network) -> None:
    item = network.register()
    maker = network.as_(network.maker)
    maker.set_status([item], Status.QUARANTINED, "sampling")
    with reverts("CustodyInvalidStatus", "custody.invalid_status", objectId=item, status=QUARANTINED):
        maker.ship([item], ShipmentInfo(network.distributor.id))
    with reverts("CustodyInvalidStatus", "custody.invalid_status", objectId=item, status=QUARANTINED):
        maker.transfer([item], network.distributor.id)
    maker.set_status([item], Status.ACTIVE)
    maker.transfer([item], network.distributor.id)
    assert network.ledger.custodian_of(item) == network.distributor.id


def test_quarantine_transitions_and_who_may_make_them(network: Network) -> None:
    item = network.register()
    maker = network.as_(network.maker)
    for partner in (network.pharmacy, network.maker2, network.auditor):
        with not_authorized(item, partner.id):
            network.as_(partner).set_status([item], Status.QUARANTINED, "x")
    with invalid_transition(item, ACTIVE, ACTIVE):
        maker.set_status([item], Status.ACTIVE)
    maker.set_status([item], Status.QUARANTINED)
    with invalid_transition(item, QUARANTINED, QUARANTINED):
        maker.set_status([item], Status.QUARANTINED)
    with not_authorized(item, network.pharmacy.id):
        network.as_(network.pharmacy).set_status([item], Status.ACTIVE)
    with reverts("CustodyUnknownAccount", "custody.unknown_account", account=network.outsider.address):
        network.as_(network.outsider).set_status([item], Status.ACTIVE)
    assert status(network, item) is Status.QUARANTINED


def test_status_is_never_set_to_in_transit_or_recalled_directly(network: Network) -> None:
    item = network.register()
    maker = network.as_(network.maker)
    with invalid_transition(item, ACTIVE, IN_TRANSIT):
        maker.set_status([item], Status.IN_TRANSIT)
    with invalid_transition(item, ACTIVE, RECALLED):
        maker.set_status([item], Status.RECALLED)
    assert status(network, item) is Status.ACTIVE


def test_set_status_batch_is_all_or_nothing(network: Network) -> None:
    mine = network.register()
    theirs = network.register(by=network.maker2)
    with not_authorized(theirs, network.maker.id):
        network.as_(network.maker).set_status([mine, theirs], Status.QUARANTINED)
    assert status(network, mine) is Status.ACTIVE
    with reverts("CustodyEmptyBatch", "custody.empty_batch"):
        network.as_(network.maker).set_status([], Status.QUARANTINED)
    missing = object_id(sgtin(unique_serial("NEVER")))
    with reverts("CustodyUnknownObject", "custody.unknown_object", objectId=missing):
        network.as_(network.maker).set_status([missing], Status.QUARANTINED)


# --- expiry --------------------------------------------------------------------------------------


def test_expire_after_a_past_expiry_date(network: Network) -> None:
    item = item_with_expiry(network, dt.date(2020, 1, 31))
    m, d = network.maker.id, network.distributor.id
    network.as_(network.maker).transfer([item], d)
    result = network.as_(network.distributor).set_status([item], Status.EXPIRED, "expired")  # the custodian
    assert result.events == [changed(item, Status.ACTIVE, Status.EXPIRED, "expired", d)]
    assert status(network, item) is Status.EXPIRED
    with reverts("CustodyInvalidStatus", "custody.invalid_status", objectId=item, status=EXPIRED):
        network.as_(network.distributor).transfer([item], network.pharmacy.id)

    other = item_with_expiry(network, dt.date(2020, 1, 31))
    network.as_(network.maker).transfer([other], d)
    network.as_(network.distributor).set_status([other], Status.QUARANTINED)
    result = network.as_(network.maker).set_status([other], Status.EXPIRED, "expired")  # the registrant
    assert result.events == [changed(other, Status.QUARANTINED, Status.EXPIRED, "expired", m)]


def test_expire_needs_an_expiry_date(network: Network) -> None:
    item = item_with_expiry(network, None)
    with reverts("CustodyNotExpired", "custody.not_expired", objectId=item, expiryDate=0):
        network.as_(network.maker).set_status([item], Status.EXPIRED)


def test_expire_transitions_and_who_may_make_them(network: Network) -> None:
    item = item_with_expiry(network, dt.date(2020, 1, 31))
    maker = network.as_(network.maker)
    with not_authorized(item, network.pharmacy.id):
        network.as_(network.pharmacy).set_status([item], Status.EXPIRED)
    maker.set_status([item], Status.EXPIRED)
    with invalid_transition(item, EXPIRED, EXPIRED):
        maker.set_status([item], Status.EXPIRED)
    with invalid_transition(item, EXPIRED, ACTIVE):
        maker.set_status([item], Status.ACTIVE)  # expiry is final
    with invalid_transition(item, EXPIRED, QUARANTINED):
        maker.set_status([item], Status.QUARANTINED)


@pytest.fixture(scope="module")
def timed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    """A network on its own node, whose clock the tests move forward."""
    log: Path = tmp_path_factory.mktemp("anvil-timed") / "anvil.log"
    with AnvilNode(AnvilConfig(log_path=log)) as node:
        yield build_network(node)


def chain_now(network: Network) -> dt.datetime:
    return dt.datetime.fromtimestamp(network.w3.eth.get_block("latest")["timestamp"], dt.UTC)


def mine_at(network: Network, moment: dt.datetime) -> None:
    network.w3.provider.make_request("evm_mine", [int(moment.timestamp())])  # type: ignore[arg-type]


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def test_expire_only_once_the_expiry_date_passed(timed: Network) -> None:
    expiry = chain_now(timed).date() + dt.timedelta(days=2)
    item = item_with_expiry(timed, expiry)
    lot_number = unique_serial("LOT")
    lot_output = LotOutput(Registration(lgtin(lot_number), lot_number, expiry_date=expiry), 10, "KGM")
    lot = timed.as_(timed.maker).register_lot(lot_output).events[0].object_id  # type: ignore[attr-defined]
    timed.as_(timed.maker).set_status([lot], Status.QUARANTINED)
    yyyymmdd = expiry.year * 10000 + expiry.month * 100 + expiry.day
    for obj in (item, lot):
        with reverts("CustodyNotExpired", "custody.not_expired", objectId=obj, expiryDate=yyyymmdd):
            timed.as_(timed.maker).set_status([obj], Status.EXPIRED)

    timed.w3.provider.make_request("evm_increaseTime", [3 * 86400])  # type: ignore[arg-type]
    timed.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    result = timed.as_(timed.maker).set_status([item, lot], Status.EXPIRED, "expired")
    m = timed.maker.id
    assert result.events == [
        changed(item, Status.ACTIVE, Status.EXPIRED, "expired", m),
        changed(lot, Status.QUARANTINED, Status.EXPIRED, "expired", m),
    ]


def test_an_object_is_not_expired_on_its_expiry_date(timed: Network) -> None:
    """The ledger's rule: "once the expiry date passed" (StatusControl); on the date itself it has not passed."""
    expiry = chain_now(timed).date() + dt.timedelta(days=2)
    item = item_with_expiry(timed, expiry)
    maker = timed.as_(timed.maker)
    yyyymmdd = expiry.year * 10000 + expiry.month * 100 + expiry.day

    mine_at(timed, midnight(expiry) - dt.timedelta(seconds=30))  # the evening before
    with reverts("CustodyNotExpired", "custody.not_expired", objectId=item, expiryDate=yyyymmdd):
        maker.set_status([item], Status.EXPIRED)

    mine_at(timed, midnight(expiry) + dt.timedelta(hours=12))  # noon of the expiry date
    with reverts("CustodyNotExpired", "custody.not_expired", objectId=item, expiryDate=yyyymmdd):
        maker.set_status([item], Status.EXPIRED)

    mine_at(timed, midnight(expiry + dt.timedelta(days=1)))  # the date has passed
    maker.set_status([item], Status.EXPIRED)
    assert status(timed, item) is Status.EXPIRED


# --- dispensing ----------------------------------------------------------------------------------


def dispensable(network: Network) -> str:
    """An item the pharmacy (a Dispenser) holds."""
    item = network.register()
    network.as_(network.maker).ship([item], ShipmentInfo(network.pharmacy.id, transfer_ownership=True))
    network.as_(network.pharmacy).receive([item])
    return item


def test_a_dispenser_dispenses_and_takes_back_a_saleable_return(network: Network) -> None:
    item = dispensable(network)
    p = network.pharmacy.id
    pharmacy = network.as_(network.pharmacy)

    result = pharmacy.set_status([item], Status.DISPENSED, "sold")
    assert result.events == [changed(item, Status.ACTIVE, Status.DISPENSED, "sold", p)]
    with reverts("CustodyInvalidStatus", "custody.invalid_status", objectId=item, status=DISPENSED):
        pharmacy.transfer([item], network.distributor.id)

    result = pharmacy.set_status([item], Status.ACTIVE, "saleable return")
    assert result.events == [changed(item, Status.DISPENSED, Status.ACTIVE, "saleable return", p)]
    assert status(network, item) is Status.ACTIVE


def test_only_a_dispenser_holding_the_object_dispenses(network: Network) -> None:
    item = network.register()
    network.as_(network.maker).transfer([item], network.distributor.id)
    with invalid_transition(item, ACTIVE, DISPENSED):
        network.as_(network.distributor).set_status([item], Status.DISPENSED)  # holds it, but no Dispenser
    with invalid_transition(item, ACTIVE, DISPENSED):
        network.as_(network.maker).set_status([item], Status.DISPENSED)  # the registrant
    with not_authorized(item, network.pharmacy.id):
        network.as_(network.pharmacy).set_status([item], Status.DISPENSED)  # a Dispenser, but not holding it

    shipped = dispensable(network)
    network.as_(network.pharmacy).ship([shipped], ShipmentInfo(network.distributor.id))
    with invalid_transition(shipped, ACTIVE, DISPENSED):
        network.as_(network.pharmacy).set_status([shipped], Status.DISPENSED)  # not while in transit
    assert status(network, shipped) is Status.IN_TRANSIT


def test_only_the_dispenser_takes_a_return(network: Network) -> None:
    item = dispensable(network)
    network.as_(network.pharmacy).set_status([item], Status.DISPENSED, "sold")
    with invalid_transition(item, DISPENSED, ACTIVE):
        network.as_(network.maker).set_status([item], Status.ACTIVE)  # the registrant
    with not_authorized(item, network.distributor.id):
        network.as_(network.distributor).set_status([item], Status.ACTIVE)
    with invalid_transition(item, DISPENSED, QUARANTINED):
        network.as_(network.pharmacy).set_status([item], Status.QUARANTINED)
    assert status(network, item) is Status.DISPENSED


# --- decommissioning -----------------------------------------------------------------------------


def test_the_custodian_decommissions_with_a_reason(network: Network) -> None:
    item, quarantined = network.register_many(2)
    m = network.maker.id
    maker = network.as_(network.maker)
    maker.set_status([quarantined], Status.QUARANTINED)

    result = maker.set_status([item, quarantined], Status.DECOMMISSIONED, "destroyed")

    assert result.events == [
        changed(item, Status.ACTIVE, Status.DECOMMISSIONED, "destroyed", m),
        changed(quarantined, Status.QUARANTINED, Status.DECOMMISSIONED, "destroyed", m),
    ]
    with invalid_transition(item, DECOMMISSIONED, DECOMMISSIONED):
        maker.set_status([item], Status.DECOMMISSIONED, "again")
    with invalid_transition(item, DECOMMISSIONED, ACTIVE):
        maker.set_status([item], Status.ACTIVE)
    with reverts("CustodyInvalidStatus", "custody.invalid_status", objectId=item, status=DECOMMISSIONED):
        maker.ship([item], ShipmentInfo(network.distributor.id))


def test_a_dispensed_sample_is_decommissioned_by_the_dispenser(network: Network) -> None:
    item = dispensable(network)
    pharmacy = network.as_(network.pharmacy)
    pharmacy.set_status([item], Status.DISPENSED, "sold")
    result = pharmacy.set_status([item], Status.DECOMMISSIONED, "sample")
    assert result.events == [changed(item, Status.DISPENSED, Status.DECOMMISSIONED, "sample", network.pharmacy.id)]


def test_only_the_custodian_decommissions(network: Network) -> None:
    item = network.register()
    network.as_(network.maker).transfer([item], network.distributor.id)
    with invalid_transition(item, ACTIVE, DECOMMISSIONED):
        network.as_(network.maker).set_status([item], Status.DECOMMISSIONED, "destroyed")  # registrant only
    with not_authorized(item, network.pharmacy.id):
        network.as_(network.pharmacy).set_status([item], Status.DECOMMISSIONED, "destroyed")
    assert status(network, item) is Status.ACTIVE


def test_stolen_in_transit_ends_the_shipment(network: Network) -> None:
    item = network.register()
    m, d = network.maker.id, network.distributor.id
    network.as_(network.maker).ship([item], ShipmentInfo(d))

    result = network.as_(network.maker).set_status([item], Status.DECOMMISSIONED, "stolen")

    assert result.events == [changed(item, Status.ACTIVE, Status.DECOMMISSIONED, "stolen", m)]
    view = network.ledger.custody_of(item)
    assert (view.status, view.custodian, view.pending_receiver, view.shipment_id) == (Status.DECOMMISSIONED, m, 0, 0)
    with reverts("CustodyNotReceiver", "custody.not_receiver", objectId=item, partnerId=d, pendingReceiver=0):
        network.as_(network.distributor).receive([item])


# --- recall --------------------------------------------------------------------------------------


def test_the_registrant_recalls(network: Network) -> None:
    item = network.register()
    m = network.maker.id
    network.as_(network.maker).transfer([item], network.distributor.id)

    result = network.as_(network.maker).recall(item, "contamination")

    assert result.events == [
        RecallInitiated(meta=ANY, object_id=item, partner_id=m, reason="contamination"),
        changed(item, Status.ACTIVE, Status.RECALLED, "contamination", m),
    ]
    assert status(network, item) is Status.RECALLED


def test_the_admin_recalls_as_no_partner(network: Network) -> None:
    item = network.register()
    result = network.ledger.recall(item, "regulator")
    assert result.events == [
        RecallInitiated(meta=ANY, object_id=item, partner_id=0, reason="regulator"),
        changed(item, Status.ACTIVE, Status.RECALLED, "regulator", 0),
    ]


def test_who_may_recall(network: Network) -> None:
    item = network.register()
    network.as_(network.maker).transfer([item], network.distributor.id)
    for partner in (network.distributor, network.maker2, network.auditor):
        with not_authorized(item, partner.id):
            network.as_(partner).recall(item, "x")
    with reverts("CustodyUnknownAccount", "custody.unknown_account", account=network.outsider.address):
        network.as_(network.outsider).recall(item, "x")
    missing = object_id(sgtin(unique_serial("NEVER")))
    with reverts("CustodyUnknownObject", "custody.unknown_object", objectId=missing):
        network.as_(network.maker).recall(missing, "x")
    assert status(network, item) is Status.ACTIVE


def test_recall_transitions(network: Network) -> None:
    recalled, decommissioned, expired = [*network.register_many(2), item_with_expiry(network, dt.date(2020, 1, 1))]
    maker = network.as_(network.maker)
    maker.recall(recalled, "first")
    with invalid_transition(recalled, RECALLED, RECALLED):
        maker.recall(recalled, "second")
    with invalid_transition(recalled, RECALLED, RECALLED):
        network.ledger.recall(recalled, "second")
    maker.set_status([decommissioned], Status.DECOMMISSIONED, "destroyed")
    with invalid_transition(decommissioned, DECOMMISSIONED, RECALLED):
        maker.recall(decommissioned, "late")
    maker.set_status([expired], Status.EXPIRED)
    result = maker.recall(expired, "contamination")  # an expired object may still be recalled
    assert result.of(StatusChanged) == [
        changed(expired, Status.EXPIRED, Status.RECALLED, "contamination", network.maker.id)
    ]


def test_a_recalled_object_ships_only_back_to_its_registrant(network: Network) -> None:
    item = network.register()
    m, d, p = network.maker.id, network.distributor.id, network.pharmacy.id
    network.as_(network.maker).transfer([item], d)
    network.as_(network.maker).recall(item, "contamination")
    distributor = network.as_(network.distributor)
    with reverts("CustodyInvalidStatus", "custody.invalid_status", objectId=item, status=RECALLED):
        distributor.ship([item], ShipmentInfo(p))
    with reverts("CustodyInvalidStatus", "custody.invalid_status", objectId=item, status=RECALLED):
        distributor.transfer([item], p)

    shipped = distributor.ship([item], ShipmentInfo(m))
    assert shipped.of(ShipmentDispatched)[0].receiver == m
    network.as_(network.maker).receive([item])
    view = network.ledger.custody_of(item)
    assert (view.status, view.custodian) == (Status.RECALLED, m)

    other = network.register()
    network.as_(network.maker).transfer([other], d)
    network.as_(network.maker).recall(other, "contamination")
    distributor.transfer([other], m)  # a one-step hand-back too
    assert network.ledger.custodian_of(other) == m


def test_a_recalled_object_on_its_way_back_keeps_its_status_and_shows_the_transit(network: Network) -> None:
    """`InTransit` is reported for active objects; a recalled one keeps its status while
    `shipment_id`/`pending_receiver` show the transit (ICustodyLedger.Status)."""
    item = network.register()
    m, d = network.maker.id, network.distributor.id
    network.as_(network.maker).transfer([item], d)
    network.as_(network.maker).recall(item, "contamination")
    sid = network.as_(network.distributor).ship([item], ShipmentInfo(m)).of(ShipmentDispatched)[0].shipment_id
    view = network.ledger.custody_of(item)
    assert (view.pending_receiver, view.shipment_id) == (m, sid)
    assert view.status is Status.RECALLED


def test_the_registrant_lifts_a_recall(network: Network) -> None:
    item = network.register()
    m, d = network.maker.id, network.distributor.id
    network.as_(network.maker).transfer([item], d)
    network.as_(network.maker).recall(item, "suspected")
    with invalid_transition(item, RECALLED, ACTIVE):
        network.as_(network.distributor).set_status([item], Status.ACTIVE)  # the custodian may not
    result = network.as_(network.maker).set_status([item], Status.ACTIVE, "cleared")
    assert result.events == [changed(item, Status.RECALLED, Status.ACTIVE, "cleared", m)]
    network.as_(network.distributor).transfer([item], network.pharmacy.id)


def test_the_admin_lifts_a_recall(network: Network) -> None:
    """StatusControl: "Recalled -> Active (recall lifted): the registrant or the admin"."""
    item = network.register()
    network.ledger.recall(item, "regulator")
    result = network.ledger.set_status([item], Status.ACTIVE, "cleared")
    assert result.events == [changed(item, Status.RECALLED, Status.ACTIVE, "cleared", 0)]
    assert status(network, item) is Status.ACTIVE


def test_items_of_a_recalled_lot_are_recalled_in_one_relayed_batch(network: Network) -> None:
    """The recall service recalls a lot's items too, by signed recalls relayed in one transaction."""
    number = unique_serial("LOT")
    maker = network.as_(network.maker)
    lot = maker.register_lot(LotOutput(Registration(lgtin(number), number), 3, "EA")).events[0].object_id  # type: ignore[attr-defined]
    items = network.register_many(3, lot=number)
    d, p = network.distributor.id, network.pharmacy.id
    maker.transfer([lot, *items], d)

    maker.recall(lot, "contamination")
    nonce = network.ledger.relay_nonce(network.maker.signer.address)
    calls = [
        network.ledger.sign(
            network.maker.signer, "recall", bytes.fromhex(i[2:]), b"contamination".ljust(32, b"\0"), nonce=nonce + k
        )
        for k, i in enumerate(items)
    ]
    result = network.ledger.execute_signed_batch(calls)

    assert result.of(RecallInitiated) == [
        RecallInitiated(meta=ANY, object_id=i, partner_id=network.maker.id, reason="contamination") for i in items
    ]
    assert {status(network, i) for i in [lot, *items]} == {Status.RECALLED}
    for obj in (lot, items[0]):
        with reverts("CustodyInvalidStatus", "custody.invalid_status", objectId=obj, status=RECALLED):
            network.as_(network.distributor).ship([obj], ShipmentInfo(p))


def test_only_its_own_status_stops_an_item_of_a_recalled_or_quarantined_lot(network: Network) -> None:
    """The ledger checks only the moving object's own status (LedgerBase._checkMovable): an item of a
    recalled or quarantined lot moves until it is recalled or quarantined itself."""
    number = unique_serial("LOT")
    maker = network.as_(network.maker)
    lot = maker.register_lot(LotOutput(Registration(lgtin(number), number), 2, "EA")).events[0].object_id  # type: ignore[attr-defined]
    quarantined_lot_item, recalled_lot_item = network.register_many(2, lot=number)
    assert network.ledger.custody_of(quarantined_lot_item).lot == lot
    maker.set_status([lot], Status.QUARANTINED, "sampling")
    maker.transfer([quarantined_lot_item], network.distributor.id)
    maker.set_status([lot], Status.ACTIVE, "released")
    maker.recall(lot, "contamination")
    maker.transfer([recalled_lot_item], network.distributor.id)
    assert {network.ledger.custodian_of(i) for i in (quarantined_lot_item, recalled_lot_item)} == {
        network.distributor.id
    }


def test_a_recalled_item_does_not_leave_inside_its_case(network: Network) -> None:
    """A recalled object ships only back to its registrant; packing it must not be a way around that."""
    item = network.register()
    case = network.register_sscc()
    d, p = network.distributor.id, network.pharmacy.id
    network.as_(network.maker).pack(case, [item])
    network.as_(network.maker).transfer([case], d)
    network.as_(network.maker).recall(item, "contamination")
    assert network.ledger.custody_of(item).status is Status.RECALLED

    with reverts("CustodyBlockedContents", "custody.blocked_contents", container=case, count=1):
        network.as_(network.distributor).ship([case], ShipmentInfo(p))
    assert network.ledger.custody_of(item).pending_receiver == 0
