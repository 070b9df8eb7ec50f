"""Anonymous scan records, clone/suspect signals, and consumer reports.

Every verification is recorded as a scan: time, verdict, channel and at most a coarse place
(:class:`Place`: an ISO 3166 country and, optionally, a latitude/longitude rounded to one
decimal, about 11 km). No IP address or other client identifier is stored.

Scans are buffered in memory and written in batches (:meth:`ScanLog.flush`, every
``flush_interval`` seconds from a daemon thread: ``CUSTODY_VERIFY_SCAN_FLUSH_SECONDS``, 2 by
default), so a verification costs no database write. Each flush rewrites the index pages of every
serial it touches: fewer, larger batches write less (at 9,000 scans/s a flush every 0.5 s kept
the kernel's writeback thread at up to 70 % of a core, and bench_verify slower). Signals come
from the recent scans of the same serial (:meth:`ScanLog.observe`), kept in memory: read from the
database the first time this process sees the serial, then this process's own scans as they
come, topped up by the flush thread with the scans other replicas stored since
(:meth:`ScanLog.refresh`), so a verification never waits for the database or for a flush in
progress:

- on SQLite, row ids follow commit order (one writer at a time takes them inside its write
  transaction), so the flush thread reads each new row once, by id, after the last one it read,
  and adds it to the history of its serial if one is in memory;
- on other databases ids are taken before commit and can become visible out of order, so a
  history ``reload_after`` seconds old is re-read by time, with an overlap of ``RELOAD_OVERLAP``.

With several gateway replicas, each sees the others' scans once they are flushed and it has
refreshed.

Signals (each makes the verification ``suspect``):

- ``many_places``: the serial was scanned in more than ``clone_places`` distinct places within
  ``clone_window``;
- ``scanned_after_dispense``: the item is dispensed or decommissioned and was scanned more than
  ``dispensed_scans`` times since then, or in two distinct places since then;
- ``unknown_serial_of_known_gtin``: the GTIN is registered on the ledger but this serial is not
  (a made-up serial on a real product's code);
- ``label_mismatch``: lot or expiry on the label differ from the record.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import functools
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Engine, Integer, Select, bindparam, func, insert, select

from gateway.indexer.bulk import bulk_insert_tuples, insert_plan
from gateway.indexer.tables import table_of
from gateway.partner.operations import InvalidInput
from gateway.verification.tables import SuspectReportRow, VerificationScanRow
from gateway.verification.verdict import Verdict

__all__ = [
    "MAX_REPORT_CHARS",
    "Place",
    "ScanHistory",
    "ScanLog",
    "SignalSettings",
    "compute_signals",
    "parse_place",
    "suspect_scans_query",
]

MAX_REPORT_CHARS = 2000
# A reload reads scans stored since its previous read less this: scans are flushed up to a flush
# interval late, and replicas' clocks differ a little.
RELOAD_OVERLAP = dt.timedelta(seconds=30)
_HISTORY_LIMIT = 256  # most recent scans kept per serial in memory
_PLACE = re.compile(r"^([A-Za-z]{2})(?:[;:@ ]\s*([+-]?\d{1,3}(?:\.\d+)?)\s*,\s*([+-]?\d{1,3}(?:\.\d+)?))?$")

_SCANS = table_of(VerificationScanRow)
_REPORTS = table_of(SuspectReportRow)
_HISTORY_Q = (
    select(_SCANS.c.scanned_at, _SCANS.c.country, _SCANS.c.latitude, _SCANS.c.longitude, _SCANS.c.verdict)
    .where(
        _SCANS.c.gtin == bindparam("gtin"),
        _SCANS.c.serial == bindparam("serial"),
        _SCANS.c.scanned_at >= bindparam("since"),
    )
    .order_by(_SCANS.c.scanned_at.desc())
    .limit(_HISTORY_LIMIT)
)
# A buffered scan: a plain tuple of these columns' values. Thousands wait for each flush; as
# dicts (and a list of signals) they outlived the collector's young generations and made it run
# full collections of 20-40 ms every few seconds under load; a tuple of plain values is untracked.
_ROW_COLUMNS = (
    "gtin", "serial", "lot", "verdict", "suspect", "signals", "channel", "scanned_at", "country", "latitude",
    "longitude",
)  # fmt: skip
_Row = tuple[Any, ...]
_VERDICT, _AT, _COUNTRY = _ROW_COLUMNS.index("verdict"), _ROW_COLUMNS.index("scanned_at"), _ROW_COLUMNS.index("country")
_TAIL_BATCH = 20_000
_MAX_ID_Q = select(func.coalesce(func.max(_SCANS.c.id), 0))
_APPLY_CHUNK = 256  # other replicas' scans added to histories per turn of the lock (see follow)
_DISPENSED = Verdict.DISPENSED.value
_TAIL_Q = (
    select(
        _SCANS.c.id, _SCANS.c.gtin, _SCANS.c.serial, _SCANS.c.scanned_at, _SCANS.c.country, _SCANS.c.latitude,
        _SCANS.c.longitude, _SCANS.c.verdict,
    )
    .where(_SCANS.c.id > bindparam("after"))
    .order_by(_SCANS.c.id)
    .limit(bindparam("limit", type_=Integer))
)  # fmt: skip
_TAIL_BELOW_Q = _TAIL_Q.where(_SCANS.c.id < bindparam("below"))


@dataclass(frozen=True, slots=True)
class _DriverSql:
    """A statement compiled for one driver (positional parameters): its SQL, its parameters'
    names in order, and the values SQLAlchemy fills in itself (the OFFSET)."""

    sql: str
    names: tuple[str, ...]
    defaults: dict[str, Any]

    @classmethod
    def of(cls, query: Select[Any], engine: Engine) -> _DriverSql:
        compiled = query.compile(dialect=engine.dialect)
        return cls(compiled.string, tuple(getattr(compiled, "positiontup", None) or ()), dict(compiled.params))

    def args(self, values: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(values[name] if name in values else self.defaults[name] for name in self.names)


class _SqliteScans:
    """The scans' INSERT parameters and the tail's times on SQLite, converted in C.

    SQLAlchemy stores a ``DateTime`` on SQLite as the text ``YYYY-MM-DD HH:MM:SS.ffffff`` (the
    time zone dropped), a ``Boolean`` as 0 or 1 and a JSON list as its text, and its processors
    write and read these in Python (%-formatting, a regular expression): 12 µs a scan of the flush
    thread's time, holding the interpreter the event loop waits for. Here ``datetime.isoformat``
    and ``fromisoformat`` do the same in C, and the JSON of the few distinct signal lists is
    remembered. :meth:`of` checks on sample values that the results are the processors' own and
    gives None otherwise (the processors are used then)."""

    __slots__ = ("_signals_json", "sql")

    # the INSERT's parameters in the order SQLAlchemy compiles them for SQLite (the table's)
    KEYS = (
        "gtin", "serial", "lot", "verdict", "suspect", "signals", "channel", "country", "latitude", "longitude",
        "scanned_at",
    )  # fmt: skip

    def __init__(self, sql: str, signals_json: Callable[[Any], Any]) -> None:
        self.sql = sql
        self._signals_json = functools.lru_cache(maxsize=256)(signals_json)

    @classmethod
    def of(cls, engine: Engine) -> _SqliteScans | None:
        plan = insert_plan(engine.dialect, _SCANS, _ROW_COLUMNS)
        if not plan.positional or plan.keys != cls.KEYS:
            return None
        processors = dict(zip(plan.keys, plan.processors, strict=True))
        signals = processors["signals"]
        read_time = _time_reader(engine)
        if signals is None or read_time is None:
            return None
        codec = cls(plan.sql, signals)
        at = dt.datetime(2026, 3, 9, 7, 5, 4, 123456, tzinfo=dt.UTC)
        samples = [
            (gtin, "S1", lot, "authentic", suspect, tuple(sig), "api", when, country, lat, lon)
            for gtin, lot, suspect, sig, when, country, lat, lon in (
                ("00614141770014", None, False, (), at, None, None, None),
                ("00614141770014", "L1", True, ("many_places", "label_mismatch"), at.replace(microsecond=0), "DE",
                 52.5, -13.4),
                ("00614141770014", "L1", True, ("many_places",), at.replace(tzinfo=None), "FR", None, None),
            )
        ]  # fmt: skip
        for sample, fast in zip(samples, codec.params(samples), strict=True):
            values = dict(zip(_ROW_COLUMNS, sample, strict=True))
            reference = tuple(
                value if convert is None or value is None else convert(value)
                for value, convert in ((values[k], processors[k]) for k in cls.KEYS)
            )
            if fast != reference or codec.time_of(reference[-1]) != _aware(cast(dt.datetime, read_time(reference[-1]))):
                return None
        return codec

    def params(self, batch: list[_Row]) -> list[tuple[Any, ...]]:
        """The INSERT's parameters of buffered scans (tuples of ``_ROW_COLUMNS``)."""
        signals_json = self._signals_json
        return [
            (
                gtin, serial, lot, verdict, 1 if suspect else 0, signals_json(signals), channel, country, latitude,
                longitude, at.isoformat(" ", "microseconds")[:26],
            )
            for gtin, serial, lot, verdict, suspect, signals, channel, at, country, latitude, longitude in batch
        ]  # fmt: skip

    @staticmethod
    def time_of(stored: str) -> dt.datetime:
        """A stored ``scanned_at``, in UTC (parsed with its offset: ``replace`` costs 5 times more)."""
        return dt.datetime.fromisoformat(stored + "+00:00")


