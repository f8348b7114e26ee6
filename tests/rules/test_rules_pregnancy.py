"""Pregnancy state and gestational age (architecture.md section 4, clinical-knowledge.md 2a).

GA arithmetic used below (``TODAY`` = 2026-11-26): an EDD ``280 - g`` days ahead gives GA ``g`` days today;
first trimester = GA < 98 days (14w0d).
"""

from __future__ import annotations

from typing import Any

import pytest
from support.builders import (
    NOT_PREGNANT_LOINC,
    NOT_PREGNANT_SCT,
    POSSIBLE_PREGNANCY_SCT,
    PREGNANCY_NOT_CONFIRMED_SCT,
    PREGNANT_LOINC,
    PREGNANT_SCT,
    UNKNOWN_LOINC,
    body_site,
    coding,
    concept,
    condition,
    days_ago,
    days_ahead,
    draft_orders,
    dry_needling_order,
    estimated_due_date,
    gestational_age,
    gestational_age_components,
    icd,
    icd_condition,
    last_menstrual_period,
    loinc,
    patient_record,
    pregnancy_intent,
    pregnancy_status,
    sct,
)
from support.clock import TODAY
from support.fhir_types import Json

from fhir_mappings import Knowledge, evaluate_orders, find_dry_needling_orders
from fhir_mappings.pregnancy import PregnancyAssessment, assess_pregnancy, format_ga


def _edd_for_ga(ga_days: int) -> Any:
    """The due date that puts GA at ``ga_days`` today."""
    return days_ahead(280 - ga_days)


def _assess(knowledge: Knowledge, *resources: Json) -> PregnancyAssessment:
    return assess_pregnancy(patient_record(*resources), knowledge, TODAY)


# --- pregnancy status observations --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        pytest.param(PREGNANT_SCT, "first-trimester", id="snomed-pregnant"),
        pytest.param(PREGNANT_LOINC, "first-trimester", id="loinc-pregnant"),
        pytest.param(POSSIBLE_PREGNANCY_SCT, "first-trimester", id="possible-pregnancy"),
        pytest.param(PREGNANCY_NOT_CONFIRMED_SCT, "first-trimester", id="pregnancy-not-yet-confirmed"),
        pytest.param(NOT_PREGNANT_SCT, "not-pregnant", id="snomed-not-pregnant"),
        pytest.param(NOT_PREGNANT_LOINC, "not-pregnant", id="loinc-not-pregnant"),
        pytest.param(UNKNOWN_LOINC, "not-pregnant", id="loinc-unknown"),
        pytest.param(
            coding("http://terminology.hl7.org/CodeSystem/v3-NullFlavor", "UNK", "Unknown"),
            "not-pregnant",
            id="nullflavor-unk",
        ),
        pytest.param(
            coding("http://snomed.info/sct", "LA15173-0"),
            "not-pregnant",
            id="loinc-answer-under-snomed-system",
        ),  # LOINC answer, wrong system
    ],
)
def test_status_observation_alone(answer: Json, status: str, knowledge: Knowledge) -> None:
    result = _assess(knowledge, pregnancy_status(answer, days_ago(10), id="ps-1"))
    assert result.status == status
    if status == "first-trimester":
        # recent evidence without dating: the first trimester cannot be excluded
        assert result.reason
        assert result.ga_label is None
        assert [e.reference for e in result.evidence] == ["Observation/ps-1"]
    else:
        assert result.evidence == ()


def test_possible_pregnancy_is_first_trimester_even_when_old(knowledge: Knowledge) -> None:
    result = _assess(knowledge, pregnancy_status(POSSIBLE_PREGNANCY_SCT, days_ago(150)))
    assert (result.status, result.ga_label) == ("first-trimester", None)
    assert result.reason


@pytest.mark.parametrize(
    ("days", "status", "ga_label"),
    [
        pytest.param(10, "first-trimester", None, id="10-days"),
        pytest.param(97, "first-trimester", None, id="97-days"),
        pytest.param(98, "later-trimester", "at least 14w0d", id="98-days"),
        pytest.param(150, "later-trimester", "at least 21w3d", id="150-days"),
        pytest.param(294, "later-trimester", "at least 42w0d", id="294-days"),
        pytest.param(295, "not-pregnant", None, id="stale-295-days"),
        pytest.param(400, "not-pregnant", None, id="stale-400-days"),
    ],
)
def test_undated_pregnant_status_by_age(
    days: int, status: str, ga_label: str | None, knowledge: Knowledge
) -> None:
    result = _assess(knowledge, pregnancy_status(PREGNANT_SCT, days_ago(days)))
    assert (result.status, result.ga_label) == (status, ga_label)


