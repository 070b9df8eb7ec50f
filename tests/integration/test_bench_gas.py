"""The gas benchmark runs and its targets hold (gas is deterministic, unlike time)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from chain_client._paths import PROJECT_ROOT

pytestmark = pytest.mark.integration

KEYS = {
    "custody_transfer_gas", "erc721_transfer_gas", "register_gas", "erc721_mint_gas", "batch10_per_item_gas",
    "batch100_per_item_gas", "pallet100_ship_receive_gas", "erc721_100_transfers_gas", "erc1155_batch100_gas",
    "merkle_per_event_gas_1000", "batch1000_per_item_gas", "ship_receive100_per_item_gas",
}  # fmt: skip


@pytest.fixture(scope="module")
def result() -> dict[str, int]:
    out = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "scripts" / "bench_gas.py"), "--json"],
        capture_output=True, text=True, check=True, timeout=600,
    ).stdout  # fmt: skip
    return dict(json.loads(out))


def test_json_has_every_key(result: dict[str, int]) -> None:
    assert set(result) >= KEYS
    assert all(isinstance(result[k], int) and result[k] > 0 for k in KEYS)


def test_gas_targets(result: dict[str, int]) -> None:
    assert result["custody_transfer_gas"] <= result["erc721_transfer_gas"]
    assert result["batch100_per_item_gas"] * 3 <= result["custody_transfer_gas"]
    assert result["pallet100_ship_receive_gas"] * 10 <= result["erc721_100_transfers_gas"]
    assert result["merkle_per_event_gas_1000"] <= 1000
