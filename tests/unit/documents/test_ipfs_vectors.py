"""The importer reproduces ``ipfs add`` byte for byte.

Two kinds of evidence, kept apart on purpose:

* EXTERNAL vectors: CIDs produced by Kubo/go-ipfs (or published by independent projects that
  check themselves against it), each with its source. They are the ground truth.
* DERIVED vectors: content without a published CID, checked against ``unixfs_reference``, an
  independent encoder in this test directory. The reference is itself validated against the
  external vectors first, so the derived checks are not circular.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence

import pytest

from gateway.documents.cid import Cid
from gateway.documents.dagpb import decode_pbnode, decode_unixfs
from gateway.documents.errors import TooLarge
from gateway.documents.unixfs import CHUNK_SIZE, ImportedFile, import_file, iter_chunks
from tests.unit.documents.unixfs_reference import cid_text, pseudo_random, ref_add

KIB = 1024
MIB = 1024 * 1024
PATTERN = bytes(range(16)) * (CHUNK_SIZE // 16)  # 0x00..0x0f repeated, exactly one chunk


class CollectingSink:
    def __init__(self) -> None:
        self.blocks: dict[bytes, bytes] = {}
        self.puts = 0

    def put(self, cid: Cid, parts: Sequence[bytes]) -> None:
        self.puts += 1
        self.blocks[cid.to_bytes()] = b"".join(parts)


def add(data: bytes, **options: int | bool | None) -> ImportedFile:
    return import_file(io.BytesIO(data), CollectingSink(), **options)  # type: ignore[arg-type]


Options = dict[str, int | bool]
V1: Options = {"cid_version": 1}
V0_RAW: Options = {"raw_leaves": True}
V1_PB: Options = {"cid_version": 1, "raw_leaves": False}

# (content, options, expected CID, source)
EXTERNAL: list[tuple[Callable[[], bytes], dict[str, int | bool], str, str]] = [
    (lambda: b"hello world\n", {}, "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o", "`echo hello world | ipfs add`"),
    (lambda: b"", {}, "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH", "ipfs/js-ipfs#2956 (go-ipfs output)"),
    (
        lambda: b"hello world\n",
        V1,
        "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4",
        "ipfs/js-ipfs#3682 (`ipfs add --cid-version 1`)",
    ),
    (
        lambda: b"",
        V1,
        "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
        "ipfs/js-ipfs#2956; ipld/js-unixfs convergence dataset (go, zero_0B)",
    ),
    (lambda: b"hello world", {}, "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD", "ipfs/kubo test/cli/add_test.go"),
    (
        lambda: b"hello world",
        V1,
        "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e",
        "ipfs/kubo test/cli/add_test.go",
    ),
    (
        lambda: b"hello world",
        V1_PB,
        "bafybeihykld7uyxzogax6vgyvag42y7464eywpf55gxi5qpoisibh3c5wa",
        "ipfs/kubo test/cli/add_test.go (Import.UnixFSRawLeaves=false)",
    ),
    (
        lambda: b"this file does not have much content\n",
        V1_PB,
        "bafybeidequ5soq6smzafv4lb76i5dkvl5fzgvrxz4bmlc2k4dkikklv2j4",
        "ipld/js-unixfs test/file.spec.js",
    ),
    (
        lambda: b"A",
        {},
        "QmRy2a1t6YSCiqXbkUQ1xQtXUQzX4mXmdzjLGey6884Uhb",
        "js-unixfs convergence dataset (go, uicro_1B)",
    ),
    (
        lambda: b"A",
        V1,
        "bafkreicvtlvnbate2v4v2oijoggn2bnl2skxf2cp4vkzb3xtdkekbd677u",
        "js-unixfs convergence dataset (go, uicro_1B)",
    ),
    (
        lambda: b"x",
        {},
        "QmULKig5Fxrs2sC4qt9nNduucXfb92AFYQ6Hi3YRqDmrYC",
        "ethereum/solidity test/libsolutil/IpfsHash.cpp",
    ),
    (
        lambda: b"\x00",
        {},
        "QmS9JArPwa55ePgDnyg6TzX24mYTS1b1vLqWNebyVotKxQ",
        "nu-multiproof tests (recorded, ipfs 0.42)",
    ),
    (
        lambda: b"\xff",
        {},
        "QmarNgpyJHwcrLfjPzFsLiPmLukU3uYqqofHoYHbnUfErn",
        "nu-multiproof tests (recorded, ipfs 0.42)",
    ),
    # all-zero files
    (lambda: bytes(200), {}, "QmSXR1N23uWzsANi8wpxMPw5dmmhqBVUAb4hUrHVLpNaMr", "solidity IpfsHash.cpp"),
    (
        lambda: bytes(1 * KIB),
        {},
        "QmQXesoMt2KWTxnVcGwxqwThSNzBy2gsXr1DANTJtLjc1k",
        "http-vs-ipfs bench script, 1KB.dat",
    ),
    (lambda: bytes(10 * KIB), {}, "QmcqBd6EuU4BiBJkArSFLbNHnM8tbC9vu9a4AbqTq4gHAL", "same bench script, 10KB.dat"),
    (lambda: bytes(100000), {}, "QmYgKa25YqEGpQmmZtPPFMNK3kpqqneHk6nMSEUYryEX1C", "solidity IpfsHash.cpp"),
    (lambda: bytes(262143), {}, "QmbNDspMkzkMFKyS3eCJGedG7GWRQHSCzJCZLjxP7wyVAx", "solidity: largest unchunked"),
    (
        lambda: bytes(256 * KIB),
        {},
        "QmRk1rduJvo5DfEYAaLobS2za9tDszk35hzaNSDCJ74DA7",
        "Rust test: `ipfs add --only-hash`",
    ),
    (lambda: bytes(256 * KIB + 1), {}, "QmbVuw4C4vcmVKqxoWtgDVobvcHrSn51qsmQmyxjk4sB2Q", "solidity: smallest chunked"),
    (
        lambda: bytes(1 * MIB),
        {},
        "QmVkbauSDEaMP4Tkq6Epm9uW75mWm136n81YH8fGtfwdHU",
        "Erlang ipfs client suite vs go-ipfs",
    ),
    (lambda: bytes(1310710), {}, "QmNg7BJo8gEMDK8yGQbHEwPtycesnE6FUULX5iVd5TAL9f", "solidity IpfsHash.cpp"),
    (lambda: bytes(10 * MIB), {}, "QmaJ6kN9fW3TKpVkpf1NuW7cjhHjNp5Jwr3cQuHzsoZWkJ", "bench script, 10MB.dat"),
    (lambda: bytes(1), V1, "bafkreidogqfzz75tpkmjzjke425xqcrmpcib2p5tg44hnbirumdbpl5adu", "pinata CID predictor tests"),
    (
        lambda: bytes(256 * KIB),
        V1,
        "bafkreiekhhjkxu4ztk3tyng3er3ijhg56mb44oe3gwbgquhzu4afrg2ksa",
        "ipi / kubo-nocopy hasher tests",
    ),
    (
        lambda: bytes(256 * KIB + 1),
        V1,
        "bafybeigllfqgfpqydppr6cmv56g7ax4wyhruzswvcefv6j5kj77nzttfki",
        "kubo-nocopy hasher tests (`--cid-version 1`)",
    ),
    (
        lambda: bytes(5 * MIB),
        V1,
        "bafybeid7mu43g4fehkxhdkl4x3lu4pybxuxpg57it6r6z7e36soj7h2yd4",
        "pinata CID predictor tests",
    ),
    (
        lambda: bytes(256 * KIB + 1),
        V0_RAW,
        "Qmc2SWxBGrBtWKZxuyg8999QuzXsPR47zsWiM7Yq9YFUXT",
        "kubo-nocopy (raw leaves)",
    ),
    # a repeating non-zero pattern: two full chunks and a 1000-byte tail
    (
        lambda: PATTERN * 2 + PATTERN[:1000],
        {},
        "QmWRgwTqCcE11Fs9rKviA8uxnACY5VWAyEJsCU44gD33ue",
        "nu-multiproof tests (recorded, ipfs 0.42)",
    ),
]


@pytest.mark.parametrize(("content", "options", "expected", "source"), EXTERNAL, ids=[f"{e[2][:12]}" for e in EXTERNAL])
def test_external_vector(
    content: Callable[[], bytes], options: dict[str, int | bool], expected: str, source: str
) -> None:
    assert str(add(content(), **options).cid) == expected, source


# -- more than one level of links (> 174 chunks, ~45 MiB) -----------------------------------------

MULTI_LEVEL: list[tuple[int, bytes, dict[str, int | bool], str, str]] = [
    (174 * CHUNK_SIZE, b"\x00", {}, "QmY4HSz1oVGdUzb8poVYPLsoqBZjH6LZrtgnme9wWn2Qko", "solidity: largest one level"),
    (
        174 * CHUNK_SIZE + 1,
        b"\x00",
        {},
        "QmehMASWcBsX7VcEQqs6rpR5AHoBfKyBVEgmkJHjpPg8jq",
        "solidity: smallest multi level",
    ),
    (46661632, b"\x00", {}, "QmaTb1sT9hrSXJLmf8bxJ9NuwndiHuMLsgNLgkS2eXu3Xj", "solidity: multi level tree"),
    (175 * CHUNK_SIZE, b"\x00", V0_RAW, "QmVPDv3cu8fmHYUag4hCnNrUk2X9vMafgtZ6uFAjX1f2V2", "kubo-nocopy (raw leaves)"),
    (
        174 * CHUNK_SIZE,
        b"\x00",
        V1,
        "bafybeibxsa3ioclowpaq7b6gxl65gzqneopfr3fnhedak6sqr4bjz5lnyq",
        "ipi hash tests: dag level 1",
    ),
    (
        174 * CHUNK_SIZE + 1,
        b"\x00",
        V1,
        "bafybeihqwzd3o6q6v3pmwhzjy22vokhr767burokmqemg63hptx2nqd7ym",
        "ipi hash tests: dag level 2 entry",
    ),
    (175 * CHUNK_SIZE, PATTERN, {}, "QmazZG2Fp65Los6G7GUjNgtSiJ9xxixYKNop6frmWR1QkK", "nu-multiproof (ipfs 0.42)"),
]


def repeated(unit: bytes, size: int, piece: int = MIB) -> Iterator[bytes]:
    """``size`` bytes of ``unit`` repeated, streamed in ``piece``-sized parts (never held whole)."""
    block = unit * (piece // len(unit))
    sent = 0
    while sent < size:
        part = block[: min(piece, size - sent)]
        sent += len(part)
        yield part


@pytest.mark.parametrize(
    ("size", "unit", "options", "expected", "source"), MULTI_LEVEL, ids=[m[3][:12] for m in MULTI_LEVEL]
)
def test_external_multi_level_vector(
    size: int, unit: bytes, options: dict[str, int | bool], expected: str, source: str
) -> None:
    result = import_file(repeated(unit, size), CollectingSink(), **options)  # type: ignore[arg-type]
    assert (str(result.cid), result.size) == (expected, size), source


def test_external_sizes_reported_by_kubo() -> None:
    # Erlang ipfs client suite against go-ipfs: `ipfs add` of 1 MiB and 100 MiB of zeros
    # reports Size 1048832 and 104882589 (the cumulative DAG size); 100 MiB has two levels.
    one = add(bytes(MIB))
    hundred = import_file(repeated(b"\x00", 100 * MIB), CollectingSink())
    assert (one.dag_size, one.size) == (1048832, MIB)
    assert (str(hundred.cid), hundred.dag_size) == ("Qmca3PNFKuZnYkiVv1FpcV1AfDUm4qCSHoYjPTBqDAsyk8", 104882589)


# -- the reference encoder is trustworthy --------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "options", "expected", "source"),
    [e for e in EXTERNAL if len(e[0]()) <= 2 * MIB],
    ids=[e[2][:12] for e in EXTERNAL if len(e[0]()) <= 2 * MIB],
)
def test_reference_encoder_agrees_with_external_vectors(
    content: Callable[[], bytes], options: dict[str, int | bool], expected: str, source: str
) -> None:
    assert cid_text(ref_add(content(), **options).cid) == expected, source


def test_reference_encoder_agrees_with_external_multi_level_vector() -> None:
    root = ref_add(bytes(174 * CHUNK_SIZE + 1), cid_version=1)
    assert cid_text(root.cid) == "bafybeihqwzd3o6q6v3pmwhzjy22vokhr767burokmqemg63hptx2nqd7ym"
    assert [len(child.children) for child in root.children] == [174, 1]


# -- derived vectors: production == independent reference ----------------------------------------

MODES = [{}, V1, V0_RAW, V1_PB]
SIZES = [1 * KIB, 256 * KIB, 256 * KIB + 1, 1 * MIB, 3 * CHUNK_SIZE + 1000]

# Recorded from the reference encoder (not from production) so a change to either shows up.
DERIVED_RANDOM = {
    (1 * KIB, 0): "QmPH7Ej7HSJzsWxgwcao7LZMGqvhKFDisT71vEMKHwqhpx",
    (1 * MIB, 0): "QmYzKcadhKK9qq2TAKxpYrpGC2UWDecHsJCeHhf6fvTvxv",
    (1 * MIB, 1): "bafybeifurjjsejbmhm6vva3dad7ga7sd74wp6fc5cps6cpwwasxrwpcawu",
}


@pytest.mark.parametrize("options", MODES, ids=["v0", "v1", "v0-raw", "v1-pb"])
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("kind", ["zeros", "random"])
def test_derived_matches_reference(kind: str, size: int, options: dict[str, int | bool]) -> None:
    data = bytes(size) if kind == "zeros" else pseudo_random(size)
    sink = CollectingSink()
    result = import_file(io.BytesIO(data), sink, **options)  # type: ignore[arg-type]
    reference = ref_add(data, **options)
    assert result.cid.to_bytes() == reference.cid
    assert (result.size, result.dag_size) == (size, reference.tsize)
    recorded = DERIVED_RANDOM.get((size, int(options.get("cid_version", 0))))
    if kind == "random" and options in ({}, V1) and recorded is not None:
        assert str(result.cid) == recorded


def test_derived_recorded_values_come_from_the_reference() -> None:
    for (size, version), expected in DERIVED_RANDOM.items():
        assert cid_text(ref_add(pseudo_random(size), cid_version=version).cid) == expected


@pytest.mark.parametrize("options", [{}, V1], ids=["v0", "v1"])
def test_multi_level_distinct_chunks_build_the_same_blocks(options: dict[str, int | bool]) -> None:
    """176 different chunks (~46 MiB): two levels, every block byte-identical to the reference."""
    data = pseudo_random(176 * CHUNK_SIZE - 123, seed=176)
    sink = CollectingSink()
    result = import_file(io.BytesIO(data), sink, **options)  # type: ignore[arg-type]
    reference = ref_add(data, **options)
    assert result.cid.to_bytes() == reference.cid
    expected_blocks: dict[bytes, bytes] = {}
    stack = [reference]
    while stack:
        node = stack.pop()
        expected_blocks[node.cid] = node.block
        stack.extend(node.children)
    assert sink.blocks == expected_blocks
    root = decode_pbnode(sink.blocks[result.cid.to_bytes()])
    assert [link.name for link in root.links] == ["", ""]
    first, second = (decode_pbnode(sink.blocks[link.cid.to_bytes()]) for link in root.links)
    assert (len(first.links), len(second.links)) == (174, 2)
    assert root.data is not None
    assert decode_unixfs(root.data).blocksizes == (174 * CHUNK_SIZE, 2 * CHUNK_SIZE - 123)


@pytest.mark.parametrize("options", MODES, ids=["v0", "v1", "v0-raw", "v1-pb"])
def test_tree_shapes_with_tiny_chunks_and_fanout(options: dict[str, int | bool]) -> None:
    """Chunk size 4 and 3 links per node make 0..120 bytes reach four levels: every growth step
    of the balanced layout (full level, new root, nested single-child chains) is exercised."""
    data = pseudo_random(120, seed=3)
    for size in range(121):
        result = import_file(data[:size], CollectingSink(), chunk_size=4, max_links=3, **options)  # type: ignore[arg-type]
        reference = ref_add(data[:size], chunk=4, width=3, **options)
        assert result.cid.to_bytes() == reference.cid, size
        assert result.dag_size == reference.tsize, size


# -- chunking is independent of how the source delivers bytes -------------------------------------


class TrickleReader:
    """A file object whose reads return at most ``most`` bytes (like a socket or a pipe)."""

    def __init__(self, data: bytes, most: int) -> None:
        self._buf = io.BytesIO(data)
        self._most = most

    def read(self, size: int = -1) -> bytes:
        return self._buf.read(min(size, self._most) if size >= 0 else self._most)


def odd_pieces(data: bytes) -> Iterator[bytes]:
    sizes = [1, 7, 262143, 5, 100000, 262144, 3]
    pos = 0
    i = 0
    while pos < len(data):
        yield data[pos : pos + sizes[i % len(sizes)]]
        pos += sizes[i % len(sizes)]
        i += 1


def test_same_cid_whatever_the_read_pattern() -> None:
    data = pseudo_random(3 * CHUNK_SIZE + 4321, seed=11)
    expected = add(data).cid
    assert import_file(odd_pieces(data), CollectingSink()).cid == expected
    assert import_file(TrickleReader(data, 1000), CollectingSink()).cid == expected
    assert import_file(data, CollectingSink()).cid == expected
    assert import_file([bytearray(data[:10]), memoryview(data[10:])], CollectingSink()).cid == expected


def test_chunks_are_exact() -> None:
    data = pseudo_random(2 * CHUNK_SIZE + 5)
    chunks = list(iter_chunks(odd_pieces(data)))
    assert [len(c) for c in chunks] == [CHUNK_SIZE, CHUNK_SIZE, 5]
    assert b"".join(chunks) == data
    assert list(iter_chunks(io.BytesIO(b""))) == []


def test_size_limit_stops_reading_early() -> None:
    consumed = 0

    def endless() -> Iterator[bytes]:
        nonlocal consumed
        while True:
            consumed += 1
            yield bytes(64 * KIB)

    with pytest.raises(TooLarge) as info:
        import_file(endless(), CollectingSink(), max_size=MIB)
    assert info.value.code == "ipfs.too_large" and info.value.limit == MIB
    assert consumed <= MIB // (64 * KIB) + 5
    assert add(bytes(MIB), max_size=MIB).size == MIB  # exactly at the limit is fine


def test_repeated_chunks_are_still_sent_each_time() -> None:
    sink = CollectingSink()
    import_file(bytes(3 * CHUNK_SIZE), sink)
    assert sink.puts == 4 and len(sink.blocks) == 2  # three identical leaves + root


def test_invalid_options_are_refused() -> None:
    with pytest.raises(ValueError):
        add(b"x", cid_version=2)
    with pytest.raises(ValueError):
        add(b"x", max_links=1)
    with pytest.raises(TypeError):
        import_file(iter([1, 2, 3]), CollectingSink())  # type: ignore[arg-type]
