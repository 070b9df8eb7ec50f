"""Blocks on disk, one file per block, laid out like Kubo's flatfs.

``blocks/<XY>/<KEY>.data`` where KEY is the unpadded upper-case base32 of the block's
multihash (``CIQ…``) and XY its next-to-last two characters (flatfs ``next-to-last/2``), so the
~1000 shard directories stay small and the files match what Kubo writes. Keying by multihash,
not CID, means the same bytes are stored once whichever CID version or codec names them.

Writes are atomic: a block is written under ``tmp/`` and renamed into place, so a reader
never sees half a block. When the store is durable each block is fsynced *before* its rename
(a named block file is always complete, even after a power cut), and the batch's directories
are fsynced at commit — before the caller records a pin. Per-block fsync sounds costly, but an
acknowledged add must have every byte on disk anyway, so the total is the same as one flush
at the end; doing it block by block on the writer thread lets it overlap the hashing.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import os
import queue
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType

from gateway.documents.blocks import BlockLocation, Layout
from gateway.documents.cid import SHA2_256, Cid, multihash_sha256
from gateway.documents.errors import BlockNotFound, IntegrityError, StorageError

__all__ = ["BlockWriter", "FlatFSBlockstore"]

_SHARDING = "/repo/flatfs/shard/v1/next-to-last/2\n"
_TMP_SUFFIX = ".tmp"
_tmp_names = itertools.count()
_SEEN_LIMIT = 65536


def _key(multihash: bytes) -> str:
    return base64.b32encode(multihash).decode("ascii").rstrip("=")


def _multihash_of_key(key: str) -> bytes | None:
    try:
        raw = base64.b32decode(key + "=" * (-len(key) % 8))
    except ValueError:
        return None
    return raw if len(raw) == 34 and raw[0] == SHA2_256 and raw[1] == 32 else None


def _fsync_path(path: str, *, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, parts: Sequence[bytes]) -> None:
    pending = [memoryview(p) for p in parts if len(p)]
    while pending:
        n = os.writev(fd, pending)
        while pending and n >= len(pending[0]):
            n -= len(pending[0])
            pending.pop(0)
        if pending and n:
            pending[0] = pending[0][n:]


class FlatFSBlockstore:
    """Content-addressed block files under ``root``; every ``get`` verifies the hash.

    Paths are handled as ``str`` internally: pathlib costs tens of microseconds per block,
    which shows at thousands of blocks per GiB.
    """

    layout: Layout = "flatfs"

    def __init__(self, root: Path, *, durable: bool = True) -> None:
        self.root = root
        self.blocks_dir = root / "blocks"
        self.tmp_dir = root / "tmp"
        self.durable = durable
        self._blocks = str(self.blocks_dir)
        self._tmp = str(self.tmp_dir)
        self._known_shards: set[str] = set()
        try:
            self.blocks_dir.mkdir(parents=True, exist_ok=True)
            self.tmp_dir.mkdir(exist_ok=True)
            sharding = self.blocks_dir / "SHARDING"
            if not sharding.exists():
                sharding.write_text(_SHARDING)
        except OSError as exc:
            raise StorageError(f"cannot initialise the block store at {root}: {exc}") from exc

    def _path(self, multihash: bytes) -> tuple[str, str]:
        key = _key(multihash)
        shard = f"{self._blocks}/{key[-3:-1]}"
        return shard, f"{shard}/{key}.data"

    def path_of(self, multihash: bytes) -> Path:
        return Path(self._path(multihash)[1])

    def has(self, cid: Cid) -> bool:
        return os.path.isfile(self._path(cid.multihash)[1])

    def size_of(self, cid: Cid) -> int:
        try:
            return os.stat(self._path(cid.multihash)[1]).st_size
        except FileNotFoundError:
            raise BlockNotFound(f"block {cid} is not in the store", cid=str(cid)) from None

    def get(self, cid: Cid) -> bytes:
        """The block's bytes, after checking they still hash to ``cid``."""
        path = self._path(cid.multihash)[1]
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            raise BlockNotFound(f"block {cid} is not in the store", cid=str(cid)) from None
        except OSError as exc:
            raise StorageError(f"cannot read block {cid}: {exc}") from exc
        if multihash_sha256(hashlib.sha256(data).digest()) != cid.multihash:
            raise IntegrityError(f"block {cid} on disk does not match its hash ({path})", cid=str(cid))
        return data

    def head(self, cid: Cid, size: int) -> bytes:
        """The first ``size`` bytes of a block, unverified: for walks that only need to know
        whether a dag-pb block starts with links (see ``DagReader.reachable``)."""
        try:
            with open(self._path(cid.multihash)[1], "rb") as fh:
                return fh.read(size)
        except FileNotFoundError:
            raise BlockNotFound(f"block {cid} is not in the store", cid=str(cid)) from None
        except OSError as exc:
            raise StorageError(f"cannot read block {cid}: {exc}") from exc

    def locate(self, cid: Cid) -> BlockLocation:
        return BlockLocation(self.path_of(cid.multihash), 0, self.size_of(cid))

    def writer(self, *, background: bool = True) -> BlockWriter:
        return BlockWriter(self, background=background)

    def put(self, cid: Cid, parts: Sequence[bytes]) -> None:
        """Stores one block (a one-block batch, committed)."""
        with self.writer(background=False) as w:
            w.put(cid, parts)

    def delete(self, multihash: bytes) -> int:
        """Removes a block file; returns the bytes freed (0 if it was not there)."""
        path = self._path(multihash)[1]
        try:
            size = os.stat(path).st_size
            os.unlink(path)
        except FileNotFoundError:
            return 0
        return size

    def delete_many(self, multihashes: Iterable[bytes]) -> tuple[int, int]:
        removed = freed = 0
        for multihash in multihashes:
            freed += self.delete(multihash)
            removed += 1
        return removed, freed

    def finish_gc(self) -> None:
        self.clear_tmp()

    def iter_multihashes(self) -> Iterator[bytes]:
        """Every stored block's multihash; files that are not blocks are ignored."""
        for shard in os.scandir(self._blocks):
            if not shard.is_dir():
                continue
            for entry in os.scandir(shard.path):
                name = entry.name
                if name.endswith(".data") and (mh := _multihash_of_key(name[:-5])) is not None:
                    yield mh

    def clear_tmp(self) -> int:
        """Drops temp files left by interrupted writes; only safe while no writer runs."""
        removed = 0
        for entry in os.scandir(self._tmp):
            if entry.is_file() and entry.name.endswith(_TMP_SUFFIX):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed += 1
        return removed

    # -- used by BlockWriter --------------------------------------------------------------------

    def _intact(self, path: str, size: int, multihash: bytes) -> bool:
        """Whether ``path`` already holds the block. A same-size file is re-hashed, so writing
        content again (re-add, CAR import) repairs a damaged copy instead of trusting it."""
        try:
            if os.stat(path).st_size != size:
                return False
            with open(path, "rb") as fh:
                digest = hashlib.file_digest(fh, "sha256").digest()
        except FileNotFoundError:
            return False
        return multihash_sha256(digest) == multihash

    def _store(self, cid: Cid, parts: Sequence[bytes]) -> tuple[str, bool] | None:
        """Writes one block unless an intact copy exists. Returns (shard dir, whether that dir
        was created) for a block written, None for one skipped."""
        shard, path = self._path(cid.multihash)
        if self._intact(path, sum(len(p) for p in parts), cid.multihash):
            return None
        created = False
        if shard not in self._known_shards:
            if not os.path.isdir(shard):
                with contextlib.suppress(FileExistsError):
                    os.mkdir(shard)
                    created = True
            self._known_shards.add(shard)
        tmp = f"{self._tmp}/{os.getpid()}-{threading.get_ident()}-{next(_tmp_names)}{_TMP_SUFFIX}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            try:
                _write_all(fd, parts)
                if self.durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return shard, created


