"""Feedback endpoint: spec-valid feedback acknowledged, invalid feedback refused with the rule broken."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from flask import Flask
from support.cds_client import CdsClient, issue_cards
from support.paths import CDS_HOOKS_EXAMPLES

EXAMPLES = CDS_HOOKS_EXAMPLES
SERVICE = "dry-needling-order-select"

ACCEPTED: dict[str, Any] = {
    "feedback": [
        {
            "card": "9368d37b-283f-44a0-93ea-547cebab93ed",
            "outcome": "accepted",
            "acceptedSuggestions": [{"id": "e56e1945-20b3-4393-8503-a1a20fd73152"}],
            "outcomeTimestamp": "2026-11-26T10:05:31Z",
        }
    ]
}


ISSUED = (
    "9368d37b-283f-44a0-93ea-547cebab93ed",
    "4e0a3a1e-3283-4575-ab82-028d55fe2719",
    "f6b95768-b1c8-40dc-8385-bf3504b82ffb",
    "a",
)


@pytest.fixture(autouse=True)
def _issued_cards(app: Flask) -> None:
    """The card uuids these tests send feedback on, as if the service had issued them (audited)."""
    issue_cards(app, SERVICE, *ISSUED)


@pytest.mark.parametrize(
    "name",
    [
        "feedback-accepted-spec-2.0.1.json",
        "feedback-overridden-spec-2.0.1.json",
        "feedback-overridden-reason-spec-2.0.1.json",
    ],
)
def test_spec_feedback_examples_are_acknowledged(cds: CdsClient, name: str) -> None:
    body = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))

    response = cds.feedback(SERVICE, body)

    assert response.status_code == 200
    assert response.get_json() == {"received": len(body["feedback"])}


def broken(field: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(ACCEPTED)
    if value is ...:
        del body["feedback"][0][field]
    else:
        body["feedback"][0][field] = value
    return body


@pytest.mark.parametrize(
    ("body", "expression"),
    [
        pytest.param({"feedback": []}, "feedback", id="empty"),
        pytest.param({}, "feedback", id="no-feedback"),
        pytest.param(broken("card", ...), "feedback[0].card", id="no-card"),
        pytest.param(broken("outcome", "ignored"), "feedback[0].outcome", id="bad-outcome"),
        pytest.param(broken("outcome", ["accepted"]), "feedback[0].outcome", id="outcome-array"),
        pytest.param(broken("outcome", {"value": "accepted"}), "feedback[0].outcome", id="outcome-object"),
        pytest.param(
            broken("acceptedSuggestions", ...),
            "feedback[0].acceptedSuggestions",
            id="accepted-without-suggestions (cds-fb-2)",
        ),
        pytest.param(
            broken("acceptedSuggestions", [{"label": "x"}]),
            "feedback[0].acceptedSuggestions[0].id",
            id="suggestion-without-id",
        ),
        pytest.param(broken("outcomeTimestamp", ...), "feedback[0].outcomeTimestamp", id="no-timestamp"),
        pytest.param(
            broken("outcomeTimestamp", "yesterday"), "feedback[0].outcomeTimestamp", id="bad-timestamp"
        ),
        pytest.param(
            broken("outcomeTimestamp", "2026-13-45T99:99:99Z"),
            "feedback[0].outcomeTimestamp",
            id="timestamp-month-13",
        ),
        pytest.param(
            broken("outcomeTimestamp", "2026-02-30T10:05:31Z"),
            "feedback[0].outcomeTimestamp",
            id="timestamp-february-30",
        ),
        pytest.param(
            broken("outcomeTimestamp", "2026-11-26T24:00:00Z"),
            "feedback[0].outcomeTimestamp",
            id="timestamp-hour-24",
        ),
        pytest.param(
            broken("outcomeTimestamp", "2026-11-26T10:05:31+24:00"),
            "feedback[0].outcomeTimestamp",
            id="timestamp-offset-24h",
        ),
        pytest.param(
            broken("outcomeTimestamp", "0000-01-01T00:00:00Z"),
            "feedback[0].outcomeTimestamp",
            id="timestamp-year-0",
        ),
        pytest.param(
            {"feedback": [{**ACCEPTED["feedback"][0], "outcome": "overridden", "overrideReason": {}}]},
            "feedback[0].overrideReason",
            id="reason-empty (cds-fb-3)",
        ),
        pytest.param(
            {
                "feedback": [
                    {
                        **ACCEPTED["feedback"][0],
                        "outcome": "overridden",
                        "overrideReason": {"reason": {"display": "no code"}},
                    }
                ]
            },
            "feedback[0].overrideReason.reason",
            id="reason-coding-without-code",
        ),
    ],
)
def test_invalid_feedback_is_a_400(cds: CdsClient, body: dict[str, Any], expression: str) -> None:
    response = cds.feedback(SERVICE, body)

    assert response.status_code == 400
    assert response.get_json()["issue"][0]["expression"] == [expression]


def test_feedback_for_unknown_service_is_a_404(cds: CdsClient) -> None:
    assert cds.feedback("no-such-service", ACCEPTED).status_code == 404


def test_override_with_comment_only_is_accepted(cds: CdsClient) -> None:
    body = {
        "feedback": [
            {
                "card": "a",
                "outcome": "overridden",
                "overrideReason": {"userComment": "Patient declined"},
                "outcomeTimestamp": "2026-11-26T10:05:31.120+01:00",
            }
        ]
    }

    assert cds.feedback(SERVICE, body).status_code == 200


@pytest.mark.parametrize(
    "timestamp",
    [
        "2024-02-29T23:59:59Z",
        "2026-11-26t10:05:31.123456789z",
        "2026-11-26T10:05:31-23:59",
        "0001-01-01T00:00:00Z",
    ],
)
def test_real_timestamps_are_accepted(cds: CdsClient, timestamp: str) -> None:
    assert cds.feedback(SERVICE, broken("outcomeTimestamp", timestamp)).status_code == 200


def test_feedback_on_a_card_never_issued_is_a_404_naming_the_entry(cds: CdsClient) -> None:
    body = copy.deepcopy(ACCEPTED)
    body["feedback"].append({**ACCEPTED["feedback"][0], "card": "0b9c4a0e-0000-4000-8000-000000000000"})

    response = cds.feedback(SERVICE, body)

    assert response.status_code == 404
    assert response.get_json()["issue"][0]["expression"] == ["feedback[1].card"]


def test_feedback_on_another_services_card_is_a_404(cds: CdsClient) -> None:
    assert cds.feedback("dry-needling-order-sign", ACCEPTED).status_code == 404


def test_a_timestamp_whose_offset_leaves_the_calendar_is_a_400(cds: CdsClient) -> None:
    response = cds.feedback(SERVICE, broken("outcomeTimestamp", "0001-01-01T00:00:00+01:00"))

    assert response.status_code == 400
