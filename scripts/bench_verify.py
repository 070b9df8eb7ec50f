#!/usr/bin/env python3
"""Consumer verification benchmark: GET /v1/verify on loopback at 1, 16 and 64 concurrent clients,
side by side with a direct ``custodyOf`` eth_call on the node in the same run.

Starts its own Anvil node and the gateway as a separate process (``python -m gateway.stack``:
uvicorn with httptools and uvloop, plain verifications answered in its HTTP protocol, D30),
registers ``--items`` items over the partner API, waits until the indexer has them, then for
each concurrency level runs closed-loop clients for
``--seconds`` seconds: each client keeps one HTTP/1.1 keep-alive connection and sends the next
request when the previous answer arrived (a small raw-socket client, so the load generator costs
less CPU than the server). Every answer must be 200 with verdict ``authentic`` (verify) or a
result (eth_call). The eth_call baseline sends the same number of concurrent JSON-RPC requests
straight to Anvil. Rate limits are raised for the run; the lookup cache has its default TTL.

Closed-loop clients measure the most the gateway can do; their latency is then the queue they
build themselves (Little's law: 64 clients at R answers/s wait 64/R s on average). So a paced run
follows: 64 connections offering ``--rate`` requests/s in all (2,000 by default, the target),
each request's latency counted from when it was due, side by side with ``eth_call`` paced alike.

``--workers`` gateway processes serve the port (``CUSTODY_GATEWAY_WORKERS``, 2 by default: one
per core). Run: ``.venv/bin/python scripts/bench_verify.py [--json] [--seconds 10] [--items 200]
[--workers 2] [--rate 2000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chain_client import gs1  # noqa: E402
from chain_client.artifacts import load_artifact  # noqa: E402
from chain_client.deploy import DeploymentRecord  # noqa: E402
from chain_client.ledger import CONTRACT_NAME  # noqa: E402
from chain_client.node import AnvilNode, free_port  # noqa: E402
from chain_client.tx import connect  # noqa: E402

GTIN = "00614141770014"
LOT = "BENCH1"
EXPIRY = dt.date.today() + dt.timedelta(days=365)
LEVELS = (1, 16, 64)
# Items per registration submission. One: on this tree a submission of several items reverted
# (tx.failed, no reason) while single-item submissions, batched by the outbox, confirm.
CHUNK = 1


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


class GatewayProcess:
    """``python -m gateway.stack`` against ``rpc_url``, with limits raised for the benchmark."""

    def __init__(self, rpc_url: str, data_dir: Path, workers: int = 1) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTODY_")}
        env.update(
            CUSTODY_RPC_URL=rpc_url, CUSTODY_DATA_DIR=str(data_dir), CUSTODY_GATEWAY_PORT=str(self.port),
            CUSTODY_KEYSTORE_PASSPHRASE="bench", CUSTODY_KEYSTORE_SCRYPT_N=str(2**14),
            CUSTODY_VERIFY_RATE_PER_SECOND="1000000", CUSTODY_VERIFY_RATE_BURST="1000000",
            CUSTODY_GATEWAY_WORKERS=str(workers),
        )  # fmt: skip
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway.stack"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 180
        key_file = data_dir / "admin-api-key"
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"gateway exited: {self.process.stderr.read() if self.process.stderr else ''}")
            if time.monotonic() > deadline:
                raise TimeoutError("the gateway did not start")
            try:
                if key_file.exists():
                    httpx.get(f"{self.url}/health", timeout=1).raise_for_status()
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.admin_key = key_file.read_text().strip()
        self.wait_serving(workers, deadline)

    def wait_serving(self, workers: int, deadline: float) -> None:
        """Waits until ``workers`` processes listen on the port: replicas import and build the app
        for several seconds after the first process answers, and a level run meanwhile would be
        measured on fewer processes, one of them busy starting."""
        while len(self.serving_pids()) < workers:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(self.serving_pids())} of {workers} gateway processes serve")
            time.sleep(0.2)

    def serving_pids(self) -> list[int]:
        """The gateway processes holding a listening socket on the port (from /proc)."""
        listening = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with contextlib.suppress(FileNotFoundError):
                for line in Path(table).read_text().splitlines()[1:]:
                    fields = line.split()
                    if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == self.port:
                        listening.add(f"socket:[{fields[9]}]")
        serving = []
        for pid in self.pids():
            with contextlib.suppress(OSError):
                if any(os.readlink(fd) in listening for fd in Path(f"/proc/{pid}/fd").iterdir()):
                    serving.append(pid)
        return serving

    def pids(self) -> list[int]:
        """The gateway process and its replicas (its children)."""
        pids = [self.process.pid]
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            pids += [int(p) for p in (task / "children").read_text().split()]
        return pids

    def cpu_seconds(self) -> float:
        total = 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue
            total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def setup(gw: GatewayProcess, n: int) -> list[str]:
    """Onboards a manufacturer, registers ``n`` items and waits until verification sees them all."""
    admin = {"Authorization": f"Bearer {gw.admin_key}"}
    body = {"name": "Bench Pharma", "role": "manufacturer", "glns": ["0614141000005"]}
    partner = httpx.post(f"{gw.url}/v1/admin/partners", headers=admin, json=body, timeout=60)
    partner.raise_for_status()
    key = partner.json()["api_key"]["key"]
    serials = [f"BV{i}" for i in range(n)]
    with httpx.Client(base_url=gw.url, headers={"Authorization": f"Bearer {key}"}, timeout=120) as client:
        ids = []
        for k in range(0, n, CHUNK):
            items = [
                {"gtin": GTIN, "serial": s, "lot": LOT, "expiry_date": EXPIRY.isoformat()}
                for s in serials[k : k + CHUNK]
            ]
            response = client.post("/v1/items", json={"items": items})
            response.raise_for_status()
            ids.append(response.json()["id"])
        deadline = time.monotonic() + 300
        while ids:
            states = {i: client.get(f"/v1/submissions/{i}").json() for i in ids}
            failed = [s for s in states.values() if s["status"] == "failed"]
            if failed:
                raise RuntimeError(f"registration failed: {failed[0]['error']}")
            ids = [i for i, s in states.items() if s["status"] != "confirmed"]
            if time.monotonic() > deadline:
                raise TimeoutError("registration did not confirm")
            time.sleep(0.1)
        deadline = time.monotonic() + 120
        while True:  # the indexer follows on its own; wait for the last item
            verdict = client.get("/v1/verify", params={"gtin": GTIN, "serial": serials[-1]}).json()["verdict"]
            if verdict == "authentic":
                break
            if time.monotonic() > deadline:
                raise TimeoutError("the indexer did not catch up")
            time.sleep(0.2)
    return serials


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection of the load generator: sends a request, parses the
    answer's head and Content-Length as bytes arrive, then asks ``next_request`` for the next one.
    A protocol rather than streams: a coroutine and two stream reads per request cost the load
    generator more CPU than the server's answer, on cores it shares with the server."""

    def __init__(self, check: bytes, on_answer: Callable[[_Connection, bool], None]) -> None:
        self.check = check
        self.on_answer = on_answer
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.sent_at = 0.0
        self.due = 0.0
        self.connected = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not an asyncio.Transport
        self.connected.set_result(None)

    def send(self, request: bytes) -> None:
        assert self.transport is not None
        self.sent_at = time.perf_counter()
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buffer[:end]
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if len(self.buffer) < end + 4 + length:
            return
        body = self.buffer[end + 4 : end + 4 + length]
        self.buffer = self.buffer[end + 4 + length :]
        self.on_answer(self, head.startswith(b"HTTP/1.1 200") and self.check in body)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


