"""The ``custody`` CLI against the real gateway (HTTP + Anvil): onboarding, keys, submissions, offline signing."""

from __future__ import annotations

import itertools
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import SecretStr
from typer.testing import CliRunner, Result

from chain_client import gs1
from chain_client.eip712 import recover_signer
from chain_client.ledger import object_id
from chain_client.models import SignedCall
from chain_client.node import ANVIL_DEFAULT_MNEMONIC, AnvilNode, free_port
from chain_client.signers import LocalSigner
from gateway.cli import app
from gateway.core.config import Settings
from gateway.core.services import Services
from gateway.main import create_app
from gateway.partner.operations import ObjectRef
from gateway.stack import ensure_deployed
from tests.conftest import Gateway, unique_serial

pytestmark = pytest.mark.integration

GTIN = "09506000134352"
BAD_GTIN = "09506000134353"  # check digit should be 2
CUSTODY_BIN = Path(sys.executable).with_name("custody")


def cli(gateway: Gateway, *args: str, key: str | None = None, input: str | None = None,
        env: dict[str, str | None] | None = None) -> Result:  # fmt: skip
    """Runs ``custody --url <gateway> [--api-key key] args…`` in process."""
    base = ["--url", gateway.url] + (["--api-key", key] if key else [])
    env = {"CUSTODY_API_KEY": None, "CUSTODY_URL": None, "CUSTODY_KEYSTORE_PASSPHRASE": None, **(env or {})}
    result = CliRunner().invoke(app, [*base, *args], input=input, env=env)
    assert "Traceback" not in result.output, result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    return result


def ok(result: Result) -> Result:
    assert result.exit_code == 0, f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result


def as_json(result: Result) -> Any:
    return json.loads(ok(result).stdout)


def write(path: Path, value: Any) -> str:
    path.write_text(json.dumps(value), encoding="utf-8")
    return str(path)


def items_body(*serials: str, gtin: str = GTIN) -> dict[str, Any]:
    return {"items": [{"gtin": gtin, "serial": s, "lot": "L1"} for s in serials]}


_locations = itertools.count(1)


def unique_gln() -> str:
    """A GLN no other partner holds (each location belongs to one partner)."""
    payload = f"4006381{next(_locations):05d}"
    return payload + str(gs1.gs1_check_digit(payload))


def onboard(gateway: Gateway, name: str, *extra: str, role: str = "manufacturer") -> Any:
    return as_json(cli(gateway, "--json", "partners", "onboard", name, "--role", role, "--gln", unique_gln(), *extra,
                       key=gateway.admin_key))  # fmt: skip


@pytest.fixture(scope="module")
def maker(gateway: Gateway) -> Any:
    return onboard(gateway, "CLI Maker")


# -- partners ---------------------------------------------------------------------------------------------------


def test_onboard_prints_partner_id_address_and_key_once(gateway: Gateway) -> None:
    result = ok(cli(gateway, "partners", "onboard", "CLI Human", "--role", "distributor", "--gln", unique_gln(),
                    key=gateway.admin_key))  # fmt: skip
    match = re.search(r"partner (\d+) CLI Human \(distributor\) onboarded in tx 0x[0-9a-f]{64}", result.stdout)
    assert match, result.stdout
    partner_id = int(match.group(1))
    custodial = re.search(r"custodial\s+(0x[0-9a-fA-F]{40}) \(held by the gateway\)", result.stdout)
    assert custodial, result.stdout
    key = re.search(r"API key\s+(ck_\S+)", result.stdout)
    assert key, result.stdout
    assert "shown only this once" in result.stderr
    assert gateway.services.ledger.partner_of(custodial.group(1)) == partner_id
    # the key works, and listing keys never shows a secret again
    ok(cli(gateway, "submissions", key=key.group(1)))
    listed = as_json(cli(gateway, "--json", "keys", "list", "--partner-id", str(partner_id), key=gateway.admin_key))
    assert [k["key"] for k in listed] == [None]
    table = ok(cli(gateway, "keys", "list", "--partner-id", str(partner_id), key=gateway.admin_key)).stdout
    assert key.group(1) not in table and "active" in table


