"""The gateway's connection to the chain: Web3, deployment record, ledger client."""

from __future__ import annotations

from dataclasses import dataclass

from web3 import Web3

from chain_client.deploy import DeploymentRecord
from chain_client.errors import ChainIdMismatch, CustodyClientError
from chain_client.node import ANVIL_DEFAULT_MNEMONIC
from chain_client.signers import LocalSigner, Signer
from chain_client.tx import connect
from gateway.core.config import LOCAL_CHAIN_IDS, Settings

__all__ = ["RELAYER_INDEX", "ChainContext", "admin_signer", "relayer_signer"]


def admin_signer(settings: Settings) -> Signer:
    """The deployer/admin key: CUSTODY_DEPLOYER_KEY, or Anvil's public dev key on local chains only."""
    if settings.deployer_key is not None:
        return LocalSigner(settings.deployer_key.get_secret_value())
    if settings.chain_id not in LOCAL_CHAIN_IDS:
        raise CustodyClientError(
            f"Chain id {settings.chain_id} is not a local development chain, so the public Anvil key "
            "cannot administer it. Set CUSTODY_DEPLOYER_KEY to the admin's private key."
        )
    return LocalSigner.from_mnemonic(ANVIL_DEFAULT_MNEMONIC, 0)


def relayer_signer(settings: Settings) -> Signer:
    """The account that pays gas for relayed operations: CUSTODY_RELAYER_KEY, or on local chains
    a public Anvil dev account reserved for it (index 19, used by nothing else)."""
    if settings.relayer_key is not None:
        return LocalSigner(settings.relayer_key.get_secret_value())
    if settings.chain_id not in LOCAL_CHAIN_IDS:
        raise CustodyClientError(
            f"Chain id {settings.chain_id} is not a local development chain: set CUSTODY_RELAYER_KEY to the key "
            "of a funded account that relays partner operations."
        )
    return LocalSigner.from_mnemonic(ANVIL_DEFAULT_MNEMONIC, RELAYER_INDEX)


RELAYER_INDEX = 19


@dataclass
class ChainContext:
    """What request handlers need of the chain; built once per app from settings."""

    settings: Settings
    rpc_url: str
    w3: Web3
    chain_id: int
    deployments: DeploymentRecord

    @classmethod
    def open(cls, settings: Settings, rpc_url: str) -> ChainContext:
        w3 = connect(rpc_url)
        chain_id = int(w3.eth.chain_id)
        if chain_id != settings.chain_id:
            raise ChainIdMismatch(
                f"The node at {rpc_url} runs chain id {chain_id}, but CUSTODY_CHAIN_ID is {settings.chain_id}. "
                "Point CUSTODY_RPC_URL at the right network or set CUSTODY_CHAIN_ID to match it."
            )
        return cls(settings, rpc_url, w3, chain_id, DeploymentRecord(settings.data_dir, chain_id))
