"""Platelet count and INR: the newest readable result within the age limit decides.

Only results with a usable status (final/amended/corrected) and dated within ``lab_max_age_days`` are read.
A value is converted to the test's canonical unit through the unit table in ``labs.json``; a result whose
unit (or value) cannot be read is never guessed: it is reported (``lab-unit-unknown``) and does not hide an
older readable result, which still decides. A comparator (``<10``, ``>8``) is read at its worst case.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from fhir_mappings.chart_view import concept_facts
from fhir_mappings.codes import SystemAliases
from fhir_mappings.fhir_json import as_object, as_text, relative_reference
from fhir_mappings.findings import Evidence
from fhir_mappings.knowledge import Knowledge
from fhir_mappings.panels import lab_readings
from fhir_mappings.records import PatientRecord, is_usable_observation, observation_date
from fhir_mappings.risk_knowledge import LabTest, normalise_unit

UCUM = "http://unitsofmeasure.org"


@dataclass(frozen=True, slots=True)
class LabResult:
    """One result, read: ``value`` in the canonical unit (worst case of a comparator), or why not."""

    test: LabTest
    evidence: Evidence
    measured: date
    value: float | None
    sent: str  # the value and unit as sent, the readable unit when there is one ("150 K/uL", "3.4 INR")
    problem: str | None = None  # why the value could not be read
    converted: str = ""  # the value in the canonical unit, comparator kept ("18 x10^9/L", "<10 x10^9/L")


@dataclass(frozen=True, slots=True)
class LabAssessment:
    """Per test: the deciding result (newest readable one) and the newer results that could not be read."""

    test: LabTest
    decisive: LabResult | None
    unreadable: tuple[LabResult, ...]


def assess_labs(record: PatientRecord, knowledge: Knowledge, now: date) -> list[LabAssessment]:
    """One assessment per lab test that has a usable result within the age limit."""
    assessments = []
    for test in knowledge.lab_tests:
        results = []
        for observation in lab_readings(record):
            if test.value_set not in concept_facts(observation.get("code"), knowledge).value_sets:
                continue
            if not is_usable_observation(observation, knowledge.policy):
                continue
            measured = observation_date(observation, "latest")
            if measured is None or (now - measured).days > knowledge.policy.lab_max_age_days:
                continue
            if _has_no_value(observation):
                continue
            results.append(read_result(observation, test, min(measured, now), knowledge.aliases))
        results.sort(key=lambda r: r.measured, reverse=True)
        unreadable: list[LabResult] = []
        decisive = None
        for result in results:
            if result.value is None:
                unreadable.append(result)
                continue
            decisive = result
            break
        if decisive or unreadable:
            assessments.append(LabAssessment(test, decisive, tuple(unreadable)))
    return assessments


def _has_no_value(observation: Mapping[str, Any]) -> bool:
    """A result with a dataAbsentReason and no value says nothing about the patient."""
    return observation.get("dataAbsentReason") is not None and not any(
        key.startswith("value") for key in observation
    )


def read_result(
    observation: Mapping[str, Any], test: LabTest, measured: date, aliases: SystemAliases
) -> LabResult:
    """The observation's value in the test's canonical unit, or the reason it cannot be read."""
    evidence_ref = relative_reference(observation)
    quantity = as_object(observation.get("valueQuantity")) or _quantity_in_text(observation)
    if quantity is None:
        sent = _other_value(observation)
        return _unreadable(test, evidence_ref, measured, sent, "not a quantity")
    raw = quantity.get("value")
    comparator = as_text(quantity.get("comparator")) or ""
    units = _unit_candidates(quantity, aliases)
    unit_text = as_text(quantity.get("unit")) or next((u for u in units if u), "")  # readable unit first
    sent = f"{comparator}{_number(raw)} {unit_text}".strip()
    number = _finite(raw)
    if number is None:
        return _unreadable(test, evidence_ref, measured, sent, "no numeric value")
    factor = _factor(test, units)
    if factor is None and _toward_danger(test, comparator):
        # "<10" platelets or ">8" INR: whatever the unit, the value may be as bad as can be (its worst case)
        return LabResult(
            test,
            Evidence(evidence_ref, f"{test.display} {sent}, {measured.isoformat()}", measured, test.display),
            measured,
            _worst_case(test, comparator, number),
            sent,
            converted=sent,
        )
    if factor is None:
        reason = f"unit '{unit_text}' not recognised" if unit_text else "no unit"
        return _unreadable(test, evidence_ref, measured, sent, reason)
    value = _worst_case(test, comparator, number * factor)
    converted = comparator + format_value(test, number * factor)
    description = f"{test.display} {sent}"
    if not _same_unit(test, units):
        description += f" (= {converted})"
    return LabResult(
        test,
        Evidence(evidence_ref, f"{description}, {measured.isoformat()}", measured, test.display),
        measured,
        value,
        sent,
        converted=converted,
    )


def _unreadable(test: LabTest, reference: str | None, measured: date, sent: str, problem: str) -> LabResult:
    description = f"{test.display} '{sent}' on {measured.isoformat()}: {problem}, not evaluated"
    return LabResult(
        test, Evidence(reference, description, measured, test.display), measured, None, sent, problem
    )


def _unit_candidates(quantity: Mapping[str, Any], aliases: SystemAliases) -> list[str]:
    """The UCUM ``code`` (when the system is UCUM or absent) and the printable ``unit``, as sent."""
    candidates: list[str] = []
    system = as_text(quantity.get("system"))
    code = as_text(quantity.get("code"))
    if code and (system is None or aliases.canonical(system) == UCUM):
        candidates.append(code)
    unit = as_text(quantity.get("unit"))
    if unit:
        candidates.append(unit)
    return candidates


def _factor(test: LabTest, units: list[str]) -> float | None:
    """The conversion factor of the first recognised unit; a unitless INR is read as a ratio."""
    for unit in units:
        factor = test.factors.get(normalise_unit(unit))
        if factor is not None:
            return factor
    if not units and test.unitless_allowed:
        return 1.0
    return None


def _same_unit(test: LabTest, units: list[str]) -> bool:
    return not units or all(test.factors.get(normalise_unit(u)) == 1.0 for u in units[:1])


# A result sent as text (valueString, or valueQuantity without a number): an optional comparator (FHIR
# Quantity.comparator: < <= >= >), a number (thousands separators allowed: "150,000"), an optional unit, and
# nothing else ("8.0 (critical)" is not read: a note beside a number is no number). Unit arithmetic only.
_VALUE_TEXT_RE = re.compile(
    r"^\s*(<=|>=|<|>|\u2264|\u2265)?\s*(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?"
    r"(?:\s*([^\s\d.,<>=]\S{0,19})|\s+(\S{1,20}))?\s*$"
)
_COMPARATORS = {"\u2264": "<=", "\u2265": ">="}


def _quantity_in_text(observation: Mapping[str, Any]) -> dict[str, Any] | None:
    """``valueString`` ">8.0", "<10", "150 K/uL" as the Quantity it spells, or ``None``."""
    text = as_text(observation.get("valueString"))
    if text is None:
        return None
    found = _VALUE_TEXT_RE.match(text[:64])
    if found is None:
        return None
    comparator, whole, fraction, attached_unit, spaced_unit = found.groups()
    unit = attached_unit or spaced_unit
    number = float(whole.replace(",", "") + (fraction or ""))
    quantity: dict[str, Any] = {"value": number}
    if comparator:
        quantity["comparator"] = _COMPARATORS.get(comparator, comparator)
    if unit:
        quantity["unit"] = unit
    return quantity


def _toward_danger(test: LabTest, comparator: str) -> bool:
    """True when the comparator leaves the value unbounded on the dangerous side (``<`` for platelets)."""
    return (test.danger == "low" and comparator in {"<", "<="}) or (
        test.danger == "high" and comparator in {">", ">="}
    )


def _worst_case(test: LabTest, comparator: str, value: float) -> float:
    """``<10`` platelets may be any lower value; ``>8`` INR any higher one. Bounds on the safe side stay."""
    if test.danger == "low" and comparator in {"<", "<="}:
        return 0.0
    if test.danger == "high" and comparator in {">", ">="}:
        return math.inf
    return value


def _finite(raw: Any) -> float | None:
    """``raw`` as a finite float >= 0, or ``None`` (booleans, strings, negatives, beyond the float range)."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    try:
        number = float(raw)
    except OverflowError:
        return None
    return number if math.isfinite(number) and number >= 0 else None  # a negative count or ratio is an error


def _other_value(observation: Mapping[str, Any]) -> str:
    for key in ("valueString", "valueInteger"):
        if key in observation:
            return str(observation[key])[:64]
    return next((key for key in observation if key.startswith("value")), "no value")


def _number(raw: Any) -> str:
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw)[:32]


def format_value(test: LabTest, value: float) -> str:
    """``"15 x10^9/L"``, ``"4.2"`` (INR has no unit)."""
    number = f"{value:.1f}".rstrip("0").rstrip(".") if not value.is_integer() else str(int(value))
    return f"{number} {test.display_unit}".strip()
