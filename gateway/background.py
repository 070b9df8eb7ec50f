"""The gateway's background processes: the outbox worker and the indexer, serving no HTTP.

``./scripts/start`` (:func:`gateway.stack.serve`) runs them here rather than as threads of the
process that answers requests: there their signing, ABI encoding, receipt decoding and event
projection held that process's GIL for hundreds of milliseconds at a time and every request in
flight waited (docs/decisions.md, D25). Each runs in a process of its own for the same reason:
the indexer's projection held the GIL while the worker held the partner write turn that
accepting requests queue for (D29). The processes stop with the first gateway process.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import threading

from gateway.core.chain import ChainContext
from gateway.core.config import Settings
from gateway.core.services import Services

__all__ = ["background_parts", "http_settings", "run_background"]


def http_settings(settings: Settings) -> Settings:
    """The settings of the processes that serve HTTP when the background processes run the rest."""
    return settings.model_copy(update={"run_indexer": False, "run_worker": False})


def background_parts(settings: Settings) -> list[tuple[str, Settings]]:
    """The background processes to run, by name, each with its settings: the outbox worker and
    the indexer (whichever ``settings`` enable) in a process each (D29)."""
    parts = []
    if settings.run_worker:
        parts.append(("outbox-worker", settings.model_copy(update={"run_indexer": False})))
    if settings.run_indexer:
        parts.append(("indexer", settings.model_copy(update={"run_worker": False})))
    return parts


def run_background(settings: Settings, rpc_url: str) -> None:
    """Runs what ``settings`` enable of the outbox worker and the indexer until SIGTERM or SIGINT
    (or the death of the parent process, which sends SIGTERM)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())  # Ctrl-C reaches the whole group
    if settings.run_indexer and not settings.run_worker:
        # The indexer's projection is throughput work: on a busy machine it should lose the CPU to
        # requests, not the other way round (D29). Freshness then lags, the API does not.
        os.nice(settings.indexer_nice)
    services = Services.build(settings, ChainContext.open(settings, rpc_url))
    services.start()
    try:
        while not stop.wait(1.0):  # a timeout: signal handlers run between waits
            pass
    finally:
        services.stop()
