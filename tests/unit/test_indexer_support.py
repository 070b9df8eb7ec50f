"""Helpers for the indexer tests, and tests of the helpers themselves.

- :class:`FakeChain`: an in-memory chain that implements the indexer's ``ChainSource``: blocks
  with hashes that chain, logs encoded from event names and arguments with the real ABIs, forks
  (:meth:`FakeChain.rewind`), and hooks to refuse ranges or change the chain mid-read.
- :func:`databases`: fresh, migrated databases on SQLite or PostgreSQL. PostgreSQL comes from
  ``CUSTODY_TEST_POSTGRES_URL`` (a server URL), or else from ``pgserver`` when it is installed
  (a throwaway server started once per session); ``CUSTODY_TEST_POSTGRES=0`` turns it off.
- :func:`snapshot`: every row of every model table, for "nothing changed" assertions.

(They live in a test module because the indexer's tests may only add ``test_indexer_*`` files;
they belong in a conftest.)
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import os
import shutil
import sqlite3
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_utils.abi import event_abi_to_log_topic
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from sqlalchemy import Connection, Engine, create_engine, make_url, select, text

from chain_client.artifacts import load_artifact
from chain_client.events import ItemRegistered, ObjectShipped
from gateway.db import database_url, make_engine
from gateway.db.base import Base
from gateway.db.engine import partner_file
from gateway.indexer import tables as t
from gateway.indexer.decode import snake
from gateway.indexer.errors import RpcError
from gateway.indexer.indexer import ledger_decoder
from gateway.indexer.maintenance import open_database
from gateway.indexer.source import BlockHeader

LEDGER = to_checksum_address("0x" + "11" * 20)
RELAY = to_checksum_address("0x" + "22" * 20)
GENESIS_TIME = 1_800_000_000
BACKENDS = ("sqlite", "postgresql")
ZERO_HASH = "0x" + "00" * 32

Event = tuple[str, dict[str, Any]]


def oid(name: str) -> str:
    """A deterministic 32-byte id as the ledger writes it (0x-hex)."""
    return "0x" + keccak(text=name).hex()


def sgtin(serial: str) -> str:
    return f"urn:epc:id:sgtin:0614141.812345.{serial}"


# ------------------------------------------------------------------------------------------ logs


class EventEncoder:
    """Encodes ledger/relay events from the models' field names and values into raw JSON logs."""

    def __init__(self) -> None:
        self._abis: dict[str, dict[str, Any]] = {}
        for name in ("CustodyLedger", "CustodyRelay"):
            for item in load_artifact(name).abi:
                if item.get("type") == "event":
                    self._abis[item["name"]] = item

    @staticmethod
    def _abi_value(name: str, abi_type: str, value: Any) -> Any:
        if isinstance(value, IntEnum):
            return int(value)
        if name.endswith("gln") and abi_type.startswith("uint"):
            return int(value) if value else 0
        if abi_type.startswith("bytes") and abi_type != "bytes" and isinstance(value, str):
            size = int(abi_type[5:])
            if value.startswith("0x") and len(value) == 2 + 2 * size:
                return bytes.fromhex(value[2:])
            return value.encode("ascii").ljust(size, b"\0")
        return value

    def encode(self, event: str, args: dict[str, Any]) -> tuple[list[str], str]:
        """(topics, data) of ``event`` with ``args`` (snake-case names, model-style values)."""
        abi = self._abis[event]
        topics = ["0x" + bytes(event_abi_to_log_topic(abi)).hex()]  # type: ignore[arg-type]
        types: list[str] = []
        values: list[Any] = []
        for item in abi["inputs"]:
            name = snake(item["name"])
            value = self._abi_value(name, item["type"], args[name])
            abi_type = "bytes" if item["type"] == "string" and isinstance(value, bytes) else item["type"]
            if item["indexed"]:
                topics.append("0x" + encode([abi_type], [value]).hex())
            else:
                types.append(abi_type)
                values.append(value)
        return topics, "0x" + encode(types, values).hex()


ENCODER = EventEncoder()


# ------------------------------------------------------------------------------------------ chain


@dataclass
class FakeBlock:
    number: int
    hash: str
    parent_hash: str
    timestamp: int
    logs: list[dict[str, Any]] = field(default_factory=list)


