"""The verification read/write paths on SQLite and PostgreSQL: item and lot lookups from idx_*
rows, public product upserts, scan batching and history, reports and the suspect view."""

from __future__ import annotations

import datetime as dt
import gc
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, func, insert, inspect, select

from chain_client import gs1
from gateway.core.config import Settings
from gateway.db.base import Base
from gateway.db.migrate import alembic_config
from gateway.indexer.maintenance import open_database
from gateway.indexer.tables import CheckpointRow, EventRow, ObjectRow, PartnerRow, StatusChangeRow, table_of
from gateway.verification.products import ProductFactsIn, get_product, put_product
from gateway.verification.records import RecordStore
from gateway.verification.scans import Place, ScanLog, SignalSettings, _SqliteScans, suspect_scans_query
from gateway.verification.service import VerificationService
from gateway.verification.tables import VerificationScanRow
from gateway.verification.verdict import LabelQuery, Verdict, VerificationPublic
from tests.unit.test_indexer_support import BACKENDS, Databases, databases, pg_index_definition, sqlite_query_plan

GTIN = "00614141770014"
OTHER = "00614141770021"
AT = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def _item_id(gtin: str, serial: str, cpl: int = 7) -> str:
    return "0x" + gs1.Sgtin(gs1.Gtin(gtin, cpl), serial).object_id.hex()


def _lot_id(gtin: str, lot: str) -> str:
    return "0x" + gs1.Lgtin(gs1.Gtin(gtin, 7), lot).object_id.hex()


def _object(object_id: str, kind: str, gtin: str, serial: str | None, lot: str | None, **extra: object) -> dict:
    row: dict[str, object] = {
        "object_id": object_id, "kind": kind, "epc": "urn:x", "gtin": gtin, "serial": serial, "lot": lot,
        "lot_id": None, "expiry_date": dt.date(2027, 6, 30), "registrant": 1, "custodian": 1, "owner": 1,
        "status": "ACTIVE", "own_status": "ACTIVE", "root_id": object_id, "registered_block": 5,
        "registered_log_index": 0, "registered_tx": "0x" + "ab" * 32, "registered_at": AT,
        "last_event_block": 5, "last_event_at": AT,
    }  # fmt: skip
    row.update(extra)
    return row


@pytest.fixture(params=BACKENDS)
def dbs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Databases]:
    with databases(request.param, tmp_path) as d:
        yield d


@pytest.fixture
def engine(dbs: Databases) -> Engine:
    engine = dbs.new("verify")
    dispensed = _item_id(GTIN, "D1")
    with engine.begin() as conn:
        conn.execute(insert(table_of(PartnerRow)).values(
            partner_id=1, name="Acme Pharma", role="MANUFACTURER", active=True, registered_block=1,
            registered_log_index=0, registered_tx="0x" + "cd" * 32, registered_at=AT,
        ))  # fmt: skip
        conn.execute(insert(table_of(CheckpointRow)).values(
            chain_id=31337, contract="0x" + "11" * 20, last_block=42, undo_floor=0, updated_at=AT,
        ))  # fmt: skip
        conn.execute(insert(table_of(ObjectRow)), [
            _object(_item_id(GTIN, "S1"), "ITEM", GTIN, "S1", "L1", lot_id=_lot_id(GTIN, "L1")),
            _object(_item_id(GTIN, "S9", cpl=8), "ITEM", GTIN, "S9", "L1"),  # another company prefix length
            _object(_lot_id(GTIN, "L1"), "LOT", GTIN, None, "L1", own_status="RECALLED", status="RECALLED"),
            _object(dispensed, "ITEM", GTIN, "D1", "L2", own_status="DISPENSED", status="DISPENSED"),
            _object(_item_id(OTHER, "X1"), "ITEM", OTHER, "X1", "L9", registrant=2, custodian=2, owner=2),
        ])  # fmt: skip
        conn.execute(insert(table_of(StatusChangeRow)).values(
            block_number=9, log_index=0, tx_hash="0x" + "ef" * 32, object_id=dispensed, previous="ACTIVE",
            status="DISPENSED", reason="", partner_id=3, changed_at=AT + dt.timedelta(days=1),
        ))  # fmt: skip
    return engine


