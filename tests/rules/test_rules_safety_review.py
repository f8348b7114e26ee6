"""Inputs the independent clinical-safety review (2026-11) found to hide a contraindication or precaution,
or to raise a false critical alert; each row is a way real EHRs and laboratories send the data."""

from __future__ import annotations

import pytest
from support.builders import (
    RXNORM,
    SNOMED,
    Json,
    body_site,
    coding,
    concept,
    condition,
    days_ago,
    days_ahead,
    draft_orders,
    dry_needling_order,
    lab_result,
    loinc,
    medication,
    observation,
    patient_record,
    sct,
)
from support.clock import TODAY

from fhir_mappings import Knowledge, evaluate_orders, find_dry_needling_orders
from fhir_mappings.bleeding import find_bleeding_disorders
from fhir_mappings.labs import assess_labs
from fhir_mappings.medications import find_antithrombotic_therapy
from fhir_mappings.pregnancy import assess_pregnancy

V3_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
WARFARIN = concept(coding(RXNORM, "855332", "warfarin sodium 5 MG Oral Tablet"))


def _hcg(value: Json) -> Json:
    return observation(
        concept(loinc("2106-3", "Choriogonadotropin (pregnancy test) [Presence] in Urine")),
        effective=days_ago(3),
        category="laboratory",
        value=value,
    )


def _quantitative_hcg(number: float, comparator: str | None) -> Json:
    quantity: Json = {"value": number, "unit": "mIU/mL"}
    if comparator:
        quantity["comparator"] = comparator
    return observation(
        concept(loinc("19080-1", "Choriogonadotropin [Units/volume] in Serum or Plasma")),
        effective=days_ago(3),
        category="laboratory",
        value={"valueQuantity": quantity},
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param({"valueCodeableConcept": concept(sct("260373001", "Detected"))}, "first-trimester"),
        pytest.param({"valueCodeableConcept": concept(coding(V3_INTERPRETATION, "POS"))}, "first-trimester"),
        pytest.param({"valueCodeableConcept": concept(text="POS")}, "first-trimester"),
        pytest.param({"valueString": "Detected"}, "first-trimester"),
        pytest.param({"valueCodeableConcept": concept(sct("260415000", "Not detected"))}, "not-pregnant"),
        pytest.param({"valueCodeableConcept": concept(coding(V3_INTERPRETATION, "NEG"))}, "not-pregnant"),
        pytest.param({"valueString": "Not detected"}, "not-pregnant"),
        pytest.param({"valueString": "NEG"}, "not-pregnant"),
    ],
)
def test_a_qualitative_pregnancy_test_in_laboratory_wording_is_read(
    knowledge: Knowledge, value: Json, expected: str
) -> None:
    """A positive urine hCG reported as 'Detected' / POS was ignored: the patient looked eligible."""
    assert assess_pregnancy(patient_record(_hcg(value)), knowledge, TODAY).status == expected


@pytest.mark.parametrize(
    ("number", "comparator", "expected", "reason"),
    [
        pytest.param(5, "<", "not-pregnant", None, id="<5 is the usual negative report"),
        pytest.param(2, "<=", "not-pregnant", None, id="<=2"),
        pytest.param(5, "<=", "first-trimester", "possible, not confirmed", id="<=5 may be 5: equivocal"),
        pytest.param(25, "<", "first-trimester", "possible, not confirmed", id="<25 may be equivocal"),
        pytest.param(5, None, "first-trimester", "possible, not confirmed", id="5 exactly is equivocal"),
        pytest.param(1500, ">", "first-trimester", "undated, recorded 3 days ago", id=">1500 positive"),
    ],
)
def test_a_quantitative_hcg_comparator_is_read(
    knowledge: Knowledge, number: float, comparator: str | None, expected: str, reason: str | None
) -> None:
    """'<5 mIU/mL' was read as 5 (equivocal): a false first-trimester contraindication on every negative."""
    result = assess_pregnancy(patient_record(_quantitative_hcg(number, comparator)), knowledge, TODAY)
    assert (result.status, result.reason) == (expected, reason)


def _bounds(end: str) -> list[Json]:
    return [{"timing": {"repeat": {"boundsPeriod": {"start": days_ago(20).isoformat(), "end": end}}}}]


