"""The demo supply network (``./scripts/start --demo``): four partners and a little history.

Writes ``$CUSTODY_DATA_DIR/demo-credentials.json``::

    {"partners": [{"name", "api_key", "gln", "address", "partner_id", "role"}], "auditor": {"api_key", …}}

so a new user can try every endpoint at once. Running it again reuses what exists.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from chain_client.models import PartnerRole
from gateway.core.services import Services
from gateway.partner import operations as ops
from gateway.partner.apikeys import Principal
from gateway.partner.directory import onboard_partner

__all__ = ["DEMO_PARTNERS", "seed_demo"]

# name, role, GLN (valid check digits; GS1 company prefix 0614141 is GS1's own example prefix)
DEMO_PARTNERS: list[tuple[str, PartnerRole, str]] = [
    ("Acme Pharma (manufacturer)", PartnerRole.MANUFACTURER, "0614141000005"),
    ("Northwind Distribution (wholesaler)", PartnerRole.DISTRIBUTOR, "0614141000029"),
    ("Corner Pharmacy (dispenser)", PartnerRole.DISPENSER, "0614141000036"),
    ("State Board of Pharmacy (auditor)", PartnerRole.AUDITOR, "0614141000043"),
]
DEMO_GTIN = "09506000134352"


def _write_private(path: Path, data: dict[str, Any]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)


def seed_demo(services: Services) -> Path:
    """Onboards the demo partners (once) and submits a small history through the outbox."""
    path = services.settings.data_dir / "demo-credentials.json"
    if path.exists():
        return path
    partners: list[dict[str, Any]] = []
    auditor: dict[str, Any] = {}
    for name, role, gln in DEMO_PARTNERS:
        p = onboard_partner(services, name, role, [gln], [], custodial=role != PartnerRole.AUDITOR)
        entry = {"name": name, "role": role.name.lower(), "partner_id": p.partner_id, "api_key": p.api_key.key,
                 "gln": gln, "address": p.custodial_account or ""}  # fmt: skip
        if role == PartnerRole.AUDITOR:
            auditor = entry
        else:
            partners.append(entry)
    _write_private(path, {"partners": partners, "auditor": auditor})

    maker, distributor = partners[0], partners[1]
    principal = Principal(0, "partner", maker["partner_id"], frozenset({"submit", "read"}))
    items = [ops.ItemIn(gtin=DEMO_GTIN, serial=f"DEMO{n:04d}", lot="LOT2026A", expiry_date="2028-06-30")  # type: ignore[arg-type]
             for n in range(1, 11)]  # fmt: skip
    services.outbox.submit(principal, ops.RegisterItems(items=items))
    services.outbox.submit(principal, ops.RegisterLogisticUnits(ssccs=["106141412345678908"]))
    children = [ops.ObjectRef(gtin=DEMO_GTIN, serial=f"DEMO{n:04d}") for n in range(1, 6)]
    services.outbox.submit(principal, ops.Pack(parent=ops.ObjectRef(sscc="106141412345678908"), children=children))
    services.outbox.submit(
        principal,
        ops.Ship(
            objects=[ops.ObjectRef(sscc="106141412345678908")],
            receiver=distributor["partner_id"],
            ship_from_gln=maker["gln"],
            ship_to_gln=distributor["gln"],
            transfer_ownership=True,
        ),
    )
    return path
