"""Verification as one object per gateway process: validated input → cached read-model lookup →
verdict → signals (scan recorded) → the public answer.

Built on first use by the API (:func:`gateway.api.routes.verify.get_verification`) from the
gateway's settings and engine; holds the lookup cache, the scan log and the rate limiter.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from typing import Any

from pydantic_core import to_json
from sqlalchemy import Engine

from chain_client import gs1
from gateway.core.config import Settings
from gateway.verification import dscsa
from gateway.verification.ratelimit import TokenBucketLimiter
from gateway.verification.records import GtinFacts, Lookup, RecordStore
from gateway.verification.scans import Place, ScanLog, SignalSettings
from gateway.verification.verdict import (
    MESSAGES,
    Decision,
    ItemRecord,
    LabelQuery,
    Verdict,
    VerificationPublic,
    decide,
)

__all__ = ["Outcome", "VerificationService", "parse_expiry", "parse_label"]

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Scans of a serial are re-read from the database (other replicas' scans) at most this often.
HISTORY_RELOAD_SECONDS = 5.0
_MAX_KEPT_ANSWERS = 65536  # labels whose answer verify_json keeps (all dropped when full)
_CHECKED_AT = b',"checked_at":'
_AS_OF_BLOCK = b',"data_as_of_block":'


def parse_expiry(value: str | None, *, field: str = "expiry") -> dt.date | None:
    """An expiry as printed: YYMMDD (AI 17; DD=00 is the month's last day) or YYYY-MM-DD."""
    if value is None or value == "":
        return None
    if _ISO_DATE.match(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise gs1.GS1Error("gs1.date", field, f"{value!r} is not a calendar date") from None
    return gs1.parse_gs1_date(value, field=field)


@functools.lru_cache(maxsize=65536)
def parse_label(gtin: str, serial: str, lot: str | None = None, expiry: str | None = None) -> LabelQuery:
    """Validates a label's GTIN (check digit; GTIN-8/12/13 padded to 14), serial, lot and expiry.

    Cached: the same labels are scanned again and again (errors are not cached)."""
    return LabelQuery(
        gtin=gs1.Gtin(gs1.validate_gtin(gtin)).value,
        serial=gs1.validate_serial(serial),
        lot=None if lot is None or lot == "" else gs1.validate_lot(lot),
        expiry=parse_expiry(expiry),
    )


@dataclass(frozen=True, slots=True)
class Outcome:
    """A verification's result. ``answer`` is the public answer as plain values, in the field
    order of :class:`VerificationPublic`: the hot path serialises it directly (:meth:`json`),
    the other paths take the validated model (:attr:`public`)."""

    answer: dict[str, Any]
    decision: Decision
    gtin_known: bool

    @property
    def public(self) -> VerificationPublic:
        return VerificationPublic.model_validate(self.answer)

    def json(self) -> bytes:
        """The public answer's JSON, byte for byte what ``public.model_dump_json()`` gives (tested)."""
        return to_json(self.answer)


class VerificationService:
    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.records = RecordStore(engine, settings.verify_cache_ttl)
        self.scans = ScanLog(
            engine,
            SignalSettings(
                clone_places=settings.verify_clone_places,
                clone_window=dt.timedelta(hours=settings.verify_clone_window_hours),
                dispensed_scans=settings.verify_dispensed_scans,
            ),
            reload_after=max(settings.verify_cache_ttl, HISTORY_RELOAD_SECONDS),
            flush_interval=settings.verify_scan_flush_seconds,
        )
        self.limiter = TokenBucketLimiter(settings.verify_rate_per_second, settings.verify_rate_burst)
        self.engine = engine
        self.local_database = engine.dialect.name == "sqlite"
        self._answers: dict[LabelQuery, _KeptAnswer] = {}

    def close(self) -> None:
        self.scans.close()

    # ------------------------------------------------------------------ items

    def is_warm(self, gtin: str, serial: str) -> bool:
        """Whether verifying ``gtin``/``serial`` now needs no query (everything is cached)."""
        return self.records.is_warm(gtin, serial) and self.scans.is_warm(gtin, serial)

    def verifies_in_line(self, gtin: str, serial: str) -> bool:
        """Whether verifying ``gtin``/``serial`` may run on the event loop: its lookup is cached, or
        the database is a local SQLite file (sub-millisecond queries: a thread hop costs more)."""
        return self.local_database or self.is_warm(gtin, serial)

    def verify(self, label: LabelQuery, place: Place | None, channel: str) -> Outcome:
        facts = self.records.gtin(label.gtin)
        lookup = self.records.item(label.gtin, label.serial)
        return self._answer(label, facts, lookup, place, channel)

    def verify_lot(self, gtin: str, lot: str, expiry: dt.date | None, place: Place | None, channel: str) -> Outcome:
        """A lot-level Digital Link (no serial): known lot, recalled or not."""
        facts = self.records.gtin(gtin)
        lookup = self.records.lot(gtin, lot)
        return self._answer(LabelQuery(gtin, "", lot, expiry), facts, lookup, place, channel, serial=None)

    def _answer(
        self,
        label: LabelQuery,
        facts: GtinFacts,
        lookup: Lookup,
        place: Place | None,
        channel: str,
        serial: str | None = "",
    ) -> Outcome:
        now = dt.datetime.now(dt.UTC)
        record = lookup.record
        decision = decide(record, label, now.date())
        signals = self._observe(label, facts, record, decision, place, channel, now, serial is not None)
        answer = _public_answer(label, facts, record, decision, signals, serial is not None)
        answer["checked_at"] = now
        answer["data_as_of_block"] = lookup.as_of_block
        return Outcome(answer, decision, facts.known)

    def verify_json(self, label: LabelQuery, place: Place | None, channel: str) -> bytes:
        """``verify(label, place, channel).json()``, byte for byte, for the hot path: the verdict
        and the answer's JSON up to ``checked_at`` are kept per label while its record and its
        GTIN's facts are the same objects of the lookup caches (a change of the model replaces
        them), on the same day, and for the same signals; only the time and the block are new."""
        facts = self.records.gtin(label.gtin)
        lookup = self.records.item(label.gtin, label.serial)
        record = lookup.record
        now = dt.datetime.now(dt.UTC)
        today = now.date()
        kept = self._answers.get(label)
        if kept is None or kept.record is not record or kept.facts is not facts or kept.today != today:
            if len(self._answers) >= _MAX_KEPT_ANSWERS:
                self._answers.clear()
            kept = self._answers[label] = _KeptAnswer(record, facts, today, decide(record, label, today), {})
        signals = self._observe(label, facts, record, kept.decision, place, channel, now, True)
        key = tuple(signals)
        head = kept.heads.get(key)
        if head is None:  # {"verdict":…,"signals":[…]} without its "}", and the next key
            head = to_json(_public_answer(label, facts, record, kept.decision, signals, True))[:-1] + _CHECKED_AT
            kept.heads[key] = head
        block = lookup.as_of_block
        return b"".join((head, to_json(now), _AS_OF_BLOCK, b"null" if block is None else str(block).encode(), b"}"))

    def _observe(
        self,
        label: LabelQuery,
        facts: GtinFacts,
        record: ItemRecord | None,
        decision: Decision,
        place: Place | None,
        channel: str,
        now: dt.datetime,
        of_serial: bool,
    ) -> list[str]:
        """Records the scan; its signals."""
        return self.scans.observe(
            gtin=label.gtin,
            serial=label.serial if of_serial else None,
            lot=label.lot,
            verdict=decision.verdict,
            gtin_known=facts.known,
            dispensed_at=record.status_changed_at if record is not None else None,
            place=place,
            channel=channel,
            now=now,
        )

    # ------------------------------------------------------------------ DSCSA

    def dscsa(self, request: dscsa.VerificationRequest) -> dscsa.VerificationResponse:
        gs1.validate_gln(request.requestor_gln, field="requestorGLN")
        label = LabelQuery(
            gtin=gs1.Gtin(gs1.validate_gtin(request.gtin)).value,
            serial=gs1.validate_serial(request.serial_number, field="serialNumber"),
            lot=gs1.validate_lot(request.lot_number, field="lotNumber"),
            expiry=parse_expiry(request.expiration_date, field="expirationDate"),
        )
        outcome = self.verify(label, None, "dscsa")
        return dscsa.respond(
            request,
            outcome.decision,
            outcome.gtin_known,
            outcome.answer["suspect"],
            responder_gln=self.settings.dscsa_responder_gln,
            responder_name="Chain of Custody Network",
            as_of_block=outcome.answer["data_as_of_block"],
            now=outcome.answer["checked_at"],
        )


@dataclass(frozen=True, slots=True)
class _KeptAnswer:
    """What :meth:`VerificationService.verify_json` keeps of a label's answer (see there)."""

    record: ItemRecord | None
    facts: GtinFacts
    today: dt.date
    decision: Decision
    heads: dict[tuple[str, ...], bytes]  # by signals: the JSON up to the value of checked_at


def _public_answer(
    label: LabelQuery,
    facts: GtinFacts,
    record: ItemRecord | None,
    decision: Decision,
    signals: list[str],
    of_serial: bool,
) -> dict[str, Any]:
    """The public answer without its last two fields (``checked_at``, ``data_as_of_block``), as
    plain values in the field order of :class:`VerificationPublic`: building three models cost
    half a verification, and their JSON is the same (tests validate the answers against the model)."""
    return {
        "verdict": decision.verdict,
        "message": MESSAGES[decision.verdict],
        "product": _product(label, record, facts, decision),
        "checks": {
            "gtin_known": facts.known,
            "serial_registered": record is not None and of_serial,
            "lot": decision.lot,
            "expiry": decision.expiry,
            "status": None if record is None else record.own_status.lower(),
            "expired_by_date": decision.expired_by_date,
        },
        "suspect": bool(signals),
        "signals": signals,
    }


def _product(
    label: LabelQuery, record: ItemRecord | None, facts: GtinFacts, decision: Decision
) -> dict[str, Any] | None:
    """What the answer says about the product (the fields of ProductPublic): nothing for an
    unknown serial (it would lend a fake the real product's name), and not the recorded
    lot/expiry on a mismatch (it would teach a counterfeiter the right label)."""
    if record is None:
        return None
    show_record = decision.verdict is not Verdict.MISMATCH
    return {
        "gtin": label.gtin,
        "product_name": facts.product_name,
        "lot": record.lot if show_record else None,
        "expiry": record.expiry if show_record else None,
        "manufacturer": facts.manufacturer,
    }
