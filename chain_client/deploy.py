"""Deploying contracts and remembering where: one deployment record per chain id.

The record lives at ``<data_dir>/deployments/<chain_id>.json`` and maps contract names to
address, transaction, block and the artifact's input hash.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from eth_utils.address import is_checksum_address
from web3 import Web3

from chain_client.artifacts import load_artifact
from chain_client.errors import CorruptDeployment, NotDeployed
from chain_client.tx import TxSender

__all__ = ["Deployment", "DeploymentRecord", "deploy", "record_path"]


@dataclass(frozen=True)
class Deployment:
    name: str
    address: str
    tx_hash: str
    block_number: int
    input_hash: str
    deployed_at: str


def record_path(data_dir: Path, chain_id: int) -> Path:
    return Path(data_dir) / "deployments" / f"{chain_id}.json"


class DeploymentRecord:
    """The deployments of one chain id, persisted as JSON in the data folder."""

    def __init__(self, data_dir: Path, chain_id: int) -> None:
        self.path = record_path(data_dir, chain_id)
        self.chain_id = chain_id
        self._contracts: dict[str, Deployment] = self._read()

    def _read(self) -> dict[str, Deployment]:
        if not self.path.exists():
            return {}
        fix = f"Delete {self.path} to deploy afresh, or restore it from a backup."
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("chain_id") != self.chain_id:
                raise CorruptDeployment(
                    f"{self.path} is for chain id {data.get('chain_id')}, not {self.chain_id}. {fix}"
                )
            contracts = {name: Deployment(**entry) for name, entry in data["contracts"].items()}
        except CorruptDeployment:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CorruptDeployment(f"The deployment record {self.path} is corrupt ({exc}). {fix}") from exc
        for d in contracts.values():
            if not is_checksum_address(d.address):
                raise CorruptDeployment(f"{self.path}: {d.name} has an invalid address {d.address!r}. {fix}")
        return contracts

    def get(self, name: str) -> Deployment:
        try:
            return self._contracts[name]
        except KeyError:
            raise NotDeployed(
                f"{name} is not deployed on chain {self.chain_id} (no entry in {self.path}). "
                "Run ./scripts/start, which deploys it, or deploy it with chain_client.deploy."
            ) from None

    def __contains__(self, name: str) -> bool:
        return name in self._contracts

    def put(self, deployment: Deployment) -> None:
        self._contracts[deployment.name] = deployment
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload: dict[str, Any] = {
            "chain_id": self.chain_id,
            "contracts": {n: asdict(d) for n, d in sorted(self._contracts.items())},
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)  # atomic: a crash never leaves half a record

    def is_live(self, w3: Web3, name: str) -> bool:
        """Whether the recorded address still holds code (a reset dev chain loses it)."""
        if name not in self._contracts:
            return False
        return len(w3.eth.get_code(self._contracts[name].address)) > 0  # type: ignore[arg-type]

    def contracts(self) -> dict[str, Deployment]:
        return dict(self._contracts)


def deploy(sender: TxSender, name: str, *args: Any, record: DeploymentRecord | None = None) -> Deployment:
    """Deploys contract ``name`` with constructor ``args``; records it when ``record`` is given."""
    artifact = load_artifact(name)
    factory = sender.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    data = factory.constructor(*args).data_in_transaction
    receipt = sender.transact({"data": data})
    address = receipt.raw["contractAddress"]
    deployment = Deployment(
        name=name,
        address=Web3.to_checksum_address(address),
        tx_hash=receipt.tx_hash,
        block_number=receipt.block_number,
        input_hash=artifact.input_hash,
        deployed_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    if record is not None:
        record.put(deployment)
    return deployment
