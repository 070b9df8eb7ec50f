"""The gateway over HTTP, as the CLI needs it: JSON in, JSON out, errors as :class:`CliError`.

Waiting for a submission follows its Server-Sent Events (``/v1/submissions/{id}/events``) and
falls back to polling when the stream breaks off; many submissions (a batch) are polled.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import httpx

from gateway.cli._errors import CliError, GatewayUnreachable, ProblemAnswer, WaitTimeout

__all__ = ["TERMINAL", "GatewayClient", "Submission"]

Submission = dict[str, Any]
TERMINAL = frozenset({"confirmed", "failed"})


def _problem_of(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and ("code" in body or "title" in body):
        return body
    if isinstance(body, dict) and "detail" in body:  # a plain FastAPI error
        return {"title": response.reason_phrase or "Error", "detail": _text(body["detail"])}
    text = response.text.strip()
    return {"title": response.reason_phrase or "Error", "detail": text[:300] if text else None}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


class GatewayClient:
    """One gateway, one API key (or none); every method raises :class:`CliError` on failure."""

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- plumbing --------------------------------------------------------------------------------

    def _unreachable(self, exc: httpx.TransportError) -> GatewayUnreachable:
        if isinstance(exc, httpx.TimeoutException):
            return GatewayUnreachable(self.url, f"no answer in time: {type(exc).__name__}")
        return GatewayUnreachable(self.url, str(exc) or type(exc).__name__)

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        """The decoded JSON answer (None for 204); a non-2xx answer raises :class:`ProblemAnswer`."""
        try:
            response = self._http.request(
                method, path, json=json_body, content=content, headers=dict(headers or {}), params=params
            )
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        if response.status_code >= 400:
            raise ProblemAnswer(response.status_code, _problem_of(response))
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise CliError(
                f"error: the gateway at {self.url} answered {method} {path} with something that is not JSON"
            ) from None

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: Any = None, *, idempotency_key: str | None = None) -> Any:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return self.request("POST", path, json_body=body, headers=headers)

    # -- submissions -----------------------------------------------------------------------------

    def submission(self, submission_id: str) -> Submission:
        result: Submission = self.get(f"/v1/submissions/{submission_id}")
        return result

    def events(self, submission_id: str, timeout: float) -> Iterator[Submission]:
        """The submission's states as the gateway streams them (ends at a final state or on a break)."""
        path = f"/v1/submissions/{submission_id}/events"
        stream_timeout = httpx.Timeout(10.0, read=max(timeout, 0.1))
        try:
            with self._http.stream("GET", path, headers={"Accept": "text/event-stream"}, timeout=stream_timeout) as r:
                if r.status_code >= 400:
                    r.read()
                    raise ProblemAnswer(r.status_code, _problem_of(r))
                event, data = "message", list[str]()
                for line in r.iter_lines():
                    if line.startswith(":"):
                        continue
                    if not line:
                        if data and event == "status":
                            yield json.loads("\n".join(data))
                        event, data = "message", []
                    elif line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].removeprefix(" "))
        except httpx.TimeoutException:
            return  # the caller's deadline decides
        except httpx.ConnectError as exc:
            raise self._unreachable(exc) from None
        except (httpx.TransportError, ValueError):
            return  # a broken stream: the caller falls back to polling

    def wait(
        self,
        submission_id: str,
        timeout: float,
        on_change: Callable[[Submission], None] | None = None,
        poll_interval: float = 0.25,
    ) -> Submission:
        """Follows a submission until it is confirmed or failed; raises :class:`WaitTimeout` after ``timeout``."""
        deadline = time.monotonic() + timeout
        last: Submission | None = None

        def seen(s: Submission) -> None:
            nonlocal last
            if last is None or (s.get("status"), s.get("updated_at")) != (last.get("status"), last.get("updated_at")):
                last = s
                if on_change is not None:
                    on_change(s)

        for state in self.events(submission_id, timeout):
            seen(state)
            if state.get("status") in TERMINAL:
                return state
            if time.monotonic() >= deadline:
                break
        while True:  # no (more) stream: poll
            state = self.submission(submission_id)
            seen(state)
            if state.get("status") in TERMINAL:
                return state
            if time.monotonic() >= deadline:
                raise WaitTimeout(
                    f"error: submission {submission_id} is still {state.get('status')} after {timeout:g}s",
                    [f"  follow it with: custody status {submission_id} --watch"],
                )
            time.sleep(poll_interval)

    def poll_many(
        self,
        ids: Sequence[str],
        timeout: float,
        on_change: Callable[[Submission], None],
        poll_interval: float = 0.25,
    ) -> dict[str, Submission]:
        """Polls many submissions until all are final: a listing of recent ones first, then one by one."""
        deadline = time.monotonic() + timeout
        states: dict[str, Submission] = {}
        pending = set(ids)
        while pending:
            seen: set[str] = set()
            recent = self.get("/v1/submissions", limit=1000)
            for s in recent if isinstance(recent, list) else []:
                sid = s.get("id")
                if sid in pending:
                    seen.add(sid)
                    self._update(states, s, on_change)
            for sid in [i for i in ids if i in pending and i not in seen]:
                self._update(states, self.submission(sid), on_change)
            pending = {i for i in pending if states.get(i, {}).get("status") not in TERMINAL}
            if not pending:
                break
            if time.monotonic() >= deadline:
                raise WaitTimeout(
                    f"error: {len(pending)} of {len(ids)} submissions are not final after {timeout:g}s",
                    [f"  for example: custody status {sorted(pending)[0]} --watch"],
                )
            time.sleep(poll_interval)
        return states

    @staticmethod
    def _update(states: dict[str, Submission], s: Submission, on_change: Callable[[Submission], None]) -> None:
        old = states.get(s["id"])
        states[s["id"]] = s
        if old is None or (old.get("status"), old.get("updated_at")) != (s.get("status"), s.get("updated_at")):
            on_change(s)
