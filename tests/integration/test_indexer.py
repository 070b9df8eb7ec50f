"""The indexer against a real Anvil node: a supply flow, idempotency, restarts, confirmations, reorgs,
rebuild-and-check from the command line. Every model is also checked object by object against the
ledger's own ``custodyOf`` view."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from chain_client.artifacts import load_artifact
from chain_client.events import (
    EventDecoder,
    GenealogyOutputProduced,
    GenealogyRecorded,
    ItemRegistered,
    ShipmentDispatched,
)
from chain_client.ledger import shipment_subject
from chain_client.models import (
    DocumentType,
    GenealogyInput,
    LotOutput,
    ObjectKind,
    Registration,
    ShipmentInfo,
    Status,
)
from chain_client.node import AnvilConfig, AnvilNode, rpc_call
from gateway.indexer import tables as t
from gateway.indexer.compare import compare_databases
from gateway.indexer.indexer import Indexer, IndexerConfig, ledger_decoder
from gateway.indexer.maintenance import open_database, rebuild
from gateway.indexer.source import RpcSource
from tests.conftest import (
    DISTRIBUTOR_GLN,
    MAKER_GLN,
    PHARMACY_GLN,
    Network,
    build_network,
    lgtin,
    sgtin,
    unique_serial,
)
from tests.unit.test_indexer_support import BACKENDS, Databases, databases, snapshot

pytestmark = pytest.mark.integration


@pytest.fixture(params=BACKENDS)
def dbs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Databases]:
    with databases(request.param, tmp_path) as d:
        yield d


@pytest.fixture(scope="module")
def own_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    """A node of this module's own, for tests that rewrite history (each deploys a fresh ledger on it)."""
    with AnvilNode(AnvilConfig(log_path=tmp_path_factory.mktemp("anvil") / "anvil.log")) as node:
        yield node


def cid(content: bytes) -> bytes:
    return bytes((0x12, 0x20)) + hashlib.sha256(content).digest()


def lot_output(quantity: int, unit: str = "KGM") -> LotOutput:
    lot = unique_serial("LOT")
    return LotOutput(Registration(epc=lgtin(lot), lot=lot), quantity, unit)


def index(engine: Engine, network: Network, **config: Any) -> Indexer:
    indexer = Indexer(engine, RpcSource(network.node.rpc_url), network.ledger.address, config=IndexerConfig(**config))
    indexer.sync_once()
    return indexer


def resync_nonces(network: Network) -> None:
    """After the node dropped transactions, the senders must ask it for their nonces again."""
    for signer in [network.admin, *(p.signer for p in network.partners.values())]:
        with network.ledger.sender.nonces.lock(signer.address):
            network.ledger.sender.nonces.resync(signer.address)


def assert_matches_the_ledger(engine: Engine, network: Network, limit: int = 1500) -> int:
    """Every indexed object (up to ``limit``) has the custody state the ledger's custodyOf reports."""
    with Session(engine) as session:
        rows = session.scalars(select(t.ObjectRow).order_by(t.ObjectRow.registered_block.desc()).limit(limit)).all()
    for row in rows:
        view = network.ledger.custody_of(row.object_id)
        lot = view.kind == ObjectKind.LOT
        indexed = (row.kind, row.status, row.custodian, row.owner, row.shipment_id, row.registrant, row.parent_id,
                   row.root_id, row.lot_id, row.quantity, row.unit_of_measure, row.registered_at)  # fmt: skip
        expected = (view.kind.name, view.status.name, view.custodian, view.owner, view.shipment_id or None,
                    view.registrant, view.parent, view.root, view.lot, view.quantity if lot else None,
                    view.unit_of_measure or None, view.registered_at)  # fmt: skip
        assert indexed == expected, row.object_id
    return len(rows)


# ------------------------------------------------------------------------------------------ the supply flow


@dataclass
class Flow:
    items: list[str]
    inner: str
    case: str
    pallet: str
    lot: str
    sub1: str
    sub2: str
    out_lot: str
    out_item: str
    bad_urn: str
    pallet_shipment: int
    relayed_shipment: int
    relay_tx: str
    split_id: str
    transform_id: str
    end_block: int


