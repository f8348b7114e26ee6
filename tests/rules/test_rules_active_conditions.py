"""Which Conditions count as active (architecture.md section 4), shown directly and through the rules."""

from __future__ import annotations

from typing import Any

import pytest
from support.builders import concept, condition, days_ago, days_ahead, icd, patient_record
from support.clock import TODAY

from fhir_mappings import Knowledge, evaluate_patient
from fhir_mappings.bleeding import find_bleeding_disorders
from fhir_mappings.indications import find_indications
from fhir_mappings.infection import find_active_infections
from fhir_mappings.records import is_active_condition

# (condition keyword arguments, counts as active)
ACTIVE_CASES = [
    pytest.param({"clinical_status": "active"}, True, id="active"),
    pytest.param({"clinical_status": "recurrence"}, True, id="recurrence"),
    pytest.param({"clinical_status": "relapse"}, True, id="relapse"),
    pytest.param({"clinical_status": None}, True, id="clinical-status-absent"),
    pytest.param({"clinical_status": "resolved"}, False, id="resolved"),
    pytest.param({"clinical_status": "inactive"}, False, id="inactive"),
    pytest.param({"clinical_status": "remission"}, False, id="remission"),
    pytest.param({"verification_status": "refuted"}, False, id="refuted"),
    pytest.param({"verification_status": "entered-in-error"}, False, id="entered-in-error"),
    pytest.param(
        {"verification_status": "entered-in-error", "clinical_status": None},
        False,
        id="entered-in-error-no-clinical-status",
    ),
    pytest.param({"verification_status": "provisional"}, True, id="provisional"),
    pytest.param({"verification_status": "differential"}, True, id="differential"),
    pytest.param({"verification_status": "unconfirmed"}, True, id="unconfirmed"),
    pytest.param({"verification_status": None}, True, id="verification-absent"),
    pytest.param({"clinical_status": None, "abatement": days_ago(5)}, False, id="abatement-in-the-past"),
    pytest.param(
        {"clinical_status": None, "abatement_period_end": days_ago(5)}, False, id="abatement-period-ended"
    ),
    pytest.param(
        {"clinical_status": "active", "abatement": days_ahead(10)}, True, id="abatement-in-the-future"
    ),
    pytest.param(
        {"clinical_status": None, "abatement_period_end": days_ahead(10)},
        True,
        id="abatement-period-ends-in-future",
    ),
]


@pytest.mark.parametrize(("kwargs", "active"), ACTIVE_CASES)
def test_is_active_condition(kwargs: dict[str, Any], active: bool, knowledge: Knowledge) -> None:
    resource = condition(concept(icd("D66", "Hereditary factor VIII deficiency")), **kwargs)
    assert is_active_condition(resource, TODAY, knowledge.policy) is active


@pytest.mark.parametrize(("kwargs", "active"), ACTIVE_CASES)
def test_active_logic_applies_to_bleeding_rule(
    kwargs: dict[str, Any], active: bool, knowledge: Knowledge
) -> None:
    resource = condition(concept(icd("D66", "Hereditary factor VIII deficiency")), id="c-1", **kwargs)
    found = find_bleeding_disorders(patient_record(resource), knowledge, TODAY)
    assert bool(found) is active


@pytest.mark.parametrize(("kwargs", "active"), ACTIVE_CASES)
def test_active_logic_applies_to_problem_list_indications(
    kwargs: dict[str, Any], active: bool, knowledge: Knowledge
) -> None:
    resource = condition(concept(icd("M54.2", "Cervicalgia")), **kwargs)
    result = find_indications(None, patient_record(resource), knowledge, TODAY)
    assert bool(result.matches) is active


@pytest.mark.parametrize(("kwargs", "active"), ACTIVE_CASES)
def test_active_logic_applies_to_infection_rule(
    kwargs: dict[str, Any], active: bool, knowledge: Knowledge
) -> None:
    resource = condition(concept(icd("L03.115", "Cellulitis of right lower limb")), **kwargs)
    assert bool(find_active_infections(patient_record(resource), knowledge, TODAY)) is active


def test_abatement_today_counts_as_abated(knowledge: Knowledge) -> None:
    """Abated today: no longer active (only an abatement strictly after ``now`` keeps it active)."""
    resource = condition(concept(icd("D66")), clinical_status=None, abatement=TODAY)
    assert is_active_condition(resource, TODAY, knowledge.policy) is False


@pytest.mark.parametrize(
    "status_concept",
    [
        pytest.param(
            {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "Active"}
                ]
            },
            id="upper-case-code",
        ),
        pytest.param({"coding": [{"code": "active"}]}, id="code-without-system"),
        pytest.param({"text": "active"}, id="text-only-status"),
    ],
)
def test_clinical_status_variants_count_as_active(
    status_concept: dict[str, Any], knowledge: Knowledge
) -> None:
    resource = condition(concept(icd("D66")), clinical_status=None)
    resource["clinicalStatus"] = status_concept
    assert is_active_condition(resource, TODAY, knowledge.policy) is True


def test_patient_view_ignores_inactive_records(knowledge: Knowledge) -> None:
    record = patient_record(
        condition(concept(icd("D66")), clinical_status="resolved"),
        condition(concept(icd("M54.2")), verification_status="refuted"),
        condition(concept(icd("L03.115")), abatement=days_ago(3), clinical_status="resolved"),
    )
    assert [f.code for f in evaluate_patient(record, knowledge, TODAY)] == ["no-indication-found"]
