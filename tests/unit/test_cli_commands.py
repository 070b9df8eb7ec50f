"""The commands' wiring without a gateway: batch chunking, prompts, and never a traceback."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner, Result

from chain_client.eip712 import recover_signer
from chain_client.models import SignedCall
from chain_client.signers import create_keystore
from gateway.cli import _app, app, main
from gateway.cli._client import GatewayClient

RELAY = "0xa16E02E87b7454126E5E10d957A927A7F5B5d2be"
ITEM_OP = {"operation": "register_items", "items": [{"gtin": "09506000134352", "serial": "S1"}]}
CLEAN_ENV: dict[str, str | None] = {"CUSTODY_API_KEY": None, "CUSTODY_URL": None, "CUSTODY_KEYSTORE_PASSPHRASE": None}


def run(*args: str, input: str | None = None, env: dict[str, str | None] | None = None) -> Result:
    result = CliRunner().invoke(app, list(args), input=input, env={**CLEAN_ENV, **(env or {})})
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def gateway_mock(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[httpx.Request], httpx.Response]], None]:
    """Routes the commands' HTTP to ``handler`` instead of a gateway."""

    def install(handler: Callable[[httpx.Request], httpx.Response]) -> None:
        transport = httpx.MockTransport(handler)
        monkeypatch.setattr(_app, "GatewayClient", lambda url, key: GatewayClient(url, key, transport=transport))

    return install


def test_every_command_builds_and_has_help() -> None:
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    names: list[list[str]] = []
    for name, command in group.commands.items():
        if isinstance(command, typer.core.TyperGroup):
            names.extend([name, sub] for sub in command.commands)
        else:
            names.append([name])
    assert ["keys", "bootstrap-admin"] in names and ["submit-batch"] in names and ["epcis", "capture"] in names
    for path in names:
        result = run(*path, "--help")
        assert result.exit_code == 0, (path, result.output)


def test_batch_is_sent_in_chunks_of_at_most_1000(gateway_mock: Any, tmp_path: Path) -> None:
    sizes: list[int] = []
    made: dict[str, dict[str, Any]] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/batch":
            ops = json.loads(request.content)["operations"]
            sizes.append(len(ops))
            answer = []
            for _ in ops:
                sid = f"s{len(made)}"
                made[sid] = {"id": sid, "status": "pending", "updated_at": "t0"}
                answer.append(made[sid])
            return httpx.Response(202, json=answer)
        if request.url.path == "/v1/submissions":
            return httpx.Response(
                200, json=[{**s, "status": "confirmed", "updated_at": "t1"} for s in made.values()][-1000:]
            )
        sid = request.url.path.rsplit("/", 1)[1]
        return httpx.Response(200, json={**made[sid], "status": "confirmed", "updated_at": "t1"})

    gateway_mock(handler)
    batch = tmp_path / "batch.json"
    batch.write_text(json.dumps([ITEM_OP] * 2500), encoding="utf-8")
    result = run("--api-key", "ck_a_b", "submit-batch", str(batch))
    assert result.exit_code == 0, result.output
    assert sizes == [1000, 1000, 500]
    assert "2500 submissions: 2500 confirmed, 0 failed" in result.stdout
    assert "2500/2500" in result.stderr


def test_a_refused_chunk_says_what_was_already_accepted(gateway_mock: Any, tmp_path: Path) -> None:
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            return httpx.Response(
                202, json=[{"id": "first", "status": "pending"}, {"id": "second", "status": "pending"}]
            )
        return httpx.Response(503, json={"code": "node.unreachable", "title": "NodeNotReachable", "detail": "down"})

    gateway_mock(handler)
    batch = tmp_path / "batch.json"
    batch.write_text(json.dumps({"operations": [ITEM_OP] * 3}), encoding="utf-8")
    result = run("--api-key", "ck_a_b", "submit-batch", str(batch), "--chunk-size", "2")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-2:] == [
        "error [node.unreachable] NodeNotReachable: down",
        "  request 2 of 2 was refused; 2 operations before it were accepted (submissions first … second)",
    ]


def test_unexpected_errors_are_one_line(gateway_mock: Any) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("boom")

    gateway_mock(handler)
    result = run("--api-key", "ck_a_b", "status", "x")
    assert result.exit_code == 1
    assert result.stderr == "error [cli.internal] RuntimeError: boom\n  (CUSTODY_DEBUG=1 shows where)\n"


def test_main_returns_the_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert main(["submit", "teleport", "x.json"]) == 1
    assert "error [cli.unknown_operation]" in capsys.readouterr().err
    assert main(["no-such-command"]) == 2


def test_commands_that_need_a_key_say_so() -> None:
    result = run("submissions")
    assert result.exit_code == 1
    assert result.stderr.startswith("error [cli.no_api_key] This command needs an API key")


