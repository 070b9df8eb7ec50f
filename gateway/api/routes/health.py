"""Liveness and what this gateway is connected to."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from chain_client.errors import NodeNotReachable
from gateway.api.deps import ChainDep, ServicesDep

router = APIRouter(tags=["health"])


class HealthPublic(BaseModel):
    status: str
    chain_id: int
    latest_block: int
    contracts: dict[str, str]
    indexed_block: int | None = None  # the read model's checkpoint (None: the ledger is not deployed yet)
    indexer_lag_blocks: int | None = None


@router.get("/health", response_model=HealthPublic, summary="Node, chain and contract addresses")
def health(chain: ChainDep, services: ServicesDep) -> HealthPublic:
    try:
        latest = int(chain.w3.eth.block_number)
    except Exception as exc:
        raise NodeNotReachable(f"The EVM node at {chain.rpc_url} does not answer ({type(exc).__name__}).") from exc
    contracts = {name: d.address for name, d in chain.deployments.contracts().items()}
    indexed = lag = None
    if services.indexer_ready:
        checkpoint = services.indexer.indexer.checkpoint().last_block
        indexed, lag = checkpoint, max(latest - checkpoint, 0)
    return HealthPublic(
        status="ok",
        chain_id=chain.chain_id,
        latest_block=latest,
        contracts=contracts,
        indexed_block=indexed,
        indexer_lag_blocks=lag,
    )
