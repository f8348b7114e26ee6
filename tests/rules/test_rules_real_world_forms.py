"""Issue 11: data forms production EHRs send, each class read as a class (not only its first example).

Class 1: free-text pregnancy answers read as a whole; class 6: lab values as strings and comparators;
class 11: results inside panels (components, contained hasMember results).
"""

from __future__ import annotations

from typing import Any

import pytest
from support.builders import (
    PATIENT_ID,
    coding,
    concept,
    condition,
    days_ago,
    icd,
    lab_result,
    loinc,
    medication_request,
    observation,
    patient_record,
    rxnorm,
    sct,
    text_only,
)
from support.clock import TODAY
from support.fhir_types import Json

from cds_service.patient_data import build_record
from fhir_mappings import Knowledge, evaluate_patient
from fhir_mappings.answer_text import combine_answers, read_answer_text
from fhir_mappings.bleeding import find_bleeding_disorders
from fhir_mappings.body_regions import read_body_site, relate_sites
from fhir_mappings.infection import find_active_infections
from fhir_mappings.medications import find_antithrombotic_therapy
from fhir_mappings.pregnancy import assess_pregnancy
from fhir_mappings.references import MEDICATION_REFERENCES, unresolved_references
from fhir_mappings.reproductive import reproductive_potential
from fhir_mappings.systemic_infection import find_systemic_infections

LAB_CODES = {
    "severe-thrombocytopenia",
    "low-platelet-count",
    "inr-critical",
    "inr-elevated",
    "lab-unit-unknown",
}


def _cc(code: Json) -> Json:
    """A CodeableConcept from a Coding (``sct``/``icd`` builders) or a concept as given."""
    return code if "coding" in code or "text" in code else concept(code)


def _lab_codes(knowledge: Knowledge, *resources: Json) -> list[str]:
    findings = evaluate_patient(patient_record(*resources), knowledge, TODAY)
    return sorted(f.code for f in findings if f.code in LAB_CODES)


# --- class 1: the whole free-text answer -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        # a positive answer with a qualifier that carries a negation word: still pregnant
        ("Pregnant - no complications", "pregnant"),
        ("pregnant, Rh negative", "pregnant"),
        ("Yes, pregnant (no bleeding)", "pregnant"),
        ("Positive, no hook effect", "pregnant"),
        ("POSITIVE - no spotting reported", "pregnant"),
        ("Currently pregnant, no issues", "pregnant"),
        ("Pregnancy", "pregnant"),
        ("Yes", "pregnant"),
        ("Detected", "pregnant"),
        # a positive and a negative phrase together: at best possible, never "not pregnant"
        ("Negative, but pregnant by ultrasound", "possible"),
        ("Neg - possible early pregnancy", "possible"),
        ("positive / negative (repeat)", "possible"),
        ("pregnant? unsure", "possible"),
        # plain negatives stay negative
        ("No", "not-pregnant"),
        ("NEG", "not-pregnant"),
        ("Negative", "not-pregnant"),
        ("Not pregnant", "not-pregnant"),
        ("not-pregnant.", "not-pregnant"),
        ("Negative for pregnancy", "not-pregnant"),
        ("Not detected", "not-pregnant"),
        ("patient states she is not pregnant", "not-pregnant"),
        ("Unknown", "unknown"),
        ("negative, status unknown", "unknown"),
        ("no hook effect", None),
        ("", None),
    ],
)
def test_free_text_answers_are_read_whole(text: str, answer: str | None, knowledge: Knowledge) -> None:
    assert read_answer_text(text, knowledge.answer_text) == answer


def test_combined_answers_never_read_as_not_pregnant() -> None:
    answers = ("pregnant", "possible", "unknown", "not-pregnant")
    for first in answers:
        for second in answers:
            combined = combine_answers({first, second})
            if first != second and "not-pregnant" in {first, second}:
                assert combined != "not-pregnant", (first, second)
            if "pregnant" in {first, second} and first != second:
                assert combined == "possible"


@pytest.mark.parametrize(
    ("value", "status"),
    [
        ({"valueString": "Pregnant - no complications"}, "first-trimester"),
        ({"valueString": "pregnant, Rh negative"}, "first-trimester"),
        ({"valueCodeableConcept": text_only("Yes, pregnant (no bleeding)")}, "first-trimester"),
        ({"valueString": "No"}, "not-pregnant"),
    ],
)
def test_status_observation_text_answers(value: Json, status: str, knowledge: Knowledge) -> None:
    status_obs = observation(
        concept(loinc("82810-3", "Pregnancy status")), effective=days_ago(2), value=value
    )
    assert assess_pregnancy(patient_record(status_obs), knowledge, TODAY).status == status


