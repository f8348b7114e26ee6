"""The patient's records as the rules see them, and which of them count (status filters)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from fhir_mappings.fhir_json import (
    DateBound,
    as_list,
    as_object,
    as_text,
    codings,
    parse_date,
    reference_parts,
    remembered,
    status_code,
)
from fhir_mappings.policy import Policy

CONDITION_CLINICAL_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
# Every code of the condition-clinical code system (FHIR R4); anything else is unreadable.
CONDITION_CLINICAL_CODES = frozenset({"active", "recurrence", "relapse", "inactive", "remission", "resolved"})


@dataclass(frozen=True, slots=True)
class PatientRecord:
    """Plain FHIR JSON resources of one patient, grouped by type."""

    patient_id: str
    conditions: tuple[Mapping[str, Any], ...] = ()
    observations: tuple[Mapping[str, Any], ...] = ()
    medication_requests: tuple[Mapping[str, Any], ...] = ()
    medication_statements: tuple[Mapping[str, Any], ...] = ()
    medications: tuple[Mapping[str, Any], ...] = ()  # Medication resources sent alongside (e.g. _include)
    patient: Mapping[str, Any] | None = None  # the Patient resource, when the EHR sent it
    procedures: tuple[Mapping[str, Any], ...] = ()
    allergy_intolerances: tuple[Mapping[str, Any], ...] = ()
    # MedicationRequests in the hook's draftOrders: ordered in this session, current whatever their status
    draft_medication_requests: tuple[Mapping[str, Any], ...] = ()

    def condition_by_id(self, condition_id: str) -> Mapping[str, Any] | None:
        """The Condition with this id, if the record has it."""
        return next((c for c in self.conditions if c.get("id") == condition_id), None)


def belongs_to_patient(resource: Mapping[str, Any], patient_id: str) -> bool:
    """False only when the resource names a different patient as its subject."""
    subject = as_object(resource.get("subject")) or as_object(resource.get("patient"))
    if subject is None:
        return True
    parts = reference_parts(subject)
    if parts is None:
        return True
    return parts[0] == "Patient" and parts[1] == patient_id


def is_excluded_verification(condition: Mapping[str, Any], policy: Policy) -> bool:
    """True for a refuted or entered-in-error Condition: it must never count, as anything."""
    verification = status_code(condition.get("verificationStatus"), CONDITION_VERIFICATION_SYSTEM)
    return verification in policy.condition_excluded_verification_statuses


def is_active_condition(condition: Mapping[str, Any], now: date, policy: Policy) -> bool:
    """Active: clinicalStatus active/recurrence/relapse, absent, or a code this service cannot read (the safe
    reading); not refuted or entered-in-error; and no abatement in the past (a partial abatement date counts
    from its last possible day)."""
    return remembered(condition, ("active", now, id(policy)), lambda: _is_active(condition, now, policy))


def _is_active(condition: Mapping[str, Any], now: date, policy: Policy) -> bool:
    if is_excluded_verification(condition, policy):
        return False
    clinical = status_code(condition.get("clinicalStatus"), CONDITION_CLINICAL_SYSTEM)
    if clinical in CONDITION_CLINICAL_CODES and clinical not in policy.condition_active_clinical_statuses:
        return False
    if has_undated_abatement(condition):
        return False
    abated = condition_abatement(condition)
    return abated is None or abated > now


def has_undated_abatement(condition: Mapping[str, Any]) -> bool:
    """True when the Condition says it abated without a date (abatementString/Age/Range, or
    abatementBoolean true)."""
    if condition.get("abatementBoolean") is True:
        return True
    return any(condition.get(name) for name in ("abatementString", "abatementAge", "abatementRange"))


def condition_abatement(condition: Mapping[str, Any], bound: DateBound = "latest") -> date | None:
    """The abatement date, if one is given as a date (or a Period end)."""
    abatement = condition.get("abatementDateTime")
    if abatement is None:
        abatement = (as_object(condition.get("abatementPeriod")) or {}).get("end")
    return parse_date(abatement, bound)


def condition_onset(condition: Mapping[str, Any], bound: DateBound = "earliest") -> date | None:
    """The onset date (onsetDateTime or onsetPeriod.start), if given as a date."""
    onset = condition.get("onsetDateTime")
    if onset is None:
        onset = (as_object(condition.get("onsetPeriod")) or {}).get("start")
    return parse_date(onset, bound)


def condition_date(condition: Mapping[str, Any], bound: DateBound = "earliest") -> date | None:
    """When the condition was true: onset, else recordedDate."""
    return condition_onset(condition, bound) or parse_date(condition.get("recordedDate"), bound)


def condition_asserted(condition: Mapping[str, Any]) -> date | None:
    """When the chart last asserted the condition: the later of onset and recordedDate (last possible days).

    A pregnancy problem's onset is often the LMP, weeks before conception; what a later "not pregnant"
    result can cancel is judged by when the pregnancy was recorded, not by its onset.
    """
    dates = [
        d
        for d in (condition_onset(condition, "latest"), parse_date(condition.get("recordedDate"), "latest"))
        if d
    ]
    return max(dates, default=None)


def is_encounter_diagnosis(condition: Mapping[str, Any]) -> bool:
    """True when the Condition is categorised as an encounter diagnosis (not a problem-list item)."""
    return any(
        coding.code == "encounter-diagnosis"
        for category in as_list(condition.get("category"))
        for coding in codings(category)
    )


def encounter_date(condition: Mapping[str, Any]) -> date | None:
    """The recordedDate, read at its earliest day (for an encounter diagnosis: the encounter's date)."""
    return parse_date(condition.get("recordedDate"), "earliest")


def is_usable_observation(observation: Mapping[str, Any], policy: Policy) -> bool:
    """Only final, amended or corrected results count."""
    status = as_text(observation.get("status"))
    return status is not None and status.lower() in policy.observation_usable_statuses


def observation_date(observation: Mapping[str, Any], bound: DateBound = "earliest") -> date | None:
    """When the observation was true: effective[x], else issued."""
    effective = observation.get("effectiveDateTime") or observation.get("effectiveInstant")
    if effective is None:
        period = as_object(observation.get("effectivePeriod")) or {}
        effective = period.get("end") or period.get("start")
    return parse_date(effective, bound) or parse_date(observation.get("issued"), bound)
