"""Projection of custody events: transfers, shipments and their outcomes, ownership, packing, status."""

from __future__ import annotations

from chain_client import events as ev
from chain_client.models import Status
from gateway.indexer.errors import InconsistentEvents
from gateway.indexer.projection_base import ProjectionBase, refresh_status
from gateway.indexer.state import ObjectState, ShipmentInfo
from gateway.indexer.tables import HistoryEvent

__all__ = ["CustodyProjection"]


class CustodyProjection(ProjectionBase):
    """Handlers of events that move objects, change who holds or owns them, or their status."""

    # -- custody --------------------------------------------------------------------------------

    def _custody_transferred(self, e: ev.CustodyTransferred) -> None:
        def change(o: ObjectState) -> None:
            o.custodian = e.receiver

        self._cascade(
            self._root(e.object_id),
            e,
            change,
            HistoryEvent.TRANSFERRED,
            partner_id=e.sender,
            counterparty_id=e.receiver,
        )

    def _shipment_dispatched(self, e: ev.ShipmentDispatched) -> None:
        self.rows.shipments.append(
            {
                **self._where(e),
                "shipment_id": e.shipment_id,
                "sender": e.sender,
                "receiver": e.receiver,
                "ship_from_gln": e.ship_from_gln,
                "ship_to_gln": e.ship_to_gln,
                "transfer_ownership": e.transfer_ownership,
                "object_count": e.object_count,
                "dispatched_at": self._at(e),
            }
        )
        self.ws.add_shipment(e.shipment_id, ShipmentInfo(e.sender, e.receiver, e.ship_from_gln, e.ship_to_gln))

    def _object_shipped(self, e: ev.ObjectShipped) -> None:
        s = self.ws.shipment(e.shipment_id)

        def change(o: ObjectState) -> None:
            o.shipment_id = e.shipment_id
            refresh_status(o)

        self._cascade(
            self._root(e.object_id),
            e,
            change,
            HistoryEvent.SHIPPED,
            partner_id=s.sender,
            counterparty_id=s.receiver,
            gln=s.ship_from_gln,
            shipment_id=e.shipment_id,
        )

    def _end_transit(self, o: ObjectState, custodian: int | None = None) -> None:
        o.shipment_id = None
        if custodian is not None:
            o.custodian = custodian
        refresh_status(o)

    def _object_received(self, e: ev.ObjectReceived) -> None:
        s = self.ws.shipment(e.shipment_id)
        self._cascade(
            self._root(e.object_id),
            e,
            lambda o: self._end_transit(o, e.receiver),
            HistoryEvent.RECEIVED,
            partner_id=e.receiver,
            counterparty_id=s.sender,
            gln=e.gln,
            shipment_id=e.shipment_id,
        )

    def _object_rejected(self, e: ev.ObjectRejected) -> None:
        s = self.ws.shipment(e.shipment_id)
        self._cascade(
            self._root(e.object_id),
            e,
            self._end_transit,
            HistoryEvent.REJECTED,
            partner_id=e.receiver,
            counterparty_id=s.sender,
            shipment_id=e.shipment_id,
            reason=e.reason,
        )

    def _shipment_cancelled(self, e: ev.ShipmentCancelled) -> None:
        s = self.ws.shipment(e.shipment_id)
        self._cascade(
            self._root(e.object_id),
            e,
            self._end_transit,
            HistoryEvent.CANCELLED,
            partner_id=e.sender,
            counterparty_id=s.receiver,
            shipment_id=e.shipment_id,
        )

    def _ownership_transferred(self, e: ev.OwnershipTransferred) -> None:
        def change(o: ObjectState) -> None:
            o.owner = e.new_owner

        self._cascade(
            self._root(e.object_id),
            e,
            change,
            HistoryEvent.OWNERSHIP_TRANSFERRED,
            partner_id=e.previous_owner,
            counterparty_id=e.new_owner,
        )

    # -- aggregation ----------------------------------------------------------------------------

    def _object_packed(self, e: ev.ObjectPacked) -> None:
        child = self._root(e.child)
        parent = self.ws.object(e.parent)
        root = self.ws.object(parent.root_id)
        at = self._at(e)
        for o in [child, *self.ws.members(child.object_id)]:
            self.ws.touch(o, e.meta.block_number, at)
            self.ws.set_root(o, root.object_id)
            o.custodian, o.owner, o.shipment_id = root.custodian, root.owner, root.shipment_id
            refresh_status(o)
        self.ws.set_parent(child, parent.object_id)
        self.rows.open_containment_row(
            {
                **self._where(e),
                "child_id": child.object_id,
                "parent_id": parent.object_id,
                "packed_by": e.partner_id,
                "packed_at": at,
                "unpacked_block": None,
                "unpacked_log_index": None,
                "unpacked_tx": None,
                "unpacked_by": None,
                "unpacked_at": None,
            }
        )
        self._history(child, e, HistoryEvent.PACKED, partner_id=e.partner_id, container_id=parent.object_id)

    def _object_unpacked(self, e: ev.ObjectUnpacked) -> None:
        child = self.ws.object(e.child)
        if child.parent_id != e.parent:
            raise InconsistentEvents(f"object {e.child} unpacked from {e.parent} but packed in {child.parent_id}")
        root = self.ws.object(child.root_id)
        moved = [child, *self.ws.descendants(child)]
        at = self._at(e)
        for o in moved:
            self.ws.touch(o, e.meta.block_number, at)
            self.ws.set_root(o, child.object_id)
            # The ledger gives the child the unpacker as custodian and the container's owner.
            o.custodian, o.owner, o.shipment_id = e.partner_id, root.owner, None
            refresh_status(o)
        self.ws.set_parent(child, None)
        m = e.meta
        self.rows.close_containment(
            child.object_id,
            {
                "unpacked_block": m.block_number,
                "unpacked_log_index": m.log_index,
                "unpacked_tx": m.tx_hash,
                "unpacked_by": e.partner_id,
                "unpacked_at": at,
            },
        )
        self._history(child, e, HistoryEvent.UNPACKED, partner_id=e.partner_id, container_id=e.parent)

    # -- status ---------------------------------------------------------------------------------

    def _status_changed(self, e: ev.StatusChanged) -> None:
        o = self.ws.object(e.object_id)
        at = self._at(e)
        self.ws.touch(o, e.meta.block_number, at)
        o.own_status = e.status.name
        if e.status == Status.DECOMMISSIONED and o.root_id == o.object_id and o.shipment_id is not None:
            # The ledger clears the shipment of a decommissioned object (stolen in transit): if it is
            # a container, its contents are no longer in transit either.
            for member in self.ws.members(o.object_id):
                self.ws.touch(member, e.meta.block_number, at)
                member.shipment_id = None
                refresh_status(member)
            o.shipment_id = None
        refresh_status(o)
        self.rows.status_changes.append(
            {
                **self._where(e),
                "object_id": e.object_id,
                "previous": e.previous.name,
                "status": e.status.name,
                "reason": e.reason,
                "partner_id": e.partner_id,
                "changed_at": at,
            }
        )
        self._history(o, e, HistoryEvent.STATUS_CHANGED, partner_id=e.partner_id, status=e.status.name, reason=e.reason)
