"""Onboarding partners: on-chain registration, custodial keys and API keys in one step."""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils.address import to_checksum_address

from chain_client import gs1
from chain_client.events import PartnerRegistered
from chain_client.models import PartnerRole
from chain_client.signers import LocalSigner
from gateway.core.services import Services
from gateway.partner.apikeys import CreatedKey

__all__ = ["Onboarded", "onboard_partner"]


@dataclass(frozen=True)
class Onboarded:
    partner_id: int
    name: str
    role: PartnerRole
    accounts: list[str]
    custodial_account: str | None
    api_key: CreatedKey
    tx_hash: str


def onboard_partner(
    services: Services,
    name: str,
    role: PartnerRole,
    glns: list[str],
    accounts: list[str],
    custodial: bool,
) -> Onboarded:
    """Registers the partner on chain (with a new custodial key when asked) and issues its API key."""
    glns = [gs1.validate_gln(g, field=f"glns[{i}]") for i, g in enumerate(glns)]
    accounts = [to_checksum_address(a) for a in accounts]
    key: LocalSigner | None = None
    if custodial:
        services.keyring.require_passphrase()  # fail before anything is registered on chain
        key = LocalSigner.generate()
        accounts.append(key.address)
    result = services.admin_ledger.register_partner(name, role, accounts, glns)
    partner_id = result.of(PartnerRegistered)[0].partner_id
    if key is not None:
        services.keyring.create(partner_id, key.private_key)
    kind = "auditor" if role == PartnerRole.AUDITOR else "partner"
    api_key = services.api_keys.create(kind, partner_id, name=name)  # type: ignore[arg-type]
    return Onboarded(partner_id, name, role, accounts, key.address if key else None, api_key, result.tx_hash)
