"""How answers look: JSON with ``--json``, otherwise short human text and tables (rich)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["err_console", "keys_table", "out_console", "print_json", "submission_lines", "submissions_table"]


def out_console() -> Console:
    # made per use so that test runners that swap sys.stdout see the output; wide in pipes so nothing is cut
    return Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else _PIPE_WIDTH)


def err_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


_PIPE_WIDTH = 240


def print_json(value: Any) -> None:
    out_console().out(json.dumps(value, indent=2, default=str), highlight=False)


def _short(value: str | None, keep: int = 10) -> str:
    if not value:
        return "-"
    return value if len(value) <= 2 * keep + 1 else f"{value[:keep]}…{value[-keep + 2 :]}"


def _events_summary(events: Sequence[Mapping[str, Any]] | None) -> str:
    if not events:
        return "-"
    counts = Counter(str(e.get("event", "?")) for e in events)
    return ", ".join(f"{name} x{n}" if n > 1 else name for name, n in counts.items())


def submission_lines(s: Mapping[str, Any]) -> list[str]:
    """A submission in a few lines."""
    objects = list(s.get("object_ids") or [])
    lines = [
        f"submission {s.get('id')}  {str(s.get('status', '?')).upper()}",
        f"  operation  {s.get('operation')} ({s.get('mode')}, partner {s.get('partner_id')}, signer {s.get('signer')})",
    ]
    if objects:
        shown = ", ".join(objects[:3]) + (f", … ({len(objects)} objects)" if len(objects) > 3 else "")
        lines.append(f"  objects    {shown}")
    if s.get("tx_hash"):
        block = f" in block {s['block_number']}" if s.get("block_number") is not None else ""
        lines.append(f"  tx         {s['tx_hash']}{block}")
    if s.get("events"):
        lines.append(f"  events     {_events_summary(s['events'])}")
    return lines


def submissions_table(rows: Sequence[Mapping[str, Any]]) -> Table:
    table = Table(box=None)
    table.add_column("id", no_wrap=True, min_width=36)
    for name in ("status", "operation", "mode", "partner", "objects", "tx", "updated"):
        table.add_column(name)
    for s in rows:
        table.add_row(
            str(s.get("id")), str(s.get("status")), str(s.get("operation")), str(s.get("mode")),
            str(s.get("partner_id")), str(len(s.get("object_ids") or [])), _short(s.get("tx_hash")),
            str(s.get("updated_at", ""))[:19],
        )  # fmt: skip
    return table


def keys_table(rows: Sequence[Mapping[str, Any]]) -> Table:
    table = Table("id", "prefix", "kind", "partner", "scopes", "created", "revoked", box=None)
    for k in rows:
        table.add_row(
            str(k.get("id")), str(k.get("prefix")), str(k.get("kind")), str(k.get("partner_id") or "-"),
            " ".join(k.get("scopes") or []), str(k.get("created_at") or "")[:19],
            Text(str(k.get("revoked_at"))[:19], style="red") if k.get("revoked_at") else Text("active", style="green"),
        )  # fmt: skip
    return table