@dataclass(frozen=True, slots=True)
class Place:
    """A coarse place: a country and optionally a cell of about 11 km (one decimal of degree)."""

    country: str
    latitude: float | None = None
    longitude: float | None = None

    @property
    def key(self) -> str:
        if self.latitude is None or self.longitude is None:
            return self.country
        return f"{self.country}:{self.latitude:.1f},{self.longitude:.1f}"


def _place_key(country: str | None, latitude: float | None, longitude: float | None) -> str | None:
    """The :attr:`Place.key` of a stored scan's place columns (None: no place given)."""
    return None if country is None else Place(country, latitude, longitude).key


def parse_place(value: str | None, *, field: str = "place") -> Place | None:
    """``"DE"`` or ``"DE;52.52,13.40"`` (also ``:``, ``@`` or a space before the coordinates)
    to a :class:`Place`; coordinates are rounded to one decimal. Raises InvalidInput."""
    if value is None or value == "":
        return None
    match = _PLACE.match(value.strip())
    if match is None:
        raise InvalidInput(
            "verify.invalid_place", field, "place must be an ISO country code, optionally with 'lat,lon' (DE;52.5,13.4)"
        )
    country, lat, lon = match.group(1).upper(), match.group(2), match.group(3)
    if lat is None or lon is None:
        return Place(country)
    latitude, longitude = float(lat), float(lon)
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise InvalidInput("verify.invalid_place", field, "latitude must be within ±90 and longitude within ±180")
    return Place(country, round(latitude, 1), round(longitude, 1))