@pytest.mark.parametrize(
    ("resources", "status"),
    [
        pytest.param(
            [pregnancy_status(PREGNANT_SCT, days_ago(40)), pregnancy_status(NOT_PREGNANT_SCT, days_ago(5))],
            "not-pregnant",
            id="snomed-not-pregnant-after-pregnant",
        ),
        pytest.param(
            [
                pregnancy_status(PREGNANT_LOINC, days_ago(40)),
                pregnancy_status(NOT_PREGNANT_LOINC, days_ago(5)),
            ],
            "not-pregnant",
            id="loinc-not-pregnant-after-pregnant",
        ),
        pytest.param(
            [pregnancy_status(NOT_PREGNANT_SCT, days_ago(40)), pregnancy_status(PREGNANT_SCT, days_ago(5))],
            "first-trimester",
            id="pregnant-after-not-pregnant",
        ),
        pytest.param(
            [
                estimated_due_date(_edd_for_ga(60), days_ago(30)),
                pregnancy_status(NOT_PREGNANT_SCT, days_ago(2)),
            ],
            "not-pregnant",
            id="not-pregnant-after-edd",
        ),
        pytest.param(
            [pregnancy_status(PREGNANT_SCT, days_ago(40)), pregnancy_status(UNKNOWN_LOINC, days_ago(5))],
            "first-trimester",
            id="unknown-after-pregnant-does-not-negate",
        ),
    ],
)
def test_status_sequence(resources: list[Json], status: str, knowledge: Knowledge) -> None:
    assert _assess(knowledge, *resources).status == status


@pytest.mark.parametrize(
    ("obs_status", "counts"),
    [
        ("final", True),
        ("amended", True),
        ("corrected", True),
        ("preliminary", False),
        ("registered", False),
        ("cancelled", False),
        ("entered-in-error", False),
        ("unknown", False),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_observation_status_filter(obs_status: str, counts: bool, knowledge: Knowledge) -> None:
    pregnant = _assess(knowledge, pregnancy_status(PREGNANT_SCT, days_ago(10), status=obs_status))
    assert (pregnant.status != "not-pregnant") is counts
    dated = _assess(knowledge, estimated_due_date(_edd_for_ga(150), days_ago(10), status=obs_status))
    assert (dated.status != "not-pregnant") is counts


def test_not_pregnant_entered_in_error_does_not_negate(knowledge: Knowledge) -> None:
    result = _assess(
        knowledge,
        pregnancy_status(PREGNANT_SCT, days_ago(40)),
        pregnancy_status(NOT_PREGNANT_SCT, days_ago(5), status="entered-in-error"),
    )
    assert result.status == "first-trimester"


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(loinc("LA26438-4", "Yes, I want to become pregnant"), id="loinc-wants"),
        pytest.param(sct("454411000124108", "Wants to become pregnant"), id="snomed-wants"),
        pytest.param(loinc("LA14072-5", "I'm not sure"), id="loinc-not-sure"),
        pytest.param(sct("454381000124105", "Unsure if wants to become pregnant"), id="snomed-not-sure"),
    ],
)
def test_pregnancy_intent_never_counts(answer: Json, knowledge: Knowledge) -> None:
    assert _assess(knowledge, pregnancy_intent(answer, days_ago(3))).status == "not-pregnant"


# --- dating: EDD, GA, LMP ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "loinc_code",
    ["11778-8", "11779-6", "11780-4", "11781-2", "53692-0", "53694-6", "57063-0", "57064-8", "90368-2"],
    ids=lambda code: f"edd-{code}",
)
@pytest.mark.parametrize(
    ("ga_days", "status", "ga_label"),
    [
        pytest.param(65, "first-trimester", "9w2d", id="9w2d"),
        pytest.param(97, "first-trimester", "13w6d", id="13w6d"),
        pytest.param(98, "later-trimester", "14w0d", id="14w0d"),
        pytest.param(180, "later-trimester", "25w5d", id="25w5d"),
        pytest.param(294, "later-trimester", "42w0d", id="42w0d"),
    ],
)
def test_edd_dates_the_pregnancy(
    loinc_code: str, ga_days: int, status: str, ga_label: str, knowledge: Knowledge
) -> None:
    result = _assess(knowledge, estimated_due_date(_edd_for_ga(ga_days), days_ago(7), loinc_code=loinc_code))
    assert (result.status, result.ga_label, result.reason) == (status, ga_label, None)
    assert result.dating_basis and _edd_for_ga(ga_days).isoformat() in result.dating_basis


