"""DSCSA product identifier verification, after the GS1 Lightweight Messaging Standard for
Verification of Product Identifiers (the request/response pair Verification Router Services use).

A trading partner (typically before reselling a saleable return) asks whether a product
identifier — GTIN, serial number, lot and expiry — is one the manufacturer assigned; the answer
says ``verified`` true or false, a ``verificationFailureReason`` naming what did not match, and
``additionalInfo`` flags (recalled, expired...) that apply even when the identifier matches.
Field names follow the standard's JSON vocabulary (``corrUUID``, ``requestorGLN``,
``responderGLN``, ``verificationTimestamp``, ``context``, ``data.verified``...).
"""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.verification.verdict import Decision, Verdict

__all__ = [
    "AdditionalInfo",
    "FailureReason",
    "VerificationData",
    "VerificationRequest",
    "VerificationResponse",
    "respond",
]

Context = Literal["dscsaSaleableReturn", "dscsaSuspectOrIllegitimate", "dscsaStatusCheck"]


class FailureReason(StrEnum):
    """Which part of the product identifier did not match (most specific first)."""

    NO_MATCH_GTIN = "No_match_GTIN"
    NO_MATCH_GTIN_SERIAL = "No_match_GTIN_Serial"
    NO_MATCH_LOT = "No_match_GTIN_Serial_Lot"
    NO_MATCH_EXPIRY = "No_match_GTIN_Serial_Expiry"
    NO_MATCH_LOT_EXPIRY = "No_match_GTIN_Serial_Lot_Expiry"


class AdditionalInfo(StrEnum):
    RECALLED = "Recalled"
    EXPIRED = "Expired"
    QUARANTINED = "Quarantined"
    DISPENSED = "Dispensed_Or_Decommissioned"
    SUSPECT = "Suspect"


class _Message(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")


class VerificationRequest(_Message):
    """A product identifier verification request."""

    corr_uuid: uuid.UUID = Field(alias="corrUUID", description="Correlates the response with this request.")
    requestor_gln: str = Field(alias="requestorGLN", description="GLN of the requesting trading partner.")
    context: Context = "dscsaSaleableReturn"
    gtin: str
    serial_number: str = Field(alias="serialNumber", max_length=20)
    lot_number: str = Field(alias="lotNumber", max_length=20)
    expiration_date: str = Field(alias="expirationDate", description="YYMMDD (AI 17) or YYYY-MM-DD.")


class VerificationData(_Message):
    verified: bool
    verification_failure_reason: FailureReason | None = Field(alias="verificationFailureReason")
    additional_info: list[AdditionalInfo] = Field(alias="additionalInfo")


class VerificationResponse(_Message):
    corr_uuid: uuid.UUID = Field(alias="corrUUID")
    context: Context
    requestor_gln: str = Field(alias="requestorGLN")
    responder_gln: str | None = Field(alias="responderGLN")
    responder_name: str = Field(alias="responderName")
    verification_timestamp: dt.datetime = Field(alias="verificationTimestamp")
    data_as_of_block: int | None = Field(alias="dataAsOfBlock")
    data: VerificationData


def _failure(decision: Decision, gtin_known: bool) -> FailureReason | None:
    if decision.verdict is Verdict.UNKNOWN:
        return FailureReason.NO_MATCH_GTIN_SERIAL if gtin_known else FailureReason.NO_MATCH_GTIN
    lot_bad = decision.lot in ("mismatch", "not_recorded")
    expiry_bad = decision.expiry in ("mismatch", "not_recorded")
    if lot_bad and expiry_bad:
        return FailureReason.NO_MATCH_LOT_EXPIRY
    if lot_bad:
        return FailureReason.NO_MATCH_LOT
    if expiry_bad:
        return FailureReason.NO_MATCH_EXPIRY
    return None


_INFO = {
    Verdict.RECALLED: AdditionalInfo.RECALLED,
    Verdict.EXPIRED: AdditionalInfo.EXPIRED,
    Verdict.QUARANTINED: AdditionalInfo.QUARANTINED,
    Verdict.DISPENSED: AdditionalInfo.DISPENSED,
}


def respond(
    request: VerificationRequest,
    decision: Decision,
    gtin_known: bool,
    suspect: bool,
    *,
    responder_gln: str | None,
    responder_name: str,
    as_of_block: int | None,
    now: dt.datetime,
) -> VerificationResponse:
    """The response to ``request`` given the verification's ``decision``."""
    reason = _failure(decision, gtin_known)
    info: list[AdditionalInfo] = []
    if decision.verdict in _INFO:
        info.append(_INFO[decision.verdict])
    if decision.expired_by_date and AdditionalInfo.EXPIRED not in info:
        info.append(AdditionalInfo.EXPIRED)
    if suspect:
        info.append(AdditionalInfo.SUSPECT)
    return VerificationResponse(
        corrUUID=request.corr_uuid,
        context=request.context,
        requestorGLN=request.requestor_gln,
        responderGLN=responder_gln,
        responderName=responder_name,
        verificationTimestamp=now,
        dataAsOfBlock=as_of_block,
        data=VerificationData(verified=reason is None, verificationFailureReason=reason, additionalInfo=info),
    )
