"""Loads the compiled artifacts committed in ``chain_client/artifacts/`` by contract name."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from chain_client._paths import ARTIFACTS_DIR
from chain_client.compiler import Artifact
from chain_client.errors import CorruptDeployment, UnknownContract, did_you_mean

__all__ = ["available_contracts", "load_artifact"]


def available_contracts(artifacts_dir: Path = ARTIFACTS_DIR) -> list[str]:
    return sorted(p.stem for p in artifacts_dir.glob("*.json"))


@functools.cache
def load_artifact(name: str, artifacts_dir: Path = ARTIFACTS_DIR) -> Artifact:
    """The artifact of contract ``name``; raises :class:`UnknownContract` with a hint if there is none."""
    path = artifacts_dir / f"{name}.json"
    if not path.exists():
        known = available_contracts(artifacts_dir)
        raise UnknownContract(
            f"No compiled contract named {name!r}.{did_you_mean(name, known)} "
            f"Known contracts: {', '.join(known) or 'none'}. "
            "Run `python -m chain_client.compiler` after adding a contract to contracts/."
        )
    try:
        return Artifact.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError) as exc:
        raise CorruptDeployment(
            f"The artifact {path} is unreadable ({exc}). Regenerate it: `python -m chain_client.compiler`."
        ) from exc