@pytest.mark.parametrize(
    ("due", "recorded", "status"),
    [
        pytest.param(
            days_ago(30), days_ago(200), "not-pregnant", id="edd-long-past"
        ),  # GA 310 today: the pregnancy has ended
        pytest.param(days_ago(15), days_ago(100), "not-pregnant", id="edd-just-past-42-weeks"),  # GA 295
        pytest.param(
            days_ahead(290), days_ago(1), "not-pregnant", id="edd-beyond-term"
        ),  # GA -10: due date too far ahead to be real
        pytest.param(
            _edd_for_ga(65), days_ago(300), "not-pregnant", id="edd-recorded-too-long-ago"
        ),  # recorded > 294 days ago: stale
    ],
)
def test_edd_out_of_range_does_not_count(due: Any, recorded: Any, status: str, knowledge: Knowledge) -> None:
    assert _assess(knowledge, estimated_due_date(due, recorded)).status == status


@pytest.mark.parametrize(
    ("ga_days", "status"),
    [
        pytest.param(65, "first-trimester", id="9w2d"),
        pytest.param(180, "later-trimester", id="25w5d"),
        pytest.param(310, "not-pregnant", id="past-42-weeks"),
    ],
)
def test_undated_edd_observation_still_dates(ga_days: int, status: str, knowledge: Knowledge) -> None:
    """An EDD Observation without effective[x]/issued: the due date itself dates the pregnancy."""
    result = _assess(knowledge, estimated_due_date(_edd_for_ga(ga_days), None))
    assert result.status == status
    if status != "not-pregnant":
        assert result.ga_label == format_ga(ga_days)


def test_undated_edd_before_a_delivery_does_not_count(knowledge: Knowledge) -> None:
    result = _assess(
        knowledge,
        estimated_due_date(_edd_for_ga(250), None),
        icd_condition("O80", "Encounter for full-term uncomplicated delivery", onset=days_ago(3)),
    )
    assert result.status == "not-pregnant"


@pytest.mark.parametrize(
    ("resource", "ga_label", "status"),
    [
        pytest.param(gestational_age(8, "wk", days_ago(10)), "9w3d", "first-trimester", id="weeks"),
        pytest.param(gestational_age(20, "wk", days_ago(7)), "21w0d", "later-trimester", id="weeks-later"),
        pytest.param(gestational_age(60, "d", days_ago(5)), "9w2d", "first-trimester", id="days"),
        pytest.param(
            gestational_age(13.5, "wk", days_ago(4)), "14w0d", "later-trimester", id="fractional-weeks"
        ),
        pytest.param(gestational_age_components(9, 2, TODAY), "9w2d", "first-trimester", id="components"),
        pytest.param(
            gestational_age_components(16, 3, days_ago(14)), "18w3d", "later-trimester", id="components-later"
        ),
        pytest.param(
            gestational_age(9, "wk", days_ago(2), loinc_code="49051-6"),
            "9w2d",
            "first-trimester",
            id="49051-6-weeks",
        ),
        pytest.param(
            gestational_age(65, "d", TODAY, loinc_code="49052-4"),
            "9w2d",
            "first-trimester",
            id="49052-4-days",
        ),
        pytest.param(
            gestational_age(12, "wk", days_ago(1), loinc_code="11888-5"),
            "12w1d",
            "first-trimester",
            id="11888-5-ultrasound",
        ),
    ],
)
def test_gestational_age_observation(
    resource: Json, ga_label: str, status: str, knowledge: Knowledge
) -> None:
    result = _assess(knowledge, resource)
    assert (result.status, result.ga_label) == (status, ga_label)


