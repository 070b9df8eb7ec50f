"""Where the project's toolchain and sources live (resolved from this package's location)."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONTRACTS_DIR = PROJECT_ROOT / "contracts"
ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"
NODE_MODULES = Path(os.environ.get("CUSTODY_NODE_MODULES", PROJECT_ROOT / "node_modules"))
SOLC_WRAPPER = PROJECT_ROOT / "scripts" / "solc"


def npm_binary(tool: str) -> Path:
    """Path of a Foundry binary shipped by the npm package ``@foundry-rs/<tool>-linux-amd64``."""
    return NODE_MODULES / "@foundry-rs" / f"{tool}-linux-amd64" / "bin" / tool
