"""Indications: the order's reason, then the active problem list (architecture.md section 4)."""

from __future__ import annotations

from typing import Any

import pytest
from support.builders import (
    ICD10CM,
    ICD10CM_OID,
    INDICATION_KEYS,
    SNOMED,
    coding,
    concept,
    condition,
    days_ago,
    draft_orders,
    dry_needling_order,
    icd,
    patient_record,
    sct,
    text_only,
)
from support.clock import TODAY

from cards import CardContext, build_cards, load_card_wording
from cards.builder import EXTENSION_EVIDENCE, EXTENSION_INDICATIONS
from fhir_mappings import Knowledge, evaluate_orders, evaluate_patient, find_dry_needling_orders
from fhir_mappings.indications import find_indications
from fhir_mappings.orders import DryNeedlingOrder

# key -> (an ICD-10-CM FY2026 code, its display)
ICD_EXAMPLES: dict[str, tuple[str, str]] = {
    "headache-migraine": ("G43.909", "Migraine, unspecified, not intractable, without status migrainosus"),
    "neck-pain": ("M54.2", "Cervicalgia"),
    "lateral-epicondylitis": ("M77.11", "Lateral epicondylitis, right elbow"),
    "medial-epicondylitis": ("M77.02", "Medial epicondylitis, left elbow"),
    "shoulder-impingement": ("M75.41", "Impingement syndrome of right shoulder"),
    "low-back-pain": ("M54.50", "Low back pain, unspecified"),
    "itb-syndrome": ("M76.31", "Iliotibial band syndrome, right leg"),
    "piriformis-syndrome": ("G57.01", "Lesion of sciatic nerve, right lower limb"),
    "sciatica": ("M54.31", "Sciatica, right side"),
    "trochanteric-bursitis": ("M70.61", "Trochanteric bursitis, right hip"),
    "hamstring-strain": (
        "S76.311A",
        "Strain of muscle of posterior muscle group at thigh level, right thigh",
    ),
    "groin-strain": ("S76.211A", "Strain of adductor muscle, fascia and tendon of right thigh"),
    "ankle-sprain": ("S93.401A", "Sprain of unspecified ligament of right ankle, initial encounter"),
    "plantar-fasciitis": ("M72.2", "Plantar fascial fibromatosis"),
    "carpal-tunnel": ("G56.01", "Carpal tunnel syndrome, right upper limb"),
    "fibromyalgia": ("M79.7", "Fibromyalgia"),
    "osteoarthritis": ("M17.11", "Unilateral primary osteoarthritis, right knee"),
    "shin-splints": (
        "S86.891A",
        "Other injury of other muscle(s) and tendon(s) at lower leg level, right leg",
    ),
    "knee-pain": ("M25.561", "Pain in right knee"),
    "myofascial-pain": ("M79.18", "Myalgia, other site"),
}

# key -> (a SNOMED CT code, its display), where the value set has one
SNOMED_EXAMPLES: dict[str, tuple[str, str]] = {
    "headache-migraine": ("37796009", "Migraine"),
    "neck-pain": ("81680005", "Neck pain"),
    "lateral-epicondylitis": ("202855006", "Lateral epicondylitis"),
    "medial-epicondylitis": ("53286005", "Medial epicondylitis of elbow joint"),
    "shoulder-impingement": ("239960007", "Impingement syndrome of shoulder region"),
    "low-back-pain": ("279039007", "Low back pain"),
    "sciatica": ("23056005", "Sciatica"),
    "ankle-sprain": ("44465007", "Sprain of ankle"),
    "plantar-fasciitis": ("202882003", "Plantar fasciitis"),
    "carpal-tunnel": ("57406009", "Carpal tunnel syndrome"),
    "fibromyalgia": ("203082005", "Fibromyalgia"),
    "osteoarthritis": ("239873007", "Osteoarthritis of knee"),
    "knee-pain": ("30989003", "Knee pain"),
}