@pytest.mark.parametrize(
    ("resource", "current"),
    [
        pytest.param(
            medication(WARFARIN, status="completed", dosageInstruction=_bounds(days_ahead(60).isoformat())),
            True,
            id="request completed, dosage bounds end in 60 days",
        ),
        pytest.param(
            medication(WARFARIN, status="completed", dosageInstruction=_bounds(TODAY.isoformat())),
            True,
            id="request completed, dosage bounds end today",
        ),
        pytest.param(
            medication(
                WARFARIN,
                resource_type="MedicationStatement",
                status="completed",
                effectivePeriod={"start": days_ago(30).isoformat(), "end": days_ahead(5).isoformat()[:7]},
            ),
            True,
            id="statement completed, effective period ends in a later (partial) month",
        ),
        pytest.param(
            medication(WARFARIN, status="completed", dosageInstruction=_bounds(days_ago(1).isoformat())),
            False,
            id="request completed, course ended yesterday",
        ),
        pytest.param(medication(WARFARIN, status="completed"), False, id="request completed, no period"),
        pytest.param(
            medication(WARFARIN, status="stopped", dosageInstruction=_bounds(days_ahead(60).isoformat())),
            False,
            id="stopped is a deliberate discontinuation",
        ),
        pytest.param(
            medication(
                WARFARIN,
                status="completed",
                doNotPerform=True,
                dosageInstruction=_bounds(days_ahead(60).isoformat()),
            ),
            False,
            id="do not perform",
        ),
    ],
)
def test_a_completed_medication_record_whose_therapy_period_runs_on_is_current(
    knowledge: Knowledge, resource: Json, current: bool
) -> None:
    """A prescription marked 'completed' when sent to the pharmacy hid an ongoing anticoagulant."""
    uses = find_antithrombotic_therapy(patient_record(resource), knowledge, TODAY)
    assert bool(uses) is current


@pytest.mark.parametrize(
    ("unit", "system"),
    [
        pytest.param("bil/L", "http://loinc.org", id="bil/L"),
        pytest.param("billion/L", "http://loinc.org", id="billion/L"),
        pytest.param("10*3/uL", "https://loinc.org", id="https LOINC system"),
        pytest.param("10*3/uL", "HTTPS://LOINC.ORG/", id="https LOINC system, upper case"),
    ],
)
def test_platelets_in_laboratory_spellings_are_read(knowledge: Knowledge, unit: str, system: str) -> None:
    """A platelet count of 15 in 'bil/L', or under an https LOINC URI, was not evaluated as a count."""
    result = lab_result("777-3", 15, unit, effective=days_ago(1), code=None)
    result["code"] = concept(coding(system, "777-3", "Platelets [#/volume] in Blood"))
    [assessment] = assess_labs(patient_record(result), knowledge, TODAY)
    assert assessment.decisive is not None and assessment.decisive.value == 15


# --- conditions with no standard coding: names read in the text --------------------------------------------


@pytest.mark.parametrize(
    ("code", "fires"),
    [
        pytest.param(concept(text="Hemophilia A"), True, id="text only"),
        pytest.param(concept(text="von Willebrand disease type 1"), True, id="vWD text"),
        pytest.param(concept(text="Chronic ITP"), True, id="ITP abbreviation"),
        pytest.param(
            concept(coding("urn:oid:1.2.840.114350.1", "4471", "Haemophilia B")), True, id="local code"
        ),
        pytest.param(concept(text="Family history of hemophilia"), False, id="family history"),
        pytest.param(concept(text="History of ITP, resolved"), False, id="history of"),
        pytest.param(concept(text="No known bleeding disorder"), False, id="no known"),
        pytest.param(concept(text="Hemophilia carrier"), False, id="carrier"),
        pytest.param(concept(text="Factor V Leiden thrombophilia"), False, id="thrombophilia"),
        pytest.param(
            concept(coding(SNOMED, "234467004", "Von Willebrand disease (local text)")),
            True,
            id="a SNOMED code no value set places is read by its words (issue 11)",
        ),
        pytest.param(
            concept(coding(SNOMED, "128045006", "Cellulitis"), text="Thrombocytopenia"),
            False,
            id="a SNOMED code a value set places is judged by its code",
        ),
    ],
)
def test_a_bleeding_disorder_named_only_in_the_text_is_read(
    knowledge: Knowledge, code: Json, fires: bool
) -> None:
    """A free-text 'Hemophilia A' problem hid the bleeding-disorder contraindication."""
    found = find_bleeding_disorders(patient_record(condition(code)), knowledge, TODAY)
    assert bool(found) is fires
    if fires:
        assert "no code: matched by the name" in found[0].description


