"""Builders for realistic FHIR R4 JSON (plain dicts, as an EHR sends them) for the rule tests.

Shapes follow US Core / IPS conventions: coded clinicalStatus/verificationStatus with their HL7 systems,
categories, subject references, full dateTimes with offsets, UCUM quantities. Every date is built relative
to ``TODAY``, the suite's one date (tests/support/clock.py), which the rule tests also pass as ``today``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

from fhir_mappings import PatientRecord
from support.clock import TODAY
from support.fhir_types import Json

PATIENT_ID = "pat-8841"

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10CM_OID = "urn:oid:2.16.840.1.113883.6.90"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
CPT = "http://www.ama-assn.org/go/cpt"
CPT_OID = "urn:oid:2.16.840.1.113883.6.12"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
MCODE_LATERALITY = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-laterality-qualifier"


# architecture.md section 5, "indication keys (in the extension)": the contract, typed out on purpose.
INDICATION_KEYS = [
    "headache-migraine",
    "neck-pain",
    "lateral-epicondylitis",
    "medial-epicondylitis",
    "shoulder-impingement",
    "low-back-pain",
    "itb-syndrome",
    "piriformis-syndrome",
    "sciatica",
    "trochanteric-bursitis",
    "hamstring-strain",
    "groin-strain",
    "ankle-sprain",
    "plantar-fasciitis",
    "carpal-tunnel",
    "fibromyalgia",
    "osteoarthritis",
    "shin-splints",
    "knee-pain",
    "myofascial-pain",
]


_ids = itertools.count(1)


def days_ago(days: int) -> date:
    """The calendar date ``days`` before ``TODAY`` (negative -> in the future)."""
    return TODAY - timedelta(days=days)


def days_ahead(days: int) -> date:
    """The calendar date ``days`` after ``TODAY``."""
    return TODAY + timedelta(days=days)


def fhir_datetime(day: date) -> str:
    """A full FHIR dateTime on ``day``, with a time and a UTC offset, as EHRs send them."""
    return f"{day.isoformat()}T09:30:00-05:00"


def _next_id(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


# --- codings and concepts -----------------------------------------------------------------------------


def coding(system: str, code: str, display: str | None = None) -> Json:
    """One Coding."""
    result: Json = {"system": system, "code": code}
    if display:
        result["display"] = display
    return result


def icd(code: str, display: str | None = None, system: str = ICD10CM) -> Json:
    """An ICD-10-CM Coding."""
    return coding(system, code, display)


def sct(code: str, display: str | None = None) -> Json:
    """A SNOMED CT Coding."""
    return coding(SNOMED, code, display)


def loinc(code: str, display: str | None = None) -> Json:
    """A LOINC Coding."""
    return coding(LOINC, code, display)


def cpt(code: str, display: str | None = None, system: str = CPT) -> Json:
    """A CPT Coding."""
    return coding(system, code, display)


def concept(*codings: Json, text: str | None = None) -> Json:
    """A CodeableConcept with these codings (and text)."""
    result: Json = {}
    if codings:
        result["coding"] = list(codings)
    if text:
        result["text"] = text
    return result


def text_only(text: str) -> Json:
    """A CodeableConcept carrying only free text."""
    return {"text": text}


def laterality_extension(side_code: str, display: str | None = None, url: str = MCODE_LATERALITY) -> Json:
    """An mCODE-style laterality extension (valueCodeableConcept with a SNOMED qualifier)."""
    return {"url": url, "valueCodeableConcept": concept(sct(side_code, display))}


def body_site(*codings: Json, text: str | None = None, extensions: Iterable[Json] = ()) -> Json:
    """A bodySite CodeableConcept, optionally with laterality extensions on it."""
    result = concept(*codings, text=text)
    extension_list = list(extensions)
    if extension_list:
        result["extension"] = extension_list
    return result


# --- Condition ----------------------------------------------------------------------------------------


def condition(
    code: Json,
    *,
    id: str | None = None,  # noqa: A002 - mirrors the FHIR element name
    clinical_status: str | None = "active",
    verification_status: str | None = "confirmed",
    onset: date | None = None,
    recorded: date | None = None,
    abatement: date | None = None,
    abatement_period_end: date | None = None,
    body_sites: Iterable[Json] = (),
    category: str = "problem-list-item",
    patient_id: str = PATIENT_ID,
) -> Json:
    """A US Core Condition (problem-list item by default)."""
    resource: Json = {
        "resourceType": "Condition",
        "id": id or _next_id("cond"),
        "meta": {
            "profile": [
                "http://hl7.org/fhir/us/core/StructureDefinition/us-core-condition-problems-health-concerns"
            ]
        },
        "category": [concept(coding(CONDITION_CATEGORY, category))],
        "code": code,
        "subject": {"reference": f"Patient/{patient_id}"},
    }
    if clinical_status is not None:
        resource["clinicalStatus"] = concept(coding(CONDITION_CLINICAL, clinical_status))
    if verification_status is not None:
        resource["verificationStatus"] = concept(coding(CONDITION_VERIFICATION, verification_status))
    if onset is not None:
        resource["onsetDateTime"] = fhir_datetime(onset)
    if recorded is not None:
        resource["recordedDate"] = fhir_datetime(recorded)
    if abatement is not None:
        resource["abatementDateTime"] = fhir_datetime(abatement)
    if abatement_period_end is not None:
        resource["abatementPeriod"] = {"end": fhir_datetime(abatement_period_end)}
    sites = list(body_sites)
    if sites:
        resource["bodySite"] = sites
    return resource


def icd_condition(code: str, display: str | None = None, **kwargs: Any) -> Json:
    """A Condition coded with one ICD-10-CM code."""
    return condition(concept(icd(code, display), text=display), **kwargs)


# --- Observation --------------------------------------------------------------------------------------


def observation(
    code: Json,
    *,
    id: str | None = None,  # noqa: A002 - mirrors the FHIR element name
    status: str = "final",
    effective: date | None = None,
    category: str = "social-history",
    value: Mapping[str, Any] | None = None,
    components: Iterable[Json] = (),
    profile: str | None = None,
    patient_id: str = PATIENT_ID,
) -> Json:
    """An Observation; ``value`` is the value[x] element, e.g. ``{"valueDateTime": "2027-05-01"}``."""
    resource: Json = {
        "resourceType": "Observation",
        "id": id or _next_id("obs"),
        "status": status,
        "category": [concept(coding(OBSERVATION_CATEGORY, category))],
        "code": code,
        "subject": {"reference": f"Patient/{patient_id}"},
    }
    if profile:
        resource["meta"] = {"profile": [profile]}
    if effective is not None:
        resource["effectiveDateTime"] = fhir_datetime(effective)
    if value:
        resource.update(value)
    component_list = list(components)
    if component_list:
        resource["component"] = component_list
    return resource


PREGNANT_SCT = sct("77386006", "Pregnant")
NOT_PREGNANT_SCT = sct("60001007", "Not pregnant")
POSSIBLE_PREGNANCY_SCT = sct("146799005", "Possible pregnancy")
PREGNANCY_NOT_CONFIRMED_SCT = sct("152231000119106", "Pregnancy not yet confirmed")
PREGNANT_LOINC = loinc("LA15173-0", "Pregnant")
NOT_PREGNANT_LOINC = loinc("LA26683-5", "Not pregnant")
UNKNOWN_LOINC = loinc("LA4489-6", "Unknown")


def pregnancy_status(answer: Json, effective: date, **kwargs: Any) -> Json:
    """US Core Observation Pregnancy Status (LOINC 82810-3)."""
    return observation(
        concept(loinc("82810-3", "Pregnancy status")),
        effective=effective,
        value={"valueCodeableConcept": concept(answer)},
        profile="http://hl7.org/fhir/us/core/StructureDefinition/us-core-observation-pregnancystatus",
        **kwargs,
    )


def pregnancy_intent(answer: Json, effective: date, **kwargs: Any) -> Json:
    """US Core Observation Pregnancy Intent (LOINC 86645-9): never pregnancy status."""
    return observation(
        concept(loinc("86645-9", "Pregnancy intention in the next year - Reported")),
        effective=effective,
        value={"valueCodeableConcept": concept(answer)},
        profile="http://hl7.org/fhir/us/core/StructureDefinition/us-core-observation-pregnancyintent",
        **kwargs,
    )


def estimated_due_date(due: date, effective: date | None, loinc_code: str = "11778-8", **kwargs: Any) -> Json:
    """IPS Observation Pregnancy EDD (valueDateTime is a date)."""
    return observation(
        concept(loinc(loinc_code, "Delivery date Estimated")),
        effective=effective,
        category="exam",
        value={"valueDateTime": due.isoformat()},
        **kwargs,
    )


def gestational_age(
    value: float, unit: str, effective: date, loinc_code: str = "11884-4", **kwargs: Any
) -> Json:
    """A gestational-age Observation with a UCUM valueQuantity (``wk`` or ``d``)."""
    return observation(
        concept(loinc(loinc_code, "Gestational age Estimated")),
        effective=effective,
        category="exam",
        value={"valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit}},
        **kwargs,
    )


def gestational_age_components(weeks: int, days: int, effective: date, **kwargs: Any) -> Json:
    """A gestational-age Observation sent as weeks + days components (no value[x])."""
    return observation(
        concept(loinc("18185-9", "Gestational age")),
        effective=effective,
        category="exam",
        components=[
            {
                "code": concept(loinc("49051-6", "Gestational age in weeks")),
                "valueQuantity": {"value": weeks, "unit": "wk", "system": UCUM, "code": "wk"},
            },
            {
                "code": concept(loinc("49052-4", "Gestational age in days")),
                "valueQuantity": {"value": days, "unit": "d", "system": UCUM, "code": "d"},
            },
        ],
        **kwargs,
    )


def last_menstrual_period(lmp: date, effective: date | None, **kwargs: Any) -> Json:
    """LOINC 8665-2 Last menstrual period start date."""
    return observation(
        concept(loinc("8665-2", "Last menstrual period start date")),
        effective=effective,
        category="exam",
        value={"valueDateTime": lmp.isoformat()},
        **kwargs,
    )


# --- orders ------------------------------------------------------------------------------------------


def service_request(
    *codings: Json,
    id: str | None = None,  # noqa: A002 - mirrors the FHIR element name
    text: str | None = "Dry needling",
    body_sites: Iterable[Json] = (),
    reason_codes: Iterable[Json] = (),
    reason_references: Iterable[str] = (),
    patient_id: str = PATIENT_ID,
) -> Json:
    """A draft ServiceRequest, as in a CDS Hooks ``draftOrders`` Bundle."""
    resource: Json = {
        "resourceType": "ServiceRequest",
        "id": id or _next_id("sr"),
        "status": "draft",
        "intent": "order",
        "category": [concept(sct("386053000", "Evaluation procedure"))],
        "code": concept(*codings, text=text),
        "subject": {"reference": f"Patient/{patient_id}"},
        "authoredOn": fhir_datetime(TODAY),
        "requester": {"reference": "Practitioner/pt-201"},
    }
    sites = list(body_sites)
    if sites:
        resource["bodySite"] = sites
    reasons = list(reason_codes)
    if reasons:
        resource["reasonCode"] = reasons
    references = list(reason_references)
    if references:
        resource["reasonReference"] = [{"reference": ref} for ref in references]
    return resource


def dry_needling_order(
    cpt_code: str = "20560",
    *,
    id: str | None = None,  # noqa: A002 - mirrors the FHIR element name
    cpt_system: str = CPT,
    **kwargs: Any,
) -> Json:
    """A draft dry-needling ServiceRequest (CPT 20560: 1-2 muscles; 20561: 3 or more)."""
    display = "Needle insertion(s) without injection(s); 1 or 2 muscle(s)"
    if cpt_code == "20561":
        display = "Needle insertion(s) without injection(s); 3 or more muscles"
    return service_request(cpt(cpt_code, display, cpt_system), id=id, **kwargs)


def medication_request(
    rxnorm_code: str,
    display: str,
    *,
    id: str | None = None,  # noqa: A002 - mirrors the FHIR element name
    patient_id: str = PATIENT_ID,
) -> Json:
    """A draft MedicationRequest."""
    return {
        "resourceType": "MedicationRequest",
        "id": id or _next_id("mr"),
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": concept(coding(RXNORM, rxnorm_code, display), text=display),
        "subject": {"reference": f"Patient/{patient_id}"},
        "authoredOn": fhir_datetime(TODAY),
    }


def draft_orders(
    *resources: Json,
    bundle_type: str | None = "collection",
    base_url: str = "https://ehr.example.org/fhir",
) -> Json:
    """A ``draftOrders`` Bundle; each entry's ``fullUrl`` is an absolute URL (not ``Type/id``)."""
    bundle: Json = {
        "resourceType": "Bundle",
        "entry": [{"fullUrl": f"{base_url}/{r['resourceType']}/{r['id']}", "resource": r} for r in resources],
    }
    if bundle_type is not None:
        bundle["type"] = bundle_type
    return bundle


