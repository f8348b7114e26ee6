"""Patient data from the request's prefetch, per CDS Hooks 2.0 prefetch semantics (C6).

- key **absent**: not sent, or failed at the EHR -> the service must get it elsewhere (or answer 412);
- value ``null``: the EHR has no data for it -> no resources;
- an **OperationOutcome** (alone, or an error entry in a Bundle): the EHR's query failed -> treated as absent;
- a Bundle with a ``next`` link (the EHR paginated, as CDS Hooks 2.0 allows) or a ``total`` above its matches:
  incomplete -> treated as absent, never as the complete answer;
- a Bundle whose ``entry`` is not an array of entry objects: unreadable -> treated as absent;
- otherwise a Bundle: its entry resources; a single resource: itself.

Resources whose subject names another patient are dropped: advice must never use another patient's data.

Keys that prefetch does not usably supply are read by a :class:`PatientDataFetcher` (from ``fhirServer``:
``fhir_fetcher.FhirFetcher``). A key it cannot read is reported as unavailable, with why, never as empty.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from cds_service.catalog import ServiceDefinition
from cds_service.hook_request import HookRequest
from fhir_mappings.fhir_json import as_list, as_object, bundle_resources
from fhir_mappings.records import PatientRecord, belongs_to_patient
from fhir_mappings.references import unresolved_references

Resources = list[Mapping[str, Any]]


class MissingReason(StrEnum):
    """Why a prefetch key cannot be used as the patient's data."""

    MISSING = "missing"
    FAILED = "failed"
    INCOMPLETE = "incomplete"
    UNREADABLE = "unreadable"

    @property
    def explanation(self) -> str:
        """A short phrase for error messages (never patient data)."""
        return _EXPLANATIONS[self]


_EXPLANATIONS = {
    MissingReason.MISSING: "not sent",
    MissingReason.FAILED: "the EHR's query failed",
    MissingReason.INCOMPLETE: "paged or truncated, the EHR sent only part of the results",
    MissingReason.UNREADABLE: "not a readable Bundle",
}


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What a fetcher read: resources per key, and for each key it could not read a short reason (safe to
    show and log: no patient data, no URL, no token)."""

    resources: dict[str, Resources] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)


class PatientDataFetcher(Protocol):
    """Fetches the prefetch keys the EHR did not usably supply (from ``fhirServer``)."""

    def fetch(
        self, request: HookRequest, service: ServiceDefinition, missing: Mapping[str, MissingReason]
    ) -> FetchResult:
        """Resources per missing key, or a failure reason per key it tried and could not read (the
        evaluation then runs on what it has and says what is missing). Raises :class:`PreconditionFailed`
        when it cannot fetch at all (no ``fhirServer``, or one it must not call)."""
        ...


@dataclass(frozen=True, slots=True)
class PrefetchReading:
    """Resources per prefetch key that was usable, and why each other key was not."""

    resources: dict[str, Resources]
    missing: dict[str, MissingReason]


def read_prefetch(request: HookRequest, service: ServiceDefinition) -> PrefetchReading:
    """Sort the service's prefetch keys into usable resources and missing keys (with the reason)."""
    resources: dict[str, Resources] = {}
    missing: dict[str, MissingReason] = {}
    for key in service.prefetch:
        if key not in request.prefetch:
            missing[key] = MissingReason.MISSING
            continue
        value = request.prefetch[key]
        if value is None:
            resources[key] = []
        elif (reason := _unusable(value)) is not None:
            missing[key] = reason
        elif value.get("resourceType") == "Bundle":
            resources[key] = [
                r for r in bundle_resources(value) if r.get("resourceType") != "OperationOutcome"
            ]
        else:
            resources[key] = [value]
    return PrefetchReading(resources, missing)


@dataclass(frozen=True, slots=True)
class PatientData:
    """The record the rules see, and each prefetch key that could be read neither from prefetch nor from
    ``fhirServer``, with why (the rules must not read its absence as "nothing on file")."""

    record: PatientRecord
    unavailable: dict[str, str]


