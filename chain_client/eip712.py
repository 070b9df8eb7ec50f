"""EIP-712 ``PartnerCall`` messages: what partners sign so that anyone may relay their operation.

The typed data matches ``CustodyRelay.PARTNER_CALL_TYPEHASH`` and its domain (name
``CustodyRelay``, version ``1``, chain id, the relay's address).
"""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.address import to_checksum_address

from chain_client.models import SignedCall
from chain_client.signers import Signer

__all__ = ["RELAY_DOMAIN_NAME", "RELAY_DOMAIN_VERSION", "partner_call_typed_data", "recover_signer", "sign_call"]

RELAY_DOMAIN_NAME = "CustodyRelay"
RELAY_DOMAIN_VERSION = "1"


def partner_call_typed_data(
    chain_id: int, relay: str, signer: str, data: bytes, nonce: int, deadline: int
) -> dict[str, Any]:
    """The full EIP-712 message (domain, types, message) for ``eth_signTypedData_v4``."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "PartnerCall": [
                {"name": "signer", "type": "address"},
                {"name": "data", "type": "bytes"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ],
        },
        "primaryType": "PartnerCall",
        "domain": {
            "name": RELAY_DOMAIN_NAME,
            "version": RELAY_DOMAIN_VERSION,
            "chainId": chain_id,
            "verifyingContract": to_checksum_address(relay),
        },
        "message": {"signer": to_checksum_address(signer), "data": data, "nonce": nonce, "deadline": deadline},
    }


def sign_call(signer: Signer, *, chain_id: int, relay: str, data: bytes, nonce: int, deadline: int) -> SignedCall:
    """Signs the ledger call ``data`` (ABI-encoded) for relaying; works offline."""
    typed = partner_call_typed_data(chain_id, relay, signer.address, data, nonce, deadline)
    return SignedCall(signer.address, data, nonce, deadline, signer.sign_typed_data(typed))


def recover_signer(call: SignedCall, *, chain_id: int, relay: str) -> str:
    """The account that made ``call.signature`` (compare with ``call.signer`` before relaying)."""
    typed = partner_call_typed_data(chain_id, relay, call.signer, call.data, call.nonce, call.deadline)
    return str(Account.recover_message(encode_typed_data(full_message=typed), signature=call.signature))