# --- the patient record -------------------------------------------------------------------------------


def patient_record(*resources: Json, patient_id: str = PATIENT_ID) -> PatientRecord:
    """A PatientRecord holding these Conditions, Observations, medications, Procedures and allergies."""
    return PatientRecord(
        patient_id=patient_id,
        conditions=tuple(r for r in resources if r["resourceType"] == "Condition"),
        observations=tuple(r for r in resources if r["resourceType"] == "Observation"),
        medication_requests=tuple(r for r in resources if r["resourceType"] == "MedicationRequest"),
        medication_statements=tuple(r for r in resources if r["resourceType"] == "MedicationStatement"),
        medications=tuple(r for r in resources if r["resourceType"] == "Medication"),
        procedures=tuple(r for r in resources if r["resourceType"] == "Procedure"),
        allergy_intolerances=tuple(r for r in resources if r["resourceType"] == "AllergyIntolerance"),
    )


# --- medications and labs (bleeding rules) --------------------------------------------------------------


def medication(
    medication_concept: Json | None,
    *,
    resource_type: str = "MedicationRequest",
    status: str = "active",
    id: str | None = None,  # noqa: A002 - mirrors the FHIR element name
    recorded: date | None = None,
    patient_id: str = PATIENT_ID,
    **extra: Any,
) -> Json:
    """A current MedicationRequest (outpatient order) or MedicationStatement (medication list entry)."""
    resource: Json = {
        "resourceType": resource_type,
        "id": id or _next_id("med"),
        "status": status,
        "subject": {"reference": f"Patient/{patient_id}"},
    }
    if resource_type == "MedicationRequest":
        resource["intent"] = "order"
        resource["authoredOn"] = fhir_datetime(recorded or days_ago(40))
    else:
        resource["dateAsserted"] = fhir_datetime(recorded or days_ago(40))
    if medication_concept is not None:
        resource["medicationCodeableConcept"] = medication_concept
    resource.update(extra)
    return resource