def _variants(code: str) -> list[tuple[str, str]]:
    return [("dotted", code), ("undotted", code.replace(".", "")), ("lower-case", code.lower())]


ICD_CASES = [
    pytest.param(key, variant_code, display, id=f"{key}-{variant}-{variant_code}")
    for key, (code, display) in ICD_EXAMPLES.items()
    for variant, variant_code in _variants(code)
]


def _keys(result: Any) -> set[str]:
    return {match.key for match in result.matches}


def _order(knowledge: Knowledge, **kwargs: Any) -> DryNeedlingOrder:
    [order] = find_dry_needling_orders(draft_orders(dry_needling_order(id="dn-1", **kwargs)), knowledge)
    return order


def test_indication_keys_are_the_contract(knowledge: Knowledge) -> None:
    assert sorted(knowledge.indication_keys()) == sorted(INDICATION_KEYS)
    assert set(ICD_EXAMPLES) == set(INDICATION_KEYS)


@pytest.mark.parametrize(("key", "code", "display"), ICD_CASES)
def test_icd_problem_fires_indication(key: str, code: str, display: str, knowledge: Knowledge) -> None:
    record = patient_record(condition(concept(icd(code, display), text=display), id="c-1"))
    result = find_indications(None, record, knowledge, TODAY)
    assert key in _keys(result)
    match = next(m for m in result.matches if m.key == key)
    assert (match.system, match.code, match.origin, match.reference) == (
        ICD10CM,
        code,
        "problem list",
        "Condition/c-1",
    )
    assert result.unrecognised == ()


@pytest.mark.parametrize(
    ("key", "code", "display"),
    [
        pytest.param(key, code, display, id=f"{key}-{code}")
        for key, (code, display) in SNOMED_EXAMPLES.items()
    ],
)
def test_snomed_problem_fires_indication(key: str, code: str, display: str, knowledge: Knowledge) -> None:
    record = patient_record(condition(concept(sct(code, display))))
    assert key in _keys(find_indications(None, record, knowledge, TODAY))


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("M54.5", {"low-back-pain"}),  # non-billable parent still matches by prefix
        ("M54.41", {"low-back-pain", "sciatica"}),  # lumbago with sciatica: both
        # the most specific value set wins: shoulder / knee pain, not the broader M25.5 joint pain
        ("M25.511", {"shoulder-impingement"}),
        ("M25.561", {"knee-pain"}),
        ("M25.571", {"myofascial-pain"}),  # ankle joint pain: only the broad M25.5
        ("M50.20", {"neck-pain"}),  # cervical disc disorder, excluded from M54.2 but accepted
        ("R51.9", {"headache-migraine"}),
        ("G44.209", {"headache-migraine"}),
        ("S76.311D", {"hamstring-strain"}),  # 7th character ignored
        ("S93.402S", {"ankle-sprain"}),
        ("M16.11", {"osteoarthritis"}),
        ("M47.816", {"osteoarthritis"}),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_icd_hierarchy_and_overlaps(code: str, expected: set[str], knowledge: Knowledge) -> None:
    record = patient_record(condition(concept(icd(code))))
    assert _keys(find_indications(None, record, knowledge, TODAY)) == expected


@pytest.mark.parametrize(
    ("code", "display"),
    [
        pytest.param("R51", "Headache", id="r51-split-fy2021"),
        pytest.param("M54.5", "Low back pain", id="m54-5-split-fy2022"),
        pytest.param("M79.1", "Myalgia", id="m79-1-split-fy2023"),
    ],
)
def test_pre_split_parent_codes_still_match_by_prefix(code: str, display: str, knowledge: Knowledge) -> None:
    """Older records carry codes that were later split into children; they still count."""
    record = patient_record(condition(concept(icd(code, display))))
    assert len(find_indications(None, record, knowledge, TODAY).matches) == 1


