"""Liveness and what this gateway is connected to."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from chain_client.errors import NodeNotReachable
from gateway.api.deps import ChainDep

router = APIRouter(tags=["health"])


class HealthPublic(BaseModel):
    status: str
    chain_id: int
    latest_block: int
    contracts: dict[str, str]


@router.get("/health", response_model=HealthPublic, summary="Node, chain and contract addresses")
def health(chain: ChainDep) -> HealthPublic:
    try:
        latest = int(chain.w3.eth.block_number)
    except Exception as exc:
        raise NodeNotReachable(f"The EVM node at {chain.rpc_url} does not answer ({type(exc).__name__}).") from exc
    contracts = {name: d.address for name, d in chain.deployments.contracts().items()}
    return HealthPublic(status="ok", chain_id=chain.chain_id, latest_block=latest, contracts=contracts)
