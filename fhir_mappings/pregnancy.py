"""Pregnancy state and gestational age (GA) from every way FHIR R4 carries them.

Sources read (docs/clinical-basis.md section 2a): pregnancy-status Observations (LOINC 82810-3, SNOMED or
LOINC answers), estimated-due-date, gestational-age and LMP Observations, and pregnancy, possible-pregnancy
and ended-pregnancy Conditions (including Z3A weeks of gestation). Pregnancy intent is never read as status.

Rules (docs/clinical-basis.md section 6; numbers from ``policy.json``):
- evidence recorded before the latest "not pregnant" status or ended-pregnancy event does not count. What a
  negation cancels is judged by when the pregnancy was *recorded* (a pregnancy problem's onset is often the
  LMP); an ended-pregnancy record cancels only from a real event date (onset, abatement, or the encounter
  an encounter diagnosis was recorded at), never from the day a history item was typed into the problem list;
- evidence older than ``pregnancy_evidence_max_age_days``, or dating to a GA beyond ``pregnancy_max_days``,
  is stale; dating beyond that length means the pregnancy it dates ended when it reached that length;
- GA comes from, in order, the newest EDD, GA observation, LMP, then Z3A weeks, carried forward to ``now``;
  an LMP only dates a pregnancy that other evidence shows (LMPs are recorded for non-pregnant patients too);
- with no dating, the first trimester is excluded only when even the newest pregnancy record is at least
  ``first_trimester_end_days`` old;
- a partial date ("2026-08") is read at the end of its range that gives the lower GA, so uncertainty never
  downgrades a contraindication to a precaution; an undated "pregnant" record counts as current;
- first trimester = GA < ``first_trimester_end_days``. When that cannot be excluded, or the pregnancy is only
  possible/unconfirmed, the result is ``first-trimester`` with a reason.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal, cast

from fhir_mappings.answer_text import read_answer_text
from fhir_mappings.chart_view import concept_facts, condition_index
from fhir_mappings.codes import ICD10CM, normalise_icd10cm
from fhir_mappings.condition_text import match_condition_text
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
    condition_asserted,
    condition_date,
    condition_onset,
    encounter_date,
    is_active_condition,
    is_encounter_diagnosis,
    is_excluded_verification,
    is_usable_observation,
    observation_date,
)
from fhir_mappings.valuesets import CodeMatch

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
_ARITHMETIC_GUARD = 100_000  # technical: keeps rounding and date arithmetic finite on hostile numbers
_Z3A_RE = re.compile(r"^Z3A(\d{2})$")
# "20 3/7 weeks": the obstetric notation of weeks and sevenths (days); tried before the plain pattern, which
# would read only "7 weeks" in it.
_GA_FRACTION_RE = re.compile(r"\b(\d{1,2})\s+([0-6])\s*/\s*7\s*(?:w|wk|wks|week|weeks)?\b")
_GA_TEXT_RE = re.compile(
    r"\b(\d{1,2})\s*(?:w|wk|wks|week|weeks)\b\.?(?:\s*(?:\+|and|,)?\s*(\d)\s*(?:d|day|days)\b)?"
)


@dataclass(frozen=True, slots=True)
class PregnancyAssessment:
    """The pregnancy conclusion with its dating and evidence."""

    status: PregnancyStatus
    ga_days_low: int | None = None
    ga_days_high: int | None = None
    dating_basis: str | None = None
    reason: str | None = None
    evidence: tuple[Evidence, ...] = ()
    # Not pregnant: why the status still counts as unknown on "now" (reason, evidence), or None when known.
    status_gap: tuple[str, tuple[Evidence, ...]] | None = None

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
    """One pregnancy-relevant record.

    ``recorded``: when it was true (dating and staleness). ``asserted``: when the chart said so (what a later
    negation can cancel); equal to ``recorded`` except for conditions.
    """

    kind: Literal["status", "dating", "condition", "ended"]
    recorded: date | None
    evidence: Evidence
    answer: StatusAnswer | None = None
    ga_low: int | None = None  # GA at ``now``, in days
    ga_high: int | None = None
    rank: int = 9  # dating precedence, lower wins
    confirms: bool = True  # False: dates a pregnancy but is no evidence of one (an LMP)
    asserted: date | None = None

    @property
    def asserted_on(self) -> date | None:
        return self.asserted or self.recorded


def format_ga(days: int) -> str:
    """Gestational age in the clinical ``<weeks>w<days>d`` form."""
    return f"{days // 7}w{days % 7}d"


PREGNANCY_TEST_VALUE_SETS = ("pregnancy-test-observation", "pregnancy-test-observation-vsac")
PREGNANCY_CONDITION_VALUE_SETS = ("pregnancy-condition", "pregnancy-condition-snomed")
PREGNANCY_ENDING_PROCEDURES = "pregnancy-ending-procedure"
NEGATIVE_TEST_CONDITIONS = "pregnancy-test-negative-condition"  # Z32.02
# What the event readers below ask of an observation's or a condition's code (any other code is no event).
_OBSERVATION_EVENT_VALUE_SETS = (
    "pregnancy-status-observation",
    "pregnancy-edd-observation",
    "pregnancy-ga-observation",
    "pregnancy-lmp-observation",
    *PREGNANCY_TEST_VALUE_SETS,
)
_CONDITION_EVENT_VALUE_SETS = (
    "pregnancy-ended-condition",
    NEGATIVE_TEST_CONDITIONS,
    "pregnancy-status-possible",
    *PREGNANCY_CONDITION_VALUE_SETS,
)
_PROCEDURE_NOT_DONE = frozenset({"not-done", "entered-in-error", "preparation", "stopped", "unknown"})


@dataclass(frozen=True, slots=True)
class _AnyOf:
    """Membership in any of several value sets (a hand-made set and its VSAC-derived companion)."""

    knowledge: Knowledge
    value_set_ids: tuple[str, ...]

    def match_concept(self, concept: Any, aliases: Any) -> list[CodeMatch]:
        return [
            match
            for vs_id in self.value_set_ids
            if vs_id in self.knowledge.value_sets
            for match in self.knowledge.value_set(vs_id).match_concept(concept, aliases)
        ]


def assess_pregnancy(record: PatientRecord, knowledge: Knowledge, now: date) -> PregnancyAssessment:
    """Decide whether the patient is pregnant now, and in which trimester."""
    policy = knowledge.policy
    events = (
        _observation_events(record, knowledge, now)
        + _condition_events(record, knowledge, now)
        + _procedure_events(record, knowledge)
    )
    ended_on = _pregnancy_ended_on(events, now, policy.pregnancy_max_days)

    def current(event: _Event) -> bool:
        if event.kind == "ended" or event.answer in {"not-pregnant", "unknown"}:
            return False
        if event.recorded is None:  # undated "pregnant" on file: current unless a dated negation exists
            return event.kind in {"condition", "status"} and ended_on is None
        asserted = event.asserted_on or event.recorded
        if ended_on is not None and asserted < ended_on:
            return False
        if (now - event.recorded).days > policy.pregnancy_evidence_max_age_days:
            return False
        return event.kind != "dating" or (
            event.ga_low is not None and 0 <= event.ga_low <= policy.pregnancy_max_days
        )

    live = [e for e in events if current(e)]
    confirming = [e for e in live if e.confirms]
    if not confirming:
        return PregnancyAssessment("not-pregnant", status_gap=_status_gap(events, knowledge, now))
    evidence = tuple(e.evidence for e in live)
    if all(e.answer == "possible" for e in confirming):
        return PregnancyAssessment("first-trimester", reason="possible, not confirmed", evidence=evidence)
    dating = sorted(
        (e for e in live if e.kind == "dating"),
        key=lambda e: (e.rank, -(e.recorded or date.min).toordinal()),
    )
    if dating:
        return _from_dating(dating[0], policy.first_trimester_end_days, evidence)
    return _without_dating(confirming, now, policy.first_trimester_end_days, evidence)


def _pregnancy_ended_on(events: list[_Event], now: date, max_days: int) -> date | None:
    """The latest day a pregnancy is known to have ended (or been absent)."""
    ends = [
        e.recorded
        for e in events
        if e.recorded and (e.kind == "ended" or (e.kind == "status" and e.answer == "not-pregnant"))
    ]
    # Dating past the longest pregnancy means that pregnancy ended by the day it reached that length.
    ends += [
        now - timedelta(days=e.ga_low - max_days)
        for e in events
        if e.kind == "dating" and e.confirms and e.ga_low is not None and e.ga_low > max_days
    ]
    return max(ends, default=None)


def _from_dating(
    best: _Event, first_trimester_end: int, evidence: tuple[Evidence, ...]
) -> PregnancyAssessment:
    low, high = best.ga_low or 0, best.ga_high
    basis = best.evidence.description
    if high is not None and high < first_trimester_end:
        return PregnancyAssessment("first-trimester", low, high, basis, None, evidence)
    if low >= first_trimester_end:
        return PregnancyAssessment("later-trimester", low, high, basis, None, evidence)
    return PregnancyAssessment(
        "first-trimester", low, high, basis, "the dating does not exclude the first trimester", evidence
    )


def _without_dating(
    confirming: list[_Event], now: date, first_trimester_end: int, evidence: tuple[Evidence, ...]
) -> PregnancyAssessment:
    dated = [e.recorded for e in confirming if e.recorded is not None]
    if len(dated) < len(confirming):
        return PregnancyAssessment("first-trimester", reason="undated", evidence=evidence)
    newest_age = (now - max(dated)).days
    if newest_age < first_trimester_end:
        return PregnancyAssessment(
            "first-trimester", reason=f"undated, recorded {newest_age} days ago", evidence=evidence
        )
    oldest = min(dated)
    return PregnancyAssessment(
        "later-trimester",
        (now - oldest).days,
        None,
        f"pregnancy on record since {oldest.isoformat()} (no dating)",
        None,
        evidence,
    )


def _observation_events(record: PatientRecord, knowledge: Knowledge, now: date) -> list[_Event]:
    status_codes = knowledge.value_set("pregnancy-status-observation")
    edd_codes = knowledge.value_set("pregnancy-edd-observation")
    ga_codes = knowledge.value_set("pregnancy-ga-observation")
    lmp_codes = knowledge.value_set("pregnancy-lmp-observation")
    test_codes = _AnyOf(knowledge, PREGNANCY_TEST_VALUE_SETS)
    full_term = knowledge.policy.full_term_days
    events: list[_Event] = []
    for observation in record.observations:
        if not is_usable_observation(observation, knowledge.policy):
            continue
        code = observation.get("code")
        if not concept_facts(code, knowledge).in_any(_OBSERVATION_EVENT_VALUE_SETS):
            continue  # none of the pregnancy observations below
        reference = relative_reference(observation)
        # A partial date is read at its latest day: the younger the record, the lower the GA.
        recorded = observation_date(observation, "latest")
        when = f" on {recorded.isoformat()}" if recorded else ""
        if status_codes.match_concept(code, knowledge.aliases):
            answer, label = _status_answer(observation, knowledge)
            if answer is None:
                continue
            if answer == "not-pregnant":  # a negation counts from its earliest possible day
                recorded = observation_date(observation, "earliest")
            events.append(
                _Event(
                    "status",
                    recorded,
                    Evidence(reference, f"Pregnancy status '{label}'{when}", recorded),
                    answer=answer,
                )
            )
        elif test_codes.match_concept(code, knowledge.aliases):
            answer, label = _test_answer(observation, knowledge)
            if answer is None:
                continue
            if answer == "not-pregnant":
                recorded = observation_date(observation, "earliest")
            events.append(
                _Event(
                    "status",
                    recorded,
                    Evidence(reference, f"Pregnancy test {label}{when}", recorded),
                    answer=answer,
                )
            )
        elif edd_codes.match_concept(code, knowledge.aliases):
            due = parse_date(observation.get("valueDateTime"), "latest")
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
            ga_then = _gestational_age_days(observation, knowledge.policy.gestational_age_max_observed_days)
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
            lmp = parse_date(observation.get("valueDateTime"), "latest")
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
    pregnancy_codes = _AnyOf(knowledge, PREGNANCY_CONDITION_VALUE_SETS)
    ended_codes = knowledge.value_set("pregnancy-ended-condition")
    possible_codes = knowledge.value_set("pregnancy-status-possible")
    events: list[_Event] = []
    # Only Conditions (active or not) in a pregnancy value set or named as a pregnancy give events below.
    index = condition_index(record, knowledge, now)
    for condition in index.select(_CONDITION_EVENT_VALUE_SETS, ("pregnancy-condition",), active_only=False):
        if is_excluded_verification(condition, knowledge.policy):
            continue
        code = condition.get("code")
        reference = relative_reference(condition)
        label = concept_label(code) or "pregnancy condition"
        if ended_codes.match_concept(code, knowledge.aliases):
            # Only a real event date ends a pregnancy: onset, abatement, or the encounter an encounter
            # diagnosis was recorded at; never the day a history item was typed into the problem list.
            ended = (
                condition_onset(condition, "earliest")
                or condition_abatement(condition, "earliest")
                or (encounter_date(condition) if is_encounter_diagnosis(condition) else None)
            )
            if ended is not None:
                events.append(
                    _Event("ended", ended, Evidence(reference, f"{label} ({ended.isoformat()})", ended))
                )
            continue
        if knowledge.value_set(NEGATIVE_TEST_CONDITIONS).match_concept(code, knowledge.aliases):
            tested = condition_date(condition, "earliest")  # a negation counts from its earliest day
            if tested is not None:
                events.append(
                    _Event(
                        "status",
                        tested,
                        Evidence(reference, f"{label} ({tested.isoformat()})", tested),
                        answer="not-pregnant",
                    )
                )
            continue
        recorded = condition_date(condition, "latest")
        asserted = condition_asserted(condition)
        when = f" ({recorded.isoformat()})" if recorded else ""
        if possible_codes.match_concept(code, knowledge.aliases):
            if is_active_condition(condition, now, knowledge.policy):
                events.append(
                    _Event(
                        "condition",
                        recorded,
                        Evidence(reference, f"{label}{when}", recorded),
                        answer="possible",
                        asserted=asserted,
                    )
                )
            continue
        matches = pregnancy_codes.match_concept(code, knowledge.aliases)
        if not matches:
            by_name = match_condition_text(
                code, "pregnancy-condition", knowledge.condition_text, knowledge.aliases
            )
            if by_name is None:
                continue
            label = f"'{by_name.text}' (no code: matched by the name '{by_name.name}')"
        if not is_active_condition(condition, now, knowledge.policy):
            abated = _plausible_end(condition, knowledge.policy.pregnancy_max_days)
            if abated is not None:
                events.append(
                    _Event(
                        "ended", abated, Evidence(reference, f"{label} resolved {abated.isoformat()}", abated)
                    )
                )
            continue
        events.append(
            _Event("condition", recorded, Evidence(reference, f"{label}{when}", recorded), asserted=asserted)
        )
        dating = _z3a_dating(matches, asserted, now, reference, label)
        if dating is not None:
            events.append(dating)
        trimester = _trimester_dating(code, knowledge, asserted, now, reference, label)
        if trimester is not None:
            events.append(trimester)
    return events


def _procedure_events(record: PatientRecord, knowledge: Knowledge) -> list[_Event]:
    """A completed delivery, termination, evacuation or ectopic surgery ends the pregnancy before it."""
    value_set = knowledge.value_set(PREGNANCY_ENDING_PROCEDURES)
    events: list[_Event] = []
    for procedure in record.procedures:
        if PREGNANCY_ENDING_PROCEDURES not in concept_facts(procedure.get("code"), knowledge).value_sets:
            continue
        status = (as_text(procedure.get("status")) or "").lower()
        if status in _PROCEDURE_NOT_DONE:
            continue
        matches = value_set.match_concept(procedure.get("code"), knowledge.aliases)
        if not matches:
            continue
        period = as_object(procedure.get("performedPeriod")) or {}
        ended = parse_date(procedure.get("performedDateTime"), "earliest") or parse_date(
            period.get("end") or period.get("start"), "earliest"
        )
        if ended is None:  # an undated procedure cannot say which pregnancy it ended
            continue
        label = concept_label(procedure.get("code")) or matches[0].display or matches[0].code
        events.append(
            _Event(
                "ended",
                ended,
                Evidence(relative_reference(procedure), f"{label} ({ended.isoformat()})", ended),
            )
        )
    return events


_TRIMESTER_VALUE_SETS = (
    ("pregnancy-first-trimester-condition", "first"),
    ("pregnancy-second-trimester-condition", "second"),
    ("pregnancy-third-trimester-condition", "third"),
)


def _trimester_dating(
    code: Any, knowledge: Knowledge, coded_on: date | None, now: date, reference: str | None, label: str
) -> _Event | None:
    """A code titled "first/second/third trimester" gives the GA range at the encounter it was coded at."""
    if coded_on is None:
        return None
    policy = knowledge.policy
    bounds = {
        "first": (0, policy.first_trimester_end_days - 1),
        "second": (policy.first_trimester_end_days, policy.second_trimester_end_days - 1),
        "third": (policy.second_trimester_end_days, policy.pregnancy_max_days),
    }
    for value_set_id, trimester in _TRIMESTER_VALUE_SETS:
        if knowledge.value_set(value_set_id).match_concept(code, knowledge.aliases):
            low, high = bounds[trimester]
            elapsed = (now - coded_on).days
            return _Event(
                "dating",
                coded_on,
                Evidence(reference, f"{trimester}-trimester code {label} ({coded_on.isoformat()})", coded_on),
                ga_low=low + elapsed,
                ga_high=high + elapsed,
                rank=4,
            )
    return None


def _status_gap(
    all_events: list[_Event], knowledge: Knowledge, now: date
) -> tuple[str, tuple[Evidence, ...]] | None:
    """Why the pregnancy status counts as unknown on ``now``, or ``None`` when it is known.

    Known: a "not pregnant" status, or the end of a pregnancy (delivery, abortive outcome), dated within
    ``pregnancy_status_max_age_days``, and no newer "unknown" status. Only asked when
    :func:`assess_pregnancy` found no current pregnancy, on the events it already read.
    """
    window = knowledge.policy.pregnancy_status_max_age_days
    events = [e for e in all_events if e.recorded is not None and e.recorded <= now]
    statuses = sorted(
        (e for e in events if e.kind == "status"),
        key=lambda e: (e.recorded or date.min, e.answer != "unknown"),
    )
    if statuses and statuses[-1].answer == "unknown":
        newest = statuses[-1]
        when = newest.recorded.isoformat() if newest.recorded else "undated"
        return f"latest status 'unknown', {when}", (newest.evidence,)
    if any(
        (e.kind == "ended" or e.answer == "not-pregnant") and (now - (e.recorded or date.min)).days <= window
        for e in events
    ):
        return None
    return f"no pregnancy status in the last {window} days", ()


def _plausible_end(condition: Mapping[str, Any], max_days: int) -> date | None:
    """When a resolved pregnancy problem says the pregnancy ended, at the latest ``max_days`` after it began.

    Problem-list clean-up often resolves an old pregnancy months later, on the day a new one is recorded; the
    abatement date then says nothing about the new pregnancy. With neither onset nor recordedDate the end
    cannot be placed and is not used.
    """
    abated = condition_abatement(condition, "earliest")
    began = condition_onset(condition, "earliest") or encounter_date(condition)
    if abated is None or began is None:
        return None
    return min(abated, began + timedelta(days=max_days))


def _z3a_dating(
    matches: list[CodeMatch], coded_on: date | None, now: date, reference: str | None, label: str
) -> _Event | None:
    """Z3A.NN gives the weeks of gestation at the encounter it was coded at (its recorded date)."""
    weeks = next(
        (
            int(found.group(1))
            for m in matches
            if m.system == ICD10CM
            if (found := _Z3A_RE.match(normalise_icd10cm(m.code))) and int(found.group(1)) > 0
        ),
        None,
    )
    if weeks is None or coded_on is None:
        return None
    low_then, high_then = (0, 55) if weeks == 1 else (7 * weeks, 7 * weeks + 6)
    elapsed = (now - coded_on).days
    return _Event(
        "dating",
        coded_on,
        Evidence(reference, f"weeks of gestation code {label} ({coded_on.isoformat()})", coded_on),
        ga_low=low_then + elapsed,
        ga_high=high_then + elapsed,
        rank=3,
    )


def _status_answer(observation: Mapping[str, Any], knowledge: Knowledge) -> tuple[StatusAnswer | None, str]:
    """The status answer and its label: coded first, then (marked uncoded) valueBoolean, valueString or the
    concept's text, read with the phrases in ``pregnancy-text.json``."""
    value = observation.get("valueCodeableConcept")
    for value_set_id, answer in _STATUS_VALUE_SETS:
        if knowledge.value_set(value_set_id).match_concept(value, knowledge.aliases):
            return answer, concept_label(value) or answer
    flag = observation.get("valueBoolean")
    if isinstance(flag, bool):
        return ("pregnant" if flag else "not-pregnant"), f"{'yes' if flag else 'no'}, uncoded"
    text = as_text(observation.get("valueString")) or as_text((as_object(value) or {}).get("text"))
    if text:
        text_answer = read_answer_text(text, knowledge.answer_text)
        if text_answer is not None:
            return cast(StatusAnswer, text_answer), f"{text[:60]}, uncoded"
    return None, ""


