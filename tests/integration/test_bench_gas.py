"""The gas benchmark runs and its targets hold (gas is deterministic, unlike time)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from chain_client._paths import PROJECT_ROOT

pytestmark = pytest.mark.integration


def test_bench_gas_json_keys_and_targets() -> None:
    out = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "scripts" / "bench_gas.py"), "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    result = json.loads(out)
    keys = {
        "custody_transfer_gas",
        "erc721_transfer_gas",
        "register_gas",
        "erc721_mint_gas",
        "batch10_per_item_gas",
        "batch100_per_item_gas",
    }
    assert keys <= set(result)
    assert all(isinstance(result[k], int) and result[k] > 21_000 / 100 for k in keys)
    assert result["custody_transfer_gas"] <= result["erc721_transfer_gas"]
    assert result["batch100_per_item_gas"] * 3 <= result["custody_transfer_gas"]
