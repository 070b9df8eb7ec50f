"""Operation names and their partner endpoints, kept light: naming an operation imports no web3.

The routes live in ``gateway/api/routes/partner.py`` and the schemas in
``gateway/partner/operations.py``; a unit test keeps this table equal to both.
"""

from __future__ import annotations

import difflib

from gateway.cli._errors import InputError

__all__ = ["ENDPOINTS", "check_operation_name"]

ENDPOINTS: dict[str, str] = {
    "register_items": "/v1/items",
    "register_lot": "/v1/lots",
    "register_logistic_units": "/v1/logistic-units",
    "ship": "/v1/shipments",
    "receive": "/v1/receipts",
    "reject": "/v1/rejections",
    "cancel_shipment": "/v1/shipment-cancellations",
    "transfer": "/v1/transfers",
    "transfer_ownership": "/v1/ownership-transfers",
    "pack": "/v1/aggregations/pack",
    "unpack": "/v1/aggregations/unpack",
    "split_lot": "/v1/lot-splits",
    "merge_lots": "/v1/lot-merges",
    "transform": "/v1/transformations",
    "set_status": "/v1/status-changes",
    "recall": "/v1/recalls",
    "anchor_document": "/v1/document-anchors",
}


def check_operation_name(name: str) -> str:
    """``name`` if it is an operation; else an :class:`InputError` with a "did you mean" hint."""
    if name not in ENDPOINTS:
        close = difflib.get_close_matches(name, list(ENDPOINTS), n=1, cutoff=0.6)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise InputError(
            f"error [cli.unknown_operation] No operation named {name!r}.{hint}",
            [f"  operations: {', '.join(ENDPOINTS)}"],
        )
    return name