def test_item_lookups(engine: Engine) -> None:
    store = RecordStore(engine, ttl=60)
    found = store.item(GTIN, "S1")
    assert found.as_of_block == 42 and found.registrant == 1
    assert found.record is not None
    assert (found.record.lot, found.record.expiry, found.record.own_status, found.record.lot_status) == (
        "L1", dt.date(2027, 6, 30), "ACTIVE", "RECALLED",
    )  # fmt: skip
    assert store.item(GTIN, "S9").record is not None  # found whatever the company prefix length
    assert store.item(GTIN, "NOPE").record is None
    dispensed = store.item(GTIN, "D1").record
    assert dispensed is not None and dispensed.status_changed_at == AT + dt.timedelta(days=1)
    # cached: a change is seen after the TTL (here: after clear)
    with engine.begin() as conn:
        conn.execute(table_of(ObjectRow).update().where(table_of(ObjectRow).c.serial == "S1").values(own_status="X"))
    assert store.item(GTIN, "S1").record.own_status == "ACTIVE"  # type: ignore[union-attr]
    store.clear()
    assert store.item(GTIN, "S1").record.own_status == "X"  # type: ignore[union-attr]


def test_lookups_are_kept_until_the_model_takes_new_events(engine: Engine) -> None:
    """Item and lot lookups stay cached while the indexed model is unchanged (one version query
    per TTL), and are dropped, at the next check, once it has taken a new event."""
    now = [0.0]
    store = RecordStore(engine, ttl=2, clock=lambda: now[0])
    objects = table_of(ObjectRow)

    def own_status() -> str:
        record = store.item(GTIN, "S1").record
        assert record is not None
        return record.own_status

    def new_event(block: int) -> None:
        with engine.begin() as conn:
            conn.execute(insert(table_of(EventRow)).values(
                block_number=block, log_index=0, tx_hash=f"0x{block:064x}", block_hash="0x" + "34" * 32,
                block_time=AT, contract="0x" + "11" * 20, event="StatusChanged", args={},
            ))  # fmt: skip
            conn.execute(table_of(CheckpointRow).update().values(last_block=block))

    assert own_status() == "ACTIVE" and store.lot(GTIN, "L1").record is not None
    assert store.is_warm(GTIN, "S1") is False  # GTIN facts not read yet
    store.gtin(GTIN)
    assert store.is_warm(GTIN, "S1") is True
    with engine.begin() as conn:  # the indexer changes the row and writes its event
        conn.execute(objects.update().where(objects.c.serial == "S1").values(own_status="RECALLED"))
    new_event(43)
    now[0] = 1.9  # within the TTL: the cached answer, the old block
    assert own_status() == "ACTIVE" and store.item(GTIN, "S1").as_of_block == 42
    now[0] = 2.1  # the version check sees the new event
    assert own_status() == "RECALLED" and store.item(GTIN, "S1").as_of_block == 43
    with engine.begin() as conn:  # a change without an event is not the indexer's: not looked for
        conn.execute(objects.update().where(objects.c.serial == "S1").values(own_status="X"))
        conn.execute(table_of(CheckpointRow).update().values(last_block=44))
    now[0] = 4.5
    assert own_status() == "RECALLED"
    assert store.item(GTIN, "S1").as_of_block == 44  # the checkpoint is re-read all the same
    new_event(45)
    now[0] = 7.0
    assert own_status() == "X"


def test_lot_and_gtin_lookups(engine: Engine) -> None:
    store = RecordStore(engine, ttl=0)
    lot = store.lot(GTIN, "L1").record
    assert lot is not None and lot.own_status == "RECALLED" and lot.serial == ""
    items_only = store.lot(GTIN, "L2").record  # no lot object: known from its items
    assert items_only is not None and items_only.own_status == "ACTIVE"
    assert store.lot(GTIN, "NOPE").record is None
    facts = store.gtin(GTIN)
    assert (facts.known, facts.manufacturer, facts.product_name) == (True, "Acme Pharma", None)
    assert store.gtin("00614141770991").known is False
    assert store.is_registrant(GTIN, 1) and not store.is_registrant(GTIN, 2) and store.is_registrant(OTHER, 2)
    assert store.registered_gtins(1) == [GTIN] and store.registered_gtins(2) == [OTHER]