class BlockWriter:
    """Writes a batch of blocks; ``commit`` makes the batch durable.

    With ``background=True`` blocks go to one writer thread through a small bounded queue (so
    at most ``queue_depth`` blocks wait in memory) and ``put`` returns at once: the file
    creation and fsync waits of this block overlap the hashing of the next one.

    Use as a context manager: leaving normally commits; leaving with an exception stops the
    thread and drops what was still queued (blocks already written stay, unpinned, for GC).
    A block already on disk is re-hashed and skipped when intact; a damaged copy (tampering, or
    a torn write of a non-durable store after a crash) is replaced.
    """

    def __init__(self, store: FlatFSBlockstore, *, background: bool = True, queue_depth: int = 8) -> None:
        self.store = store
        self.blocks_written = 0
        self._background = background
        self._queue: queue.Queue[tuple[Cid, Sequence[bytes]] | None] = queue.Queue(maxsize=queue_depth)
        self._seen: set[bytes] = set()
        self._dirs: set[str] = set()
        self._new_shards = False
        self._error: BaseException | None = None
        self._abort = False
        self._thread: threading.Thread | None = None
        self._closed = False

    def __enter__(self) -> BlockWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    def put(self, cid: Cid, parts: Sequence[bytes]) -> None:
        if self._closed:
            raise RuntimeError("put on a closed BlockWriter")
        self._raise_failure()
        if cid.multihash in self._seen:  # a repeated chunk is written once per batch
            return
        if len(self._seen) >= _SEEN_LIMIT:  # stay flat on huge adds; repeats are then re-checked
            self._seen.clear()
        self._seen.add(cid.multihash)
        if not self._background:
            self._write(cid, parts)
            self._raise_failure()
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="blockstore-writer", daemon=True)
            self._thread.start()
        self._queue.put((cid, parts))

    def commit(self) -> None:
        """Waits for every queued block, then fsyncs the directories that gained entries."""
        self._stop()
        self._raise_failure()
        if not self.store.durable or not self._dirs:
            return
        try:
            for shard in self._dirs:
                _fsync_path(shard, directory=True)
            if self._new_shards:
                _fsync_path(str(self.store.blocks_dir), directory=True)
        except OSError as exc:
            raise StorageError(f"cannot flush the block directories: {exc}") from exc

    def abort(self) -> None:
        self._abort = True
        self._stop()

    def _stop(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()

    def _raise_failure(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is None and not self._abort:  # else drain: put() must never block
                self._write(*item)

    def _write(self, cid: Cid, parts: Sequence[bytes]) -> None:
        try:
            written = self.store._store(cid, parts)
        except OSError as exc:
            self._error = StorageError(f"cannot write block {cid}: {exc}")
            return
        except BaseException as exc:
            self._error = exc
            return
        if written is not None:
            shard, created = written
            self._dirs.add(shard)
            self._new_shards |= created
            self.blocks_written += 1