@pytest.mark.parametrize(
    "quantity",
    [
        pytest.param(
            {"value": 9, "unit": "mo", "system": "http://unitsofmeasure.org", "code": "mo"}, id="unknown-unit"
        ),
        pytest.param(
            {"value": -3, "unit": "wk", "system": "http://unitsofmeasure.org", "code": "wk"}, id="negative"
        ),
        pytest.param({"value": "9", "unit": "wk"}, id="string-value"),
    ],
)
def test_gestational_age_unusable_quantity_ignored(quantity: Json, knowledge: Knowledge) -> None:
    resource = gestational_age(9, "wk", days_ago(2))
    resource["valueQuantity"] = quantity
    assert _assess(knowledge, resource).status == "not-pregnant"


@pytest.mark.parametrize(
    ("lmp_days_ago", "status", "ga_label"),
    [
        pytest.param(65, "first-trimester", "9w2d", id="lmp-9w2d"),
        pytest.param(120, "later-trimester", "17w1d", id="lmp-17w1d"),
    ],
)
def test_lmp_dates_a_recorded_pregnancy(
    lmp_days_ago: int, status: str, ga_label: str | None, knowledge: Knowledge
) -> None:
    result = _assess(
        knowledge,
        pregnancy_status(PREGNANT_SCT, days_ago(5)),
        last_menstrual_period(days_ago(lmp_days_ago), days_ago(5)),
    )
    assert (result.status, result.ga_label) == (status, ga_label)
    if ga_label:
        assert result.dating_basis and days_ago(lmp_days_ago).isoformat() in result.dating_basis


def test_lmp_beyond_42_weeks_leaves_undated_status(knowledge: Knowledge) -> None:
    """An LMP that cannot date this pregnancy is dropped; the recent status still counts on its own."""
    result = _assess(
        knowledge,
        pregnancy_status(PREGNANT_SCT, days_ago(5)),
        last_menstrual_period(days_ago(300), days_ago(5)),
    )
    assert (result.status, result.ga_label) == ("first-trimester", None)


@pytest.mark.parametrize(
    ("resources", "ga_label"),
    [
        pytest.param(
            [
                last_menstrual_period(days_ago(140), days_ago(30)),
                estimated_due_date(_edd_for_ga(65), days_ago(30)),
            ],
            "9w2d",
            id="edd-over-lmp",
        ),
        pytest.param(
            [gestational_age(20, "wk", days_ago(7)), estimated_due_date(_edd_for_ga(70), days_ago(60))],
            "10w0d",
            id="edd-over-ga",
        ),
        pytest.param(
            [
                estimated_due_date(_edd_for_ga(80), days_ago(60)),
                estimated_due_date(_edd_for_ga(84), days_ago(20)),
            ],
            "12w0d",
            id="newest-edd-wins",
        ),
        pytest.param(
            [
                icd_condition("Z3A.20", "20 weeks gestation of pregnancy", recorded=days_ago(3)),
                last_menstrual_period(days_ago(65), days_ago(30)),
            ],
            "9w2d",
            id="lmp-over-z3a",
        ),
    ],
)
def test_dating_precedence(resources: list[Json], ga_label: str, knowledge: Knowledge) -> None:
    assert _assess(knowledge, *resources).ga_label == ga_label


# --- conditions: Z3A weeks, pregnancy problems, ended pregnancies ----------------------------------


@pytest.mark.parametrize(
    ("code", "display", "recorded_days_ago", "status", "ga_label", "has_reason"),
    [
        pytest.param(
            "Z3A.01",
            "Less than 8 weeks gestation of pregnancy",
            0,
            "first-trimester",
            "0w0d-7w6d",
            False,
            id="z3a01-under-8-weeks",
        ),
        pytest.param(
            "Z3A.08",
            "8 weeks gestation of pregnancy",
            0,
            "first-trimester",
            "8w0d-8w6d",
            False,
            id="z3a08-today",
        ),
        pytest.param(
            "Z3A.08",
            "8 weeks gestation of pregnancy",
            14,
            "first-trimester",
            "10w0d-10w6d",
            False,
            id="z3a08-two-weeks-ago",
        ),
        pytest.param(
            "Z3A.13",
            "13 weeks gestation of pregnancy",
            3,
            "first-trimester",
            "13w3d-14w2d",
            True,
            id="z3a13-3-days-ago-ambiguous",
        ),
        pytest.param(
            "Z3A.13",
            "13 weeks gestation of pregnancy",
            10,
            "later-trimester",
            "14w3d-15w2d",
            False,
            id="z3a13-10-days-ago-past-14w0d",
        ),
        pytest.param(
            "Z3A.20",
            "20 weeks gestation of pregnancy",
            0,
            "later-trimester",
            "20w0d-20w6d",
            False,
            id="z3a20-today",
        ),
        pytest.param(
            "Z3A.20",
            "20 weeks gestation of pregnancy",
            30,
            "later-trimester",
            "24w2d-25w1d",
            False,
            id="z3a20-30-days-ago",
        ),
        pytest.param(
            "z3a20",
            "20 weeks gestation of pregnancy",
            0,
            "later-trimester",
            "20w0d-20w6d",
            False,
            id="z3a20-undotted-lower-case",
        ),
    ],
)
def test_weeks_of_gestation_codes(
    code: str,
    display: str,
    recorded_days_ago: int,
    status: str,
    ga_label: str,
    has_reason: bool,
    knowledge: Knowledge,
) -> None:
    resource = icd_condition(
        code, display, recorded=days_ago(recorded_days_ago), category="encounter-diagnosis"
    )
    result = _assess(knowledge, resource)
    assert (result.status, result.ga_label, bool(result.reason)) == (status, ga_label, has_reason)