def test_public_product_upsert(engine: Engine) -> None:
    assert get_product(engine, GTIN) is None
    first = put_product(engine, GTIN, ProductFactsIn(product_name="A", manufacturer="Acme"), 1)
    assert (first.product_name, first.image_url) == ("A", None)
    second = put_product(
        engine, GTIN, ProductFactsIn(product_name="B", manufacturer="Acme Ltd", image_url="https://a.example/i.png"), 1
    )  # type: ignore[arg-type]
    assert (second.product_name, second.manufacturer, second.image_url) == ("B", "Acme Ltd", "https://a.example/i.png")
    assert second.updated_at >= first.updated_at and second.updated_at.tzinfo is not None
    facts = RecordStore(engine, ttl=0).gtin(GTIN)
    assert (facts.product_name, facts.manufacturer) == ("B", "Acme Ltd")


@pytest.fixture
def scans(engine: Engine) -> Iterator[ScanLog]:
    log = ScanLog(engine, SignalSettings(clone_places=2), reload_after=0.0, flush_interval=3600)
    yield log
    log.close()


def _observe(log: ScanLog, serial: str, place: Place | None, verdict: Verdict = Verdict.AUTHENTIC) -> list[str]:
    return log.observe(gtin=GTIN, serial=serial, lot=None, verdict=verdict, gtin_known=True, dispensed_at=None,
                       place=place, channel="api", now=dt.datetime.now(dt.UTC))  # fmt: skip


def test_scans_are_batched_and_signals_see_flushed_and_pending_scans(engine: Engine, scans: ScanLog) -> None:
    scans_table = table_of(VerificationScanRow)
    assert _observe(scans, "S1", Place("DE")) == []
    assert _observe(scans, "S1", Place("FR", 48.9, 2.4)) == []
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(scans_table)).scalar() == 0  # buffered
    assert scans.flush() == 2
    assert _observe(scans, "S1", Place("US")) == ["many_places"]  # history reloaded from the database
    assert _observe(scans, "S2", None) == []
    assert scans.flush() == 2
    with engine.connect() as conn:
        rows = conn.execute(select(scans_table).order_by(scans_table.c.id)).all()
    assert [(r.serial, r.country, r.latitude, r.suspect, r.signals) for r in rows] == [
        ("S1", "DE", None, False, []), ("S1", "FR", 48.9, False, []), ("S1", "US", None, True, ["many_places"]),
        ("S2", None, None, False, []),
    ]  # fmt: skip


def _store_scans(engine: Engine, serial: str, countries: tuple[str, ...]) -> None:
    """Scans stored by another replica."""
    with engine.begin() as conn:
        conn.execute(insert(table_of(VerificationScanRow)), [
            {"gtin": GTIN, "serial": serial, "verdict": "authentic", "suspect": False, "signals": [], "channel": "api",
             "scanned_at": dt.datetime.now(dt.UTC), "country": c} for c in countries
        ])  # fmt: skip


def test_buffered_scans_are_not_tracked_by_the_garbage_collector(engine: Engine, scans: ScanLog) -> None:
    """Thousands of scans wait for each flush; as plain tuples the collector stops tracking them
    (one with signals holds a tuple of them: untracked a collection later), so they do not fill its
    old generation and trigger full collections (20-40 ms pauses under load)."""
    _observe(scans, "S9", Place("DE", 52.5, 13.4), Verdict.UNKNOWN)
    _observe(scans, "S9", None)
    gc.collect()
    gc.collect()
    pending = list(scans._pending)
    assert len(pending) == 2 and pending[0][5] == ("unknown_serial_of_known_gtin",)
    assert not any(gc.is_tracked(row) for row in pending)
    assert scans.flush() == 2


