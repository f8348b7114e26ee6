"""Lone surrogates and NUL characters (issue 15 item 7): a 400 naming the field, on SQLite and PostgreSQL,
never a 500 (UTF-8 cannot encode a lone surrogate) or a "transient" 503 (PostgreSQL refuses NUL) an EHR
would retry for ever. Also fuzzed: feedback bodies with such text in any field, on both databases."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.cds_client import CdsClient
from support.clock import TODAY
from support.services import SERVICES
from test_properties import FUZZ, UNSTORABLE_TEXT, VALID_FEEDBACK, container, paths

from cds_service import create_app
from cds_service.demo import build_hook_request, load_demo_patients
from cds_service.store import Store

SERVICE = SERVICES["order-select"]
PATIENT = next(p for p in load_demo_patients(TODAY) if p.slug == "first-trimester")


@pytest.fixture
def client(store: Store, store_settings: Any) -> Iterator[CdsClient]:
    app = create_app(store_settings, today=lambda: TODAY, store=store)
    with app.test_client() as flask_client:
        yield CdsClient(flask_client)


def post(client: CdsClient, path: str, body: Any) -> Any:
    """The body as JSON text with \\u escapes (a lone surrogate cannot be UTF-8)."""
    data = json.dumps(body, ensure_ascii=True)
    return client.raw("POST", path, data=data, content_type="application/json")


@pytest.mark.parametrize("text", ["\ud800", "dn\x001"])
def test_a_draft_order_id_with_a_surrogate_or_nul_is_a_400_naming_it(client: CdsClient, text: str) -> None:
    body = build_hook_request(PATIENT, SERVICE)
    body["context"]["draftOrders"]["entry"][0]["resource"]["id"] = text

    response = post(client, f"/cds-services/{SERVICE.id}", body)

    assert response.status_code == 400
    assert response.get_json()["issue"][0]["expression"] == ["context.draftOrders.entry[0].resource.id"]


def _card(client: CdsClient) -> str:
    cards = client.call(SERVICE.id, build_hook_request(PATIENT, SERVICE)).get_json()["cards"]
    uuid: str = cards[0]["uuid"]
    return uuid


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("userComment", "\ud800"),
        ("userComment", "no\x00"),
        ("code", "x\x00"),
        ("card", "\x00"),
        ("system", "urn:\udc00"),
    ],
)
def test_feedback_with_a_surrogate_or_nul_is_a_400_naming_the_field(
    client: CdsClient, field: str, text: str
) -> None:
    entry: dict[str, Any] = {
        "card": _card(client),
        "outcome": "overridden",
        "overrideReason": {"reason": {"system": "urn:x", "code": "y"}, "userComment": "no"},
        "outcomeTimestamp": "2026-11-26T10:05:31Z",
    }
    where = {
        "userComment": (entry["overrideReason"], "feedback[0].overrideReason.userComment"),
        "code": (entry["overrideReason"]["reason"], "feedback[0].overrideReason.reason.code"),
        "system": (entry["overrideReason"]["reason"], "feedback[0].overrideReason.reason.system"),
        "card": (entry, "feedback[0].card"),
    }
    target, expression = where[field]
    target[field] = text

    response = post(client, f"/cds-services/{SERVICE.id}/feedback", {"feedback": [entry]})

    assert response.status_code == 400
    assert response.get_json()["issue"][0]["expression"] == [expression]


def test_a_key_with_a_nul_is_a_400(client: CdsClient) -> None:
    body = build_hook_request(PATIENT, SERVICE)
    body["context"]["x\x00"] = 1

    response = post(client, f"/cds-services/{SERVICE.id}", body)

    assert response.status_code == 400
    assert "A key in context" in response.get_json()["issue"][0]["diagnostics"]


@st.composite
def feedback_with_unstorable_text(draw: st.DrawFn) -> dict[str, Any]:
    body = copy.deepcopy(VALID_FEEDBACK)
    path = draw(st.sampled_from(paths(body)))
    container(body, path)[path[-1]] = draw(st.sampled_from(UNSTORABLE_TEXT) | st.text(max_size=5))
    return body


@pytest.mark.slow  # hundreds of generated bodies
@FUZZ
@given(body=feedback_with_unstorable_text())
def test_feedback_fuzzed_with_unstorable_text_never_fails_on_either_database(
    client: CdsClient, body: dict[str, Any]
) -> None:
    response = post(client, f"/cds-services/{SERVICE.id}/feedback", body)

    assert response.status_code in {400, 404}
