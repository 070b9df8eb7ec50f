"""Typed events to the JSON stored in ``idx_events.args``, and back.

The raw event table is what a rollback deeper than the undo log replays, so an event read back
must equal the event decoded from the chain. JSON keeps the models' field names and values,
except enums (stored as their integer, as on chain) and ``bytes`` (stored as 0x-hex).
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from dataclasses import fields
from enum import IntEnum
from typing import Any

from chain_client.events import GenericEvent, LedgerEvent, LogMeta
from gateway.indexer.decode import MODELS

__all__ = ["event_args", "event_from_json"]


def _to_json(value: Any) -> Any:
    if isinstance(value, IntEnum):
        return int(value)
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    return value


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def _writers(model: type[LedgerEvent]) -> tuple[tuple[str, Callable[[Any], Any] | None], ...]:
    """Per field of ``model``: how its value becomes JSON (None: as it is), from the type hints."""
    hints = typing.get_type_hints(model)
    writers: list[tuple[str, Callable[[Any], Any] | None]] = []
    for f in fields(model):
        if f.name == "meta":
            continue
        hint = hints[f.name]
        if hint is bytes:
            writers.append((f.name, _hex))
        elif isinstance(hint, type) and issubclass(hint, IntEnum):
            writers.append((f.name, int))
        else:
            writers.append((f.name, None))
    return tuple(writers)


_WRITERS = {model: _writers(model) for model in MODELS.values()}


def event_args(event: LedgerEvent) -> dict[str, Any]:
    """The event's arguments as a JSON-ready dict (field name -> value)."""
    if isinstance(event, GenericEvent):
        return {name: _to_json(value) for name, value in event.args.items()}
    args: dict[str, Any] = {}
    for name, write in _WRITERS[type(event)]:
        value = getattr(event, name)
        args[name] = value if write is None else write(value)
    return args


def _identity(value: Any) -> Any:
    return value


def _from_hex(value: str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x"))


def _readers(model: type[LedgerEvent]) -> dict[str, Callable[[Any], Any]]:
    """Per field of ``model``, how its JSON value becomes the model's value (from the type hints)."""
    hints = typing.get_type_hints(model)
    readers: dict[str, Callable[[Any], Any]] = {}
    for f in fields(model):
        if f.name == "meta":
            continue
        hint = hints[f.name]
        if hint is bytes:
            readers[f.name] = _from_hex
        elif isinstance(hint, type) and issubclass(hint, IntEnum):
            readers[f.name] = hint
        else:
            readers[f.name] = _identity
    return readers


_READERS = {name: _readers(model) for name, model in MODELS.items()}


def event_from_json(name: str, args: Mapping[str, Any], meta: LogMeta) -> LedgerEvent:
    """The typed event stored as ``name`` and ``args`` (the inverse of :func:`event_args`)."""
    model = MODELS.get(name)
    if model is None:
        return GenericEvent(meta=meta, name=name, args=dict(args))
    return model(meta=meta, **{key: read(args[key]) for key, read in _READERS[name].items()})
