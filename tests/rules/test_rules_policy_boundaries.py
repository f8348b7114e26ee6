"""Every clinical threshold and window of ``policy.json``, pinned on both sides of its exact boundary.

Each probe is read from the shipped policy file (``SHIPPED``, read here with ``json``, not through the
knowledge loader) and the rule is asked at value - 1 step, the value and value + 1 step, in the unit the rule
uses: days, years, x10^9/L, 0.1 INR, IU/L. A site that changes a setting moves these probes with it; a rule
that moves its boundary by one step (a ``<`` that became ``<=``, a window read one day long, an off-by-one in
GA arithmetic) fails here. ``scripts/mutate.py`` checks that claim: it moves every setting the rules load by
one step in both directions and flips every comparison of the rule modules, and every such mutant must fail
a test.

Every probe passes an explicit ``today`` to the rules (``TODAY``, or a date chosen so that a partial date's
last day lands on the boundary), never the real clock.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from support.builders import (
    NOT_PREGNANT_SCT,
    PATIENT_ID,
    PREGNANT_SCT,
    UNKNOWN_LOINC,
    Json,
    coding,
    concept,
    condition,
    estimated_due_date,
    gestational_age,
    gestational_age_components,
    icd,
    icd_condition,
    lab_result,
    last_menstrual_period,
    medication,
    observation,
    patient_record,
    pregnancy_status,
    rxnorm,
)
from support.clock import TODAY
from support.paths import ROOT

from fhir_mappings import Knowledge, PatientRecord, evaluate_patient
from fhir_mappings.infection import find_active_infections
from fhir_mappings.precautions import minor_patient
from fhir_mappings.pregnancy import PregnancyAssessment, assess_pregnancy
from fhir_mappings.reproductive import reproductive_potential

POLICY_FILE = ROOT / "fhir_mappings" / "data" / "policy.json"
SHIPPED: dict[str, Any] = {
    name: entry["value"]
    for name, entry in json.loads(POLICY_FILE.read_text(encoding="utf-8"))["settings"].items()
}

FIRST_END = SHIPPED["first_trimester_end_days"]  # first trimester: GA < this many days
SECOND_END = SHIPPED["second_trimester_end_days"]
FULL_TERM = SHIPPED["full_term_days"]
MAX_GA = SHIPPED["pregnancy_max_days"]
EVIDENCE_AGE = SHIPPED["pregnancy_evidence_max_age_days"]
STATUS_AGE = SHIPPED["pregnancy_status_max_age_days"]
GA_OBSERVED_MAX = SHIPPED["gestational_age_max_observed_days"]
LAB_AGE = SHIPPED["lab_max_age_days"]
INFECTION_AGE = SHIPPED["infection_encounter_diagnosis_max_age_days"]
PLATELETS_CONTRA = SHIPPED["platelet_contraindication_below"]
PLATELETS_PRECAUTION = SHIPPED["platelet_precaution_below"]
INR_CONTRA = SHIPPED["inr_contraindication_at_or_above"]
INR_PRECAUTION = SHIPPED["inr_precaution_above"]
HCG_NEGATIVE = SHIPPED["hcg_negative_below_iu_per_l"]
HCG_POSITIVE = SHIPPED["hcg_positive_from_iu_per_l"]
AGE_MIN = SHIPPED["reproductive_age_min_years"]
AGE_MAX = SHIPPED["reproductive_age_max_years"]
INR_STEP = 0.1

PREGNANCY_PROBLEM = "Z33.1"  # Pregnant state, incidental: a pregnancy with no dating of its own


def before(days: int, today: date = TODAY) -> date:
    return today - timedelta(days=days)


def _record(*resources: Json, patient: Json | None = None) -> PatientRecord:
    by_type = {
        kind: tuple(r for r in resources if r["resourceType"] == kind)
        for kind in ("Condition", "Observation")
    }
    return PatientRecord(
        PATIENT_ID, conditions=by_type["Condition"], observations=by_type["Observation"], patient=patient
    )


def _assess(knowledge: Knowledge, *resources: Json, today: date = TODAY) -> PregnancyAssessment:
    return assess_pregnancy(_record(*resources), knowledge, today)


def _pregnant_problem(recorded: date) -> Json:
    return icd_condition(PREGNANCY_PROBLEM, "Pregnant state, incidental", recorded=recorded)


# The reviewed values, each with its source in policy.json. Moving one is a clinical decision: it fails here
# until this table is updated with it (the probes below then follow the file).
REVIEWED = {
    "first_trimester_end_days": 98,
    "second_trimester_end_days": 196,
    "full_term_days": 280,
    "pregnancy_max_days": 294,
    "pregnancy_evidence_max_age_days": 294,
    "pregnancy_status_max_age_days": 30,
    "gestational_age_max_observed_days": 350,
    "lab_max_age_days": 30,
    "infection_encounter_diagnosis_max_age_days": 30,
    "infection_acute_max_age_days": 90,
    "inr_max_age_days_on_vka": 7,
    "minor_age_below_years": 18,
    "platelet_contraindication_below": 20,
    "platelet_precaution_below": 50,
    "inr_contraindication_at_or_above": 4.0,
    "inr_precaution_above": 3.0,
    "hcg_negative_below_iu_per_l": 5,
    "hcg_positive_from_iu_per_l": 25,
    "reproductive_age_min_years": 12,
    "reproductive_age_max_years": 55,
}


def test_every_numeric_setting_is_a_reviewed_value() -> None:
    numeric = {k: v for k, v in SHIPPED.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    assert numeric == REVIEWED


def test_the_probes_read_the_shipped_settings() -> None:
    """The probes below are the shipped values (a sanity check of the file reading, not a pin of values)."""
    assert FIRST_END < SECOND_END < FULL_TERM <= MAX_GA < GA_OBSERVED_MAX
    assert PLATELETS_CONTRA < PLATELETS_PRECAUTION and INR_PRECAUTION < INR_CONTRA
    assert HCG_NEGATIVE < HCG_POSITIVE and AGE_MIN < AGE_MAX
    assert isinstance(INR_CONTRA, float) and isinstance(INR_PRECAUTION, float)


# --- first trimester: GA < first_trimester_end_days, from every dating form ---------------------------------


def _status_at(ga_days: int) -> str:
    return "first-trimester" if ga_days < FIRST_END else "later-trimester"


@pytest.mark.parametrize("ga", [FIRST_END - 1, FIRST_END, FIRST_END + 1])
def test_edd_dates_the_trimester_at_the_exact_day(ga: int, knowledge: Knowledge) -> None:
    due = TODAY + timedelta(days=FULL_TERM - ga)  # Naegele: GA = full term - days to the EDD
    result = _assess(knowledge, estimated_due_date(due, before(2)))
    assert (result.status, result.ga_days_low, result.ga_days_high) == (_status_at(ga), ga, ga)


@pytest.mark.parametrize("ga", [FIRST_END - 1, FIRST_END, FIRST_END + 1])
def test_gestational_age_in_days_dates_the_trimester_at_the_exact_day(ga: int, knowledge: Knowledge) -> None:
    measured_days_ago = 5  # the GA then, carried forward to today
    observed = gestational_age(ga - measured_days_ago, "d", before(measured_days_ago))
    result = _assess(knowledge, observed)
    assert (result.status, result.ga_days_low) == (_status_at(ga), ga)


@pytest.mark.parametrize(
    ("value", "status"),
    [
        pytest.param(0, "first-trimester", id="ga-0-days"),
        pytest.param(-0.5, "not-pregnant", id="negative-is-an-error-even-if-it-rounds-to-0"),
    ],
)
def test_a_gestational_age_of_0_days_is_used_and_a_negative_one_is_not(
    value: float, status: str, knowledge: Knowledge
) -> None:
    result = _assess(knowledge, gestational_age(value, "d", TODAY))
    assert (result.status, result.ga_days_low) == (status, 0 if status != "not-pregnant" else None)


@pytest.mark.parametrize("ga", [FIRST_END - 1, FIRST_END, FIRST_END + 1])
def test_gestational_age_in_weeks_and_days_dates_the_trimester_at_the_exact_day(
    ga: int, knowledge: Knowledge
) -> None:
    result = _assess(knowledge, gestational_age_components(ga // 7, ga % 7, TODAY))
    assert (result.status, result.ga_days_low) == (_status_at(ga), ga)


@pytest.mark.parametrize("ga", [FIRST_END - 1, FIRST_END, FIRST_END + 1])
def test_lmp_dates_a_recorded_pregnancy_at_the_exact_day(ga: int, knowledge: Knowledge) -> None:
    result = _assess(knowledge, _pregnant_problem(before(1)), last_menstrual_period(before(ga), before(1)))
    assert (result.status, result.ga_days_low) == (_status_at(ga), ga)


@pytest.mark.parametrize(
    ("weeks", "coded_days_ago", "status", "reason"),
    [
        # Z3A.NN = NN weeks 0-6 days at the encounter it was coded at: GA (7 NN + d) .. (7 NN + 6 + d) today.
        pytest.param(13, 0, "first-trimester", None, id="whole-range-below"),
        pytest.param(
            13, 1, "first-trimester", "the dating does not exclude the first trimester", id="range-reaches-it"
        ),
        # The audit's mutant: GA 13w6d-14w5d does not exclude the first trimester: still a contraindication.
        pytest.param(
            13,
            6,
            "first-trimester",
            "the dating does not exclude the first trimester",
            id="low-one-day-short",
        ),
        pytest.param(13, 7, "later-trimester", None, id="low-on-the-boundary"),
        pytest.param(14, 0, "later-trimester", None, id="next-week-on-the-boundary"),
    ],
)
def test_z3a_weeks_date_the_trimester_at_the_exact_day(
    weeks: int, coded_days_ago: int, status: str, reason: str | None, knowledge: Knowledge
) -> None:
    assert FIRST_END % 7 == 0 and FIRST_END // 7 == 14, "the Z3A probes below assume 14w0d"
    code = icd_condition(
        f"Z3A.{weeks}", f"{weeks} weeks gestation of pregnancy", recorded=before(coded_days_ago)
    )
    result = _assess(knowledge, code)
    assert (result.status, result.reason) == (status, reason)
    assert (result.ga_days_low, result.ga_days_high) == (
        7 * weeks + coded_days_ago,
        7 * weeks + 6 + coded_days_ago,
    )


@pytest.mark.parametrize(
    ("code", "display", "low", "high"),
    [
        ("O09.891", "Supervision of other high risk pregnancies, first trimester", 0, FIRST_END - 1),
        (
            "O09.892",
            "Supervision of other high risk pregnancies, second trimester",
            FIRST_END,
            SECOND_END - 1,
        ),
        ("O09.893", "Supervision of other high risk pregnancies, third trimester", SECOND_END, MAX_GA),
    ],
)
def test_trimester_codes_give_the_ga_range_of_their_trimester(
    code: str, display: str, low: int, high: int, knowledge: Knowledge
) -> None:
    result = _assess(knowledge, icd_condition(code, display, recorded=TODAY))
    assert (result.ga_days_low, result.ga_days_high) == (low, high)
    assert result.status == ("first-trimester" if high < FIRST_END else "later-trimester")
    assert result.reason is None


@pytest.mark.parametrize("ga", [FIRST_END - 1, FIRST_END, FIRST_END + 1])
def test_a_partial_edd_is_read_at_its_last_day(ga: int, knowledge: Knowledge) -> None:
    """EDD "2027-05" is read as 2027-05-31, the day that gives the lowest GA."""
    today = date(2027, 5, 31) - timedelta(days=FULL_TERM - ga)
    due = estimated_due_date(date(2027, 5, 1), before(2, today))
    due["valueDateTime"] = "2027-05"
    result = _assess(knowledge, due, today=today)
    assert (result.status, result.ga_days_low) == (_status_at(ga), ga)


@pytest.mark.parametrize("ga", [FIRST_END - 1, FIRST_END, FIRST_END + 1])
def test_a_partial_lmp_is_read_at_its_last_day(ga: int, knowledge: Knowledge) -> None:
    """LMP "2026-08" is read as 2026-08-31, the day that gives the lowest GA."""
    today = date(2026, 8, 31) + timedelta(days=ga)
    lmp = last_menstrual_period(date(2026, 8, 1), before(1, today))
    lmp["valueDateTime"] = "2026-08"
    result = _assess(knowledge, _pregnant_problem(before(1, today)), lmp, today=today)
    assert (result.status, result.ga_days_low) == (_status_at(ga), ga)


@pytest.mark.parametrize("age", [FIRST_END - 1, FIRST_END, FIRST_END + 1])
def test_undated_pregnancy_excludes_the_first_trimester_only_when_recorded_long_enough_ago(
    age: int, knowledge: Knowledge
) -> None:
    result = _assess(knowledge, _pregnant_problem(before(age)))
    assert result.status == _status_at(age)
    assert result.ga_days_low == (None if age < FIRST_END else age)


@pytest.mark.parametrize("age", [FIRST_END - 1, FIRST_END, FIRST_END + 1])
def test_an_undated_pregnancy_with_a_partial_record_date_is_read_at_its_last_day(
    age: int, knowledge: Knowledge
) -> None:
    today = date(2026, 8, 31) + timedelta(days=age)
    problem = _pregnant_problem(date(2026, 8, 1))
    problem["recordedDate"] = "2026-08"
    assert _assess(knowledge, problem, today=today).status == _status_at(age)


# --- the longest pregnancy and stale evidence ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("ga", "status"),
    [
        pytest.param(-1, "not-pregnant", id="due-date-beyond-full-term"),
        pytest.param(0, "first-trimester", id="ga-0"),
        pytest.param(MAX_GA - 1, "later-trimester", id="longest-minus-1"),
        pytest.param(MAX_GA, "later-trimester", id="longest"),
        pytest.param(MAX_GA + 1, "not-pregnant", id="longest-plus-1"),
    ],
)
def test_dating_counts_from_ga_0_to_the_longest_pregnancy(ga: int, status: str, knowledge: Knowledge) -> None:
    due = TODAY + timedelta(days=FULL_TERM - ga)
    assert _assess(knowledge, estimated_due_date(due, TODAY)).status == status


@pytest.mark.parametrize(
    ("past_longest", "recorded_days_ago", "status"),
    [
        # An EDD dates a pregnancy to MAX_GA + n days today: it ended n days ago. A pregnancy recorded before
        # that day is the ended one; one recorded on that day or later is a new one.
        pytest.param(5, 6, "not-pregnant", id="recorded-before-the-end"),
        pytest.param(5, 5, "first-trimester", id="recorded-on-the-end"),
        pytest.param(5, 4, "first-trimester", id="recorded-after-the-end"),
        pytest.param(1, 2, "not-pregnant", id="one-day-past-recorded-before-the-end"),
        pytest.param(1, 1, "first-trimester", id="one-day-past-recorded-on-the-end"),
        pytest.param(0, 2, "later-trimester", id="at-the-longest-nothing-ended"),
    ],
)
def test_dating_past_the_longest_pregnancy_ends_it_on_the_day_it_reached_that_length(
    past_longest: int, recorded_days_ago: int, status: str, knowledge: Knowledge
) -> None:
    due = TODAY + timedelta(days=FULL_TERM - (MAX_GA + past_longest))
    edd = estimated_due_date(due, before(200))
    assert _assess(knowledge, edd, _pregnant_problem(before(recorded_days_ago))).status == status


@pytest.mark.parametrize("age", [EVIDENCE_AGE - 1, EVIDENCE_AGE, EVIDENCE_AGE + 1])
def test_pregnancy_evidence_older_than_the_window_is_stale(age: int, knowledge: Knowledge) -> None:
    result = _assess(knowledge, pregnancy_status(PREGNANT_SCT, before(age)))
    assert result.status == ("later-trimester" if age <= EVIDENCE_AGE else "not-pregnant")


@pytest.mark.parametrize("delay", [MAX_GA - 1, MAX_GA, MAX_GA + 1])
def test_a_resolved_pregnancy_problem_ended_at_the_latest_the_longest_pregnancy_after_its_onset(
    delay: int, knowledge: Knowledge
) -> None:
    """Problem-list clean-up resolves an old pregnancy on a late day: the pregnancy ended by onset + MAX_GA,
    so a "pregnant" status recorded on that day (or later) belongs to a new pregnancy."""
    onset = before(400)
    resolved = icd_condition(
        "O09.90",
        "Supervision of high risk pregnancy, unspecified, unspecified trimester",
        clinical_status="resolved",
        onset=onset,
        abatement=before(10),
    )
    status = pregnancy_status(PREGNANT_SCT, onset + timedelta(days=delay))
    result = _assess(knowledge, resolved, status)
    assert result.status == ("not-pregnant" if delay < MAX_GA else "later-trimester")


@pytest.mark.parametrize("observed", [GA_OBSERVED_MAX - 1, GA_OBSERVED_MAX, GA_OBSERVED_MAX + 1])
def test_a_gestational_age_above_the_plausible_maximum_is_not_used(
    observed: int, knowledge: Knowledge
) -> None:
    """A GA of up to GA_OBSERVED_MAX days dates a pregnancy that has ended (it is past the longest one),
    which cancels an older pregnancy problem; a larger value is a data error and is ignored, so the problem
    counts."""
    problem = _pregnant_problem(before(FIRST_END + 2))
    result = _assess(knowledge, problem, gestational_age(observed, "d", TODAY))
    assert result.status == ("not-pregnant" if observed <= GA_OBSERVED_MAX else "later-trimester")


# --- pregnancy status: the "not pregnant" window and hCG cut-offs -------------------------------------------


@pytest.mark.parametrize(
    ("days_ago", "known"),
    [
        pytest.param(-1, False, id="dated-tomorrow"),
        pytest.param(0, True, id="today"),
        pytest.param(STATUS_AGE - 1, True, id="window-minus-1"),
        pytest.param(STATUS_AGE, True, id="window"),
        pytest.param(STATUS_AGE + 1, False, id="window-plus-1"),
    ],
)
def test_a_not_pregnant_status_is_good_for_the_window(
    days_ago: int, known: bool, knowledge: Knowledge
) -> None:
    result = _assess(knowledge, pregnancy_status(NOT_PREGNANT_SCT, before(days_ago)))
    assert result.status == "not-pregnant"
    assert (result.status_gap is None) is known


@pytest.mark.parametrize("days_ago", [STATUS_AGE - 1, STATUS_AGE, STATUS_AGE + 1])
def test_an_ended_pregnancy_makes_the_status_known_for_the_window(
    days_ago: int, knowledge: Knowledge
) -> None:
    delivered = icd_condition("Z39.2", "Encounter for routine postpartum follow-up", onset=before(days_ago))
    result = _assess(knowledge, delivered)
    assert result.status == "not-pregnant"
    assert (result.status_gap is None) is (days_ago <= STATUS_AGE)


def _partial(resource: Json, month: str) -> Json:
    resource["effectiveDateTime"] = month
    return resource


@pytest.mark.parametrize(
    "negation",
    [
        pytest.param(lambda: pregnancy_status(NOT_PREGNANT_SCT, TODAY), id="status"),
        pytest.param(lambda: _hcg(HCG_NEGATIVE - 1), id="hcg-test"),
    ],
)
def test_a_negation_with_a_partial_date_counts_from_its_first_day(
    negation: Any, knowledge: Knowledge
) -> None:
    """ "Not pregnant" dated "2026-10" may be from 1 October: it cannot cancel a pregnancy recorded on 15
    October; a "pregnant" record dated "2026-10" is read at 31 October, so that one cancels it."""
    today = date(2026, 11, 20)
    recorded_mid_month = _pregnant_problem(date(2026, 10, 15))
    not_pregnant = _partial(negation(), "2026-10")
    assert _assess(knowledge, recorded_mid_month, not_pregnant, today=today).status == "first-trimester"
    # read at its last day, 31 October: after the negation of the 20th, so the pregnancy counts
    pregnant_after = _partial(pregnancy_status(PREGNANT_SCT, TODAY), "2026-10")
    negation_before = negation()
    negation_before["effectiveDateTime"] = "2026-10-30"
    assert _assess(knowledge, pregnant_after, negation_before, today=today).status == "first-trimester"


def test_a_newer_unknown_status_makes_the_status_unknown_again(knowledge: Knowledge) -> None:
    result = _assess(
        knowledge, pregnancy_status(NOT_PREGNANT_SCT, before(3)), pregnancy_status(UNKNOWN_LOINC, before(2))
    )
    assert result.status_gap is not None and result.status_gap[0].startswith("latest status 'unknown'")
    same_day = _assess(
        knowledge, pregnancy_status(UNKNOWN_LOINC, before(2)), pregnancy_status(NOT_PREGNANT_SCT, before(2))
    )
    assert same_day.status_gap is None  # on the same day the definite answer wins


def _hcg(value: float, comparator: str | None = None) -> Json:
    quantity: Json = {"value": value, "unit": "m[IU]/mL", "system": "http://unitsofmeasure.org"}
    quantity["code"] = "m[IU]/mL"
    if comparator:
        quantity["comparator"] = comparator
    return observation(
        concept(
            coding("http://loinc.org", "19080-1", "Choriogonadotropin [Units/volume] in Serum or Plasma")
        ),
        effective=before(1),
        category="laboratory",
        value={"valueQuantity": quantity},
    )


@pytest.mark.parametrize(
    ("value", "comparator", "status", "reason"),
    [
        pytest.param(HCG_NEGATIVE - 1, None, "not-pregnant", None, id="negative"),
        pytest.param(HCG_NEGATIVE, None, "first-trimester", "possible, not confirmed", id="negative-cut-off"),
        pytest.param(HCG_NEGATIVE, "<", "not-pregnant", None, id="below-the-negative-cut-off"),
        pytest.param(HCG_NEGATIVE + 1, "<", "first-trimester", "possible, not confirmed", id="below-more"),
        pytest.param(HCG_NEGATIVE - 1, "<=", "not-pregnant", None, id="at-most-below"),
        pytest.param(HCG_POSITIVE - 1, None, "first-trimester", "possible, not confirmed", id="equivocal"),
        pytest.param(HCG_POSITIVE, None, "first-trimester", "undated, recorded 1 days ago", id="positive"),
        pytest.param(HCG_POSITIVE + 1, None, "first-trimester", "undated, recorded 1 days ago", id="above"),
        pytest.param(HCG_POSITIVE + 1, "<", "first-trimester", "possible, not confirmed", id="upper-bound"),
    ],
)
def test_quantitative_hcg_cut_offs(
    value: int, comparator: str | None, status: str, reason: str | None, knowledge: Knowledge
) -> None:
    result = _assess(knowledge, _hcg(value, comparator))
    assert (result.status, result.reason) == (status, reason)


# --- reproductive age ---------------------------------------------------------------------------------------


def _woman_born(birth: str) -> Json:
    return {"resourceType": "Patient", "id": PATIENT_ID, "gender": "female", "birthDate": birth}


def _birthday(years: int, days_from_today: int = 0) -> str:
    """The birth date whose ``years``-th birthday is ``days_from_today`` days from TODAY."""
    return (date(TODAY.year - years, TODAY.month, TODAY.day) + timedelta(days=days_from_today)).isoformat()


@pytest.mark.parametrize(
    ("birth", "possible"),
    [
        pytest.param(_birthday(AGE_MIN, 1), False, id="min-age-tomorrow"),
        pytest.param(_birthday(AGE_MIN), True, id="min-age-today"),
        pytest.param(_birthday(AGE_MIN, -1), True, id="min-age-yesterday"),
        pytest.param(_birthday(AGE_MAX + 1, 1), True, id="past-max-age-tomorrow"),
        pytest.param(_birthday(AGE_MAX + 1), False, id="past-max-age-today"),
        pytest.param(_birthday(AGE_MAX + 1, -1), False, id="past-max-age-yesterday"),
        # A partial birth date is a range of ages: the patient counts while any day of it is in the range.
        pytest.param(str(TODAY.year - AGE_MIN), True, id="year-of-min-age"),
        pytest.param(str(TODAY.year - AGE_MIN + 1), False, id="year-after-min-age"),
        pytest.param(str(TODAY.year - AGE_MAX - 1), True, id="year-of-max-age-end"),
        pytest.param(str(TODAY.year - AGE_MAX - 2), False, id="year-before-max-age-end"),
    ],
)
def test_reproductive_age_counts_from_the_min_birthday_until_the_day_after_max(
    birth: str, possible: bool, knowledge: Knowledge
) -> None:
    record = _record(patient=_woman_born(birth))
    assert reproductive_potential(record, knowledge, TODAY).possible is possible


# --- platelets and INR: thresholds and result age --------------------------------------------------------

PLATELETS, INR = "777-3", "6301-6"
LAB_CODES = {"severe-thrombocytopenia", "low-platelet-count", "inr-critical", "inr-elevated"}


def _lab_codes(knowledge: Knowledge, *resources: Json) -> list[str]:
    findings = evaluate_patient(_record(*resources), knowledge, TODAY)
    return sorted(f.code for f in findings if f.code in LAB_CODES)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (PLATELETS_CONTRA - 1, ["severe-thrombocytopenia"]),
        (PLATELETS_CONTRA, ["low-platelet-count"]),
        (PLATELETS_CONTRA + 1, ["low-platelet-count"]),
        (PLATELETS_PRECAUTION - 1, ["low-platelet-count"]),
        (PLATELETS_PRECAUTION, []),
        (PLATELETS_PRECAUTION + 1, []),
    ],
)
def test_platelet_thresholds_at_the_exact_count(
    value: int, expected: list[str], knowledge: Knowledge
) -> None:
    """Counts in x10^9/L, the unit of the setting (one step = 1 x10^9/L)."""
    assert _lab_codes(knowledge, lab_result(PLATELETS, value, "10*9/L", effective=before(1))) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (INR_PRECAUTION - INR_STEP, []),
        (INR_PRECAUTION, []),
        (INR_PRECAUTION + INR_STEP, ["inr-elevated"]),
        (INR_CONTRA - INR_STEP, ["inr-elevated"]),
        (INR_CONTRA, ["inr-critical"]),
        (INR_CONTRA + INR_STEP, ["inr-critical"]),
    ],
)
def test_inr_thresholds_at_the_exact_ratio(value: float, expected: list[str], knowledge: Knowledge) -> None:
    """INR to one decimal, as laboratories report it (one step = 0.1)."""
    reported = round(value, 1)
    assert _lab_codes(knowledge, lab_result(INR, reported, "{INR}", effective=before(1))) == expected


@pytest.mark.parametrize("days_ago", [-1, 0, LAB_AGE - 1, LAB_AGE, LAB_AGE + 1])
def test_lab_results_count_for_the_window(days_ago: int, knowledge: Knowledge) -> None:
    platelets = lab_result(PLATELETS, PLATELETS_CONTRA - 1, "10*9/L", effective=before(days_ago))
    inr = lab_result(INR, INR_CONTRA, "{INR}", effective=before(days_ago))
    expected = ["inr-critical", "severe-thrombocytopenia"] if days_ago <= LAB_AGE else []
    assert _lab_codes(knowledge, platelets, inr) == expected


# --- infection coded at an encounter ------------------------------------------------------------------------


@pytest.mark.parametrize("days_ago", [INFECTION_AGE - 1, INFECTION_AGE, INFECTION_AGE + 1])
def test_an_encounter_diagnosed_infection_counts_for_the_window(days_ago: int, knowledge: Knowledge) -> None:
    cellulitis = condition(
        concept(icd("L03.115", "Cellulitis of right lower limb")),
        clinical_status=None,
        category="encounter-diagnosis",
        recorded=before(days_ago),
    )
    found = find_active_infections(_record(cellulitis), knowledge, TODAY)
    assert len(found) == (1 if days_ago <= INFECTION_AGE else 0)


# --- acute infection with no active clinicalStatus: a past episode nobody closed ----------------------------

ACUTE_INFECTION_AGE = SHIPPED["infection_acute_max_age_days"]


@pytest.mark.parametrize("days_ago", [ACUTE_INFECTION_AGE - 1, ACUTE_INFECTION_AGE, ACUTE_INFECTION_AGE + 1])
def test_an_acute_infection_without_a_status_expires_after_the_window(
    days_ago: int, knowledge: Knowledge
) -> None:
    cellulitis = condition(
        concept(icd("L03.115", "Cellulitis of right lower limb")),
        clinical_status=None,
        category="problem-list-item",
        recorded=before(days_ago),
    )
    found = find_active_infections(_record(cellulitis), knowledge, TODAY)
    assert len(found) == (1 if days_ago <= ACUTE_INFECTION_AGE else 0)


# --- INR age on a vitamin K antagonist ----------------------------------------------------------------------

VKA_INR_AGE = SHIPPED["inr_max_age_days_on_vka"]


def _inr_prompted(knowledge: Knowledge, *resources: Json) -> bool:
    warfarin = medication(concept(rxnorm("855332", "warfarin sodium 5 MG Oral Tablet")), id="warfarin")
    record = patient_record(warfarin, *resources)
    return "inr-not-recent" in {f.code for f in evaluate_patient(record, knowledge, TODAY)}


@pytest.mark.parametrize("days_ago", [0, VKA_INR_AGE - 1, VKA_INR_AGE, VKA_INR_AGE + 1])
def test_an_inr_on_warfarin_is_recent_up_to_the_policy_age(days_ago: int, knowledge: Knowledge) -> None:
    inr = lab_result(INR, 2.4, "{INR}", effective=before(days_ago))
    assert _inr_prompted(knowledge, inr) is (days_ago > VKA_INR_AGE)


def test_an_inr_dated_tomorrow_is_not_a_recent_inr(knowledge: Knowledge) -> None:
    inr = lab_result(INR, 2.4, "{INR}", effective=before(-1))
    assert _inr_prompted(knowledge, inr)


# --- minor patient ------------------------------------------------------------------------------------------

MINOR_BELOW = SHIPPED["minor_age_below_years"]


@pytest.mark.parametrize(
    ("birth", "minor"),
    [
        pytest.param(_birthday(MINOR_BELOW, days_from_today=1), True, id="birthday-tomorrow"),
        pytest.param(_birthday(MINOR_BELOW), False, id="birthday-today"),
        pytest.param(_birthday(MINOR_BELOW - 1), True, id="one-year-younger"),
        pytest.param(_birthday(0), True, id="born-today"),
        pytest.param(_birthday(0, days_from_today=1), False, id="born-tomorrow"),
    ],
)
def test_a_patient_is_a_minor_until_the_policy_birthday(
    birth: str, minor: bool, knowledge: Knowledge
) -> None:
    record = _record(patient=_woman_born(birth))
    findings = minor_patient(record, knowledge, TODAY, ("ServiceRequest/dn-1",))
    assert [f.code for f in findings] == (["minor-patient"] if minor else [])
