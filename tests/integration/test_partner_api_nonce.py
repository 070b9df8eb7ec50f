"""GET /v1/signed-calls/nonce: the relay nonce to sign with, counting what the outbox holds; and the
CLI's ``custody sign`` asking for it when ``--nonce`` is not given.

The gateway here runs no worker thread: the test moves the outbox by hand, so which calls are
pending, in the pool or mined is known at every step.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from chain_client.eip712 import recover_signer
from chain_client.models import SignedCall
from chain_client.node import AnvilNode, rpc_call
from chain_client.signers import create_keystore
from gateway.cli import app
from tests.integration.test_partner_api_support import (
    GTIN,
    Stack,
    all_final,
    drive,
    new_serial,
    onboard,
    own_node,
    running,
    signed_body,
    statuses,
)

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    with own_node(tmp_path_factory.mktemp("anvil")) as node:
        yield node


@pytest.fixture(scope="module")
def stack(node: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running(tmp_path_factory.mktemp("gw"), node.rpc_url, run_worker=False) as stack:
        yield stack


def nonce_of(stack: Stack, key: str, signer: str) -> dict[str, Any]:
    with stack.client(key) as client:
        response = client.get("/v1/signed-calls/nonce", params={"signer": signer})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["chain_id"] == stack.ledger.sender.chain_id and body["relay"] == stack.ledger.relay_address
    assert body["signer"] == signer
    return body


def post_signed(stack: Stack, key: str, body: dict[str, Any]) -> str:
    with stack.client(key) as client:
        response = client.post("/v1/signed-calls", json=body)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def test_the_nonce_counts_signed_calls_accepted_but_not_mined(stack: Stack, node: AnvilNode) -> None:
    p = onboard(stack, custodial=False)
    assert p.own is not None
    signer = p.own.address
    first = nonce_of(stack, p.key, signer)
    assert (first["nonce"], first["chain_nonce"], first["in_outbox"]) == (0, 0, 0)

    post_signed(stack, p.key, signed_body(stack, p.own, 0))
    post_signed(stack, p.key, signed_body(stack, p.own, 1))
    after_two = nonce_of(stack, p.key, signer)
    assert (after_two["nonce"], after_two["chain_nonce"], after_two["in_outbox"]) == (2, 0, 2)
    post_signed(stack, p.key, signed_body(stack, p.own, 3))  # signed ahead: nonce 2 is still free
    gap = nonce_of(stack, p.key, signer)
    assert (gap["nonce"], gap["chain_nonce"], gap["in_outbox"]) == (2, 0, 3)

    rpc_call(node.rpc_url, "evm_setAutomine", [False])
    try:
        assert stack.worker.run_once() == 2  # 0 and 1 go into a relay transaction; 3 waits for 2
        assert statuses(stack) == Counter({"submitted": 2, "pending": 1})
        in_pool = nonce_of(stack, p.key, signer)
        assert (in_pool["nonce"], in_pool["chain_nonce"], in_pool["in_outbox"]) == (2, 0, 3)
        post_signed(stack, p.key, signed_body(stack, p.own, in_pool["nonce"]))
        closed = nonce_of(stack, p.key, signer)
        assert (closed["nonce"], closed["chain_nonce"], closed["in_outbox"]) == (4, 0, 4)
        rpc_call(node.rpc_url, "evm_mine")
    finally:
        rpc_call(node.rpc_url, "evm_setAutomine", [True])
    drive(stack, all_final(stack))
    assert statuses(stack)["failed"] == 0
    mined = nonce_of(stack, p.key, signer)
    assert (mined["nonce"], mined["chain_nonce"], mined["in_outbox"]) == (4, 4, 0)
    assert stack.ledger.relay_nonce(signer) == 4


def test_a_call_that_expired_in_the_outbox_no_longer_holds_its_nonce(stack: Stack) -> None:
    p = onboard(stack, custodial=False)
    assert p.own is not None
    call = stack.ledger.sign(p.own, "registerItems", [(f"urn:epc:id:sgtin:0614141.081234.{new_serial('EX')}",
                             "", 0, 0, 0)], nonce=0, deadline=int(time.time()) + 2)  # fmt: skip
    post_signed(stack, p.key, {"signer": call.signer, "data": "0x" + call.data.hex(), "nonce": 0,
                               "deadline": call.deadline, "signature": "0x" + call.signature.hex()})  # fmt: skip
    assert nonce_of(stack, p.key, p.own.address)["nonce"] == 1
    time.sleep(max(0.0, call.deadline - time.time()) + 1.1)
    expired = nonce_of(stack, p.key, p.own.address)
    assert (expired["nonce"], expired["in_outbox"]) == (0, 0)  # it will fail, never spending nonce 0


def test_who_may_ask_for_a_nonce(stack: Stack) -> None:
    p = onboard(stack, custodial=False)
    other = onboard(stack)
    assert p.own is not None and other.account is not None
    with stack.client(other.key) as client:
        foreign = client.get("/v1/signed-calls/nonce", params={"signer": p.own.address})
        assert (foreign.status_code, foreign.json()["code"]) == (403, "auth.forbidden")
        assert foreign.headers["content-type"] == PROBLEM
        bad = client.get("/v1/signed-calls/nonce", params={"signer": "0x1234"})
        assert (bad.status_code, bad.json()["code"]) == (422, "request.invalid")
        missing = client.get("/v1/signed-calls/nonce")
        assert (missing.status_code, missing.json()["code"]) == (422, "request.invalid")
    assert nonce_of(stack, other.key, other.account)["nonce"] == 0  # its own custodial account
    assert nonce_of(stack, stack.admin_key, p.own.address)["nonce"] == 0  # admins read every signer
    anonymous = httpx.get(f"{stack.url}/v1/signed-calls/nonce", params={"signer": p.own.address})
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "auth.missing_key")


# --- the CLI -------------------------------------------------------------------------------------------


def cli(stack: Stack, *args: str, key: str | None = None) -> Result:
    base = ["--url", stack.url] + (["--api-key", key] if key else [])
    env = {"CUSTODY_API_KEY": None, "CUSTODY_URL": None, "CUSTODY_KEYSTORE_PASSPHRASE": "pass phrase"}
    result = CliRunner().invoke(app, [*base, *args], env=env)
    assert "Traceback" not in result.output, result.output
    return result


def test_cli_sign_takes_the_nonce_from_the_gateway_unless_given(stack: Stack, tmp_path: Path) -> None:
    p = onboard(stack, custodial=False)
    assert p.own is not None
    keystore = tmp_path / "key.json"
    create_keystore(keystore, "pass phrase", p.own.private_key, 2**10)
    chain_id, relay = stack.ledger.sender.chain_id, stack.ledger.relay_address

    def sign(*extra: str, key: str | None = p.key, relay_address: str = relay) -> Result:
        body = tmp_path / f"op-{new_serial()}.json"
        body.write_text(json.dumps({"items": [{"gtin": GTIN, "serial": new_serial("CLI")}]}), encoding="utf-8")
        return cli(stack, "sign", "register_items", str(body), "--keystore", str(keystore), "--chain-id",
                   str(chain_id), "--relay", relay_address, "--deadline", "10m", *extra, key=key)  # fmt: skip

    def signed(result: Result) -> dict[str, Any]:
        assert result.exit_code == 0, result.stderr
        body: dict[str, Any] = json.loads(result.stdout)
        call = SignedCall(body["signer"], bytes.fromhex(body["data"][2:]), body["nonce"], body["deadline"],
                          bytes.fromhex(body["signature"][2:]))  # fmt: skip
        assert recover_signer(call, chain_id=chain_id, relay=relay) == p.own.address  # type: ignore[union-attr]
        return body

    first = signed(sign())
    assert first["nonce"] == 0
    post_signed(stack, p.key, first)  # accepted, not mined (no worker runs)
    second = signed(sign())
    assert second["nonce"] == 1
    post_signed(stack, p.key, second)
    assert signed(sign("--nonce", "7"))["nonce"] == 7  # an explicit nonce is used as given
    assert signed(sign("--nonce", "7", key=None))["nonce"] == 7  # …and needs no gateway

    no_key = sign(key=None)
    assert no_key.exit_code == 1 and no_key.stderr.startswith("error [cli.no_api_key]")
    elsewhere = "0x" + "11" * 20
    mismatch = sign(relay_address=elsewhere)
    assert mismatch.exit_code == 1
    assert mismatch.stderr.startswith(f"error [cli.relay_mismatch] The gateway at {stack.url} relays through {relay}")
    foreign = sign(key=onboard(stack).key)
    assert foreign.exit_code == 1 and foreign.stderr.startswith("error [auth.forbidden]")

    drive(stack, all_final(stack))
    assert stack.ledger.relay_nonce(p.own.address) == 2
    assert signed(sign())["nonce"] == 2
