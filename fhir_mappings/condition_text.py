"""Names of contraindicated conditions read in the text of a Condition that has no standard coding.

A free-text problem ("Hemophilia A", "Cellulitis of right leg"), one coded only in a local system, or one
whose SNOMED CT / ICD-10-CM code no value set places would otherwise say nothing to the code-based rules.
The names and the phrases that make a text not an assertion ("history of", "denies") are knowledge data
(``condition-text.json``); a match is flagged as made by name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fhir_mappings.codes import SystemAliases
from fhir_mappings.fhir_json import codings, concept_texts, remembered

_MAX_TEXT = 300  # a problem name, not a note: only its start is read


@dataclass(frozen=True, slots=True)
class ConditionTextKnowledge:
    """``condition-text.json`` compiled: per value set, a whole-word pattern of names."""

    names_by_value_set: Mapping[str, re.Pattern[str]] = field(default_factory=dict)
    not_asserted: re.Pattern[str] | None = None
    # per value set: words that make a text name something else ("postherpetic neuralgia" is no zoster)
    not_when_by_value_set: Mapping[str, re.Pattern[str]] = field(default_factory=dict)
    # (canonical system, code) -> True when some value set of the rule base places it: such a coding is
    # judged by its code; a concept with no such coding is read by its words
    is_known_code: Callable[[str, str], bool] = field(default=lambda system, code: False)


@dataclass(frozen=True, slots=True)
class TextMatch:
    """The text read and the name found in it."""

    text: str
    name: str


def parse_condition_text(document: Mapping[str, Any]) -> ConditionTextKnowledge:
    """Compile the document (raises KeyError/TypeError/ValueError on a malformed one)."""
    names = {str(rule["value_set"]): _words(rule["names"]) for rule in document["rules"] if rule["names"]}
    not_when = {
        str(rule["value_set"]): _words(rule["not_when"]) for rule in document["rules"] if rule.get("not_when")
    }
    return ConditionTextKnowledge(names, _words(document["not_asserted"]), not_when)


def _words(phrases: Any) -> re.Pattern[str]:
    if not isinstance(phrases, list) or not all(isinstance(p, str) and p.strip() for p in phrases):
        raise ValueError("a list of non-empty phrases is required")
    ordered = sorted({p.strip().lower() for p in phrases}, key=len, reverse=True)
    return re.compile(r"(?<![\w/])(?:" + "|".join(re.escape(p) for p in ordered) + r")(?![\w/])")


def match_condition_text(
    concept: Any, value_set_id: str, knowledge: ConditionTextKnowledge, aliases: SystemAliases
) -> TextMatch | None:
    """The name of a ``value_set_id`` condition in the concept's text (its text and coding displays), when no
    coding of the concept is placed by any value set of the rule base (those are judged by their codes; a
    SNOMED CT or ICD-10-CM code outside every value set says nothing, so its words are read) and the text
    asserts the condition and names nothing the rule's ``not_when`` words exclude."""
    if value_set_id not in knowledge.names_by_value_set:
        return None
    return match_texts(asserting_texts(concept, knowledge, aliases), value_set_id, knowledge)


def match_texts(
    texts: tuple[tuple[str, str], ...], value_set_id: str, knowledge: ConditionTextKnowledge
) -> TextMatch | None:
    """:func:`match_condition_text` on the concept's :func:`asserting_texts`."""
    pattern = knowledge.names_by_value_set.get(value_set_id)
    if pattern is None:
        return None
    not_when = knowledge.not_when_by_value_set.get(value_set_id)
    for text, lowered in texts:
        if not_when is not None and not_when.search(lowered):
            continue
        found = pattern.search(lowered)
        if found:
            return TextMatch(text, found.group(0))
    return None


def asserting_texts(
    concept: Any, knowledge: ConditionTextKnowledge, aliases: SystemAliases
) -> tuple[tuple[str, str], ...]:
    """The concept's texts (each cut to its start, and lower-cased) that assert a condition; none when a
    coding is placed by a value set. The same for every value set: read once per concept and request."""
    return remembered(
        concept,
        ("asserting-texts", id(knowledge), id(aliases)),
        lambda: _read_texts(concept, knowledge, aliases),
    )


def _read_texts(
    concept: Any, knowledge: ConditionTextKnowledge, aliases: SystemAliases
) -> tuple[tuple[str, str], ...]:
    if any(knowledge.is_known_code(aliases.canonical(c.system), c.code) for c in codings(concept)):
        return ()
    texts: list[tuple[str, str]] = []
    # the same words twice (a text repeating a coding's display) are read once: they name the same things
    for text in dict.fromkeys(text[:_MAX_TEXT] for text in concept_texts(concept)):
        lowered = text.lower()
        if knowledge.not_asserted is not None and knowledge.not_asserted.search(lowered):
            continue
        texts.append((text, lowered))
    return tuple(texts)
