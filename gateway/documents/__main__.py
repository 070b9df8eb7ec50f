"""Retention commands, run against the same data folder and chain as the gateway::

    python -m gateway.documents backup --out FILE.car   # every anchored document, one CAR, many roots
    python -m gateway.documents report [--deep]         # anchored CIDs missing from the store
    python -m gateway.documents restore --in FILE.car   # import a backup (blocks verified, roots pinned)
    python -m gateway.documents gc                      # garbage-collect, keeping everything anchored
    python -m gateway.documents verify CID [--subject 0x…]  # one document: anchor on chain + bytes

Settings come from the environment (``CUSTODY_*``), the chain from ``--rpc-url`` (default:
``CUSTODY_RPC_URL``, else the embedded node's port). Each prints a JSON summary; ``backup`` and
``report`` exit with status 2 when anchored documents are missing, and ``verify`` when the
document is not anchored or not intact, so a cron job notices.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from gateway.core.config import Settings, get_settings
from gateway.documents.service import DocumentService

__all__ = ["main"]


def _service(settings: Settings, rpc_url: str | None) -> DocumentService:
    from gateway.core.chain import ChainContext
    from gateway.core.services import Services

    url = rpc_url or settings.rpc_url or f"http://127.0.0.1:{settings.anvil_port}"
    return Services.build(settings, ChainContext.open(settings, url)).documents


def _print(payload: dict[str, Any]) -> None:
    json.dump(payload, sys.stdout, indent=2)
    sys.stdout.write("\n")


def main(argv: list[str] | None = None, settings: Settings | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gateway.documents", description="Retention commands of the document store."
    )
    parser.add_argument("--rpc-url", help="EVM node (default: CUSTODY_RPC_URL or the embedded node)")
    commands = parser.add_subparsers(dest="command", required=True)
    backup = commands.add_parser("backup", help="write every anchored document into one CAR file")
    backup.add_argument("--out", required=True, type=Path, help="the CAR file to write (replaced atomically)")
    report = commands.add_parser("report", help="list anchored CIDs missing from the store")
    report.add_argument("--deep", action="store_true", help="also read every byte (finds damaged blocks)")
    restore = commands.add_parser("restore", help="import a backup CAR")
    restore.add_argument("--in", dest="source", required=True, type=Path)
    commands.add_parser("gc", help="garbage-collect unpinned blocks, keeping anchored documents")
    verify = commands.add_parser("verify", help="check one document's on-chain anchor and stored bytes")
    verify.add_argument("cid")
    verify.add_argument("--subject", help="only this subject (bytes32 hex object or shipment id)")
    args = parser.parse_args(argv)
    documents = _service(settings or get_settings(), args.rpc_url)

    if args.command == "backup":
        out: Path = args.out
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                result = documents.retention.backup(fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, out)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _print({"out": str(out), "roots": result.roots, "blocks": result.blocks, "bytes": result.bytes,
                "missing": [m.__dict__ for m in result.missing]})  # fmt: skip
        return 2 if result.missing else 0
    if args.command == "report":
        summary = documents.retention.ensure_pinned(deep=args.deep)
        _print(summary.as_dict())
        return 2 if summary.missing else 0
    if args.command == "restore":
        with args.source.open("rb") as fh:
            imported = documents.store.import_car(fh)
        _print({"roots": [str(r) for r in imported.roots], "blocks": imported.blocks})
        return 0
    if args.command == "verify":
        try:
            verification = documents.verify(args.cid, subject=args.subject)
        except ValueError as exc:  # not a CID, or a subject that is not 32 bytes of hex
            print(f"error: {exc}", file=sys.stderr)
            return 1
        _print(verification.as_dict())
        return 0 if verification.ok else 2
    gc = documents.gc()
    _print({"removed_blocks": gc.removed_blocks, "freed_bytes": gc.freed_bytes})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