@pytest.mark.parametrize(
    "code",
    [
        pytest.param(
            coding(SNOMED, "M54.2", "Cervicalgia"), id="icd-code-with-snomed-system"
        ),  # right code, wrong system
        pytest.param(
            coding(ICD10CM, "81680005", "Neck pain"), id="snomed-code-with-icd-system"
        ),  # SNOMED id under the ICD system
        pytest.param(coding("http://loinc.org", "M54.2"), id="icd-code-with-loinc-system"),
        pytest.param({"code": "M54.2", "display": "Cervicalgia"}, id="no-system"),  # no system at all
        pytest.param(icd("M54", "Dorsalgia"), id="broader-parent-m54"),  # parent broader than the value set
        pytest.param(icd("Z00.00", "General adult medical examination"), id="unrelated-z00"),
        pytest.param(icd("M79.604", "Pain in right leg"), id="m79-604-myofascial-only"),
    ],
)
def test_wrong_system_or_code_does_not_match_neck_pain(code: dict[str, Any], knowledge: Knowledge) -> None:
    record = patient_record(condition(concept(code)))
    assert "neck-pain" not in _keys(find_indications(None, record, knowledge, TODAY))


@pytest.mark.parametrize(
    "system",
    [
        pytest.param(ICD10CM, id="canonical"),
        pytest.param(ICD10CM_OID, id="oid"),
        pytest.param(ICD10CM + "/", id="trailing-slash"),
        pytest.param("2.16.840.1.113883.6.90", id="bare-oid"),
        pytest.param("http://hl7.org/fhir/sid/ICD-10-CM", id="upper-case"),
        pytest.param("http://hl7.org/fhir/sid/icd-10", id="who-icd-10"),
        pytest.param("urn:oid:2.16.840.1.113883.6.3", id="who-icd-10-oid"),
    ],
)
def test_icd_system_aliases_match(system: str, knowledge: Knowledge) -> None:
    record = patient_record(condition(concept(icd("M54.2", "Cervicalgia", system=system))))
    result = find_indications(None, record, knowledge, TODAY)
    assert _keys(result) == {"neck-pain"}
    assert result.matches[0].system == ICD10CM  # reported with the canonical system


def test_every_coding_is_checked_not_only_the_first(knowledge: Knowledge) -> None:
    code = concept(
        coding("https://ehr.example.org/fhir/CodeSystem/problems", "NECK-12", "Neck pain"),
        sct("81680005", "Neck pain"),
    )
    result = find_indications(None, patient_record(condition(code)), knowledge, TODAY)
    assert [(m.key, m.code) for m in result.matches] == [("neck-pain", "81680005")]


def test_a_condition_coded_in_icd_and_snomed_is_named_once(knowledge: Knowledge) -> None:
    """Reviewer report: M54.2 + SNOMED 81680005 on one Condition listed that Condition twice."""
    code = concept(
        coding("https://ehr.example.org/fhir/CodeSystem/problems", "NECK-12", "Neck pain"),
        icd("M54.2", "Cervicalgia"),
        sct("81680005", "Neck pain"),
    )
    result = find_indications(None, patient_record(condition(code, id="neck")), knowledge, TODAY)
    matches = [(m.key, m.code, m.reference) for m in result.matches]
    assert matches == [("neck-pain", "M54.2", "Condition/neck")]


def test_two_conditions_of_one_key_are_each_named(knowledge: Knowledge) -> None:
    record = patient_record(
        condition(concept(icd("M54.2", "Cervicalgia"), sct("81680005", "Neck pain")), id="neck-1"),
        condition(concept(sct("81680005", "Neck pain")), id="neck-2"),
        condition(concept(icd("M54.50", "Low back pain, unspecified")), id="back"),
    )
    result = find_indications(None, record, knowledge, TODAY)
    assert [(m.key, m.reference) for m in result.matches] == [
        ("neck-pain", "Condition/neck-1"),
        ("neck-pain", "Condition/neck-2"),
        ("low-back-pain", "Condition/back"),
    ]


