"""The CLI's HTTP client against a scripted transport: problems, Server-Sent Events, polling, timeouts."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from gateway.cli._client import GatewayClient
from gateway.cli._errors import CliError, GatewayUnreachable, ProblemAnswer, WaitTimeout

Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler, key: str | None = "ck_a_b") -> GatewayClient:
    return GatewayClient("http://gw.test/", key, transport=httpx.MockTransport(handler))


def sub(sid: str, status: str, n: int = 0) -> dict[str, Any]:
    return {"id": sid, "status": status, "updated_at": f"2030-01-01T00:00:0{n}"}


def sse(*states: dict[str, Any]) -> bytes:
    return b"".join(f"event: status\ndata: {json.dumps(s)}\n\n".encode() for s in states)


def test_sends_the_key_and_decodes_json() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, json=sub("a", "pending"))

    answer = client(handler).post("/v1/items", {"items": []}, idempotency_key="k1")
    assert answer["id"] == "a"
    assert seen[0].headers["Authorization"] == "Bearer ck_a_b"
    assert seen[0].headers["Idempotency-Key"] == "k1"
    assert str(seen[0].url) == "http://gw.test/v1/items"


def test_problem_json_becomes_problem_answer() -> None:
    body = {"code": "auth.invalid_key", "title": "Invalid credentials", "detail": "unknown or revoked API key"}
    with pytest.raises(ProblemAnswer) as info:
        client(lambda _: httpx.Response(401, json=body, headers={"content-type": "application/problem+json"})).get("/x")
    assert info.value.status == 401 and info.value.code == "auth.invalid_key"
    assert info.value.lines() == ["error [auth.invalid_key] Invalid credentials: unknown or revoked API key"]


def test_plain_text_errors_and_non_json_answers() -> None:
    with pytest.raises(ProblemAnswer) as info:
        client(lambda _: httpx.Response(502, text="upstream connect error")).get("/x")
    assert info.value.lines() == ["error [http.502] Bad Gateway: upstream connect error"]
    with pytest.raises(CliError, match="not JSON"):
        client(lambda _: httpx.Response(200, text="<html>")).get("/x")
    assert client(lambda _: httpx.Response(204)).request("POST", "/x") is None


def test_connection_errors_name_the_gateway() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    with pytest.raises(GatewayUnreachable) as info:
        client(refuse).get("/health")
    assert info.value.lines()[0] == "error: cannot reach the gateway at http://gw.test: is ./scripts/start running?"


def test_wait_follows_the_event_stream() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        states = sse(sub("a", "pending"), sub("a", "submitted", 1), sub("a", "confirmed", 2))
        return httpx.Response(200, content=b": comment\n\n" + states, headers={"content-type": "text/event-stream"})

    changes: list[str] = []
    final = client(handler).wait("a", timeout=5, on_change=lambda s: changes.append(s["status"]))
    assert final["status"] == "confirmed"
    assert changes == ["pending", "submitted", "confirmed"]
    assert paths == ["/v1/submissions/a/events"]


def test_wait_polls_when_the_stream_breaks_off() -> None:
    polls = iter([sub("a", "submitted", 1), sub("a", "failed", 2)])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/events"):
            return httpx.Response(200, content=sse(sub("a", "pending")))  # ends before a final state
        return httpx.Response(200, json=next(polls))

    final = client(handler).wait("a", timeout=5, poll_interval=0)
    assert final["status"] == "failed"


def test_wait_gives_up_with_exit_code_3() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/events"):
            return httpx.Response(200, content=b"")
        return httpx.Response(200, json=sub("a", "pending"))

    with pytest.raises(WaitTimeout) as info:
        client(handler).wait("a", timeout=0.05, poll_interval=0.01)
    assert info.value.exit_code == 3
    assert info.value.lines() == [
        "error: submission a is still pending after 0.05s",
        "  follow it with: custody status a --watch",
    ]


def test_a_missing_submission_is_a_problem_even_on_the_stream() -> None:
    body = {"code": "resource.not_found", "title": "Not found", "detail": "No submission x."}
    with pytest.raises(ProblemAnswer, match=r"resource.not_found"):
        client(lambda _: httpx.Response(404, json=body)).wait("x", timeout=1)


def test_poll_many_uses_the_listing_then_single_reads() -> None:
    rounds = {"n": 0}
    singles: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/submissions":
            rounds["n"] += 1
            assert request.url.params["limit"] == "1000"
            done = rounds["n"] > 1
            return httpx.Response(200, json=[sub("a", "confirmed" if done else "pending", rounds["n"]), sub("z", "x")])
        sid = request.url.path.rsplit("/", 1)[1]
        singles.append(sid)
        return httpx.Response(200, json=sub(sid, "failed", 1))

    seen: list[tuple[str, str]] = []
    states = client(handler).poll_many(["a", "b"], timeout=5, on_change=lambda s: seen.append((s["id"], s["status"])),
                                       poll_interval=0)  # fmt: skip
    assert {k: v["status"] for k, v in states.items()} == {"a": "confirmed", "b": "failed"}
    assert singles == ["b"]  # "a" came with the listing; "b" (beyond it) was read alone, once
    assert seen == [("a", "pending"), ("b", "failed"), ("a", "confirmed")]