@pytest.mark.parametrize("code", ["2106-3", "19080-1", "2118-8"])
def test_hcg_text_with_a_negation_word_is_positive(code: str, knowledge: Knowledge) -> None:
    test = observation(
        concept(loinc(code)),
        effective=days_ago(2),
        category="laboratory",
        value={"valueString": "Positive, no hook effect"},
    )
    assert assess_pregnancy(patient_record(test), knowledge, TODAY).status == "first-trimester"


# --- class 6: lab values as strings, and comparators ------------------------------------------------------


def _string_lab(code: str, text: str) -> Json:
    return observation(
        concept(loinc(code)), effective=days_ago(1), category="laboratory", value={"valueString": text}
    )


@pytest.mark.parametrize(
    ("code", "text", "expected"),
    [
        ("6301-6", ">8.0", ["inr-critical"]),
        ("6301-6", "> 6", ["inr-critical"]),
        ("6301-6", "\u22655", ["inr-critical"]),
        ("6301-6", "4.6", ["inr-critical"]),
        ("34714-6", "3.2", ["inr-elevated"]),
        ("6301-6", "1.1", []),
        ("6301-6", "<1.0", []),
        ("777-3", "<10", ["severe-thrombocytopenia"]),
        ("777-3", "< 5 K/uL", ["severe-thrombocytopenia"]),
        ("26515-7", "<=19", ["severe-thrombocytopenia"]),
        ("777-3", "15 K/uL", ["severe-thrombocytopenia"]),
        ("777-3", "15,000 /uL", ["severe-thrombocytopenia"]),
        ("777-3", "45 10*3/uL", ["low-platelet-count"]),
        ("777-3", ">400 K/uL", []),
        ("777-3", "15", ["lab-unit-unknown"]),  # a count with no unit is never guessed
        ("777-3", "clumped, see smear", ["lab-unit-unknown"]),
        ("6301-6", "8.0 (critical, called to RN)", ["lab-unit-unknown"]),
    ],
)
def test_string_values_are_read_as_the_spec_defines_them(
    code: str, text: str, expected: list[str], knowledge: Knowledge
) -> None:
    assert _lab_codes(knowledge, _string_lab(code, text)) == expected


@pytest.mark.parametrize(
    ("code", "value", "comparator", "unit", "expected"),
    [
        ("777-3", 10, "<", None, ["severe-thrombocytopenia"]),  # worst case whatever the unit
        ("777-3", 10, "<", "10*3/uL", ["severe-thrombocytopenia"]),
        ("777-3", 10, ">", None, ["lab-unit-unknown"]),  # a safe-side bound without unit is not read
        ("6301-6", 8, ">", "{INR}", ["inr-critical"]),
        ("6301-6", 8, ">=", "mystery", ["inr-critical"]),
        ("6301-6", 1, "<", None, []),
    ],
)
def test_quantity_comparators(
    code: str, value: float, comparator: str, unit: str | None, expected: list[str], knowledge: Knowledge
) -> None:
    result = lab_result(code, value, unit, effective=days_ago(1), comparator=comparator)
    assert _lab_codes(knowledge, result) == expected


# --- class 11: results inside panels ----------------------------------------------------------------------


def _component(code: str, value: Json) -> Json:
    return {"code": concept(loinc(code)), **value}


@pytest.mark.parametrize(
    ("panel_code", "component_code", "value", "expected"),
    [
        (
            "58410-2",
            "777-3",
            {"valueQuantity": {"value": 12, "unit": "10*3/uL"}},
            ["severe-thrombocytopenia"],
        ),
        ("57021-8", "26515-7", {"valueQuantity": {"value": 35, "unit": "K/uL"}}, ["low-platelet-count"]),
        ("69742-5", "777-3", {"valueString": "<10"}, ["severe-thrombocytopenia"]),
        ("34528-0", "6301-6", {"valueQuantity": {"value": 5.5}}, ["inr-critical"]),
        ("34528-0", "34714-6", {"valueQuantity": {"value": 3.1, "unit": "{INR}"}}, ["inr-elevated"]),
        ("58410-2", "777-3", {"valueQuantity": {"value": 250, "unit": "10*3/uL"}}, []),
    ],
)
def test_panel_components_are_read_like_standalone_results(
    panel_code: str, component_code: str, value: Json, expected: list[str], knowledge: Knowledge
) -> None:
    panel = observation(
        concept(loinc(panel_code)),
        effective=days_ago(1),
        category="laboratory",
        components=[
            _component("718-7", {"valueQuantity": {"value": 13, "unit": "g/dL"}}),
            _component(component_code, value),
        ],
    )
    assert _lab_codes(knowledge, panel) == expected