def test_z3a00_weeks_not_specified_is_undated_pregnancy(knowledge: Knowledge) -> None:
    result = _assess(
        knowledge,
        icd_condition("Z3A.00", "Weeks of gestation of pregnancy not specified", recorded=days_ago(5)),
    )
    assert (result.status, result.ga_label) == ("first-trimester", None)
    assert result.reason


@pytest.mark.parametrize(
    ("code", "kwargs", "status", "ga_label"),
    [
        pytest.param(
            concept(coding("http://hl7.org/fhir/sid/icd-10-cm", "Z33.1", "Pregnant state, incidental")),
            {"onset": days_ago(20)},
            "first-trimester",
            None,
            id="z33-1-onset-recent",
        ),
        pytest.param(
            concept(coding("http://hl7.org/fhir/sid/icd-10-cm", "Z33.1", "Pregnant state, incidental")),
            {"onset": days_ago(150)},
            "later-trimester",
            "at least 21w3d",
            id="z33-1-onset-150-days",
        ),
        pytest.param(
            concept(coding("http://hl7.org/fhir/sid/icd-10-cm", "Z33.1", "Pregnant state, incidental")),
            {"recorded": days_ago(150)},
            "later-trimester",
            "at least 21w3d",
            id="z33-1-recorded-150-days",
        ),
        pytest.param(
            concept(PREGNANT_SCT),
            {"onset": days_ago(30)},
            "first-trimester",
            None,
            id="snomed-pregnant-condition",
        ),
        pytest.param(
            concept(
                coding(
                    "http://hl7.org/fhir/sid/icd-10-cm",
                    "Z34.01",
                    "Supervision of normal first pregnancy, first trimester",
                )
            ),
            {"onset": days_ago(40)},
            "first-trimester",
            "5w5d-19w4d",  # first trimester 40 days ago: 0-97 days then
            id="z34-01",
        ),
        pytest.param(
            concept(
                coding(
                    "urn:oid:2.16.840.1.113883.6.90",
                    "O09.521",
                    "Supervision of elderly multigravida, first trimester",
                )
            ),
            {"onset": days_ago(40)},
            "first-trimester",
            "5w5d-19w4d",
            id="o09-521-via-oid",
        ),
        pytest.param(
            concept(coding("http://hl7.org/fhir/sid/icd-10-cm", "Z33.1")),
            {},
            "first-trimester",
            None,
            id="z33-1-undated",
        ),
        pytest.param(
            concept(coding("http://hl7.org/fhir/sid/icd-10-cm", "Z33.1")),
            {"onset": days_ago(300)},
            "not-pregnant",
            None,
            id="z33-1-stale",
        ),
        pytest.param(
            concept(coding("http://hl7.org/fhir/sid/icd-10-cm", "Z33.1")),
            {"onset": days_ago(20), "clinical_status": "resolved", "abatement": days_ago(2)},
            "not-pregnant",
            None,
            id="z33-1-resolved",
        ),
        pytest.param(
            concept(coding("http://hl7.org/fhir/sid/icd-10-cm", "Z33.1")),
            {"onset": days_ago(20), "verification_status": "entered-in-error"},
            "not-pregnant",
            None,
            id="z33-1-entered-in-error",
        ),
        pytest.param(
            concept(coding("http://hl7.org/fhir/sid/icd-10-cm", "Z33.1")),
            {"onset": days_ago(20), "verification_status": "refuted"},
            "not-pregnant",
            None,
            id="z33-1-refuted",
        ),
        pytest.param(
            concept(coding("http://hl7.org/fhir/sid/icd-10-cm", "Z33.1")),
            {"onset": days_ago(20), "clinical_status": "inactive"},
            "not-pregnant",
            None,
            id="z33-1-inactive",
        ),
    ],
)
def test_pregnancy_condition(
    code: Json, kwargs: dict[str, Any], status: str, ga_label: str | None, knowledge: Knowledge
) -> None:
    result = _assess(knowledge, condition(code, **kwargs))
    assert (result.status, result.ga_label) == (status, ga_label)
    if status == "first-trimester":
        assert result.reason


