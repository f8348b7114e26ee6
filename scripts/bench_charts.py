"""Generated patient charts for the benchmarks (synthetic; no real people): realistic shapes at any size.

A chart is the ``eligible`` demo patient (45-year-old woman, low back pain, recent "not pregnant" status,
lumbar dry-needling order) plus ``size`` generated resources in the proportions of a primary-care chart:
vital signs (not selected by any prefetch template: the EHR filters them out, as it would), labs (platelets,
INR, haemoglobin, creatinine, glucose), many Conditions (chronic problems, resolved and entered-in-error
ones, encounter diagnoses, ICD-10-CM and SNOMED CT codings), medications (requests and statements), pregnancy
observations (old negative hCG tests and "not pregnant" statuses) and procedures. Generation is seeded, so a
size always gives the same chart; dates are relative to ``today``.

    from bench_charts import chart_patient, hook_body
    patient = chart_patient(200, today)        # a DemoPatient with ~200 chart resources
    body = hook_body(patient, "order-select")  # the hook call an EHR would send, prefetch filled
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from cds_service.catalog import load_catalog
from cds_service.demo import DemoPatient, build_hook_request, load_demo_patients

ICD = "http://hl7.org/fhir/sid/icd-10-cm"
SCT = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"

# (ICD-10-CM, SNOMED CT, display): chronic and episodic problems with no dry-needling contraindication.
_PROBLEMS = [
    ("I10", "38341003", "Essential hypertension"),
    ("E11.9", "44054006", "Type 2 diabetes mellitus without complications"),
    ("E78.5", "55822004", "Hyperlipidemia"),
    ("J45.909", "195967001", "Asthma"),
    ("K21.9", "235595009", "Gastro-esophageal reflux disease"),
    ("F41.1", "21897009", "Generalized anxiety disorder"),
    ("F32.A", "35489007", "Depression"),
    ("E03.9", "40930008", "Hypothyroidism"),
    ("G43.909", "37796009", "Migraine"),
    ("J30.9", "61582004", "Allergic rhinitis"),
    ("M17.11", "239873007", "Primary osteoarthritis, right knee"),
    ("E66.9", "414916001", "Obesity"),
    ("N39.0", "68566005", "Urinary tract infection"),
    ("J06.9", "54150009", "Acute upper respiratory infection"),
    ("R51.9", "25064002", "Headache"),
    ("M54.2", "81680005", "Cervicalgia"),
    ("M79.10", "68962001", "Myalgia"),
    ("G47.00", "193462001", "Insomnia"),
    ("K58.9", "10743008", "Irritable bowel syndrome"),
    ("Z79.899", None, "Other long term (current) drug therapy"),
]
_VITALS = [
    ("8867-4", "Heart rate", "/min", 55, 95),
    ("9279-1", "Respiratory rate", "/min", 12, 20),
    ("8310-5", "Body temperature", "Cel", 36.2, 37.4),
    ("29463-7", "Body weight", "kg", 60, 80),
    ("8302-2", "Body height", "cm", 160, 170),
    ("39156-5", "Body mass index", "kg/m2", 21, 29),
    ("59408-5", "Oxygen saturation by pulse oximetry", "%", 95, 100),
]
# (LOINC, display, UCUM unit, low, high): normal results, so the generated labs add work but no finding.
_LABS = [
    ("777-3", "Platelets [#/volume] in Blood by Automated count", "10*3/uL", 180, 380),
    ("6301-6", "INR in Platelet poor plasma by Coagulation assay", "{INR}", 0.9, 1.1),
    ("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 12.0, 15.0),
    ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", 0.6, 1.0),
    ("2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL", 75, 105),
]
_MEDICATIONS = [
    ("314076", "lisinopril 10 MG Oral Tablet"),
    ("860975", "metformin hydrochloride 500 MG Oral Tablet"),
    ("617312", "atorvastatin 20 MG Oral Tablet"),
    ("966222", "levothyroxine sodium 0.05 MG Oral Tablet"),
    ("745679", "albuterol 0.09 MG/ACTUAT Metered Dose Inhaler"),
    ("310429", "furosemide 20 MG Oral Tablet"),
    ("312940", "sertraline 50 MG Oral Tablet"),
    ("198211", "simvastatin 40 MG Oral Tablet"),
]
_PROCEDURES = [  # not hysterectomies: the prefetch code filter leaves these out, as a real server would
    ("80146002", "Appendectomy"),
    ("73761001", "Colonoscopy"),
    ("274025005", "Colonic polypectomy"),
]
# Share of generated resources by kind (sums to 1): vitals dominate real charts.
_MIX = [
    ("vital", 0.35),
    ("lab", 0.20),
    ("condition", 0.25),
    ("medication_request", 0.08),
    ("medication_statement", 0.05),
    ("pregnancy", 0.04),
    ("procedure", 0.03),
]
_SECURITY = {"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HTEST"}]}


def chart_patient(size: int, today: date, seed: int = 14) -> DemoPatient:
    """The eligible demo patient with ``size`` generated chart resources added (deterministic per size)."""
    base = next(p for p in load_demo_patients(today) if p.slug == "eligible")
    rng = random.Random(seed * 1_000_003 + size)  # noqa: S311 - synthetic data, reproducible per size
    patient_ref = f"Patient/{base.patient_id}"
    counts = {kind: int(size * share) for kind, share in _MIX}
    counts["vital"] += size - sum(counts.values())
    generated: list[dict[str, Any]] = []
    for kind, count in counts.items():
        for index in range(count):
            when = today - timedelta(days=rng.randint(1, 3650))
            resource = _BUILDERS[kind](rng, when, patient_ref)
            resource["id"] = f"{base.patient_id}-{kind.replace('_', '-')}-{index}"
            resource["meta"] = _SECURITY
            generated.append(resource)
    return replace(base, slug=f"chart-{size}", resources=(*base.resources, *generated))


def hook_body(patient: DemoPatient, hook: str = "order-select", with_prefetch: bool = True) -> dict[str, Any]:
    """The hook call body for ``patient`` (prefetch answered from its chart by the service's templates)."""
    service = next(s for s in load_catalog().services if s.hook == hook)
    return build_hook_request(patient, service, with_prefetch=with_prefetch)


def service_id(hook: str = "order-select") -> str:
    """The id of the service for ``hook``."""
    return next(s for s in load_catalog().services if s.hook == hook).id


def _concept(system: str, code: str, display: str, text: str | None = None) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": text or display}


def _observation(
    rng: random.Random, when: date, patient_ref: str, category: str, code: str, display: str
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": rng.choice(["final"] * 9 + ["amended"]),
        "category": [
            _concept("http://terminology.hl7.org/CodeSystem/observation-category", category, category)
        ],
        "code": _concept(LOINC, code, display),
        "subject": {"reference": patient_ref},
        "effectiveDateTime": f"{when.isoformat()}T09:{rng.randint(10, 59)}:00-05:00",
        "issued": f"{when.isoformat()}T11:40:00-05:00",
    }


def _vital(rng: random.Random, when: date, patient_ref: str) -> dict[str, Any]:
    code, display, unit, low, high = rng.choice(_VITALS)
    resource = _observation(rng, when, patient_ref, "vital-signs", code, display)
    value = round(rng.uniform(low, high), 1)
    resource["valueQuantity"] = {"value": value, "unit": unit, "system": UCUM, "code": unit}
    return resource


def _lab(rng: random.Random, when: date, patient_ref: str) -> dict[str, Any]:
    code, display, unit, low, high = rng.choice(_LABS)
    resource = _observation(rng, when, patient_ref, "laboratory", code, display)
    resource["valueQuantity"] = {
        "value": round(rng.uniform(low, high), 2),
        "unit": unit,
        "system": UCUM,
        "code": unit,
    }
    resource["referenceRange"] = [
        {"low": {"value": low, "unit": unit}, "high": {"value": high, "unit": unit}}
    ]
    return resource


def _pregnancy(rng: random.Random, when: date, patient_ref: str) -> dict[str, Any]:
    if rng.random() < 0.5:
        resource = _observation(rng, when, patient_ref, "social-history", "82810-3", "Pregnancy status")
        resource["valueCodeableConcept"] = _concept(SCT, "60001007", "Not pregnant")
        return resource
    resource = _observation(
        rng,
        when,
        patient_ref,
        "laboratory",
        "2106-3",
        "Choriogonadotropin (pregnancy test) [Presence] in Urine",
    )
    resource["valueCodeableConcept"] = _concept(SCT, "260385009", "Negative")
    return resource


def _condition(rng: random.Random, when: date, patient_ref: str) -> dict[str, Any]:
    icd, snomed, display = rng.choice(_PROBLEMS)
    coding = [{"system": ICD, "code": icd, "display": display}]
    if snomed and rng.random() < 0.6:
        coding.append({"system": SCT, "code": snomed, "display": display})
    roll = rng.random()
    clinical = "resolved" if roll < 0.3 else "active"
    verification = "entered-in-error" if rng.random() < 0.03 else "confirmed"
    category = "encounter-diagnosis" if rng.random() < 0.4 else "problem-list-item"
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "clinicalStatus": _concept(
            "http://terminology.hl7.org/CodeSystem/condition-clinical", clinical, clinical.title()
        ),
        "verificationStatus": _concept(
            "http://terminology.hl7.org/CodeSystem/condition-ver-status", verification, verification
        ),
        "category": [
            _concept("http://terminology.hl7.org/CodeSystem/condition-category", category, category)
        ],
        "code": {"coding": coding, "text": display},
        "subject": {"reference": patient_ref},
        "onsetDateTime": when.isoformat(),
        "recordedDate": f"{(when + timedelta(days=rng.randint(0, 30))).isoformat()}T14:20:00-05:00",
    }
    if clinical == "resolved":
        resource["abatementDateTime"] = (when + timedelta(days=rng.randint(5, 60))).isoformat()
    return resource


