"""Inputs a review found could hide a contraindication or crash the evaluation; each must now be safe.

Every row is a realistic way an EHR sends the data: history typed into the problem list today,
pregnancy onsets set to the LMP, partial dates, local status codings, free-text sites naming two places,
absurd numbers.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from support.builders import (
    CONDITION_CLINICAL,
    NOT_PREGNANT_SCT,
    PREGNANT_SCT,
    Json,
    body_site,
    coding,
    concept,
    condition,
    days_ago,
    days_ahead,
    draft_orders,
    dry_needling_order,
    icd,
    icd_condition,
    last_menstrual_period,
    loinc,
    no_data_prefetch,
    observation,
    patient_record,
    pregnancy_status,
    sct,
)
from support.clock import TODAY

from fhir_mappings import Knowledge, evaluate_orders, find_dry_needling_orders
from fhir_mappings.bleeding import find_bleeding_disorders
from fhir_mappings.indications import find_indications
from fhir_mappings.pregnancy import assess_pregnancy


def _status(knowledge: Knowledge, *resources: Json) -> tuple[str, str | None]:
    result = assess_pregnancy(patient_record(*resources), knowledge, TODAY)
    return result.status, result.ga_label


def _with(resource: Json, **fields: Any) -> Json:
    return {**resource, **fields}


def _without(resource: Json, *names: str) -> Json:
    return {key: value for key, value in resource.items() if key not in names}


def _month_before(months: int) -> tuple[str, date]:
    """A partial date ``YYYY-MM`` ``months`` calendar months before TODAY, and its last day."""
    year, month = divmod(TODAY.year * 12 + TODAY.month - 1 - months, 12)
    first_of_next = date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1)
    return f"{year:04d}-{month + 1:02d}", first_of_next - timedelta(days=1)


PARTIAL_MONTH, PARTIAL_MONTH_LAST_DAY = _month_before(3)


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        pytest.param(
            [
                pregnancy_status(PREGNANT_SCT, days_ago(10)),
                icd_condition("O80", "Full-term delivery (history)", recorded=TODAY),
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
            [_without(pregnancy_status(PREGNANT_SCT, TODAY), "effectiveDateTime")],
            "first-trimester",
            id="undated-pregnant-status-counts",
        ),
        pytest.param(
            [_with(icd_condition("Z33.1", "Pregnant state"), onsetDateTime=PARTIAL_MONTH)],
            "first-trimester",
            id="partial-onset-read-at-its-latest-day",
        ),
        pytest.param(
            [_with(pregnancy_status(PREGNANT_SCT, TODAY), effectiveDateTime=PARTIAL_MONTH)],
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
    lmp = _with(last_menstrual_period(days_ago(100), days_ago(1)), valueDateTime=PARTIAL_MONTH)
    weeks, days = divmod((TODAY - PARTIAL_MONTH_LAST_DAY).days, 7)  # from the month's last day: the lower age

    assert _status(knowledge, pregnancy_status(PREGNANT_SCT, days_ago(1)), lmp) == (
        "first-trimester",
        f"{weeks}w{days}d",
    )


def test_weeks_of_gestation_dated_from_the_encounter_not_the_onset(knowledge: Knowledge) -> None:
    z3a = icd_condition(
        "Z3A.08",
        "8 weeks gestation of pregnancy",
        onset=days_ago(60),
        recorded=TODAY,
        category="encounter-diagnosis",
    )

    assert _status(knowledge, z3a) == ("first-trimester", "8w0d-8w6d")


@pytest.mark.parametrize(
    "value",
    [
        pytest.param({"value": 1e308, "unit": "wk", "code": "wk"}, id="1e308-weeks"),
        pytest.param({"value": float("inf"), "code": "wk"}, id="infinite"),
        pytest.param({"value": float("nan"), "code": "d"}, id="nan"),
        pytest.param({"value": 10**12, "code": "d"}, id="trillion-days"),
    ],
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

    assert bool(find_bleeding_disorders(patient_record(hemophilia), knowledge, TODAY)) is fires


def test_partial_abatement_date_counts_from_its_last_day(knowledge: Knowledge) -> None:
    hemophilia = _with(
        icd_condition("D66", "Hereditary factor VIII deficiency"), abatementDateTime=str(days_ahead(1).year)
    )

    assert find_bleeding_disorders(patient_record(hemophilia), knowledge, TODAY)


def test_free_text_site_naming_two_places_reads_both(knowledge: Knowledge) -> None:
    order = dry_needling_order(id="dn-1", body_sites=[body_site(text="left wrist and neck")])
    cellulitis = icd_condition("L03.221", "Cellulitis of neck", onset=days_ago(3))
    orders = find_dry_needling_orders(draft_orders(order), knowledge)

    findings = evaluate_orders(orders, patient_record(cellulitis), knowledge, TODAY)

    assert "local-infection" in {f.code for f in findings}


def test_very_long_site_text_is_capped(knowledge: Knowledge) -> None:
    order = dry_needling_order(id="dn-1", body_sites=[body_site(text="neck " * 200_000)])

    (found,) = find_dry_needling_orders(draft_orders(order), knowledge)

    assert len(found.body_sites[0].label) <= 256
    assert found.body_sites[0].regions == {"NECK"}


def test_reason_reference_to_a_condition_not_sent_is_reported(knowledge: Knowledge) -> None:
    order = dry_needling_order(id="dn-1", reason_references=["Condition/not-in-prefetch"])
    (found,) = find_dry_needling_orders(draft_orders(order), knowledge)

    result = find_indications(found, patient_record(), knowledge, TODAY)

    assert result.matches == ()
    assert result.unrecognised == ("order reason Condition/not-in-prefetch (not in the patient data sent)",)


def test_icd_coded_reason_still_matches(knowledge: Knowledge) -> None:
    order = dry_needling_order(id="dn-1", reason_codes=[concept(icd("M54.50", "Low back pain, unspecified"))])
    (found,) = find_dry_needling_orders(draft_orders(order), knowledge)

    assert [m.key for m in find_indications(found, patient_record(), knowledge, TODAY).matches] == [
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
        "prefetch": no_data_prefetch(
            conditions={"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": hemophilia}]}
        ),
    }

    cards = cds.call("dry-needling-order-sign", body).get_json()["cards"]

    bleeding = next(c for c in cards if c["source"]["topic"]["code"] == "bleeding-disorder")
    assert bleeding["indicator"] == "critical"
    assert "suggestions" not in bleeding
    assert bleeding["overrideReasons"]


# --- second review -----------------------------------------------------------------------------------------


def _resolved_old_pregnancy() -> Json:
    return icd_condition(
        "Z34.80",
        "Encounter for supervision of other normal pregnancy, unspecified trimester",
        onset=days_ago(725),
        clinical_status="resolved",
        abatement=days_ago(6),  # the day someone tidied the problem list
    )


@pytest.mark.parametrize(
    "current",
    [
        pytest.param(pregnancy_status(PREGNANT_SCT, days_ago(16)), id="status"),
        pytest.param(
            icd_condition("Z34.01", "Normal first pregnancy, first trimester", recorded=days_ago(16)),
            id="supervision-condition",
        ),
        pytest.param(
            observation(
                concept(loinc("11778-8", "Delivery date Estimated")),
                effective=days_ago(16),
                category="exam",
                value={"valueDateTime": days_ahead(219).isoformat()},  # GA 8w5d
            ),
            id="due-date",
        ),
    ],
)
def test_tidying_an_old_pregnancy_problem_does_not_hide_the_current_one(
    current: Json, knowledge: Knowledge
) -> None:
    assert _status(knowledge, _resolved_old_pregnancy(), current)[0] == "first-trimester"


def test_older_pregnancy_status_code_11449_6_is_read(knowledge: Knowledge) -> None:
    status = observation(
        concept(loinc("11449-6", "Pregnancy status - Reported")),
        effective=days_ago(10),
        value={"valueCodeableConcept": concept(PREGNANT_SCT)},
    )

    assert _status(knowledge, status)[0] == "first-trimester"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param({"valueString": "Pregnant"}, "first-trimester", id="string-pregnant"),
        pytest.param({"valueBoolean": True}, "first-trimester", id="boolean-true"),
        pytest.param(
            {"valueCodeableConcept": {"text": "Patient is pregnant"}},
            "first-trimester",
            id="text-only-concept",
        ),
        pytest.param({"valueString": "Possibly pregnant"}, "first-trimester", id="string-possible"),
        pytest.param({"valueString": "Unknown"}, "not-pregnant", id="string-unknown-is-not-status"),
    ],
)
def test_uncoded_pregnancy_status_is_read(value: Json, expected: str, knowledge: Knowledge) -> None:
    status = observation(concept(loinc("82810-3", "Pregnancy status")), effective=days_ago(3), value=value)

    assert _status(knowledge, status)[0] == expected


def test_uncoded_not_pregnant_cancels_an_earlier_pregnant(knowledge: Knowledge) -> None:
    later = observation(
        concept(loinc("82810-3", "Pregnancy status")),
        effective=days_ago(2),
        value={"valueString": "Not pregnant"},
    )

    assert _status(knowledge, pregnancy_status(PREGNANT_SCT, days_ago(40)), later)[0] == "not-pregnant"


def test_dated_not_pregnant_cancels_an_undated_pregnancy_problem(knowledge: Knowledge) -> None:
    undated = icd_condition("Z33.1", "Pregnant state, incidental")

    assert _status(knowledge, undated, pregnancy_status(NOT_PREGNANT_SCT, days_ago(1)))[0] == "not-pregnant"


@pytest.mark.parametrize(
    "quantity",
    [
        pytest.param({"value": 9, "unit": "weeks", "code": "{weeks}"}, id="weeks-annotation"),
        pytest.param({"value": 9, "unit": "Week(s)"}, id="week-s"),
        pytest.param({"value": 9, "code": "{wk}"}, id="wk-annotation"),
        pytest.param({"value": 63, "unit": "days", "code": "{days}"}, id="days-annotation"),
    ],
)
def test_gestational_age_unit_spellings(quantity: Json, knowledge: Knowledge) -> None:
    ga = observation(
        concept(loinc("49051-6", "Gestational age in weeks")),
        effective=TODAY,
        category="exam",
        value={"valueQuantity": quantity},
    )

    assert _status(knowledge, pregnancy_status(PREGNANT_SCT, TODAY), ga) == ("first-trimester", "9w0d")


def test_gestational_age_as_text(knowledge: Knowledge) -> None:
    ga = observation(
        concept(loinc("11884-4", "Gestational age Estimated")),
        effective=TODAY,
        category="exam",
        value={"valueString": "9 weeks 2 days"},
    )

    assert _status(knowledge, pregnancy_status(PREGNANT_SCT, TODAY), ga) == ("first-trimester", "9w2d")


@pytest.mark.parametrize(
    ("fields", "fires"),
    [
        pytest.param({"clinicalStatus": "resolved"}, False, id="plain-string-resolved"),
        pytest.param({"clinicalStatus": {"text": "Resolved"}}, False, id="text-only-resolved"),
        pytest.param({"verificationStatus": "entered-in-error"}, False, id="plain-string-entered-in-error"),
        pytest.param({"verificationStatus": {"text": "Entered in error"}}, False, id="text-entered-in-error"),
        pytest.param({"abatementString": "after treatment in 2019"}, False, id="abatement-string"),
        pytest.param({"abatementBoolean": True}, False, id="abatement-boolean"),
        pytest.param({"abatementBoolean": False}, True, id="abatement-boolean-false"),
        pytest.param({"clinicalStatus": {"text": "Active"}}, True, id="text-only-active"),
    ],
)
def test_uncoded_status_and_abatement_forms(fields: Json, fires: bool, knowledge: Knowledge) -> None:
    hemophilia = _with(_without(icd_condition("D68.0", "Von Willebrand disease"), "clinicalStatus"), **fields)

    assert bool(find_bleeding_disorders(patient_record(hemophilia), knowledge, TODAY)) is fires


@pytest.mark.parametrize(
    ("system", "code"),
    [
        pytest.param("http://snomed.info/sct/731000124108", "28293008", id="snomed-us-edition"),
        pytest.param(
            "http://snomed.info/sct/731000124108/version/20250301", "28293008", id="snomed-edition-version"
        ),
        pytest.param("http://hl7.org/fhir/sid/icd-10", "D66", id="who-icd-10"),
        pytest.param("2.16.840.1.113883.6.90", "D66", id="bare-oid"),
        pytest.param("http://snomed.info/sct", "90935002", id="snomed-haemophilia"),
    ],
)
def test_code_system_variants_still_find_the_bleeding_disorder(
    system: str, code: str, knowledge: Knowledge
) -> None:
    record = patient_record(condition(concept(coding(system, code))))

    assert find_bleeding_disorders(record, knowledge, TODAY)


@pytest.mark.parametrize(
    ("recorded_days_ago", "counts"),
    [
        pytest.param(2000, False, id="five-year-old-visit-diagnosis"),
        pytest.param(10, True, id="recent-visit-diagnosis"),
    ],
)
def test_status_less_encounter_diagnosis_of_infection_expires(
    recorded_days_ago: int, counts: bool, knowledge: Knowledge
) -> None:
    cellulitis = _without(
        icd_condition(
            "L03.115",
            "Cellulitis of right lower limb",
            recorded=days_ago(recorded_days_ago),
            category="encounter-diagnosis",
        ),
        "clinicalStatus",
    )
    order = dry_needling_order(
        id="dn-1", body_sites=[body_site(sct("72696002", "Knee region structure"), sct("24028007", "Right"))]
    )
    orders = find_dry_needling_orders(draft_orders(order), knowledge)

    codes = {f.code for f in evaluate_orders(orders, patient_record(cellulitis), knowledge, TODAY)}

    assert ("local-infection" in codes) is counts


@pytest.mark.parametrize(
    ("order_side", "expected"),
    [
        pytest.param("24028007", "local-infection", id="same-side-critical"),
        pytest.param("7771000", None, id="other-side-no-card"),
    ],
)
def test_infection_site_read_from_the_diagnosis_words(
    order_side: str, expected: str | None, knowledge: Knowledge
) -> None:
    """A SNOMED-coded infection with no bodySite and no known finding site: its display names the site."""
    cellulitis = condition(
        concept(coding("http://snomed.info/sct", "128045006", "Cellulitis of right knee")), onset=days_ago(3)
    )
    order = dry_needling_order(
        id="dn-1", body_sites=[body_site(sct("72696002", "Knee region structure"), sct(order_side, "side"))]
    )
    orders = find_dry_needling_orders(draft_orders(order), knowledge)

    codes = {f.code for f in evaluate_orders(orders, patient_record(cellulitis), knowledge, TODAY)}

    assert codes & {"local-infection", "infection-near-site"} == ({expected} if expected else set())