@pytest.mark.parametrize(
    ("ended", "status"),
    [
        pytest.param(
            icd_condition("O80", "Encounter for full-term uncomplicated delivery", onset=days_ago(3)),
            "not-pregnant",
            id="delivery-after-pregnancy",
        ),
        pytest.param(
            icd_condition(
                "O03.9",
                "Complete or unspecified spontaneous abortion without complication",
                onset=days_ago(3),
                clinical_status="resolved",
                abatement=days_ago(1),
            ),
            "not-pregnant",
            id="resolved-abortion-after-pregnancy",
        ),
        pytest.param(
            icd_condition(
                "Z39.2",
                "Encounter for routine postpartum follow-up",
                recorded=days_ago(1),
                category="encounter-diagnosis",
            ),
            "not-pregnant",
            id="postpartum-visit",
        ),
        pytest.param(
            icd_condition("O80", "Encounter for full-term uncomplicated delivery", onset=days_ago(400)),
            "first-trimester",
            id="earlier-delivery-then-new-pregnancy",
        ),
        pytest.param(
            icd_condition(
                "O80",
                "Encounter for full-term uncomplicated delivery",
                onset=days_ago(3),
                verification_status="entered-in-error",
            ),
            "first-trimester",
            id="delivery-entered-in-error",
        ),
    ],
)
def test_ended_pregnancy(ended: Json, status: str, knowledge: Knowledge) -> None:
    pregnancy = icd_condition("Z33.1", "Pregnant state, incidental", onset=days_ago(60))
    assert _assess(knowledge, pregnancy, ended).status == status


def test_delivery_ends_dated_pregnancy(knowledge: Knowledge) -> None:
    result = _assess(
        knowledge,
        estimated_due_date(_edd_for_ga(250), days_ago(200)),
        pregnancy_status(PREGNANT_SCT, days_ago(200)),
        icd_condition("O80", "Encounter for full-term uncomplicated delivery", onset=days_ago(10)),
    )
    assert result.status == "not-pregnant"


def test_resolved_pregnancy_problem_ends_older_evidence(knowledge: Knowledge) -> None:
    result = _assess(
        knowledge,
        pregnancy_status(PREGNANT_SCT, days_ago(50)),
        icd_condition("Z33.1", onset=days_ago(50), clinical_status="resolved", abatement=days_ago(5)),
    )
    assert result.status == "not-pregnant"


def test_no_records_not_pregnant(knowledge: Knowledge) -> None:
    """No records: not pregnant, and the status is unknown (there is none in the window)."""
    assert _assess(knowledge) == PregnancyAssessment(
        "not-pregnant", status_gap=("no pregnancy status in the last 30 days", ())
    )


def test_evidence_lists_every_live_record(knowledge: Knowledge) -> None:
    result = _assess(
        knowledge,
        pregnancy_status(PREGNANT_SCT, days_ago(20), id="ps-9"),
        estimated_due_date(_edd_for_ga(65), days_ago(20), id="edd-9"),
        icd_condition("Z33.1", onset=days_ago(20), id="z33-9"),
        pregnancy_status(NOT_PREGNANT_SCT, days_ago(200), id="np-9"),
    )
    assert result.status == "first-trimester"
    assert {e.reference for e in result.evidence} == {
        "Observation/ps-9",
        "Observation/edd-9",
        "Condition/z33-9",
    }


