"""CIDs and the dag-pb/UnixFS protobuf codec."""

from __future__ import annotations

import hashlib

import pytest

from gateway.documents import errors
from gateway.documents.cid import DAG_PB, RAW, Cid, block_cid
from gateway.documents.dagpb import (
    PBLink,
    UnixFSType,
    decode_pbnode,
    decode_unixfs,
    encode_pbnode,
    leaf_parts,
    uvarint,
)
from tests.unit.documents.unixfs_reference import varint as ref_varint

HELLO_V0 = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
HELLO_RAW = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
HELLO_DIGEST = "46d44814b9c5af141c3aaab7c05dc5e844ead5f91f12858b021eba45768b4c0e"


# -- CIDs -------------------------------------------------------------------------------------


def test_parse_v0() -> None:
    cid = Cid.parse(HELLO_V0)
    assert (cid.version, cid.codec, cid.digest.hex()) == (0, DAG_PB, HELLO_DIGEST)
    assert str(cid) == HELLO_V0
    assert cid.to_bytes() == bytes.fromhex("1220" + HELLO_DIGEST)


def test_parse_v1_any_base_prints_canonical_base32() -> None:
    cid = Cid.parse(HELLO_RAW.upper())  # multibase 'B': upper-case base32
    assert (cid.version, cid.codec, cid.codec_name) == (1, RAW, "raw")
    assert str(cid) == HELLO_RAW
    assert Cid.parse(cid.to_bytes()) == cid
    assert cid.to_bytes()[:4] == bytes.fromhex("01551220")


def test_v0_and_v1_of_the_same_node_differ_but_share_the_multihash() -> None:
    v0 = Cid.parse(HELLO_V0)
    v1 = v0.to_v1()
    assert str(v1).startswith("bafybei") and v1 != v0 and v1.multihash == v0.multihash
    assert Cid.parse(str(v1)) == v1


@pytest.mark.parametrize(
    "text",
    ["", "   ", "Qm", "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5", "hello", "bafk!", "zzzz", "/ipfs/" + HELLO_V0],
)
def test_invalid_text_is_invalid_cid(text: str) -> None:
    with pytest.raises(errors.InvalidCID) as info:
        Cid.parse(text)
    assert info.value.code == "ipfs.invalid_cid"


def test_invalid_binary_and_types() -> None:
    with pytest.raises(errors.InvalidCID):
        Cid.parse(bytes.fromhex("1220") + b"\x00" * 10)  # truncated v0
    with pytest.raises(errors.InvalidCID):
        Cid.parse(Cid.parse(HELLO_RAW).to_bytes() + b"\x00")  # trailing byte
    with pytest.raises(errors.InvalidCID):
        Cid.parse(bytes.fromhex("02551220") + b"\x00" * 32)  # version 2
    with pytest.raises(errors.InvalidCID):
        Cid.parse(42)  # type: ignore[arg-type]


def test_unsupported_hash_is_refused_not_stored_unverifiable() -> None:
    blake2b = "bafk2bzacecdcfpjb5jtnbmlwnhdgzhkbvefyjdy7cbwbkgsfzh6hwvmzuxgqc"  # blake2b-256 raw CID
    with pytest.raises(errors.UnsupportedContent) as info:
        Cid.parse(blake2b)
    assert info.value.code == "ipfs.unsupported"


def test_decode_prefix_reports_bytes_used() -> None:
    cid = Cid.parse(HELLO_RAW)
    parsed, used = Cid.decode_prefix(cid.to_bytes() + b"block bytes")
    assert (parsed, used) == (cid, 36)
    parsed, used = Cid.decode_prefix(Cid.parse(HELLO_V0).to_bytes() + b"x")
    assert used == 34 and parsed.version == 0


def test_block_cid_hashes_parts_as_one() -> None:
    whole = block_cid([b"hello world\n"], version=1, codec=RAW)
    split = block_cid([b"hello", b" ", b"world\n"], version=1, codec=RAW)
    assert whole == split and str(whole) == HELLO_RAW
    assert whole.digest == hashlib.sha256(b"hello world\n").digest()


# -- protobuf ---------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 127, 128, 300, 16383, 16384, 262144, 2**35, 2**63 - 1])
def test_uvarint_matches_reference(n: int) -> None:
    assert uvarint(n) == ref_varint(n)


def test_leaf_framing_is_kubos() -> None:
    prefix, suffix = leaf_parts(12)
    assert prefix + b"hello world\n" + suffix == bytes.fromhex("0a120802120c") + b"hello world\n" + b"\x18\x0c"
    assert b"".join(leaf_parts(0)) == bytes.fromhex("0a0408021800")  # the empty file: no Data field