# Unit arithmetic, not clinical content: in UCUM 1 m[IU]/mL = 1 [IU]/L (milli- over milli-), so every
# spelling below is the same scale; the clinical cut-offs are policy.json's hcg_* settings.
_HCG_UNITS_PER_IU_L = {"[iu]/l": 1.0, "m[iu]/ml": 1.0, "miu/ml": 1.0, "iu/l": 1.0, "u/l": 1.0}


def _test_answer(observation: Mapping[str, Any], knowledge: Knowledge) -> tuple[StatusAnswer | None, str]:
    """A pregnancy test read as a status: qualitative (coded, or text such as "Negative") or quantitative
    hCG in IU/L or mIU/mL (below ``hcg_negative_below_iu_per_l`` negative, from ``hcg_positive_from_iu_per_l``
    positive, between equivocal = possible). A value in another unit is not used."""
    value = observation.get("valueCodeableConcept")
    for value_set_id, answer in (
        ("pregnancy-test-positive", "pregnant"),
        ("pregnancy-test-negative", "not-pregnant"),
    ):
        if knowledge.value_set(value_set_id).match_concept(value, knowledge.aliases):
            return cast(StatusAnswer, answer), concept_label(value) or answer
    quantity = as_object(observation.get("valueQuantity"))
    if quantity is not None:
        number = quantity.get("value")
        unit = next(
            (
                u
                for u in (as_text(quantity.get(n)) for n in ("code", "unit"))
                if u and u.lower() in _HCG_UNITS_PER_IU_L
            ),
            None,
        )
        if (
            unit is None
            or not isinstance(number, int | float)
            or isinstance(number, bool)
            or not math.isfinite(number)
        ):
            return None, ""
        iu_per_l = number * _HCG_UNITS_PER_IU_L[unit.lower()]
        policy = knowledge.policy
        comparator = as_text(quantity.get("comparator")) or ""
        label = f"hCG {comparator}{number:g} {unit}"
        # "<5 mIU/mL" (the usual way a negative quantitative hCG is reported) is below the cut-off even
        # though 5 itself is not; an upper bound above the cut-off ("<25") leaves the result equivocal.
        below_cutoff = iu_per_l < policy.hcg_negative_below_iu_per_l or (
            comparator == "<" and iu_per_l <= policy.hcg_negative_below_iu_per_l
        )
        if below_cutoff:
            return "not-pregnant", f"{label} (negative)"
        if comparator in {"<", "<="}:
            return "possible", f"{label} (equivocal)"
        if iu_per_l >= policy.hcg_positive_from_iu_per_l:
            return "pregnant", f"{label} (positive)"
        return "possible", f"{label} (equivocal)"
    return _status_answer(observation, knowledge)


