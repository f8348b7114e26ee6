"""Reproductive potential: female sex for clinical use, age within the policy range, and a uterus.

docs/clinical-basis.md section 6: a person of reproductive potential (female, 12-55, no hysterectomy) with no
pregnancy status in the last 30 days, or status "unknown", gets a missing-data finding. Sex is read, most
specific first, from the sex-parameter-for-clinical-use extension, US Core birth sex, then
``Patient.gender``; when none of them says female or male (gender ``other``/``unknown`` or absent) the
patient is *not excluded*, and neither is one whose birth date is missing: the prompt is a warning, a
missed first-trimester pregnancy is a contraindication. With no Patient resource at all nothing is known
and no prompt is made.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from fhir_mappings.condition_text import match_condition_text
from fhir_mappings.fhir_json import as_list, as_object, as_text, codings, parse_date, relative_reference
from fhir_mappings.findings import Evidence
from fhir_mappings.knowledge import Knowledge
from fhir_mappings.records import PatientRecord, is_excluded_verification

SEX_FOR_CLINICAL_USE = "http://hl7.org/fhir/StructureDefinition/patient-sexParameterForClinicalUse"
US_CORE_BIRTH_SEX = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex"
_FEMALE = {
    "female-typical": True,
    "male-typical": False,
    "F": True,
    "M": False,
    "female": True,
    "male": False,
}
_PROCEDURE_DONE = "completed"
MENOPAUSE_VALUE_SET = "menopause"


@dataclass(frozen=True, slots=True)
class ReproductivePotential:
    """Whether a pregnancy must be considered, and why not when it need not."""

    possible: bool
    reason: str
    evidence: tuple[Evidence, ...] = ()


def reproductive_potential(record: PatientRecord, knowledge: Knowledge, now: date) -> ReproductivePotential:
    """Reproductive potential of the record's patient on ``now``."""
    patient = record.patient
    if patient is None:
        return ReproductivePotential(False, "no Patient resource")
    female = _female(patient)
    if female is False:
        return ReproductivePotential(False, "male sex for clinical use")
    policy = knowledge.policy
    youngest, oldest = _age_range(patient, now)
    if youngest is not None and youngest > policy.reproductive_age_max_years:
        return ReproductivePotential(False, f"age {youngest}")
    if oldest is not None and oldest < policy.reproductive_age_min_years:
        return ReproductivePotential(False, f"age {oldest}")
    hysterectomy = _hysterectomy_evidence(record, knowledge)
    if hysterectomy:
        return ReproductivePotential(False, "hysterectomy", hysterectomy)
    menopause = _menopause_evidence(record, knowledge)
    if menopause:
        return ReproductivePotential(False, "menopause", menopause)
    age = "age unknown" if youngest is None else f"age {youngest}"
    sex = "female" if female else "sex not recorded as female or male"
    return ReproductivePotential(True, f"{sex}, {age}")


def _female(patient: Mapping[str, Any]) -> bool | None:
    """True/False from the most specific sex element present; ``None`` when none says female or male."""
    extensions = [e for e in as_list(patient.get("extension")) if isinstance(e, Mapping)]
    for extension in extensions:
        if extension.get("url") == SEX_FOR_CLINICAL_USE:
            for part in as_list(extension.get("extension")):
                part_object = as_object(part) or {}
                if part_object.get("url") == "value":
                    for coding in codings(part_object.get("valueCodeableConcept")):
                        if coding.code in _FEMALE:
                            return _FEMALE[coding.code]
    for extension in extensions:
        if extension.get("url") == US_CORE_BIRTH_SEX:
            code = as_text(extension.get("valueCode"))
            if code in {"F", "M"}:
                return _FEMALE[code]
    gender = as_text(patient.get("gender"))
    return _FEMALE.get(gender) if gender in {"female", "male"} else None


def _age_range(patient: Mapping[str, Any], now: date) -> tuple[int | None, int | None]:
    """(youngest, oldest) age in whole years the birth date allows (a partial date is a range)."""
    born_latest = parse_date(patient.get("birthDate"), "latest")
    born_earliest = parse_date(patient.get("birthDate"), "earliest")
    if born_latest is None or born_earliest is None:
        return None, None
    return _years(born_latest, now), _years(born_earliest, now)


def _years(born: date, now: date) -> int:
    return now.year - born.year - ((now.month, now.day) < (born.month, born.day))


def _hysterectomy_evidence(record: PatientRecord, knowledge: Knowledge) -> tuple[Evidence, ...]:
    """A completed hysterectomy Procedure, or a Condition saying the uterus is absent (any clinical status:
    the absence is permanent; refuted and entered-in-error records never count)."""
    value_set = knowledge.value_set("hysterectomy")
    found: list[Evidence] = []
    for procedure in record.procedures:
        if as_text(procedure.get("status")) != _PROCEDURE_DONE:
            continue
        matches = value_set.match_concept(procedure.get("code"), knowledge.aliases)
        if matches:
            performed = parse_date(
                procedure.get("performedDateTime")
                or (as_object(procedure.get("performedPeriod")) or {}).get("end")
            )
            found.append(
                Evidence(relative_reference(procedure), matches[0].display or "hysterectomy", performed)
            )
    for condition in record.conditions:
        if is_excluded_verification(condition, knowledge.policy):
            continue
        matches = value_set.match_concept(condition.get("code"), knowledge.aliases)
        if matches:
            found.append(
                Evidence(relative_reference(condition), matches[0].display or "absence of the uterus", None)
            )
    return tuple(found)


def _menopause_evidence(record: PatientRecord, knowledge: Knowledge) -> tuple[Evidence, ...]:
    """A Condition saying the patient is menopausal (a code of the ``menopause`` value set, or its words when
    no code is placed); any clinical status (menopause is permanent); refuted/entered-in-error never count."""
    value_set = knowledge.value_set(MENOPAUSE_VALUE_SET)
    found: list[Evidence] = []
    for condition in record.conditions:
        if is_excluded_verification(condition, knowledge.policy):
            continue
        code = condition.get("code")
        matches = value_set.match_concept(code, knowledge.aliases)
        if matches:
            found.append(Evidence(relative_reference(condition), matches[0].display or matches[0].code, None))
            continue
        by_name = match_condition_text(code, MENOPAUSE_VALUE_SET, knowledge.condition_text, knowledge.aliases)
        if by_name is not None:
            description = f"'{by_name.text}' (no code: matched by the name '{by_name.name}')"
            found.append(Evidence(relative_reference(condition), description, None))
    return tuple(found)