def test_partner_accounts_and_suspension(gateway: Gateway, tmp_path: Path) -> None:
    p = onboard(gateway, "CLI Suspendable")
    pid, api_key = str(p["partner_id"]), p["api_key"]["key"]
    extra = "0x" + os.urandom(20).hex()
    added = ok(cli(gateway, "partners", "add-key", pid, "--account", extra, key=gateway.admin_key)).stdout
    assert f"partner {pid}: account" in added and "the partner's own" in added
    assert gateway.services.ledger.partner_of(extra) == int(pid)
    ok(cli(gateway, "partners", "remove-key", pid, extra, key=gateway.admin_key))
    assert gateway.services.ledger.partner_of(extra) == 0
    custodial = as_json(cli(gateway, "--json", "partners", "add-key", pid, key=gateway.admin_key))
    assert custodial["custodial"] is True

    assert "suspended" in ok(cli(gateway, "partners", "suspend", pid, key=gateway.admin_key)).stdout
    body = write(tmp_path / "items.json", items_body(unique_serial("CLISUS")))
    failed = cli(gateway, "submit", "register_items", body, "--wait", key=api_key)
    assert failed.exit_code == 1
    assert "error [custody.partner_suspended] submission" in failed.stderr
    assert f"partner suspended (partner id {pid})" in failed.stderr

    ok(cli(gateway, "partners", "reinstate", pid, key=gateway.admin_key))
    ok(cli(gateway, "submit", "register_items", body, "--wait", key=api_key))