def run_flow(network: Network) -> Flow:
    """Register, pack three levels, ship/receive a pallet, a relayed shipment, split, transform, status, documents."""
    maker, distributor = network.as_(network.maker), network.as_(network.distributor)
    pharmacy = network.as_(network.pharmacy)
    items = network.register_many(6, lot="LX")
    inner, case, pallet = network.register_sscc(), network.register_sscc(), network.register_sscc()
    lot = network.register_lot(100, "KGM")
    bad = maker.register_item(Registration(epc=f"urn:epc:id:sgtin:bad-{unique_serial()}"))
    bad_urn = bad.of(ItemRegistered)[0].object_id
    maker.pack(inner, items[:2])
    maker.pack(case, [inner, items[2]])
    maker.pack(pallet, [case])
    info = ShipmentInfo(network.distributor.id, MAKER_GLN, DISTRIBUTOR_GLN, transfer_ownership=True)
    pallet_shipment = maker.ship([pallet], info).of(ShipmentDispatched)[0].shipment_id
    distributor.receive([pallet], gln=DISTRIBUTOR_GLN)
    distributor.unpack(pallet, [case])
    # the distributor ships the case on by a signed call that the gateway (here: the admin) relays
    call = network.ledger.sign(
        network.distributor.signer, "ship", [bytes.fromhex(case[2:])], ShipmentInfo(network.pharmacy.id).as_abi_tuple()
    )
    relayed = network.ledger.execute_signed(call)
    relayed_shipment = relayed.of(ShipmentDispatched)[0].shipment_id
    pharmacy.receive([case], gln=PHARMACY_GLN)
    split = maker.split_lot(lot, [lot_output(30), lot_output(20)])
    sub1, sub2 = (e.output for e in split.of(GenealogyOutputProduced))
    out_lot, out_reg = lot_output(5), Registration(epc=sgtin(unique_serial()), lot="LT")
    transform = maker.transform([GenealogyInput(sub1, 10), GenealogyInput(items[3], 1)], [out_lot], [out_reg])
    produced = [e.output for e in transform.of(GenealogyOutputProduced)]
    maker.set_status([items[4]], Status.QUARANTINED, "check")
    maker.set_status([items[4]], Status.ACTIVE, "released")
    maker.recall(sub2, "contaminated")
    maker.ship([items[4]], ShipmentInfo(network.pharmacy.id))
    pharmacy.reject([items[4]], "damaged")
    maker.ship([items[4]], ShipmentInfo(network.pharmacy.id))
    maker.cancel_shipment([items[4]])
    distributor.anchor_document(shipment_subject(pallet_shipment), DocumentType.BILL_OF_LADING, cid(b"bol"))
    maker.anchor_document(items[5], DocumentType.CERTIFICATE_OF_ANALYSIS, cid(b"coa"))
    maker.anchor_event_batch(hashlib.sha256(b"root").digest(), 3, cid(b"batch"))
    maker.transfer([items[5]], network.distributor.id)
    end = maker.transfer_ownership([items[5]], network.distributor.id)
    return Flow(
        items, inner, case, pallet, lot, sub1, sub2, produced[0], produced[1], bad_urn, pallet_shipment,
        relayed_shipment, relayed.tx_hash, split.of(GenealogyRecorded)[0].genealogy_id,
        transform.of(GenealogyRecorded)[0].genealogy_id, end.receipt.block_number,
    )  # fmt: skip


@pytest.fixture(scope="module")
def flow(network: Network) -> Flow:
    return run_flow(network)