def _run_level(
    host: str,
    port: int,
    requests: list[bytes],
    check: bytes,
    clients: int,
    seconds: float,
    rate: float | None = None,
) -> dict[str, Any]:
    """``clients`` connections for ``seconds``: closed loop (the next request when the answer
    arrives) or, with ``rate``, open loop (each connection sends every ``clients / rate`` seconds;
    a request's latency counts from when it was due, so a server that falls behind pays for the
    whole queue: no coordinated omission). Runs on uvloop when installed, like the server."""
    loop = _new_loop()
    try:
        return loop.run_until_complete(_level(host, port, requests, check, clients, seconds, rate))
    finally:
        loop.close()


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is in the lock file
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


async def _level(
    host: str, port: int, requests: list[bytes], check: bytes, clients: int, seconds: float, rate: float | None
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    errors = 0
    interval = 0.0 if rate is None else clients / rate
    start = time.perf_counter() + (0.2 if rate is not None else 0.0)
    stop_at = start + seconds
    order = random.Random(1)
    done = loop.create_future()
    active = clients

    def finish(conn: _Connection) -> None:
        nonlocal active
        assert conn.transport is not None
        conn.transport.close()
        active -= 1
        if active == 0 and not done.done():
            done.set_result(None)

    def send_next(conn: _Connection) -> None:
        if conn.due >= stop_at:
            finish(conn)
            return
        conn.send(requests[order.randrange(len(requests))])

    def on_answer(conn: _Connection, ok: bool) -> None:
        nonlocal errors
        now = time.perf_counter()
        errors += not ok
        if rate is None:
            latencies.append((now - conn.sent_at) * 1000)
            conn.due = now
            send_next(conn)
            return
        latencies.append((now - conn.due) * 1000)
        conn.due += interval
        delay = conn.due - time.perf_counter()
        if conn.due >= stop_at:
            finish(conn)
        elif delay > 0:
            loop.call_later(delay, send_next, conn)
        else:
            send_next(conn)

    conns = []
    for _ in range(clients):
        _, conn = await loop.create_connection(lambda: _Connection(check, on_answer), host, port)
        await conn.connected
        conns.append(conn)
    start = max(start, time.perf_counter())
    stop_at = start + seconds
    for k, conn in enumerate(conns):
        if rate is None:
            conn.due = start
            send_next(conn)
        else:
            conn.due = start + interval * k / clients
            loop.call_at(loop.time() + (conn.due - time.perf_counter()), send_next, conn)
    await done
    wall = time.perf_counter() - start
    result: dict[str, Any] = {
        "clients": clients,
        "requests": len(latencies),
        "per_s": len(latencies) / wall,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "errors": errors,
    }
    if rate is not None:
        result["offered_per_s"] = rate
    return result


def verify_requests(port: int, serials: list[str]) -> list[bytes]:
    expiry = EXPIRY.strftime("%y%m%d")
    return [
        f"GET /v1/verify?gtin={GTIN}&serial={s}&lot={LOT}&expiry={expiry} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Accept: application/json\r\n\r\n".encode()
        for s in serials
    ]


def eth_call_requests(rpc_url: str, data_dir: Path, serials: list[str]) -> list[bytes]:
    """JSON-RPC ``eth_call custodyOf(objectId)`` for each item, as raw HTTP requests to the node."""
    w3 = connect(rpc_url)
    chain_id = int(w3.eth.chain_id)
    ledger = DeploymentRecord(data_dir, chain_id).get(CONTRACT_NAME).address
    contract = w3.eth.contract(address=ledger, abi=load_artifact(CONTRACT_NAME).abi)
    host = rpc_url.split("//", 1)[1]
    out = []
    for k, s in enumerate(serials):
        oid = gs1.Sgtin(gs1.Gtin(GTIN), s).object_id
        data = contract.encode_abi("custodyOf", [oid])
        body = json.dumps({"jsonrpc": "2.0", "id": k, "method": "eth_call",
                           "params": [{"to": ledger, "data": data}, "latest"]}).encode()  # fmt: skip
        out.append(
            f"POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n".encode()
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per concurrency level")
    parser.add_argument("--items", type=int, default=200, help="registered items the clients verify")
    parser.add_argument("--workers", type=int, default=2, help="gateway processes (CUSTODY_GATEWAY_WORKERS)")
    parser.add_argument("--rate", type=float, default=2000.0, help="offered rate of the paced run (64 clients)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, AnvilNode() as node:
        data_dir = Path(tmp) / "data"
        gw = GatewayProcess(node.rpc_url, data_dir, args.workers)
        try:
            serials = setup(gw, args.items)
            verify_reqs = verify_requests(gw.port, serials)
            call_reqs = eth_call_requests(node.rpc_url, data_dir, serials)
            node_host, node_port = node.rpc_url.split("//", 1)[1].rsplit(":", 1)
            verify: dict[int, dict[str, Any]] = {}
            calls: dict[int, dict[str, Any]] = {}
            for clients in LEVELS:
                cpu0, t0 = gw.cpu_seconds(), time.perf_counter()
                verify[clients] = _run_level(
                    "127.0.0.1", gw.port, verify_reqs, b'"verdict":"authentic"', clients, args.seconds
                )
                verify[clients]["gateway_cpu_percent"] = 100 * (gw.cpu_seconds() - cpu0) / (time.perf_counter() - t0)
                calls[clients] = _run_level(node_host, int(node_port), call_reqs, b'"result"', clients, args.seconds)
            paced = _run_level("127.0.0.1", gw.port, verify_reqs, b'"verdict":"authentic"', 64, args.seconds, args.rate)
            paced_calls = _run_level(node_host, int(node_port), call_reqs, b'"result"', 64, args.seconds, args.rate)
        finally:
            gw.stop()

    load = os.getloadavg()
    result: dict[str, Any] = {
        "date": dt.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load_average": [round(x, 2) for x in load],
        "seconds_per_level": args.seconds,
        "items": args.items,
        "gateway_workers": args.workers,
    }
    for clients in LEVELS:
        v, c = verify[clients], calls[clients]
        result[f"verify_per_s_{clients}"] = round(v["per_s"], 1)
        result[f"verify_p50_ms_{clients}"] = round(v["p50_ms"], 2)
        result[f"verify_p99_ms_{clients}"] = round(v["p99_ms"], 2)
        result[f"verify_errors_{clients}"] = v["errors"]
        result[f"gateway_cpu_percent_{clients}"] = round(v["gateway_cpu_percent"], 1)
        result[f"eth_call_per_s_{clients}"] = round(c["per_s"], 1)
        result[f"eth_call_p50_ms_{clients}"] = round(c["p50_ms"], 2)
        result[f"eth_call_p99_ms_{clients}"] = round(c["p99_ms"], 2)
        result[f"eth_call_errors_{clients}"] = c["errors"]
    result["paced_offered_per_s_64"] = args.rate
    for prefix, run in (("verify", paced), ("eth_call", paced_calls)):
        result[f"{prefix}_paced_per_s_64"] = round(run["per_s"], 1)
        result[f"{prefix}_paced_p50_ms_64"] = round(run["p50_ms"], 2)
        result[f"{prefix}_paced_p99_ms_64"] = round(run["p99_ms"], 2)
        result[f"{prefix}_paced_errors_64"] = run["errors"]
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"Verification, {result['date']}, {result['machine']}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print(
        f"{args.items} items, {args.workers} gateway processes, {args.seconds:.0f} s per level, "
        "closed-loop keep-alive clients on loopback\n"
    )
    print(f"| {'clients':>7} | {'verify/s':>9} | {'p50 ms':>7} | {'p99 ms':>7} | {'gw CPU %':>8} | "
          f"{'eth_call/s':>10} | {'p50 ms':>7} | {'p99 ms':>7} |")  # fmt: skip
    print(f"|{'-' * 9}|{'-' * 11}|{'-' * 9}|{'-' * 9}|{'-' * 10}|{'-' * 12}|{'-' * 9}|{'-' * 9}|")
    for clients in LEVELS:
        v, c = verify[clients], calls[clients]
        verify_cols = (
            f"{v['per_s']:>9.0f} | {v['p50_ms']:>7.2f} | {v['p99_ms']:>7.2f} | {v['gateway_cpu_percent']:>8.0f}"
        )
        print(f"| {clients:>7} | {verify_cols} | {c['per_s']:>10.0f} | {c['p50_ms']:>7.2f} | {c['p99_ms']:>7.2f} |")
    print(
        f"\nPaced (open loop): 64 clients offering {args.rate:.0f}/s in all, latency from when each request was due\n"
        f"  verify:   {paced['per_s']:.0f}/s, p50 {paced['p50_ms']:.2f} ms, p99 {paced['p99_ms']:.2f} ms\n"
        f"  eth_call: {paced_calls['per_s']:.0f}/s, p50 {paced_calls['p50_ms']:.2f} ms, "
        f"p99 {paced_calls['p99_ms']:.2f} ms"
    )
    errors = sum(verify[c]["errors"] + calls[c]["errors"] for c in LEVELS) + paced["errors"] + paced_calls["errors"]
    print(f"\nerrors: {errors}")
    print(f"target >= 2000 verifications/s at 64 clients: {'met' if result['verify_per_s_64'] >= 2000 else 'NOT met'}")
    print(f"target p99 < 20 ms at 64 clients: {'met' if result['verify_p99_ms_64'] < 20 else 'NOT met'} (closed loop), "
          f"{'met' if result['verify_paced_p99_ms_64'] < 20 else 'NOT met'} (paced at {args.rate:.0f}/s)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
