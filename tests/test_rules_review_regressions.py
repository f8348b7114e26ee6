"""Inputs a review found could hide a contraindication or crash the evaluation; each must now be safe.

Every row is a realistic way an EHR sends the data: history typed into the problem list today,
pregnancy onsets set to the LMP, partial dates, local status codings, free-text sites naming two places,
absurd numbers.
"""

from __future__ import annotations

from typing import Any

import pytest
from fhir_builders import (
    CONDITION_CLINICAL,
    NOT_PREGNANT_SCT,
    NOW,
    PREGNANT_SCT,
    body_site,
    coding,
    concept,
    condition,
    days_ago,
    draft_orders,
    dry_needling_order,
    icd,
    icd_condition,
    last_menstrual_period,
    loinc,
    observation,
    patient_record,
    pregnancy_status,
    sct,
)

from fhir_mappings import Knowledge, evaluate_orders, find_dry_needling_orders
from fhir_mappings.bleeding import find_bleeding_disorders
from fhir_mappings.indications import find_indications
from fhir_mappings.pregnancy import assess_pregnancy

Json = dict[str, Any]


def _status(knowledge: Knowledge, *resources: Json) -> tuple[str, str | None]:
    result = assess_pregnancy(patient_record(*resources), knowledge, NOW)
    return result.status, result.ga_label


def _with(resource: Json, **fields: Any) -> Json:
    return {**resource, **fields}


def _without(resource: Json, *names: str) -> Json:
    return {key: value for key, value in resource.items() if key not in names}


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        pytest.param(
            [
                pregnancy_status(PREGNANT_SCT, days_ago(10)),
                icd_condition("O80", "Full-term delivery (history)", recorded=NOW),
            ],
            "first-trimester",
            id="delivery-history-typed-today-does-not-end-a-current-pregnancy",
        ),
        pytest.param(
            [
                pregnancy_status(PREGNANT_SCT, days_ago(10)),
                icd_condition(
                    "O80", "Full-term delivery", recorded=days_ago(2), category="encounter-diagnosis"
                ),
            ],
            "not-pregnant",
            id="delivery-encounter-diagnosis-does-end-it",
        ),
        pytest.param(
            [
                icd_condition(
                    "Z34.01",
                    "Supervision of normal first pregnancy, first trimester",
                    onset=days_ago(60),
                    recorded=days_ago(20),
                ),
                pregnancy_status(NOT_PREGNANT_SCT, days_ago(50)),
            ],
            "first-trimester",
            id="not-pregnant-before-conception-does-not-cancel-a-pregnancy-recorded-later",
        ),
        pytest.param(
            [_without(pregnancy_status(PREGNANT_SCT, NOW), "effectiveDateTime")],
            "first-trimester",
            id="undated-pregnant-status-counts",
        ),
        pytest.param(
            [_with(icd_condition("Z33.1", "Pregnant state"), onsetDateTime="2026-08")],
            "first-trimester",
            id="partial-onset-read-at-its-latest-day",
        ),
        pytest.param(
            [_with(pregnancy_status(PREGNANT_SCT, NOW), effectiveDateTime="2026-08")],
            "first-trimester",
            id="partial-status-date-read-at-its-latest-day",
        ),
        pytest.param(
            [icd_condition("O21.0", "Mild hyperemesis gravidarum", onset=days_ago(20))],
            "first-trimester",
            id="hyperemesis-is-pregnancy-evidence",
        ),
        pytest.param(
            [condition(concept(sct("72892002", "Normal pregnancy")), onset=days_ago(30))],
            "first-trimester",
            id="snomed-normal-pregnancy",
        ),
        pytest.param(
            [pregnancy_status(PREGNANT_SCT, days_ago(200)), pregnancy_status(PREGNANT_SCT, days_ago(5))],
            "first-trimester",
            id="new-undated-pregnancy-after-an-unclosed-old-one-stays-critical",
        ),
    ],
)
def test_pregnancy_contraindication_is_not_lost(
    resources: list[Json], expected: str, knowledge: Knowledge
) -> None:
    assert _status(knowledge, *resources)[0] == expected


def test_partial_lmp_gives_the_lower_gestational_age(knowledge: Knowledge) -> None:
    lmp = _with(last_menstrual_period(days_ago(100), days_ago(1)), valueDateTime="2026-08")

    assert _status(knowledge, pregnancy_status(PREGNANT_SCT, days_ago(1)), lmp) == (
        "first-trimester",
        "12w3d",
    )


def test_weeks_of_gestation_dated_from_the_encounter_not_the_onset(knowledge: Knowledge) -> None:
    z3a = icd_condition(
        "Z3A.08",
        "8 weeks gestation of pregnancy",
        onset=days_ago(60),
        recorded=NOW,
        category="encounter-diagnosis",
    )

    assert _status(knowledge, z3a) == ("first-trimester", "8w0d-8w6d")


