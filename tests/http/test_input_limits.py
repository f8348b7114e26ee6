"""Input limits: strings, arrays and objects beyond DN_CDS_MAX_STRING_CHARS / DN_CDS_MAX_ARRAY_ITEMS get a
clear 400 (issue code too-costly, expression = the path), before any evaluation; so do oversized tokens."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from support.cds_client import CdsClient
from support.clock import TODAY
from support.hook_bodies import VALID
from support.tokens import BASE_URL, issuer_trust, token

from cds_service import Settings, create_app
from cds_service.errors import LimitExceeded
from cds_service.limits import check_sizes

SELECT = "dry-needling-order-select"


@pytest.fixture(scope="module")
def small_app() -> Flask:
    settings = Settings(trusted_issuers=(issuer_trust(),), max_string_chars=1024, max_array_items=10)
    return create_app(settings, today=lambda: TODAY)


@pytest.fixture
def small(small_app: Flask) -> Iterator[CdsClient]:
    with small_app.test_client() as client:
        yield CdsClient(client)


def issue(response: Any) -> dict[str, Any]:
    [found] = response.get_json()["issue"]
    return dict(found)


def test_a_string_over_the_default_limit_is_refused(cds: CdsClient) -> None:
    body = copy.deepcopy(VALID)
    body["context"]["draftOrders"]["entry"][0]["resource"]["note"] = [{"text": "x" * 262_145}]

    response = cds.call(SELECT, body)

    assert response.status_code == 400
    found = issue(response)
    assert found["code"] == "too-costly"
    assert found["expression"] == ["context.draftOrders.entry[0].resource.note[0].text"]
    assert "262144 characters" in found["diagnostics"]


def test_a_string_at_the_limit_is_accepted(small: CdsClient) -> None:
    body = copy.deepcopy(VALID)
    body["context"]["draftOrders"]["entry"][0]["resource"]["note"] = [{"text": "x" * 1024}]

    assert small.call(SELECT, body).status_code == 200


@pytest.mark.parametrize(
    ("where", "value", "expression", "words"),
    [
        (("context", "draftOrders", "entry", 0, "resource", "bodySite"), [{"text": "R knee"}] * 11,
         "context.draftOrders.entry[0].resource.bodySite", "more than 10 items"),
        (("prefetch", "conditions"), {"resourceType": "Bundle", **{f"k{i}": i for i in range(11)}},
         "prefetch.conditions", "more than 10 members"),
        (("context", "userId"), "Practitioner/" + "a" * 1024, "context.userId", "longer than 1024"),
        (("extension",), {"k" * 1025: 1}, None, "A key in extension"),
    ],
)  # fmt: skip
def test_configured_limits_name_the_path(
    small: CdsClient, where: tuple[Any, ...], value: Any, expression: str | None, words: str
) -> None:
    body = copy.deepcopy(VALID)
    body.setdefault("prefetch", {})
    target = body
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value

    response = small.call(SELECT, body)

    assert response.status_code == 400
    found = issue(response)
    assert found["code"] == "too-costly"
    assert found.get("expression") == ([expression] if expression else None)
    assert words in found["diagnostics"]


def test_feedback_is_limited_too(small: CdsClient) -> None:
    entry = {"card": "x", "outcome": "overridden", "outcomeTimestamp": "2026-11-26T10:00:00Z"}
    response = small.feedback(SELECT, {"feedback": [entry] * 11})

    assert response.status_code == 400
    assert issue(response)["code"] == "too-costly"


def test_an_oversized_token_is_refused_before_any_parsing(cds: CdsClient) -> None:
    big = token(BASE_URL + f"/cds-services/{SELECT}", padding="x" * 20_000)
    client = CdsClient(cds.client, signed=False)

    response = client.raw(
        "POST", f"/cds-services/{SELECT}", json=VALID, headers={"Authorization": f"Bearer {big}"}
    )

    assert response.status_code == 401


def test_check_sizes_walks_everything_once() -> None:
    deep: Any = {"a": [{"b": ["ok", {"c": "x" * 11}]}]}

    check_sizes(deep, 11, 10)
    with pytest.raises(LimitExceeded) as error:
        check_sizes(deep, 10, 10)
    assert error.value.expression == "a[0].b[1].c"