def _gestational_age_days(observation: Mapping[str, Any], max_days: int) -> int | None:
    """GA in days from valueQuantity (wk or d), from a valueString such as "9 weeks 2 days" / "9w2d", or from
    week and day components; a value above ``max_days`` is a data error and is not used."""
    quantity = as_object(observation.get("valueQuantity"))
    text = as_text(observation.get("valueString"))
    days: int | None
    if quantity is not None:
        days = _quantity_days(quantity)
    elif text:
        days = _text_days(text)
    else:
        days = None
        for component in as_list(observation.get("component")):
            part = _quantity_days(as_object((as_object(component) or {}).get("valueQuantity")) or {})
            if part is not None:
                days = (days or 0) + part
    return days if days is not None and days <= max_days else None


def _quantity_days(quantity: Mapping[str, Any]) -> int | None:
    value = quantity.get("value")
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    if not math.isfinite(value) or not 0 <= value <= _ARITHMETIC_GUARD:
        return None
    units = {_unit_word(quantity.get(name)) for name in ("code", "unit")} - {""}
    if units & _WEEKS_UNITS:
        return round(value * 7)
    if units & _DAYS_UNITS:
        return round(value)
    return None


def _unit_word(raw: Any) -> str:
    """``"{weeks}"`` -> ``"weeks"``, ``"Week(s)"`` -> ``"week"``, ``"wks."`` -> ``"wks"``."""
    return (as_text(raw) or "").lower().strip("{}. ").removesuffix("(s)")


def _text_days(text: str) -> int | None:
    fraction = _GA_FRACTION_RE.search(text[:100].lower())
    if fraction:
        return int(fraction.group(1)) * 7 + int(fraction.group(2))
    match = _GA_TEXT_RE.search(text[:100].lower())
    return int(match.group(1)) * 7 + int(match.group(2) or 0) if match else None
