"""The fhirServer fallback with a mocked server (``responses``): what a real test server cannot easily do.

Timeouts, 5xx, 429, 410, redirects and next links to other origins, the allowlist, and the token never leaving
for another host or reaching a log.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import responses
from responses import matchers
from support.cds_client import CdsClient
from support.clock import TODAY
from support.services import SERVICES
from support.tokens import issuer_trust

from cds_service import Settings, create_app
from cds_service.demo import build_hook_request, load_demo_patients
from cds_service.errors import PreconditionFailed
from cds_service.fhir_fetcher import FhirFetcher, ServerAllowlist, fill_template
from cds_service.hook_request import HookRequest, parse_hook_request
from cds_service.patient_data import MissingReason
from cds_service.settings import SettingsError

BASE = "https://ehr.example.org/fhir/R4"
TOKEN = "tok-SECRET-5a1f0c9e77"  # noqa: S105 - a test token; it must never appear in logs
SERVICE = SERVICES["order-select"]
PATIENT = next(p for p in load_demo_patients(TODAY) if p.slug == "bleeding-disorder")
MISSING = dict.fromkeys(SERVICE.prefetch, MissingReason.MISSING)
CONDITIONS = re.compile(re.escape(BASE) + r"/Condition\?.*")
OBSERVATIONS = re.compile(re.escape(BASE) + r"/Observation\?.*")


def body(token: str | None = TOKEN, server: str = BASE) -> dict[str, Any]:
    hook = build_hook_request(PATIENT, SERVICE, with_prefetch=False)
    hook["fhirServer"] = server
    if token:
        hook["fhirAuthorization"] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/Condition.read patient/Observation.read",
            "subject": "dn-cds",
        }
    return hook


def hook_request(token: str | None = TOKEN, server: str = BASE) -> HookRequest:
    return parse_hook_request(body(token, server))


def fetcher(**settings: Any) -> FhirFetcher:
    return FhirFetcher(Settings(fhir_server_allowlist=(BASE,), **settings))


def bundle(*resources: dict[str, Any], next_url: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
    }
    if next_url is not None:
        result["link"] = [{"relation": "next", "url": next_url}]
    return result


def condition(condition_id: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": condition_id,
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "D66"}]},
        "subject": {"reference": f"Patient/{PATIENT.patient_id}"},
    }


MEDICATIONS = re.compile(re.escape(BASE) + r"/Medication(Request|Statement)\?.*")
PROCEDURES = re.compile(re.escape(BASE) + r"/Procedure\?.*")
ALLERGIES = re.compile(re.escape(BASE) + r"/AllergyIntolerance\?.*")
PATIENT_READ = f"{BASE}/Patient/{PATIENT.patient_id}"
PATIENT_RESOURCE = next(
    r for r in PATIENT.chart if r.get("resourceType") == "Patient" and r.get("id") == PATIENT.patient_id
)


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        # the medication, procedure and allergy keys answer empty, the Patient read with the patient,
        # unless a test says otherwise
        rsps.get(MEDICATIONS, json=bundle())
        rsps.get(PROCEDURES, json=bundle())
        rsps.get(ALLERGIES, json=bundle())
        rsps.get(PATIENT_READ, json=PATIENT_RESOURCE)
        yield rsps


# --- the query: the prefetch template, filled -------------------------------------------------------------


def test_fallback_queries_are_the_prefetch_templates_with_the_bearer_token(
    mock: responses.RequestsMock,
) -> None:
    mock.get(CONDITIONS, json=bundle(condition("c1")))
    mock.get(OBSERVATIONS, json=bundle())

    result = fetcher().fetch(hook_request(), SERVICE, MISSING)

    assert result.failures == {}
    assert [r["id"] for r in result.resources["conditions"]] == ["c1"]
    assert result.resources["pregnancyObservations"] == []
    assert result.resources["patient"] == [PATIENT_RESOURCE]  # a read: the resource itself
    assert result.resources["procedures"] == []
    urls = sorted(call.request.url or "" for call in mock.calls)
    expected = sorted(
        requests.Request("GET", f"{BASE}/{t.replace('{{context.patientId}}', PATIENT.patient_id)}")
        .prepare()
        .url
        or ""
        for t in SERVICE.prefetch.values()
    )
    assert urls == expected
    for call in mock.calls:
        assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert call.request.headers["Accept"] == "application/fhir+json"


def test_no_token_sends_no_authorization_header(mock: responses.RequestsMock) -> None:
    mock.get(CONDITIONS, json=bundle())
    mock.get(OBSERVATIONS, json=bundle())

    result = fetcher().fetch(hook_request(token=None), SERVICE, MISSING)

    assert result.failures == {}
    assert all("Authorization" not in call.request.headers for call in mock.calls)


def test_fill_template_substitutes_context_and_user_tokens() -> None:
    request = hook_request()

    assert fill_template("Patient/{{context.patientId}}", request) == f"Patient/{PATIENT.patient_id}"
    assert fill_template("Practitioner/{{ userPractitionerId }}", request) == "Practitioner/dn-demo-pt"
    with pytest.raises(Exception, match="no value"):
        fill_template("RelatedPerson/{{userRelatedPersonId}}", request)
    with pytest.raises(Exception, match="no value"):
        fill_template("Encounter/{{context.encounterId}}", request)


# --- HTTP failures become per-key failures ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        pytest.param(
            {"status": 401, "json": {"resourceType": "OperationOutcome"}},
            "refused the access token (HTTP 401)",
            id="401",
        ),
        pytest.param({"status": 403}, "does not allow this query (HTTP 403)", id="403"),
        pytest.param({"status": 404}, "HTTP 404", id="404"),
        pytest.param({"status": 410}, "gone (HTTP 410)", id="410"),
        pytest.param({"status": 429, "headers": {"Retry-After": "30"}}, "rate limiting (HTTP 429)", id="429"),
        pytest.param({"status": 500}, "had an error (HTTP 500)", id="500"),
        pytest.param({"status": 503}, "had an error (HTTP 503)", id="503"),
        pytest.param({"status": 304}, "unexpected HTTP status (304)", id="304"),
        pytest.param(
            {"body": requests.exceptions.ReadTimeout()},
            "did not answer within the time budget",
            id="read-timeout",
        ),
        pytest.param(
            {"body": requests.exceptions.ConnectTimeout()},
            "did not answer within the time budget",
            id="connect-timeout",
        ),
        pytest.param({"body": requests.exceptions.ConnectionError()}, "could not be reached", id="down"),
        pytest.param({"body": "<html>proxy error</html>", "status": 200}, "not FHIR JSON", id="html"),
        pytest.param({"json": [1, 2], "status": 200}, "not FHIR JSON", id="array"),
        pytest.param(
            {"json": {"resourceType": "OperationOutcome", "issue": []}},
            "error OperationOutcome",
            id="outcome",
        ),
        pytest.param(
            {"json": bundle({"resourceType": "OperationOutcome", "issue": [{"severity": "error"}]})},
            "error OperationOutcome",
            id="outcome-entry",
        ),
        pytest.param(
            {"json": {"resourceType": "Bundle", "entry": {"resource": 1}}},
            "Bundle is not readable",
            id="unreadable",
        ),
    ],
)
def test_a_failed_query_is_a_failure_of_that_key_only(
    mock: responses.RequestsMock, answer: dict[str, Any], reason: str
) -> None:
    mock.get(CONDITIONS, **answer)
    mock.get(OBSERVATIONS, json=bundle())

    result = fetcher().fetch(hook_request(), SERVICE, MISSING)

    assert list(result.failures) == ["conditions"]
    assert reason in result.failures["conditions"]
    assert "conditions" not in result.resources
    assert result.resources["pregnancyObservations"] == []


# --- a read template is answered by that resource, a search by a Bundle ----------------------------------


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        pytest.param({"status": 404, "json": {"resourceType": "OperationOutcome"}}, "HTTP 404", id="404"),
        pytest.param({"status": 410}, "gone (HTTP 410)", id="410"),
        pytest.param(
            {"json": {"resourceType": "OperationOutcome", "issue": []}},
            "error OperationOutcome",
            id="outcome",
        ),
        pytest.param({"json": bundle(PATIENT_RESOURCE)}, "not the resource asked for", id="bundle"),
        pytest.param(
            {"json": {**PATIENT_RESOURCE, "id": "someone-else"}},
            "not the resource asked for",
            id="other-patient",
        ),
        pytest.param(
            {"json": {k: v for k, v in PATIENT_RESOURCE.items() if k != "id"}},
            "not the resource asked for",
            id="no-id",
        ),
        pytest.param(
            {"json": {**PATIENT_RESOURCE, "resourceType": "Practitioner"}},
            "not the resource asked for",
            id="other-type",
        ),
    ],
)
def test_a_patient_read_that_is_not_the_patient_is_a_failure_of_that_key_only(
    mock: responses.RequestsMock, answer: dict[str, Any], reason: str
) -> None:
    mock.replace(responses.GET, PATIENT_READ, **answer)
    mock.get(CONDITIONS, json=bundle(condition("c1")))
    mock.get(OBSERVATIONS, json=bundle())

    result = fetcher().fetch(hook_request(), SERVICE, MISSING)

    assert list(result.failures) == ["patient"]  # never read as "no demographics on file"
    assert reason in result.failures["patient"]
    assert "patient" not in result.resources
    assert [r["id"] for r in result.resources["conditions"]] == ["c1"]


def test_a_search_answered_with_a_single_resource_is_a_failure(mock: responses.RequestsMock) -> None:
    mock.get(CONDITIONS, json=condition("c1"))  # not a searchset Bundle
    mock.get(OBSERVATIONS, json=bundle())
    mock.replace(responses.GET, PROCEDURES, json=PATIENT_RESOURCE)

    result = fetcher().fetch(hook_request(), SERVICE, MISSING)

    assert set(result.failures) == {"conditions", "procedures"}
    assert all("not a Bundle" in reason for reason in result.failures.values())
    assert result.resources["patient"] == [PATIENT_RESOURCE]


# --- redirects and next links stay on the server ----------------------------------------------------------


def test_redirect_to_another_origin_is_refused_and_never_followed(mock: responses.RequestsMock) -> None:
    mock.get(CONDITIONS, status=302, headers={"Location": "https://evil.example.net/steal"})
    mock.get(OBSERVATIONS, status=307, headers={"Location": "http://ehr.example.org/fhir/R4/Observation"})
    stolen = mock.get(re.compile(r"https?://(evil\.example\.net|ehr\.example\.org/fhir/R4/Observation$).*"))

    result = fetcher().fetch(hook_request(), SERVICE, MISSING)

    # https -> http is another origin; the lab Observation query is redirected too
    assert set(result.failures) == {"conditions", "pregnancyObservations", "labObservations"}
    assert all("redirected to another origin" in reason for reason in result.failures.values())
    assert stolen.call_count == 0


def test_redirect_on_the_same_origin_is_followed_with_the_token(mock: responses.RequestsMock) -> None:
    mock.get(CONDITIONS, status=301, headers={"Location": "/fhir/R4/moved/Condition"})
    moved = mock.get(f"{BASE}/moved/Condition", json=bundle(condition("c9")))
    mock.get(OBSERVATIONS, json=bundle())

    result = fetcher().fetch(hook_request(), SERVICE, MISSING)

    assert result.failures == {}
    assert [r["id"] for r in result.resources["conditions"]] == ["c9"]
    assert moved.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_endless_redirects_are_a_failure(mock: responses.RequestsMock) -> None:
    mock.get(CONDITIONS, status=302, headers={"Location": f"{BASE}/Condition?again=1"})
    mock.get(OBSERVATIONS, json=bundle())

    result = fetcher().fetch(hook_request(), SERVICE, MISSING)

    assert "redirected too many times" in result.failures["conditions"]


def test_next_pages_are_followed_on_the_same_server(mock: responses.RequestsMock) -> None:
    mock.get(
        f"{BASE}/Condition",
        json=bundle(condition("c1"), next_url=f"{BASE}/Condition?page=2"),
        match=[matchers.query_param_matcher({"patient": PATIENT.patient_id})],
    )
    mock.get(
        f"{BASE}/Condition",
        json=bundle(condition("c2")),
        match=[matchers.query_param_matcher({"page": "2"})],
    )
    mock.get(OBSERVATIONS, json=bundle())

    result = fetcher().fetch(hook_request(), SERVICE, MISSING)

    assert result.failures == {}
    assert [r["id"] for r in result.resources["conditions"]] == ["c1", "c2"]


@pytest.mark.parametrize(
    "next_url",
    [
        pytest.param("https://evil.example.net/fhir/R4/Condition?page=2", id="other-host"),
        pytest.param("http://ehr.example.org/fhir/R4/Condition?page=2", id="other-scheme"),
        pytest.param("https://ehr.example.org:8443/fhir/R4/Condition?page=2", id="other-port"),
        pytest.param("https://ehr.example.org/other-tenant/Condition?page=2", id="off-allowlist-path"),
        pytest.param("", id="empty"),
    ],
)
def test_next_link_off_the_server_is_refused(mock: responses.RequestsMock, next_url: str) -> None:
    mock.get(CONDITIONS, json=bundle(condition("c1"), next_url=next_url))
    mock.get(OBSERVATIONS, json=bundle())
    elsewhere = mock.get(
        re.compile(
            r"^(https://evil\.|http://ehr\.|https://ehr\.example\.org:8443|https://ehr\.example\.org/other-tenant)"
        )
    )

    result = fetcher().fetch(hook_request(), SERVICE, MISSING)

    assert "next-page link leaves its origin" in result.failures["conditions"]
    assert "conditions" not in result.resources  # page 1 alone is not the answer
    assert elsewhere.call_count == 0


def test_more_pages_than_the_cap_is_a_failure(mock: responses.RequestsMock) -> None:
    mock.get(CONDITIONS, json=bundle(condition("c1"), next_url=f"{BASE}/Condition?page=n"))
    mock.get(OBSERVATIONS, json=bundle())

    result = fetcher(fhir_max_pages=3).fetch(hook_request(), SERVICE, MISSING)

    assert "more than 3 pages" in result.failures["conditions"]
    assert len([c for c in mock.calls if "/Condition" in (c.request.url or "")]) == 3


# --- where the fetcher will not go ------------------------------------------------------------------------


def test_server_off_the_allowlist_is_412_without_a_request(mock: responses.RequestsMock) -> None:
    catch_all = mock.get(re.compile(r".*"))

    with pytest.raises(PreconditionFailed, match="fhirServer is not allowed") as raised:
        fetcher().fetch(hook_request(server="https://ehr.example.org/fhir/R5"), SERVICE, MISSING)

    assert raised.value.expression == "fhirServer"
    assert catch_all.call_count == 0


def test_no_fhir_server_is_412() -> None:
    request = parse_hook_request(build_hook_request(PATIENT, SERVICE, with_prefetch=False))

    with pytest.raises(PreconditionFailed, match="no fhirServer"):
        fetcher().fetch(request, SERVICE, MISSING)


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        (BASE, True),
        (BASE + "/", True),
        ("https://EHR.example.org:443/fhir/R4", True),
        ("https://ehr.example.org/fhir/R4/tenant-a", True),
        ("https://ehr.example.org/fhir/R4x", False),
        ("https://ehr.example.org/fhir", False),
        ("http://ehr.example.org/fhir/R4", False),
        ("https://ehr.example.org.evil.net/fhir/R4", False),
        ("https://user:pw@ehr.example.org/fhir/R4", False),
        ("https://ehr.example.org:8443/fhir/R4", False),
    ],
)
def test_allowlist_matches_origin_and_path_prefix(url: str, allowed: bool) -> None:
    assert ServerAllowlist((BASE,)).allows(url) is allowed


# --- settings ---------------------------------------------------------------------------------------------


def test_fhir_settings_from_env() -> None:
    settings = Settings.from_env(
        {
            "DN_CDS_FHIR_SERVER_ALLOWLIST": f" {BASE}/ , http://127.0.0.1:8103/fhir/R4,http://localhost/fhir",
            "DN_CDS_FHIR_TIME_BUDGET_SECONDS": "1.5",
            "DN_CDS_FHIR_CONNECT_TIMEOUT_SECONDS": "0.3",
            "DN_CDS_FHIR_READ_TIMEOUT_SECONDS": "1",
            "DN_CDS_FHIR_MAX_PAGES": "7",
        }
    )

    assert settings.fhir_server_allowlist == (BASE, "http://127.0.0.1:8103/fhir/R4", "http://localhost/fhir")
    assert settings.fhir_time_budget_seconds == 1.5
    assert settings.fhir_connect_timeout_seconds == 0.3
    assert settings.fhir_read_timeout_seconds == 1.0
    assert settings.fhir_max_pages == 7
    defaults = Settings.from_env({})
    assert defaults.fhir_server_allowlist == ()
    assert defaults.fhir_time_budget_seconds == 2.0


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("FHIR_SERVER_ALLOWLIST", "http://ehr.example.org/fhir", "must use https"),
        ("FHIR_SERVER_ALLOWLIST", "ehr.example.org/fhir", "not an absolute"),
        ("FHIR_SERVER_ALLOWLIST", "https://u:p@ehr.example.org/fhir", "plain base URL"),
        ("FHIR_SERVER_ALLOWLIST", "https://ehr.example.org/fhir?x=1", "plain base URL"),
        ("FHIR_TIME_BUDGET_SECONDS", "soon", "number of seconds"),
        ("FHIR_TIME_BUDGET_SECONDS", "nan", "between"),
        ("FHIR_TIME_BUDGET_SECONDS", "0", "between"),
        ("FHIR_READ_TIMEOUT_SECONDS", "600", "between"),
        ("FHIR_MAX_PAGES", "0", "between"),
    ],
)
def test_bad_fhir_settings_fail_fast(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message) as raised:
        Settings.from_env({f"DN_CDS_{name}": value})
    assert f"DN_CDS_{name}" in str(raised.value)


# --- the token never reaches a log; the card names what is missing ----------------------------------------


def test_token_never_reaches_any_log(mock: responses.RequestsMock, caplog: pytest.LogCaptureFixture) -> None:
    mock.get(CONDITIONS, status=302, headers={"Location": "https://evil.example.net/x"})
    mock.get(OBSERVATIONS, body=requests.exceptions.ReadTimeout(f"read timed out, Bearer {TOKEN}"))
    app = create_app(
        Settings(fhir_server_allowlist=(BASE,), log_level="DEBUG", trusted_issuers=(issuer_trust(),)),
        today=lambda: TODAY,
    )
    cds = CdsClient(app.test_client())

    with caplog.at_level(logging.DEBUG):
        response = cds.call(SERVICE.id, body())
        mock.get(CONDITIONS, status=401)
        cds.call(SERVICE.id, body())

    assert response.status_code == 200
    assert any(r.name == "dn_cds.fhir" for r in caplog.records)  # the fetch was logged...
    assert TOKEN not in caplog.text  # ...without the token
    assert TOKEN not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("failing", "summary"),
    [
        pytest.param(
            CONDITIONS,
            "Could not read conditions: pregnancy, bleeding disorder, local infection,"
            " problem-list indications not checked",
            id="conditions",
        ),
        pytest.param(
            OBSERVATIONS,
            "Could not read pregnancy observations and lab results: pregnancy, platelets, INR not checked",
            id="observations",
        ),
    ],
)
def test_card_names_exactly_the_data_that_could_not_be_read(
    mock: responses.RequestsMock, failing: re.Pattern[str], summary: str
) -> None:
    working = OBSERVATIONS if failing is CONDITIONS else CONDITIONS
    mock.get(failing, status=503)
    mock.get(working, json=bundle())
    app = create_app(
        Settings(fhir_server_allowlist=(BASE,), trusted_issuers=(issuer_trust(),)), today=lambda: TODAY
    )

    response = CdsClient(app.test_client()).call(SERVICE.id, body())

    [card] = [
        c for c in response.get_json()["cards"] if c["source"]["topic"]["code"] == "patient-data-incomplete"
    ]
    assert card["summary"] == summary
    assert card["indicator"] == "warning"
    assert "HTTP 503" in card["detail"]
    assert card["extension"]["dn-cds.orders"] == [PATIENT.order_reference]


def test_nothing_readable_gives_a_short_summary_and_names_every_data_in_the_detail(
    mock: responses.RequestsMock,
) -> None:
    mock.replace(responses.GET, MEDICATIONS, status=401)
    mock.replace(responses.GET, PROCEDURES, status=401)
    mock.replace(responses.GET, ALLERGIES, status=401)
    mock.replace(responses.GET, PATIENT_READ, status=401)
    mock.get(CONDITIONS, status=401)
    mock.get(OBSERVATIONS, status=401)
    app = create_app(
        Settings(fhir_server_allowlist=(BASE,), trusted_issuers=(issuer_trust(),)), today=lambda: TODAY
    )

    response = CdsClient(app.test_client()).call(SERVICE.id, body())

    [card] = [
        c for c in response.get_json()["cards"] if c["source"]["topic"]["code"] == "patient-data-incomplete"
    ]
    assert card["summary"] == "Could not read any patient data: none of the chart checks were done"
    assert card["indicator"] == "warning"
    for data in (
        "conditions",
        "pregnancy observations",
        "lab results",
        "medication orders",
        "medication list",
    ):
        assert f"{data}: the FHIR server refused the access token (HTTP 401)" in card["detail"]
    assert "patient demographics: the FHIR server refused" in card["detail"]
    assert "procedures: the FHIR server refused" in card["detail"]


class _BuggyClient:
    def get_json(self, url: str, token: str | None, deadline: float, **options: Any) -> Any:
        raise KeyError(f"bug while reading {url}")


def test_an_unexpected_error_is_a_failure_logged_by_type_only(caplog: pytest.LogCaptureFixture) -> None:
    buggy = FhirFetcher(Settings(fhir_server_allowlist=(BASE,)), client=_BuggyClient())  # type: ignore[arg-type]

    with caplog.at_level(logging.DEBUG, logger="dn_cds.fhir"):
        result = buggy.fetch(hook_request(), SERVICE, MISSING)

    assert set(result.failures) == set(SERVICE.prefetch)
    assert "unexpectedly" in result.failures["conditions"]
    assert "KeyError" in caplog.text
    assert PATIENT.patient_id not in caplog.text