@dataclass(frozen=True, slots=True)
class SignalSettings:
    clone_places: int = 3
    clone_window: dt.timedelta = dt.timedelta(hours=72)
    dispensed_scans: int = 3


class ScanHistory:
    """Recent scans of one serial, summarised: the last time each place was seen (at most
    ``max_places``), the times of the last ``max_times`` scans, and when a scan first saw the
    serial dispensed (by our clock, the one scans are timed by: the chain's block time of the
    dispense may run ahead of it). Constant work per scan. A scan added again (the same time and
    place, read back from the database) changes nothing, so histories can be topped up."""

    __slots__ = ("_keys", "_seen", "first_dispensed", "loaded_at", "places", "read_until", "times")

    def __init__(self, loaded_at: float = 0.0, max_times: int = 64) -> None:
        self.loaded_at = loaded_at
        self.read_until: dt.datetime | None = None  # wall clock of the last database read
        self.places: dict[str, dt.datetime] = {}
        self.times: deque[dt.datetime] = deque(maxlen=max_times)
        self._keys: deque[tuple[dt.datetime, str | None]] = deque(maxlen=max_times)
        self._seen: set[tuple[dt.datetime, str | None]] = set()
        self.first_dispensed: dt.datetime | None = None

    def add(self, at: dt.datetime, place: str | None, max_places: int = 64, *, dispensed: bool = False) -> None:
        key = (at, place)
        if key in self._seen:
            return
        if len(self._keys) == self._keys.maxlen:
            self._seen.discard(self._keys[0])
        self._keys.append(key)
        self._seen.add(key)
        self.times.append(at)
        if dispensed and (self.first_dispensed is None or at < self.first_dispensed):
            self.first_dispensed = at
        if place is None:
            return
        if place not in self.places and len(self.places) >= max_places:
            oldest = min(self.places, key=self.places.__getitem__)
            del self.places[oldest]
        previous = self.places.get(place)
        if previous is None or at > previous:
            self.places[place] = at

    @classmethod
    def of(cls, scans: list[tuple[dt.datetime, str | None]]) -> ScanHistory:
        history = cls()
        for at, place in scans:
            history.add(at, place)
        return history