def test_admin_commands_need_an_admin_key(gateway: Gateway, maker: Any) -> None:
    result = cli(gateway, "keys", "list", key=maker["api_key"]["key"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error [auth.forbidden] Forbidden: This needs a admin API key.")
    no_key = cli(gateway, "keys", "list")
    assert no_key.exit_code == 1 and "error [cli.no_api_key]" in no_key.stderr


# -- submissions ---------------------------------------------------------------------------------------------


def test_submit_items_and_wait_until_confirmed(gateway: Gateway, maker: Any, tmp_path: Path) -> None:
    serials = [unique_serial("CLI"), unique_serial("CLI")]
    body = write(tmp_path / "items.json", items_body(*serials))
    result = ok(cli(gateway, "submit", "register_items", body, "--wait", key=maker["api_key"]["key"]))
    assert "CONFIRMED" in result.stdout
    assert "ItemRegistered x2" in result.stdout
    assert re.search(r"tx\s+0x[0-9a-f]{64} in block \d+", result.stdout)
    assert "waiting for the ledger" in result.stderr
    sid = re.search(r"submission (\S+)\s+CONFIRMED", result.stdout).group(1)  # type: ignore[union-attr]

    shown = as_json(cli(gateway, "--json", "status", sid, key=maker["api_key"]["key"]))
    assert shown["status"] == "confirmed" and len(shown["object_ids"]) == 2
    for oid in shown["object_ids"]:
        assert gateway.services.ledger.custodian_of(oid) == maker["partner_id"]
    listed = as_json(cli(gateway, "--json", "submissions", "--status", "confirmed", key=maker["api_key"]["key"]))
    assert sid in [s["id"] for s in listed]
    assert sid in ok(cli(gateway, "submissions", key=maker["api_key"]["key"])).stdout


def test_submit_from_stdin_then_watch_status(gateway: Gateway, maker: Any) -> None:
    body = json.dumps({"operation": "register_items", **items_body(unique_serial("CLIIN"))})
    first = as_json(cli(gateway, "--json", "submit", "register_items", "-", key=maker["api_key"]["key"], input=body))
    assert first["status"] in ("pending", "submitted", "confirmed")
    watched = as_json(cli(gateway, "--json", "status", first["id"], "--watch", key=maker["api_key"]["key"]))
    assert watched["status"] == "confirmed" and watched["id"] == first["id"]


def test_bad_gtin_is_refused_with_its_gs1_code(gateway: Gateway, maker: Any, tmp_path: Path) -> None:
    body = write(tmp_path / "bad.json", items_body(unique_serial("CLIBAD"), gtin=BAD_GTIN))
    result = cli(gateway, "submit", "register_items", body, "--wait", key=maker["api_key"]["key"])
    assert result.exit_code == 1
    assert result.stdout == ""
    first = result.stderr.splitlines()[0]
    assert first.startswith("error [gs1.check_digit] Invalid GS1 data: invalid GTIN check digit")
    assert first.endswith("(field items[0].gtin)")


def test_schema_errors_list_every_field(gateway: Gateway, maker: Any, tmp_path: Path) -> None:
    body = write(tmp_path / "bad.json", {"items": [{"gtin": GTIN}], "extra": 1})
    result = cli(gateway, "submit", "register_items", body, key=maker["api_key"]["key"])
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0] == "error [request.invalid] Invalid request: The request does not match the schema."
    assert any("Field required (field body.items.0.serial)" in line for line in lines[1:])
    assert any("(field body.extra)" in line for line in lines[1:])


def test_failed_submission_prints_the_decoded_ledger_error(gateway: Gateway, maker: Any, tmp_path: Path) -> None:
    never_registered = f"urn:epc:id:sgtin:9506000.013435.{unique_serial('CLIGHOST')}"
    body = write(tmp_path / "receive.json", {"objects": [{"epc": never_registered}]})
    result = cli(gateway, "submit", "receive", body, "--wait", key=maker["api_key"]["key"])
    assert result.exit_code == 1, result.output
    assert "FAILED" in result.stdout
    head = result.stderr.splitlines()[-2]
    expected = r"error \[custody\.unknown_object\] submission \S+ failed: unknown object \(object id 0x[0-9a-f]{64}\)"
    assert re.match(expected, head), result.stderr
    assert result.stderr.splitlines()[-1].strip().startswith("CustodyUnknownObject(")


def test_batch_shows_progress_and_splits_requests(gateway: Gateway, maker: Any, tmp_path: Path) -> None:
    ops = [{"operation": "register_items", **items_body(unique_serial("CLIB"))} for _ in range(5)]
    lot = unique_serial("CLILOT")
    ops.append(
        {"operation": "register_lot", "lot": {"gtin": GTIN, "lot": lot, "quantity": 10, "unit_of_measure": "KGM"}}
    )
    result = ok(cli(gateway, "submit-batch", write(tmp_path / "batch.json", ops), "--chunk-size", "4",
                    key=maker["api_key"]["key"]))  # fmt: skip
    assert "6 submissions: 6 confirmed, 0 failed" in result.stdout
    assert re.search(r"submitting.*6/6", result.stderr), result.stderr
    assert re.search(r"confirming.*6/6", result.stderr), result.stderr


def test_batch_reports_each_failure(gateway: Gateway, maker: Any, tmp_path: Path) -> None:
    ghost = f"urn:epc:id:sgtin:9506000.013435.{unique_serial('CLIGHOST')}"
    ops = [
        {"operation": "register_items", **items_body(unique_serial("CLIB"))},
        {"operation": "receive", "objects": [{"epc": ghost}]},
    ]
    result = cli(gateway, "--json", "submit-batch", write(tmp_path / "batch.json", ops), key=maker["api_key"]["key"])
    assert result.exit_code == 1
    final = json.loads(result.stdout)
    assert [s["status"] for s in final] == ["confirmed", "failed"]
    assert "error [batch.failed] 1 of 2 submissions failed" in result.stderr
    assert f"error [custody.unknown_object] submission {final[1]['id']} failed" in result.stderr


def test_batch_with_an_invalid_operation_sends_nothing(gateway: Gateway, maker: Any, tmp_path: Path) -> None:
    before = as_json(cli(gateway, "--json", "submissions", "--limit", "1000", key=maker["api_key"]["key"]))
    ops = [{"operation": "register_items", **items_body(unique_serial("CLIB"))} for _ in range(3)]
    ops.append({"operation": "register_items", **items_body(unique_serial("CLIB"), gtin=BAD_GTIN)})
    result = cli(gateway, "submit-batch", write(tmp_path / "batch.json", ops), "--chunk-size", "1",
                 key=maker["api_key"]["key"])  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0].endswith("(field operations[3].items[0].gtin)")
    after = as_json(cli(gateway, "--json", "submissions", "--limit", "1000", key=maker["api_key"]["key"]))
    assert len(after) == len(before)


# -- offline signing ----------------------------------------------------------------------------------------


