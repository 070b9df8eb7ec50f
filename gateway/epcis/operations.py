"""Partner operations that remember the EPCIS event they came from.

A submission stores its operation as JSON (``SubmissionRow.request``). Each operation class
here is the partner operation plus one field, ``epcis``: the capture id, the event's index and
id, and the event exactly as captured. So what the ledger has no field for — the
``bizTransactionList``, ``sensorElementList`` (cold-chain readings), ``readPoint``, ``ilmd``,
``eventTime`` — stays with the submission that recorded the event. The classes subclass the
partner operations, so :func:`gateway.partner.operations.resolve` resolves them unchanged.

Sensor data is kept here rather than in the document store because the gateway's
``Services`` expose no document store yet (see the package notes).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from gateway.partner import operations as ops

__all__ = ["EventContext", "with_context"]


class EventContext(BaseModel):
    """The EPCIS event behind a submission."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    capture_id: str
    event_index: int
    event_id: str
    """The event's ``eventID``, or ``urn:uuid:…`` assigned at capture when it had none."""
    event: dict[str, Any]


class EpcisRegisterItems(ops.RegisterItems):
    epcis: EventContext


class EpcisRegisterLot(ops.RegisterLot):
    epcis: EventContext


class EpcisRegisterLogisticUnits(ops.RegisterLogisticUnits):
    epcis: EventContext


class EpcisShip(ops.Ship):
    epcis: EventContext


class EpcisReceive(ops.Receive):
    epcis: EventContext


class EpcisPack(ops.Pack):
    epcis: EventContext


class EpcisUnpack(ops.Unpack):
    epcis: EventContext


class EpcisTransform(ops.Transform):
    epcis: EventContext


class EpcisSetStatus(ops.SetStatus):
    epcis: EventContext


class EpcisRecall(ops.Recall):
    epcis: EventContext


_WITH_CONTEXT: dict[type[BaseModel], type[BaseModel]] = {
    ops.RegisterItems: EpcisRegisterItems,
    ops.RegisterLot: EpcisRegisterLot,
    ops.RegisterLogisticUnits: EpcisRegisterLogisticUnits,
    ops.Ship: EpcisShip,
    ops.Receive: EpcisReceive,
    ops.Pack: EpcisPack,
    ops.Unpack: EpcisUnpack,
    ops.Transform: EpcisTransform,
    ops.SetStatus: EpcisSetStatus,
    ops.Recall: EpcisRecall,
}


def with_context(operation: BaseModel, context: EventContext) -> BaseModel:
    """``operation`` as its EPCIS subclass carrying ``context``."""
    cls = _WITH_CONTEXT.get(type(operation))
    if cls is None:
        raise TypeError(f"no EPCIS form of {type(operation).__name__}")
    return cls.model_validate({**operation.model_dump(), "epcis": context})
