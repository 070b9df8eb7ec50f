"""Retention: what is anchored on chain stays pinned, is never garbage-collected, and is backed up.

* ``ensure_pinned`` pins every anchored CID the store holds completely and reports the others
  as missing (never added, deleted, or incomplete); ``deep=True`` also reads every byte, which
  finds blocks damaged on disk.
* ``gc`` runs ``ensure_pinned`` first, under the rule that the chain decides what stays: a CID
  anchored by anyone, through any gateway, is kept. ``unpin`` of an anchored CID is refused
  (``Retained``).
* ``backup`` writes every anchored CID present and intact into one CAR v1 file with several
  roots, each block once; ``import_car`` of that file into an empty store (embedded or Kubo)
  restores them all, pinned. Damaged or missing documents are listed, not silently skipped.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from gateway.documents.anchors import AnchorReader
from gateway.documents.car import CarReader, write_car
from gateway.documents.cid import Cid, CidLike
from gateway.documents.errors import BlockNotFound, DocumentStoreError, Retained
from gateway.documents.interface import DocumentStore, GcResult

__all__ = ["BackupResult", "RetentionReport", "RetentionService"]


@dataclass(frozen=True)
class MissingDocument:
    cid: str
    reason: str
    """``ipfs.not_found`` (absent or incomplete), ``ipfs.integrity`` (damaged), …: the error code."""
    detail: str


@dataclass(frozen=True)
class RetentionReport:
    anchored: int
    present: int
    pinned_now: list[str] = field(default_factory=list)
    """Anchored CIDs that were in the store but not pinned, and are pinned now."""
    missing: list[MissingDocument] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "anchored": self.anchored,
            "present": self.present,
            "pinned_now": self.pinned_now,
            "missing": [m.__dict__ for m in self.missing],
        }


@dataclass(frozen=True)
class BackupResult:
    roots: list[str]
    blocks: int
    bytes: int
    missing: list[MissingDocument]


class RetentionService:
    def __init__(self, store: DocumentStore, anchors: AnchorReader) -> None:
        self.store = store
        self.anchors = anchors

    def is_anchored(self, cid: CidLike) -> bool:
        return str(Cid.parse(cid)) in {str(c) for c in self.anchors.anchored_cids()}

    def ensure_pinned(self, *, deep: bool = False) -> RetentionReport:
        anchored = self.anchors.anchored_cids()
        pinned = {str(c) for c in self.store.pins()}
        pinned_now: list[str] = []
        missing: list[MissingDocument] = []
        for cid in anchored:
            try:
                if deep:
                    for _ in self.store.cat(cid):
                        pass
                if str(cid) not in pinned:
                    self.store.pin(cid)  # needs the whole DAG: raises when incomplete
                    pinned_now.append(str(cid))
                elif not deep and not self.store.has(cid):
                    raise BlockNotFound(f"{cid} is pinned but its root block is gone", cid=str(cid))
            except DocumentStoreError as exc:
                missing.append(MissingDocument(str(cid), exc.code, str(exc)))
        return RetentionReport(len(anchored), len(anchored) - len(missing), pinned_now, missing)

    def unpin(self, cid: CidLike) -> None:
        parsed = Cid.parse(cid)
        if self.is_anchored(parsed):
            raise Retained(f"{parsed} is anchored on chain and stays pinned", cid=str(parsed))
        self.store.unpin(parsed)

    def gc(self) -> GcResult:
        self.ensure_pinned()
        return self.store.gc()

    def backup(self, out: BinaryIO) -> BackupResult:
        """Writes one CAR with every anchored, intact CID as a root; returns what it holds.

        Every anchored DAG is read and verified first (``ensure_pinned(deep=True)``): the CAR
        header names its roots before any block, so a document found damaged half-way through
        could no longer be left out. Damaged and missing ones are reported instead."""
        report = self.ensure_pinned(deep=True)
        absent = {m.cid for m in report.missing}
        roots = [cid for cid in self.anchors.anchored_cids() if str(cid) not in absent]
        counts = {"blocks": 0}
        written = write_car(out, roots, self._blocks(roots, counts))
        return BackupResult([str(r) for r in roots], counts["blocks"], written, report.missing)

    def _blocks(self, roots: list[Cid], counts: dict[str, int]) -> Iterator[tuple[Cid, bytes]]:
        seen: set[bytes] = set()
        for root in roots:
            for cid, block in self._dag_blocks(root):
                if cid.multihash in seen:
                    continue
                seen.add(cid.multihash)
                counts["blocks"] += 1
                yield cid, block

    def _dag_blocks(self, root: Cid) -> Iterator[tuple[Cid, bytes]]:
        walker: Any = self.store
        if hasattr(walker, "iter_dag_blocks"):  # the embedded store walks its own blocks
            yield from walker.iter_dag_blocks(root)
            return
        with tempfile.TemporaryFile() as spool:  # a remote store: its CAR export, verified on reading
            self.store.export_car(root, spool)
            spool.seek(0)
            yield from CarReader(spool)