DEFAULT_MAX_RESOURCES_PER_KEY = 5000


def too_many_resources(limit: int) -> str:
    """Why a key with more than ``limit`` resources is not evaluated (shown on the card, logged)."""
    return f"more than {limit} resources, more than this service evaluates"


def gather_patient_data(
    request: HookRequest,
    service: ServiceDefinition,
    fetcher: PatientDataFetcher,
    max_resources_per_key: int = DEFAULT_MAX_RESOURCES_PER_KEY,
) -> PatientData:
    """The patient's record from prefetch, missing keys fetched (or a 412 when nothing can fetch them).

    A key with more than ``max_resources_per_key`` resources is not evaluated (the cost of the rules grows
    with them) and is reported as unavailable, never read as "nothing on file"."""
    started = time.monotonic()
    reading = read_prefetch(request, service)
    resources: dict[str, Resources] = {}
    unavailable: dict[str, str] = {}
    for key, found in reading.resources.items():
        if len(found) > max_resources_per_key:
            unavailable[key] = too_many_resources(max_resources_per_key)
        else:
            resources[key] = found
    if reading.missing:
        fetched = fetcher.fetch(request, service, reading.missing)
        for key in reading.missing:
            if key in fetched.failures or key not in fetched.resources:
                unavailable[key] = fetched.failures.get(key, "not fetched")
            elif len(fetched.resources[key]) > max_resources_per_key:
                unavailable[key] = too_many_resources(max_resources_per_key)
            else:
                resources[key] = fetched.resources[key]
    all_resources = [r for rs in resources.values() for r in rs]
    record = build_record(request.patient_id, all_resources)
    unresolved = unresolved_references(record)
    if unresolved:
        extra = _read_references(request, fetcher, unresolved, started, unavailable)
        if extra:
            record = build_record(request.patient_id, [*all_resources, *extra])
    return PatientData(record, unavailable)


def _read_references(
    request: HookRequest,
    fetcher: PatientDataFetcher,
    unresolved: Mapping[str, list[str]],
    started: float,
    unavailable: dict[str, str],
) -> Resources:
    """Read what the records point to and the record lacks (a Medication, a panel's member result) from
    ``fhirServer``, within the call's time budget; a kind that cannot be read goes into ``unavailable``."""
    reader = getattr(fetcher, "read_references", None)
    if request.fhir_server is None or reader is None:
        for kind, references in unresolved.items():
            unavailable[kind] = (
                f"{len(references)} referenced, not sent in prefetch and no fhirServer to read"
            )
        return []
    result: FetchResult = reader(request, [ref for refs in unresolved.values() for ref in refs], started)
    found: Resources = []
    for kind, references in unresolved.items():
        failed = [ref for ref in references if ref in result.failures]
        if failed:
            unavailable[kind] = result.failures[failed[0]]
        found += [
            r for ref in references if ref not in result.failures for r in result.resources.get(ref, [])
        ]
    return found


def build_record(patient_id: str, resources: Sequence[Mapping[str, Any]]) -> PatientRecord:
    """Group the patient's resources by type, dropping other patients' and duplicates."""
    seen: set[tuple[str, str]] = set()
    conditions: list[Mapping[str, Any]] = []
    observations: list[Mapping[str, Any]] = []
    medications: dict[str, list[Mapping[str, Any]]] = {
        "MedicationRequest": [],
        "MedicationStatement": [],
        "Medication": [],
    }
    procedures: list[Mapping[str, Any]] = []
    allergies: list[Mapping[str, Any]] = []
    patient: Mapping[str, Any] | None = None
    for resource in resources:
        resource_type = resource.get("resourceType")
        if resource_type == "Patient":
            if resource.get("id") == patient_id:
                patient = resource
            continue
        if not belongs_to_patient(resource, patient_id):
            continue
        identity = (str(resource_type), str(resource.get("id")))
        if resource.get("id") is not None:
            if identity in seen:
                continue
            seen.add(identity)
        if resource_type == "Condition":
            conditions.append(resource)
        elif resource_type == "Observation":
            observations.append(resource)
        elif isinstance(resource_type, str) and resource_type in medications:
            medications[resource_type].append(resource)
        elif resource_type == "Procedure":
            procedures.append(resource)
        elif resource_type == "AllergyIntolerance":
            allergies.append(resource)
    return PatientRecord(
        patient_id,
        tuple(conditions),
        tuple(observations),
        medication_requests=tuple(medications["MedicationRequest"]),
        medication_statements=tuple(medications["MedicationStatement"]),
        medications=tuple(medications["Medication"]),
        patient=patient,
        procedures=tuple(procedures),
        allergy_intolerances=tuple(allergies),
    )