def test_the_supply_flow_is_modelled_as_the_ledger_sees_it(flow: Flow, network: Network, dbs: Databases) -> None:
    engine = dbs.new("live")
    index(engine, network)
    assert assert_matches_the_ledger(engine, network) >= 15
    with Session(engine) as session:
        item = session.get(t.ObjectRow, flow.items[0])
        assert item is not None
        # packed three levels deep in a pallet the distributor received, then (in its case) at the pharmacy
        assert (item.custodian, item.owner, item.root_id, item.parent_id) == (
            network.pharmacy.id, network.distributor.id, flow.case, flow.inner,
        )  # fmt: skip
        h = t.CustodyHistoryRow
        steps = session.execute(
            select(h.event, h.container_id, h.custodian, h.shipment_id)
            .where(h.object_id == flow.items[0])
            .order_by(h.block_number, h.log_index)
        ).all()
        assert [tuple(s) for s in steps] == [
            ("registered", None, network.maker.id, None),
            ("packed", flow.inner, network.maker.id, None),
            ("shipped", flow.pallet, network.maker.id, flow.pallet_shipment),
            ("received", flow.pallet, network.distributor.id, flow.pallet_shipment),
            ("ownership_transferred", flow.pallet, network.distributor.id, None),
            ("shipped", flow.case, network.distributor.id, flow.relayed_shipment),
            ("received", flow.case, network.pharmacy.id, flow.relayed_shipment),
        ]
        e = t.GenealogyEdgeRow
        edges = session.execute(
            select(e.genealogy_id, e.kind, e.input_id, e.output_id, e.input_quantity)
            .where(e.genealogy_id.in_([flow.split_id, flow.transform_id]))
            .order_by(e.block_number, e.output_log_index, e.input_log_index)
        ).all()
        assert [tuple(x) for x in edges] == [
            (flow.split_id, "SPLIT", flow.lot, flow.sub1, 50),
            (flow.split_id, "SPLIT", flow.lot, flow.sub2, 50),
            (flow.transform_id, "TRANSFORM", flow.sub1, flow.out_lot, 10),
            (flow.transform_id, "TRANSFORM", flow.items[3], flow.out_lot, 1),
            (flow.transform_id, "TRANSFORM", flow.sub1, flow.out_item, 10),
            (flow.transform_id, "TRANSFORM", flow.items[3], flow.out_item, 1),
        ]
        # the transformation decommissioned the item it consumed: forward traces look for genealogy
        # edges out of a lot's items only when they are decommissioned (gateway.audit.trace._walk)
        consumed = session.get(t.ObjectRow, flow.items[3])
        assert consumed is not None and (consumed.status, consumed.own_status) == ("DECOMMISSIONED",) * 2
        shipment = session.get(t.ShipmentRow, flow.pallet_shipment)
        assert shipment is not None and (shipment.ship_from_gln, shipment.ship_to_gln, shipment.transfer_ownership) == (
            MAKER_GLN, DISTRIBUTOR_GLN, True,
        )  # fmt: skip
        relayed = session.get(t.ShipmentRow, flow.relayed_shipment)
        assert relayed is not None and (relayed.sender, relayed.tx_hash) == (network.distributor.id, flow.relay_tx)
        d = t.DocumentRow
        documents = session.execute(
            select(d.subject_type, d.shipment_id, d.object_id, d.cid_text).where(
                d.subject.in_([shipment_subject(flow.pallet_shipment), flow.items[5]])
            )
        ).all()
        assert {(x.subject_type, x.shipment_id, x.object_id) for x in documents} == {
            ("shipment", flow.pallet_shipment, None), ("object", None, flow.items[5]),
        }  # fmt: skip
        assert all(x.cid_text and x.cid_text.startswith("Qm") for x in documents)
        bad = session.get(t.ObjectRow, flow.bad_urn)
        assert bad is not None and (bad.gtin, bad.serial, bad.lot) == (None, None, None)
        assert session.scalars(select(t.RecallRow.object_id).where(t.RecallRow.object_id == flow.sub2)).one()


def test_the_fast_decoder_agrees_with_chain_client_on_the_chains_logs(flow: Flow, network: Network) -> None:
    source = RpcSource(network.node.rpc_url)
    relay = network.ledger.relay_address
    raw = source.logs([network.ledger.address, relay], 0, flow.end_block)
    formatted = network.w3.eth.get_logs(
        {"address": [network.ledger.address, relay], "fromBlock": 0, "toBlock": flow.end_block}
    )
    reference = EventDecoder(load_artifact("CustodyLedger").abi, load_artifact("CustodyRelay").abi)
    assert ledger_decoder().decode_logs(raw) == reference.decode_logs(formatted)
    assert len(raw) > 50


def test_indexing_the_same_range_twice_changes_nothing(flow: Flow, network: Network, dbs: Databases) -> None:
    engine = dbs.new("live")
    indexer = index(engine, network)
    before = snapshot(engine)
    logs, applied = indexer.index_range(0, flow.end_block)
    assert logs > 50 and applied == 0
    assert snapshot(engine) == before


def test_a_restarted_indexer_resumes_from_its_checkpoint(flow: Flow, network: Network, dbs: Databases) -> None:
    engine = dbs.new("live")
    first = Indexer(engine, RpcSource(network.node.rpc_url), network.ledger.address)
    first.sync_once(to_block=flow.end_block - 10)
    network.register()  # the chain moves on while the indexer is down
    second = Indexer(engine, RpcSource(network.node.rpc_url), network.ledger.address)
    report = second.sync_once()
    assert report.from_block == flow.end_block - 9 and report.events > 0
    rebuilt = dbs.new("rebuilt")
    rebuild(rebuilt, RpcSource(network.node.rpc_url), network.ledger.address, to_block=report.to_block)
    assert [str(d) for d in compare_databases(engine, rebuilt)] == []


def test_only_blocks_with_enough_confirmations_are_indexed(network: Network, dbs: Databases) -> None:
    engine = dbs.new("live")
    indexer = index(engine, network, confirmations=3)
    item = network.register()
    head = network.w3.eth.block_number
    indexer.sync_once()
    assert indexer.checkpoint().last_block == head - 3
    with Session(engine) as session:
        assert session.get(t.ObjectRow, item) is None
    rpc_call(network.node.rpc_url, "anvil_mine", ["0x3"])
    indexer.sync_once()
    with Session(engine) as session:
        assert session.get(t.ObjectRow, item) is not None


# ------------------------------------------------------------------------------------------ reorgs


