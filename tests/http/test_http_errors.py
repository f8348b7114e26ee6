"""Bad input gets a clear 4xx with a FHIR OperationOutcome naming what is wrong; never a 500."""

from __future__ import annotations

import copy
import inspect
import json
import logging
import uuid
from typing import Any

import pytest
from support.cds_client import CdsClient
from support.clock import TODAY
from support.conformance import assert_operation_outcome
from support.hook_bodies import VALID
from support.tokens import bearer, issuer_trust

from cds_service import Settings, create_app

SELECT = "dry-needling-order-select"


def mutated(path: str, value: Any) -> dict[str, Any]:
    """VALID with the dotted ``path`` set to ``value`` (``...`` deletes it)."""
    body = copy.deepcopy(VALID)
    *parents, last = path.split(".")
    target: Any = body
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return body


def test_valid_body_is_accepted(cds: CdsClient) -> None:
    assert cds.call(SELECT, VALID).status_code == 200


@pytest.mark.parametrize(
    ("path", "value", "expression"),
    [
        ("hook", ..., "hook"),
        ("hook", 42, "hook"),
        ("hook", "order-sign", "hook"),
        ("hook", "encounter-start", "hook"),
        ("hookInstance", ..., "hookInstance"),
        ("hookInstance", "not-a-uuid", "hookInstance"),
        ("context", ..., "context"),
        ("context", ["x"], "context"),
        ("context.userId", ..., "context.userId"),
        ("context.userId", "123", "context.userId"),
        ("context.patientId", ..., "context.patientId"),
        ("context.patientId", "bad id/with spaces", "context.patientId"),
        ("context.selections", ..., "context.selections"),
        ("context.selections", [], "context.selections"),
        ("context.selections", ["ServiceRequest/not-in-draft-orders"], "context.selections[0]"),
        ("context.selections", ["dn-1"], "context.selections[0]"),
        ("context.draftOrders", ..., "context.draftOrders"),
        ("context.draftOrders", {"resourceType": "ServiceRequest"}, "context.draftOrders"),
        ("context.draftOrders.entry", {"resource": {}}, "context.draftOrders.entry"),
        ("context.draftOrders.entry.0.resource.id", 5, "context.draftOrders.entry[0].resource.id"),
        ("context.draftOrders.entry.0.resource.id", "", "context.draftOrders.entry[0].resource.id"),
        ("context.draftOrders.entry.0.resource.id", "dn 1", "context.draftOrders.entry[0].resource.id"),
        ("context.draftOrders.entry.0.resource.id", "a/b", "context.draftOrders.entry[0].resource.id"),
        ("context.draftOrders.entry.0.resource.id", {"v": 1}, "context.draftOrders.entry[0].resource.id"),
        ("context.encounterId", 7, "context.encounterId"),
        (
            "fhirAuthorization",
            {
                "access_token": "secret-token-value",
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": "patient/*.read",
                "subject": "dn-cds",
            },
            "fhirServer",
        ),
        ("prefetch", ["not", "an", "object"], "prefetch"),
        ("prefetch.conditions", "Condition?patient=pat-1", "prefetch.conditions"),
        ("extension", "x", "extension"),
        ("fhirServer", "not a url", "fhirServer"),
    ],
)
def test_invalid_field_is_a_400_naming_the_field(
    cds: CdsClient, path: str, value: Any, expression: str
) -> None:
    response = cds.call(SELECT, mutated(path, value))

    assert response.status_code == 400
    issue = response.get_json()["issue"][0]
    assert issue["expression"] == [expression]
    assert issue["code"] == "invalid"


def test_fhir_authorization_fields_are_checked(cds: CdsClient) -> None:
    body = mutated(
        "fhirAuthorization",
        {
            "access_token": "secret-token-value",
            "token_type": "MAC",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "x",
        },
    )
    body["fhirServer"] = "https://ehr.example.org/fhir"

    response = cds.call(SELECT, body)

    assert response.status_code == 400
    assert "secret-token-value" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        pytest.param("{not json", "application/json", id="truncated"),
        pytest.param('{"hook": "order-select",}', "application/json", id="trailing-comma"),
        pytest.param(b"\xff\xfe\x00", "application/json", id="not-utf8"),
        pytest.param("[1, 2, 3]", "application/json", id="array"),
        pytest.param("null", "application/json", id="null"),
        pytest.param("", "application/json", id="empty"),
        pytest.param(json.dumps(VALID), "text/plain", id="text-plain"),
        pytest.param(json.dumps(VALID), "application/x-www-form-urlencoded", id="form"),
        pytest.param(json.dumps(VALID), None, id="no-content-type"),
        pytest.param("[" * 5000 + "]" * 5000, "application/json", id="deeply-nested"),
    ],
)
def test_unreadable_body_is_a_400(cds: CdsClient, data: Any, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = cds.raw("POST", f"/cds-services/{SELECT}", data=data, headers=headers)

    assert response.status_code == 400


def test_json_with_charset_is_accepted(cds: CdsClient) -> None:
    response = cds.raw(
        "POST",
        f"/cds-services/{SELECT}",
        data=json.dumps(VALID),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )

    assert response.status_code == 200


def test_unknown_service_is_a_404(cds: CdsClient) -> None:
    response = cds.call("no-such-service", VALID)

    assert response.status_code == 404
    assert response.get_json()["issue"][0]["code"] == "not-found"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", f"/cds-services/{SELECT}", 405),
        ("GET", "/nothing-here", 404),
        ("DELETE", "/cds-services", 405),
        ("PUT", f"/cds-services/{SELECT}/feedback", 405),
    ],
)
def test_wrong_route_or_method_is_json(cds: CdsClient, method: str, path: str, status: int) -> None:
    assert cds.raw(method, path).status_code == status


def test_body_over_the_size_limit_is_a_413(cds: CdsClient) -> None:
    body = copy.deepcopy(VALID)
    body["extension"] = {"padding": "x" * (6 * 1024 * 1024)}

    assert cds.call(SELECT, body).status_code == 413


def test_errors_never_echo_patient_data(cds: CdsClient) -> None:
    body = mutated("context.selections", ["ServiceRequest/secret-patient-order-xyz"])
    body["context"]["patientId"] = "pat-confidential-42"

    text = cds.call(SELECT, body).get_data(as_text=True)

    assert "pat-confidential-42" not in text
    assert "secret-patient-order-xyz" not in text


def test_hook_instance_must_be_present_per_call(cds: CdsClient) -> None:
    body = mutated("hookInstance", str(uuid.uuid4()).upper())

    assert cds.call(SELECT, body).status_code == 200


def with_extension_value(literal: str) -> str:
    """VALID as JSON text with ``extension.x`` set to the raw JSON ``literal``."""
    return json.dumps(VALID)[:-1] + ', "extension": {"x": ' + literal + "}}"


@pytest.mark.parametrize(
    "literal",
    [
        pytest.param("NaN", id="nan"),
        pytest.param("Infinity", id="infinity"),
        pytest.param("-Infinity", id="minus-infinity"),
        pytest.param("1e999", id="overflow"),
        pytest.param("-1e999", id="negative-overflow"),
        pytest.param("1.0e400", id="overflow-2"),
        pytest.param("9" * 5000, id="5000-digits"),
        pytest.param("[NaN]", id="nested"),
    ],
)
def test_non_strict_json_numbers_are_a_400(cds: CdsClient, literal: str) -> None:
    response = cds.raw(
        "POST",
        f"/cds-services/{SELECT}",
        data=with_extension_value(literal),
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert "not valid JSON" in response.get_json()["issue"][0]["diagnostics"]


def test_finite_numbers_are_still_accepted(cds: CdsClient) -> None:
    data = with_extension_value("[1.5e308, -0.0, 1e-400, 12345678901234567890, -1.7976931348623157e308]")

    response = cds.raw(
        "POST", f"/cds-services/{SELECT}", data=data, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 200


class ExplodingFetcher:
    """A fetcher with a bug: its exception message carries patient data."""

    def fetch(self, request: Any, service: Any, missing: Any) -> Any:
        raise RuntimeError(f"lookup failed for {request.patient_id} born 1985-02-03")


def test_unexpected_error_logs_type_and_place_never_the_message(caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(
        Settings(trusted_issuers=(issuer_trust(),)), fetcher=ExplodingFetcher(), today=lambda: TODAY
    )
    body = mutated("context.patientId", "pat-confidential-42")
    body["context"]["draftOrders"]["entry"][0]["resource"]["subject"]["reference"] = (
        "Patient/pat-confidential-42"
    )
    del body["prefetch"]

    with caplog.at_level(logging.ERROR, logger="dn_cds.error"), app.test_client() as client:
        response = client.post(
            f"/cds-services/{SELECT}", json=body, headers=bearer(f"/cds-services/{SELECT}")
        )

    assert response.status_code == 500
    assert_operation_outcome(response.get_json())
    assert "pat-confidential-42" not in response.get_data(as_text=True)
    [record] = [r for r in caplog.records if r.name == "dn_cds.error"]
    line = inspect.getsourcelines(ExplodingFetcher.fetch)[1] + 1  # the raise
    assert record.getMessage() == f"unhandled RuntimeError at test_http_errors.py:{line} in cds.call_service"
    assert not record.exc_info
    assert "pat-confidential-42" not in caplog.text
    assert "1985" not in caplog.text


def test_ids_with_underscores_are_accepted_in_selections_and_user(cds: CdsClient) -> None:
    """CDS Hooks ord-1 allows \\w (so "_") in userId; selections must accept what draftOrders accepts."""
    body = copy.deepcopy(VALID)
    body["context"]["userId"] = "Practitioner/pract_42"
    body["context"]["draftOrders"]["entry"][0]["resource"]["id"] = "ord_1"
    body["context"]["selections"] = ["ServiceRequest/ord_1"]

    assert cds.call(SELECT, body).status_code == 200


def test_body_nested_deeper_than_the_limit_is_a_400(cds: CdsClient) -> None:
    nested: Any = "x"
    for _ in range(150):
        nested = {"a": nested}
    body = copy.deepcopy(VALID)
    body["context"]["draftOrders"]["entry"][0]["resource"]["extension"] = [{"url": "urn:x", "deep": nested}]

    response = cds.call(SELECT, body)

    assert response.status_code == 400
    assert "nested" in response.get_json()["issue"][0]["diagnostics"]