def test_links_are_written_before_data_with_an_empty_name() -> None:
    child = Cid.parse(HELLO_V0)
    block = encode_pbnode([PBLink(child, "", 20)], b"\x08\x02\x18\x0c\x20\x0c")
    expected = (
        b"\x12\x28"  # field 2 (Links), 40 bytes
        + b"\x0a\x22"
        + child.to_bytes()  # Hash
        + b"\x12\x00"  # Name "" is written
        + b"\x18\x14"  # Tsize 20
        + b"\x0a\x06\x08\x02\x18\x0c\x20\x0c"  # then field 1 (Data)
    )
    assert block == expected
    node = decode_pbnode(block)
    assert node.links == (PBLink(child, "", 20),)
    assert node.data is not None
    unixfs = decode_unixfs(node.data)
    assert (unixfs.type, unixfs.filesize, unixfs.blocksizes, unixfs.data) == (UnixFSType.FILE, 12, (12,), None)


def test_absent_name_and_tsize_are_not_written() -> None:
    block = encode_pbnode([PBLink(Cid.parse(HELLO_V0), None, None)], None)
    assert block == b"\x12\x24\x0a\x22" + Cid.parse(HELLO_V0).to_bytes()
    assert decode_pbnode(block).links[0] == PBLink(Cid.parse(HELLO_V0), None, None)


def test_leaf_data_is_a_zero_copy_view() -> None:
    prefix, suffix = leaf_parts(5)
    node = decode_pbnode(prefix + b"abcde" + suffix)
    assert node.links == () and node.data is not None
    unixfs = decode_unixfs(node.data)
    assert isinstance(unixfs.data, memoryview) and bytes(unixfs.data) == b"abcde"
    assert unixfs.content_size() == 5


@pytest.mark.parametrize(
    "block",
    [
        b"\x0a\x00\x12\x24\x0a\x22" + bytes.fromhex("1220" + HELLO_DIGEST),  # Links after Data
        b"\x0a\x00\x0a\x00",  # two Data fields
        b"\x1a\x00",  # unknown field 3
        b"\x08\x01",  # varint where bytes are expected
        b"\x0a\x05ab",  # runs past the end
        b"\x12\x02\x12\x00",  # link without Hash
        b"\x12\x26\x12\x00\x0a\x22" + bytes.fromhex("1220" + HELLO_DIGEST),  # Name before Hash
        b"\x12\x03\x0a\x01\x00",  # link with an unusable CID
        b"\x0a\x80",  # truncated varint
    ],
)
def test_malformed_dag_pb_is_rejected(block: bytes) -> None:
    with pytest.raises(errors.MalformedBlock) as info:
        decode_pbnode(block)
    assert info.value.code == "ipfs.malformed"


def test_unixfs_decoding_tolerates_packed_blocksizes_and_unknown_fields() -> None:
    data = b"\x08\x02\x18\x03" + b"\x22\x02\x01\x02" + b"\x38\xa4\x03"  # packed [1, 2], mode 0o644
    unixfs = decode_unixfs(memoryview(data))
    assert (unixfs.type, unixfs.filesize, unixfs.blocksizes) == (UnixFSType.FILE, 3, (1, 2))


def test_unixfs_without_type_or_with_unknown_type_is_malformed() -> None:
    with pytest.raises(errors.MalformedBlock):
        decode_unixfs(memoryview(b"\x18\x00"))
    with pytest.raises(errors.MalformedBlock):
        decode_unixfs(memoryview(b"\x08\x09"))


# -- the error family ----------------------------------------------------------------------------


def test_every_error_has_a_stable_unique_code() -> None:
    classes = [getattr(errors, name) for name in errors.__all__]
    codes = {cls: cls.code for cls in classes}
    assert all(issubclass(cls, errors.DocumentStoreError) for cls in classes)
    assert len(set(codes.values())) == len(codes)
    assert all(code.startswith("ipfs.") for code in codes.values())
    assert codes[errors.InvalidCID] == "ipfs.invalid_cid"
    assert codes[errors.BlockNotFound] == "ipfs.not_found"
    assert codes[errors.IntegrityError] == "ipfs.integrity"
    assert codes[errors.TooLarge] == "ipfs.too_large"
    assert issubclass(errors.BlockNotFound, LookupError) and issubclass(errors.InvalidCID, ValueError)
