"""Patient data from the request's prefetch, per CDS Hooks 2.0 prefetch semantics (C6).

- key **absent**: not sent, or failed at the EHR -> the service must get it elsewhere (or answer 412);
- value ``null``: the EHR has no data for it -> no resources;
- an **OperationOutcome** (alone, or an error entry in a Bundle): the EHR's query failed -> treated as absent;
- a Bundle: its entry resources; a single resource: itself.

Resources whose subject names another patient are dropped: advice must never use another patient's data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from cds_service.catalog import ServiceDefinition
from cds_service.errors import PreconditionFailed
from cds_service.hook_request import HookRequest
from fhir_mappings.fhir_json import as_list, as_object, bundle_resources
from fhir_mappings.records import PatientRecord, belongs_to_patient

Resources = list[Mapping[str, Any]]


class PatientDataFetcher(Protocol):
    """Fetches the prefetch keys the EHR did not supply (from ``fhirServer``)."""

    def fetch(
        self, request: HookRequest, service: ServiceDefinition, keys: Sequence[str]
    ) -> dict[str, Resources]:
        """Resources per key; raises :class:`PreconditionFailed` when it cannot."""
        ...


class NoFetcher:
    """This release reads patient data from prefetch only: a missing key is a 412."""

    def fetch(
        self, request: HookRequest, service: ServiceDefinition, keys: Sequence[str]
    ) -> dict[str, Resources]:
        """Always refuses, saying which data is missing and why it cannot be fetched."""
        names = ", ".join(keys)
        if request.fhir_server is None:
            reason = "the request has no fhirServer to fetch it from"
        else:
            reason = "this service does not query fhirServer yet; send the prefetch"
        raise PreconditionFailed(
            f"Required prefetch data missing ({names}) and {reason}.", expression="prefetch"
        )


@dataclass(frozen=True, slots=True)
class PrefetchReading:
    """Resources per prefetch key that was usable, and the keys that were not."""

    resources: dict[str, Resources]
    missing: tuple[str, ...]


def read_prefetch(request: HookRequest, service: ServiceDefinition) -> PrefetchReading:
    """Sort the service's prefetch keys into usable resources and missing keys."""
    resources: dict[str, Resources] = {}
    missing: list[str] = []
    for key in service.prefetch:
        if key not in request.prefetch:
            missing.append(key)
            continue
        value = request.prefetch[key]
        if value is None:
            resources[key] = []
        elif _is_failure(value):
            missing.append(key)
        elif value.get("resourceType") == "Bundle":
            resources[key] = [
                r for r in bundle_resources(value) if r.get("resourceType") != "OperationOutcome"
            ]
        else:
            resources[key] = [value]
    return PrefetchReading(resources, tuple(missing))


def gather_patient_record(
    request: HookRequest, service: ServiceDefinition, fetcher: PatientDataFetcher
) -> PatientRecord:
    """The patient's record from prefetch, with missing keys fetched (or a 412)."""
    reading = read_prefetch(request, service)
    resources = dict(reading.resources)
    if reading.missing:
        resources.update(fetcher.fetch(request, service, reading.missing))
    return build_record(request.patient_id, [r for rs in resources.values() for r in rs])


def build_record(patient_id: str, resources: Sequence[Mapping[str, Any]]) -> PatientRecord:
    """Group the patient's resources by type, dropping other patients' and duplicates."""
    seen: set[tuple[str, str]] = set()
    conditions: list[Mapping[str, Any]] = []
    observations: list[Mapping[str, Any]] = []
    for resource in resources:
        if not belongs_to_patient(resource, patient_id):
            continue
        resource_type = resource.get("resourceType")
        identity = (str(resource_type), str(resource.get("id")))
        if resource.get("id") is not None:
            if identity in seen:
                continue
            seen.add(identity)
        if resource_type == "Condition":
            conditions.append(resource)
        elif resource_type == "Observation":
            observations.append(resource)
    return PatientRecord(patient_id, tuple(conditions), tuple(observations))


def _is_failure(value: Mapping[str, Any]) -> bool:
    if value.get("resourceType") == "OperationOutcome":
        return True
    if value.get("resourceType") != "Bundle":
        return False
    for resource in bundle_resources(value):
        if resource.get("resourceType") == "OperationOutcome" and any(
            (as_object(issue) or {}).get("severity") in {"error", "fatal"}
            for issue in as_list(resource.get("issue"))
        ):
            return True
    return False
