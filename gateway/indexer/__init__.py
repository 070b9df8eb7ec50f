"""The event indexer: ledger and relay events → SQL query model (``idx_*`` tables).

Events are the source of truth; the model is a function of them, rebuilt from the chain alone
by ``python -m gateway.indexer rebuild`` and compared with the live one by ``… check``.

Modules, bottom-up:

- ``errors``: the exception tree; ``coltypes``: portable column types; ``tables``: the tables;
  ``bulk``: fast bulk inserts and reads by key; ``walcheckpoint``: SQLite log checkpoints off
  the indexer's commits;
- ``source``: the :class:`ChainSource` protocol and its JSON-RPC implementation; ``ranges``:
  adaptive ``eth_getLogs`` ranges; ``reader``: consistent, read-ahead ranges of decoded events;
- ``decode``: fast log decoding into :mod:`chain_client.events` models; ``codec``: those models
  to and from the JSON of the raw event table; ``epc``: EPC URN → GTIN/serial/lot/SSCC;
- ``state``: in-memory rows of a batch and the undo log; ``rows``: appended rows;
  ``projection_*`` and ``projector``: the ledger's semantics, event by event;
- ``rollback``: exact rollback to a fork point;
- ``indexer``: :class:`Indexer` (batches, checkpoint, reorgs, following the head);
- ``compare``, ``maintenance``, ``cli``: rebuild and check; ``bench``: throughput measurement.
"""

from gateway.indexer.compare import Difference, compare_databases
from gateway.indexer.decode import FastEventDecoder
from gateway.indexer.errors import (
    ChainChangedDuringFetch,
    ForeignDatabase,
    InconsistentEvents,
    IndexerError,
    NodeUnavailable,
    RpcError,
)
from gateway.indexer.indexer import Checkpoint, Indexer, IndexerConfig, SyncReport, ledger_decoder
from gateway.indexer.maintenance import open_database, rebuild
from gateway.indexer.source import BlockHeader, ChainSource, RpcSource

__all__ = [
    "BlockHeader",
    "ChainChangedDuringFetch",
    "ChainSource",
    "Checkpoint",
    "Difference",
    "FastEventDecoder",
    "ForeignDatabase",
    "InconsistentEvents",
    "Indexer",
    "IndexerConfig",
    "IndexerError",
    "NodeUnavailable",
    "RpcError",
    "RpcSource",
    "SyncReport",
    "compare_databases",
    "ledger_decoder",
    "open_database",
    "rebuild",
]
