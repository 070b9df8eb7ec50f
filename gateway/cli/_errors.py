"""Why a ``custody`` command stops, and how that reads on a terminal.

Every failure the CLI expects is a :class:`CliError`; the root command prints its ``lines()`` on
stderr and exits with its ``exit_code`` (never a traceback)::

    CliError                          exit 1
    ├── GatewayUnreachable            connection refused, DNS, TLS, no answer in time
    ├── ProblemAnswer                 the gateway answered with an error (problem+json or not)
    ├── SubmissionFailed              a submission ended ``failed`` (decoded ledger error)
    ├── WaitTimeout                   exit 3: still pending when --timeout ran out
    └── InputError (ValueError)       a bad file, bad JSON, or an operation the schemas reject

The formatting functions are pure so they can be tested without a gateway.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "CliError",
    "GatewayUnreachable",
    "InputError",
    "ProblemAnswer",
    "SubmissionFailed",
    "WaitTimeout",
    "event_label",
    "format_problem",
    "format_submission_error",
    "humanize",
]


class CliError(Exception):
    """A failure to report in a few plain lines (the first one is the headline)."""

    exit_code = 1

    def __init__(self, message: str, details: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.details = list(details)

    def lines(self) -> list[str]:
        return [self.message, *self.details]


class GatewayUnreachable(CliError):
    """Nothing answered at the gateway URL."""

    def __init__(self, url: str, reason: str | None = None) -> None:
        message = f"error: cannot reach the gateway at {url}: is ./scripts/start running?"
        super().__init__(message, [f"  ({reason})"] if reason else [])
        self.url = url


class ProblemAnswer(CliError):
    """An error answer of the gateway; ``problem`` is its RFC 9457 body (or a stand-in)."""

    def __init__(self, status: int, problem: Mapping[str, Any]) -> None:
        lines = format_problem(problem, status)
        super().__init__(lines[0], lines[1:])
        self.status = status
        self.problem = dict(problem)
        self.code = str(problem.get("code") or f"http.{status}")


class SubmissionFailed(CliError):
    """A submission the ledger (or the relay) refused."""

    def __init__(self, submission: Mapping[str, Any]) -> None:
        error = submission.get("error") or {}
        lines = format_submission_error(str(submission.get("id", "?")), error)
        super().__init__(lines[0], lines[1:])
        self.submission = dict(submission)
        self.code = str(error.get("code") or "submission.failed")


class WaitTimeout(CliError):
    exit_code = 3


class InputError(CliError, ValueError):
    """Input refused before anything was sent."""


# -- formatting ------------------------------------------------------------------------------------

_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z]|\d|\b)|[A-Z]?[a-z]+|[A-Z]+|\d+")
_COMPONENTS = ("Custody", "AccessControl", "ERC721", "ERC1155", "ECDSA", "EIP712", "Pausable", "Nonces")


def humanize(identifier: str) -> str:
    """``CustodyNotCustodian`` → ``not custodian``; ``objectId`` → ``object id``; ``gs1.check_digit`` kept."""
    name = identifier
    for component in _COMPONENTS:
        if name.startswith(component) and len(name) > len(component) and name[len(component)].isupper():
            name = name[len(component) :]
            break
    words = _WORD.findall(name.replace("_", " "))
    return " ".join(w if w.isupper() and len(w) > 1 else w.lower() for w in words) or identifier


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{humanize(str(k))} {_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def _arguments(arguments: Mapping[str, Any] | None) -> str:
    if not arguments:
        return ""
    return ", ".join(f"{humanize(str(k))} {_value(v)}" for k, v in arguments.items())


def _field_of(item: Mapping[str, Any]) -> str | None:
    for key in ("field", "pointer", "loc"):
        if item.get(key):
            return str(item[key])
    return None


def event_label(item: Mapping[str, Any]) -> str:
    """An EPCIS event as a problem names it: its index in the document and its eventID."""
    index, event_id = item.get("event_index"), item.get("event_id")
    if index is not None and event_id:
        return f"{index}, {event_id}"
    return str(event_id if event_id else index)


def format_problem(problem: Mapping[str, Any], status: int | None = None) -> list[str]:
    """``error [code] title: detail (field …)`` and, below, one line per listed sub-problem."""
    code = problem.get("code") or (f"http.{status}" if status else "error")
    title = str(problem.get("title") or "Error")
    detail = problem.get("detail")
    head = f"error [{code}] {title}"
    if detail and str(detail) != title:
        head += f": {detail}"
    field = problem.get("field") or problem.get("pointer")
    if field:
        head += f" (field {field})"
    if problem.get("event_id") or problem.get("event_index") is not None:
        head += f" (event {event_label(problem)})"
    lines = [head]
    if problem.get("error") and problem.get("arguments") is not None:  # a decoded contract revert
        lines.append(f"  {problem['error']}: {humanize(str(problem['error']))} ({_arguments(problem['arguments'])})")
    for key in ("errors", "problems"):
        items = problem.get(key)
        if not isinstance(items, list):
            continue
        for item in items:
            if not isinstance(item, Mapping):
                lines.append(f"  - {item}")
                continue
            where = _field_of(item)
            message = item.get("message") or item.get("detail") or item.get("msg") or ""
            sub_code = item.get("code")
            if (sub_code in (None, code)) and where == field and message == detail:
                continue  # the headline again
            prefix = f"[{sub_code}] " if sub_code and sub_code != code else ""
            event = (
                f" (event {event_label(item)})" if item.get("event_id") or item.get("event_index") is not None else ""
            )
            lines.append(f"  - {prefix}{message}" + (f" (field {where})" if where else "") + event)
    return lines


def format_submission_error(submission_id: str, error: Mapping[str, Any]) -> list[str]:
    """A failed submission in plain words: the stable code, what went wrong, with which values."""
    code = error.get("code") or "submission.failed"
    name = error.get("name")
    arguments = error.get("arguments")
    if name and isinstance(arguments, Mapping):
        args = _arguments(arguments)
        head = f"error [{code}] submission {submission_id} failed: {humanize(str(name))}"
        head += f" ({args})" if args else ""
        raw = error.get("detail") or f"{name}({', '.join(f'{k}={_value(v)}' for k, v in arguments.items())})"
        return [head, f"  {raw}"]
    detail = error.get("detail") or name or "no reason given"
    return [f"error [{code}] submission {submission_id} failed: {detail}"]