def compute_signals(
    verdict: Verdict,
    gtin_known: bool,
    history: ScanHistory,
    dispensed_at: dt.datetime | None,
    now: dt.datetime,
    settings: SignalSettings,
) -> list[str]:
    """The clone/suspect signals of a verification; ``history`` includes this scan."""
    signals: list[str] = []
    if verdict is Verdict.UNKNOWN and gtin_known:
        signals.append("unknown_serial_of_known_gtin")
    if verdict is Verdict.MISMATCH:
        signals.append("label_mismatch")
    if len(history.places) > settings.clone_places:
        since = now - settings.clone_window
        if sum(1 for at in history.places.values() if at >= since) > settings.clone_places:
            signals.append("many_places")
    if verdict is Verdict.DISPENSED:
        # From the first scan that saw it dispensed, when known: same clock as the scans' times.
        start = history.first_dispensed if history.first_dispensed is not None else dispensed_at
        after = [at for at in history.times if start is None or at >= start]
        after_places = [p for p, at in history.places.items() if start is None or at >= start]
        if len(after) > settings.dispensed_scans or len(after_places) > 1:
            signals.append("scanned_after_dispense")
    return signals


class ScanLog:
    """Buffers scans, writes them in batches, and keeps recent scans per serial for signals."""

    def __init__(
        self,
        engine: Engine,
        settings: SignalSettings,
        reload_after: float = 1.0,
        flush_interval: float = 2.0,
        max_serials: int = 100_000,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.reload_after = reload_after
        self.max_serials = max_serials
        self._pending: list[_Row] = []
        # the same rows by serial: a history reload adds this process's unflushed scans of one
        # serial without walking the whole buffer
        self._pending_by_serial: dict[tuple[str, str | None], list[_Row]] = {}
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._histories: dict[tuple[str, str], ScanHistory] = {}
        self._stale: set[tuple[str, str]] = set()  # histories for the flush thread to reload
        self._follow_ids = engine.dialect.name == "sqlite"
        self._sqlite = _SqliteScans.of(engine) if self._follow_ids else None
        if self._follow_ids:  # follow()'s statements, compiled once for the driver
            self._tail_sql = (_DriverSql.of(_TAIL_Q, engine), _DriverSql.of(_TAIL_BELOW_Q, engine))
            self._read_time = _time_reader(engine)
        # SQLite: the last scan id the flush thread has read (None: to be read, see follow())
        self._tail_after: int | None = None
        # SQLite: id ranges (first, last) of the scans this process wrote and follow() has not
        # passed yet. One flush is one transaction of SQLite's single writer: its ids are contiguous.
        self._own_ids: deque[tuple[int, int]] = deque()
        if self._follow_ids:
            with contextlib.suppress(Exception):  # a database not reachable yet: follow() will read it
                self._tail_after = self._max_id()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(flush_interval,), daemon=True, name="scan-flush")
        self._thread.start()
        atexit.register(self.close)

    # ------------------------------------------------------------------ recording

    def observe(
        self,
        *,
        gtin: str,
        serial: str | None,
        lot: str | None,
        verdict: Verdict,
        gtin_known: bool,
        dispensed_at: dt.datetime | None,
        place: Place | None,
        channel: str,
        now: dt.datetime,
    ) -> list[str]:
        """Records one scan and returns its signals."""
        place_key = None if place is None else place.key
        history = self._history(gtin, serial) if serial is not None else ScanHistory()
        with self._lock:  # with the buffer in step: a reload merges what is buffered
            history.add(now, place_key, dispensed=verdict is Verdict.DISPENSED)
            signals = compute_signals(verdict, gtin_known, history, dispensed_at, now, self.settings)
        row: _Row = (
            gtin, serial, lot, verdict.value, bool(signals), tuple(signals), channel, now,
            None if place is None else place.country,
            None if place is None else place.latitude,
            None if place is None else place.longitude,
        )  # fmt: skip
        with self._lock:
            self._pending.append(row)
            self._pending_by_serial.setdefault((gtin, serial), []).append(row)
        return signals

    def is_warm(self, gtin: str, serial: str) -> bool:
        return (gtin, serial) in self._histories

    def _history(self, gtin: str, serial: str) -> ScanHistory:
        key = (gtin, serial)
        entry = self._histories.get(key)
        if entry is None:  # first sight: the database's history, now
            with self._lock:  # buffered before the read: a flush during the read must not hide them
                earlier = list(self._pending_by_serial.get(key, ()))
            read_at = dt.datetime.now(dt.UTC)
            stored = self._stored(gtin, serial, read_at - self.settings.clone_window)
            entry = ScanHistory(time.monotonic())
            entry.read_until = read_at
            with self._lock:
                self._add(entry, stored, [*earlier, *self._pending_by_serial.get(key, ())])
            if len(self._histories) >= self.max_serials:
                self._histories.clear()
            self._histories[key] = entry
        elif not self._follow_ids and time.monotonic() - entry.loaded_at >= self.reload_after:
            self._stale.add(key)
        return entry

    def _stored(self, gtin: str, serial: str, since: dt.datetime) -> list[tuple[dt.datetime, str | None, bool]]:
        """The serial's scans in the database since ``since``, oldest first: (time, place, dispensed)."""
        with self.engine.connect() as conn:
            rows = conn.execute(_HISTORY_Q, {"gtin": gtin, "serial": serial, "since": since}).all()
        return [
            (
                _aware(row.scanned_at),
                _place_key(row.country, row.latitude, row.longitude),
                row.verdict == _DISPENSED,
            )
            for row in reversed(rows)
        ]

    @staticmethod
    def _add(history: ScanHistory, stored: list[tuple[dt.datetime, str | None, bool]], buffered: list[_Row]) -> None:
        """Adds scans read from the database and buffered rows (a scan in both counts once)."""
        for at, place, dispensed in stored:
            history.add(at, place, dispensed=dispensed)
        for row in buffered:
            place = _place_key(row[_COUNTRY], row[_COUNTRY + 1], row[_COUNTRY + 2])
            history.add(row[_AT], place, dispensed=row[_VERDICT] == _DISPENSED)

    def refresh(self) -> int:
        """Adds other replicas' stored scans to the histories in memory (see the module's notes);
        returns how many rows (SQLite) or histories (other databases) it read."""
        return self.follow() if self._follow_ids else self.reload_stale()

    def follow(self) -> int:
        """SQLite: reads the scans stored since the last one read, by id, once each, and adds each
        to its serial's history when one is in memory. This process's own scans are in them
        already: the id ranges its flushes wrote are not read. Returns the rows read."""
        if self._tail_after is None:
            # scans stored before now are in no history: the histories in memory, possibly made
            # before some of them were stored, are dropped and read again on their next sight
            self._tail_after = self._max_id()
            with self._lock:
                self._histories.clear()
            return 0
        read = 0
        own = self._own_ids
        while True:
            tail = self._tail_after
            while own and own[0][0] <= tail + 1:  # this process's own rows come next: not read
                tail = max(tail, own.popleft()[1])
            self._tail_after = tail
            below = own[0][0] if own else None  # read up to this process's next own rows
            rows = self._tail(tail, below)
            read += len(rows)
            histories = self._histories
            to_time = self._to_time if self._sqlite is None else self._sqlite.time_of
            updates = []
            # (id, gtin, serial, scanned_at as stored, country, latitude, longitude, verdict)
            for _, gtin, serial, at, country, latitude, longitude, verdict in rows:
                entry = histories.get((gtin, serial))
                if entry is not None:
                    place = None if country is None else _place_key(country, latitude, longitude)
                    updates.append((entry, to_time(at), place, verdict == _DISPENSED))
            # In short turns of the lock: verifications wait for it (observe), and a whole
            # batch under it stalled every request in flight for tens of milliseconds.
            for start in range(0, len(updates), _APPLY_CHUNK):
                with self._lock:
                    for entry, at, place, dispensed in updates[start : start + _APPLY_CHUNK]:
                        entry.add(at, place, dispensed=dispensed)
                time.sleep(0)  # hand the interpreter to the event loop between turns
            if len(rows) == _TAIL_BATCH:
                self._tail_after = rows[-1][0]
            elif below is not None:
                # every row before this process's flush was committed before it: all read
                self._tail_after = below - 1
            else:
                if rows:
                    self._tail_after = rows[-1][0]
                return read

    def _tail(self, after: int, below: int | None) -> list[tuple[Any, ...]]:
        """The scans with ids after ``after`` (and below ``below``), by id, as the driver returns
        them: through a DB-API cursor, since result rows and their processing cost several times
        the reading (SQLite only, like :meth:`follow`)."""
        statement = self._tail_sql[below is not None]
        args = statement.args({"after": after, "below": below, "limit": _TAIL_BATCH})
        with self.engine.connect() as conn:
            cursor = conn.connection.cursor()
            try:
                cursor.execute(statement.sql, args)
                return list(cursor.fetchall())
            finally:
                cursor.close()

    def _to_time(self, stored: Any) -> dt.datetime:
        """A ``scanned_at`` as the driver returned it, as the column type reads it, in UTC."""
        at = stored if self._read_time is None else self._read_time(stored)
        return _aware(cast(dt.datetime, at))

    def _max_id(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(_MAX_ID_Q).scalar_one())

    def reload_stale(self, limit: int = 2000) -> int:
        """Tops up the histories found stale with the scans stored since their last read (other
        replicas' scans: this process's own are in them already), with an overlap of
        ``RELOAD_OVERLAP`` for scans flushed late. Called by the flush thread after each flush."""
        done = 0
        while self._stale and done < limit:
            key = self._stale.pop()
            entry = self._histories.get(key)
            if entry is None:
                continue
            read_at = dt.datetime.now(dt.UTC)
            since = read_at - self.settings.clone_window
            if entry.read_until is not None:
                since = max(since, entry.read_until - RELOAD_OVERLAP)
            stored = self._stored(*key, since)
            with self._lock:
                self._add(entry, stored, [])
                entry.read_until = read_at
                entry.loaded_at = time.monotonic()
            done += 1
        return done

    def flush(self) -> int:
        """Writes the buffered scans; returns how many."""
        with self._flush_lock:
            with self._lock:
                batch, self._pending = self._pending, []
                self._pending_by_serial = {}
            if not batch:
                return 0
            try:
                with self.engine.begin() as conn:
                    if self._sqlite is not None:
                        conn.exec_driver_sql(self._sqlite.sql, self._sqlite.params(batch))
                    else:
                        bulk_insert_tuples(conn, _SCANS, _ROW_COLUMNS, batch)
                    if self._follow_ids:
                        last = int(conn.execute(_MAX_ID_Q).scalar_one())
                        self._own_ids.append((last - len(batch) + 1, last))
            except Exception:
                with self._lock:  # keep them for the next flush rather than lose them
                    self._pending[:0] = batch
                    self._pending_by_serial = {}
                    for row in self._pending:
                        self._pending_by_serial.setdefault((row[0], row[1]), []).append(row)
                raise
            return len(batch)

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.flush()
                self.refresh()
            except Exception:  # the database may be briefly locked or gone at shutdown; retry later
                continue

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=5)
        with contextlib.suppress(Exception):  # the database may be gone at interpreter exit
            self.flush()

    # ------------------------------------------------------------------ reports

    def report(
        self,
        *,
        gtin: str,
        serial: str,
        lot: str | None,
        expiry: dt.date | None,
        description: str,
        place: Place | None,
        verdict: Verdict,
    ) -> str:
        """Stores a consumer's suspect-product report; returns its id."""
        report_id = str(uuid.uuid4())
        with self.engine.begin() as conn:
            conn.execute(
                insert(_REPORTS).values(
                    report_id=report_id,
                    gtin=gtin,
                    serial=serial,
                    lot=lot,
                    expiry=expiry,
                    description=description,
                    country=None if place is None else place.country,
                    latitude=None if place is None else place.latitude,
                    longitude=None if place is None else place.longitude,
                    verdict=verdict.value,
                    reported_at=dt.datetime.now(dt.UTC),
                )
            )
        return report_id

    def suspects(self, gtins: list[str] | None, since: dt.datetime, limit: int) -> dict[str, Any]:
        """Reports and suspect scans since ``since`` (all GTINs, or only ``gtins``), newest first;
        suspect scans grouped by GTIN and serial."""
        self.flush()
        r = _REPORTS.c
        reports_q = select(_REPORTS).where(r.reported_at >= since).order_by(r.reported_at.desc()).limit(limit)
        scans_q = suspect_scans_query(since, limit * 20, gtins)
        if gtins is not None:
            reports_q = reports_q.where(r.gtin.in_(gtins))
        with self.engine.connect() as conn:
            reports = [dict(row._mapping) for row in conn.execute(reports_q)]
            scan_rows = conn.execute(scans_q).all()
        grouped: dict[tuple[str, str | None], dict[str, Any]] = {}
        for row in scan_rows:
            key = (row.gtin, row.serial)
            item = grouped.get(key)
            at = _aware(row.scanned_at)
            if item is None:
                if len(grouped) >= limit:
                    continue
                item = grouped[key] = {
                    "gtin": row.gtin, "serial": row.serial, "scans": 0, "signals": set(), "verdicts": set(),
                    "countries": set(), "first_scan_at": at, "last_scan_at": at,
                }  # fmt: skip
            item["scans"] += 1
            item["signals"].update(row.signals or [])
            item["verdicts"].add(row.verdict)
            if row.country:
                item["countries"].add(row.country)
            item["first_scan_at"] = min(item["first_scan_at"], at)
        for item in grouped.values():
            for name in ("signals", "verdicts", "countries"):
                item[name] = sorted(item[name])
        for report in reports:
            report["reported_at"] = _aware(report["reported_at"])
        return {"reports": reports, "suspect_serials": list(grouped.values())}


def suspect_scans_query(since: dt.datetime, limit: int, gtins: list[str] | None = None) -> Select[Any]:
    """Suspect scans since ``since``, newest first: read through the partial index of suspect
    rows (``ix_verification_scans_suspect_at``), which no other scan writes to."""
    s = _SCANS.c
    query = (
        select(s.gtin, s.serial, s.verdict, s.signals, s.country, s.scanned_at)
        .where(s.suspect.is_(True), s.scanned_at >= since)
        .order_by(s.scanned_at.desc())
        .limit(limit)
    )
    return query if gtins is None else query.where(s.gtin.in_(gtins))


def _time_reader(engine: Engine) -> Callable[[Any], Any] | None:
    """How ``engine``'s dialect reads a stored ``scanned_at`` (None: the driver's value is a datetime)."""
    return _SCANS.c.scanned_at.type.dialect_impl(engine.dialect).result_processor(engine.dialect, None)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