class FakeChain:
    """An in-memory chain serving the ``ChainSource`` reads; every call is counted in :attr:`calls`."""

    def __init__(self, chain_id: int = 31337, ledger: str = LEDGER, relay: str = RELAY) -> None:
        self._chain_id = chain_id
        self.ledger, self.relay = ledger, relay
        self.fork = 0
        self.blocks = [FakeBlock(0, "0x" + keccak(text="genesis").hex(), ZERO_HASH, GENESIS_TIME)]
        self.calls: Counter[str] = Counter()
        self.answered: list[tuple[int, int]] = []  # the eth_getLogs ranges served
        self.refuse_over: int | None = None  # refuse eth_getLogs over more blocks than this
        self.before_logs: Callable[[FakeChain], None] | None = None  # runs inside logs(), once
        self.finalized_block: int | None = None  # what finalized() answers (None: no finality tag)

    @property
    def head_block(self) -> FakeBlock:
        return self.blocks[-1]

    def mine(self, *txs: Sequence[Event], contract: str | None = None) -> FakeBlock:
        """A new block holding one transaction per argument (each a list of events)."""
        parent = self.head_block
        number = parent.number + 1
        block_hash = "0x" + keccak(text=f"fork{self.fork}:{number}:{parent.hash}").hex()
        block = FakeBlock(number, block_hash, parent.hash, GENESIS_TIME + 12 * number)
        log_index = 0
        for tx_index, events in enumerate(txs):
            tx_hash = "0x" + keccak(text=f"{block_hash}:{tx_index}").hex()
            for name, args in events:
                topics, data = ENCODER.encode(name, args)
                block.logs.append(
                    {
                        "address": (contract or self.ledger).lower(),
                        "topics": topics,
                        "data": data,
                        "blockNumber": hex(number),
                        "blockHash": block_hash,
                        "transactionHash": tx_hash,
                        "transactionIndex": hex(tx_index),
                        "logIndex": hex(log_index),
                        "removed": False,
                    }
                )
                log_index += 1
        self.blocks.append(block)
        return block

    def mine_empty(self, count: int) -> None:
        for _ in range(count):
            self.mine()

    def rewind(self, number: int) -> None:
        """Drops the blocks after ``number``; blocks mined next belong to a new fork (new hashes)."""
        del self.blocks[number + 1 :]
        self.fork += 1

    # -- ChainSource ----------------------------------------------------------------------------

    def chain_id(self) -> int:
        self.calls["chain_id"] += 1
        return self._chain_id

    def head(self) -> int:
        self.calls["head"] += 1
        return self.head_block.number

    def finalized(self) -> int | None:
        self.calls["finalized"] += 1
        return self.finalized_block

    def headers(self, numbers: Sequence[int]) -> dict[int, BlockHeader]:
        self.calls["headers"] += 1
        return {
            n: BlockHeader(n, b.hash, b.parent_hash, b.timestamp)
            for n in numbers
            if 0 <= n < len(self.blocks)
            for b in (self.blocks[n],)
        }

    def logs(self, addresses: Sequence[str], from_block: int, to_block: int) -> list[dict[str, Any]]:
        self.calls["logs"] += 1
        if self.refuse_over is not None and to_block - from_block + 1 > self.refuse_over:
            raise RpcError("eth_getLogs", -32005, "query returned more than 10000 results")
        self.answered.append((from_block, to_block))
        wanted = {a.lower() for a in addresses}
        found = [
            dict(log)
            for block in self.blocks[from_block : to_block + 1]
            for log in block.logs
            if log["address"] in wanted
        ]
        if self.before_logs is not None:  # e.g. a reorg between reading the logs and the headers
            hook, self.before_logs = self.before_logs, None
            hook(self)
        return found

    def call(self, to: str, data: str) -> str:
        self.calls["call"] += 1
        return "0x" + "00" * 12 + self.relay[2:].lower()


# ------------------------------------------------------------------------------------------ events