def test_a_component_of_a_preliminary_panel_does_not_count(knowledge: Knowledge) -> None:
    panel = observation(
        concept(loinc("58410-2")),
        status="preliminary",
        effective=days_ago(1),
        category="laboratory",
        components=[_component("777-3", {"valueQuantity": {"value": 5, "unit": "10*3/uL"}})],
    )
    assert _lab_codes(knowledge, panel) == []


def test_contained_has_member_results_are_read(knowledge: Knowledge) -> None:
    panel = observation(concept(loinc("58410-2")), id="cbc", effective=days_ago(1), category="laboratory")
    panel["contained"] = [
        {
            "resourceType": "Observation",
            "id": "plt",
            "status": "final",
            "code": concept(loinc("777-3")),
            "valueQuantity": {"value": 8, "unit": "10*3/uL"},
        }
    ]
    panel["hasMember"] = [{"reference": "#plt"}]
    findings = evaluate_patient(patient_record(panel), knowledge, TODAY)
    severe = [f for f in findings if f.code == "severe-thrombocytopenia"]
    assert severe and severe[0].evidence[0].reference == "Observation/cbc"


def test_members_sent_alongside_are_read_once(knowledge: Knowledge) -> None:
    member = lab_result("6301-6", 4.8, None, id="inr1", effective=days_ago(1))
    panel = observation(concept(loinc("34528-0")), effective=days_ago(1), category="laboratory")
    panel["hasMember"] = [{"reference": "Observation/inr1"}]
    assert _lab_codes(knowledge, panel, member) == ["inr-critical"]


# --- class 2: SNOMED CT codes beyond short lists, and words when no code is placed ------------------------


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (sct("47200007", "High risk pregnancy"), "first-trimester"),
        (sct("237244005", "Single pregnancy"), "first-trimester"),
        (sct("169561007", "Pregnant - blood test confirms"), "first-trimester"),
        (concept(text="Pregnancy"), "first-trimester"),  # class 11: text only
        (concept(coding("urn:oid:1.2.3.4", "P1", "Intrauterine pregnancy")), "first-trimester"),
        (sct("34801009", "Ectopic pregnancy"), "not-pregnant"),  # a pregnancy-ended event, not ongoing
        (concept(text="Pregnancy test negative"), "not-pregnant"),
        (concept(text="History of pregnancy loss"), "not-pregnant"),
    ],
)
def test_pregnancy_conditions_beyond_the_hand_picked_codes(
    code: Json, status: str, knowledge: Knowledge
) -> None:
    record = patient_record(condition(_cc(code), recorded=days_ago(5)))
    assert assess_pregnancy(record, knowledge, TODAY).status == status


@pytest.mark.parametrize(
    ("code", "fires"),
    [
        (sct("64779008", "Blood coagulation disorder"), True),
        (sct("16922007", "Hereditary coagulation factor deficiency"), True),
        (sct("1386000", "Intracranial hemorrhage"), False),  # active bleeding, not a diathesis
        (sct("123786007", "Blood coagulation disorder with shortened coagulation time"), False),
        (sct("999999001", "Haemophilia A, severe"), True),  # a code no value set places: its words count
    ],
)
def test_bleeding_diatheses_coded_in_snomed(code: Json, fires: bool, knowledge: Knowledge) -> None:
    assert bool(find_bleeding_disorders(patient_record(condition(_cc(code))), knowledge, TODAY)) is fires


# --- classes 8 and 9: what counts as an active local infection, and for how long --------------------------


