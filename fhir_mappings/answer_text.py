"""Free-text answers to "is the patient pregnant?" (status answers and qualitative pregnancy tests).

The whole answer is read, never its first phrase only: every phrase of ``pregnancy-text.json`` found in the
answer counts (a longer phrase hides the shorter ones inside it: "not pregnant" is no "pregnant"; phrases
listed as ``neutral`` hide words that say nothing about pregnancy: "Rh negative", "no complications").
Phrases listed in ``whole_answer_only`` ("no", "neg", "yes") count only when they are the whole answer
("No" is a negative answer, "pregnant - no complications" is not). The answers found are then combined:

- one answer: that answer;
- "pregnant" with any other answer (a positive and a negative phrase, or a positive and an uncertain one):
  ``possible``, a contraindication until confirmed, never "not pregnant";
- "possible" with "not-pregnant" or "unknown": ``possible``;
- "unknown" with "not-pregnant": ``unknown``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ANSWERS = ("pregnant", "possible", "unknown", "not-pregnant")  # safest first
_MAX_ANSWER = 200  # an answer, not a note: only its start is read
_SEPARATORS = re.compile(r"[\s.,;:!()\[\]\-/]+")


@dataclass(frozen=True, slots=True)
class AnswerTextKnowledge:
    """``pregnancy-text.json`` compiled."""

    pattern: re.Pattern[str] | None = None
    answer_by_phrase: Mapping[str, str | None] = field(default_factory=dict)  # None: a neutral phrase
    whole_answers: Mapping[str, str] = field(default_factory=dict)


def parse_answer_text(document: Mapping[str, Any]) -> AnswerTextKnowledge:
    """Compile the document (raises KeyError/TypeError/ValueError on a malformed one)."""
    answer_by_phrase: dict[str, str | None] = {}
    for answer, phrases in document["answers"].items():
        if answer not in ANSWERS:
            raise ValueError(f"unknown answer {answer!r}")
        for phrase in phrases:
            answer_by_phrase[_normalise(phrase)] = answer
    for phrase in document.get("neutral", []):
        answer_by_phrase[_normalise(phrase)] = None
    whole: dict[str, str] = {}
    for answer, phrases in document.get("whole_answer_only", {}).items():
        if answer not in ANSWERS:
            raise ValueError(f"unknown answer {answer!r}")
        for phrase in phrases:
            whole[_normalise(phrase)] = answer
    if not answer_by_phrase or any(not p for p in [*answer_by_phrase, *whole]):
        raise ValueError("phrases must be non-empty")
    ordered = sorted(answer_by_phrase, key=len, reverse=True)
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(re.escape(p) for p in ordered) + r")(?!\w)")
    return AnswerTextKnowledge(pattern, answer_by_phrase, whole)


def _normalise(text: str) -> str:
    """Lower case, runs of spaces and punctuation as one space: "Not-pregnant." -> "not pregnant"."""
    return _SEPARATORS.sub(" ", text.lower()).strip()


def read_answer_text(text: str, knowledge: AnswerTextKnowledge) -> str | None:
    """The answer the whole text gives (one of :data:`ANSWERS`), or ``None`` when it says none."""
    normalised = _normalise(text[:_MAX_ANSWER])
    if not normalised or knowledge.pattern is None:
        return None
    if normalised in knowledge.whole_answers:
        return knowledge.whole_answers[normalised]
    found = {knowledge.answer_by_phrase[m.group(0)] for m in knowledge.pattern.finditer(normalised)}
    return combine_answers(found - {None})  # type: ignore[arg-type]


def combine_answers(found: set[str]) -> str | None:
    """The answer several phrases of one text give together (see the module docstring)."""
    if not found:
        return None
    if len(found) == 1:
        return next(iter(found))
    if "pregnant" in found or "possible" in found:
        return "possible"
    return "unknown"