def rxnorm(code: str, display: str | None = None) -> Json:
    """An RxNorm Coding."""
    return coding(RXNORM, code, display)


def lab_result(
    loinc_code: str,
    value: float | None,
    unit: str | None,
    *,
    effective: date,
    display: str | None = None,
    code: str | None = "same",
    comparator: str | None = None,
    **kwargs: Any,
) -> Json:
    """A lab Observation with a valueQuantity (``unit`` printable; ``code`` UCUM, ``"same"`` = unit)."""
    quantity: Json = {}
    if value is not None:
        quantity["value"] = value
    if comparator:
        quantity["comparator"] = comparator
    if unit is not None:
        quantity["unit"] = unit
    ucum_code = unit if code == "same" else code
    if ucum_code is not None:
        quantity["system"] = UCUM
        quantity["code"] = ucum_code
    return observation(
        concept(loinc(loinc_code, display)),
        effective=effective,
        category="laboratory",
        value={"valueQuantity": quantity},
        **kwargs,
    )


def no_data_prefetch(**given: Json | None) -> dict[str, Json | None]:
    """Every prefetch key the services ask for, answered ``null`` ("the EHR has no data"), except ``given``.

    Built from the catalog, so a new prefetch key never needs editing into each test body.
    """
    from cds_service.catalog import load_catalog

    keys = dict.fromkeys(key for service in load_catalog().services for key in service.prefetch)
    unknown = set(given) - set(keys)
    if unknown:
        raise KeyError(f"not a prefetch key of any service: {sorted(unknown)}")
    return {key: given.get(key) for key in keys}
