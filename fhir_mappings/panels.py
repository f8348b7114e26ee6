"""Results inside other Observations: panel components and ``hasMember`` results.

A platelet count or INR is often sent only as a ``component`` of a panel Observation (a CBC, a coagulation
panel) or as a member result the panel points to with ``hasMember`` (a ``#id`` contained in the panel, or an
``Observation/id`` sent alongside). Each is read the way a standalone result is read: the component as a
result of its own with the panel's status, dates and reference; a member as the Observation it is.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from fhir_mappings.fhir_json import as_list, as_object, as_text, reference_parts
from fhir_mappings.records import PatientRecord

_PANEL_FIELDS = ("resourceType", "id", "status", "effectiveDateTime", "effectiveInstant", "effectivePeriod")
_MAX_DEPTH = 3  # panels of panels: a CBC inside a "hematology" panel; deeper nesting is not followed


def lab_readings(record: PatientRecord) -> Iterator[Mapping[str, Any]]:
    """Every Observation of the record, then each component of each (as an Observation of its own that
    carries the panel's status, dates and id), then each contained ``hasMember`` result (members sent as
    Observations of their own are already in the record)."""
    for observation in record.observations:
        yield from _with_parts(observation, 0)


def _with_parts(observation: Mapping[str, Any], depth: int) -> Iterator[Mapping[str, Any]]:
    yield observation
    inherited = {name: observation[name] for name in _PANEL_FIELDS if name in observation}
    if "issued" in observation:
        inherited["issued"] = observation["issued"]
    for component in as_list(observation.get("component")):
        part = as_object(component)
        if part is not None:
            own = {
                k: v for k, v in part.items() if k in {"code", "dataAbsentReason"} or k.startswith("value")
            }
            yield {**inherited, **own}
    if depth >= _MAX_DEPTH:
        return
    contained = {
        str(item.get("id")): item
        for item in (as_object(c) or {} for c in as_list(observation.get("contained")))
        if item.get("resourceType") == "Observation"
    }
    for member in as_list(observation.get("hasMember")):
        reference = as_text((as_object(member) or {}).get("reference")) or ""
        if reference.startswith("#") and reference[1:] in contained:
            # a contained result has no identity of its own: the panel's reference is cited; what it does
            # not say itself (status, dates) it takes from the panel
            found = {**inherited, **contained[reference[1:]], "resourceType": "Observation"}
            found["id"] = observation.get("id")
            yield from _with_parts(found, depth + 1)


def unresolved_members(record: PatientRecord) -> list[str]:
    """``Observation/id`` references of ``hasMember`` that the record does not hold (to be fetched)."""
    held = {str(o.get("id")) for o in record.observations}
    wanted: list[str] = []
    for observation in record.observations:
        for member in as_list(observation.get("hasMember")):
            parts = reference_parts(as_object(member) or {})
            if parts and parts[0] == "Observation" and parts[1] not in held:
                wanted.append(f"Observation/{parts[1]}")
    return list(dict.fromkeys(wanted))
