"""The live feed: new ledger events as the indexer writes them, for Server-Sent Events.

The feed polls the raw event table (``idx_events``) by its chain position ``(block_number,
log_index)``, the order the indexer writes it in; an event's SSE ``id`` is that position
(``"<block>-<log index>"``), so a client that reconnects with ``Last-Event-ID`` resumes right
after the last event it saw. Any replica can serve any feed: the state is the cursor alone.

Filters, applied to each event:

* ``object_id`` — the event names the object (``objectId``, ``child``/``parent``,
  ``input``/``output``), or it moved the object inside a container (a custody history row of the
  object at that position: the pallet's shipment reaches the items on it);
* ``partner_id`` — the event names the partner (partner, sender, receiver, previous/new owner)
  or, for an object shipped, received, rejected or cancelled, the shipment's sender or receiver.

The feed follows positions, not block hashes: after a reorg, events of the abandoned fork that
were already sent are not retracted, and replacement events at positions the cursor has passed
are not sent. Run the indexer with confirmations (``CUSTODY_INDEXER_CONFIRMATIONS``) on a chain
that can reorganise.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from gateway.audit.errors import AuditInvalidQuery
from gateway.indexer import tables as t

__all__ = ["FeedEvent", "FeedFilter", "head_position", "parse_cursor", "poll"]

_OBJECT_KEYS: Final = ("object_id", "child", "parent", "input", "output")
_PARTNER_KEYS: Final = ("partner_id", "sender", "receiver", "previous_owner", "new_owner")
_CURSOR: Final = re.compile(r"^([0-9]{1,18})-([0-9]{1,9})$")


@dataclass(frozen=True)
class FeedFilter:
    object_id: str | None = None
    partner_id: int | None = None


@dataclass(frozen=True)
class FeedEvent:
    block_number: int
    log_index: int
    tx_hash: str
    block_time: dt.datetime
    event: str
    args: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.block_number}-{self.log_index}"

    def payload(self) -> dict[str, Any]:
        at = self.block_time if self.block_time.tzinfo else self.block_time.replace(tzinfo=dt.UTC)
        return {"id": self.id, "event": self.event, "block_number": self.block_number, "log_index": self.log_index,
                "tx_hash": self.tx_hash, "block_time": at.isoformat(), "args": self.args}  # fmt: skip

    def sse(self, data: str) -> bytes:
        return f"id: {self.id}\nevent: ledger\ndata: {data}\n\n".encode()


def parse_cursor(value: str, field: str = "Last-Event-ID") -> tuple[int, int]:
    found = _CURSOR.match(value.strip())
    if found is None:
        raise AuditInvalidQuery(
            "feed.invalid_last_event_id", field, f"{value!r} is not an event id of this feed (<block>-<log index>)"
        )
    return int(found.group(1)), int(found.group(2))


def head_position(session: Session) -> tuple[int, int]:
    """The position of the newest indexed event (a new feed starts after it)."""
    e = t.EventRow
    row = session.execute(select(e.block_number, e.log_index).order_by(e.block_number.desc(), e.log_index.desc())
                          .limit(1)).first()  # fmt: skip
    return (row.block_number, row.log_index) if row else (-1, -1)


def _partners_of(session: Session, row: t.EventRow, shipments: dict[int, tuple[int, int]]) -> set[int]:
    found = {int(row.args[k]) for k in _PARTNER_KEYS if isinstance(row.args.get(k), int)}
    shipment_id = row.args.get("shipment_id")
    if isinstance(shipment_id, int) and row.event != "ShipmentDispatched":
        if shipment_id not in shipments:
            s = session.get(t.ShipmentRow, shipment_id)
            shipments[shipment_id] = (s.sender, s.receiver) if s else (0, 0)
        found |= set(shipments[shipment_id])
    return found


def poll(
    session: Session, after: tuple[int, int], where: FeedFilter, limit: int = 500
) -> tuple[list[FeedEvent], tuple[int, int]]:
    """Events after ``after`` that pass ``where`` (at most ``limit`` rows scanned), and the new cursor."""
    e = t.EventRow
    rows = list(session.scalars(
        select(e).where(tuple_(e.block_number, e.log_index) > tuple_(*after))
        .order_by(e.block_number, e.log_index).limit(limit)
    ))  # fmt: skip
    if not rows:
        return [], after
    cursor = (rows[-1].block_number, rows[-1].log_index)
    moved: set[tuple[int, int]] = set()
    if where.object_id is not None:
        h = t.CustodyHistoryRow
        positions = session.execute(
            select(h.block_number, h.log_index).where(
                h.object_id == where.object_id,
                tuple_(h.block_number, h.log_index) > tuple_(*after),
                tuple_(h.block_number, h.log_index) <= tuple_(*cursor),
            )
        ).all()
        moved = {(p.block_number, p.log_index) for p in positions}
    shipments: dict[int, tuple[int, int]] = {}
    events = []
    for row in rows:
        if where.object_id is not None:
            named = any(row.args.get(k) == where.object_id for k in _OBJECT_KEYS)
            if not named and (row.block_number, row.log_index) not in moved:
                continue
        if where.partner_id is not None and where.partner_id not in _partners_of(session, row, shipments):
            continue
        events.append(FeedEvent(row.block_number, row.log_index, row.tx_hash, row.block_time, row.event,
                                dict(row.args)))  # fmt: skip
    return events, cursor