class Ev:
    """Builders of ledger events (model field names; values as the typed models hold them)."""

    @staticmethod
    def partner(partner_id: int, name: str = "p", role: int = 0) -> Event:
        return "PartnerRegistered", {"partner_id": partner_id, "role": role, "name": name}

    @staticmethod
    def account(partner_id: int, account: str, removed: bool = False) -> Event:
        return ("PartnerAccountRemoved" if removed else "PartnerAccountAdded"), {
            "partner_id": partner_id,
            "account": account,
        }

    @staticmethod
    def location(partner_id: int, gln: str) -> Event:
        return "PartnerLocationAdded", {"partner_id": partner_id, "gln": gln}

    @staticmethod
    def partner_active(partner_id: int, active: bool) -> Event:
        return "PartnerStatusChanged", {"partner_id": partner_id, "active": active}

    @staticmethod
    def item(name: str, partner: int = 1, *, epc: str | bytes | None = None, lot: str = "L1", expiry: int = 0) -> Event:
        lot_id = oid(f"lot:{lot}") if lot else ZERO_HASH
        return "ItemRegistered", {
            "object_id": oid(name),
            "lot_id": lot_id,
            "partner_id": partner,
            "epc": epc if epc is not None else sgtin(name),
            "lot": lot,
            "expiry_date": expiry,
            "production_date": 0,
            "origin_gln": None,
        }

    @staticmethod
    def lot(name: str, quantity: int, partner: int = 1, unit: str = "KGM") -> Event:
        return "LotRegistered", {
            "object_id": oid(name),
            "partner_id": partner,
            "epc": f"urn:epc:class:lgtin:0614141.812345.{name}",
            "lot": name,
            "expiry_date": 0,
            "production_date": 0,
            "origin_gln": None,
            "quantity": quantity,
            "unit_of_measure": unit,
        }

    @staticmethod
    def unit(name: str, partner: int = 1) -> Event:
        return "LogisticUnitRegistered", {"object_id": oid(name), "partner_id": partner, "epc": f"urn:sscc:{name}"}

    @staticmethod
    def dispatch(shipment: int, sender: int, receiver: int, count: int = 1, transfer_ownership: bool = False) -> Event:
        return "ShipmentDispatched", {
            "shipment_id": shipment,
            "sender": sender,
            "receiver": receiver,
            "ship_from_gln": None,
            "ship_to_gln": None,
            "transfer_ownership": transfer_ownership,
            "object_count": count,
        }

    @staticmethod
    def shipped(name: str, shipment: int) -> Event:
        return "ObjectShipped", {"object_id": oid(name), "shipment_id": shipment}

    @staticmethod
    def received(name: str, shipment: int, receiver: int, gln: str | None = None) -> Event:
        return "ObjectReceived", {"object_id": oid(name), "shipment_id": shipment, "receiver": receiver, "gln": gln}

    @staticmethod
    def rejected(name: str, shipment: int, receiver: int, reason: str = "damaged") -> Event:
        return "ObjectRejected", {
            "object_id": oid(name),
            "shipment_id": shipment,
            "receiver": receiver,
            "reason": reason,
        }

    @staticmethod
    def cancelled(name: str, shipment: int, sender: int) -> Event:
        return "ShipmentCancelled", {"object_id": oid(name), "shipment_id": shipment, "sender": sender}

    @staticmethod
    def transferred(name: str, sender: int, receiver: int) -> Event:
        return "CustodyTransferred", {"object_id": oid(name), "sender": sender, "receiver": receiver}

    @staticmethod
    def owner(name: str, previous: int, new: int) -> Event:
        return "OwnershipTransferred", {"object_id": oid(name), "previous_owner": previous, "new_owner": new}

    @staticmethod
    def pack(child: str, parent: str, partner: int = 1) -> Event:
        return "ObjectPacked", {"child": oid(child), "parent": oid(parent), "partner_id": partner}

    @staticmethod
    def unpack(child: str, parent: str, partner: int = 1) -> Event:
        return "ObjectUnpacked", {"child": oid(child), "parent": oid(parent), "partner_id": partner}

    @staticmethod
    def status(name: str, previous: int, status: int, partner: int = 1, reason: str = "") -> Event:
        return "StatusChanged", {
            "object_id": oid(name),
            "previous": previous,
            "status": status,
            "reason": reason,
            "partner_id": partner,
        }

    @staticmethod
    def genealogy(gid: str, kind: int, partner: int = 1) -> Event:
        return "GenealogyRecorded", {"genealogy_id": oid(gid), "kind": kind, "partner_id": partner}

    @staticmethod
    def consumed(gid: str, name: str, quantity: int, remaining: int) -> Event:
        return "GenealogyInputConsumed", {
            "genealogy_id": oid(gid),
            "input": oid(name),
            "quantity": quantity,
            "remaining": remaining,
        }

    @staticmethod
    def produced(gid: str, name: str, quantity: int) -> Event:
        return "GenealogyOutputProduced", {"genealogy_id": oid(gid), "output": oid(name), "quantity": quantity}

    @staticmethod
    def recall(name: str, partner: int = 1, reason: str = "contaminated") -> Event:
        return "RecallInitiated", {"object_id": oid(name), "partner_id": partner, "reason": reason}

    @staticmethod
    def document(subject: str, cid: bytes, partner: int = 1, doc_type: int = 0) -> Event:
        document_id = "0x" + keccak(bytes.fromhex(subject[2:]) + keccak(cid)).hex()
        return "DocumentAnchored", {
            "subject": subject,
            "document_id": document_id,
            "partner_id": partner,
            "doc_type": doc_type,
            "cid": cid,
        }

    @staticmethod
    def batch(root: str, leaf_count: int, cid: bytes, partner: int = 1) -> Event:
        return "EventBatchAnchored", {"root": root, "partner_id": partner, "leaf_count": leaf_count, "cid": cid}


