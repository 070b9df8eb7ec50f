"""Comparing a live model with a rebuilt one, from Python and from the command line."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, insert, update
from typer.testing import CliRunner

from gateway.indexer import tables as t
from gateway.indexer.cli import app
from gateway.indexer.compare import compare_databases
from gateway.indexer.indexer import Indexer
from gateway.indexer.maintenance import open_database
from tests.unit.test_indexer_support import BACKENDS, LEDGER, Databases, Ev, FakeChain, databases, oid

RUNNER = CliRunner()


@pytest.fixture(params=BACKENDS)
def dbs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Databases]:
    with databases(request.param, tmp_path) as d:
        yield d


def chain() -> FakeChain:
    c = FakeChain()
    c.mine([Ev.partner(1), Ev.partner(2, "d", 1)])
    c.mine([Ev.item("a"), Ev.item("b"), Ev.dispatch(1, 1, 2), Ev.shipped("a", 1)])
    return c


def indexed(dbs: Databases, c: FakeChain) -> tuple[str, Engine]:
    url = dbs.url("model")
    engine = open_database(url)
    Indexer(engine, c, LEDGER).sync_once()
    return url, engine


def corrupt(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(update(t.table_of(t.ObjectRow)).where(t.ObjectRow.object_id == oid("a")).values(owner=7))
        history = t.table_of(t.CustodyHistoryRow)
        connection.execute(delete(history).where(history.c.object_id == oid("b")))
        row = {"root": oid("extra"), "partner_id": 1, "leaf_count": 1, "cid": b"", "cid_text": None,
               "anchored_at": dt.datetime.now(dt.UTC), "block_number": 9,
               "log_index": 0, "tx_hash": oid("tx")}  # fmt: skip
        connection.execute(insert(t.table_of(t.EventBatchRow)), [row])
        connection.execute(update(t.table_of(t.CheckpointRow)).values(last_block=1))


def test_equal_models_have_no_differences(dbs: Databases) -> None:
    c = chain()
    _, live = indexed(dbs, c)
    _, rebuilt = indexed(dbs, c)
    assert list(compare_databases(live, rebuilt)) == []


def test_every_difference_is_reported(dbs: Databases) -> None:
    c = chain()
    _, live = indexed(dbs, c)
    _, rebuilt = indexed(dbs, c)
    corrupt(live)
    found = [str(d) for d in compare_databases(live, rebuilt)]
    history_key = f"{oid('b')}, 2, "
    assert found[0] == f"idx_checkpoints [31337, {LEDGER}]: last_block: live=1 rebuilt=2"
    assert found[1] == f"idx_objects [{oid('a')}]: owner: live=7 rebuilt=1"
    assert found[2].startswith(f"idx_custody_history [{history_key}") and found[2].endswith("only in rebuilt")
    assert found[3] == f"idx_event_batches [{oid('extra')}]: only in live"
    assert len(found) == 4


def test_a_sqlite_model_equals_a_postgresql_one(tmp_path: Path) -> None:
    c = chain()
    with databases("sqlite", tmp_path) as lite, databases("postgresql", tmp_path) as pg:
        _, left = indexed(lite, c)
        _, right = indexed(pg, c)
        assert list(compare_databases(left, right)) == []


def test_check_command_prints_the_differences_and_exits_1(dbs: Databases) -> None:
    c = chain()
    live_url, live = indexed(dbs, c)
    rebuilt_url, _ = indexed(dbs, c)
    same = RUNNER.invoke(app, ["check", "--live-url", live_url, "--rebuilt-url", rebuilt_url])
    assert (same.exit_code, same.output.strip()) == (0, "the live model equals the rebuilt one")
    corrupt(live)
    result = RUNNER.invoke(app, ["check", "--live-url", live_url, "--rebuilt-url", rebuilt_url])
    assert result.exit_code == 1
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 4 and lines[1] == f"idx_objects [{oid('a')}]: owner: live=7 rebuilt=1"
    assert "4 difference(s)" in result.stderr


def test_commands_refuse_what_they_cannot_do(dbs: Databases) -> None:
    live_url, _ = indexed(dbs, chain())
    half = RUNNER.invoke(app, ["check", "--live-url", live_url, "--rebuilt-url", live_url, "--rpc-url", "http://x"])
    assert half.exit_code == 2 and "needs both --rpc-url and --ledger" in half.stderr
    args = ["rebuild", "--database-url", live_url, "--rpc-url", "http://127.0.0.1:9", "--ledger", LEDGER]
    stale = RUNNER.invoke(app, args)
    assert stale.exit_code == 2 and "fresh database" in stale.stderr
