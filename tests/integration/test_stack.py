"""The run command (`python -m gateway.stack`, what ./scripts/start execs) as a user runs it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chain_client.errors import NodeNotReachable
from chain_client.node import free_port, rpc_call

pytestmark = pytest.mark.integration


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTODY_")}
    env.update(CUSTODY_DATA_DIR=str(data_dir), CUSTODY_GATEWAY_PORT=str(free_port()), CUSTODY_ANVIL_PORT="0")
    env.update(extra)
    return env


def _start(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gateway.stack"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_health(url: str, process: subprocess.Popen[str], timeout: float = 120) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"stack exited early: {process.stderr.read() if process.stderr else ''}")
        try:
            return dict(httpx.get(f"{url}/health", timeout=1).json())
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("the stack did not become healthy")


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "data"


def _stop(process: subprocess.Popen[str], sig: int = signal.SIGINT) -> tuple[int, str]:
    process.send_signal(sig)  # SIGINT: what Ctrl-C sends
    out, _ = process.communicate(timeout=30)
    return process.returncode, out


def test_start_serves_and_state_survives_a_restart(data_dir: Path) -> None:
    env = _env(data_dir)
    process = _start(env)
    url = f"http://127.0.0.1:{env['CUSTODY_GATEWAY_PORT']}"
    first = _wait_health(url, process)
    code, out = _stop(process)
    assert code == 0, out
    assert f"Gateway        {url}" in out and f"{url}/docs" in out
    node_url = re.search(r"EVM node +(http://\S+)", out)
    assert node_url is not None, out
    with pytest.raises(NodeNotReachable):  # Ctrl-C stopped the node it started
        rpc_call(node_url.group(1), "eth_chainId", timeout=2)
    assert (data_dir / "anvil" / "state.json").exists()

    process = _start(env)
    second = _wait_health(url, process)
    _stop(process)
    assert second["contracts"] == first["contracts"], "the same deployment is found after a restart"
    assert isinstance(second["latest_block"], int) and second["latest_block"] >= int(str(first["latest_block"]))


def _run_to_error(env: dict[str, str]) -> tuple[int, str]:
    result = subprocess.run(
        [sys.executable, "-m", "gateway.stack"], env=env, capture_output=True, text=True, timeout=60
    )
    return result.returncode, result.stderr


def test_gateway_port_taken(data_dir: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        code, err = _run_to_error(_env(data_dir, CUSTODY_GATEWAY_PORT=str(s.getsockname()[1])))
    assert code == 1
    assert "already in use" in err and "CUSTODY_GATEWAY_PORT" in err and "Traceback" not in err


def test_unreachable_rpc_url(data_dir: Path) -> None:
    code, err = _run_to_error(_env(data_dir, CUSTODY_RPC_URL=f"http://127.0.0.1:{free_port()}"))
    assert code == 1
    assert "No EVM node answers" in err and "Traceback" not in err


def test_wrong_chain_id(data_dir: Path, anvil) -> None:  # type: ignore[no-untyped-def]
    code, err = _run_to_error(_env(data_dir, CUSTODY_RPC_URL=anvil.rpc_url, CUSTODY_CHAIN_ID="5"))
    assert code == 1
    assert "chain id 31337" in err and "Traceback" not in err


def test_corrupt_deployment_record(data_dir: Path) -> None:
    record = data_dir / "deployments" / "31337.json"
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"chain_id": 31337, "contracts": {"CustodyLedger": {"address": 5}}}))
    code, err = _run_to_error(_env(data_dir))
    assert code == 1
    assert "corrupt" in err and "Delete" in err and "Traceback" not in err


def _listeners(port: int) -> set[int]:
    """Inodes of the sockets listening on ``port`` (IPv4, from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # 0A: LISTEN
            found.add(int(fields[9]))
    return found


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    return inodes


def _replicas(pid: int) -> list[int]:
    """Child processes started by multiprocessing's spawn (not Anvil, not its resource tracker)."""
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            if "--multiprocessing-fork" in Path(f"/proc/{child}/cmdline").read_text():
                children.append(int(child))
    return children


def test_several_gateway_processes_share_the_port(data_dir: Path) -> None:
    """CUSTODY_GATEWAY_WORKERS=2: a second process listens on the same port (SO_REUSEPORT), every
    request on fresh connections is answered, and SIGTERM (what service managers send) to the
    first stops the second and the node, as Ctrl-C does."""
    env = _env(data_dir, CUSTODY_GATEWAY_WORKERS="2")
    port = int(env["CUSTODY_GATEWAY_PORT"])
    process = _start(env)
    try:
        _wait_health(f"http://127.0.0.1:{port}", process)
        deadline = time.monotonic() + 120
        while len(_listeners(port)) < 2:  # the replica starts after the first process serves
            assert time.monotonic() < deadline, "no second process listens"
            time.sleep(0.2)
        listening = _listeners(port)
        replica, *background = sorted(_replicas(process.pid), key=lambda pid: not listening & _socket_inodes(pid))
        assert listening & _socket_inodes(process.pid) and listening & _socket_inodes(replica)
        assert len(background) == 2, "the outbox worker and the indexer, a process each"
        assert not any(listening & _socket_inodes(pid) for pid in background), "background processes serve no HTTP"
        for _ in range(40):
            with httpx.Client() as client:  # a new connection each time: the kernel spreads them
                assert client.get(f"http://127.0.0.1:{port}/health", timeout=10).status_code == 200
    finally:
        code, out = _stop(process, signal.SIGTERM)
    assert code == 0, out
    assert "Stopped." in out
    for child in (replica, *background):
        assert not Path(f"/proc/{child}").exists() or "zombie" in Path(f"/proc/{child}/status").read_text().lower()
    node_url = re.search(r"EVM node +(http://\S+)", out)
    assert node_url is not None, out
    with pytest.raises(NodeNotReachable):
        rpc_call(node_url.group(1), "eth_chainId", timeout=2)


def _confirmed_and_indexed(client: httpx.Client, serial: str) -> None:
    """Registers one item and waits until the background worker confirms it and the background
    indexer has its block."""
    item = {"gtin": "09506000134352", "serial": serial, "lot": "L1"}
    accepted = client.post("/v1/items", json={"items": [item]})
    assert accepted.status_code == 202, accepted.text
    deadline = time.monotonic() + 90
    while (status := client.get(f"/v1/submissions/{accepted.json()['id']}").json())["status"] != "confirmed":
        assert status["status"] in ("pending", "submitted"), status
        assert time.monotonic() < deadline, "the background worker did not confirm the submission"
        time.sleep(0.2)
    while (client.get("/health").json()["indexed_block"] or 0) < status["block_number"]:
        assert time.monotonic() < deadline, "the background indexer did not index the block"
        time.sleep(0.2)


def _niceness(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def test_worker_and_indexer_run_in_background_processes(data_dir: Path) -> None:
    """One HTTP process (the default) plus a process for the outbox worker and one for the indexer
    (D25, D29): a submission accepted over HTTP is confirmed and indexed, the background processes
    do not listen on the port, they are started again when killed (as by the OOM killer), and
    Ctrl-C stops them with the rest."""
    env = _env(data_dir, CUSTODY_KEYSTORE_SCRYPT_N=str(2**14))
    port = int(env["CUSTODY_GATEWAY_PORT"])
    url = f"http://127.0.0.1:{port}"
    process = _start(env)
    try:
        _wait_health(url, process)
        background = _replicas(process.pid)
        assert len(background) == 2
        assert not any(_listeners(port) & _socket_inodes(pid) for pid in background)
        # the outbox worker at the gateway's priority, the indexer below it (CUSTODY_INDEXER_NICE),
        # once the spawned process has started running our code
        deadline = time.monotonic() + 60
        while (nice := sorted(_niceness(pid) - _niceness(process.pid) for pid in background)) != [0, 10]:
            assert nice == [0, 0] and time.monotonic() < deadline, nice
            time.sleep(0.2)
        admin = {"Authorization": f"Bearer {(data_dir / 'admin-api-key').read_text().strip()}"}
        partner = httpx.post(
            f"{url}/v1/admin/partners",
            headers=admin,
            json={"name": "Maker", "role": "manufacturer", "glns": ["0614141000005"]},
            timeout=60,
        ).json()
        headers = {"Authorization": f"Bearer {partner['api_key']['key']}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            _confirmed_and_indexed(client, "BG1")
            for pid in background:
                os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 30
            while len(restarted := set(_replicas(process.pid)) - set(background)) < 2:
                assert time.monotonic() < deadline, "the killed background processes were not started again"
                time.sleep(0.2)
            assert process.poll() is None
            _confirmed_and_indexed(client, "BG2")  # by the new background processes
        background = sorted(restarted)
    finally:
        code, out = _stop(process)
    assert code == 0, out
    for pid in background:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