# --- ga_label -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("low", "high", "label"),
    [
        pytest.param(65, 65, "9w2d", id="exact"),
        pytest.param(0, 0, "0w0d", id="zero"),
        pytest.param(98, 98, "14w0d", id="14w0d"),
        pytest.param(105, None, "at least 15w0d", id="lower-bound"),
        pytest.param(56, 62, "8w0d-8w6d", id="range"),
        pytest.param(None, None, None, id="unknown"),
    ],
)
def test_ga_label(low: int | None, high: int | None, label: str | None) -> None:
    assert PregnancyAssessment("first-trimester", low, high).ga_label == label


@pytest.mark.parametrize(
    ("days", "text"),
    [
        pytest.param(0, "0w0d", id="0"),
        pytest.param(6, "0w6d", id="6"),
        pytest.param(7, "1w0d", id="7"),
        pytest.param(65, "9w2d", id="65"),
        pytest.param(293, "41w6d", id="293"),
    ],
)
def test_format_ga(days: int, text: str) -> None:
    assert format_ga(days) == text


# --- through evaluate_orders --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resources", "code", "ga"),
    [
        pytest.param(
            [estimated_due_date(_edd_for_ga(65), days_ago(7), id="edd-1")],
            "pregnancy-first-trimester",
            "9w2d",
            id="first-trimester-9w2d",
        ),
        pytest.param(
            [estimated_due_date(_edd_for_ga(180), days_ago(7), id="edd-1")],
            "pregnancy-later-trimester",
            "25w5d",
            id="later-trimester-25w5d",
        ),
        pytest.param(
            [pregnancy_status(PREGNANT_LOINC, days_ago(10), id="ps-1")],
            "pregnancy-first-trimester",
            None,
            id="undated-status",
        ),
        pytest.param(
            [pregnancy_status(POSSIBLE_PREGNANCY_SCT, days_ago(10), id="ps-2")],
            "pregnancy-first-trimester",
            None,
            id="possible-pregnancy",
        ),
        pytest.param(
            [icd_condition("Z33.1", onset=days_ago(150), id="z33-1")],
            "pregnancy-later-trimester",
            "at least 21w3d",
            id="z33-1-150-days",
        ),
        pytest.param([pregnancy_status(UNKNOWN_LOINC, days_ago(10))], None, None, id="unknown-status-only"),
        pytest.param([pregnancy_intent(loinc("LA26438-4"), days_ago(10))], None, None, id="intent-only"),
        pytest.param(
            [pregnancy_status(PREGNANT_SCT, days_ago(40)), pregnancy_status(NOT_PREGNANT_SCT, days_ago(5))],
            None,
            None,
            id="not-pregnant-after-pregnant",
        ),
        pytest.param([estimated_due_date(days_ago(30), days_ago(200))], None, None, id="edd-long-past"),
    ],
)
def test_pregnancy_finding_in_evaluate_orders(
    resources: list[Json], code: str | None, ga: str | None, knowledge: Knowledge
) -> None:
    bundle = draft_orders(
        dry_needling_order(id="dn-1", body_sites=[body_site(sct("16982005"), text="Right shoulder")]),
        dry_needling_order("20561", id="dn-2", body_sites=[body_site(text="Left calf")]),
    )
    orders = find_dry_needling_orders(bundle, knowledge)
    findings = evaluate_orders(orders, patient_record(*resources), knowledge, TODAY)
    pregnancy = [f for f in findings if f.code in {"pregnancy-first-trimester", "pregnancy-later-trimester"}]
    if code is None:
        assert pregnancy == []
        return
    [finding] = pregnancy
    assert finding.code == code
    assert finding.kind == ("contraindication" if code == "pregnancy-first-trimester" else "precaution")
    assert finding.facts.get("ga") == ga
    assert finding.order_references == ("ServiceRequest/dn-1", "ServiceRequest/dn-2")
    assert [e.reference for e in finding.evidence][:1] == [
        f"{resources[0]['resourceType']}/{resources[0]['id']}"
    ]
    if ga is None:  # GA unknown: the finding says why the first trimester is assumed
        assert finding.facts["reason"]


# --- evidence that dates a pregnancy but does not show one; implied ends --------------------------------


def test_lmp_alone_is_no_evidence_of_pregnancy(knowledge: Knowledge) -> None:
    """LMPs are recorded at gynaecology and imaging visits of non-pregnant patients too."""
    result = _assess(knowledge, last_menstrual_period(days_ago(20), days_ago(1)))

    assert result.status == "not-pregnant"


