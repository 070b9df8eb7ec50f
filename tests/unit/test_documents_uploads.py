"""The streaming multipart reader: parts in order, bytes exact however the body is split, limits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import anyio.to_thread
import pytest

from gateway.documents.errors import TooLarge
from gateway.documents.service_errors import InvalidUpload, UnsupportedMediaType
from gateway.documents.uploads import ChunkSource, MultipartReader, Part, read_field, spool_part
from tests.unit.documents.unixfs_reference import pseudo_random

BOUNDARY = "----b0undary"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def body(*parts: tuple[dict[str, str], bytes]) -> bytes:
    out = b""
    for headers, data in parts:
        out += f"--{BOUNDARY}\r\n".encode()
        out += b"".join(f"{k}: {v}\r\n".encode() for k, v in headers.items()) + b"\r\n" + data + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


def field(name: str, value: str) -> tuple[dict[str, str], bytes]:
    return {"Content-Disposition": f'form-data; name="{name}"'}, value.encode()


def file(name: str, filename: str, data: bytes, content_type: str = "application/pdf") -> tuple[dict[str, str], bytes]:
    return {
        "Content-Disposition": f'form-data; name="{name}"; filename="{filename}"',
        "Content-Type": content_type,
    }, data


async def split(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def run(fn: Callable[[], Any]) -> Any:
    return anyio.run(fn)


@pytest.mark.parametrize("piece", [1, 7, 4096, 1 << 20])
def test_parts_come_out_exactly_however_the_body_is_split(piece: int) -> None:
    payload = pseudo_random(300_000, seed=piece) + f"\r\n--{BOUNDARY}".encode()[:-1]  # a near-boundary inside
    raw = body(field("document_type", "invoice"), file("file", "a.pdf", payload), field("object", "urn:x"))

    async def main() -> list[tuple[str, str | None, str | None, bytes]]:
        reader = MultipartReader(CONTENT_TYPE, split(raw, piece))
        seen = []
        while (part := await reader.next_part()) is not None:
            data = b""
            while chunk := await reader.read():
                data += chunk
            seen.append((part.name, part.filename, part.content_type, data))
        return seen

    assert run(main) == [
        ("document_type", None, None, b"invoice"),
        ("file", "a.pdf", "application/pdf", payload),
        ("object", None, None, b"urn:x"),
    ]


def test_next_part_skips_what_was_not_read() -> None:
    raw = body(file("file", "big", b"x" * 100_000), field("after", "yes"))

    async def main() -> str:
        reader = MultipartReader(CONTENT_TYPE, split(raw, 1000))
        first = await reader.next_part()
        assert first is not None and first.name == "file"
        second = await reader.next_part()
        assert second is not None
        return await read_field(reader, second.name)

    assert run(main) == "yes"


def test_not_multipart_or_no_boundary() -> None:
    with pytest.raises(UnsupportedMediaType):
        MultipartReader("application/json", split(b"{}", 10))
    with pytest.raises(UnsupportedMediaType):
        MultipartReader(None, split(b"", 10))
    with pytest.raises(InvalidUpload):
        MultipartReader("multipart/form-data", split(b"", 10))


@pytest.mark.parametrize(
    "raw",
    [
        b"--" + BOUNDARY.encode() + b'\r\nContent-Disposition: form-data; name="a"\r\n\r\nunfinished',
        b"no boundary anywhere",
    ],
)
def test_a_truncated_or_malformed_body_is_invalid(raw: bytes) -> None:
    async def main() -> None:
        reader = MultipartReader(CONTENT_TYPE, split(raw, 5))
        while await reader.next_part() is not None:
            while await reader.read():
                pass

    with pytest.raises(InvalidUpload):
        run(main)


def test_field_limits() -> None:
    raw = body(field("object", "x" * 70_000))

    async def main() -> str:
        reader = MultipartReader(CONTENT_TYPE, split(raw, 4096))
        part = await reader.next_part()
        assert part is not None
        return await read_field(reader, part.name)

    with pytest.raises(InvalidUpload, match="longer"):
        run(main)


@pytest.mark.parametrize(("size", "limit", "fits"), [(100_000, 100_000, True), (100_001, 100_000, False)])
def test_chunk_source_pulls_from_a_worker_thread_within_the_limit(size: int, limit: int, fits: bool) -> None:
    payload = pseudo_random(size, seed=3)
    raw = body(file("file", "f", payload))

    async def main() -> bytes:
        reader = MultipartReader(CONTENT_TYPE, split(raw, 65536))
        assert await reader.next_part() is not None
        spool = await anyio.to_thread.run_sync(spool_part, ChunkSource(reader, limit))
        with spool:
            data: bytes = spool.read()
        return data

    if fits:
        assert run(main) == payload
    else:
        with pytest.raises(TooLarge):
            run(main)


def test_part_headers() -> None:
    part = Part({"content-disposition": 'form-data; name="file"; filename="r\u00e9sum\u00e9.pdf"',
                 "content-type": "Application/PDF; charset=binary"})  # fmt: skip
    assert (part.name, part.filename, part.content_type) == ("file", "r\u00e9sum\u00e9.pdf", "application/pdf")
    assert Part({}).name == "" and Part({}).filename is None and Part({}).content_type is None