def test_json_files_are_checked_before_sending(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{nope", encoding="utf-8")
    result = run("--api-key", "k", "submit", "ship", str(bad))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error [cli.invalid_json] {bad} is not valid JSON: Expecting property name")
    missing = run("--api-key", "k", "submit", "ship", str(tmp_path / "none.json"))
    assert missing.stderr.startswith("error [cli.file] Cannot read")
    other = run("--api-key", "k", "submit", "ship", "-", input=json.dumps(ITEM_OP))
    assert other.stderr.startswith("error [cli.operation_mismatch]")


@pytest.fixture
def keystore(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "key.json"
    return path, create_keystore(path, "pass phrase", scrypt_n=2**10)


def _signed(text: str) -> SignedCall:
    body = json.loads(text)
    return SignedCall(body["signer"], bytes.fromhex(body["data"][2:]), body["nonce"], body["deadline"],
                      bytes.fromhex(body["signature"][2:]))  # fmt: skip


def test_sign_asks_for_the_passphrase_on_a_terminal(
    keystore: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, address = keystore
    body = tmp_path / "op.json"
    body.write_text(json.dumps(ITEM_OP), encoding="utf-8")
    monkeypatch.setattr(_app, "_interactive", lambda: True)
    args = ["sign", "register_items", str(body), "--keystore", str(path), "--chain-id", "31337", "--relay", RELAY,
            "--nonce", "2", "--deadline", "1900000000"]  # fmt: skip
    result = run(*args, input="pass phrase\n")
    assert result.exit_code == 0, result.output
    assert "Keystore passphrase:" in result.stderr and "pass phrase" not in result.output
    call = _signed(result.stdout)
    assert (call.nonce, call.deadline) == (2, 1_900_000_000)
    assert recover_signer(call, chain_id=31337, relay=RELAY) == address


def test_sign_without_a_passphrase_source(keystore: tuple[Path, str], tmp_path: Path) -> None:
    path, _ = keystore
    body = tmp_path / "op.json"
    body.write_text(json.dumps(ITEM_OP), encoding="utf-8")
    args = ["sign", "register_items", str(body), "--keystore", str(path), "--chain-id", "1", "--relay", RELAY,
            "--nonce", "0"]  # fmt: skip
    none = run(*args)
    assert none.exit_code == 1 and none.stderr.startswith("error [cli.no_passphrase]")
    wrong = run(*args, env={"CUSTODY_KEYSTORE_PASSPHRASE": "wrong"})
    assert wrong.exit_code == 1
    assert wrong.stderr.startswith(f"error [client.error] Cannot decrypt keystore {path}: wrong passphrase")
    passfile = tmp_path / "pass.txt"
    passfile.write_text("pass phrase\n", encoding="utf-8")
    good = run(*args, "--passphrase-file", str(passfile))
    assert good.exit_code == 0 and _signed(good.stdout).nonce == 0


def test_keystore_new_never_overwrites(tmp_path: Path) -> None:
    passfile = tmp_path / "pass.txt"
    passfile.write_text("pw", encoding="utf-8")
    out = tmp_path / "k.json"
    first = run(
        "--json", "keystore", "new", "--out", str(out), "--passphrase-file", str(passfile), "--scrypt-n", "1024"
    )
    assert first.exit_code == 0
    address = json.loads(first.stdout)["address"]
    assert run("keystore", "address", str(out)).stdout.strip() == address
    again = run("keystore", "new", "--out", str(out), "--passphrase-file", str(passfile), "--scrypt-n", "1024")
    assert again.exit_code == 1 and again.stderr.startswith("error [cli.file_exists]")


def test_epcis_capture_sends_the_document_as_is(gateway_mock: Any, tmp_path: Path) -> None:
    seen: list[httpx.Request] = []
    job = {"captureID": "c1", "running": True, "success": True, "errors": [],
           "submissions": [{"id": "s1", "status": "pending", "operation": "register_items"}]}  # fmt: skip
    polls = iter([{**job, "submissions": [{"id": "s1", "status": "submitted"}]},
                  {**job, "running": False, "success": False,
                   "submissions": [{"id": "s1", "status": "failed", "operation": "register_items"}],
                   "errors": [{"code": "custody.already_registered", "submission_id": "s1", "event_index": 0,
                               "event_id": None, "detail": "CustodyAlreadyRegistered(objectId='0x01')"}]}])  # fmt: skip

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "POST":
            return httpx.Response(202, json=job)
        assert request.url.path == "/v1/epcis/capture/c1"
        return httpx.Response(200, json=next(polls))

    gateway_mock(handler)
    text = '{"type": "EPCISDocument", "epcisBody": {"eventList": []}}'
    document = tmp_path / "doc.jsonld"
    document.write_text(text, encoding="utf-8")
    result = run("--api-key", "ck_a_b", "epcis", "capture", str(document), "--wait", "--idempotency-key", "k9")
    post = seen[0]
    assert (post.method, post.url.path, post.content.decode()) == ("POST", "/v1/epcis/capture", text)
    assert post.headers["Content-Type"] == "application/ld+json"
    assert post.headers["GS1-EPCIS-Version"] == "2.0.0" and post.headers["Idempotency-Key"] == "k9"
    assert result.exit_code == 1
    assert "capture c1: 1 submissions, finished with failures" in result.stdout
    assert result.stderr.splitlines()[-2:] == [
        "error [epcis.capture_failed] capture c1: 1 submissions failed",
        "error [custody.already_registered] submission s1 (event 0) failed: CustodyAlreadyRegistered(objectId='0x01')",
    ]
    plain = tmp_path / "doc.json"
    plain.write_text(text, encoding="utf-8")
    assert run("--api-key", "k", "--json", "epcis", "capture", str(plain)).exit_code == 0
    assert seen[-1].headers["Content-Type"] == "application/json"
