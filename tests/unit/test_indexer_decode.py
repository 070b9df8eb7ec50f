"""FastEventDecoder agrees with chain_client's EventDecoder on every event; events survive the JSON column."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest

from chain_client.artifacts import load_artifact
from chain_client.events import EventDecoder, GenericEvent, ItemRegistered, LedgerEvent, PartnerLocationAdded
from gateway.indexer.codec import event_args, event_from_json
from gateway.indexer.decode import FastEventDecoder, snake
from gateway.indexer.indexer import ledger_decoder
from tests.unit.test_indexer_support import ENCODER, LEDGER

ABIS = [load_artifact("CustodyLedger").abi, load_artifact("CustodyRelay").abi]
EVENTS = sorted({item["name"] for abi in ABIS for item in abi if item.get("type") == "event"})
ENUM_VALUES = {"role": 2, "kind": 1, "status": 4, "previous": 2, "doc_type": 5}


def sample(name: str, abi_type: str) -> Any:
    """A value of every ABI type the events use, chosen to exercise each conversion."""
    if name in ENUM_VALUES and abi_type == "uint8":
        return ENUM_VALUES[name]
    if name.endswith("gln"):
        return "0614141000005"
    if match := re.fullmatch(r"uint(\d+)", abi_type):
        return (1 << int(match.group(1))) - 3
    if abi_type == "bool":
        return True
    if abi_type == "address":
        return "0x" + "ab" * 20
    if abi_type == "bytes32":
        return "damaged" if name == "reason" else "0x" + "cd" * 32
    if abi_type == "bytes3":
        return "KGM"
    if abi_type == "bytes":
        return b"\x01\x02\xff"
    if abi_type == "string":
        return "urn:epc:id:sgtin:0614141.812345.Sü"
    raise AssertionError(f"no sample for {abi_type}")


def raw_log(event: str, args: dict[str, Any] | None = None, log_index: int = 3) -> dict[str, Any]:
    abi = next(i for abi in ABIS for i in abi if i.get("type") == "event" and i["name"] == event)
    values = {snake(i["name"]): sample(snake(i["name"]), i["type"]) for i in abi["inputs"]}
    values.update(args or {})
    topics, data = ENCODER.encode(event, values)
    return {
        "address": LEDGER.lower(),
        "topics": topics,
        "data": data,
        "blockNumber": "0x2a",
        "blockHash": "0x" + "0b" * 32,
        "transactionHash": "0x" + "0c" * 32,
        "transactionIndex": "0x0",
        "logIndex": hex(log_index),
        "removed": False,
    }


def web3_form(log: dict[str, Any]) -> dict[str, Any]:
    """The same log as web3 formats it (integers), which is what EventDecoder takes."""
    return {**log, **{k: int(log[k], 16) for k in ("blockNumber", "logIndex", "transactionIndex")}}


@pytest.mark.parametrize("event", EVENTS)
def test_fast_decoder_equals_event_decoder(event: str) -> None:
    log = raw_log(event)
    fast = ledger_decoder().decode_log(log)
    reference = EventDecoder(*ABIS).decode_log(web3_form(log))
    assert fast is not None and fast == reference
    assert fast.meta.contract == LEDGER and (fast.meta.block_number, fast.meta.log_index) == (42, 3)


@pytest.mark.parametrize("event", EVENTS)
def test_events_survive_the_json_column(event: str) -> None:
    decoded = ledger_decoder().decode_log(raw_log(event))
    assert decoded is not None
    stored = json.loads(json.dumps(event_args(decoded)))
    name = decoded.name if isinstance(decoded, GenericEvent) else type(decoded).event_name
    assert event_from_json(name, stored, decoded.meta) == decoded


def test_zero_glns_and_zero_ids_keep_the_models_conventions() -> None:
    log = raw_log("ItemRegistered", {"origin_gln": None, "lot_id": "0x" + "00" * 32})
    fast = ledger_decoder().decode_log(log)
    assert isinstance(fast, ItemRegistered) and fast.origin_gln is None and fast.lot_id == "0x" + "00" * 32
    indexed = ledger_decoder().decode_log(raw_log("PartnerLocationAdded", {"gln": "0000000000017"}))
    assert isinstance(indexed, PartnerLocationAdded) and indexed.gln == "0000000000017"


def test_a_string_that_is_not_utf8_is_kept_with_replacement_characters() -> None:
    """Solidity does not check strings; web3 raises on such an event, the indexer must not lose it."""
    log = raw_log("ItemRegistered", {"epc": b"urn:\xff"})
    with pytest.raises(UnicodeDecodeError):
        EventDecoder(*ABIS).decode_log(web3_form(log))
    fast = ledger_decoder().decode_log(log)
    assert isinstance(fast, ItemRegistered) and fast.epc == "urn:\ufffd"


def test_logs_of_other_events_or_malformed_logs_are_skipped(caplog: pytest.LogCaptureFixture) -> None:
    decoder = ledger_decoder()
    good = raw_log("ObjectShipped")
    assert decoder.decode_log({**good, "topics": []}) is None
    assert decoder.decode_log({**good, "topics": ["0x" + "ee" * 32, *good["topics"][1:]]}) is None
    assert decoder.decode_log({**good, "topics": good["topics"][:2]}) is None  # a topic missing
    shipped = raw_log("ShipmentDispatched")
    with caplog.at_level(logging.WARNING, logger="gateway.indexer.decode"):
        assert decoder.decode_log({**shipped, "data": shipped["data"][:100]}) is None
    assert "skipping undecodable ShipmentDispatched log" in caplog.text
    assert [e.meta.log_index for e in decoder.decode_logs([good, {**good, "topics": []}, good])] == [3, 3]


def test_topics_are_those_of_both_abis() -> None:
    decoder = FastEventDecoder(*ABIS)
    assert len(decoder.topics) == len(EVENTS)
    assert decoder.topics == [t.lower() for t in decoder.topics]


def test_a_model_that_does_not_match_its_abi_is_refused() -> None:
    abi = [
        {
            "type": "event",
            "name": "ItemRegistered",
            "anonymous": False,
            "inputs": [{"name": "objectId", "type": "bytes32", "indexed": True}],
        }
    ]
    with pytest.raises(ValueError, match="does not match ItemRegistered"):
        FastEventDecoder(abi)


def test_every_decoded_event_is_a_typed_model_or_a_generic_one() -> None:
    decoded: list[LedgerEvent] = ledger_decoder().decode_logs(raw_log(e) for e in EVENTS)
    generic = sorted(e.name for e in decoded if isinstance(e, GenericEvent))
    assert len(decoded) == len(EVENTS)
    assert generic == sorted(set(EVENTS) - {type(e).event_name for e in decoded if not isinstance(e, GenericEvent)})
    assert "Paused" in generic and "ItemRegistered" not in generic
