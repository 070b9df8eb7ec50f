"""Traceability KPIs over a period, each with its numerator, denominator and definition.

=============================  ==============================================================
KPI                            definition
=============================  ==============================================================
traceability_response_time     mean seconds an audit trace / recall-scope / traceability-record
                               request took (numerator: total seconds, denominator: requests) in
                               the period; p95 and max in the details. Measured in the gateway
                               process by :class:`ResponseTimes`, an **in-memory rolling window**
                               (the last 10 000 requests; per replica, empty after a restart) —
                               no table, since timings are operational data, not ledger facts
recall_completion_time         mean seconds from a recall's start to the moment its last subject
                               object was destroyed, quarantined or returned, over the recalls
                               started in the period that are complete (denominator);
                               incomplete ones are listed
data_accuracy                  share of finished partner submissions (outbox, created in the
                               period) that were neither failed on chain nor a correction
                               (``cancel_shipment``); failures and corrections are in the details
scanning_compliance            share of shipped objects that reached their receiver (received or
                               rejected, shipments dispatched in the period) and were received
                               without rejection
visibility_coverage            share of the objects registered before ``until`` whose last ledger
                               event is less than ``visibility_days`` old at ``until``
=============================  ==============================================================

A recall's progress (its objects, what resolves them, when) is the recall API's
(:mod:`gateway.audit.recall`): the KPI averages its time to completion.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.audit.recall import recall_progress
from gateway.indexer import tables as t
from gateway.partner.tables import SubmissionRow

__all__ = ["CORRECTIONS", "Kpi", "ResponseTimes", "compute_kpis"]

CORRECTIONS: Final = frozenset({"cancel_shipment"})


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class Kpi:
    name: str
    value: float | None
    unit: str
    numerator: float
    denominator: int
    definition: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------------------------ response times


class ResponseTimes:
    """How long audit trace requests took: an in-memory rolling window, safe across threads."""

    def __init__(self, size: int = 10_000) -> None:
        self._entries: collections.deque[tuple[dt.datetime, str, float]] = collections.deque(maxlen=size)
        self._lock = threading.Lock()

    def record(self, kind: str, seconds: float, at: dt.datetime | None = None) -> None:
        with self._lock:
            self._entries.append((at or dt.datetime.now(dt.UTC), kind, seconds))

    @contextlib.contextmanager
    def measure(self, kind: str) -> Iterator[None]:
        """Records the duration of the ``with`` block (also when it raises)."""
        started, at = time.perf_counter(), dt.datetime.now(dt.UTC)
        try:
            yield
        finally:
            self.record(kind, time.perf_counter() - started, at)

    def between(self, since: dt.datetime | None, until: dt.datetime) -> list[tuple[dt.datetime, str, float]]:
        with self._lock:
            return [e for e in self._entries if (since is None or e[0] >= since) and e[0] < until]


def _response_time(times: ResponseTimes, since: dt.datetime | None, until: dt.datetime) -> Kpi:
    entries = times.between(since, until)
    seconds = sorted(e[2] for e in entries)
    total = sum(seconds)
    kinds = collections.Counter(e[1] for e in entries)
    details: dict[str, Any] = {"requests_by_kind": dict(kinds), "window": "in-memory, last 10000 requests"}
    if seconds:
        details["p95_seconds"] = seconds[min(len(seconds) - 1, int(0.95 * len(seconds)))]
        details["max_seconds"] = seconds[-1]
    return Kpi(
        "traceability_response_time", total / len(seconds) if seconds else None, "seconds", total, len(seconds),
        "mean duration of the audit trace, recall scope and traceability record requests answered in the period",
        details,
    )  # fmt: skip


# ------------------------------------------------------------------------------------ recalls


def _recall_completion(session: Session, since: dt.datetime | None, until: dt.datetime) -> Kpi:
    """Over the recalls started in the period, with the progress the recall API reports
    (:func:`gateway.audit.recall.recall_progress`); a recall of an object already in the scope of
    an earlier recall of the period (the recall service recalling derived lots) is part of it."""
    r = t.RecallRow
    query = select(r.object_id).where(r.initiated_at < until).order_by(r.block_number, r.log_index)
    if since is not None:
        query = query.where(r.initiated_at >= since)
    recalls, total, complete = [], 0.0, 0
    covered: set[str] = set()
    for object_id in dict.fromkeys(session.scalars(query)):
        if object_id in covered:
            continue
        progress = recall_progress(session, object_id)
        covered |= {a.object_id for a in progress.scope.objects if a.role == "subject"}
        took = progress.time_to_completion
        seconds = took.total_seconds() if took is not None else None
        if seconds is not None:
            total += seconds
            complete += 1
        recalls.append({
            "object_id": object_id, "partner_id": progress.initiated_by, "reason": progress.reason,
            "initiated_at": progress.initiated_at.isoformat(), "affected": len(progress.objects),
            "resolved": sum(1 for o in progress.objects if o.resolved_at is not None), "counts": progress.counts,
            "completed_at": progress.completed_at.isoformat() if progress.completed_at else None, "seconds": seconds,
            "unresolved": [o.object_id for o in progress.objects if o.resolved_at is None],
        })  # fmt: skip
    return Kpi(
        "recall_completion_time", total / complete if complete else None, "seconds", total, complete,
        "mean time from a recall's start until every object subject to it was destroyed, quarantined or returned "
        "to the recalling partner (as the ledger stands now), over the complete recalls started in the period",
        {"recalls": recalls, "started": len(recalls), "incomplete": len(recalls) - complete},
    )  # fmt: skip


# ------------------------------------------------------------------------------------ submissions, scans, visibility


def _data_accuracy(session: Session, since: dt.datetime | None, until: dt.datetime) -> Kpi:
    s = SubmissionRow
    query = (
        select(s.partner_id, s.operation, s.status, func.count())
        .where(s.status.in_(["confirmed", "failed"]), s.created_at < until)
        .group_by(s.partner_id, s.operation, s.status)
    )
    if since is not None:
        query = query.where(s.created_at >= since)
    finished = failed = corrections = 0
    by_partner: dict[int, dict[str, int]] = collections.defaultdict(lambda: {"finished": 0, "failed": 0,
                                                                             "corrections": 0})  # fmt: skip
    for partner_id, operation, status, count in session.execute(query):
        finished += count
        by_partner[partner_id]["finished"] += count
        if status == "failed":
            failed += count
            by_partner[partner_id]["failed"] += count
        elif operation in CORRECTIONS:
            corrections += count
            by_partner[partner_id]["corrections"] += count
    accurate = finished - failed - corrections
    partners = {str(k): v for k, v in sorted(by_partner.items())}
    return Kpi(
        "data_accuracy", accurate / finished if finished else None, "ratio", accurate, finished,
        "share of the partner submissions created in the period and finished (confirmed or failed) that neither "
        "failed on chain nor were corrections (" + ", ".join(sorted(CORRECTIONS)) + ")",
        {"failed": failed, "corrections": corrections, "by_partner": partners},
    )  # fmt: skip


def _scanning_compliance(session: Session, since: dt.datetime | None, until: dt.datetime) -> Kpi:
    h, sh = t.CustodyHistoryRow, t.ShipmentRow
    shipments = select(sh.shipment_id).where(sh.dispatched_at < until)
    if since is not None:
        shipments = shipments.where(sh.dispatched_at >= since)
    query = (
        select(h.event, func.count())
        .where(h.shipment_id.in_(shipments), h.container_id.is_(None), h.event.in_(["received", "rejected"]))
        .group_by(h.event)
    )
    counts = {event: count for event, count in session.execute(query)}
    received, rejected = counts.get("received", 0), counts.get("rejected", 0)
    return Kpi(
        "scanning_compliance", received / (received + rejected) if received + rejected else None, "ratio", received,
        received + rejected,
        "share of the objects of shipments dispatched in the period that reached their receiver (received or "
        "rejected) and were received without rejection",
        {"received": received, "rejected": rejected},
    )  # fmt: skip


def _visibility(session: Session, until: dt.datetime, days: float) -> Kpi:
    o, h = t.ObjectRow, t.CustodyHistoryRow
    registered = select(o.object_id).where(o.registered_at < until)
    total = session.scalar(select(func.count()).select_from(registered.subquery())) or 0
    last = (
        select(h.object_id, func.max(h.at).label("last"))
        .where(h.at < until, h.object_id.in_(registered))
        .group_by(h.object_id)
        .subquery()
    )
    horizon = until - dt.timedelta(days=days)
    seen = session.scalar(select(func.count()).select_from(last).where(last.c.last >= horizon)) or 0
    return Kpi(
        "visibility_coverage", seen / total if total else None, "ratio", seen, total,
        f"share of the objects registered before `until` whose last ledger event is within {days} days before it",
        {"visibility_days": days},
    )  # fmt: skip


def compute_kpis(
    session: Session,
    times: ResponseTimes,
    since: dt.datetime | None,
    until: dt.datetime,
    visibility_days: float = 30,
) -> list[Kpi]:
    """Every KPI over ``[since, until)`` (``since`` None: from the start)."""
    return [
        _response_time(times, since, until),
        _recall_completion(session, since, until),
        _data_accuracy(session, since, until),
        _scanning_compliance(session, since, until),
        _visibility(session, until, visibility_days),
    ]