def _medication_request(rng: random.Random, when: date, patient_ref: str) -> dict[str, Any]:
    code, display = rng.choice(_MEDICATIONS)
    return {
        "resourceType": "MedicationRequest",
        "status": rng.choice(["active", "active", "completed", "on-hold"]),
        "intent": "order",
        "medicationCodeableConcept": _concept(RXNORM, code, display),
        "subject": {"reference": patient_ref},
        "authoredOn": f"{when.isoformat()}T10:00:00-05:00",
        "dosageInstruction": [{"text": "1 tablet by mouth daily"}],
    }


def _medication_statement(rng: random.Random, when: date, patient_ref: str) -> dict[str, Any]:
    code, display = rng.choice(_MEDICATIONS)
    return {
        "resourceType": "MedicationStatement",
        "status": rng.choice(["active", "completed", "intended"]),
        "medicationCodeableConcept": _concept(RXNORM, code, display),
        "subject": {"reference": patient_ref},
        "effectivePeriod": {"start": when.isoformat()},
        "dateAsserted": when.isoformat(),
    }


def _procedure(rng: random.Random, when: date, patient_ref: str) -> dict[str, Any]:
    code, display = rng.choice(_PROCEDURES)
    return {
        "resourceType": "Procedure",
        "status": "completed",
        "code": _concept(SCT, code, display),
        "subject": {"reference": patient_ref},
        "performedDateTime": when.isoformat(),
    }


_BUILDERS = {
    "vital": _vital,
    "lab": _lab,
    "condition": _condition,
    "medication_request": _medication_request,
    "medication_statement": _medication_statement,
    "pregnancy": _pregnancy,
    "procedure": _procedure,
}