@pytest.mark.parametrize(
    "value",
    [
        {"value": 1e308, "unit": "wk", "code": "wk"},
        {"value": float("inf"), "code": "wk"},
        {"value": float("nan"), "code": "d"},
        {"value": 10**12, "code": "d"},
    ],
    ids=["1e308-weeks", "infinite", "nan", "trillion-days"],
)
def test_absurd_gestational_age_values_are_ignored_not_fatal(value: Json, knowledge: Knowledge) -> None:
    ga = observation(
        concept(loinc("11884-4", "Gestational age Estimated")),
        effective=days_ago(1),
        category="exam",
        value={"valueQuantity": value},
    )

    assert _status(knowledge, pregnancy_status(PREGNANT_SCT, days_ago(1)), ga) == ("first-trimester", None)


@pytest.mark.parametrize("due", ["0001-01-01", "9999-12-31", "2026-02-30", "99999"])
def test_absurd_due_dates_are_ignored_not_fatal(due: str, knowledge: Knowledge) -> None:
    edd = observation(
        concept(loinc("11778-8", "Delivery date Estimated")), category="exam", value={"valueDateTime": due}
    )

    assert _status(knowledge, edd) == ("not-pregnant", None)


@pytest.mark.parametrize(
    ("clinical_status", "fires"),
    [
        pytest.param(
            concept(coding("urn:local:status", "A"), coding(CONDITION_CLINICAL, "active")),
            True,
            id="local-coding-first-then-hl7-active",
        ),
        pytest.param(
            concept(coding("urn:local:status", "A"), coding(CONDITION_CLINICAL, "resolved")),
            False,
            id="local-coding-first-then-hl7-resolved",
        ),
        pytest.param(
            concept(coding("urn:local:status", "ACTIVE-ISH")), True, id="unreadable-status-is-read-as-active"
        ),
    ],
)
def test_status_codings_from_the_hl7_system_win(
    clinical_status: Json, fires: bool, knowledge: Knowledge
) -> None:
    hemophilia = _with(
        icd_condition("D66", "Hereditary factor VIII deficiency"), clinicalStatus=clinical_status
    )

    assert bool(find_bleeding_disorders(patient_record(hemophilia), knowledge, NOW)) is fires


def test_partial_abatement_date_counts_from_its_last_day(knowledge: Knowledge) -> None:
    hemophilia = _with(icd_condition("D66", "Hereditary factor VIII deficiency"), abatementDateTime="2026")

    assert find_bleeding_disorders(patient_record(hemophilia), knowledge, NOW)


def test_free_text_site_naming_two_places_reads_both(knowledge: Knowledge) -> None:
    order = dry_needling_order(id="dn-1", body_sites=[body_site(text="left wrist and neck")])
    cellulitis = icd_condition("L03.221", "Cellulitis of neck", onset=days_ago(3))
    orders = find_dry_needling_orders(draft_orders(order), knowledge)

    findings = evaluate_orders(orders, patient_record(cellulitis), knowledge, NOW)

    assert "local-infection" in {f.code for f in findings}


def test_very_long_site_text_is_capped(knowledge: Knowledge) -> None:
    order = dry_needling_order(id="dn-1", body_sites=[body_site(text="neck " * 200_000)])

    (found,) = find_dry_needling_orders(draft_orders(order), knowledge)

    assert len(found.body_sites[0].label) <= 256
    assert found.body_sites[0].regions == {"NECK"}


def test_reason_reference_to_a_condition_not_sent_is_reported(knowledge: Knowledge) -> None:
    order = dry_needling_order(id="dn-1", reason_references=["Condition/not-in-prefetch"])
    (found,) = find_dry_needling_orders(draft_orders(order), knowledge)

    result = find_indications(found, patient_record(), knowledge, NOW)

    assert result.matches == ()
    assert result.unrecognised == ("order reason Condition/not-in-prefetch (not in the patient data sent)",)


def test_icd_coded_reason_still_matches(knowledge: Knowledge) -> None:
    order = dry_needling_order(id="dn-1", reason_codes=[concept(icd("M54.50", "Low back pain, unspecified"))])
    (found,) = find_dry_needling_orders(draft_orders(order), knowledge)

    assert [m.key for m in find_indications(found, patient_record(), knowledge, NOW).matches] == [
        "low-back-pain"
    ]


def test_order_without_id_still_gets_its_critical_card_over_http(cds: Any) -> None:
    """order-sign with an id-less dry-needling order for a patient with hemophilia: the critical card must
    come back (without a delete suggestion, which needs an id)."""
    order = _without(dry_needling_order(), "id")
    hemophilia = icd_condition("D66", "Hereditary factor VIII deficiency", patient_id="pat-8841")
    body = {
        "hook": "order-sign",
        "hookInstance": "2a1d0f3e-52c4-4d53-9d8e-7b0c6f1e9a11",
        "context": {
            "userId": "Practitioner/pt-201",
            "patientId": "pat-8841",
            "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": order}]},
        },
        "prefetch": {
            "conditions": {
                "resourceType": "Bundle",
                "type": "searchset",
                "entry": [{"resource": hemophilia}],
            },
            "pregnancyObservations": None,
        },
    }

    cards = cds.call("dry-needling-order-sign", body).get_json()["cards"]

    bleeding = next(c for c in cards if c["source"]["topic"]["code"] == "bleeding-disorder")
    assert bleeding["indicator"] == "critical"
    assert "suggestions" not in bleeding
    assert bleeding["overrideReasons"]
