"""Rows a batch appends (history, containment, genealogy, documents, …), written with one bulk insert per table.

Two kinds of rows are closed later by another event: a partner account (by its removal) and a
containment (by the unpack). When the opening row is still in this batch's buffer it is closed
in memory; otherwise an ``UPDATE … WHERE … IS NULL`` closes the one open row in the database
(the ledger allows at most one open row per account, and per packed child).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from sqlalchemy import Table, Update, bindparam, update
from sqlalchemy.orm import Session

from gateway.indexer import tables as t
from gateway.indexer.bulk import bulk_execute, bulk_insert

__all__ = ["RowBuffer"]


@dataclass
class RowBuffer:
    accounts: list[dict[str, Any]] = field(default_factory=list)
    open_accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    account_closures: list[dict[str, Any]] = field(default_factory=list)
    locations: list[dict[str, Any]] = field(default_factory=list)
    shipments: list[dict[str, Any]] = field(default_factory=list)
    containment: list[dict[str, Any]] = field(default_factory=list)
    open_containment: dict[str, dict[str, Any]] = field(default_factory=dict)
    containment_closures: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    status_changes: list[dict[str, Any]] = field(default_factory=list)
    recalls: list[dict[str, Any]] = field(default_factory=list)
    documents: list[dict[str, Any]] = field(default_factory=list)
    event_batches: list[dict[str, Any]] = field(default_factory=list)
    genealogy_events: list[dict[str, Any]] = field(default_factory=list)
    genealogy_edges: list[dict[str, Any]] = field(default_factory=list)

    def open_account(self, row: dict[str, Any]) -> None:
        self.accounts.append(row)
        self.open_accounts[row["account"]] = row

    def close_account(self, account: str, closure: dict[str, Any]) -> None:
        row = self.open_accounts.pop(account, None)
        if row is not None:
            row.update(closure)
        else:
            self.account_closures.append({"b_account": account, **closure})

    def open_containment_row(self, row: dict[str, Any]) -> None:
        self.containment.append(row)
        self.open_containment[row["child_id"]] = row

    def close_containment(self, child_id: str, closure: dict[str, Any]) -> None:
        row = self.open_containment.pop(child_id, None)
        if row is not None:
            row.update(closure)
        else:
            self.containment_closures.append({"b_child": child_id, **closure})

    def flush(self, session: Session) -> None:
        # In key order: each B-tree leaf of the primary key and of the holders index is then visited
        # once per batch, not once per row at random (object ids are hashes).
        self.history.sort(key=_HISTORY_KEY)
        for model, rows in (
            (t.PartnerAccountRow, self.accounts),
            (t.PartnerLocationRow, self.locations),
            (t.ShipmentRow, self.shipments),
            (t.ContainmentRow, self.containment),
            (t.CustodyHistoryRow, self.history),
            (t.StatusChangeRow, self.status_changes),
            (t.RecallRow, self.recalls),
            (t.DocumentRow, self.documents),
            (t.EventBatchRow, self.event_batches),
            (t.GenealogyEventRow, self.genealogy_events),
            (t.GenealogyEdgeRow, self.genealogy_edges),
        ):
            bulk_insert(session.connection(), t.table_of(model), rows)
        connection = session.connection()
        bulk_execute(connection, "close idx_partner_accounts", _CLOSE_ACCOUNT, self.account_closures)
        bulk_execute(connection, "close idx_containment", _CLOSE_CONTAINMENT, self.containment_closures)


_HISTORY_KEY = itemgetter("object_id", "block_number", "log_index")


def _closing(table: Table, key: str, key_param: str, closed: str, columns: tuple[str, ...]) -> Update:
    """``UPDATE table SET columns WHERE key = :key_param AND closed IS NULL``, for executemany."""
    return (
        update(table)
        .where(table.c[key] == bindparam(key_param), table.c[closed].is_(None))
        .values({c: bindparam(c) for c in columns})
    )


_CLOSE_ACCOUNT = _closing(
    t.table_of(t.PartnerAccountRow),
    "account",
    "b_account",
    "removed_block",
    ("removed_block", "removed_log_index", "removed_tx", "removed_at"),
)
_CLOSE_CONTAINMENT = _closing(
    t.table_of(t.ContainmentRow),
    "child_id",
    "b_child",
    "unpacked_block",
    ("unpacked_block", "unpacked_log_index", "unpacked_tx", "unpacked_by", "unpacked_at"),
)
