"""Throughput of the indexer on a fresh Anvil chain: ``python -m gateway.indexer.bench``.

Generates ``--items`` serialized items with batch calls (100 per transaction: register, ship,
receive, transfer back — four events per item, plus one per shipment), then indexes the whole
chain into a fresh database and reports events per second, end to end (``eth_getLogs``,
headers, decoding, projection, SQL), by the wall clock and per CPU-second of the indexing
process (the fairer figure on a shared machine; the load average is printed with it). It also
times the two decoders on the same logs: web3's ``get_event_data`` (``chain_client.events.
EventDecoder``) and ``FastEventDecoder``. ``--state`` keeps the generated chain in an Anvil state
file, so later runs index the same chain without generating it again.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eth_utils.crypto import keccak

from chain_client.artifacts import load_artifact
from chain_client.deploy import deploy
from chain_client.events import EventDecoder
from chain_client.ledger import CustodyLedgerClient
from chain_client.models import PartnerRole, Registration, ShipmentInfo
from chain_client.node import ANVIL_DEFAULT_MNEMONIC, AnvilConfig, AnvilNode
from chain_client.signers import LocalSigner
from chain_client.tx import NonceManager, TxSender, connect
from gateway.indexer.indexer import Indexer, IndexerConfig, SyncReport, ledger_decoder
from gateway.indexer.maintenance import open_database
from gateway.indexer.source import RpcSource

__all__ = ["generate", "main", "measure"]

BATCH = 100


def generate(node: AnvilNode, items: int) -> str:
    """Deploys a ledger with two partners and runs ``items`` items through it; returns the ledger address.

    Transactions go out as raw calldata and their receipts are not decoded: the point is to make
    events quickly, and the ids are known in advance (keccak256 of the URNs).
    """
    w3 = connect(node.rpc_url)
    admin = LocalSigner.from_mnemonic(ANVIL_DEFAULT_MNEMONIC, 0)
    nonces = NonceManager(w3)
    sender = TxSender(w3, admin, CustodyLedgerClient.revert_decoder(), nonces)
    ledger = CustodyLedgerClient(sender, deploy(sender, "CustodyLedger", admin.address).address)
    maker_key, distributor_key = (LocalSigner.from_mnemonic(ANVIL_DEFAULT_MNEMONIC, i) for i in (1, 2))
    ledger.register_partner("maker", PartnerRole.MANUFACTURER, [maker_key.address], ["0614141000005"])
    ledger.register_partner("distributor", PartnerRole.DISTRIBUTOR, [distributor_key.address], ["0614141000029"])
    maker = TxSender(w3, maker_key, sender.decoder, nonces)
    distributor = TxSender(w3, distributor_key, sender.decoder, nonces)

    def send(by: TxSender, function: str, *args: Any) -> None:
        by.transact({"to": ledger.address, "data": "0x" + ledger.encode(function, *args).hex()})

    for start in range(0, items, BATCH):
        urns = [f"urn:epc:id:sgtin:0614141.812345.B{n}" for n in range(start, min(items, start + BATCH))]
        ids = [keccak(text=urn) for urn in urns]
        send(maker, "registerItems", [Registration(epc=urn, lot="L1").as_abi_tuple() for urn in urns])
        send(maker, "ship", ids, ShipmentInfo(2).as_abi_tuple())
        send(distributor, "receiveObjects", ids, 0)
        send(distributor, "transfer", ids, 1)
    return ledger.address


def _decoder_times(rpc_url: str, ledger: str, relay: str) -> dict[str, float]:
    """Seconds each decoder takes for every log of the chain (same logs, decoding only)."""
    source = RpcSource(rpc_url)
    raw = source.logs([ledger, relay], 0, source.head())
    w3 = connect(rpc_url)
    formatted = w3.eth.get_logs({"address": [ledger, relay], "fromBlock": 0, "toBlock": "latest"})  # type: ignore[typeddict-item]
    slow = EventDecoder(load_artifact("CustodyLedger").abi, load_artifact("CustodyRelay").abi)
    fast = ledger_decoder()
    started = time.perf_counter()
    slow.decode_logs(formatted)
    web3_seconds = time.perf_counter() - started
    started = time.perf_counter()
    fast.decode_logs(raw)
    fast_seconds = time.perf_counter() - started
    return {"logs": len(raw), "web3_decode_s": web3_seconds, "fast_decode_s": fast_seconds}


def timed_sync(indexer: Indexer) -> tuple[SyncReport, float, float]:
    """``indexer.sync_once()`` with its wall-clock and CPU seconds (of the whole process); the wait
    for SQLite's last log checkpoint counts as indexing."""
    cpu, started = time.process_time(), time.perf_counter()
    report = indexer.sync_once()
    indexer.wait_for_log_checkpoint()
    return report, time.perf_counter() - started, time.process_time() - cpu


def measure(rpc_url: str, ledger: str, database_url: str, undo_window: int) -> dict[str, Any]:
    """Indexes the chain into the fresh database at ``database_url``; returns the figures."""
    engine = open_database(database_url)
    with RpcSource(rpc_url) as source:
        config = IndexerConfig(target_logs=10_000, undo_window=undo_window)
        indexer = Indexer(engine, source, ledger, config=config)
        report, seconds, cpu = timed_sync(indexer)
        relay = indexer.relay
    decode = _decoder_times(rpc_url, ledger, relay)
    return {
        "backend": engine.dialect.name,
        "undo_window": undo_window,
        "events": report.events,
        "seconds": round(seconds, 3),
        "events_per_s": round(report.events / seconds),
        "events_per_cpu_s": round(report.events / cpu),
        "load_average": round(os.getloadavg()[0], 1),
        "web3_decode_events_per_s": round(decode["logs"] / decode["web3_decode_s"]),
        "fast_decode_events_per_s": round(decode["logs"] / decode["fast_decode_s"]),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=8_000, help="items to run through (about 4 events each)")
    parser.add_argument("--database-url", action="append", help="fresh database(s); default: a temporary SQLite")
    parser.add_argument("--undo-window", type=int, default=1024, help="as IndexerConfig.undo_window")
    parser.add_argument("--state", type=Path, help="Anvil state file: reuse its chain, or keep the generated one")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    ledger_file = Path(f"{args.state}.ledger") if args.state else None
    with AnvilNode(AnvilConfig(state_path=args.state)) as node:
        started = time.perf_counter()
        if ledger_file is not None and ledger_file.exists():
            ledger = ledger_file.read_text().strip()
        else:
            ledger = generate(node, args.items)
            if ledger_file is not None:
                ledger_file.write_text(ledger)
        generated = time.perf_counter() - started
        with tempfile.TemporaryDirectory() as tmp:
            urls = args.database_url or [f"sqlite:///{Path(tmp) / 'bench.db'}"]
            results = [measure(node.rpc_url, ledger, url, args.undo_window) for url in urls]
    if args.json:
        print(json.dumps({"generate_s": round(generated, 1), "runs": results}, indent=2))
        return
    print(f"chain ready in {generated:.1f}s")
    for r in results:
        print(
            f"{r['backend']} (undo window {r['undo_window']}): {r['events']} events in {r['seconds']}s = "
            f"{r['events_per_s']:,} events/s wall, {r['events_per_cpu_s']:,} per CPU-second "
            f"(load average {r['load_average']}); decoding alone: web3 {r['web3_decode_events_per_s']:,}/s, "
            f"fast {r['fast_decode_events_per_s']:,}/s"
        )


if __name__ == "__main__":
    main()
