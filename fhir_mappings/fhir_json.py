"""Tolerant accessors for plain FHIR R4 JSON: codings, dates, references, Bundles.

Every helper accepts whatever an EHR sent (missing fields, wrong types, partial dates) and returns an empty
value or ``None`` instead of raising, so one odd resource never breaks an evaluation.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any, Literal, TypeVar

JsonObject = Mapping[str, Any]

_DATE_RE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")
# Dates outside these years are data errors (or hostile), not clinical facts; they also keep date
# arithmetic away from date.min/date.max.
_PLAUSIBLE_YEARS = range(1900, 2201)
DateBound = Literal["earliest", "latest"]


@dataclass(frozen=True, slots=True)
class CodingValue:
    """One coding of a CodeableConcept, with its system as sent."""

    system: str
    code: str
    display: str | None


def as_object(value: Any) -> JsonObject | None:
    """``value`` if it is a JSON object, else ``None``."""
    # parsed JSON objects are dicts: the exact type test first (an ABC isinstance check is many times slower)
    return value if type(value) is dict or isinstance(value, Mapping) else None


def as_list(value: Any) -> list[Any]:
    """``value`` if it is a JSON array, else an empty list."""
    return value if isinstance(value, list) else []


def as_text(value: Any) -> str | None:
    """A non-blank string, stripped, else ``None``."""
    return value.strip() or None if isinstance(value, str) else None


# Per evaluation (see read_once): (id(json value), what was read) -> (json value, what it gave). The value is
# kept so its id cannot be reused by another object while the entry lives.
_READ: ContextVar[dict[tuple[int, Hashable], tuple[Any, Any]] | None] = ContextVar(
    "fhir_json_read", default=None
)
_T = TypeVar("_T")


@contextmanager
def read_once() -> Iterator[None]:
    """Within the block, what is read from a JSON value (a CodeableConcept's codings, its value-set
    matches, a status) is read once and remembered: the rules ask the same questions of the same concepts
    over and over (every rule, every value set). Only for JSON that nothing changes while the block runs
    (a hook call's resources); per thread or greenlet (a context variable)."""
    token = _READ.set({})
    try:
        yield
    finally:
        _READ.reset(token)


def remembered(value: Any, question: Hashable, answer: Callable[[], _T]) -> _T:
    """``answer()``, remembered for ``(value, question)`` inside :func:`read_once` (computed each time
    outside it). Answers must be immutable (tuples, not lists): every caller gets the same object."""
    read = _READ.get()
    if read is None:
        return answer()
    key = (id(value), question)
    hit = read.get(key)
    if hit is not None and hit[0] is value:
        found: _T = hit[1]
        return found
    result = answer()
    read[key] = (value, result)
    return result


def codings(concept: Any) -> list[CodingValue]:
    """All codings of a CodeableConcept that have both a system and a code.

    Tolerates what malformed senders do: a single coding object instead of an array, numeric codes.
    """
    read = _READ.get()
    if read is None:
        return _read_codings(concept)
    key = (id(concept), None)
    hit = read.get(key)
    if hit is not None and hit[0] is concept:
        return list(hit[1])
    found = _read_codings(concept)
    read[key] = (concept, tuple(found))
    return found


def _read_codings(concept: Any) -> list[CodingValue]:
    raw = (as_object(concept) or {}).get("coding")
    found: list[CodingValue] = []
    for coding in [raw] if as_object(raw) is not None else as_list(raw):
        coding_obj = as_object(coding) or {}
        identity = coding_identity(coding_obj)
        if identity is not None:
            found.append(CodingValue(*identity, as_text(coding_obj.get("display"))))
    return found


def coding_identity(coding: JsonObject) -> tuple[str, str] | None:
    """The (system, code) of a Coding object as :func:`codings` reads them (stripped; a numeric code as
    text), or ``None`` when it lacks either (such a coding is not counted)."""
    system, code = as_text(coding.get("system")), _code_text(coding.get("code"))
    return (system, code) if system and code else None


def concept_texts(concept: Any, max_codings: int | None = None) -> list[str]:
    """The words a CodeableConcept carries: its text, then each coding's display (any system, with or
    without a code), non-blank and stripped, in that order. ``max_codings`` caps how many codings are read
    (hostile data may send thousands)."""
    concept_obj = as_object(concept) or {}
    raw = concept_obj.get("coding")
    coding_list = [raw] if as_object(raw) is not None else as_list(raw)
    candidates = [concept_obj.get("text")]
    candidates += [(as_object(c) or {}).get("display") for c in coding_list[:max_codings]]
    return [text for text in map(as_text, candidates) if text]


def _code_text(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return as_text(value)


def concept_label(concept: Any) -> str | None:
    """A human label for a CodeableConcept: its text, else the first coding display, else a code."""
    concept_obj = as_object(concept) or {}
    text = as_text(concept_obj.get("text"))
    if text:
        return text
    all_codings = codings(concept_obj)
    for coding in all_codings:
        if coding.display:
            return coding.display
    return all_codings[0].code if all_codings else None


def status_code(concept: Any, system: str) -> str | None:
    """The code of a status CodeableConcept (Condition.clinicalStatus etc.), lower-case.

    The coding from ``system`` (the HL7 status code system) wins over local codings; with none from that
    system, the first coded value; with no coding, the concept's text (``"Entered in error"`` ->
    ``"entered-in-error"``). A plain string, as STU3-converted data sends it, is read the same way.
    """
    if isinstance(concept, str):
        return _status_words(concept)
    if type(concept) is dict:  # the usual shape, a first coding from ``system``: it is the one chosen
        raw = concept.get("coding")
        if type(raw) is list and raw:
            coding = raw[0]
            if type(coding) is dict and coding.get("system") == system:
                code = coding.get("code")
                if type(code) is str and (stripped := code.strip()):
                    return stripped.lower()
    return remembered(concept, ("status", system), lambda: _status_code(concept, system))


def _status_code(concept: Any, system: str) -> str | None:
    values = codings(concept)
    preferred = [c for c in values if c.system == system]
    chosen = preferred or values
    if chosen:
        return chosen[0].code.lower()
    return _status_words(as_text((as_object(concept) or {}).get("text")))


def _status_words(text: str | None) -> str | None:
    return "-".join(text.lower().split()) if text and text.strip() else None


def parse_date(value: Any, bound: DateBound = "earliest") -> date | None:
    """The calendar date of a FHIR date/dateTime/instant.

    A partial date stands for a range: ``bound`` picks its first or last day (``"2024-07"`` -> 2024-07-01 or
    2024-07-31). Rules choose the bound that errs on the safe side. A time zone is not converted: the date is
    the local date the sender recorded. Unparseable or implausible (year outside 1900-2200) -> ``None``.
    """
    return _parse_date_text(value, bound) if isinstance(value, str) else None


@lru_cache(maxsize=4096)  # charts repeat dates; bounded against hostile input
def _parse_date_text(value: str, bound: DateBound) -> date | None:
    text = as_text(value)
    match = _DATE_RE.match(text) if text else None
    if not match or int(match.group(1)) not in _PLAUSIBLE_YEARS:
        return None
    year = int(match.group(1))
    latest = bound == "latest"
    month = int(match.group(2)) if match.group(2) else (12 if latest else 1)
    try:
        if match.group(3):
            return date(year, month, int(match.group(3)))
        last_day = calendar.monthrange(year, month)[1]
        return date(year, month, last_day if latest else 1)
    except (ValueError, calendar.IllegalMonthError):
        return None


def reference_parts(reference: Any) -> tuple[str, str] | None:
    """``("Condition", "123")`` for ``Condition/123``, an absolute URL, or a versioned reference."""
    ref = (
        as_text((as_object(reference) or {}).get("reference"))
        if isinstance(reference, Mapping)
        else (as_text(reference))
    )
    if not ref or ref.startswith("#"):
        return None
    parts = ref.split("/_history/")[0].rstrip("/").split("/")
    if len(parts) < 2 or not parts[-2] or not parts[-1]:
        return None
    return parts[-2], parts[-1]


def relative_reference(resource: JsonObject) -> str | None:
    """``Type/id`` for a resource that has both."""
    resource_type, resource_id = as_text(resource.get("resourceType")), _code_text(resource.get("id"))
    return f"{resource_type}/{resource_id}" if resource_type and resource_id else None


def bundle_resources(bundle: Any) -> Iterator[JsonObject]:
    """The resources in a Bundle's entries (entries without a resource object are skipped)."""
    for entry in as_list((as_object(bundle) or {}).get("entry")):
        resource = as_object((as_object(entry) or {}).get("resource"))
        if resource is not None:
            yield resource