def _unusable(value: Mapping[str, Any]) -> MissingReason | None:
    """Why a prefetch value cannot stand for the patient's data, or ``None`` when it can."""
    if value.get("resourceType") == "OperationOutcome":
        return MissingReason.FAILED
    if value.get("resourceType") != "Bundle":
        return None
    if (problem := page_problem(value)) is not None:
        return problem
    entries = value.get("entry", [])
    if _has_next_page(value.get("link")):
        return MissingReason.INCOMPLETE
    total = value.get("total")
    if total is not None:
        if not isinstance(total, int) or isinstance(total, bool) or total < 0:
            return MissingReason.UNREADABLE
        if total > sum(1 for entry in entries if _is_match(entry)):
            return MissingReason.INCOMPLETE
    return None


def page_problem(bundle: Mapping[str, Any]) -> MissingReason | None:
    """One page of a Bundle: UNREADABLE when ``entry`` is not an array of entry objects, FAILED when an entry
    is an error OperationOutcome, else ``None`` (paging is not judged here)."""
    entries = bundle.get("entry", [])
    if not isinstance(entries, list) or not all(_is_entry(entry) for entry in entries):
        return MissingReason.UNREADABLE
    if _is_failure(entries):
        return MissingReason.FAILED
    return None


def next_page_url(bundle: Mapping[str, Any]) -> str | None:
    """The ``url`` of the Bundle's ``next`` link (``link`` tolerated as a single object), if any."""
    links = bundle.get("link")
    for link in links if isinstance(links, list) else [links]:
        found = as_object(link) or {}
        if found.get("relation") == "next":
            url = found.get("url")
            return url if isinstance(url, str) and url else ""
    return None


def _is_entry(entry: Any) -> bool:
    """An entry object whose resource, when present, is a FHIR resource."""
    if not isinstance(entry, dict):
        return False
    resource = entry.get("resource")
    return resource is None or (isinstance(resource, dict) and isinstance(resource.get("resourceType"), str))


_ERROR_SEVERITIES = ("error", "fatal")  # a tuple, not a set: the EHR's values may be unhashable


def _is_failure(entries: list[dict[str, Any]]) -> bool:
    for entry in entries:
        resource = entry.get("resource") or {}
        if resource.get("resourceType") == "OperationOutcome" and any(
            (as_object(issue) or {}).get("severity") in _ERROR_SEVERITIES
            for issue in as_list(resource.get("issue"))
        ):
            return True
    return False


def _has_next_page(links: Any) -> bool:
    """True when the Bundle links to a next page (``link`` tolerated as a single object too)."""
    candidates = links if isinstance(links, list) else [links]
    return any((as_object(link) or {}).get("relation") == "next" for link in candidates)


def _is_match(entry: dict[str, Any]) -> bool:
    """An entry that counts towards ``total``: a resource found by the search (mode match or unstated)."""
    resource = entry.get("resource")
    if resource is None or resource.get("resourceType") == "OperationOutcome":
        return False
    mode = (as_object(entry.get("search")) or {}).get("mode")
    return mode is None or mode == "match"
