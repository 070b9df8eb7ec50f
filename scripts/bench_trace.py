#!/usr/bin/env python3
"""Trace benchmark (issue #7): index a 5-tier supply network, then time backward and forward traces.

Starts its own Anvil node and writes a five-tier network on chain with the ledger's batch
functions, transactions pipelined (signed locally, sent many per HTTP request, receipts not
awaited except at the end of each phase):

1. a supplier commissions source lots (kg) and ships them to a processor;
2. the processor transforms every two neighbouring source lots into an ingredient lot;
3. a manufacturer transforms every two neighbouring ingredient lots into a bulk lot (tablets),
4. splits each bulk lot into finished lots,
5. and transforms each finished lot into serialized items (up to 250 per transaction), packs
   them into cases (``--case-size``, 50 by default) and ships the cases to a distributor, who
   ships them to a pharmacy, which unpacks them and dispenses the items.

The node mines on demand, one block per batch of sent transactions (see :class:`Pipeline`).

Neighbouring inputs make the genealogy a lattice rather than a tree: a source lot reaches about
three bulk lots, so a forward trace of one source lot returns six finished lots, their cases and
about 1,500 items. Then the whole chain is indexed into a fresh database by the event indexer
(events per second), and backward traces (random items, tier 5) and forward traces (random
source lots, tier 1) are timed with :mod:`gateway.audit.trace` against the index, next to a
naive answer to the same question from the chain alone (every ledger log by ``eth_getLogs``,
decoded and replayed in Python); every naive answer is checked equal to the indexed one.

Run: ``.venv/bin/python scripts/bench_trace.py [--events 1000000] [--json]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import math
import os
import platform
import random
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eth_abi.abi import encode as abi_encode  # noqa: E402
from eth_utils.crypto import keccak  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from chain_client import events as ev  # noqa: E402
from chain_client.deploy import deploy  # noqa: E402
from chain_client.ledger import CustodyLedgerClient  # noqa: E402
from chain_client.models import (  # noqa: E402
    LotOutput,
    PartnerRole,
    Registration,
    ShipmentInfo,
    Status,
    encode_reason,
)
from chain_client.node import ANVIL_DEFAULT_MNEMONIC, AnvilConfig, AnvilNode  # noqa: E402
from chain_client.signers import LocalSigner  # noqa: E402
from chain_client.tx import NonceManager, TxSender, connect  # noqa: E402
from gateway.audit.trace import TraceResult, backward_trace, forward_trace  # noqa: E402
from gateway.indexer.bench import timed_sync  # noqa: E402
from gateway.indexer.indexer import Indexer, IndexerConfig, ledger_decoder  # noqa: E402
from gateway.indexer.maintenance import open_database  # noqa: E402
from gateway.indexer.source import RpcSource  # noqa: E402
from gateway.stack import prepare_to_serve  # noqa: E402

MAX_CREATE_BATCH = 250  # the ledger's bound on objects created or packed by one call
MAX_BATCH = 1000  # the ledger's bound on objects moved or changed by one call
FINISHED_PER_BULK = 2  # finished lots split from one bulk lot
EVENTS_PER_ITEM = 5  # commissioned, produced, packed, unpacked, dispensed
SOURCE_KG = 1000
TARGET_INDEX_EVENTS_PER_S = 5000
TARGET_TRACE_P99_MS = 100.0
BLOCK_GAS_LIMIT = 4_000_000_000  # room for a whole sent batch (gas limits, not gas used) per block
SEND_BATCH = 64  # raw transactions per JSON-RPC batch request at most
SEND_BYTES = 2_000_000  # and this many bytes of them (Anvil refuses a much larger request body)
COMPANY = "0614141"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def oid(epc: str) -> str:
    return "0x" + keccak(text=epc).hex()


# ------------------------------------------------------------------------------------ the network


@dataclass(frozen=True)
class Shape:
    """Size of the network: ``chains`` source lots (and as many ingredient and bulk lots)."""

    chains: int
    items_per_lot: int
    case_size: int = 50

    @classmethod
    def for_events(cls, events: int, case_size: int = 50) -> Shape:
        per_chain = EVENTS_PER_ITEM * FINISHED_PER_BULK * MAX_CREATE_BATCH
        chains = max(3, math.ceil(events / per_chain))
        items = max(4, min(MAX_CREATE_BATCH, events // (EVENTS_PER_ITEM * FINISHED_PER_BULK * chains)))
        return cls(chains, items, min(case_size, MAX_CREATE_BATCH))

    @property
    def finished_lots(self) -> int:
        return self.chains * FINISHED_PER_BULK

    @property
    def items(self) -> int:
        return self.finished_lots * self.items_per_lot


@dataclass(frozen=True)
class Partner:
    name: str
    role: PartnerRole
    gln: str
    signer: LocalSigner
    partner_id: int = 0


def source_epc(j: int) -> str:
    return f"urn:epc:class:lgtin:{COMPANY}.100001.S{j}"


def ingredient_epc(j: int) -> str:
    return f"urn:epc:class:lgtin:{COMPANY}.100002.I{j}"


def bulk_epc(j: int) -> str:
    return f"urn:epc:class:lgtin:{COMPANY}.100003.B{j}"


def finished_lot(j: int, k: int) -> str:
    return f"F{j}-{k}"


def finished_epc(j: int, k: int) -> str:
    return f"urn:epc:class:lgtin:{COMPANY}.100004.{finished_lot(j, k)}"


def item_epc(serial: int) -> str:  # same GTIN as the finished lots: an item's lot id is its lot's object id
    return f"urn:epc:id:sgtin:{COMPANY}.100004.{serial}"


def case_epc(n: int) -> str:
    return f"urn:epc:id:sscc:{COMPANY}.{n:010d}"


@dataclass
class Network:
    """What was written: the ledger, the objects to trace from and the events expected."""

    ledger: str
    shape: Shape
    source_lots: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    expected_events: int = 0
    transactions: int = 0
    blocks: int = 0
    seconds: float = 0.0
    relay: str = ""

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "shape": self.shape.__dict__}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Network:
        return cls(**{**data, "shape": Shape(**data["shape"])})


def save_state(rpc: RpcSource, network: Network, path: Path) -> None:
    """Writes the node's whole state (blocks, transactions, receipts; ``anvil_dumpState``, which
    answers gzipped JSON) to ``path`` as the JSON ``anvil --load-state`` reads, and what was
    generated next to it (``path.network.json``)."""
    dumped = rpc.request("anvil_dumpState", [])
    path.write_bytes(gzip.decompress(bytes.fromhex(dumped.removeprefix("0x"))))
    Path(f"{path}.network.json").write_text(json.dumps(network.to_json()))


def load_network(path: Path) -> Network:
    network: Network = Network.from_json(json.loads(Path(f"{path}.network.json").read_text()))
    return network


class Pipeline:
    """Signs ledger calls locally and sends them many per request, without waiting for receipts.

    The node mines on demand (automine off): each sent batch becomes one block by ``evm_mine``.
    Automine with concurrent batches left transactions queued behind a nonce that was being
    mined, never to be mined. Nonces are counted here; one sender per phase, so a phase's calls
    run in send order. :meth:`barrier` checks that nothing is left in the pool and that the last
    transaction of each sender succeeded; a revert inside a phase is caught by the event count
    after indexing (:func:`find_failure` then names it).
    """

    def __init__(self, rpc: RpcSource, ledger: CustodyLedgerClient, chain_id: int) -> None:
        self.rpc = rpc
        self.ledger = ledger
        self.chain_id = chain_id
        self.nonces: dict[str, int] = {}
        self.pending: list[tuple[str, str]] = []  # sender, raw transaction
        self.pending_bytes = 0
        self.last: dict[str, str] = {}  # sender -> its last transaction sent since the barrier
        self.hashes: list[str] = []
        self.expected_events = 0
        self._functions: dict[str, tuple[bytes, list[str]]] = {}
        rpc.request("evm_setAutomine", [False])

    def calldata(self, function: str, args: Sequence[Any]) -> str:
        """ABI-encoded call with ``eth_abi`` alone: web3's ``encode`` first normalises every value of the
        arguments recursively, which made it 90 % of the generation time (0.5 s for 250 registrations)."""
        if function not in self._functions:
            entries: list[dict[str, Any]] = [dict(f) for f in self.ledger.contract.abi]
            (abi,) = [f for f in entries if f.get("type") == "function" and f["name"] == function]
            types = [_abi_type(i) for i in abi["inputs"]]
            self._functions[function] = (keccak(text=f"{function}({','.join(types)})")[:4], types)
        selector, types = self._functions[function]
        return "0x" + (selector + abi_encode(types, list(args))).hex()

    def add(self, signer: LocalSigner, function: str, args: Sequence[Any], gas: int, events: int) -> None:
        """Queues a call of ledger ``function`` that emits ``events`` events (sent in batches)."""
        address = signer.address
        if address not in self.nonces:
            self.nonces[address] = int(self.rpc.request("eth_getTransactionCount", [address, "pending"]), 16)
        tx = {
            "to": self.ledger.address,
            "data": self.calldata(function, args),
            "gas": gas,
            "nonce": self.nonces[address],
            "chainId": self.chain_id,
            "maxFeePerGas": 50 * 10**9,
            "maxPriorityFeePerGas": 10**9,
        }
        self.nonces[address] += 1
        raw = "0x" + signer.sign_transaction(tx).hex()
        if self.pending_bytes + len(raw) > SEND_BYTES:
            self.flush()
        self.pending.append((address, raw))
        self.pending_bytes += len(raw)
        self.expected_events += events
        if len(self.pending) >= SEND_BATCH:
            self.flush()

    def flush(self) -> None:
        """Sends the queued transactions and mines them."""
        if not self.pending:
            return
        hashes = self.rpc.batch("eth_sendRawTransaction", [[raw] for _, raw in self.pending])
        for (address, _), tx_hash in zip(self.pending, hashes, strict=True):
            self.last[address] = tx_hash
        self.hashes.extend(hashes)
        self.pending.clear()
        self.pending_bytes = 0
        self.mine()

    def mine(self) -> None:
        """Mines blocks until the pool is empty; a transaction left queued (a nonce gap) is an error."""
        while True:
            self.rpc.request("evm_mine", [])
            status = self.rpc.request("txpool_status", [])
            if int(status["pending"], 16) == 0:
                break
        if int(status["queued"], 16):
            raise RuntimeError(f"{int(status['queued'], 16)} transactions queued behind a missing nonce")

    def barrier(self) -> None:
        """Sends what is queued and checks the last transaction of every sender."""
        self.flush()
        for tx_hash in self.last.values():
            receipt = self.rpc.request("eth_getTransactionReceipt", [tx_hash])
            if receipt is None or int(receipt["status"], 16) != 1:
                raise RuntimeError(f"a transaction failed: {find_failure(self.rpc, self.ledger, [tx_hash])}")
        self.last.clear()


def find_failure(rpc: RpcSource, ledger: CustodyLedgerClient, hashes: Iterable[str]) -> str:
    """The first reverted transaction among ``hashes``, with its decoded revert (diagnostics only)."""
    for tx_hash in hashes:
        receipt = rpc.request("eth_getTransactionReceipt", [tx_hash])
        if receipt is not None and int(receipt["status"], 16) != 1:
            return f"{tx_hash}: {ledger.sender._replay_failure(tx_hash, int(receipt['blockNumber'], 16))!r}"
    return "no reverted transaction found"


def _lot(epc: str, lot: str, quantity: int, unit: str, origin: str | None = None) -> tuple[Any, ...]:
    return LotOutput(Registration(epc=epc, lot=lot, origin_gln=origin), quantity, unit).as_abi_tuple()


def _abi_type(param: Any) -> str:
    """The canonical type of an ABI parameter (tuples spelled out)."""
    t = str(param["type"])
    if t.startswith("tuple"):
        return f"({','.join(_abi_type(c) for c in param['components'])}){t[len('tuple') :]}"
    return t


def _ids(values: Sequence[str]) -> list[bytes]:
    return [bytes.fromhex(v[2:]) for v in values]


def _gas(base: int, per: int, n: int) -> int:
    return base + per * n


class Generator:
    """Writes the network of :class:`Shape` on a fresh ledger."""

    def __init__(self, node: AnvilNode, shape: Shape) -> None:
        self.shape = shape
        w3 = connect(node.rpc_url)
        keys = [LocalSigner.from_mnemonic(ANVIL_DEFAULT_MNEMONIC, i) for i in range(6)]
        nonces = NonceManager(w3)
        self.admin = TxSender(w3, keys[0], CustodyLedgerClient.revert_decoder(), nonces)
        self.ledger = CustodyLedgerClient(self.admin, deploy(self.admin, "CustodyLedger", keys[0].address).address)
        specs = [
            ("Tier 1 Farm Supplier", PartnerRole.MANUFACTURER, "0614141000012"),
            ("Tier 2 Ingredient Processor", PartnerRole.MANUFACTURER, "0614141000029"),
            ("Tier 3 Drug Manufacturer", PartnerRole.MANUFACTURER, "0614141000036"),
            ("Tier 4 Wholesale Distributor", PartnerRole.DISTRIBUTOR, "0614141000043"),
            ("Tier 5 Pharmacy", PartnerRole.DISPENSER, "0614141000050"),
        ]
        self.partners: list[Partner] = []
        for (name, role, gln), key in zip(specs, keys[1:], strict=True):
            result = self.ledger.register_partner(name, role, [key.address], [gln])
            pid = result.of(ev.PartnerRegistered)[0].partner_id
            self.partners.append(Partner(name, role, gln, key, pid))
        self.rpc = RpcSource(node.rpc_url, timeout=600)
        self.pipe = Pipeline(self.rpc, self.ledger, self.admin.chain_id)
        self.setup_events = len(self.rpc.logs([self.ledger.address, self.ledger.relay_address], 0, self.rpc.head()))

    # -- steps ----------------------------------------------------------------------------------

    def ship(self, sender: Partner, receiver: Partner, ids: Sequence[str]) -> None:
        info = ShipmentInfo(receiver.partner_id, sender.gln, receiver.gln, transfer_ownership=True).as_abi_tuple()
        for k in range(0, len(ids), MAX_BATCH):
            chunk = ids[k : k + MAX_BATCH]
            self.pipe.add(sender.signer, "ship", [_ids(chunk), info], _gas(150_000, 40_000, len(chunk)), 1 + len(chunk))

    def receive(self, receiver: Partner, ids: Sequence[str]) -> None:
        for k in range(0, len(ids), MAX_BATCH):
            chunk = ids[k : k + MAX_BATCH]
            self.pipe.add(receiver.signer, "receiveObjects", [_ids(chunk), int(receiver.gln)],
                          _gas(150_000, 40_000, len(chunk)), 2 * len(chunk))  # fmt: skip

    def phase(self, name: str, started: float, body: Callable[[], None]) -> None:
        t = time.perf_counter()
        body()
        self.pipe.barrier()
        head = self.rpc.head()
        log(
            f"  {name}: {time.perf_counter() - t:.1f}s; {self.pipe.expected_events:,} events, "
            f"{len(self.pipe.hashes):,} txs, block {head:,}, {time.perf_counter() - started:.0f}s so far"
        )

    def run(self) -> Network:
        s = self.shape
        supplier, processor, maker, distributor, pharmacy = self.partners
        n = s.chains
        sources = [oid(source_epc(j)) for j in range(n)]
        ingredients = [oid(ingredient_epc(j)) for j in range(n)]
        bulks = [oid(bulk_epc(j)) for j in range(n)]
        finished = [(j, k) for j in range(n) for k in range(FINISHED_PER_BULK)]
        cases = [oid(case_epc(c)) for c in range(math.ceil(s.items / s.case_size))]
        items: list[str] = []
        started = time.perf_counter()
        log(f"generating {n} source lots, {s.finished_lots} finished lots, {s.items:,} items")

        def tier1() -> None:
            for j in range(n):
                lot = _lot(source_epc(j), f"S{j}", SOURCE_KG, "KGM", supplier.gln)
                self.pipe.add(supplier.signer, "registerLot", [lot], 400_000, 1)
            self.ship(supplier, processor, sources)

        def tier2() -> None:
            self.receive(processor, sources)
            half = SOURCE_KG // 2
            for j in range(n):
                inputs = [(_ids([sources[j]])[0], half), (_ids([sources[(j + 1) % n]])[0], half)]
                output = _lot(ingredient_epc(j), f"I{j}", SOURCE_KG, "KGM")
                self.pipe.add(processor.signer, "transform", [inputs, [output], []], 600_000, 5)
            self.ship(processor, maker, ingredients)

        def tier3_4() -> None:
            self.receive(maker, ingredients)
            half = SOURCE_KG // 2
            per_bulk = FINISHED_PER_BULK * s.items_per_lot
            for j in range(n):
                inputs = [(_ids([ingredients[j]])[0], half), (_ids([ingredients[(j + 1) % n]])[0], half)]
                output = _lot(bulk_epc(j), f"B{j}", per_bulk, "EA")
                self.pipe.add(maker.signer, "transform", [inputs, [output], []], 600_000, 5)
            for j in range(n):
                outputs = [
                    _lot(finished_epc(j, k), finished_lot(j, k), s.items_per_lot, "EA")
                    for k in range(FINISHED_PER_BULK)
                ]
                gas = _gas(300_000, 250_000, FINISHED_PER_BULK)
                self.pipe.add(maker.signer, "splitLot", [_ids([bulks[j]])[0], outputs], gas, 2 + 2 * FINISHED_PER_BULK)

        def tier5() -> None:
            serial = 0
            for j, k in finished:
                regs = [
                    Registration(epc=item_epc(serial + i), lot=finished_lot(j, k), origin_gln=maker.gln).as_abi_tuple()
                    for i in range(s.items_per_lot)
                ]
                items.extend(oid(item_epc(serial + i)) for i in range(s.items_per_lot))
                serial += s.items_per_lot
                inputs = [(_ids([oid(finished_epc(j, k))])[0], s.items_per_lot)]
                gas = _gas(300_000, 130_000, s.items_per_lot)
                self.pipe.add(maker.signer, "transform", [inputs, [], regs], gas, 2 + 2 * s.items_per_lot)
            for k in range(0, len(cases), MAX_CREATE_BATCH):
                urns = [case_epc(c) for c in range(k, min(len(cases), k + MAX_CREATE_BATCH))]
                self.pipe.add(maker.signer, "registerLogisticUnits", [urns], _gas(200_000, 120_000, len(urns)),
                              len(urns))  # fmt: skip
            for c, case in enumerate(cases):
                contents = items[c * s.case_size : (c + 1) * s.case_size]
                self.pipe.add(maker.signer, "pack", [_ids([case])[0], _ids(contents)],
                              _gas(200_000, 60_000, len(contents)), len(contents))  # fmt: skip
            self.ship(maker, distributor, cases)

        def distribution() -> None:
            self.receive(distributor, cases)
            self.ship(distributor, pharmacy, cases)

        def dispensing() -> None:
            self.receive(pharmacy, cases)
            for c, case in enumerate(cases):
                contents = items[c * s.case_size : (c + 1) * s.case_size]
                self.pipe.add(pharmacy.signer, "unpack", [_ids([case])[0], _ids(contents)],
                              _gas(200_000, 40_000, len(contents)), len(contents))  # fmt: skip
            reason = encode_reason("dispensed")
            for k in range(0, len(items), MAX_BATCH):
                chunk = items[k : k + MAX_BATCH]
                self.pipe.add(pharmacy.signer, "setStatus", [_ids(chunk), int(Status.DISPENSED), reason],
                              _gas(150_000, 30_000, len(chunk)), len(chunk))  # fmt: skip

        self.phase("tier 1: source lots commissioned, shipped", started, tier1)
        self.phase("tier 2: ingredient lots transformed, shipped", started, tier2)
        self.phase("tiers 3-4: bulk lots transformed and split", started, tier3_4)
        self.phase("tier 5: items commissioned, packed, shipped", started, tier5)
        self.phase("distribution", started, distribution)
        self.phase("dispensing", started, dispensing)
        network = Network(
            ledger=self.ledger.address,
            shape=s,
            source_lots=sources,
            items=items,
            expected_events=self.setup_events + self.pipe.expected_events,
            transactions=len(self.pipe.hashes),
            blocks=self.rpc.head(),
            seconds=time.perf_counter() - started,
            relay=self.ledger.relay_address,
        )
        return network


# ------------------------------------------------------------------------------------ indexing


@dataclass(frozen=True)
class IndexFigures:
    backend: str
    events: int
    seconds: float
    cpu_seconds: float

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds

    @property
    def events_per_cpu_s(self) -> float:
        return self.events / self.cpu_seconds


def index_chain(rpc_url: str, ledger: str, database_url: str) -> tuple[IndexFigures, sessionmaker[Session]]:
    """Indexes the whole chain into the fresh database, as ``gateway.indexer.bench.measure`` does
    (same configuration), without that function's web3-decoder comparison, which takes about 25
    minutes at a million events (web3 decodes about 700 events/s)."""
    engine = open_database(database_url)
    with RpcSource(rpc_url) as source:
        indexer = Indexer(engine, source, ledger, config=IndexerConfig(target_logs=10_000))
        report, seconds, cpu = timed_sync(indexer)
    return IndexFigures(engine.dialect.name, report.events, seconds, cpu), sessionmaker(engine)


# ------------------------------------------------------------------------------------ the naive trace


@dataclass(frozen=True)
class Answer:
    """A trace answer reduced to what both paths must agree on."""

    objects: dict[str, int]  # object id -> depth
    edges: frozenset[tuple[str, str, str, str]]  # source, target, relation, genealogy id
    partners: frozenset[int]
    glns: frozenset[str]

    @classmethod
    def of(cls, result: TraceResult) -> Answer:
        return cls(
            objects={o.object_id: o.depth for o in result.objects},
            edges=frozenset((e.source, e.target, e.relation, e.genealogy_id or "") for e in result.edges),
            partners=frozenset(p.partner_id for p in result.partners),
            glns=frozenset(loc.gln for loc in result.locations),
        )


_GENEALOGY_KIND = {0: "split", 1: "merge", 2: "transform"}


class ChainGraph:
    """The trace graph and who held what where, rebuilt from the ledger's events alone.

    Replays custody the way the ledger defines it (see ``contracts/ledger/*.sol``): an event on a
    container applies to everything packed in it; packing gives the child its new root's holder,
    unpacking gives it the unpacking partner.
    """

    def __init__(self, events: Iterable[ev.LedgerEvent]) -> None:
        self.registered: set[str] = set()
        self.lot_of: dict[str, str] = {}
        self.items_of: dict[str, list[str]] = defaultdict(list)
        self.gen_inputs: dict[str, list[str]] = defaultdict(list)
        self.gen_outputs: dict[str, list[str]] = defaultdict(list)
        self.gen_kind: dict[str, str] = {}
        self.containers: dict[str, list[str]] = defaultdict(list)
        self.holders: dict[str, set[int]] = defaultdict(set)
        self.glns: dict[str, set[str]] = defaultdict(set)
        self._custodian: dict[str, int] = {}
        self._parent: dict[str, str] = {}
        self._children: dict[str, set[str]] = defaultdict(set)
        self._shipments: dict[int, ev.ShipmentDispatched] = {}
        for e in events:
            self._apply(e)
        self.by_input: dict[str, list[str]] = defaultdict(list)
        self.by_output: dict[str, list[str]] = defaultdict(list)
        for gid in self.gen_kind:
            for i in self.gen_inputs[gid]:
                self.by_input[i].append(gid)
            for o in self.gen_outputs[gid]:
                self.by_output[o].append(gid)

    def _members(self, root: str) -> list[str]:
        out, todo = [], [root]
        while todo:
            for child in self._children.get(todo.pop(), ()):
                out.append(child)
                todo.append(child)
        return out

    def _row(self, o: str, gln: str | None = None) -> None:
        self.holders[o].add(self._custodian[o])
        if gln:
            self.glns[o].add(gln)

    def _cascade(self, root: str, custodian: int | None, gln: str | None = None) -> None:
        for o in [root, *self._members(root)]:
            if custodian is not None:
                self._custodian[o] = custodian
            self._row(o, gln)

    def _register(self, object_id: str, partner: int, origin: str | None) -> None:
        self.registered.add(object_id)
        self._custodian[object_id] = partner
        self._row(object_id, origin)

    def _apply(self, e: ev.LedgerEvent) -> None:
        if isinstance(e, ev.ItemRegistered):
            self._register(e.object_id, e.partner_id, e.origin_gln)
            if int(e.lot_id, 16):
                self.lot_of[e.object_id] = e.lot_id
                self.items_of[e.lot_id].append(e.object_id)
        elif isinstance(e, ev.LotRegistered):
            self._register(e.object_id, e.partner_id, e.origin_gln)
        elif isinstance(e, ev.LogisticUnitRegistered):
            self._register(e.object_id, e.partner_id, None)
        elif isinstance(e, ev.GenealogyRecorded):
            self.gen_kind[e.genealogy_id] = _GENEALOGY_KIND[int(e.kind)]
        elif isinstance(e, ev.GenealogyInputConsumed):
            self.gen_inputs[e.genealogy_id].append(e.input)
        elif isinstance(e, ev.GenealogyOutputProduced):
            self.gen_outputs[e.genealogy_id].append(e.output)
        elif isinstance(e, ev.ShipmentDispatched):
            self._shipments[e.shipment_id] = e
        elif isinstance(e, ev.ObjectShipped):
            self._cascade(e.object_id, None, self._shipments[e.shipment_id].ship_from_gln)
        elif isinstance(e, ev.ObjectReceived):
            self._cascade(e.object_id, e.receiver, e.gln)
        elif isinstance(e, ev.CustodyTransferred):
            self._cascade(e.object_id, e.receiver)
        elif isinstance(e, ev.ObjectRejected | ev.ShipmentCancelled | ev.OwnershipTransferred):
            self._cascade(e.object_id, None)
        elif isinstance(e, ev.ObjectPacked):
            root = e.parent
            while root in self._parent:
                root = self._parent[root]
            for o in [e.child, *self._members(e.child)]:
                self._custodian[o] = self._custodian[root]
            self._parent[e.child] = e.parent
            self._children[e.parent].add(e.child)
            self.containers[e.child].append(e.parent)
            self._row(e.child)
        elif isinstance(e, ev.ObjectUnpacked):
            del self._parent[e.child]
            self._children[e.parent].discard(e.child)
            for o in [e.child, *self._members(e.child)]:
                self._custodian[o] = e.partner_id
            self._row(e.child)
        elif isinstance(e, ev.StatusChanged):
            self._row(e.object_id)

    def trace(self, root: str, direction: str) -> Answer:
        """Breadth-first over genealogy, lot membership and containment, like ``gateway.audit.trace.walk``."""
        depths = {root: 0}
        edges: set[tuple[str, str, str, str]] = set()
        frontier, depth = [root], 0
        backward = direction == "backward"
        while frontier:
            depth += 1
            step: list[tuple[str, str, str, str, str]] = []  # source, target, relation, gid, next
            for o in frontier:
                for gid in (self.by_output if backward else self.by_input).get(o, ()):
                    for i in self.gen_inputs[gid] if backward else [o]:
                        for out in [o] if backward else self.gen_outputs[gid]:
                            step.append((i, out, self.gen_kind[gid], gid, i if backward else out))
                if backward and o in self.lot_of:
                    step.append((self.lot_of[o], o, "lot_member", "", self.lot_of[o]))
                if not backward:
                    step.extend((o, item, "lot_member", "", item) for item in self.items_of.get(o, ()))
                step.extend((o, parent, "packed_in", "", parent) for parent in self.containers.get(o, ()))
            reached = []
            for source, target, relation, gid, nxt in step:
                edges.add((source, target, relation, gid))
                if nxt not in depths:
                    depths[nxt] = depth
                    reached.append(nxt)
            frontier = reached
        objects = {o: d for o, d in depths.items() if o in self.registered}
        partners = {p for o in objects for p in self.holders[o]}
        glns = {g for o in objects for g in self.glns[o]}
        kept = frozenset(e for e in edges if e[0] in objects and e[1] in objects)
        return Answer(objects, kept, frozenset(partners), frozenset(glns))


def naive_trace(rpc: RpcSource, ledger: str, relay: str, root: str, direction: str, span: int = 2_000) -> Answer:
    """Answers a trace from the chain alone: every ledger log by ``eth_getLogs``, decoded, replayed."""
    decoder = ledger_decoder()
    head = rpc.head()
    events: list[ev.LedgerEvent] = []
    for start in range(0, head + 1, span):
        events += decoder.decode_logs(rpc.logs([ledger, relay], start, min(head, start + span - 1)))
    return ChainGraph(events).trace(root, direction)


# ------------------------------------------------------------------------------------ measuring


@dataclass
class Timings:
    """Wall-clock milliseconds per trace by direction, CPU milliseconds of this process, objects found.

    On a shared machine the wall clock includes waiting for a core; the CPU time (the SQLite
    engine runs in this process) is what a trace costs.
    """

    backward_ms: list[float] = field(default_factory=list)
    forward_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    objects: list[int] = field(default_factory=list)

    def add(self, direction: str, wall: float, cpu: float, objects: int) -> None:
        (self.backward_ms if direction == "backward" else self.forward_ms).append(wall * 1000)
        self.cpu_ms.append(cpu * 1000)
        self.objects.append(objects)

    @property
    def all_ms(self) -> list[float]:
        return self.backward_ms + self.forward_ms


def time_indexed(sessions: sessionmaker[Session], roots: Sequence[tuple[str, str]]) -> Timings:
    timings = Timings()
    for direction, root in roots:
        trace = backward_trace if direction == "backward" else forward_trace
        started, cpu = time.perf_counter(), time.process_time()
        with sessions() as session:
            result = trace(session, root)
        timings.add(direction, time.perf_counter() - started, time.process_time() - cpu, len(result.objects))
    return timings


def compare_naive(
    sessions: sessionmaker[Session], rpc: RpcSource, ledger: str, relay: str, roots: Sequence[tuple[str, str]]
) -> tuple[Timings, list[str]]:
    """Times the naive trace of each root and checks its answer against the indexed one."""
    timings = Timings()
    mismatches: list[str] = []
    for direction, root in roots:
        started, cpu = time.perf_counter(), time.process_time()
        naive = naive_trace(rpc, ledger, relay, root, direction)
        timings.add(direction, time.perf_counter() - started, time.process_time() - cpu, len(naive.objects))
        with sessions() as session:
            indexed = Answer.of((backward_trace if direction == "backward" else forward_trace)(session, root))
        if indexed != naive:
            mismatches.append(f"{direction} {root}: {describe_difference(indexed, naive)}")
    return timings, mismatches


def describe_difference(indexed: Answer, naive: Answer) -> str:
    parts = []
    for name in ("objects", "edges", "partners", "glns"):
        a, b = getattr(indexed, name), getattr(naive, name)
        if a != b:
            a_keys, b_keys = set(a.items() if isinstance(a, dict) else a), set(b.items() if isinstance(b, dict) else b)
            parts.append(f"{name}: {len(a_keys - b_keys)} only indexed, {len(b_keys - a_keys)} only naive")
    return "; ".join(parts)


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        return f"{model}, {os.cpu_count()} cores, {kib / 2**20:.0f} GiB"
    except OSError:
        return f"{model}, {os.cpu_count()} cores"


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    loads = [os.getloadavg()[0]]
    state: Path | None = args.state
    reuse = state is not None and state.exists()
    extra = ("--load-state", str(state)) if reuse else ()
    config = AnvilConfig(gas_limit=BLOCK_GAS_LIMIT, extra_args=extra)
    node = AnvilNode(config).start(timeout=1800 if reuse else 20)  # parsing a saved million events takes minutes
    with node, tempfile.TemporaryDirectory() as tmp:
        generator: Generator | None = None
        if reuse:
            assert state is not None
            network = load_network(state)
            log(f"chain loaded from {state}: {network.expected_events:,} events (generated in {network.seconds:.0f}s)")
        else:
            generator = Generator(node, Shape.for_events(args.events, args.case_size))
            network = generator.run()
            if state is not None:
                save_state(generator.rpc, network, state)
                log(f"chain state saved to {state} (reuse it with --state {state})")
        loads.append(os.getloadavg()[0])
        log(f"chain ready: {network.expected_events:,} events in {network.seconds:.0f}s; indexing")
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench_trace.db'}"
        figures, sessions = index_chain(node.rpc_url, network.ledger, url)
        loads.append(os.getloadavg()[0])
        log(f"indexed {figures.events:,} events in {figures.seconds:.1f}s = {figures.events_per_s:,.0f}/s")
        if figures.events != network.expected_events:
            detail = "" if generator is None else find_failure(generator.rpc, generator.ledger, generator.pipe.hashes)
            raise RuntimeError(f"indexed {figures.events} events, the plan emits {network.expected_events}: {detail}")
        backward = [("backward", r) for r in rng.sample(network.items, min(args.samples, len(network.items)))]
        forward = [("forward", r) for r in rng.choices(network.source_lots, k=args.samples)]
        time_indexed(sessions, [backward[0], forward[0]])  # warm-up, not counted
        # Traces run in a process prepared as the gateway's serving processes are (D27): what is
        # alive now is frozen out of full collections. Here that includes the benchmark's ground
        # truth, which no server holds; unfrozen, a full collection walking it fell in one trace of
        # 40 to 80 and added about 120 ms to it (seen with gc.callbacks).
        prepare_to_serve()
        indexed = time_indexed(sessions, backward + forward)
        loads.append(os.getloadavg()[0])
        log(f"indexed traces: p50 {percentile(indexed.all_ms, 50):.1f} ms, p99 {percentile(indexed.all_ms, 99):.1f} ms")
        relay = network.relay
        naive_roots = backward[: args.naive_samples] + forward[: args.naive_samples]
        with RpcSource(node.rpc_url, timeout=600) as rpc:
            naive, mismatches = compare_naive(sessions, rpc, network.ledger, relay, naive_roots)
        loads.append(os.getloadavg()[0])
        log(f"naive traces: p50 {percentile(naive.all_ms, 50):.0f} ms over {len(naive_roots)}")
    trace_p99 = percentile(indexed.all_ms, 99)
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "load_average": {"min": round(min(loads), 2), "max": round(max(loads), 2)},
        "events": figures.events,
        "shape": {
            "source_lots": network.shape.chains,
            "finished_lots": network.shape.finished_lots,
            "items": network.shape.items,
            "items_per_lot": network.shape.items_per_lot,
            "case_size": network.shape.case_size,
        },
        "transactions": network.transactions,
        "blocks": network.blocks,
        "generate_s": round(network.seconds, 1),
        "chain_reused": reuse,
        "index_backend": figures.backend,
        "index_s": round(figures.seconds, 1),
        "index_events_per_s": round(figures.events_per_s),
        "index_events_per_cpu_s": round(figures.events_per_cpu_s),
        "trace_samples": len(indexed.all_ms),
        "trace_p50_ms": round(percentile(indexed.all_ms, 50), 2),
        "trace_p99_ms": round(trace_p99, 2),
        "backward_p50_ms": round(percentile(indexed.backward_ms, 50), 2),
        "backward_p99_ms": round(percentile(indexed.backward_ms, 99), 2),
        "forward_p50_ms": round(percentile(indexed.forward_ms, 50), 2),
        "forward_p99_ms": round(percentile(indexed.forward_ms, 99), 2),
        "trace_cpu_p50_ms": round(percentile(indexed.cpu_ms, 50), 2),
        "trace_cpu_p99_ms": round(percentile(indexed.cpu_ms, 99), 2),
        "trace_objects_max": max(indexed.objects),
        "naive_samples": len(naive.all_ms),
        "naive_trace_p50_ms": round(percentile(naive.all_ms, 50), 1),
        "naive_trace_p99_ms": round(percentile(naive.all_ms, 99), 1),
        "naive_trace_cpu_p50_ms": round(percentile(naive.cpu_ms, 50), 1),
        "answers_equal": not mismatches,
        "mismatches": mismatches[:5],
        "target_index_met": figures.events_per_s >= TARGET_INDEX_EVENTS_PER_S,
        "target_trace_met": trace_p99 < TARGET_TRACE_P99_MS,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="about this many ledger events")
    parser.add_argument("--database-url", help="a fresh database (default: a temporary SQLite file)")
    parser.add_argument("--samples", type=int, default=100, help="indexed traces per direction")
    parser.add_argument("--naive-samples", type=int, default=2, help="naive traces per direction")
    parser.add_argument("--case-size", type=int, default=50, help="items packed per case (at most 250)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--state",
        type=Path,
        help="reuse the chain saved in this file if it exists (--events and --case-size are then ignored), "
        "else generate one and save it there (Anvil's state as JSON, about 1 GB at a million events)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    r = run(args)
    if args.json:
        print(json.dumps(r, indent=2))
        return 0 if r["answers_equal"] else 1
    print(f"Trace benchmark, {r['date']}, {r['machine']}, load average {r['load_average']}")
    print(f"{r['events']:,} events, {r['transactions']:,} transactions in {r['blocks']:,} blocks, "
          f"generated in {r['generate_s']}s")  # fmt: skip
    print(f"indexing ({r['index_backend']}): {r['index_events_per_s']:,} events/s "
          f"({r['index_events_per_cpu_s']:,} per CPU-second), target >= {TARGET_INDEX_EVENTS_PER_S:,}: "
          f"{'met' if r['target_index_met'] else 'NOT met'}")  # fmt: skip
    print(f"indexed trace, {r['trace_samples']} samples: p50 {r['trace_p50_ms']} ms, p99 {r['trace_p99_ms']} ms "
          f"(backward p99 {r['backward_p99_ms']}, forward p99 {r['forward_p99_ms']}), target p99 < "
          f"{TARGET_TRACE_P99_MS:.0f} ms: {'met' if r['target_trace_met'] else 'NOT met'}")  # fmt: skip
    print(f"naive eth_getLogs trace, {r['naive_samples']} samples: p50 {r['naive_trace_p50_ms']} ms, "
          f"p99 {r['naive_trace_p99_ms']} ms; answers equal: {r['answers_equal']}")  # fmt: skip
    return 0 if r["answers_equal"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
