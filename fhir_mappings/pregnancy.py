"""Pregnancy state and gestational age (GA) from every way FHIR R4 carries them.

Sources read (clinical-knowledge.md 2a): pregnancy-status Observations (LOINC 82810-3, SNOMED or LOINC
answers), estimated-due-date, gestational-age and LMP Observations, and pregnancy / ended-pregnancy
Conditions (including Z3A weeks of gestation). Pregnancy intent is never read as status.

Rules (architecture.md section 4; numbers from ``policy.json``):
- evidence dated before the latest "not pregnant" status or ended-pregnancy record does not count;
- evidence older than ``pregnancy_evidence_max_age_days`` or dating to a GA beyond ``pregnancy_max_days``
  is stale;
- GA comes from, in order, the newest EDD, GA observation, LMP, then Z3A weeks, carried forward to ``now``;
  an LMP only dates a pregnancy that other evidence shows (LMPs are recorded for non-pregnant patients too);
- dating beyond ``pregnancy_max_days`` means that pregnancy ended when it reached that length;
- with no dating, the oldest surviving evidence bounds GA from below;
- first trimester = GA < ``first_trimester_end_days``; when that cannot be excluded, or the pregnancy is only
  possible/unconfirmed, the result is ``first-trimester`` with a reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from fhir_mappings.codes import ICD10CM, normalise_icd10cm
from fhir_mappings.fhir_json import (
    as_list,
    as_object,
    as_text,
    concept_label,
    parse_date,
    relative_reference,
)
from fhir_mappings.findings import Evidence
from fhir_mappings.knowledge import Knowledge
from fhir_mappings.records import (
    PatientRecord,
    condition_abatement,
    condition_date,
    is_active_condition,
    is_excluded_verification,
    is_usable_observation,
    observation_date,
)

PregnancyStatus = Literal["first-trimester", "later-trimester", "not-pregnant"]
StatusAnswer = Literal["pregnant", "not-pregnant", "possible", "unknown"]

_STATUS_VALUE_SETS: tuple[tuple[str, StatusAnswer], ...] = (
    ("pregnancy-status-pregnant", "pregnant"),
    ("pregnancy-status-not-pregnant", "not-pregnant"),
    ("pregnancy-status-possible", "possible"),
    ("pregnancy-status-unknown", "unknown"),
)
_WEEKS_UNITS = {"wk", "week", "weeks", "wks", "w"}
_DAYS_UNITS = {"d", "day", "days"}
_Z3A_RE = re.compile(r"^Z3A(\d{2})$")


@dataclass(frozen=True, slots=True)
class PregnancyAssessment:
    """The pregnancy conclusion with its dating and evidence."""

    status: PregnancyStatus
    ga_days_low: int | None = None
    ga_days_high: int | None = None
    dating_basis: str | None = None
    reason: str | None = None
    evidence: tuple[Evidence, ...] = ()

    @property
    def ga_label(self) -> str | None:
        """``"9w2d"``, ``"at least 15w0d"``, or ``"8w0d-8w6d"``; ``None`` when GA is unknown."""
        if self.ga_days_low is None:
            return None
        if self.ga_days_high is None:
            return f"at least {format_ga(self.ga_days_low)}"
        if self.ga_days_high == self.ga_days_low:
            return format_ga(self.ga_days_low)
        return f"{format_ga(self.ga_days_low)}-{format_ga(self.ga_days_high)}"


@dataclass(frozen=True, slots=True)
class _Event:
    kind: Literal["status", "dating", "condition", "ended"]
    recorded: date | None
    evidence: Evidence
    answer: StatusAnswer | None = None
    ga_low: int | None = None  # GA at ``now``, in days
    ga_high: int | None = None
    rank: int = 9  # dating precedence, lower wins
    confirms: bool = True  # False: dates a pregnancy but is no evidence of one (an LMP)


def format_ga(days: int) -> str:
    """Gestational age in the clinical ``<weeks>w<days>d`` form."""
    return f"{days // 7}w{days % 7}d"


def assess_pregnancy(record: PatientRecord, knowledge: Knowledge, now: date) -> PregnancyAssessment:
    """Decide whether the patient is pregnant now, and in which trimester."""
    policy = knowledge.policy
    events = _observation_events(record, knowledge, now) + _condition_events(record, knowledge, now)
    negations = [
        e.recorded
        for e in events
        if e.recorded and (e.kind == "ended" or (e.kind == "status" and e.answer == "not-pregnant"))
    ]
    # Dating past the longest pregnancy means that pregnancy ended by the day it reached that length.
    negations += [
        now - timedelta(days=e.ga_low - policy.pregnancy_max_days)
        for e in events
        if e.kind == "dating" and e.confirms and e.ga_low is not None and e.ga_low > policy.pregnancy_max_days
    ]
    ended_on = max(negations, default=None)

    def current(event: _Event) -> bool:
        if event.kind == "ended" or event.answer in {"not-pregnant", "unknown"}:
            return False
        if event.recorded is None:
            return event.kind == "condition"  # an undated active pregnancy problem is current
        if ended_on is not None and event.recorded < ended_on:
            return False
        if (now - event.recorded).days > policy.pregnancy_evidence_max_age_days:
            return False
        return event.kind != "dating" or (
            event.ga_low is not None and 0 <= event.ga_low <= policy.pregnancy_max_days
        )

    live = [e for e in events if current(e)]
    confirming = [e for e in live if e.confirms]
    if not confirming:
        return PregnancyAssessment("not-pregnant")
    evidence = tuple(e.evidence for e in live)
    if all(e.answer == "possible" for e in confirming):
        return PregnancyAssessment("first-trimester", reason="possible, not confirmed", evidence=evidence)
    dating = sorted(
        (e for e in live if e.kind == "dating"),
        key=lambda e: (e.rank, -(e.recorded or date.min).toordinal()),
    )
    first_trimester_end = policy.first_trimester_end_days
    if dating:
        best = dating[0]
        low, high = best.ga_low or 0, best.ga_high
        if high is not None and high < first_trimester_end:
            return PregnancyAssessment(
                "first-trimester", low, high, best.evidence.description, None, evidence
            )
        if low >= first_trimester_end:
            return PregnancyAssessment(
                "later-trimester", low, high, best.evidence.description, None, evidence
            )
        return PregnancyAssessment(
            "first-trimester",
            low,
            high,
            best.evidence.description,
            "the dating does not exclude the first trimester",
            evidence,
        )
    confirmed = [e for e in confirming if e.answer != "possible"]
    dated = [e.recorded for e in confirmed if e.recorded is not None]
    if dated and len(dated) == len(confirmed):
        oldest = min(dated)
        known_for = (now - oldest).days
        if known_for >= first_trimester_end:
            return PregnancyAssessment(
                "later-trimester",
                known_for,
                None,
                f"pregnancy on record since {oldest.isoformat()} (no dating)",
                None,
                evidence,
            )
        return PregnancyAssessment(
            "first-trimester",
            reason=f"undated, on record for {known_for} days",
            evidence=evidence,
        )
    return PregnancyAssessment("first-trimester", reason="undated", evidence=evidence)


def _observation_events(record: PatientRecord, knowledge: Knowledge, now: date) -> list[_Event]:
    status_codes = knowledge.value_set("pregnancy-status-observation")
    edd_codes = knowledge.value_set("pregnancy-edd-observation")
    ga_codes = knowledge.value_set("pregnancy-ga-observation")
    lmp_codes = knowledge.value_set("pregnancy-lmp-observation")
    full_term = knowledge.policy.full_term_days
    events: list[_Event] = []
    for observation in record.observations:
        if not is_usable_observation(observation, knowledge.policy):
            continue
        code = observation.get("code")
        recorded = observation_date(observation)
        reference = relative_reference(observation)
        when = f" on {recorded.isoformat()}" if recorded else ""
        if status_codes.match_concept(code, knowledge.aliases):
            answer = _status_answer(observation.get("valueCodeableConcept"), knowledge)
            if answer is not None:
                label = concept_label(observation.get("valueCodeableConcept")) or answer
                events.append(
                    _Event(
                        "status",
                        recorded,
                        Evidence(reference, f"Pregnancy status '{label}'{when}", recorded),
                        answer=answer,
                    )
                )
        elif edd_codes.match_concept(code, knowledge.aliases):
            due = parse_date(observation.get("valueDateTime"))
            if due is not None:
                ga = full_term - (due - now).days
                events.append(
                    _Event(
                        "dating",
                        # an undated EDD still dates the pregnancy: it began full_term days before the EDD
                        recorded or due - timedelta(days=full_term),
                        Evidence(
                            reference,
                            f"estimated due date {due.isoformat()} (recorded{when or ' undated'})",
                            recorded,
                        ),
                        ga_low=ga,
                        ga_high=ga,
                        rank=0,
                    )
                )
        elif ga_codes.match_concept(code, knowledge.aliases):
            ga_then = _gestational_age_days(observation)
            if ga_then is not None and recorded is not None:
                ga = ga_then + (now - recorded).days
                events.append(
                    _Event(
                        "dating",
                        recorded,
                        Evidence(reference, f"gestational age {format_ga(ga_then)}{when}", recorded),
                        ga_low=ga,
                        ga_high=ga,
                        rank=1,
                    )
                )
        elif lmp_codes.match_concept(code, knowledge.aliases):
            lmp = parse_date(observation.get("valueDateTime"))
            if lmp is not None:
                ga = (now - lmp).days
                events.append(
                    _Event(
                        "dating",
                        recorded or lmp,
                        Evidence(reference, f"last menstrual period {lmp.isoformat()}", recorded or lmp),
                        ga_low=ga,
                        ga_high=ga,
                        rank=2,
                        confirms=False,
                    )
                )
    return events


def _condition_events(record: PatientRecord, knowledge: Knowledge, now: date) -> list[_Event]:
    pregnancy_codes = knowledge.value_set("pregnancy-condition")
    ended_codes = knowledge.value_set("pregnancy-ended-condition")
    possible_codes = knowledge.value_set("pregnancy-status-possible")
    events: list[_Event] = []
    for condition in record.conditions:
        if is_excluded_verification(condition, knowledge.policy):
            continue
        code = condition.get("code")
        reference = relative_reference(condition)
        label = concept_label(code) or "pregnancy condition"
        recorded = condition_date(condition)
        when = f" ({recorded.isoformat()})" if recorded else ""
        if ended_codes.match_concept(code, knowledge.aliases):
            events.append(
                _Event(
                    "ended",
                    recorded or condition_abatement(condition),
                    Evidence(reference, f"{label}{when}", recorded),
                )
            )
            continue
        if possible_codes.match_concept(code, knowledge.aliases):
            if is_active_condition(condition, now, knowledge.policy):
                evidence = Evidence(reference, f"{label}{when}", recorded)
                events.append(_Event("condition", recorded, evidence, answer="possible"))
            continue
        matches = pregnancy_codes.match_concept(code, knowledge.aliases)
        if not matches:
            continue
        if not is_active_condition(condition, now, knowledge.policy):
            abated = condition_abatement(condition)
            if abated is not None:
                events.append(
                    _Event(
                        "ended",
                        abated,
                        Evidence(reference, f"{label} resolved {abated.isoformat()}", abated),
                    )
                )
            continue
        evidence = Evidence(reference, f"{label}{when}", recorded)
        events.append(_Event("condition", recorded, evidence))
        weeks = _z3a_weeks(matches)
        if weeks is not None and recorded is not None:
            low_then, high_then = (0, 55) if weeks == 1 else (7 * weeks, 7 * weeks + 6)
            elapsed = (now - recorded).days
            events.append(
                _Event(
                    "dating",
                    recorded,
                    Evidence(reference, f"weeks of gestation code {label}{when}", recorded),
                    ga_low=low_then + elapsed,
                    ga_high=high_then + elapsed,
                    rank=3,
                )
            )
    return events


def _status_answer(value: Any, knowledge: Knowledge) -> StatusAnswer | None:
    for value_set_id, answer in _STATUS_VALUE_SETS:
        if knowledge.value_set(value_set_id).match_concept(value, knowledge.aliases):
            return answer
    return None


def _gestational_age_days(observation: Mapping[str, Any]) -> int | None:
    """GA in days from valueQuantity (wk or d) or from week and day components."""
    quantity = as_object(observation.get("valueQuantity"))
    if quantity is not None:
        return _quantity_days(quantity)
    total: int | None = None
    for component in as_list(observation.get("component")):
        days = _quantity_days(as_object((as_object(component) or {}).get("valueQuantity")) or {})
        if days is not None:
            total = (total or 0) + days
    return total


def _quantity_days(quantity: Mapping[str, Any]) -> int | None:
    value = quantity.get("value")
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        return None
    unit = (as_text(quantity.get("code")) or as_text(quantity.get("unit")) or "").lower()
    if unit in _WEEKS_UNITS:
        return round(value * 7)
    if unit in _DAYS_UNITS:
        return round(value)
    return None


def _z3a_weeks(matches: list[Any]) -> int | None:
    for match in matches:
        if match.system == ICD10CM:
            found = _Z3A_RE.match(normalise_icd10cm(match.code))
            if found and int(found.group(1)) > 0:
                return int(found.group(1))
    return None