@pytest.mark.parametrize(
    ("code", "counts"),
    [
        (icd("B02.29", "Other postherpetic nervous system involvement"), False),
        (icd("B02.22", "Postherpetic trigeminal neuralgia"), False),
        (icd("B00.4", "Herpesviral encephalitis"), False),
        (icd("B02.31", "Zoster conjunctivitis"), False),
        (icd("L05.91", "Pilonidal cyst without abscess"), False),
        (sct("999999002", "Postherpetic neuralgia"), False),
        (icd("L05.01", "Pilonidal cyst with abscess"), True),
        (icd("M72.6", "Necrotizing fasciitis"), True),
        (icd("M71.061", "Abscess of bursa, right knee"), True),
        (icd("M65.041", "Abscess of tendon sheath, right hand"), True),
        (icd("M46.26", "Osteomyelitis of vertebra, lumbar region"), True),
        (icd("T84.51XA", "Infection and inflammatory reaction due to internal right hip prosthesis"), True),
        (icd("B01.9", "Varicella without complication"), True),
        (icd("L89.154", "Pressure ulcer of sacral region, stage 4"), True),
        (sct("4740000", "Herpes zoster"), True),
        (sct("999999003", "Cellulitis of left lower limb"), True),  # SNOMED outside the set: words read
    ],
)
def test_infection_value_set_look_alikes_and_additions(
    code: Json, counts: bool, knowledge: Knowledge
) -> None:
    record = patient_record(condition(_cc(code), onset=days_ago(3)))
    assert bool(find_active_infections(record, knowledge, TODAY)) is counts


@pytest.mark.parametrize(
    ("clinical_status", "onset_days_ago", "counts"),
    [
        (None, 730, False),  # a problem-list cellulitis nobody closed, two years old
        (None, 91, False),
        (None, 60, True),
        ("active", 730, True),  # a status that says active still counts
        ("recurrence", 400, True),
    ],
)
def test_acute_infections_expire_by_date_unless_active(
    clinical_status: str | None, onset_days_ago: int, counts: bool, knowledge: Knowledge
) -> None:
    cellulitis = condition(
        concept(icd("L03.115", "Cellulitis of right lower limb")),
        clinical_status=clinical_status,
        onset=days_ago(onset_days_ago),
    )
    assert bool(find_active_infections(patient_record(cellulitis), knowledge, TODAY)) is counts


def test_chronic_site_infections_do_not_expire(knowledge: Knowledge) -> None:
    osteomyelitis = condition(
        concept(icd("M86.661", "Other chronic osteomyelitis, right tibia")),
        clinical_status=None,
        onset=days_ago(700),
    )
    assert find_active_infections(patient_record(osteomyelitis), knowledge, TODAY)


# --- class 5: drug coverage by ingredient ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "display", "drug"),
    [
        ("1364435", None, "apixaban"),  # apixaban 5 MG Oral Tablet, no display sent
        ("309362", None, "clopidogrel"),
        ("1536467", None, "aspirin"),  # an aspirin combination (effervescent tablet)
        ("259081", None, "aspirin"),  # aspirin / dipyridamole ER capsule: both ingredients
        ("197622", None, "dipyridamole"),
        ("1736470", None, "eptifibatide"),
        ("1537034", None, "vorapaxar"),
        ("999999", "tinzaparin 10000 IU/0.5 mL", "tinzaparin"),
    ],
)
def test_antithrombotic_products_by_ingredient(
    code: str, display: str | None, drug: str, knowledge: Knowledge
) -> None:
    request = medication_request(code, display or "")
    request["status"] = "active"
    if display is None:
        request["medicationCodeableConcept"] = concept(rxnorm(code))
    uses = find_antithrombotic_therapy(patient_record(request), knowledge, TODAY)
    assert drug in {use.drug for use in uses}


@pytest.mark.parametrize("text", ["mesalamine (5-ASA) 800 mg", "5-ASA enema", "Asacol HD"])
def test_mesalamine_is_not_aspirin(text: str, knowledge: Knowledge) -> None:
    request = medication_request("999998", text)
    request["status"] = "active"
    request["medicationCodeableConcept"] = concept(text=text)
    assert find_antithrombotic_therapy(patient_record(request), knowledge, TODAY) == []


# --- classes 7 and 10: pregnancy ended by a procedure; every VSAC pregnancy test -------------------------


def _procedure(system: str, code: str, performed_days_ago: int, status: str = "completed") -> Json:
    return {
        "resourceType": "Procedure",
        "id": f"proc-{code}",
        "status": status,
        "code": concept(coding(system, code)),
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "performedDateTime": days_ago(performed_days_ago).isoformat(),
    }


