"""Undo entries: what the indexer writes (a list of the mutable values) and what it can read back."""

from __future__ import annotations

import datetime as dt

from gateway.indexer.state import ObjectState, PartnerState, decode_undo, encode_undo

AT = dt.datetime(2026, 3, 1, 12, 30, tzinfo=dt.UTC)


def _object() -> ObjectState:
    return ObjectState(
        object_id="0x" + "11" * 32,
        kind="ITEM",
        epc="urn:epc:id:sgtin:0614141.812345.1",
        gtin="00614141812345",
        serial="1",
        sscc=None,
        lot="L1",
        lot_id=None,
        expiry_date=None,
        production_date=None,
        origin_gln=None,
        quantity=2**200,
        unit_of_measure=None,
        registrant=1,
        custodian=2,
        owner=1,
        status="IN_TRANSIT",
        own_status="ACTIVE",
        parent_id="0x" + "22" * 32,
        root_id="0x" + "33" * 32,
        shipment_id=7,
        registered_block=3,
        registered_log_index=0,
        registered_tx="0x" + "44" * 32,
        registered_at=AT,
        last_event_block=9,
        last_event_at=AT,
    )


def test_an_object_entry_is_a_list_that_decodes_to_the_mutable_columns() -> None:
    o = _object()
    entry = encode_undo(o)
    assert entry == [
        2,
        1,
        "IN_TRANSIT",
        "ACTIVE",
        "0x" + "22" * 32,
        "0x" + "33" * 32,
        7,
        2**200,
        9,
        int(AT.timestamp()),
    ]
    assert decode_undo(entry, ObjectState) == o.mutable()


def test_a_partner_entry_round_trips_with_and_without_a_time() -> None:
    p = PartnerState(5, "maker", "MANUFACTURER", False, 1, 0, "0x" + "55" * 32, AT, 4, AT)
    assert decode_undo(encode_undo(p), PartnerState) == p.mutable()
    p.status_changed_block = p.status_changed_at = None
    assert decode_undo(encode_undo(p), PartnerState) == p.mutable()


def test_entries_keyed_by_column_from_older_versions_still_decode() -> None:
    o = _object()
    older = {**o.mutable(), "last_event_at": int(AT.timestamp())}
    assert decode_undo(older, ObjectState) == o.mutable()
