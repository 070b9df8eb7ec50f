"""Streaming ``multipart/form-data``: parts read one at a time from an async request body.

Starlette's ``request.form()`` spools every file part before the handler runs and has no limit
on file size, so an oversized upload would fill the disk before it could be refused. This
reader is pull-based instead: the caller asks for the next part and then for its bytes, the
body is read from the network only as fast as the caller consumes it, and a size limit stops
reading at the first byte too many.

``ChunkSource`` bridges to synchronous code: a store ``add`` running in a worker thread
(``anyio.to_thread.run_sync``) pulls the part's bytes from the event loop with
``anyio.from_thread.run``, in batches of about 1 MiB so the hop costs little per byte.
Nothing here depends on FastAPI or Starlette.
"""

from __future__ import annotations

import io
import tempfile
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import IO

import anyio.from_thread
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from gateway.documents.errors import TooLarge
from gateway.documents.service_errors import InvalidUpload, UnsupportedMediaType

__all__ = ["ChunkSource", "MultipartReader", "Part", "PartFile", "read_field", "spool_part"]

_BATCH = 1 << 20
_SPOOL_IN_MEMORY = 1 << 20


@dataclass(frozen=True, slots=True)
class Part:
    """One part's headers (names lower-cased)."""

    headers: dict[str, str]

    @property
    def name(self) -> str:
        return self._disposition().get("name", "")

    @property
    def filename(self) -> str | None:
        return self._disposition().get("filename")

    @property
    def content_type(self) -> str | None:
        value = self.headers.get("content-type")
        return value.split(";")[0].strip().lower() if value else None

    def _disposition(self) -> dict[str, str]:
        _, params = parse_options_header(self.headers.get("content-disposition", "").encode("utf-8"))
        return {k.decode("latin-1"): v.decode("utf-8", "replace") for k, v in params.items()}


def boundary_of(content_type: str | None) -> bytes:
    """The boundary of a ``multipart/form-data`` content type (``UnsupportedMediaType`` otherwise)."""
    kind, params = parse_options_header(content_type or "")
    if kind != b"multipart/form-data":
        shown = (kind or b"none").decode("latin-1")
        raise UnsupportedMediaType(f"expected multipart/form-data, got {shown}")
    boundary = params.get(b"boundary")
    if not boundary:
        raise InvalidUpload("multipart/form-data without a boundary")
    return boundary


class MultipartReader:
    """Pull parser over an async body. ``next_part`` skips whatever is left of the current part."""

    def __init__(self, content_type: str | None, body: AsyncIterator[bytes]) -> None:
        self._events: deque[tuple[str, object]] = deque()
        self._body = body.__aiter__()
        self._eof = False
        self._in_part = False
        self._field = bytearray()
        self._value = bytearray()
        self._headers: dict[str, str] = {}
        self.body_bytes = 0
        self._parser = MultipartParser(
            boundary_of(content_type),
            callbacks={
                "on_part_begin": self._on_part_begin,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
                "on_end": self._on_end,
            },
        )

    # -- parser callbacks ---------------------------------------------------------------------

    def _on_part_begin(self) -> None:
        self._headers = {}

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _on_header_end(self) -> None:
        self._headers[self._field.decode("latin-1").lower()] = self._value.decode("utf-8", "replace")
        self._field.clear()
        self._value.clear()

    def _on_headers_finished(self) -> None:
        self._events.append(("part", Part(self._headers)))

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if end > start:
            self._events.append(("data", bytes(data[start:end])))

    def _on_part_end(self) -> None:
        self._events.append(("end", None))

    def _on_end(self) -> None:
        self._events.append(("eof", None))

    # -- pulling ------------------------------------------------------------------------------

    async def _next_event(self) -> tuple[str, object]:
        while not self._events:
            if self._eof:
                raise InvalidUpload("the multipart body ended before its closing boundary")
            try:
                chunk = await self._body.__anext__()
            except StopAsyncIteration:
                self._eof = True
                continue
            self.body_bytes += len(chunk)
            try:
                self._parser.write(chunk)
            except MultipartParseError as exc:
                raise InvalidUpload(f"malformed multipart body: {exc}") from None
        return self._events.popleft()

    async def next_part(self) -> Part | None:
        """The next part's headers, or None after the last part."""
        while True:
            kind, value = await self._next_event()
            if kind == "part":
                self._in_part = True
                assert isinstance(value, Part)
                return value
            if kind == "eof":
                self._in_part = False
                return None

    async def read(self, size: int = _BATCH) -> bytes:
        """About ``size`` more bytes of the current part (fewer only at its end); b"" once it ended.
        Batching matters: each call is one event-loop hop for a worker thread."""
        pieces: list[bytes] = []
        have = 0
        while self._in_part and have < size:
            kind, value = await self._next_event()
            if kind == "data":
                assert isinstance(value, bytes)
                pieces.append(value)
                have += len(value)
            else:
                self._in_part = False
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)


async def read_field(reader: MultipartReader, name: str, limit: int = 64 * 1024) -> str:
    """The current part's value as text (a form field), at most ``limit`` bytes."""
    data = bytearray()
    while chunk := await reader.read():
        data += chunk
        if len(data) > limit:
            raise InvalidUpload(f"form field {name!r} is longer than {limit} bytes", field=name)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidUpload(f"form field {name!r} is not UTF-8", field=name) from None


class ChunkSource:
    """The current part's bytes as a synchronous iterator, for a worker thread started by
    ``anyio.to_thread.run_sync``; raises ``TooLarge`` past ``limit`` bytes."""

    def __init__(self, reader: MultipartReader, limit: int | None) -> None:
        self.reader = reader
        self.limit = limit
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        while chunk := anyio.from_thread.run(self.reader.read):
            self.size += len(chunk)
            if self.limit is not None and self.size > self.limit:
                raise TooLarge(f"the upload is larger than the {self.limit}-byte limit", limit=self.limit)
            yield chunk


def spool_part(source: ChunkSource) -> IO[bytes]:
    """Copies the part into a temporary file (memory up to 1 MiB, then disk), rewound. Runs in
    a worker thread; the caller closes the file."""
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
    try:
        for chunk in source:
            spool.write(chunk)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return spool


class PartFile(io.RawIOBase):
    """A binary file view of a multipart part, for ``CarReader`` (in a worker thread)."""

    def __init__(self, source: ChunkSource) -> None:
        super().__init__()
        self._chunks = iter(source)
        self._buffer = bytearray()

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1, /) -> bytes:
        if size is None:
            size = -1
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, b"")
            if not chunk:
                break
            self._buffer += chunk
        if size < 0:
            size = len(self._buffer)
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data
