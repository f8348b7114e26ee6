"""Names of contraindicated conditions read in the text of a Condition that has no standard coding.

A free-text problem ("Hemophilia A", "Cellulitis of right leg") or one coded only in a local system would
otherwise say nothing to the code-based rules. The names and the phrases that make a text not an assertion
("history of", "denies") are knowledge data (``condition-text.json``); a match is flagged as made by name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fhir_mappings.codes import ICD10CM, SNOMED, SystemAliases
from fhir_mappings.fhir_json import codings, concept_texts

_STANDARD_SYSTEMS = frozenset({ICD10CM, SNOMED})
_MAX_TEXT = 300  # a problem name, not a note: only its start is read


@dataclass(frozen=True, slots=True)
class ConditionTextKnowledge:
    """``condition-text.json`` compiled: per value set, a whole-word pattern of names."""

    names_by_value_set: Mapping[str, re.Pattern[str]] = field(default_factory=dict)
    not_asserted: re.Pattern[str] | None = None


@dataclass(frozen=True, slots=True)
class TextMatch:
    """The text read and the name found in it."""

    text: str
    name: str


def parse_condition_text(document: Mapping[str, Any]) -> ConditionTextKnowledge:
    """Compile the document (raises KeyError/TypeError/ValueError on a malformed one)."""
    names = {str(rule["value_set"]): _words(rule["names"]) for rule in document["rules"] if rule["names"]}
    return ConditionTextKnowledge(names, _words(document["not_asserted"]))


def _words(phrases: Any) -> re.Pattern[str]:
    if not isinstance(phrases, list) or not all(isinstance(p, str) and p.strip() for p in phrases):
        raise ValueError("a list of non-empty phrases is required")
    ordered = sorted({p.strip().lower() for p in phrases}, key=len, reverse=True)
    return re.compile(r"(?<![\w/])(?:" + "|".join(re.escape(p) for p in ordered) + r")(?![\w/])")


def match_condition_text(
    concept: Any, value_set_id: str, knowledge: ConditionTextKnowledge, aliases: SystemAliases
) -> TextMatch | None:
    """The name of a ``value_set_id`` condition in the concept's text, when the concept has no ICD-10-CM or
    SNOMED CT coding (those are judged by their codes) and the text asserts the condition."""
    pattern = knowledge.names_by_value_set.get(value_set_id)
    if pattern is None or any(aliases.canonical(c.system) in _STANDARD_SYSTEMS for c in codings(concept)):
        return None
    for text in concept_texts(concept):
        lowered = text[:_MAX_TEXT].lower()
        if knowledge.not_asserted is not None and knowledge.not_asserted.search(lowered):
            continue
        found = pattern.search(lowered)
        if found:
            return TextMatch(text[:_MAX_TEXT], found.group(0))
    return None
