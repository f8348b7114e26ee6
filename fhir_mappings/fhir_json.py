"""Tolerant accessors for plain FHIR R4 JSON: codings, dates, references, Bundles.

Every helper accepts whatever an EHR sent (missing fields, wrong types, partial dates) and returns an empty
value or ``None`` instead of raising, so one odd resource never breaks an evaluation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

JsonObject = Mapping[str, Any]

_DATE_RE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


@dataclass(frozen=True, slots=True)
class CodingValue:
    """One coding of a CodeableConcept, with its system as sent."""

    system: str
    code: str
    display: str | None


def as_object(value: Any) -> JsonObject | None:
    """``value`` if it is a JSON object, else ``None``."""
    return value if isinstance(value, Mapping) else None


def as_list(value: Any) -> list[Any]:
    """``value`` if it is a JSON array, else an empty list."""
    return value if isinstance(value, list) else []


def as_text(value: Any) -> str | None:
    """A non-blank string, stripped, else ``None``."""
    return value.strip() or None if isinstance(value, str) else None


def codings(concept: Any) -> list[CodingValue]:
    """All codings of a CodeableConcept that have both a system and a code."""
    found: list[CodingValue] = []
    for coding in as_list((as_object(concept) or {}).get("coding")):
        coding_obj = as_object(coding) or {}
        system, code = as_text(coding_obj.get("system")), as_text(coding_obj.get("code"))
        if system and code:
            found.append(CodingValue(system, code, as_text(coding_obj.get("display"))))
    return found


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


def status_code(concept: Any) -> str | None:
    """The code of a status CodeableConcept (Condition.clinicalStatus etc.), lower-case."""
    for coding in as_list((as_object(concept) or {}).get("coding")):
        code = as_text((as_object(coding) or {}).get("code"))
        if code:
            return code.lower()
    return None


def parse_date(value: Any) -> date | None:
    """The calendar date of a FHIR date/dateTime/instant; partial dates give their first day.

    ``"2024"`` -> 2024-01-01, ``"2024-07"`` -> 2024-07-01. A time zone is not converted: the date is the
    local date the sender recorded. Anything unparseable -> ``None``.
    """
    text = as_text(value)
    if not text:
        return None
    match = _DATE_RE.match(text)
    if not match:
        return None
    year, month, day = match.group(1), match.group(2) or "01", match.group(3) or "01"
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        return None


def parse_datetime(value: Any) -> datetime | None:
    """A full FHIR dateTime/instant with its offset, else ``None`` (partial values are refused)."""
    text = as_text(value)
    if not text or len(text) < 11:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
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
    resource_type, resource_id = as_text(resource.get("resourceType")), as_text(resource.get("id"))
    return f"{resource_type}/{resource_id}" if resource_type and resource_id else None


def bundle_resources(bundle: Any) -> Iterator[JsonObject]:
    """The resources in a Bundle's entries (entries without a resource object are skipped)."""
    for entry in as_list((as_object(bundle) or {}).get("entry")):
        resource = as_object((as_object(entry) or {}).get("resource"))
        if resource is not None:
            yield resource
