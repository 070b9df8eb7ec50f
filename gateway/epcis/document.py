"""Where the events are in an EPCIS document, and which event a JSON pointer falls in.

The REST binding lets ``/capture`` take an ``EPCISDocument`` (``epcisBody.eventList``) or an
``EPCISQueryDocument`` (``epcisBody.queryResults.resultsBody.eventList``, e.g. a query result
forwarded from another repository); problems are reported with pointers into the document as
sent, so the event list's own path is kept with the events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.epcis.errors import CaptureRejected, EventProblem, pointer

__all__ = ["EVENT_LIST_PATHS", "EventList", "check_type", "event_list", "locate_event"]

EVENT_LIST_PATHS: dict[str, tuple[str, ...]] = {
    "EPCISDocument": ("epcisBody", "eventList"),
    "EPCISQueryDocument": ("epcisBody", "queryResults", "resultsBody", "eventList"),
}


@dataclass(frozen=True)
class EventList:
    """The events of a document and the path of their list."""

    path: tuple[str, ...]
    events: list[dict[str, Any]]

    def pointer(self, index: int, *parts: str | int) -> str:
        """JSON pointer of ``parts`` inside event ``index``."""
        return pointer(*self.path, index, *parts)


def _walk(document: Any, path: tuple[str, ...]) -> Any:
    node = document
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def check_type(document: dict[str, Any]) -> tuple[str, ...]:
    """The event list path of the document's type; checked before the schema, which would treat an
    unknown document type as an extension event and report a confusing error."""
    doc_type = document.get("type")
    path = EVENT_LIST_PATHS.get(doc_type) if isinstance(doc_type, str) else None
    if path is None:
        raise CaptureRejected(
            [
                EventProblem(
                    "epcis.unsupported_document",
                    "/type",
                    f"Capture takes an EPCISDocument or an EPCISQueryDocument, not {doc_type!r}.",
                )
            ]
        )
    return path


def event_list(document: dict[str, Any]) -> EventList:
    """The events of a schema-valid document (raises for other document types or no events)."""
    path = check_type(document)
    events = _walk(document, path)
    if not isinstance(events, list) or not events:
        raise CaptureRejected(
            [EventProblem("epcis.missing_field", pointer(*path), "The document carries no events to capture.")]
        )
    return EventList(path, events)


def locate_event(document: Any, json_pointer: str) -> tuple[int | None, str | None]:
    """``(index, eventID)`` of the event that ``json_pointer`` points into, or ``(None, None)``."""
    doc_type = document.get("type") if isinstance(document, dict) else None
    path = EVENT_LIST_PATHS.get(doc_type) if isinstance(doc_type, str) else None
    if path is None:
        return None, None
    prefix = pointer(*path) + "/"
    if not json_pointer.startswith(prefix):
        return None, None
    head = json_pointer[len(prefix) :].split("/", 1)[0]
    if not head.isdigit():
        return None, None
    index = int(head)
    events = _walk(document, path)
    event = events[index] if isinstance(events, list) and index < len(events) else None
    event_id = event.get("eventID") if isinstance(event, dict) else None
    return index, event_id if isinstance(event_id, str) else None