@pytest.mark.parametrize(
    ("system", "code", "status", "ended"),
    [
        ("http://www.ama-assn.org/go/cpt", "59840", "completed", True),  # induced abortion, D&C
        ("http://www.ama-assn.org/go/cpt", "59514", "completed", True),  # cesarean delivery only
        ("http://www.cms.gov/Medicare/Coding/ICD10", "10A07ZZ", "completed", True),
        ("http://www.cms.gov/Medicare/Coding/ICD10", "10D00Z1", "completed", True),  # low cesarean (VSAC)
        ("http://snomed.info/sct", "177143000", "completed", True),  # elective LSCS (VSAC)
        ("http://www.ama-assn.org/go/cpt", "59840", "not-done", False),
    ],
)
def test_a_procedure_ends_the_pregnancy_before_it(
    system: str, code: str, status: str, ended: bool, knowledge: Knowledge
) -> None:
    hcg = observation(
        concept(loinc("2106-3")),
        effective=days_ago(30),
        category="laboratory",
        value={"valueString": "Positive"},
    )
    record = build_record(PATIENT_ID, [hcg, _procedure(system, code, 10, status)])
    result = assess_pregnancy(record, knowledge, TODAY).status
    assert (result == "not-pregnant") is ended


@pytest.mark.parametrize("code", ["80384-1", "80385-8", "2110-5", "2112-1", "20994-0"])
def test_every_vsac_pregnancy_test_is_read(code: str, knowledge: Knowledge) -> None:
    test = observation(
        concept(loinc(code)), effective=days_ago(2), category="laboratory", value={"valueString": "POSITIVE"}
    )
    assert assess_pregnancy(patient_record(test), knowledge, TODAY).status == "first-trimester"


# --- class 3: pre-coordinated sided body sites and limb words -------------------------------------------


@pytest.mark.parametrize(
    ("site", "region", "side"),
    [
        (concept(sct("62175007")), "LOWER_LIMB", "right"),  # no display sent
        (concept(sct("32153003")), "LOWER_LIMB", "left"),
        (concept(sct("6921000")), "UPPER_LIMB", "right"),
        (concept(sct("91775009")), "SHOULDER_GIRDLE", "left"),
        (concept(sct("287579007")), "PELVIS_HIP", "right"),
        (concept(sct("61685007"), sct("7771000")), "LOWER_LIMB", "left"),  # region + laterality qualifier
        (concept(sct("61685007:272741003=24028007")), "LOWER_LIMB", "right"),  # post-coordinated
        (text_only("Structure of right lower limb"), "LOWER_LIMB", "right"),
        (text_only("left upper limb"), "UPPER_LIMB", "left"),
        (text_only("R leg"), "LOWER_LIMB", "right"),
        (text_only("left arm"), "UPPER_LIMB", "left"),
        (text_only("bilateral lower extremities"), "LOWER_LIMB", "both"),
    ],
)
def test_sided_limb_sites_are_placed(site: Json, region: str, side: str, knowledge: Knowledge) -> None:
    read = read_body_site(site, knowledge.body_regions, knowledge.aliases)
    assert region in read.regions and read.side == side


@pytest.mark.parametrize(
    ("order_site", "infection_site", "relation"),
    [
        (sct("62175007"), sct("62175007"), "same"),
        (sct("62175007"), sct("32153003"), "apart"),
        (sct("32153003"), sct("56459004"), "same"),  # left lower limb order, foot infection of unknown side
    ],
)
def test_same_side_limb_infection_is_the_same_site(
    order_site: Json, infection_site: Json, relation: str, knowledge: Knowledge
) -> None:
    regions = knowledge.body_regions
    order = read_body_site(concept(order_site), regions, knowledge.aliases)
    infection = read_body_site(concept(infection_site), regions, knowledge.aliases)
    assert relate_sites(order, infection, regions) == relation


# --- class 10: menopause ends the pregnancy-status prompt; Z32.02 is a status -----------------------------


def _woman(age: int) -> Json:
    return {
        "resourceType": "Patient",
        "id": PATIENT_ID,
        "gender": "female",
        "birthDate": f"{TODAY.year - age}-01-01",
    }


@pytest.mark.parametrize(
    ("code", "prompted"),
    [
        (concept(icd("N95.1", "Menopausal and female climacteric states")), False),
        (concept(icd("Z78.0", "Asymptomatic menopausal state")), False),
        (concept(icd("E28.310", "Symptomatic premature menopause")), False),
        (concept(sct("289903006", "Menopause present")), False),  # a code no set places: its words
        (text_only("Post-menopausal"), False),
        (text_only("Perimenopausal symptoms"), True),
        (text_only("Family history of early menopause"), True),
    ],
)
def test_menopause_ends_the_prompt(code: Json, prompted: bool, knowledge: Knowledge) -> None:
    record = build_record(PATIENT_ID, [_woman(51), condition(code, onset=days_ago(400))])
    potential = reproductive_potential(record, knowledge, TODAY)
    assert potential.possible is prompted


