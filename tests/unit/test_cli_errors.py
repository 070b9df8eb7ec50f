"""How the CLI words errors: problem+json answers, failed submissions, unreachable gateways."""

from __future__ import annotations

import pytest

from gateway.cli._errors import (
    GatewayUnreachable,
    ProblemAnswer,
    SubmissionFailed,
    WaitTimeout,
    format_problem,
    format_submission_error,
    humanize,
)


@pytest.mark.parametrize(
    ("identifier", "words"),
    [
        ("CustodyNotCustodian", "not custodian"),
        ("CustodyUnknownObject", "unknown object"),
        ("objectId", "object id"),
        ("pendingReceiver", "pending receiver"),
        ("AccessControlUnauthorizedAccount", "unauthorized account"),
        ("InvalidAccountNonce", "invalid account nonce"),
        ("ERC721InvalidOwner", "invalid owner"),
        ("partner_id", "partner id"),
        ("gln", "gln"),
        ("CustodyInvalidCid", "invalid cid"),
    ],
)
def test_humanize(identifier: str, words: str) -> None:
    assert humanize(identifier) == words


def test_gs1_problem_names_the_field() -> None:
    problem = {
        "type": "urn:custody:problem:gs1.check_digit", "title": "Invalid GS1 data", "status": 422,
        "code": "gs1.check_digit", "detail": "invalid GTIN check digit in 09506000134353: expected 2, got 3",
        "field": "items[0].gtin",
    }  # fmt: skip
    assert format_problem(problem) == [
        "error [gs1.check_digit] Invalid GS1 data: invalid GTIN check digit in 09506000134353: expected 2, got 3 "
        "(field items[0].gtin)"
    ]


def test_validation_problem_lists_every_field() -> None:
    problem = {
        "code": "request.invalid", "title": "Invalid request", "detail": "The request does not match the schema.",
        "errors": [
            {"field": "body.items.0.serial", "message": "Field required", "type": "missing"},
            {"field": "body.extra", "message": "Extra inputs are not permitted", "type": "extra_forbidden"},
        ],
    }  # fmt: skip
    assert format_problem(problem, 422) == [
        "error [request.invalid] Invalid request: The request does not match the schema.",
        "  - Field required (field body.items.0.serial)",
        "  - Extra inputs are not permitted (field body.extra)",
    ]


def test_contract_revert_problem_shows_the_arguments() -> None:
    problem = {
        "code": "custody.invalid_location", "title": "ContractRevert",
        "detail": "CustodyInvalidLocation(gln=614141000005)", "error": "CustodyInvalidLocation",
        "arguments": {"gln": 614141000005},
    }  # fmt: skip
    assert format_problem(problem, 409) == [
        "error [custody.invalid_location] ContractRevert: CustodyInvalidLocation(gln=614141000005)",
        "  CustodyInvalidLocation: invalid location (gln 614141000005)",
    ]


def test_epcis_rejection_points_at_the_value_and_event() -> None:
    first = {"code": "epcis.invalid_epc", "pointer": "/epcisBody/eventList/0/epcList/0", "detail": "bad SGTIN",
             "event_index": 0, "event_id": "urn:uuid:e0"}  # fmt: skip
    second = {"code": "epcis.unknown_location", "pointer": "/epcisBody/eventList/1/bizLocation/id",
              "detail": "no partner has this GLN", "event_index": 1, "event_id": None}  # fmt: skip
    problem = {"code": "epcis.invalid_epc", "title": "EPCIS capture rejected", "detail": "bad SGTIN",
               "pointer": first["pointer"], "event_index": 0, "event_id": "urn:uuid:e0",
               "errors": [first, second]}  # fmt: skip
    assert format_problem(problem, 422) == [
        "error [epcis.invalid_epc] EPCIS capture rejected: bad SGTIN (field /epcisBody/eventList/0/epcList/0) "
        "(event 0, urn:uuid:e0)",
        "  - [epcis.unknown_location] no partner has this GLN (field /epcisBody/eventList/1/bizLocation/id) (event 1)",
    ]


def test_an_answer_without_problem_json_still_reads() -> None:
    answer = ProblemAnswer(502, {"title": "Bad Gateway", "detail": "upstream down"})
    assert answer.lines() == ["error [http.502] Bad Gateway: upstream down"]
    assert answer.code == "http.502" and answer.exit_code == 1
    assert format_problem({"title": "Not Found", "code": "http.not_found"}) == ["error [http.not_found] Not Found"]


def test_failed_submission_in_plain_words() -> None:
    error = {
        "code": "custody.not_custodian", "name": "CustodyNotCustodian",
        "arguments": {"objectId": "0xab", "partnerId": 3, "custodian": 2},
        "detail": "CustodyNotCustodian(objectId='0xab', partnerId=3, custodian=2)",
    }  # fmt: skip
    assert format_submission_error("s-1", error) == [
        "error [custody.not_custodian] submission s-1 failed: not custodian "
        "(object id 0xab, partner id 3, custodian 2)",
        "  CustodyNotCustodian(objectId='0xab', partnerId=3, custodian=2)",
    ]
    failed = SubmissionFailed({"id": "s-1", "status": "failed", "error": error})
    assert failed.code == "custody.not_custodian" and failed.lines()[0].startswith("error [custody.not_custodian]")


def test_failed_submission_without_a_decoded_error() -> None:
    error = {"code": "tx.failed", "name": "TransactionFailed", "detail": "out of gas"}
    assert format_submission_error("s-2", error) == ["error [tx.failed] submission s-2 failed: out of gas"]
    assert SubmissionFailed({"id": "s-3", "error": None}).lines() == [
        "error [submission.failed] submission s-3 failed: no reason given"
    ]


def test_unreachable_and_timeout() -> None:
    down = GatewayUnreachable("http://127.0.0.1:9", "[Errno 111] Connection refused")
    assert down.lines() == [
        "error: cannot reach the gateway at http://127.0.0.1:9: is ./scripts/start running?",
        "  ([Errno 111] Connection refused)",
    ]
    assert WaitTimeout("still pending").exit_code == 3