def cid_v0(content: bytes) -> bytes:
    import hashlib

    return bytes((0x12, 0x20)) + hashlib.sha256(content).digest()


# ------------------------------------------------------------------------------------------ databases

_POSTGRES: dict[str, str | None] = {}


def postgres_server_url() -> str | None:
    """A PostgreSQL server URL for tests (started once per session); None only when turned off.

    pgserver is a locked dev dependency, so a missing server is an error, not a skip: the
    PostgreSQL tests must not quietly stop running. ``CUSTODY_TEST_POSTGRES=0`` opts out.
    """
    if "url" in _POSTGRES:
        return _POSTGRES["url"]
    url = os.environ.get("CUSTODY_TEST_POSTGRES_URL")
    if url is None and os.environ.get("CUSTODY_TEST_POSTGRES", "1") != "0":
        import pgserver  # type: ignore[import-not-found, unused-ignore]

        server = pgserver.get_server(tempfile.mkdtemp(prefix="idx-pg-"), cleanup_mode="delete")
        atexit.register(server.cleanup)
        url = server.get_uri()
    _POSTGRES["url"] = url
    return url


_TEMPLATES: dict[str, str] = {}  # backend -> a migrated database to copy (migrating each one is slow)


def _template(backend: str, server: str | None) -> str:
    """A migrated database to copy, made once per session and removed at exit."""
    if backend not in _TEMPLATES:
        if backend == "sqlite":
            directory = tempfile.mkdtemp(prefix="idx-template-")
            atexit.register(shutil.rmtree, directory, ignore_errors=True)
            path = Path(directory) / "template.db"
            open_database(f"sqlite:///{path}").dispose()
            _TEMPLATES[backend] = str(path)
        else:
            assert server is not None
            name = f"idx_template_{uuid.uuid4().hex[:8]}"
            admin = _admin(server)
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            admin.dispose()
            atexit.register(_drop_database, server, name)
            open_database(make_url(server).set(database=name).render_as_string(hide_password=False)).dispose()
            _TEMPLATES[backend] = name
    return _TEMPLATES[backend]


def _drop_database(server: str, name: str) -> None:
    with contextlib.suppress(Exception):  # at exit, a throwaway server may be gone already
        admin = _admin(server)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _admin(server: str) -> Engine:
    return create_engine(make_url(server).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")


class Databases:
    """Fresh databases of one backend, with the schema; each :meth:`new` is empty and independent."""

    def __init__(self, backend: str, tmp_path: Path) -> None:
        self.backend = backend
        self._tmp = tmp_path
        self._engines: list[Engine] = []
        self._created: list[str] = []
        self._server: str | None = None
        if backend == "postgresql":
            self._server = postgres_server_url()
            if self._server is None:
                pytest.skip("PostgreSQL turned off by CUSTODY_TEST_POSTGRES=0")

    def url(self, name: str, *, schema: bool = True) -> str:
        """The URL of a new database, with the schema (a copy of a migrated template) or empty."""
        if self.backend == "sqlite":
            path = self._tmp / f"{name}-{uuid.uuid4().hex[:8]}.db"
            if schema:
                template = _template("sqlite", None)
                # the database and the partner tables' companion file (gateway.db.engine)
                for source, target in ((template, str(path)), (partner_file(template), partner_file(str(path)))):
                    assert source is not None and target is not None
                    with contextlib.closing(sqlite3.connect(source)) as copy:
                        copy.execute("VACUUM INTO ?", (target,))
            return f"sqlite:///{path}"
        assert self._server is not None
        database = f"idx_{uuid.uuid4().hex[:12]}_{name}"
        copy_of = f' TEMPLATE "{_template("postgresql", self._server)}"' if schema else ""
        admin = _admin(self._server)
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{database}"{copy_of}'))
        admin.dispose()
        self._created.append(database)
        return make_url(self._server).set(database=database).render_as_string(hide_password=False)

    def new(self, name: str) -> Engine:
        """A new database with the schema, as an engine."""
        engine = make_engine(database_url(self.url(name), self._tmp))  # a copy of a migrated template
        self._engines.append(engine)
        return engine

    def close(self) -> None:
        for engine in self._engines:
            engine.dispose()
        if self._created:
            assert self._server is not None
            admin = _admin(self._server)
            with admin.connect() as connection:
                for database in self._created:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            admin.dispose()


def sqlite_query_plan(connection: Connection, sql: str, *params: Any) -> str:
    """SQLite's ``EXPLAIN QUERY PLAN`` of ``sql`` as one line (to check which index it reads)."""
    return " ".join(str(row) for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params or None))