@pytest.mark.parametrize(
    ("kwargs", "fires"),
    [
        pytest.param({"clinical_status": "active"}, True, id="active-problem"),
        pytest.param(
            {"clinical_status": "resolved", "abatement": days_ago(30)}, False, id="resolved-problem"
        ),
        pytest.param({"clinical_status": "inactive"}, False, id="inactive-problem"),
        pytest.param({"verification_status": "refuted"}, False, id="refuted-problem"),
    ],
)
def test_problem_list_counts_only_active(kwargs: dict[str, Any], fires: bool, knowledge: Knowledge) -> None:
    record = patient_record(condition(concept(icd("M79.7", "Fibromyalgia")), **kwargs))
    assert bool(find_indications(None, record, knowledge, TODAY).matches) is fires


# --- the order's own reason ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        pytest.param(concept(icd("M54.2", "Cervicalgia")), {"neck-pain"}, id="icd"),
        pytest.param(concept(sct("279039007", "Low back pain")), {"low-back-pain"}, id="snomed"),
        pytest.param(
            concept(icd("m7918", "Myalgia, other site")), {"myofascial-pain"}, id="undotted-lower-case"
        ),
        pytest.param(concept(icd("M77.11", system=ICD10CM_OID)), {"lateral-epicondylitis"}, id="icd-oid"),
        pytest.param(concept(coding(SNOMED, "M54.2")), set(), id="wrong-system"),
        pytest.param(
            concept(icd("J45.909", "Unspecified asthma, uncomplicated")), set(), id="non-indication"
        ),
    ],
)
def test_order_reason_code(reason: dict[str, Any], expected: set[str], knowledge: Knowledge) -> None:
    order = _order(knowledge, reason_codes=[reason])
    result = find_indications(order, patient_record(), knowledge, TODAY)
    assert _keys(result) == expected
    assert all(m.origin == "order reason" and m.reference == "ServiceRequest/dn-1" for m in result.matches)
    assert result.unrecognised == ()


@pytest.mark.parametrize(
    ("problem_kwargs", "expected"),
    [
        pytest.param({}, {"plantar-fasciitis"}, id="active"),
        pytest.param({"clinical_status": None}, {"plantar-fasciitis"}, id="no-clinical-status"),
        pytest.param({"verification_status": "entered-in-error"}, set(), id="entered-in-error"),
        pytest.param({"verification_status": "refuted"}, set(), id="refuted"),
    ],
)
def test_order_reason_reference(
    problem_kwargs: dict[str, Any], expected: set[str], knowledge: Knowledge
) -> None:
    problem = condition(concept(icd("M72.2", "Plantar fascial fibromatosis")), id="pf-7", **problem_kwargs)
    order = _order(knowledge, reason_references=["Condition/pf-7"])
    result = find_indications(order, patient_record(problem), knowledge, TODAY)
    assert _keys(result) == expected
    assert all(m.reference == "Condition/pf-7" for m in result.matches)


def test_order_reason_reference_to_resolved_problem_counts(knowledge: Knowledge) -> None:
    """The ordering clinician named the problem, so it counts even when no longer on the active list."""
    problem = condition(
        concept(icd("M72.2", "Plantar fascial fibromatosis")),
        id="pf-8",
        clinical_status="resolved",
        abatement=days_ago(20),
    )
    order = _order(knowledge, reason_references=["https://ehr.example.org/fhir/Condition/pf-8/_history/3"])
    result = find_indications(order, patient_record(problem), knowledge, TODAY)
    assert [(m.key, m.origin) for m in result.matches] == [("plantar-fasciitis", "order reason")]


@pytest.mark.parametrize(
    "reference",
    [
        pytest.param("Condition/not-in-record", id="missing-condition"),
        pytest.param("Observation/pf-9", id="not-a-condition"),
        pytest.param("#contained-1", id="contained-reference"),
    ],
)
def test_order_reason_reference_not_resolvable(reference: str, knowledge: Knowledge) -> None:
    problem = condition(concept(icd("M72.2")), id="pf-9", clinical_status="resolved")
    order = _order(knowledge, reason_references=[reference])
    assert find_indications(order, patient_record(problem), knowledge, TODAY).matches == ()