def test_flushed_scans_read_back_as_observed(engine: Engine, scans: ScanLog) -> None:
    """What a flush stores (on SQLite through :class:`_SqliteScans`, converted in C) is what a
    Core insert would store: the rows read back through SQLAlchemy equal the scans observed, and
    another replica following the table sees the same times and places."""
    # microsecond 0: still written with its fraction; recent, as PostgreSQL's reload reads by time
    at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    observed = [
        ("S1", at, Place("DE", 52.5, -13.4), Verdict.AUTHENTIC),
        ("S1", at + dt.timedelta(microseconds=7), None, Verdict.AUTHENTIC),
        ("Z9", at + dt.timedelta(seconds=1, microseconds=123456), Place("FR"), Verdict.UNKNOWN),
    ]
    other = ScanLog(engine, SignalSettings(), reload_after=0.0, flush_interval=3600)
    try:
        for serial, _, _, _ in observed:
            other._history(GTIN, serial)
        for serial, when, place, verdict in observed:
            scans.observe(gtin=GTIN, serial=serial, lot="L1", verdict=verdict, gtin_known=True, dispensed_at=None,
                          place=place, channel="digital_link", now=when)  # fmt: skip
        assert scans.flush() == 3
        s = table_of(VerificationScanRow).c
        with engine.connect() as conn:
            rows = conn.execute(select(s.serial, s.lot, s.verdict, s.suspect, s.signals, s.channel, s.scanned_at,
                                       s.country, s.latitude, s.longitude).order_by(s.id)).all()  # fmt: skip
        assert [(r.serial, r.lot, r.verdict, r.channel) for r in rows] == [
            ("S1", "L1", "authentic", "digital_link"), ("S1", "L1", "authentic", "digital_link"),
            ("Z9", "L1", "unknown", "digital_link"),
        ]  # fmt: skip
        assert [r.scanned_at.replace(tzinfo=dt.UTC) for r in rows] == [when for _, when, _, _ in observed]
        assert [(r.suspect, r.signals) for r in rows] == [(False, []), (False, []),
                                                        (True, ["unknown_serial_of_known_gtin"])]  # fmt: skip
        assert [(r.country, r.latitude, r.longitude) for r in rows] == [("DE", 52.5, -13.4), (None, None, None),
                                                                        ("FR", None, None)]  # fmt: skip
        for serial in ("S1", "Z9"):
            other._history(GTIN, serial)  # PostgreSQL: stale now (reload_after=0), read by refresh
        other.refresh()
        assert list(other._histories[(GTIN, "S1")].times) == [at, at + dt.timedelta(microseconds=7)]
        assert other._histories[(GTIN, "S1")].places == {"DE:52.5,-13.4": at}
        assert other._histories[(GTIN, "Z9")].places == {"FR": observed[2][1]}
    finally:
        other.close()


def test_sqlite_scan_conversions_are_sqlalchemys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The SQLite fast path writes and reads exactly the text SQLAlchemy's processors do; when it
    would not (another storage format), it is not used."""
    engine = open_database(f"sqlite:///{tmp_path / 'scans.db'}")
    codec = _SqliteScans.of(engine)
    assert codec is not None
    column = table_of(VerificationScanRow).c.scanned_at
    write = column.type.dialect_impl(engine.dialect).bind_processor(engine.dialect)
    read = column.type.dialect_impl(engine.dialect).result_processor(engine.dialect, None)
    assert write is not None and read is not None
    for when in (dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), dt.datetime(1999, 12, 31, 23, 59, 59, 999999),
                 dt.datetime(2026, 11, 28, 0, 0, 0, 1, tzinfo=dt.UTC)):  # fmt: skip
        row = (GTIN, "S1", None, "authentic", False, (), "api", when, None, None, None)
        (params,) = codec.params([row])
        assert params[-1] == write(when)
        assert codec.time_of(params[-1]) == read(params[-1]).replace(tzinfo=dt.UTC)
    assert _SqliteScans.of(open_database(f"sqlite:///{tmp_path / 'other.db'}")) is not None
    # a conversion that differs from SQLAlchemy's (here: a naive time): the processors are used instead
    monkeypatch.setattr(_SqliteScans, "time_of", staticmethod(dt.datetime.fromisoformat))
    assert _SqliteScans.of(engine) is None
    engine.dispose()


def test_histories_are_refreshed_by_the_flush_thread_not_by_a_verification(engine: Engine, scans: ScanLog) -> None:
    """Another replica's scans (rows in the table) reach a history when the flush thread
    refreshes; a verification answers from memory meanwhile; a scan both buffered and stored
    counts once."""
    key = (GTIN, "S5")
    assert _observe(scans, "S5", Place("DE")) == []  # first sight: read from the database
    _store_scans(engine, "S5", ("FR", "US"))
    assert _observe(scans, "S5", Place("DE")) == []  # (stale on PostgreSQL: reload_after=0) not re-read here
    assert scans.is_warm(*key)
    assert len(scans._histories[key].times) == 2
    assert scans.refresh() > 0 and scans.refresh() == 0
    assert len(scans._histories[key].times) == 4  # two stored, two buffered
    assert _observe(scans, "S5", Place("DE")) == ["many_places"]
    assert scans.flush() == 3
    scans.refresh()
    assert len(scans._histories[key].times) == 5  # all stored now, none twice


def test_sqlite_reads_each_new_scan_once_by_id(engine: Engine, scans: ScanLog) -> None:
    """On SQLite the flush thread follows the table by id: each row is read once, rows of serials
    not in memory are skipped (read on first sight), and the rows stored before the log started
    are only read on first sight."""
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL reloads histories by time (ids are not in commit order)")
    _store_scans(engine, "S6", ("FR",))  # stored before the tail moved: first sight reads it
    assert scans.refresh() == 1  # (read by the tail, no history yet)
    _store_scans(engine, "S7", ("FR", "US"))
    assert scans.refresh() == 2 and scans.refresh() == 0
    assert not scans.is_warm(GTIN, "S7")
    assert _observe(scans, "S7", Place("DE")) == ["many_places"]  # first sight: FR and US read, and DE
    assert len(scans._histories[(GTIN, "S7")].times) == 3
    _store_scans(engine, "S7", ("IT",))
    assert scans.refresh() == 1
    assert len(scans._histories[(GTIN, "S7")].times) == 4
    fresh = ScanLog(engine, SignalSettings(clone_places=2), flush_interval=3600)
    try:
        assert fresh.refresh() == 0  # starts after the rows already stored
        assert _observe(fresh, "S6", None) == [] and len(fresh._histories[(GTIN, "S6")].times) == 2
    finally:
        fresh.close()


def test_sqlite_skips_its_own_scans_by_id_but_not_other_replicas_between_them(engine: Engine, scans: ScanLog) -> None:
    """A flush records the ids its rows got (one transaction: contiguous), and the tail does not
    read them; another replica's row stored between two flushes still reaches the history."""
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL reloads histories by time (ids are not in commit order)")
    scans_table = table_of(VerificationScanRow)
    assert _observe(scans, "S8", Place("DE")) == [] and _observe(scans, "S8", Place("NL")) == []
    assert scans.flush() == 2
    _store_scans(engine, "S8", ("FR",))
    assert _observe(scans, "S8", Place("IT")) == ["many_places"]  # DE, NL, IT (FR: not read yet)
    assert scans.flush() == 1
    with engine.connect() as conn:
        rows = conn.execute(select(scans_table.c.id, scans_table.c.country).where(scans_table.c.serial == "S8")).all()
    ids = {country: id_ for id_, country in rows}
    assert list(scans._own_ids) == [(ids["DE"], ids["NL"]), (ids["IT"], ids["IT"])]
    assert scans.refresh() == 1 and not scans._own_ids  # only the other replica's row is read
    assert sorted(scans._histories[(GTIN, "S8")].places) == ["DE", "FR", "IT", "NL"]
    assert len(scans._histories[(GTIN, "S8")].times) == 4


