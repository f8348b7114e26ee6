"""Knowledge for the precaution rules (``precautions.json``), compiled. Parsing only; the rules live in
``precautions.py``."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fhir_mappings.body_regions import IcdDigitRule
from fhir_mappings.codes import normalise_icd10cm
from fhir_mappings.risk_knowledge import words_pattern

_NEVER = re.compile(r"(?!)")


@dataclass(frozen=True, slots=True)
class ConditionRule:
    """One precaution finding read from conditions (and, for some, medications or allergies)."""

    code: str
    value_sets: tuple[str, ...]
    text_names: re.Pattern[str] = _NEVER
    medication_value_sets: tuple[str, ...] = ()
    procedure_value_sets: tuple[str, ...] = ()
    allergy_value_sets: tuple[str, ...] = ()
    allergy_words: re.Pattern[str] = _NEVER
    order_reasons: bool = False
    order_regions: frozenset[str] = frozenset()  # limb and site rules: the order regions concerned
    code_regions: tuple[tuple[str, frozenset[str]], ...] = ()  # dotless ICD prefix -> regions
    icd_digit_rules: tuple[IcdDigitRule, ...] = ()
    reach: Mapping[str, frozenset[str]] = field(default_factory=dict)
    critical_when_sides_match: bool = False


@dataclass(frozen=True, slots=True)
class PrecautionKnowledge:
    """The compiled ``precautions.json``: rules by scope."""

    patient: tuple[ConditionRule, ...] = ()
    limb: tuple[ConditionRule, ...] = ()
    site: tuple[ConditionRule, ...] = ()

    def value_set_ids(self) -> Iterable[str]:
        """Every value set the rules name (each must exist)."""
        for rule in (*self.patient, *self.limb, *self.site):
            yield from (*rule.value_sets, *rule.medication_value_sets, *rule.allergy_value_sets)
            yield from rule.procedure_value_sets

    def regions(self) -> Iterable[str]:
        """Every body region the rules name (each must exist)."""
        for rule in (*self.limb, *self.site):
            yield from rule.order_regions
            for _, regions in rule.code_regions:
                yield from regions
            for digit_rule in rule.icd_digit_rules:
                for regions in digit_rule.site_digits.values():
                    yield from regions
            for region, reached in rule.reach.items():
                yield region
                yield from reached


def parse_precautions(document: Mapping[str, Any]) -> PrecautionKnowledge:
    """Compile ``precautions.json`` (KeyError/TypeError/ValueError on a malformed document)."""
    if not document.get("sources"):
        raise ValueError("names no source")
    return PrecautionKnowledge(
        patient=tuple(_rule(code, entry) for code, entry in document["patient_conditions"].items()),
        limb=tuple(_rule(code, entry) for code, entry in document["limb_conditions"].items()),
        site=tuple(_rule(code, entry) for code, entry in document["site_conditions"].items()),
    )


def _rule(code: str, entry: Mapping[str, Any]) -> ConditionRule:
    return ConditionRule(
        code=code,
        value_sets=tuple(str(v) for v in entry["value_sets"]),
        text_names=words_pattern(entry.get("text_names", [])),
        medication_value_sets=tuple(str(v) for v in entry.get("medication_value_sets", [])),
        procedure_value_sets=tuple(str(v) for v in entry.get("procedure_value_sets", [])),
        allergy_value_sets=tuple(str(v) for v in entry.get("allergy_value_sets", [])),
        allergy_words=words_pattern(entry.get("allergy_words", [])),
        order_reasons=bool(entry.get("order_reasons", False)),
        order_regions=frozenset(str(r) for r in entry.get("order_regions", [])),
        code_regions=tuple(
            (normalise_icd10cm(prefix), frozenset(regions))
            for prefix, regions in entry.get("code_regions", {}).items()
        ),
        icd_digit_rules=tuple(
            IcdDigitRule(
                prefixes=tuple(normalise_icd10cm(prefix) for prefix in rule["prefixes"]),
                site_digits={digit: frozenset(regions) for digit, regions in rule["site_digits"].items()},
                side_digits=dict(rule["side_digits"]),
            )
            for rule in entry.get("icd_site_digit_rules", [])
        ),
        reach={region: frozenset(reached) for region, reached in entry.get("reach", {}).items()},
        critical_when_sides_match=bool(entry.get("critical_when_sides_match", False)),
    )
