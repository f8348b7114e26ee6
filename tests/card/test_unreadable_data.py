"""No "negative" statement on data that could not be read.

When the conditions (the problem list, where indications are looked for) cannot be read from ``fhirServer``,
the service must not say "no indication found": it could not look. An indication the order's own reason gives
is still found and said. The ``patient-data-incomplete`` warning says what was not checked.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import requests
import responses
from support.cds_client import CdsClient
from support.clock import TODAY
from support.services import SERVICES
from support.tokens import issuer_trust

from cards.wording import load_card_wording
from cds_service import Settings, create_app
from cds_service.advice import Advisor
from cds_service.demo import DemoPatient, answer_prefetch, build_hook_request, load_demo_patients
from cds_service.fhir_fetcher import fill_template
from cds_service.hook_request import parse_hook_request
from cds_service.incomplete_data import (
    KeyCoverage,
    drop_unsupported_negatives,
    load_key_coverage,
)
from cds_service.patient_data import FetchResult
from fhir_mappings import Knowledge
from fhir_mappings.findings import Finding, FindingKind

BASE = "https://ehr.example.org/fhir/R4"
DEMO = {patient.slug: patient for patient in load_demo_patients(TODAY)}
INCOMPLETE = "patient-data-incomplete"
NO_INDICATION = "no-indication-found"


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture(scope="module")
def cds() -> CdsClient:
    app = create_app(
        Settings(fhir_server_allowlist=(BASE,), trusted_issuers=(issuer_trust(),)), today=lambda: TODAY
    )
    return CdsClient(app.test_client())


def serve(mock: responses.RequestsMock, patient: DemoPatient, failing: str) -> None:
    """The EHR's server: answers each prefetch query from the patient's chart, but ``failing`` (HTTP 503)."""
    service = SERVICES["order-select"]
    request = parse_hook_request(
        {**build_hook_request(patient, service, with_prefetch=False), "fhirServer": BASE}
    )
    keys = {
        requests.Request("GET", f"{BASE}/{fill_template(template, request)}").prepare().url: key
        for key, template in service.prefetch.items()
    }
    assert failing in service.prefetch

    def answer(call: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        key = keys.get(call.url)
        if key is None or key == failing:
            return 503, {}, ""
        bundle = answer_prefetch(service.prefetch[key], patient.chart, {"patientId": patient.patient_id})
        return 200, {"Content-Type": "application/fhir+json"}, json.dumps(bundle)

    mock.add_callback(responses.GET, re.compile(re.escape(BASE) + r"/.*"), callback=answer)


def call(cds: CdsClient, patient: DemoPatient, hook: str, body: dict[str, Any] | None = None) -> list[str]:
    """The finding codes (sorted) of a call with no prefetch, the service reading the mocked server."""
    request = body or build_hook_request(patient, SERVICES[hook], with_prefetch=False)
    request["fhirServer"] = BASE
    response = cds.call(SERVICES[hook].id, request)
    assert response.status_code == 200, response.get_data(as_text=True)
    return sorted(card["source"]["topic"]["code"] for card in response.get_json()["cards"])


def with_prefetch(
    cds: CdsClient, patient: DemoPatient, hook: str, body: dict[str, Any] | None = None
) -> set[str]:
    """The finding codes of the same call with the whole chart as prefetch (nothing unreadable)."""
    request = copy.deepcopy(body) if body else build_hook_request(patient, SERVICES[hook])
    if body:
        request["prefetch"] = build_hook_request(patient, SERVICES[hook])["prefetch"]
    return {
        card["source"]["topic"]["code"] for card in cds.call(SERVICES[hook].id, request).get_json()["cards"]
    }


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_no_reason_and_unreadable_conditions_never_says_no_indication(
    mock: responses.RequestsMock, cds: CdsClient, hook: str
) -> None:
    patient = DEMO["no-indication"]  # nothing else on its problem list
    serve(mock, patient, failing="conditions")
    readable = with_prefetch(cds, patient, hook)

    codes = call(cds, patient, hook)

    assert NO_INDICATION in readable
    assert NO_INDICATION not in codes
    assert codes == sorted(readable - {NO_INDICATION} | {INCOMPLETE})


def test_patient_view_with_unreadable_conditions_never_says_no_indication(
    mock: responses.RequestsMock, cds: CdsClient
) -> None:
    patient = DEMO["no-indication"]
    serve(mock, patient, failing="conditions")
    readable = with_prefetch(cds, patient, "patient-view")

    assert NO_INDICATION in readable
    assert call(cds, patient, "patient-view") == sorted(readable - {NO_INDICATION} | {INCOMPLETE})


def test_an_indication_in_the_order_reason_is_still_found(
    mock: responses.RequestsMock, cds: CdsClient
) -> None:
    patient = DEMO[
        "first-trimester"
    ]  # reasonCode M54.50 on the order itself; the pregnancy is in observations
    serve(mock, patient, failing="conditions")
    readable = with_prefetch(cds, patient, "order-select")

    codes = call(cds, patient, "order-select")

    assert {"indication-found", "pregnancy-first-trimester"} <= readable
    assert codes == sorted(readable | {INCOMPLETE})


def test_a_reason_reference_into_unreadable_conditions_is_neither_found_nor_denied(
    mock: responses.RequestsMock, cds: CdsClient
) -> None:
    patient = DEMO["eligible"]  # reasonReference Condition/dn-eligible-lbp: in the conditions it cannot read
    serve(mock, patient, failing="conditions")
    readable = with_prefetch(cds, patient, "order-select")

    codes = call(cds, patient, "order-select")

    assert "indication-found" in readable
    assert "indication-found" not in codes
    assert NO_INDICATION not in codes
    assert codes == sorted(readable - {"indication-found"} | {INCOMPLETE})


def test_order_sign_keeps_the_indication_of_the_order_whose_reason_gives_one(
    mock: responses.RequestsMock, cds: CdsClient
) -> None:
    patient = DEMO["first-trimester"]
    serve(mock, patient, failing="conditions")
    body = build_hook_request(patient, SERVICES["order-sign"], with_prefetch=False)
    [order] = [entry["resource"] for entry in body["context"]["draftOrders"]["entry"]]
    second = copy.deepcopy(order)
    second["id"] = "no-reason-order"
    del second["reasonCode"]
    body["context"]["draftOrders"]["entry"].append({"resource": second})
    assert "indication-found" in with_prefetch(cds, patient, "order-sign", body)

    codes = call(cds, patient, "order-sign", body)

    assert (
        codes.count("indication-found") == 1
    )  # the order with the reason; the other is neither found nor denied
    assert NO_INDICATION not in codes
    assert INCOMPLETE in codes


def test_only_the_unreadable_data_suppresses_negatives(mock: responses.RequestsMock, cds: CdsClient) -> None:
    patient = DEMO["no-indication"]  # conditions readable, pregnancy observations not
    serve(mock, patient, failing="pregnancyObservations")
    readable = with_prefetch(cds, patient, "order-select")

    assert call(cds, patient, "order-select") == sorted(readable | {INCOMPLETE})


# --- the rule, as data --------------------------------------------------------------------------------------


def finding(code: str) -> Finding:
    return Finding(code=code, kind=FindingKind.INDICATION)


def test_the_problem_list_key_names_no_indication_as_its_negative_finding() -> None:
    coverage = load_key_coverage(SERVICES["order-select"].prefetch)

    assert NO_INDICATION in coverage["conditions"].negative_findings
    assert NO_INDICATION not in coverage["pregnancyObservations"].negative_findings
    # "no recent pregnancy status" is an absence in both the pregnancy observations and the conditions
    assert "pregnancy-status-unknown" in coverage["conditions"].negative_findings
    assert "pregnancy-status-unknown" in coverage["pregnancyObservations"].negative_findings


def test_negatives_are_dropped_only_for_the_keys_that_could_not_be_read() -> None:
    coverage = {
        "a": KeyCoverage("a data", ("x",), ("no-a", "no-ab")),
        "b": KeyCoverage("b data", ("y",), ("no-ab",)),
    }
    findings = [finding("no-a"), finding("no-ab"), finding("found")]

    assert [f.code for f in drop_unsupported_negatives(findings, ["b"], coverage)] == ["no-a", "found"]
    assert [f.code for f in drop_unsupported_negatives(findings, ["a"], coverage)] == ["found"]
    assert [f.code for f in drop_unsupported_negatives(findings, [], coverage)] == ["no-a", "no-ab", "found"]
    assert [f.code for f in drop_unsupported_negatives(findings, ["other"], coverage)] == [
        "no-a",
        "no-ab",
        "found",
    ]


def test_an_unknown_negative_finding_code_fails_at_start_up(knowledge: Knowledge) -> None:
    coverage = load_key_coverage(SERVICES["order-select"].prefetch)
    typo = {**coverage, "conditions": replace(coverage["conditions"], negative_findings=("no-indication",))}

    with pytest.raises(ValueError, match="unknown finding codes in negativeFindings"):
        Advisor(knowledge, load_card_wording(knowledge.findings), _NeverFetches(), key_coverage=typo)


class _NeverFetches:
    def fetch(self, *_: object) -> FetchResult:
        raise AssertionError("start-up checks must not fetch")
