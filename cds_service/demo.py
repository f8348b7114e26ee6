"""Bundled synthetic demo patients, and the EHR side of a hook call built from them.

Demo files are FHIR R4 transaction Bundles written as if today were ``authoredOn`` (``index.json``); every
full date and dateTime is shifted by the days since then, so gestational ages and "recent" records stay true.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from cds_service.catalog import ServiceDefinition
from fhir_mappings.fhir_json import bundle_resources, codings, reference_parts

DEMO_DIR = Path(__file__).parent / "demo_patients"
_DATE_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})(T.*)?$")
DEMO_USER = "Practitioner/dn-demo-pt"


@dataclass(frozen=True, slots=True)
class DemoPatient:
    """One demo patient: the chart, the draft order, and the finding codes it should produce."""

    slug: str
    title: str
    description: str
    patient_id: str
    order_reference: str
    expected_findings: tuple[str, ...]
    resources: tuple[Mapping[str, Any], ...]

    @property
    def draft_orders(self) -> list[Mapping[str, Any]]:
        """The draft ServiceRequests (what the clinician is ordering)."""
        return [
            r
            for r in self.resources
            if r.get("resourceType") == "ServiceRequest" and r.get("status") == "draft"
        ]

    @property
    def chart(self) -> list[Mapping[str, Any]]:
        """Everything except the draft orders (what a FHIR server holds)."""
        drafts = {id(r) for r in self.draft_orders}
        return [r for r in self.resources if id(r) not in drafts]


def load_demo_patients(today: date, demo_dir: Path = DEMO_DIR) -> list[DemoPatient]:
    """All demo patients, dates shifted so that ``authoredOn`` becomes ``today``."""
    index = json.loads((demo_dir / "index.json").read_text(encoding="utf-8"))
    shift = (today - date.fromisoformat(index["authoredOn"])).days
    patients: list[DemoPatient] = []
    for entry in index["patients"]:
        bundle = json.loads((demo_dir / entry["file"]).read_text(encoding="utf-8"))
        resources = tuple(shift_dates(r, shift) for r in bundle_resources(bundle))
        patients.append(
            DemoPatient(
                slug=entry["slug"],
                title=entry["title"],
                description=entry["description"],
                patient_id=entry["patientId"],
                order_reference=entry["order"],
                expected_findings=tuple(sorted(entry["expectedFindings"])),
                resources=resources,
            )
        )
    return patients


def shift_dates(value: Any, days: int) -> Any:
    """A deep copy of ``value`` with every full FHIR date/dateTime string moved by ``days``."""
    if isinstance(value, dict):
        return {key: shift_dates(item, days) for key, item in value.items()}
    if isinstance(value, list):
        return [shift_dates(item, days) for item in value]
    if isinstance(value, str) and days:
        match = _DATE_RE.match(value)
        if match:
            try:
                moved = date.fromisoformat(match.group(1)) + timedelta(days=days)
            except ValueError:
                return value
            return moved.isoformat() + (match.group(2) or "")
    return value


def build_hook_request(
    patient: DemoPatient,
    service: ServiceDefinition,
    *,
    hook_instance: str | None = None,
    with_prefetch: bool = True,
) -> dict[str, Any]:
    """The body an EHR would send for this patient and service, prefetch answered from the chart."""
    context: dict[str, Any] = {"userId": DEMO_USER, "patientId": patient.patient_id}
    if service.hook in {"order-select", "order-sign"}:
        context["draftOrders"] = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": copy.deepcopy(dict(r))} for r in patient.draft_orders],
        }
    if service.hook == "order-select":
        context["selections"] = [patient.order_reference]
    body: dict[str, Any] = {
        "hook": service.hook,
        "hookInstance": hook_instance or str(uuid.uuid4()),
        "context": context,
    }
    if with_prefetch:
        body["prefetch"] = {
            key: answer_prefetch(template, patient.chart, context)
            for key, template in service.prefetch.items()
        }
    return body


def answer_prefetch(
    template: str, resources: Iterable[Mapping[str, Any]], context: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Answer a prefetch template from local resources: a read (``Patient/{{context.patientId}}``) with the
    resource itself, or ``None`` when there is none (CDS Hooks: no data); a search with a searchset Bundle.

    Supports what this service's templates use: a resource type, ``patient``/``subject``, ``code``
    (comma-separated ``system|code`` tokens) and ``status`` (comma-separated codes). Any other parameter
    raises, so a template change cannot silently be answered wrongly.
    """
    filled = re.sub(r"\{\{\s*context\.(\w+)\s*\}\}", lambda m: str(context[m.group(1)]), template)
    if "?" not in filled and filled.count("/") == 1:  # a read: Patient/{{context.patientId}}
        read_type, _, read_id = filled.partition("/")
        found = next(
            (r for r in resources if r.get("resourceType") == read_type and str(r.get("id")) == read_id), None
        )
        return copy.deepcopy(dict(found)) if found is not None else None
    resource_type, _, query = filled.partition("?")
    wanted_patient: str | None = None
    wanted_codes: set[tuple[str, str]] | None = None
    wanted_statuses: set[str] | None = None
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name in {"patient", "subject"}:
            wanted_patient = value.removeprefix("Patient/")
        elif name == "status":
            wanted_statuses = set(value.split(","))
        elif name == "code":
            wanted_codes = {
                tuple(token.split("|", 1)) if "|" in token else ("", token)  # type: ignore[misc]
                for token in value.split(",")
            }
        else:
            raise ValueError(f"demo prefetch: unsupported search parameter {name!r}")
    matches = []
    for resource in resources:
        if resource.get("resourceType") != resource_type:
            continue
        subject = reference_parts(resource.get("subject") or resource.get("patient") or {})
        if wanted_patient is not None and (subject is None or subject[1] != wanted_patient):
            continue
        if wanted_statuses is not None and resource.get("status") not in wanted_statuses:
            continue
        if wanted_codes is not None and not any(
            (c.system, c.code) in wanted_codes or ("", c.code) in wanted_codes
            for c in codings(resource.get("code"))
        ):
            continue
        matches.append(
            {
                "fullUrl": f"{resource_type}/{resource.get('id')}",
                "resource": copy.deepcopy(dict(resource)),
                "search": {"mode": "match"},
            }
        )
    return (
        {"resourceType": "Bundle", "type": "searchset", "total": len(matches), "entry": matches}
        if matches
        else {"resourceType": "Bundle", "type": "searchset", "total": 0}
    )
