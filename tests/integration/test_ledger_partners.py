"""Partner directory against a real Anvil node: admin-only changes, suspension, key rotation, GLNs, auditors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from unittest.mock import ANY

import pytest

from chain_client.errors import ContractRevert
from chain_client.events import (
    ItemRegistered,
    PartnerAccountAdded,
    PartnerAccountRemoved,
    PartnerLocationAdded,
    PartnerRegistered,
    PartnerStatusChanged,
)
from chain_client.gs1 import gs1_check_digit
from chain_client.ledger import CustodyLedgerClient
from chain_client.models import (
    DocumentType,
    GenealogyInput,
    LotOutput,
    PartnerRole,
    Registration,
    ShipmentInfo,
    Status,
)
from chain_client.signers import LocalSigner
from tests.conftest import MAKER_GLN, Network, lgtin, sgtin, sscc, unique_serial

pytestmark = pytest.mark.integration

DEFAULT_ADMIN_ROLE = "0x" + "00" * 32
CID = bytes.fromhex("1220" + "ab" * 32)


@contextmanager
def reverts(name: str, code: str, **arguments: Any) -> Iterator[None]:
    """Expects the block to revert with exactly this custom error, code and arguments."""
    with pytest.raises(ContractRevert) as info:
        yield
    assert (info.value.name, info.value.code, info.value.arguments) == (name, code, arguments)


def fresh_gln() -> str:
    """A 13-digit GLN with a valid check digit that no other test uses."""
    payload = f"0614142{int(unique_serial('')):05d}"
    return payload + str(gs1_check_digit(payload))


def funded_account(network: Network) -> LocalSigner:
    signer = LocalSigner.generate()
    network.w3.provider.make_request("anvil_setBalance", [signer.address, hex(10**20)])  # type: ignore[arg-type]
    return signer


def new_partner(network: Network, role: PartnerRole) -> tuple[int, LocalSigner]:
    """A fresh partner with one funded account and one location, so tests can change it freely."""
    signer = funded_account(network)
    result = network.ledger.register_partner(
        f"{role.name.lower()}-{unique_serial()}", role, [signer.address], [fresh_gln()]
    )
    return int(result.of(PartnerRegistered)[0].partner_id), signer


def location_owner(network: Network, gln: str) -> int:
    return int(network.ledger.contract.functions.locationOwner(int(gln)).call())


# --- registration --------------------------------------------------------------------------------


def test_register_partner_emits_every_directory_event_and_reads_back(network: Network) -> None:
    accounts = [funded_account(network).address, funded_account(network).address]
    glns = [fresh_gln(), fresh_gln()]
    count_before = network.ledger.contract.functions.partnerCount().call()

    result = network.ledger.register_partner("Acme 3PL", PartnerRole.DISTRIBUTOR, accounts, glns)

    partner_id = count_before + 1
    assert result.events == [
        PartnerRegistered(meta=ANY, partner_id=partner_id, role=PartnerRole.DISTRIBUTOR, name="Acme 3PL"),
        PartnerAccountAdded(meta=ANY, partner_id=partner_id, account=accounts[0]),
        PartnerAccountAdded(meta=ANY, partner_id=partner_id, account=accounts[1]),
        PartnerLocationAdded(meta=ANY, partner_id=partner_id, gln=glns[0]),
        PartnerLocationAdded(meta=ANY, partner_id=partner_id, gln=glns[1]),
    ]
    assert network.ledger.partner(partner_id) == (PartnerRole.DISTRIBUTOR, True)
    assert [network.ledger.partner_of(a) for a in accounts] == [partner_id, partner_id]
    assert [location_owner(network, g) for g in glns] == [partner_id, partner_id]
    assert network.ledger.contract.functions.partnerCount().call() == partner_id


def test_session_partners_have_their_roles(network: Network) -> None:
    for name, role in [
        ("maker", PartnerRole.MANUFACTURER),
        ("maker2", PartnerRole.MANUFACTURER),
        ("distributor", PartnerRole.DISTRIBUTOR),
        ("pharmacy", PartnerRole.DISPENSER),
        ("auditor", PartnerRole.AUDITOR),
    ]:
        partner = network.partners[name]
        assert network.ledger.partner(partner.id) == (role, True)
        assert network.ledger.partner_of(partner.signer.address) == partner.id
        assert location_owner(network, partner.gln) == partner.id
    assert network.ledger.partner_of(network.outsider.address) == 0


@pytest.mark.parametrize(
    "operation",
    [
        pytest.param(lambda c, n: c.register_partner("x", PartnerRole.DISTRIBUTOR), id="register_partner"),
        pytest.param(lambda c, n: c.add_partner_account(n.maker.id, LocalSigner.generate().address), id="add_account"),
        pytest.param(lambda c, n: c.remove_partner_account(n.pharmacy.signer.address), id="remove_account"),
        pytest.param(lambda c, n: c.add_partner_location(n.maker.id, fresh_gln()), id="add_location"),
        pytest.param(lambda c, n: c.set_partner_active(n.distributor.id, False), id="set_active"),
    ],
)
def test_only_the_admin_changes_the_directory(
    network: Network, operation: Callable[[CustodyLedgerClient, Network], object]
) -> None:
    for who in (network.maker.signer, network.outsider):
        with reverts(
            "AccessControlUnauthorizedAccount",
            "access_control.unauthorized_account",
            account=who.address,
            neededRole=DEFAULT_ADMIN_ROLE,
        ):
            operation(network.as_(who), network)
    assert network.ledger.partner(network.distributor.id) == (PartnerRole.DISTRIBUTOR, True)
    assert network.ledger.partner_of(network.pharmacy.signer.address) == network.pharmacy.id


def test_register_partner_needs_a_name(network: Network) -> None:
    with reverts("CustodyInvalidRegistration", "custody.invalid_registration", field="name"):
        network.ledger.register_partner("", PartnerRole.DISTRIBUTOR, [funded_account(network).address])


def test_an_account_acts_for_one_partner_only(network: Network) -> None:
    maker_account = network.maker.signer.address
    with reverts("CustodyAccountTaken", "custody.account_taken", account=maker_account, partnerId=network.maker.id):
        network.ledger.register_partner("copycat", PartnerRole.MANUFACTURER, [maker_account])
    partner_id, _ = new_partner(network, PartnerRole.DISTRIBUTOR)
    with reverts("CustodyAccountTaken", "custody.account_taken", account=maker_account, partnerId=network.maker.id):
        network.ledger.add_partner_account(partner_id, maker_account)
    twice = LocalSigner.generate().address
    next_id = network.ledger.contract.functions.partnerCount().call() + 1
    with reverts("CustodyAccountTaken", "custody.account_taken", account=twice, partnerId=next_id):
        network.ledger.register_partner("twice", PartnerRole.DISTRIBUTOR, [twice, twice])
    assert network.ledger.partner_of(maker_account) == network.maker.id


def test_the_zero_address_is_no_account(network: Network) -> None:
    zero = "0x" + "00" * 20
    with reverts("CustodyUnknownAccount", "custody.unknown_account", account=zero):
        network.ledger.register_partner("nobody", PartnerRole.DISTRIBUTOR, [zero])


def test_unknown_partner_ids_are_rejected(network: Network) -> None:
    unknown = 999_999
    with reverts("CustodyUnknownPartner", "custody.unknown_partner", partnerId=unknown):
        network.ledger.add_partner_account(unknown, LocalSigner.generate().address)
    with reverts("CustodyUnknownPartner", "custody.unknown_partner", partnerId=unknown):
        network.ledger.add_partner_location(unknown, fresh_gln())
    with reverts("CustodyUnknownPartner", "custody.unknown_partner", partnerId=unknown):
        network.ledger.set_partner_active(unknown, False)
    with reverts("CustodyUnknownPartner", "custody.unknown_partner", partnerId=unknown):
        network.ledger.partner(unknown)


def test_removing_an_account_that_belongs_to_no_partner(network: Network) -> None:
    with reverts("CustodyUnknownAccount", "custody.unknown_account", account=network.outsider.address):
        network.ledger.remove_partner_account(network.outsider.address)


# --- locations (GLN) -----------------------------------------------------------------------------


def test_add_location_with_a_valid_check_digit(network: Network) -> None:
    partner_id, _ = new_partner(network, PartnerRole.DISTRIBUTOR)
    gln = fresh_gln()
    result = network.ledger.add_partner_location(partner_id, gln)
    assert result.events == [PartnerLocationAdded(meta=ANY, partner_id=partner_id, gln=gln)]
    assert location_owner(network, gln) == partner_id


@pytest.mark.parametrize("wrong", [1, 5, 9])
def test_gln_with_a_wrong_check_digit_is_rejected(network: Network, wrong: int) -> None:
    valid = fresh_gln()
    invalid = valid[:12] + str((int(valid[12]) + wrong) % 10)
    with reverts("CustodyInvalidLocation", "custody.invalid_location", gln=int(invalid)):
        network.ledger.add_partner_location(network.distributor.id, invalid)
    with reverts("CustodyInvalidLocation", "custody.invalid_location", gln=int(invalid)):
        network.ledger.register_partner("bad gln", PartnerRole.DISTRIBUTOR, [], [invalid])
    assert location_owner(network, invalid) == 0


@pytest.mark.parametrize(
    "gln",
    [
        pytest.param("0", id="zero"),
        pytest.param("10000000000000", id="fourteen-digits"),
        pytest.param("99999999999999", id="fourteen-nines"),
    ],
)
def test_malformed_gln_is_rejected(network: Network, gln: str) -> None:
    with reverts("CustodyInvalidLocation", "custody.invalid_location", gln=int(gln)):
        network.ledger.add_partner_location(network.distributor.id, gln)


def test_a_gln_belongs_to_one_partner(network: Network) -> None:
    with reverts("CustodyInvalidLocation", "custody.invalid_location", gln=int(MAKER_GLN)):
        network.ledger.add_partner_location(network.distributor.id, MAKER_GLN)
    with reverts("CustodyInvalidLocation", "custody.invalid_location", gln=int(MAKER_GLN)):
        network.ledger.add_partner_location(network.maker.id, MAKER_GLN)  # not even twice to its owner
    assert location_owner(network, MAKER_GLN) == network.maker.id


# --- suspension ----------------------------------------------------------------------------------


@dataclass
class Suspended:
    """A Manufacturer, suspended after it got one object of every kind into its hands."""

    id: int
    client: CustodyLedgerClient
    item: str
    packed: str
    case: str
    lot: str
    lot2: str
    shipped_in: str  # in transit from the maker to it
    shipped_out: str  # in transit from it to the distributor


@pytest.fixture(scope="module")
def suspended(network: Network) -> Suspended:
    partner_id, signer = new_partner(network, PartnerRole.MANUFACTURER)
    client = network.as_(signer)

    def item() -> str:
        return str(client.register_item(Registration(sgtin(unique_serial()), lot="L1")).of(ItemRegistered)[0].object_id)

    def lot() -> str:
        number = unique_serial("LOT")
        return str(client.register_lot(LotOutput(Registration(lgtin(number), number), 10, "KGM")).events[0].object_id)  # type: ignore[attr-defined]

    held, packed, shipped_out = item(), item(), item()
    case = str(client.register_logistic_units([sscc(f"{int(unique_serial('')):010d}")]).events[0].object_id)  # type: ignore[attr-defined]
    client.pack(case, [packed])
    client.ship([shipped_out], ShipmentInfo(network.distributor.id))
    shipped_in = network.register()
    network.as_(network.maker).ship([shipped_in], ShipmentInfo(partner_id))
    state = Suspended(partner_id, client, held, packed, case, lot(), lot(), shipped_in, shipped_out)

    result = network.ledger.set_partner_active(partner_id, False)
    assert result.events == [PartnerStatusChanged(meta=ANY, partner_id=partner_id, active=False)]
    return state


def _lot_output() -> LotOutput:
    number = unique_serial("LOT")
    return LotOutput(Registration(lgtin(number), number), 5, "KGM")


SUSPENDED_OPERATIONS: list[Any] = [
    pytest.param(lambda s, n: s.client.register_item(Registration(sgtin(unique_serial()))), id="register_items"),
    pytest.param(lambda s, n: s.client.register_lot(_lot_output()), id="register_lot"),
    pytest.param(lambda s, n: s.client.register_logistic_units([sscc(unique_serial())]), id="register_sscc"),
    pytest.param(lambda s, n: s.client.ship([s.item], ShipmentInfo(n.distributor.id)), id="ship"),
    pytest.param(lambda s, n: s.client.receive([s.shipped_in]), id="receive"),
    pytest.param(lambda s, n: s.client.reject([s.shipped_in], "late"), id="reject"),
    pytest.param(lambda s, n: s.client.cancel_shipment([s.shipped_out]), id="cancel"),
    pytest.param(lambda s, n: s.client.transfer([s.item], n.distributor.id), id="transfer"),
    pytest.param(lambda s, n: s.client.transfer_ownership([s.item], n.distributor.id), id="transfer_ownership"),
    pytest.param(lambda s, n: s.client.pack(s.case, [s.item]), id="pack"),
    pytest.param(lambda s, n: s.client.unpack(s.case, [s.packed]), id="unpack"),
    pytest.param(lambda s, n: s.client.split_lot(s.lot, [_lot_output()]), id="split"),
    pytest.param(lambda s, n: s.client.merge_lots([s.lot, s.lot2], _lot_output()), id="merge"),
    pytest.param(lambda s, n: s.client.transform([GenealogyInput(s.lot, 1)], [_lot_output()]), id="transform"),
    pytest.param(lambda s, n: s.client.set_status([s.item], Status.QUARANTINED, "q"), id="set_status"),
    pytest.param(lambda s, n: s.client.recall(s.item, "contamination"), id="recall"),
    pytest.param(lambda s, n: s.client.anchor_document(s.item, DocumentType.OTHER, CID), id="anchor_document"),
    pytest.param(lambda s, n: s.client.anchor_event_batch(b"\x01" * 32, 1), id="anchor_event_batch"),
]


@pytest.mark.parametrize("operation", SUSPENDED_OPERATIONS)
def test_a_suspended_partner_can_do_nothing(
    network: Network, suspended: Suspended, operation: Callable[[Suspended, Network], object]
) -> None:
    assert network.ledger.partner(suspended.id) == (PartnerRole.MANUFACTURER, False)
    with reverts("CustodyPartnerSuspended", "custody.partner_suspended", partnerId=suspended.id):
        operation(suspended, network)
    assert network.ledger.custodian_of(suspended.item) == suspended.id


def test_a_suspended_partner_receives_nothing(network: Network, suspended: Suspended) -> None:
    item = network.register()
    maker = network.as_(network.maker)
    with reverts("CustodyInvalidReceiver", "custody.invalid_receiver", receiver=suspended.id):
        maker.ship([item], ShipmentInfo(suspended.id))
    with reverts("CustodyInvalidReceiver", "custody.invalid_receiver", receiver=suspended.id):
        maker.transfer([item], suspended.id)
    with reverts("CustodyInvalidReceiver", "custody.invalid_receiver", receiver=suspended.id):
        maker.transfer_ownership([item], suspended.id)
    # what was already on its way to it can be taken back by the sender
    maker.cancel_shipment([suspended.shipped_in])
    assert network.ledger.custody_of(suspended.shipped_in).pending_receiver == 0


def test_reinstated_partner_acts_again(network: Network) -> None:
    partner_id, signer = new_partner(network, PartnerRole.MANUFACTURER)
    client = network.as_(signer)
    network.ledger.set_partner_active(partner_id, False)
    epc = sgtin(unique_serial())
    with reverts("CustodyPartnerSuspended", "custody.partner_suspended", partnerId=partner_id):
        client.register_item(Registration(epc))

    result = network.ledger.set_partner_active(partner_id, True)

    assert result.events == [PartnerStatusChanged(meta=ANY, partner_id=partner_id, active=True)]
    assert network.ledger.partner(partner_id) == (PartnerRole.MANUFACTURER, True)
    item = client.register_item(Registration(epc)).of(ItemRegistered)[0].object_id
    assert network.ledger.custodian_of(item) == partner_id


# --- accounts: key rotation ----------------------------------------------------------------------


def test_key_rotation_keeps_custody_and_ownership(network: Network) -> None:
    partner_id, old_key = new_partner(network, PartnerRole.MANUFACTURER)
    registered = network.as_(old_key).register_item(Registration(sgtin(unique_serial())))
    item = registered.of(ItemRegistered)[0].object_id
    new_key = funded_account(network)

    added = network.ledger.add_partner_account(partner_id, new_key.address)
    removed = network.ledger.remove_partner_account(old_key.address)

    assert added.events == [PartnerAccountAdded(meta=ANY, partner_id=partner_id, account=new_key.address)]
    assert removed.events == [PartnerAccountRemoved(meta=ANY, partner_id=partner_id, account=old_key.address)]
    assert (network.ledger.partner_of(old_key.address), network.ledger.partner_of(new_key.address)) == (0, partner_id)
    view = network.ledger.custody_of(item)
    assert (view.custodian, view.owner, view.registrant) == (partner_id, partner_id, partner_id)
    # what the old key did stays attributed to the partner
    assert registered.of(ItemRegistered)[0].partner_id == partner_id

    with reverts("CustodyUnknownAccount", "custody.unknown_account", account=old_key.address):
        network.as_(old_key).transfer([item], network.distributor.id)
    with reverts("CustodyUnknownAccount", "custody.unknown_account", account=old_key.address):
        network.as_(old_key).register_item(Registration(sgtin(unique_serial())))

    network.as_(new_key).transfer([item], network.distributor.id)
    assert network.ledger.custodian_of(item) == network.distributor.id
    assert network.ledger.custody_of(item).owner == partner_id


def test_a_partner_may_have_several_keys(network: Network) -> None:
    partner_id, first = new_partner(network, PartnerRole.MANUFACTURER)
    second = funded_account(network)
    network.ledger.add_partner_account(partner_id, second.address)
    item = network.as_(first).register_item(Registration(sgtin(unique_serial()))).of(ItemRegistered)[0].object_id
    network.as_(second).transfer([item], network.distributor.id)  # either key acts for the partner
    assert network.ledger.custodian_of(item) == network.distributor.id


def test_an_account_without_partner_can_do_nothing(network: Network) -> None:
    outsider = network.as_(network.outsider)
    item = network.register()
    with reverts("CustodyUnknownAccount", "custody.unknown_account", account=network.outsider.address):
        outsider.register_item(Registration(sgtin(unique_serial())))
    with reverts("CustodyUnknownAccount", "custody.unknown_account", account=network.outsider.address):
        outsider.register_logistic_units([sscc(unique_serial())])
    with reverts("CustodyUnknownAccount", "custody.unknown_account", account=network.outsider.address):
        outsider.transfer([item], network.distributor.id)
    with reverts("CustodyUnknownAccount", "custody.unknown_account", account=network.outsider.address):
        outsider.set_status([item], Status.QUARANTINED)
    with reverts("CustodyUnknownAccount", "custody.unknown_account", account=network.outsider.address):
        outsider.anchor_event_batch(b"\x02" * 32, 1)
    assert network.ledger.custodian_of(item) == network.maker.id


# --- auditors ------------------------------------------------------------------------------------


def test_auditors_hold_nothing(network: Network) -> None:
    auditor = network.as_(network.auditor)
    aid = network.auditor.id
    with reverts("CustodyRoleNotAllowed", "custody.role_not_allowed", partnerId=aid, role=PartnerRole.AUDITOR):
        auditor.register_logistic_units([sscc(unique_serial())])
    with reverts("CustodyRoleNotAllowed", "custody.role_not_allowed", partnerId=aid, role=PartnerRole.AUDITOR):
        auditor.register_item(Registration(sgtin(unique_serial())))

    item = network.register()
    maker = network.as_(network.maker)
    with reverts("CustodyInvalidReceiver", "custody.invalid_receiver", receiver=aid):
        maker.ship([item], ShipmentInfo(aid))
    with reverts("CustodyInvalidReceiver", "custody.invalid_receiver", receiver=aid):
        maker.transfer([item], aid)
    with reverts("CustodyInvalidReceiver", "custody.invalid_receiver", receiver=aid):
        maker.transfer_ownership([item], aid)
    view = network.ledger.custody_of(item)
    assert (view.custodian, view.owner) == (network.maker.id, network.maker.id)


def test_auditors_read_everything(network: Network) -> None:
    item = network.register()
    auditor = network.as_(network.auditor)
    assert auditor.custody_of(item) == network.ledger.custody_of(item)
    assert auditor.custodian_of(item) == network.maker.id
