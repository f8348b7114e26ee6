"""``/openapi.json``: a valid OpenAPI 3 document of the service, and schemathesis run against it.

Schemathesis loads the document from the app itself (its WSGI integration: no socket, no network), generates
conforming and non-conforming requests for every operation, signs each as the test EHR, and checks that no
answer is a 5xx and that every answer conforms to the document (status, content type, headers, body schema).
Bounded: a fixed number of examples per operation, no deadline-driven growth.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from support.clock import TODAY
from support.tokens import bearer, issuer_trust

from cds_service import Settings, create_app
from cds_service.openapi import openapi_document

_DATA_DIR = tempfile.TemporaryDirectory(
    prefix="dn-cds-openapi-"
)  # removed at exit; never the user's data dir
APP = create_app(
    Settings(
        trusted_issuers=(issuer_trust(),),
        data_dir=Path(_DATA_DIR.name),
        max_array_items=1000,
        max_string_chars=10_000,
    ),
    today=lambda: TODAY,
)
schema = schemathesis.openapi.from_wsgi("/openapi.json", APP)


@pytest.fixture
def api_app() -> Flask:
    return APP


@pytest.fixture
def api_schema() -> Any:
    return schema


def test_the_served_document_is_valid_openapi_3(api_app: Flask, api_schema: Any) -> None:
    api_schema.validate()  # against the OpenAPI 3.0 meta-schema
    document = api_app.test_client().get("/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    assert document["servers"] == [{"url": "http://127.0.0.1:8080"}]
    ids = document["components"]["parameters"]["ServiceId"]["schema"]["enum"]
    assert ids == ["dry-needling-order-select", "dry-needling-order-sign", "dry-needling-patient-view"]


def test_the_validation_is_not_vacuous() -> None:
    broken = openapi_document("http://127.0.0.1:8080", ["x"])
    broken["paths"]["/cds-services"]["get"]["responses"] = "none"
    with pytest.raises(Exception, match="responses"):
        schemathesis.openapi.from_dict(broken).validate()


def test_every_route_is_documented(api_app: Flask) -> None:
    document = api_app.test_client().get("/openapi.json").get_json()
    documented = {path.replace("{id}", "<service_id>") for path in document["paths"]}
    routes = {rule.rule for rule in api_app.url_map.iter_rules() if rule.endpoint != "static"}
    assert routes == documented


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=40, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_document(case: Any) -> None:
    headers = bearer(case.formatted_path) if case.path.startswith("/cds-services") else {}
    # positive_data_acceptance is left out: a schema cannot say that the hook must match the service or that
    # selections must name draft orders, so some schema-valid bodies rightly get their documented 400.
    case.call_and_validate(headers=headers, excluded_checks=[schemathesis.checks.positive_data_acceptance])
