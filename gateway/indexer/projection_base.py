"""What every projection handler shares: the batch's working set and rows, times, history rows, cascades.

The handlers follow the ledger's semantics (see ``contracts/ledger/*.sol``). An object's row holds
its *effective* custodian, owner and shipment — its outermost container's, as
``ObjectRegistry.custodyOf`` reports them — so an event on a container cascades to everything
packed in it (found through ``root_id``); ``IN_TRANSIT`` is derived: own status ``ACTIVE`` and a
pending shipment.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from chain_client import events as ev
from chain_client.models import Status
from gateway.documents.cid import Cid
from gateway.indexer.errors import InconsistentEvents
from gateway.indexer.rows import RowBuffer
from gateway.indexer.state import ObjectState, WorkingSet
from gateway.indexer.tables import HistoryEvent

__all__ = ["ACTIVE", "IN_TRANSIT", "ProjectionBase", "cid_text", "refresh_status", "yyyymmdd"]

ACTIVE = Status.ACTIVE.name
IN_TRANSIT = Status.IN_TRANSIT.name


def yyyymmdd(value: int) -> dt.date | None:
    """A ledger date (YYYYMMDD, 0 for none) as a date; None for 0 or an impossible date."""
    if not value:
        return None
    try:
        return dt.date(value // 10000, value // 100 % 100, value % 100)
    except ValueError:
        return None


def cid_text(cid: bytes) -> str | None:
    """The canonical text of a binary CID (``Qm…``/``bafy…``), None when it is not one the store reads."""
    try:
        return str(Cid.parse(cid))
    except Exception:  # whatever the CID parser raises, an odd CID must not stop indexing
        return None


def refresh_status(o: ObjectState) -> None:
    """The effective status: ``IN_TRANSIT`` while active with a pending shipment, else the object's own."""
    o.status = IN_TRANSIT if o.shipment_id is not None and o.own_status == ACTIVE else o.own_status


class ProjectionBase:
    def __init__(self, ws: WorkingSet, times: Mapping[int, dt.datetime]) -> None:
        self.ws = ws
        self.rows = RowBuffer()
        self._times = times

    # -- helpers --------------------------------------------------------------------------------

    def _at(self, e: ev.LedgerEvent) -> dt.datetime:
        return self._times[e.meta.block_number]

    @staticmethod
    def _where(e: ev.LedgerEvent) -> dict[str, Any]:
        return {"block_number": e.meta.block_number, "log_index": e.meta.log_index, "tx_hash": e.meta.tx_hash}

    def _history(
        self,
        o: ObjectState,
        e: ev.LedgerEvent,
        kind: HistoryEvent,
        *,
        partner_id: int | None = None,
        counterparty_id: int | None = None,
        gln: str | None = None,
        shipment_id: int | None = None,
        container_id: str | None = None,
        status: str | None = None,
        reason: str | None = None,
    ) -> None:
        m = e.meta
        self.rows.history.append(
            {
                "object_id": o.object_id,
                "block_number": m.block_number,
                "log_index": m.log_index,
                "tx_hash": m.tx_hash,
                "at": self._times[m.block_number],
                "event": kind.value,
                "partner_id": partner_id,
                "counterparty_id": counterparty_id,
                "gln": gln,
                "shipment_id": shipment_id,
                "container_id": container_id,
                "status": status,
                "reason": reason,
                "custodian": o.custodian,
                "owner": o.owner,
            }
        )

    def _root(self, object_id: str) -> ObjectState:
        o = self.ws.object(object_id)
        if o.root_id != object_id:
            raise InconsistentEvents(f"object {object_id} moved alone while packed in {o.parent_id}")
        return o

    def _cascade(
        self,
        root: ObjectState,
        e: ev.LedgerEvent,
        change: Callable[[ObjectState], None],
        kind: HistoryEvent,
        **columns: Any,
    ) -> None:
        """Applies ``change`` to ``root`` and everything packed in it, with a history row for each."""
        at = self._at(e)
        for o in [root, *self.ws.members(root.object_id)]:
            self.ws.touch(o, e.meta.block_number, at)
            change(o)
            self._history(o, e, kind, container_id=None if o is root else root.object_id, **columns)