def test_order_reason_comes_before_problem_list(knowledge: Knowledge) -> None:
    order = _order(knowledge, reason_codes=[concept(icd("M77.11", "Lateral epicondylitis, right elbow"))])
    record = patient_record(condition(concept(icd("M54.2", "Cervicalgia")), id="c-2"))
    result = find_indications(order, record, knowledge, TODAY)
    assert [(m.key, m.origin) for m in result.matches] == [
        ("lateral-epicondylitis", "order reason"),
        ("neck-pain", "problem list"),
    ]


def test_same_code_from_reason_and_problem_reported_once(knowledge: Knowledge) -> None:
    order = _order(knowledge, reason_references=["Condition/c-3"])
    record = patient_record(condition(concept(icd("M54.2", "Cervicalgia")), id="c-3"))
    result = find_indications(order, record, knowledge, TODAY)
    assert [(m.key, m.code, m.origin) for m in result.matches] == [("neck-pain", "M54.2", "order reason")]


# --- text-only reasons and problems -------------------------------------------------------------------


def test_text_only_order_reason_reported_unrecognised(knowledge: Knowledge) -> None:
    order = _order(knowledge, reason_codes=[text_only("Neck pain")])
    result = find_indications(order, patient_record(), knowledge, TODAY)
    assert result.matches == ()
    assert result.unrecognised == ("order reason 'Neck pain' (no code)",)


def test_text_only_problem_reported_unrecognised(knowledge: Knowledge) -> None:
    record = patient_record(condition(text_only("Chronic low back pain"), id="c-text"))
    result = find_indications(None, record, knowledge, TODAY)
    assert result.matches == ()
    assert result.unrecognised == ("problem 'Chronic low back pain' (no code)",)


def test_inactive_text_only_problem_not_reported(knowledge: Knowledge) -> None:
    record = patient_record(condition(text_only("Chronic low back pain"), clinical_status="resolved"))
    assert find_indications(None, record, knowledge, TODAY).unrecognised == ()


def test_coded_non_indication_is_not_unrecognised(knowledge: Knowledge) -> None:
    """A coded problem that is simply not an indication is neither a match nor 'unrecognised'."""
    record = patient_record(
        condition(concept(icd("E11.9", "Type 2 diabetes mellitus without complications")))
    )
    result = find_indications(None, record, knowledge, TODAY)
    assert (result.matches, result.unrecognised) == ((), ())


@pytest.mark.parametrize(
    ("reason", "problem", "code", "unrecognised"),
    [
        pytest.param(concept(icd("M54.2", "Cervicalgia")), None, "indication-found", (), id="coded-reason"),
        pytest.param(None, concept(icd("M54.2", "Cervicalgia")), "indication-found", (), id="coded-problem"),
        pytest.param(
            text_only("Neck pain"),
            None,
            "no-indication-found",
            ("order reason 'Neck pain' (no code)",),
            id="text-reason",
        ),
        pytest.param(
            None,
            text_only("Neck pain"),
            "no-indication-found",
            ("problem 'Neck pain' (no code)",),
            id="text-problem",
        ),
        pytest.param(
            text_only("Neck pain"),
            concept(icd("M54.2", "Cervicalgia")),
            "indication-found",
            ("order reason 'Neck pain' (no code)",),
            id="text-reason-coded-problem",
        ),
        pytest.param(None, None, "no-indication-found", (), id="nothing"),
    ],
)
def test_indication_finding_through_evaluate_orders(
    reason: dict[str, Any] | None,
    problem: dict[str, Any] | None,
    code: str,
    unrecognised: tuple[str, ...],
    knowledge: Knowledge,
) -> None:
    order = _order(knowledge, reason_codes=[reason] if reason else [])
    record = patient_record(condition(problem)) if problem else patient_record()
    findings = evaluate_orders([order], record, knowledge, TODAY)
    [indication] = [f for f in findings if f.code in {"indication-found", "no-indication-found"}]
    assert indication.code == code
    assert indication.order_references == ("ServiceRequest/dn-1",)
    assert indication.unrecognised == unrecognised
    if code == "indication-found":
        assert [(m.key, m.code) for m in indication.indications] == [("neck-pain", "M54.2")]
        assert indication.facts["indications"]


