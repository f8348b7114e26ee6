"""The prefetch templates fetch exactly what the rules read, so prefetch and rules cannot drift apart."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from support.services import CATALOG

from cds_service.catalog import ServiceDefinition
from fhir_mappings import Knowledge

SERVICES = CATALOG.services
EACH_SERVICE = [pytest.param(s, id=s.id) for s in SERVICES]
PREGNANCY_OBSERVATION_SETS = (
    "pregnancy-status-observation",
    "pregnancy-edd-observation",
    "pregnancy-ga-observation",
    "pregnancy-lmp-observation",
    "pregnancy-test-observation",
    "pregnancy-test-observation-vsac",
)


@pytest.mark.parametrize("service", EACH_SERVICE)
def test_observation_codes_equal_the_pregnancy_value_sets(service: object, knowledge: Knowledge) -> None:
    template = service.prefetch["pregnancyObservations"]  # type: ignore[attr-defined]
    resource_type, _, query = template.partition("?")
    params = dict(parse_qsl(query))
    asked = {tuple(token.split("|", 1)) for token in params["code"].split(",")}

    read = {code for vs in PREGNANCY_OBSERVATION_SETS for code in knowledge.value_set(vs).exact_codes}

    assert resource_type == "Observation"
    assert params["patient"] == "{{context.patientId}}"
    assert asked == read


@pytest.mark.parametrize("service", EACH_SERVICE)
def test_conditions_are_fetched_whatever_their_status(service: object) -> None:
    """Resolved and entered-in-error records are read too: they end pregnancies and must be seen to be
    excluded, so the template must not filter on clinical-status."""
    assert service.prefetch["conditions"] == "Condition?patient={{context.patientId}}"  # type: ignore[attr-defined]


LAB_OBSERVATION_SETS = ("platelet-count-observation", "inr-observation", "lab-panel-observation")


@pytest.mark.parametrize("service", EACH_SERVICE)
def test_lab_observation_codes_equal_the_lab_value_sets(service: object, knowledge: Knowledge) -> None:
    template = service.prefetch["labObservations"]  # type: ignore[attr-defined]
    resource_type, _, query = template.partition("?")
    params = dict(parse_qsl(query))
    asked = {tuple(token.split("|", 1)) for token in params["code"].split(",")}

    read = {code for vs in LAB_OBSERVATION_SETS for code in knowledge.value_set(vs).exact_codes}
    # the panels are fetched for their components and members (issue 11 class 11)
    assert {test.value_set for test in knowledge.lab_tests} == set(LAB_OBSERVATION_SETS) - {
        "lab-panel-observation"
    }

    assert resource_type == "Observation"
    assert params["patient"] == "{{context.patientId}}"
    assert asked == read


@pytest.mark.parametrize("service", EACH_SERVICE)
@pytest.mark.parametrize(
    ("key", "resource_type", "policy_setting"),
    [
        ("medicationRequests", "MedicationRequest", "medication_request_active_statuses"),
        ("medicationStatements", "MedicationStatement", "medication_statement_active_statuses"),
    ],
)
def test_medication_statuses_equal_the_policy(
    service: object, key: str, resource_type: str, policy_setting: str, knowledge: Knowledge
) -> None:
    """The medication templates fetch exactly the statuses the rules count as current (no code filter:
    the name fallback must see medications whose code is not in the value sets)."""
    template = service.prefetch[key]  # type: ignore[attr-defined]
    asked_type, _, query = template.partition("?")
    params = dict(parse_qsl(query))

    assert asked_type == resource_type
    assert params == {"patient": "{{context.patientId}}", "status": params["status"]}
    # plus the statuses that count while the record's own therapy period runs (a 'completed' prescription)
    policy = knowledge.policy
    expected = getattr(policy, policy_setting) | policy.medication_current_while_period_runs_statuses
    assert set(params["status"].split(",")) == expected


@pytest.mark.parametrize("service", EACH_SERVICE)
def test_the_patient_is_read(service: object) -> None:
    """Sex and birth date decide reproductive potential (pregnancy-status-unknown)."""
    assert service.prefetch["patient"] == "Patient/{{context.patientId}}"  # type: ignore[attr-defined]


@pytest.mark.parametrize("service", EACH_SERVICE)
def test_every_procedure_of_the_patient_is_read(service: object, knowledge: Knowledge) -> None:
    """No code filter: hysterectomies and deliveries (pregnancy status) and joint replacements (the prosthesis
    precaution) all come, and so do procedures named only in text; a code list of the three value sets would
    make the URL longer than the 8 KB many FHIR servers accept."""
    template = service.prefetch["procedures"]  # type: ignore[attr-defined]
    read_by_rules = set(knowledge.value_set("hysterectomy").exact_codes)
    read_by_rules |= knowledge.value_set("pregnancy-ending-procedure").exact_codes
    read_by_rules |= knowledge.value_set("joint-replacement-procedure").exact_codes

    assert template == "Procedure?patient={{context.patientId}}"
    assert len(read_by_rules) > 100
    assert len(",".join(f"{system}|{code}" for system, code in read_by_rules)) > 8000


# What an EHR's CDS committee reads in discovery before switching a service on: every contraindication the
# order services can raise. A new contraindication code must be added here and to the descriptions.
CONTRAINDICATION_WORDS = {
    "pregnancy-first-trimester": "first-trimester pregnancy",
    "bleeding-disorder": "bleeding disorder",
    "severe-thrombocytopenia": "severe thrombocytopenia",
    "inr-critical": "critical INR",
    "local-infection": "local infection",
    "lymphedema-limb": "lymphedema in the limb to be needled",
}


@pytest.mark.parametrize("service", [s for s in SERVICES if s.hook != "patient-view"], ids=lambda s: s.id)
def test_order_service_description_names_every_contraindication(
    service: ServiceDefinition, knowledge: Knowledge
) -> None:
    contraindications = {code for code, f in knowledge.findings.items() if f.kind == "contraindication"}
    assert contraindications == set(CONTRAINDICATION_WORDS)
    missing = [words for words in CONTRAINDICATION_WORDS.values() if words not in service.description]
    assert missing == []