@pytest.mark.parametrize(
    ("clinical_status", "status"),
    [
        pytest.param("active", "first-trimester", id="active-possible-pregnancy-problem"),
        pytest.param("resolved", "not-pregnant", id="resolved-possible-pregnancy-problem"),
    ],
)
def test_possible_pregnancy_condition(clinical_status: str, status: str, knowledge: Knowledge) -> None:
    result = _assess(
        knowledge,
        condition(
            concept(POSSIBLE_PREGNANCY_SCT),
            clinical_status=clinical_status,
            onset=days_ago(4),
            abatement=days_ago(1) if clinical_status == "resolved" else None,
        ),
    )

    assert result.status == status
    if status == "first-trimester":
        assert result.reason == "possible, not confirmed"


def test_dating_past_term_ends_the_pregnancy_it_dates(knowledge: Knowledge) -> None:
    """A due date 30 days past means that pregnancy is over; its 'pregnant' status no longer counts."""
    result = _assess(
        knowledge,
        pregnancy_status(PREGNANT_SCT, days_ago(250)),
        estimated_due_date(days_ago(30), days_ago(250)),
    )

    assert result.status == "not-pregnant"


def test_new_pregnancy_after_a_past_term_one_counts(knowledge: Knowledge) -> None:
    result = _assess(
        knowledge,
        pregnancy_status(PREGNANT_SCT, days_ago(250)),
        estimated_due_date(days_ago(30), days_ago(250)),
        pregnancy_status(PREGNANT_LOINC, days_ago(3)),
    )

    assert (result.status, result.reason) == ("first-trimester", "undated, recorded 3 days ago")


@pytest.mark.parametrize(
    ("code", "display", "coded_days_ago", "status", "ga_label"),
    [
        ("O26.851", "Spotting complicating pregnancy, first trimester", 10, "first-trimester", "1w3d-15w2d"),
        (
            "O26.851",
            "Spotting complicating pregnancy, first trimester",
            120,
            "later-trimester",
            "17w1d-31w0d",
        ),
        (
            "O26.852",
            "Spotting complicating pregnancy, second trimester",
            10,
            "later-trimester",
            "15w3d-29w2d",
        ),
        (
            "O36.5930",
            "Maternal care for poor fetal growth, third trimester",
            3,
            "later-trimester",
            "28w3d-42w3d",
        ),
        ("O88.011", "Air embolism in pregnancy, first trimester", 5, "first-trimester", "0w5d-14w4d"),
        ("O26.859", "Spotting complicating pregnancy, unspecified trimester", 10, "first-trimester", None),
    ],
)
def test_trimester_coded_conditions_date_the_pregnancy(
    code: str, display: str, coded_days_ago: int, status: str, ga_label: str | None, knowledge: Knowledge
) -> None:
    """ICD-10-CM chapter 15: a code titled with a trimester places GA in that trimester on the day coded."""
    result = _assess(knowledge, condition(concept(icd(code, display)), recorded=days_ago(coded_days_ago)))
    assert (result.status, result.ga_label) == (status, ga_label)


@pytest.mark.parametrize(
    ("code", "display"),
    [
        ("O10.02", "Pre-existing essential hypertension complicating childbirth"),
        ("O99.43", "Diseases of the circulatory system complicating the puerperium"),
        ("O60.14X0", "Preterm labor third trimester with preterm delivery third trimester"),
        ("Z37.0", "Single live birth"),
        ("O80", "Encounter for full-term uncomplicated delivery"),
    ],
)
def test_childbirth_and_puerperium_codes_end_the_pregnancy(
    code: str, display: str, knowledge: Knowledge
) -> None:
    pregnant = pregnancy_status(PREGNANT_SCT, days_ago(60))
    ended = condition(concept(icd(code, display)), onset=days_ago(5), category="encounter-diagnosis")
    assert _assess(knowledge, pregnant).status == "first-trimester"
    assert _assess(knowledge, pregnant, ended).status == "not-pregnant"


def test_sequelae_of_a_past_pregnancy_do_not_end_a_current_one(knowledge: Knowledge) -> None:
    """O94 is coded long after a pregnancy; its date says nothing about when that pregnancy ended."""
    pregnant = pregnancy_status(PREGNANT_SCT, days_ago(20))
    sequela = condition(concept(icd("O94", "Sequelae of complication of pregnancy")), onset=days_ago(1))
    assert _assess(knowledge, pregnant, sequela).status == "first-trimester"