def test_a_bleeding_disorder_named_in_text_is_a_critical_finding(knowledge: Knowledge) -> None:
    orders = find_dry_needling_orders(draft_orders(dry_needling_order(id="sr-text-bleed")), knowledge)
    record = patient_record(condition(concept(text="Hemophilia A")))
    assert "bleeding-disorder" in {f.code for f in evaluate_orders(orders, record, knowledge, TODAY)}


def test_a_resolved_text_only_bleeding_disorder_does_not_count(knowledge: Knowledge) -> None:
    record = patient_record(condition(concept(text="Thrombocytopenia"), clinical_status="resolved"))
    assert find_bleeding_disorders(record, knowledge, TODAY) == []


RIGHT_LOWER_LEG = body_site(sct("30021000", "Lower leg structure"), sct("24028007", "Right"))


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        pytest.param(concept(text="Cellulitis of right leg"), ["local-infection"], id="same side"),
        pytest.param(concept(text="Abscess, right calf"), ["local-infection"], id="abscess right calf"),
        pytest.param(concept(text="Cellulitis of left leg"), [], id="other side"),
        pytest.param(
            concept(text="Cellulitis, site not specified"), ["infection-near-site"], id="site unknown"
        ),
        pytest.param(concept(text="Shingles"), ["infection-near-site"], id="zoster, site unknown"),
        pytest.param(concept(text="History of cellulitis"), [], id="history of"),
    ],
)
def test_a_skin_infection_named_only_in_the_text_is_read(
    knowledge: Knowledge, code: Json, expected: list[str]
) -> None:
    """A free-text 'Cellulitis of right leg' problem hid the local-infection contraindication."""
    order = dry_needling_order(id="sr-text-infection", body_sites=[RIGHT_LOWER_LEG])
    orders = find_dry_needling_orders(draft_orders(order), knowledge)
    findings = evaluate_orders(orders, patient_record(condition(code)), knowledge, TODAY)
    assert sorted(f.code for f in findings if "infection" in f.code) == expected


def test_an_https_system_maps_only_onto_a_known_code_system(knowledge: Knowledge) -> None:
    assert knowledge.aliases.canonical("https://loinc.org") == "http://loinc.org"
    assert knowledge.aliases.canonical("https://snomed.info/sct") == SNOMED
    local = "https://ehr.example.org/fhir/CodeSystem/procedure-catalog"
    assert knowledge.aliases.canonical(local) == local


@pytest.mark.parametrize(
    ("text", "status", "ga"),
    [
        pytest.param("20 3/7 weeks", "later-trimester", "20w5d", id="20 3/7 weeks"),
        pytest.param("13 6/7 wks", "later-trimester", "14w1d", id="13 6/7 wks, 2 days on"),
        pytest.param("9 2/7", "first-trimester", "9w4d", id="9 2/7 without unit"),
        pytest.param("12 weeks 1 day", "first-trimester", "12w3d", id="plain words still read"),
    ],
)
def test_gestational_age_in_sevenths_notation_is_read(
    knowledge: Knowledge, text: str, status: str, ga: str
) -> None:
    """'20 3/7 weeks' was read as '7 weeks': a false first-trimester contraindication with a wrong GA."""
    observation_ = observation(
        concept(loinc("11884-4", "Gestational age Estimated")),
        effective=days_ago(2),
        category="exam",
        value={"valueString": text},
    )
    result = assess_pregnancy(patient_record(observation_), knowledge, TODAY)
    assert (result.status, result.ga_label) == (status, ga)


def _draft_medication(status: str = "draft", patient: str | None = None) -> Json:
    resource = medication(WARFARIN, status=status, id="mr-draft-warfarin")
    if patient is not None:
        resource["subject"] = {"reference": f"Patient/{patient}"}
    return resource


@pytest.mark.parametrize(
    ("drafts", "fires"),
    [
        pytest.param([_draft_medication()], True, id="warfarin ordered with the needling"),
        pytest.param([_draft_medication(status="active")], True, id="status active in the draft bundle"),
        pytest.param([_draft_medication(patient="someone-else")], False, id="another patient's draft"),
        pytest.param([], False, id="no medication draft"),
    ],
)
def test_an_anticoagulant_ordered_together_with_dry_needling_is_a_precaution(
    knowledge: Knowledge, drafts: list[Json], fires: bool
) -> None:
    """Signing warfarin and dry needling together: the prefetch has no record of the new drug yet."""
    bundle = draft_orders(dry_needling_order(id="sr-with-warfarin"), *drafts)
    orders = find_dry_needling_orders(bundle, knowledge)
    findings = evaluate_orders(orders, patient_record(), knowledge, TODAY, bundle)
    assert ("antithrombotic-therapy" in {f.code for f in findings}) is fires
