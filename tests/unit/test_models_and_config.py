"""Domain models, settings and the deployment record (no node)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from chain_client.deploy import Deployment, DeploymentRecord
from chain_client.errors import CorruptDeployment, CustodyClientError, NotDeployed
from chain_client.models import Registration, date_to_int, int_to_date
from gateway.core.chain import admin_signer
from gateway.core.config import Settings


def test_dates_round_trip_as_yyyymmdd() -> None:
    assert date_to_int(dt.date(2027, 1, 31)) == 20270131
    assert int_to_date(20270131) == dt.date(2027, 1, 31)
    assert date_to_int(None) == 0 and int_to_date(0) is None


def test_registration_abi_tuple() -> None:
    r = Registration("urn:epc:id:sgtin:0614141.812345.1", "L1", dt.date(2027, 1, 31), None, "0614141000005")
    assert r.as_abi_tuple() == ("urn:epc:id:sgtin:0614141.812345.1", "L1", 20270131, 0, 614141000005)


def test_settings_read_the_custody_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CUSTODY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CUSTODY_GATEWAY_PORT", "9001")
    monkeypatch.setenv("CUSTODY_RPC_URL", "")
    settings = Settings()
    assert settings.data_dir == tmp_path.resolve()
    assert settings.gateway_port == 9001
    assert settings.embedded_node


def test_settings_reject_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUSTODY_GATEWAY_PORT", "not-a-port")
    with pytest.raises(ValidationError, match="gateway_port"):
        Settings()


def test_public_dev_key_only_on_local_chains() -> None:
    assert admin_signer(Settings(chain_id=31337)).address == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    with pytest.raises(CustodyClientError, match="CUSTODY_DEPLOYER_KEY"):
        admin_signer(Settings(chain_id=1))
    key = "0x" + "11" * 32
    assert admin_signer(Settings(chain_id=1, deployer_key=key)).address.startswith("0x")


def _deployment(name: str = "CustodyLedger") -> Deployment:
    return Deployment(name, "0x5FbDB2315678afecb367f032d93F642f64180aa3", "0x" + "ab" * 32, 1, "h", "2026-01-01")


def test_deployment_record_round_trip(tmp_path: Path) -> None:
    DeploymentRecord(tmp_path, 31337).put(_deployment())
    assert DeploymentRecord(tmp_path, 31337).get("CustodyLedger") == _deployment()
    with pytest.raises(NotDeployed, match="not deployed on chain 5"):
        DeploymentRecord(tmp_path, 5).get("CustodyLedger")


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        json.dumps({"chain_id": 31337}),
        json.dumps({"chain_id": 31337, "contracts": {"X": {"a": 1}}}),
        json.dumps({"chain_id": 1, "contracts": {}}),
    ],
)
def test_corrupt_deployment_record_names_the_fix(tmp_path: Path, content: str) -> None:
    path = tmp_path / "deployments" / "31337.json"
    path.parent.mkdir(parents=True)
    path.write_text(content)
    with pytest.raises(CorruptDeployment, match=r"Delete .*31337\.json"):
        DeploymentRecord(tmp_path, 31337)


def test_record_with_bad_address_is_corrupt(tmp_path: Path) -> None:
    record = DeploymentRecord(tmp_path, 31337)
    bad = Deployment("CustodyLedger", "0xnot-an-address", "0x", 1, "h", "t")
    record.put(bad)
    with pytest.raises(CorruptDeployment, match="invalid address"):
        DeploymentRecord(tmp_path, 31337)
