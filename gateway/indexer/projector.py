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
# the event may change (field), and whether it names a shipment.
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
    ev.ItemRegistered: (("object_id",), None, None),
    ev.LotRegistered: (("object_id",), None, None),
    ev.LogisticUnitRegistered: (("object_id",), None, None),
}


class Projector(CustodyProjection, RecordProjection):
    """Turns one batch of events into changes of the :class:`WorkingSet` and appended rows."""

    def __init__(self, ws: WorkingSet, times: Mapping[int, dt.datetime]) -> None:
        super().__init__(ws, times)
        self._genealogies = {}
        self._handlers: dict[type[ev.LedgerEvent], Callable[[Any], None]] = {
            ev.PartnerRegistered: self._partner_registered,
            ev.PartnerAccountAdded: self._account_added,
            ev.PartnerAccountRemoved: self._account_removed,
            ev.PartnerLocationAdded: self._location_added,
            ev.PartnerStatusChanged: self._partner_status_changed,
            ev.ItemRegistered: self._item_registered,
            ev.LotRegistered: self._lot_registered,
            ev.LogisticUnitRegistered: self._logistic_unit_registered,
            ev.CustodyTransferred: self._custody_transferred,
            ev.ShipmentDispatched: self._shipment_dispatched,
            ev.ObjectShipped: self._object_shipped,
            ev.ObjectReceived: self._object_received,
            ev.ObjectRejected: self._object_rejected,
            ev.ShipmentCancelled: self._shipment_cancelled,
            ev.OwnershipTransferred: self._ownership_transferred,
            ev.ObjectPacked: self._object_packed,
            ev.ObjectUnpacked: self._object_unpacked,
            ev.GenealogyRecorded: self._genealogy_recorded,
            ev.GenealogyInputConsumed: self._input_consumed,
            ev.GenealogyOutputProduced: self._output_produced,
            ev.StatusChanged: self._status_changed,
            ev.RecallInitiated: self._recall_initiated,
            ev.DocumentAnchored: self._document_anchored,
            ev.EventBatchAnchored: self._event_batch_anchored,
        }

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
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    def flush(self) -> None:
        self.ws.flush()
        self.rows.flush(self.ws.session)
