"""Applies typed ledger events, in chain order, to the query model of one batch.

The handlers live with their concern (:mod:`~gateway.indexer.projection_custody`,
:mod:`~gateway.indexer.projection_records`, on :mod:`~gateway.indexer.projection_base`); this
module dispatches events to them and loads, before a batch, the rows its events will touch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from chain_client import events as ev
from gateway.indexer.projection_base import cid_text, yyyymmdd
from gateway.indexer.projection_custody import CustodyProjection
from gateway.indexer.projection_records import RecordProjection
from gateway.indexer.state import WorkingSet

__all__ = ["Projector", "cid_text", "yyyymmdd"]

# Per event type, what prepare() loads: object ids (fields), the outermost container whose contents
# the event may change (field), and whether it names a shipment. A registration loads nothing: the
# object is new (a second registration is refused when the batch is written, see WorkingSet.add_object).
_PREPARE: dict[type[ev.LedgerEvent], tuple[tuple[str, ...], str | None, str | None]] = {
    ev.CustodyTransferred: (("object_id",), "object_id", None),
    ev.ObjectShipped: (("object_id",), "object_id", "shipment_id"),
    ev.ObjectReceived: (("object_id",), "object_id", "shipment_id"),
    ev.ObjectRejected: (("object_id",), "object_id", "shipment_id"),
    ev.ShipmentCancelled: (("object_id",), "object_id", "shipment_id"),
    ev.OwnershipTransferred: (("object_id",), "object_id", None),
    ev.StatusChanged: (("object_id",), "object_id", None),
    ev.ObjectPacked: (("child", "parent"), "child", None),
    ev.ObjectUnpacked: (("child", "parent"), "parent", None),
    ev.GenealogyInputConsumed: (("input",), None, None),
}


class Projector(CustodyProjection, RecordProjection):
    """Turns one batch of events into changes of the :class:`WorkingSet` and appended rows."""

    def __init__(self, ws: WorkingSet, times: Mapping[int, dt.datetime]) -> None:
        super().__init__(ws, times)
        self._genealogies = {}

    # -- driving --------------------------------------------------------------------------------

    def prepare(self, events: Iterable[ev.LedgerEvent]) -> None:
        """Loads, with a few queries, the rows these events will need."""
        ids: set[str] = set()
        roots: set[str] = set()
        shipments: set[int] = set()
        for e in events:
            plan = _PREPARE.get(type(e))
            if plan is None:
                continue
            names, root, shipment = plan
            for name in names:
                ids.add(getattr(e, name))
            if root is not None:
                roots.add(getattr(e, root))
            if shipment is not None:
                shipments.add(getattr(e, shipment))
        self.ws.preload(ids)
        self.ws.preload_subtrees(roots)
        self.ws.preload_shipments(shipments)

    def apply(self, event: ev.LedgerEvent) -> None:
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)

    def flush(self) -> None:
        self.ws.flush()
        self.rows.flush(self.ws.session)


# Handlers as plain functions of the class (called with the projector): bound methods kept on the
# instance would make a reference cycle, and a batch's rows would then wait for the cyclic collector.
_HANDLERS: dict[type[ev.LedgerEvent], Callable[[Projector, Any], None]] = {
    ev.PartnerRegistered: Projector._partner_registered,
    ev.PartnerAccountAdded: Projector._account_added,
    ev.PartnerAccountRemoved: Projector._account_removed,
    ev.PartnerLocationAdded: Projector._location_added,
    ev.PartnerStatusChanged: Projector._partner_status_changed,
    ev.ItemRegistered: Projector._item_registered,
    ev.LotRegistered: Projector._lot_registered,
    ev.LogisticUnitRegistered: Projector._logistic_unit_registered,
    ev.CustodyTransferred: Projector._custody_transferred,
    ev.ShipmentDispatched: Projector._shipment_dispatched,
    ev.ObjectShipped: Projector._object_shipped,
    ev.ObjectReceived: Projector._object_received,
    ev.ObjectRejected: Projector._object_rejected,
    ev.ShipmentCancelled: Projector._shipment_cancelled,
    ev.OwnershipTransferred: Projector._ownership_transferred,
    ev.ObjectPacked: Projector._object_packed,
    ev.ObjectUnpacked: Projector._object_unpacked,
    ev.GenealogyRecorded: Projector._genealogy_recorded,
    ev.GenealogyInputConsumed: Projector._input_consumed,
    ev.GenealogyOutputProduced: Projector._output_produced,
    ev.StatusChanged: Projector._status_changed,
    ev.RecallInitiated: Projector._recall_initiated,
    ev.DocumentAnchored: Projector._document_anchored,
    ev.EventBatchAnchored: Projector._event_batch_anchored,
}