def test_flush_thread_writes_without_being_asked(engine: Engine) -> None:
    log = ScanLog(engine, SignalSettings(), flush_interval=0.05)
    try:
        _observe(log, "S1", None)
        deadline = time.monotonic() + 10
        while True:
            with engine.connect() as conn:
                if conn.execute(select(func.count()).select_from(table_of(VerificationScanRow))).scalar() == 1:
                    break
            assert time.monotonic() < deadline, "the scan was never flushed"
            time.sleep(0.05)
    finally:
        log.close()


def test_reports_and_suspects(engine: Engine, scans: ScanLog) -> None:
    mine = scans.report(gtin=GTIN, serial="S1", lot="L1", expiry=dt.date(2027, 6, 30), description="odd",
                        place=Place("DE", 52.5, 13.4), verdict=Verdict.AUTHENTIC)  # fmt: skip
    other = scans.report(gtin=OTHER, serial="X1", lot=None, expiry=None, description="fake?", place=None,
                         verdict=Verdict.UNKNOWN)  # fmt: skip
    _observe(scans, "ZZ", Place("DE"), Verdict.UNKNOWN)  # unknown serial of a known GTIN: suspect
    _observe(scans, "S1", Place("DE"))  # not suspect
    since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    everything = scans.suspects(None, since, 100)  # flushes first
    assert {r["report_id"] for r in everything["reports"]} == {mine, other}
    report = next(r for r in everything["reports"] if r["report_id"] == mine)
    assert (report["country"], report["latitude"], report["expiry"]) == ("DE", 52.5, dt.date(2027, 6, 30))
    assert report["reported_at"].tzinfo is not None
    (serial,) = everything["suspect_serials"]
    assert (serial["serial"], serial["scans"], serial["signals"], serial["countries"]) == (
        "ZZ", 1, ["unknown_serial_of_known_gtin"], ["DE"],
    )  # fmt: skip
    scoped = scans.suspects([OTHER], since, 100)
    assert [r["report_id"] for r in scoped["reports"]] == [other] and scoped["suspect_serials"] == []
    later = scans.suspects(None, dt.datetime.now(dt.UTC) + dt.timedelta(hours=1), 100)
    assert later == {"reports": [], "suspect_serials": []}