# --- reasons contained in the order (regression: a '#id' reasonReference was reported as "not sent") --------


def _with_contained(order: dict[str, Any], *conditions: dict[str, Any]) -> dict[str, Any]:
    order["contained"] = list(conditions)
    return order


def test_contained_reason_condition_is_matched(knowledge: Knowledge) -> None:
    reason = condition(concept(icd("M77.11", "Lateral epicondylitis, right elbow")), id="r1")
    del reason["subject"]
    resource = _with_contained(dry_needling_order(id="dn-1", reason_references=["#r1"]), reason)
    [order] = find_dry_needling_orders(draft_orders(resource), knowledge)
    result = find_indications(order, patient_record(), knowledge, TODAY)
    assert _keys(result) == {"lateral-epicondylitis"}
    [match] = result.matches
    assert (match.origin, match.reference) == ("order reason", "ServiceRequest/dn-1")
    assert result.unrecognised == ()


def test_contained_reason_entered_in_error_does_not_count(knowledge: Knowledge) -> None:
    reason = condition(concept(icd("M77.11")), id="r1", verification_status="entered-in-error")
    resource = _with_contained(dry_needling_order(id="dn-1", reason_references=["#r1"]), reason)
    [order] = find_dry_needling_orders(draft_orders(resource), knowledge)
    assert find_indications(order, patient_record(), knowledge, TODAY).matches == ()


@pytest.mark.parametrize("target", ["#other", "#", "#r1"])
def test_local_reference_without_a_contained_condition_is_reported(target: str, knowledge: Knowledge) -> None:
    not_a_condition = {"resourceType": "Observation", "id": "r1", "status": "final", "code": text_only("x")}
    resource = _with_contained(dry_needling_order(id="dn-1", reason_references=[target]), not_a_condition)
    [order] = find_dry_needling_orders(draft_orders(resource), knowledge)
    result = find_indications(order, patient_record(), knowledge, TODAY)
    assert result.matches == ()
    assert result.unrecognised == (f"order reason {target} (not in the patient data sent)",)


def test_indication_card_names_a_doubly_coded_condition_once(knowledge: Knowledge) -> None:
    """The card detail and its dn-cds.indications extension list the neck-pain Condition once, not once
    per coding (M54.2 and SNOMED 81680005)."""
    record = patient_record(
        condition(concept(icd("M54.2", "Cervicalgia"), sct("81680005", "Neck pain")), id="neck"),
    )
    findings = evaluate_patient(record, knowledge, TODAY)
    context = CardContext(
        hook_instance="d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        finding_system=knowledge.finding_system,
        finding_displays={code: d.display for code, d in knowledge.findings.items()},
        knowledge_version=knowledge.version,
    )
    cards = build_cards(findings, {}, context, load_card_wording(knowledge.findings))
    [card] = [c for c in cards if c["source"]["topic"]["code"] == "indication-found"]
    assert card["detail"].count("Cervicalgia (ICD-10-CM M54.2), from the problem list") == 1
    assert "Condition/neck" not in card["detail"]  # the reference is in the extension
    extension = card["extension"]
    assert [(i["key"], i["reference"]) for i in extension[EXTENSION_INDICATIONS]] == [
        ("neck-pain", "Condition/neck")
    ]
    assert extension.get(EXTENSION_EVIDENCE, []).count("Condition/neck") <= 1