def _refuse_network(*_: Any, **__: Any) -> None:
    raise AssertionError("the command used the network")


def test_keystore_sign_offline_then_relay(gateway: Gateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    passfile = tmp_path / "pass.txt"
    passfile.write_text("correct horse\n", encoding="utf-8")
    keystore = tmp_path / "key.json"
    created = as_json(cli(gateway, "--json", "keystore", "new", "--out", str(keystore), "--passphrase-file",
                          str(passfile), "--scrypt-n", "1024"))  # fmt: skip
    address = created["address"]
    assert ok(cli(gateway, "keystore", "address", str(keystore))).stdout.strip() == address
    partner = onboard(gateway, "CLI Self-Signer", "--account", address, "--no-custodial")
    assert partner["custodial_account"] is None and partner["accounts"] == [address]

    health = as_json(cli(gateway, "--json", "health"))
    chain_id, relay = health["chain_id"], health["contracts"]["CustodyRelay"]
    nonce = gateway.services.ledger.relay_nonce(address)
    serial = unique_serial("CLISIGN")
    body = write(tmp_path / "items.json", items_body(serial))
    signed_path = tmp_path / "signed.json"
    with monkeypatch.context() as m:  # signing needs neither the gateway nor a node
        m.setattr(socket.socket, "connect", _refuse_network)
        m.setattr(socket, "create_connection", _refuse_network)
        ok(cli(gateway, "sign", "register_items", body, "--keystore", str(keystore), "--chain-id", str(chain_id),
               "--relay", relay, "--nonce", str(nonce), "--deadline", "10m", "--out", str(signed_path),
               env={"CUSTODY_KEYSTORE_PASSPHRASE": "correct horse"}))  # fmt: skip
    signed = json.loads(signed_path.read_text(encoding="utf-8"))
    assert set(signed) == {"signer", "data", "nonce", "deadline", "signature"}
    call = SignedCall(signed["signer"], bytes.fromhex(signed["data"][2:]), signed["nonce"], signed["deadline"],
                      bytes.fromhex(signed["signature"][2:]))  # fmt: skip
    assert recover_signer(call, chain_id=chain_id, relay=relay) == address
    assert call.data == gateway.services.ledger.encode("registerItems", *_args_of(call.data))

    relayed = ok(cli(gateway, "relay", str(signed_path), "--wait", key=partner["api_key"]["key"]))
    assert "CONFIRMED" in relayed.stdout and "(signed, partner" in relayed.stdout
    assert gateway.services.ledger.relay_nonce(address) == nonce + 1
    sid = re.search(r"submission (\S+)\s+CONFIRMED", relayed.stdout).group(1)  # type: ignore[union-attr]
    shown = as_json(cli(gateway, "--json", "status", sid, key=partner["api_key"]["key"]))
    assert shown["mode"] == "signed" and shown["signer"] == address
    assert [e["event"] for e in shown["events"]] == ["ItemRegistered"]
    object_id = ObjectRef(gtin=GTIN, serial=serial).object_id()
    assert gateway.services.ledger.custodian_of(object_id) == partner["partner_id"]

    # the same signature cannot be used by another partner's key
    other = cli(gateway, "relay", str(signed_path), key=onboard(gateway, "CLI Other")["api_key"]["key"])
    assert other.exit_code == 1 and other.stderr.startswith("error [auth.forbidden] Forbidden:")


def _args_of(data: bytes) -> tuple[Any, ...]:
    from eth_abi.abi import decode

    return tuple(decode(["(string,string,uint32,uint32,uint64)[]"], data[4:]))


# -- API keys --------------------------------------------------------------------------------------------------


def test_keys_create_rotate_revoke(gateway: Gateway, maker: Any) -> None:
    admin = gateway.admin_key
    pid = str(maker["partner_id"])
    created = as_json(cli(gateway, "--json", "keys", "create", "--kind", "partner", "--partner-id", pid,
                          "--scope", "read", "--name", "cli read-only", key=admin))  # fmt: skip
    assert created["scopes"] == ["read"] and created["key"].startswith("ck_")
    ok(cli(gateway, "submissions", key=created["key"]))

    rotated = ok(cli(gateway, "keys", "rotate", str(created["id"]), key=admin))
    new_key = rotated.stdout.strip()
    assert new_key.startswith("ck_") and new_key != created["key"]
    assert f"rotated key {created['id']} into partner API key" in rotated.stderr
    old = cli(gateway, "submissions", key=created["key"])
    assert old.exit_code == 1
    assert old.stderr.strip() == "error [auth.invalid_key] Invalid credentials: unknown or revoked API key"
    ok(cli(gateway, "submissions", key=new_key))

    new_id = next(k["id"] for k in as_json(cli(gateway, "--json", "keys", "list", key=admin)) if k["prefix"] in new_key)
    assert f"API key {new_id} revoked" in ok(cli(gateway, "keys", "revoke", str(new_id), key=admin)).stdout
    assert cli(gateway, "submissions", key=new_key).exit_code == 1
    again = cli(gateway, "keys", "revoke", str(new_id), key=admin)
    assert again.exit_code == 1
    assert again.stderr.strip() == f"error [resource.not_found] Not found: No active API key {new_id}."


def test_invalid_key_request_reads_plainly(gateway: Gateway) -> None:
    result = cli(gateway, "keys", "create", "--kind", "auditor", "--scope", "submit", key=gateway.admin_key)
    assert result.exit_code == 1
    assert result.stderr.strip() == "error [auth.invalid_key_request] Invalid key request: auditor keys are read-only"


def test_bootstrap_admin_works_on_the_database(gateway: Gateway, tmp_path: Path) -> None:
    fresh = tmp_path / "new-deployment"
    first = ok(cli(gateway, "keys", "bootstrap-admin", env={"CUSTODY_DATA_DIR": str(fresh)}))
    assert first.stdout.strip().startswith("ck_") and (fresh / "custody.db").exists()
    again = cli(gateway, "keys", "bootstrap-admin", "--data-dir", str(fresh))
    assert again.exit_code == 1 and again.stderr.startswith("error [cli.admin_exists]")

    # on the running gateway's own database: refused (it has an admin), then forced; the key works over HTTP
    data_dir = str(gateway.settings.data_dir)
    assert cli(gateway, "keys", "bootstrap-admin", "--data-dir", data_dir).exit_code == 1
    forced = as_json(cli(gateway, "--json", "keys", "bootstrap-admin", "--data-dir", data_dir, "--force"))
    listed = as_json(cli(gateway, "--json", "keys", "list", key=forced["key"]))
    assert forced["id"] in [k["id"] for k in listed]
    ok(cli(gateway, "keys", "revoke", str(forced["id"]), key=gateway.admin_key))


# -- the real entry point ----------------------------------------------------------------------------------


def _run(args: Sequence[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CUSTODY_")}
    return subprocess.run([str(CUSTODY_BIN), *args], capture_output=True, text=True, env={**base, **(env or {})},
                          timeout=60)  # fmt: skip


def test_unreachable_gateway_is_one_plain_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = _run(["status", "some-id"], env={"CUSTODY_URL": url, "CUSTODY_API_KEY": "ck_x_y"})
    assert done.returncode == 1
    assert done.stderr.splitlines()[0] == f"error: cannot reach the gateway at {url}: is ./scripts/start running?"
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_entry_point_talks_to_the_gateway(gateway: Gateway, maker: Any) -> None:
    env = {"CUSTODY_URL": gateway.url, "CUSTODY_API_KEY": maker["api_key"]["key"]}
    done = _run(["--json", "submissions", "--limit", "1"], env=env)
    assert done.returncode == 0, done.stderr
    assert isinstance(json.loads(done.stdout), list)


# -- EPCIS --------------------------------------------------------------------------------------------------


def _serves_capture(app: Any) -> bool:
    return any(getattr(route, "path", None) == "/v1/epcis/capture" for route in app.routes)


@pytest.fixture(scope="module")
def epcis_gateway(gateway: Gateway, anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """The session gateway once it serves /v1/epcis/capture; until then one like it with the EPCIS router
    included, in its own data folder with its own admin and relayer (Anvil dev accounts 14 and 15)."""
    if "/v1/epcis/capture" in httpx.get(f"{gateway.url}/openapi.json", timeout=120).json()["paths"]:
        yield gateway
        return
    from gateway.api.routes import epcis as epcis_routes

    def key(index: int) -> SecretStr:
        return SecretStr("0x" + LocalSigner.from_mnemonic(ANVIL_DEFAULT_MNEMONIC, index).private_key.hex())

    settings = Settings(
        data_dir=tmp_path_factory.mktemp("cli-epcis-gateway"), gateway_port=free_port(),
        keystore_passphrase=SecretStr("test-passphrase"), keystore_scrypt_n=2**12, deployer_key=key(14),
        relayer_key=key(15),
    )  # fmt: skip
    ensure_deployed(settings, anvil.rpc_url)
    app = create_app(settings, rpc_url=anvil.rpc_url)
    if not _serves_capture(app):
        app.include_router(epcis_routes.router)
    services: Services = app.state.services
    admin_key = services.api_keys.create("admin", name="cli epcis admin").key
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=settings.gateway_port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the EPCIS gateway did not start")
        time.sleep(0.02)
    yield Gateway(f"http://127.0.0.1:{settings.gateway_port}", settings, server, services, admin_key)
    server.should_exit = True
    thread.join(timeout=10)


def epcis_document(*events: dict[str, Any]) -> dict[str, Any]:
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2024-05-01T10:00:00Z",
        "epcisBody": {"eventList": list(events)},
    }  # fmt: skip


def commissioning(*epcs: str, when: str = "2024-05-01T10:00:00Z", biz_step: str = "commissioning") -> dict[str, Any]:
    return {"type": "ObjectEvent", "eventTime": when, "eventTimeZoneOffset": "+00:00", "action": "ADD",
            "bizStep": biz_step, "epcList": list(epcs)}  # fmt: skip


def test_epcis_capture_waits_for_the_ledger(epcis_gateway: Gateway, tmp_path: Path) -> None:
    maker = onboard(epcis_gateway, "CLI EPCIS maker")
    key = maker["api_key"]["key"]
    urn = f"urn:epc:id:sgtin:9506000.013435.{unique_serial('CLIEPCIS')}"
    document = tmp_path / "capture.jsonld"
    document.write_text(json.dumps(epcis_document(commissioning(urn))), encoding="utf-8")
    result = ok(cli(epcis_gateway, "epcis", "capture", str(document), "--wait", key=key))
    match = re.search(r"capture (\S+): 1 submissions, succeeded", result.stdout)
    assert match, result.stdout
    assert "register_items" in result.stdout and "confirmed" in result.stdout
    assert re.search(r"confirming.*1/1", result.stderr), result.stderr
    assert epcis_gateway.services.ledger.custodian_of(object_id(urn)) == maker["partner_id"]
    shown = as_json(cli(epcis_gateway, "--json", "epcis", "status", match.group(1), key=key))
    assert shown["success"] is True and shown["running"] is False

    # the same item again, in a new capture: refused by the ledger, reported per event
    document.write_text(json.dumps(epcis_document(commissioning(urn, when="2024-05-02T10:00:00Z"))), encoding="utf-8")
    again = cli(epcis_gateway, "epcis", "capture", str(document), "--wait", key=key)
    assert again.exit_code == 1
    lines = again.stderr.splitlines()
    failed_head = next(line for line in lines if line.startswith("error [epcis.capture_failed]"))
    assert failed_head.endswith(": 1 submissions failed")
    assert any(
        re.match(r"error \[custody\.already_registered\] submission \S+ \(event 0, urn:uuid:\S+\) failed: ", x)
        for x in lines
    ), again.stderr


def test_epcis_capture_problems_point_into_the_document(epcis_gateway: Gateway) -> None:
    maker = onboard(epcis_gateway, "CLI EPCIS refused")
    urn = f"urn:epc:id:sgtin:9506000.013435.{unique_serial('CLIEPCIS')}"
    doc = json.dumps(epcis_document(commissioning(urn, biz_step="teleporting")))
    result = cli(epcis_gateway, "epcis", "capture", "-", key=maker["api_key"]["key"], input=doc)
    assert result.exit_code == 1 and result.stdout == ""
    head = result.stderr.splitlines()[0]
    assert head.startswith("error [epcis.") and "EPCIS capture rejected" in head
    assert "(field /epcisBody/eventList/0" in head and head.endswith("(event 0)")