@pytest.mark.parametrize(("recorded", "gap"), [(6, False), (60, True)])
def test_a_negative_test_coded_z32_02_is_a_status(recorded: int, gap: bool, knowledge: Knowledge) -> None:
    z3202 = condition(
        concept(icd("Z32.02", "Encounter for pregnancy test, result negative")),
        clinical_status=None,
        recorded=days_ago(recorded),
        category="encounter-diagnosis",
    )
    assessment = assess_pregnancy(patient_record(z3202), knowledge, TODAY)
    assert assessment.status == "not-pregnant"
    assert (assessment.status_gap is not None) is gap


# --- class 8: sepsis is a patient-level precaution --------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "onset", "found"),
    [
        (concept(icd("A41.9", "Sepsis, unspecified organism")), "active", 5, True),
        (concept(icd("A40.0", "Sepsis due to streptococcus, group A")), None, 20, True),
        (text_only("Urosepsis"), "active", 3, True),
        (concept(icd("A41.9")), "resolved", 5, False),
        (concept(icd("A41.9")), None, 200, False),  # no status, onset past the acute window
        (text_only("Sepsis screen negative"), "active", 3, False),
    ],
)
def test_sepsis_is_found_while_active(
    code: Json, status: str | None, onset: int, found: bool, knowledge: Knowledge
) -> None:
    record = patient_record(condition(code, clinical_status=status, onset=days_ago(onset)))
    assert bool(find_systemic_infections(record, knowledge, TODAY)) is found


# --- class 4: a drug coded only on a Medication resource ---------------------------------------------------


def _request_with_reference(reference: str, contained: list[Json] | None = None) -> Json:
    request: Json = {
        "resourceType": "MedicationRequest",
        "id": "mr-ref",
        "status": "active",
        "intent": "order",
        "medicationReference": {"reference": reference},
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
    }
    if contained:
        request["contained"] = contained
    return request


CLOPIDOGREL = {"resourceType": "Medication", "id": "clop", "code": concept(rxnorm("309362"))}


@pytest.mark.parametrize(
    ("resources", "unresolved"),
    [
        ([_request_with_reference("Medication/clop")], {MEDICATION_REFERENCES: ["Medication/clop"]}),
        ([_request_with_reference("Medication/clop"), CLOPIDOGREL], {}),  # sent alongside (an _include)
        ([_request_with_reference("#clop", [CLOPIDOGREL])], {}),  # contained
        (
            [_request_with_reference("https://ehr.example.org/fhir/Medication/clop")],
            {MEDICATION_REFERENCES: ["Medication/clop"]},
        ),
    ],
)
def test_unresolved_medication_references_are_found(
    resources: list[Json], unresolved: dict[str, list[str]]
) -> None:
    assert unresolved_references(build_record(PATIENT_ID, resources)) == unresolved


@pytest.mark.parametrize(
    "resources",
    [
        [_request_with_reference("Medication/clop"), CLOPIDOGREL],
        [_request_with_reference("#clop", [CLOPIDOGREL])],
    ],
)
def test_a_drug_coded_only_on_its_medication_is_found(resources: list[Json], knowledge: Knowledge) -> None:
    uses = find_antithrombotic_therapy(build_record(PATIENT_ID, resources), knowledge, TODAY)
    assert [use.drug for use in uses] == ["clopidogrel"]


def test_an_unreadable_medication_is_reported_missing_not_no_drug() -> None:
    from cds_service.catalog import load_catalog
    from cds_service.demo import DemoPatient, build_hook_request
    from cds_service.hook_request import parse_hook_request
    from cds_service.patient_data import FetchResult, gather_patient_data

    service = next(s for s in load_catalog().services if s.hook == "patient-view")
    patient = DemoPatient(
        "x",
        "x",
        "",
        PATIENT_ID,
        "ServiceRequest/none",
        (),
        ({"resourceType": "Patient", "id": PATIENT_ID}, _request_with_reference("Medication/clop")),
    )
    request = parse_hook_request(
        {**build_hook_request(patient, service), "fhirServer": "https://ehr.example.org/fhir"}
    )

    class Fetcher:
        def fetch(self, *args: Any) -> FetchResult:
            raise AssertionError("prefetch was complete")

        def read_references(self, request: Any, references: list[str], started: float) -> FetchResult:
            return FetchResult(failures={ref: "HTTP 404" for ref in references})

    data = gather_patient_data(request, service, Fetcher())
    assert data.unavailable == {MEDICATION_REFERENCES: "HTTP 404"}