VERIFICATION_TABLES = {"public_products", "verification_scans", "verification_reports"}


def test_the_migration_matches_the_models_and_can_be_undone(dbs: Databases) -> None:
    engine = open_database(dbs.url("migrated", schema=False))
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = [
            d for d in compare_metadata(context, Base.metadata) if any(t in str(d) for t in VERIFICATION_TABLES)
        ]
        assert set(inspect(connection).get_table_names()) >= VERIFICATION_TABLES
    assert differences == []
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "verification@base")
    with engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
    engine.dispose()
    assert not tables & VERIFICATION_TABLES and "idx_objects" in tables  # the other branches stay


def test_the_suspect_view_reads_the_partial_index_of_suspect_scans(dbs: Databases) -> None:
    """Scans keep one secondary index besides the serial's history: the suspect rows' times, which
    the suspect view's query is answered from (checked in SQLite's plan; on PostgreSQL that the
    index is partial)."""
    engine = open_database(dbs.url("plan", schema=False))
    query = suspect_scans_query(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), 20)
    with engine.connect() as connection:
        indexes = {i["name"] for i in inspect(connection).get_indexes("verification_scans")}
        if dbs.backend == "sqlite":
            sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
            plan = sqlite_query_plan(connection, sql)
            assert "USING INDEX ix_verification_scans_suspect_at" in plan, plan
        else:
            definition = pg_index_definition(connection, "ix_verification_scans_suspect_at")
            assert "WHERE (suspect IS TRUE)" in definition, definition
    engine.dispose()
    assert indexes == {"ix_verification_scans_gtin_serial_at", "ix_verification_scans_suspect_at"}


def test_verify_json_is_the_answer_of_verify_byte_for_byte(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hot path's JSON (verdict and answer kept per label) equals ``verify(...).json()`` but
    for the time, for every verdict, with and without signals (the same signals for both: each
    verification records a scan, which would change the next one's); a change of the record
    reaches it once the lookup cache has the new record."""
    service = VerificationService(Settings(data_dir=tmp_path), engine)
    try:
        labels = [
            LabelQuery(GTIN, "S1", "L1", dt.date(2027, 6, 30)),  # recalled lot
            LabelQuery(GTIN, "S1", "L2"),  # mismatch
            LabelQuery(GTIN, "S9"),  # authentic, nothing printed to check
            LabelQuery(GTIN, "D1"),  # dispensed
            LabelQuery(GTIN, "NOPE"),  # unknown serial
            LabelQuery(OTHER, "X1", "L9"),
        ]

        def without_time(body: bytes) -> dict[str, object]:
            assert VerificationPublic.model_validate_json(body).model_dump_json().encode() == body
            answer: dict[str, object] = json.loads(body)
            assert list(answer)[-2:] == ["checked_at", "data_as_of_block"]
            del answer["checked_at"]
            return answer

        verdicts = set()
        for label in labels:
            for signals in ([], ["many_places"], ["many_places", "scanned_after_dispense"], []):
                monkeypatch.setattr(service.scans, "observe", lambda **_: list(signals))  # noqa: B023
                fast = service.verify_json(label, None, "api")
                assert without_time(fast) == without_time(service.verify(label, None, "api").json())
                assert json.loads(fast)["signals"] == signals
                verdicts.add(json.loads(fast)["verdict"])
        assert verdicts == {"recalled", "mismatch", "authentic", "dispensed", "unknown"}
        with engine.begin() as conn:
            objects = table_of(ObjectRow)
            conn.execute(objects.update().where(objects.c.serial == "S9").values(own_status="QUARANTINED"))
        assert json.loads(service.verify_json(labels[2], None, "api"))["verdict"] == "authentic"  # cached record
        service.records._drop()  # what a new event in the model does: item lookups go, GTIN facts stay
        fast = service.verify_json(labels[2], None, "api")
        assert json.loads(fast)["verdict"] == "quarantined"
        assert without_time(fast) == without_time(service.verify(labels[2], None, "api").json())
    finally:
        service.close()
