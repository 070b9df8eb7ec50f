"""Projection of record events: partners, registrations, genealogy, recalls, documents, event batches."""

from __future__ import annotations

from dataclasses import dataclass, field

from chain_client import events as ev
from chain_client.models import ObjectKind
from gateway.indexer.epc import split_epc
from gateway.indexer.errors import InconsistentEvents
from gateway.indexer.projection_base import ACTIVE, ProjectionBase, cid_text, yyyymmdd
from gateway.indexer.state import ObjectState, PartnerState
from gateway.indexer.tables import HistoryEvent

__all__ = ["RecordProjection"]

ZERO_ID = "0x" + "00" * 32


@dataclass
class _Genealogy:
    kind: str
    inputs: list[tuple[str, int, int]] = field(default_factory=list)  # (object id, quantity, log index)


class RecordProjection(ProjectionBase):
    """Genealogy events share an id: every output derives from every input of that id, so each output
    gives one edge per input recorded before it (in the same transaction). A document subject at
    most the shipment count so far is a shipment, anything else an object."""

    _genealogies: dict[str, _Genealogy]

    # -- partners -------------------------------------------------------------------------------

    def _partner_registered(self, e: ev.PartnerRegistered) -> None:
        m = e.meta
        self.ws.add_partner(
            PartnerState(e.partner_id, e.name, e.role.name, True, m.block_number, m.log_index, m.tx_hash, self._at(e))
        )

    def _account_added(self, e: ev.PartnerAccountAdded) -> None:
        self.rows.open_account(
            {
                **self._where(e),
                "partner_id": e.partner_id,
                "account": e.account,
                "added_at": self._at(e),
                "removed_block": None,
                "removed_log_index": None,
                "removed_tx": None,
                "removed_at": None,
            }
        )

    def _account_removed(self, e: ev.PartnerAccountRemoved) -> None:
        m = e.meta
        closure = {
            "removed_block": m.block_number,
            "removed_log_index": m.log_index,
            "removed_tx": m.tx_hash,
            "removed_at": self._at(e),
        }
        self.rows.close_account(e.account, closure)

    def _location_added(self, e: ev.PartnerLocationAdded) -> None:
        if e.gln is not None:
            self.rows.locations.append(
                {**self._where(e), "gln": e.gln, "partner_id": e.partner_id, "added_at": self._at(e)}
            )

    def _partner_status_changed(self, e: ev.PartnerStatusChanged) -> None:
        p = self.ws.partner(e.partner_id)
        self.ws.touch_partner(p, e.meta.block_number)
        p.active = e.active
        p.status_changed_block = e.meta.block_number
        p.status_changed_at = self._at(e)

    # -- registration ---------------------------------------------------------------------------

    def _register(
        self,
        e: ev.LedgerEvent,
        object_id: str,
        kind: ObjectKind,
        epc: str,
        partner_id: int,
        *,
        lot: str = "",
        lot_id: str | None = None,
        expiry: int = 0,
        production: int = 0,
        origin_gln: str | None = None,
        quantity: int | None = None,
        unit: str | None = None,
    ) -> None:
        parts = split_epc(epc)
        m, at = e.meta, self._at(e)
        o = ObjectState(
            object_id=object_id,
            kind=kind.name,
            epc=epc,
            gtin=parts.gtin,
            serial=parts.serial,
            sscc=parts.sscc,
            lot=lot or parts.lot,
            lot_id=lot_id,
            expiry_date=yyyymmdd(expiry),
            production_date=yyyymmdd(production),
            origin_gln=origin_gln,
            quantity=quantity,
            unit_of_measure=unit,
            registrant=partner_id,
            custodian=partner_id,
            owner=partner_id,
            status=ACTIVE,
            own_status=ACTIVE,
            parent_id=None,
            root_id=object_id,
            shipment_id=None,
            registered_block=m.block_number,
            registered_log_index=m.log_index,
            registered_tx=m.tx_hash,
            registered_at=at,
            last_event_block=m.block_number,
            last_event_at=at,
        )
        self.ws.add_object(o)
        self._history(o, e, HistoryEvent.REGISTERED, partner_id=partner_id)

    def _item_registered(self, e: ev.ItemRegistered) -> None:
        lot_id = None if e.lot_id == ZERO_ID else e.lot_id
        self._register(
            e,
            e.object_id,
            ObjectKind.ITEM,
            e.epc,
            e.partner_id,
            lot=e.lot,
            lot_id=lot_id,
            expiry=e.expiry_date,
            production=e.production_date,
            origin_gln=e.origin_gln,
        )

    def _lot_registered(self, e: ev.LotRegistered) -> None:
        self._register(
            e,
            e.object_id,
            ObjectKind.LOT,
            e.epc,
            e.partner_id,
            lot=e.lot,
            expiry=e.expiry_date,
            production=e.production_date,
            origin_gln=e.origin_gln,
            quantity=e.quantity,
            unit=e.unit_of_measure,
        )

    def _logistic_unit_registered(self, e: ev.LogisticUnitRegistered) -> None:
        self._register(e, e.object_id, ObjectKind.LOGISTIC_UNIT, e.epc, e.partner_id)

    # -- genealogy ------------------------------------------------------------------------------

    def _genealogy_recorded(self, e: ev.GenealogyRecorded) -> None:
        self._genealogies[e.genealogy_id] = _Genealogy(e.kind.name)
        self.rows.genealogy_events.append(
            {
                **self._where(e),
                "genealogy_id": e.genealogy_id,
                "kind": e.kind.name,
                "partner_id": e.partner_id,
                "recorded_at": self._at(e),
            }
        )

    def _genealogy_of(self, genealogy_id: str) -> _Genealogy:
        g = self._genealogies.get(genealogy_id)
        if g is None:  # the record precedes its inputs and outputs in the same transaction
            raise InconsistentEvents(f"genealogy {genealogy_id} has inputs or outputs but no record")
        return g

    def _input_consumed(self, e: ev.GenealogyInputConsumed) -> None:
        self._genealogy_of(e.genealogy_id).inputs.append((e.input, e.quantity, e.meta.log_index))
        o = self.ws.object(e.input)
        if o.kind == ObjectKind.LOT.name:
            self.ws.touch(o, e.meta.block_number, self._at(e))
            o.quantity = e.remaining

    def _output_produced(self, e: ev.GenealogyOutputProduced) -> None:
        g = self._genealogy_of(e.genealogy_id)
        at = self._at(e)
        for input_id, quantity, log_index in g.inputs:
            self.rows.genealogy_edges.append(
                {
                    "genealogy_id": e.genealogy_id,
                    "input_log_index": log_index,
                    "output_log_index": e.meta.log_index,
                    "kind": g.kind,
                    "input_id": input_id,
                    "output_id": e.output,
                    "input_quantity": quantity,
                    "output_quantity": e.quantity,
                    "block_number": e.meta.block_number,
                    "tx_hash": e.meta.tx_hash,
                    "recorded_at": at,
                }
            )

    def _recall_initiated(self, e: ev.RecallInitiated) -> None:
        self.rows.recalls.append(
            {
                **self._where(e),
                "object_id": e.object_id,
                "partner_id": e.partner_id,
                "reason": e.reason,
                "initiated_at": self._at(e),
            }
        )

    # -- documents and event batches ------------------------------------------------------------

    def _document_anchored(self, e: ev.DocumentAnchored) -> None:
        number = int(e.subject, 16)
        is_shipment = 0 < number <= self.ws.max_shipment()
        self.rows.documents.append(
            {
                "document_id": e.document_id,
                **self._where(e),
                "subject": e.subject,
                "subject_type": "shipment" if is_shipment else "object",
                "object_id": None if is_shipment else e.subject,
                "shipment_id": number if is_shipment else None,
                "doc_type": e.doc_type.name,
                "cid": e.cid,
                "cid_text": cid_text(e.cid),
                "partner_id": e.partner_id,
                "anchored_at": self._at(e),
            }
        )

    def _event_batch_anchored(self, e: ev.EventBatchAnchored) -> None:
        self.rows.event_batches.append(
            {
                "root": e.root,
                **self._where(e),
                "partner_id": e.partner_id,
                "leaf_count": e.leaf_count,
                "cid": e.cid,
                "cid_text": cid_text(e.cid),
                "anchored_at": self._at(e),
            }
        )