def test_a_reverted_chain_with_other_transactions_equals_a_rebuild(own_node: AnvilNode, dbs: Databases) -> None:
    network = build_network(own_node)
    maker, distributor = network.as_(network.maker), network.as_(network.distributor)
    items = network.register_many(4)
    case = network.register_sscc()
    maker.pack(case, items[:2])
    snapshot_id = rpc_call(own_node.rpc_url, "evm_snapshot")
    maker.ship([case], ShipmentInfo(network.distributor.id, transfer_ownership=True))
    distributor.receive([case])
    distributor.unpack(case, [items[0]])
    maker.set_status([items[2]], Status.QUARANTINED, "check")
    network.register_many(3)
    engine = dbs.new("live")
    indexer = index(engine, network)
    assert rpc_call(own_node.rpc_url, "evm_revert", [snapshot_id]) is True
    resync_nonces(network)
    maker.transfer([case], network.distributor.id)  # another history after the fork point
    maker.set_status([items[3]], Status.QUARANTINED, "other")
    report = indexer.sync_once()
    assert report.rolled_back_to is not None and report.rollback == "undo"
    rebuilt = dbs.new("rebuilt")
    rebuild(rebuilt, RpcSource(own_node.rpc_url), network.ledger.address)
    assert [str(d) for d in compare_databases(engine, rebuilt)] == []
    assert assert_matches_the_ledger(engine, network) == 5


def test_an_anvil_reorg_equals_a_rebuild(own_node: AnvilNode, dbs: Databases) -> None:
    network = build_network(own_node)
    maker = network.as_(network.maker)
    items = network.register_many(3)
    maker.transfer(items[:1], network.distributor.id)
    maker.ship(items[1:2], ShipmentInfo(network.pharmacy.id))
    engine = dbs.new("live")
    indexer = index(engine, network, undo_window=1)  # too small a window: the rollback replays events
    rpc_call(own_node.rpc_url, "anvil_reorg", [2, []])  # the last two blocks, transfer and ship, are replaced
    resync_nonces(network)
    maker.ship(items[:1], ShipmentInfo(network.pharmacy.id))
    report = indexer.sync_once()
    assert report.rollback == "replay"
    rebuilt = dbs.new("rebuilt")
    rebuild(rebuilt, RpcSource(own_node.rpc_url), network.ledger.address)
    assert [str(d) for d in compare_databases(engine, rebuilt)] == []
    assert assert_matches_the_ledger(engine, network) == 3


# ------------------------------------------------------------------------------------------ rebuild and check


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path.cwd()), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(
        [sys.executable, "-m", "gateway.indexer", *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_rebuild_equals_live_and_check_finds_a_corrupted_table(flow: Flow, network: Network, dbs: Databases) -> None:
    live_url = dbs.url("live")
    live = open_database(live_url)
    indexer = Indexer(live, RpcSource(network.node.rpc_url), network.ledger.address)
    indexer.sync_once(to_block=flow.end_block - 20)  # the live model grew in steps, the rebuild in one go
    network.register_many(2)
    indexer.sync_once()
    rebuilt_url = dbs.url("rebuilt", schema=False)
    common = ["--ledger", network.ledger.address, "--rpc-url", network.node.rpc_url]
    built = run_cli("rebuild", "--database-url", rebuilt_url, "--to-block", str(indexer.checkpoint().last_block),
                    *common)  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert "rebuilt up to block" in built.stdout
    equal = run_cli("check", "--live-url", live_url, "--rebuilt-url", rebuilt_url)
    assert (equal.returncode, equal.stdout.strip()) == (0, "the live model equals the rebuilt one"), equal.stderr
    one_command = run_cli("check", "--live-url", live_url, "--rebuilt-url", dbs.url("again", schema=False), *common)
    assert one_command.returncode == 0, one_command.stdout + one_command.stderr
    with Session(live) as session, session.begin():
        session.execute(update(t.ObjectRow).where(t.ObjectRow.object_id == flow.items[1]).values(custodian=99))
    live.dispose()
    corrupted = run_cli("check", "--live-url", live_url, "--rebuilt-url", rebuilt_url)
    assert corrupted.returncode == 1
    assert corrupted.stdout.strip().splitlines() == [
        f"idx_objects [{flow.items[1]}]: custodian: live=99 rebuilt={network.pharmacy.id}"
    ]


def test_sync_command_indexes_what_is_there(network: Network, dbs: Databases) -> None:
    url = dbs.url("synced", schema=False)
    before = network.w3.eth.block_number
    result = run_cli("sync", "--database-url", url, "--rpc-url", network.node.rpc_url, "--ledger",
                     network.ledger.address, "--once", "--confirmations", "1")  # fmt: skip
    assert result.returncode == 0, result.stderr
    engine = open_database(url)
    with Session(engine) as session:
        last = session.scalars(select(t.CheckpointRow.last_block)).one()
    engine.dispose()
    assert before - 1 <= last <= network.w3.eth.block_number - 1  # one confirmation
    assert result.stdout.strip().startswith(f"indexed up to block {last}: ")