def pg_index_definition(connection: Connection, name: str) -> str:
    """PostgreSQL's ``CREATE INDEX`` text of the index ``name`` (to check that it is partial)."""
    return str(
        connection.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname = :name"), {"name": name}).scalar_one()
    )


@contextlib.contextmanager
def databases(backend: str, tmp_path: Path) -> Iterator[Databases]:
    dbs = Databases(backend, tmp_path)
    try:
        yield dbs
    finally:
        dbs.close()


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every model table (and the checkpoints), sorted: equal snapshots, equal models."""
    result: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as connection:
        models: tuple[type[Base], ...] = (*t.MODEL_TABLES, t.CheckpointRow)
        for model in models:
            table = t.table_of(model)
            rows = connection.execute(select(table)).all()
            columns = [c.name for c in table.columns if c.name != "updated_at"]
            result[table.name] = sorted((tuple(row._mapping[c] for c in columns) for row in rows), key=repr)
    return result


# ------------------------------------------------------------------------------------------ tests of the helpers


@pytest.fixture(params=BACKENDS)
def dbs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Databases]:
    with databases(request.param, tmp_path) as d:
        yield d


def test_fake_chain_logs_decode_to_the_events_they_were_built_from() -> None:
    chain = FakeChain()
    block = chain.mine([Ev.item("a"), Ev.dispatch(1, 1, 2)], [Ev.shipped("a", 1)])
    events = ledger_decoder().decode_logs(chain.logs([LEDGER], 1, 1))
    assert [type(e).__name__ for e in events] == ["ItemRegistered", "ShipmentDispatched", "ObjectShipped"]
    item, _, shipped = events
    assert isinstance(item, ItemRegistered) and isinstance(shipped, ObjectShipped)
    assert (item.object_id, item.epc, item.lot, item.meta.block_hash) == (oid("a"), sgtin("a"), "L1", block.hash)
    assert [e.meta.log_index for e in events] == [0, 1, 2]
    assert item.meta.tx_hash != shipped.meta.tx_hash  # one transaction per argument of mine()


def test_fake_chain_hashes_chain_and_change_on_a_fork() -> None:
    chain = FakeChain()
    chain.mine_empty(3)
    old = chain.headers([1, 2, 3])
    assert [old[n].parent_hash for n in (2, 3)] == [old[1].hash, old[2].hash]
    chain.rewind(1)
    chain.mine_empty(2)
    new = chain.headers([1, 2, 3])
    assert new[1] == old[1] and new[2].hash != old[2].hash and new[2].parent_hash == old[1].hash


def test_fake_chain_filters_logs_by_address_and_range() -> None:
    chain = FakeChain()
    chain.mine([Ev.partner(1)])
    chain.mine([Ev.partner(2)], contract=RELAY)
    chain.mine([Ev.partner(3)], contract="0x" + "33" * 20)
    assert len(chain.logs([LEDGER, RELAY], 1, 3)) == 2
    assert len(chain.logs([LEDGER], 2, 3)) == 0


def test_databases_are_fresh_and_independent(dbs: Databases) -> None:
    first, second = dbs.new("a"), dbs.new("b")
    with first.begin() as connection:
        connection.execute(
            t.table_of(t.BlockRow).insert().values(number=1, hash="0x01", block_time=dt.datetime.now(dt.UTC))
        )
    assert len(snapshot(first)["idx_checkpoints"]) == 0
    with first.connect() as c1, second.connect() as c2:
        assert c1.execute(text("SELECT count(*) FROM idx_blocks")).scalar() == 1
        assert c2.execute(text("SELECT count(*) FROM idx_blocks")).scalar() == 0
